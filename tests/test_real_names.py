"""The skeleton rule tables on the tensor-name lists of the registered real networks.

The lists (tests/data/real_names/*.json) are the names and shapes the readers
give for each network's file: the registry's GGUF, CTranslate2 and safetensors
files, read once with npmk.checkpoints.open_checkpoint.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from npmk import realnets, skeleton

DATA = Path(__file__).parent / "data" / "real_names"


def _load(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def _audit(name: str):
    d = _load(name)
    return skeleton.audit([(n, tuple(s)) for n, s in d["tensors"]], d["family"]), d


def test_every_default_network_has_a_name_list():
    assert sorted(p.stem for p in DATA.glob("*.json")) == sorted(realnets.names("default"))


@pytest.mark.parametrize("name", realnets.names("default"))
def test_no_real_name_is_unrecognised(name):
    audit, d = _audit(name)
    assert d["family"] == realnets.get(name).skeleton
    assert not audit["flagged"].any(), audit.loc[audit["flagged"], "name"].tolist()
    included = audit[audit["include"]]
    assert (included["kind"] != "unknown").all()
    # every >= 2-D tensor is either in the skeleton or excluded by a named rule
    assert set(audit.loc[~audit["include"] & (audit["shape"].map(len) >= 2), "reason"]) <= {
        "excluded: index buffer",
        "excluded: fixed sinusoidal encoder position table (a buffer in Whisper, never trained)"}


# (network, kind) -> number of tensors of that kind, from the architectures' layer counts
EXPECTED = {
    "all-MiniLM-L6-v2": {"q": 6, "k": 6, "v": 6, "o": 6, "ffn_in": 6, "ffn_out": 6, "embed": 3, "other": 1},
    "all-mpnet-base-v2": {"q": 12, "k": 12, "v": 12, "o": 12, "ffn_in": 12, "ffn_out": 12, "embed": 2, "other": 2},
    # 6 encoder + 6 decoder layers; the decoder adds cross-attention q (linear_0) and split k|v (linear_1)
    "whisper-base": {"q": 18, "k": 18, "v": 18, "o": 18, "ffn_in": 12, "ffn_out": 12, "embed": 2, "other": 2},
    "smollm2-135m": {"q": 30, "k": 30, "v": 30, "o": 30, "gate": 30, "up": 30, "down": 30, "embed": 1},
    "qwen2.5-coder-0.5b": {"q": 24, "k": 24, "v": 24, "o": 24, "gate": 24, "up": 24, "down": 24, "embed": 1,
                           "head": 1},
    "gemma3-270m": {"q": 18, "k": 18, "v": 18, "o": 18, "gate": 18, "up": 18, "down": 18, "embed": 1},
}


@pytest.mark.parametrize("name", realnets.names("default"))
def test_kind_counts(name):
    audit, _ = _audit(name)
    assert dict(Counter(audit.loc[audit["include"], "kind"])) == EXPECTED[name]


def test_specific_names():
    cases = [
        ("gguf:llama", "blk.7.attn_output.weight", (576, 576), "o", 7),
        ("gguf:qwen2", "blk.3.attn_q.bias", (896,), None, 3),
        ("gguf:gemma3", "blk.0.attn_q_norm.weight", (256,), None, 0),
        ("gguf:qwen2", "output.weight", (151936, 896), "head", None),
        ("ct2:whisper", "decoder/layer_2/attention/linear_0/weight", (512, 512), "q", 2),
        ("ct2:whisper", "decoder/layer_2/self_attention/linear_0/weight[k]", (512, 512), "k", 2),
        ("ct2:whisper", "encoder/layer_1/self_attention/linear_1/weight", (512, 512), "o", 1),
        ("ct2:whisper", "encoder/layer_1/ffn/layer_norm/gamma", (512,), None, 1),
        ("ct2:whisper", "encoder/position_encodings/encodings", (1500, 512), None, None),
        ("ct2:whisper", "decoder/position_encodings/encodings", (448, 512), "embed", None),
        ("mpnet", "encoder.layer.4.attention.attn.o.weight", (768, 768), "o", 4),
        ("mpnet", "encoder.relative_attention_bias.weight", (32, 12), "other", None),
    ]
    for family, name, shape, kind, layer in cases:
        d = skeleton.classify(name, shape, family)
        assert (d.kind, d.layer, d.flagged) == (kind, layer, False), (family, name, d)


def test_tied_heads_are_aliases_in_the_lists():
    assert _load("smollm2-135m")["aliases"] == {"output.weight": "token_embd.weight"}
    assert _load("gemma3-270m")["aliases"] == {"output.weight": "token_embd.weight"}
    assert _load("qwen2.5-coder-0.5b")["aliases"] == {}
    assert _load("whisper-base")["aliases"] == {"decoder/projection/weight": "decoder/embeddings/weight"}

