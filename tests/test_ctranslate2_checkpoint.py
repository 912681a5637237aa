"""CTranslate2 model.bin reader on small files written here in the documented layout."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from npmk import measure
from npmk.checkpoints import SourceError, open_checkpoint, sniff

_IDS = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.float16): 4}


def _string(s: str) -> bytes:
    raw = s.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _write(path, variables: dict[str, np.ndarray], aliases: dict[str, str] | None = None,
           version: int = 6, spec: str = "WhisperSpec"):
    out = [struct.pack("<I", version), _string(spec), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, v in variables.items():
        out += [_string(name), struct.pack("<B", v.ndim), struct.pack(f"<{v.ndim}I", *v.shape),
                struct.pack("<BI", _IDS[v.dtype], v.nbytes), v.tobytes()]
    aliases = aliases or {}
    out.append(struct.pack("<I", len(aliases)))
    for a, t in aliases.items():
        out += [_string(a), _string(t)]
    path.write_bytes(b"".join(out))
    return path


@pytest.fixture
def whisper_like():
    rng = np.random.default_rng(1)
    d = 16
    f16 = lambda *s: rng.normal(0, 0.02, s).astype(np.float16)  # noqa: E731
    return {
        "encoder/num_heads": np.array(4, dtype=np.int16),
        "encoder/conv1/weight": f16(d, 8, 3),
        "encoder/position_encodings/encodings": f16(30, d),
        "encoder/layer_0/self_attention/layer_norm/gamma": np.ones(d, np.float16),
        "encoder/layer_0/self_attention/linear_0/weight": f16(3 * d, d),
        "encoder/layer_0/self_attention/linear_0/bias": f16(3 * d),
        "encoder/layer_0/self_attention/linear_1/weight": f16(d, d),
        "encoder/layer_0/ffn/linear_0/weight": f16(4 * d, d),
        "encoder/layer_0/ffn/linear_1/weight": f16(d, 4 * d),
        "decoder/embeddings/weight": f16(50, d),
        "decoder/position_encodings/encodings": f16(20, d),
        "decoder/layer_0/attention/linear_0/weight": f16(d, d),
        "decoder/layer_0/attention/linear_1/weight": f16(2 * d, d),
        "decoder/layer_0/attention/linear_2/weight": f16(d, d),
    }


def test_header_values_aliases_and_fused_split(tmp_path, whisper_like):
    path = _write(tmp_path / "model.bin", whisper_like, {"decoder/projection/weight": "decoder/embeddings/weight"})
    assert sniff(path) == "ctranslate2"
    ckpt = open_checkpoint(path)
    assert ckpt.config["model_type"] == "ct2:whisper" and ckpt.config["num_attention_heads"] == 4
    assert ckpt.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    infos = {i.name: i for i in ckpt.infos()}
    qkv = whisper_like["encoder/layer_0/self_attention/linear_0/weight"]
    for j, part in enumerate("qkv"):
        got = ckpt.tensor(infos[f"encoder/layer_0/self_attention/linear_0/weight[{part}]"])
        np.testing.assert_array_equal(got.numpy(), qkv[16 * j: 16 * (j + 1)])
    kv = whisper_like["decoder/layer_0/attention/linear_1/weight"]
    np.testing.assert_array_equal(ckpt.tensor(infos["decoder/layer_0/attention/linear_1/weight[v]"]).numpy(), kv[16:])
    assert "encoder/layer_0/self_attention/linear_0/weight" not in infos
    conv = ckpt.tensor(infos["encoder/conv1/weight"])
    assert conv.dtype == torch.float16 and conv.shape == (16, 8, 3)
    np.testing.assert_array_equal(conv.numpy(), whisper_like["encoder/conv1/weight"])


def test_measure_by_kind_on_a_ct2_directory(tmp_path, whisper_like):
    _write(tmp_path / "model.bin", whisper_like)
    (tmp_path / "config.json").write_text('{"alignment_heads": []}')  # faster-whisper's config: no model_type
    df = measure(tmp_path, by="kind", progress=False).set_index("name")
    assert df["family"].iloc[0] == "ct2:whisper"
    # q: encoder self-attention part + decoder cross-attention query; k, v: one part each of both fused matrices
    assert df.loc["q", "n"] == 2 * 16 * 16 and df.loc["k", "n"] == 2 * 16 * 16 and df.loc["v", "n"] == 2 * 16 * 16
    assert df.loc["o", "n"] == 2 * 16 * 16
    assert df.loc["embed", "n"] == 50 * 16 + 20 * 16  # the encoder's fixed sinusoid table is out
    assert df["quantized"].isna().all() and set(df["dtype"]) == {"float16"}


def test_ct2_file_never_reaches_torch_load(tmp_path, whisper_like, monkeypatch):
    path = _write(tmp_path / "model.bin", whisper_like)

    def refuse(*a, **k):
        raise AssertionError("torch.load called on a CTranslate2 file")

    monkeypatch.setattr(torch, "load", refuse)
    assert len(open_checkpoint(path).infos()) > 0


def test_bad_ct2_files_name_the_file(tmp_path, whisper_like):
    raw = _write(tmp_path / "good.bin", whisper_like).read_bytes()
    (tmp_path / "cut.bin").write_bytes(raw[:200])
    with pytest.raises(SourceError, match=r"cut.bin: file ends inside tensor 'encoder/conv1/weight'"):
        open_checkpoint(tmp_path / "cut.bin")
    (tmp_path / "cut_header.bin").write_bytes(raw[:30])
    with pytest.raises(SourceError, match=r"cut_header.bin: (file ends inside the header|malformed string)"):
        open_checkpoint(tmp_path / "cut_header.bin")
    old = _write(tmp_path / "old.bin", whisper_like, version=3)
    with pytest.raises(SourceError, match="old.bin: CTranslate2 binary version 3 is not supported"):
        open_checkpoint(old)
    bad = bytearray(raw)
    at = raw.index(b"encoder/num_heads\0") + len("encoder/num_heads\0") + 1  # rank 0, then the dtype id
    bad[at] = 9
    (tmp_path / "baddtype.bin").write_bytes(bytes(bad))
    with pytest.raises(SourceError,
                       match="baddtype.bin: variable 'encoder/num_heads' has unknown CTranslate2 dtype id 9"):
        open_checkpoint(tmp_path / "baddtype.bin")
    other = _write(tmp_path / "t5.bin", whisper_like, spec="T5Spec")
    with pytest.raises(ValueError, match="ct2:t5"):
        measure(other, progress=False)
