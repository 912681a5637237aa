"""GGUF reader: small files written here with gguf's writer; quantized data checked
against an independent numpy decode of the Q4_0 / Q4_1 / Q8_0 block layouts."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType as Q
from gguf.quants import quantize

from npmk import measure
from npmk.checkpoints import SourceError, open_checkpoint, sniff


def _write(path, tensors: dict[str, tuple[np.ndarray, Q]], arch="llama"):
    """A GGUF with the given tensors (float arrays, quantized to the given type)."""
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(2)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    for name, (values, qtype) in tensors.items():
        if qtype == Q.F32:
            w.add_tensor(name, values.astype(np.float32))
        elif qtype == Q.F16:
            w.add_tensor(name, values.astype(np.float16))
        else:
            w.add_tensor(name, quantize(values.astype(np.float32), qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _f16(raw: np.ndarray) -> np.ndarray:
    return raw.view(np.float16).astype(np.float32)


def _decode(raw: np.ndarray, qtype: Q, shape: tuple[int, int]) -> np.ndarray:
    """ggml's block layouts, decoded by hand (32 values per block)."""
    if qtype == Q.Q8_0:  # fp16 scale d, 32 int8 q: x = d q
        b = raw.reshape(-1, 34)
        x = _f16(b[:, :2].copy()) * b[:, 2:].view(np.int8).astype(np.float32)
    elif qtype == Q.Q4_0:  # fp16 d, 16 bytes of nibbles: low nibbles are x0..15, high x16..31; x = d (q - 8)
        b = raw.reshape(-1, 18)
        qs = b[:, 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8
        x = _f16(b[:, :2].copy()) * q
    elif qtype == Q.Q4_1:  # fp16 d, fp16 m, nibbles: x = d q + m
        b = raw.reshape(-1, 20)
        qs = b[:, 4:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)
        x = _f16(b[:, :2].copy()) * q + _f16(b[:, 2:4].copy())
    else:
        raise AssertionError(qtype)
    return x.reshape(shape)


@pytest.fixture
def values():
    rng = np.random.default_rng(0)
    return {
        "token_embd.weight": rng.normal(0, 0.05, (96, 64)),
        "blk.0.attn_q.weight": rng.normal(0, 0.02, (64, 64)),
        "blk.0.attn_k.weight": rng.normal(0, 0.02, (32, 64)),
        "blk.0.ffn_up.weight": rng.normal(0, 0.02, (128, 64)),
        "blk.0.ffn_down.weight": rng.normal(0, 0.02, (64, 128)),
        "blk.0.attn_norm.weight": np.ones(64),
    }


@pytest.mark.parametrize("qtype", [Q.Q4_0, Q.Q4_1, Q.Q8_0])
def test_quantized_tensor_matches_independent_decode(tmp_path, values, qtype):
    v = values["blk.0.ffn_up.weight"]
    path = _write(tmp_path / "m.gguf", {"blk.0.ffn_up.weight": (v, qtype)})
    ckpt = open_checkpoint(path)
    (info,) = ckpt.infos()
    assert info.shape == (128, 64) and info.quant == qtype.name and info.dtype == "float32"
    raw = np.fromfile(path, dtype=np.uint8, count=info.nbytes, offset=info.offset)
    expected = _decode(raw, qtype, (128, 64))
    np.testing.assert_array_equal(ckpt.tensor(info).numpy(), expected)
    # chunked reading (3 rows a chunk) yields the same values in order
    np.testing.assert_array_equal(torch.cat(list(ckpt.chunks(info, 200))).numpy(), expected.ravel())
    # and the decode is a quantization of the original, not something else
    assert np.abs(expected - v).max() < (0.01 if qtype == Q.Q8_0 else 0.05)


def test_float_tensors_are_exact(tmp_path, values):
    path = _write(tmp_path / "m.gguf", {"blk.0.attn_q.weight": (values["blk.0.attn_q.weight"], Q.F16),
                                        "blk.0.attn_k.weight": (values["blk.0.attn_k.weight"], Q.F32)})
    ckpt = open_checkpoint(path)
    infos = {i.name: i for i in ckpt.infos()}
    assert infos["blk.0.attn_q.weight"].dtype == "float16" and infos["blk.0.attn_q.weight"].quant is None
    np.testing.assert_array_equal(ckpt.tensor(infos["blk.0.attn_q.weight"]).numpy(),
                                  values["blk.0.attn_q.weight"].astype(np.float16))
    np.testing.assert_array_equal(ckpt.tensor(infos["blk.0.attn_k.weight"]).numpy(),
                                  values["blk.0.attn_k.weight"].astype(np.float32))


def test_measure_rows_say_quantized_and_match_the_float_fit(tmp_path, values):
    # Q4_1 (x = d q + m) rather than Q4_0, whose code 8 is an exact zero in ~1/16 of the body
    mixed = {n: (v, Q.F32 if v.ndim == 1 else Q.Q4_1) for n, v in values.items()}
    mixed["blk.0.ffn_down.weight"] = (values["blk.0.ffn_down.weight"], Q.Q8_0)
    path = _write(tmp_path / "m.gguf", mixed)
    by_kind = measure(path, by="kind", progress=False).set_index("name")
    assert by_kind.loc["up", "quantized"] == "Q4_1" and by_kind.loc["down", "quantized"] == "Q8_0"
    assert by_kind.loc["embed", "family"] == "gguf:llama"
    # the norm is excluded; with no output.weight the head is token_embd, listed again as a state dict does
    assert set(by_kind.index) == {"embed", "q", "k", "up", "down", "head"}
    assert by_kind.loc["head", "k"] == by_kind.loc["embed", "k"]
    once = measure(path, by="kind", tied="once", progress=False)
    assert "head" not in set(once["name"])
    pooled = measure(path, tied="once", progress=False).iloc[0]
    assert pooled["quantized"] == "Q4_1,Q8_0"
    # the pooled fit equals the fit of the dequantized values as an in-memory state dict
    ckpt = open_checkpoint(path)
    state = {i.name: ckpt.tensor(i) for i in ckpt.infos()}
    ref = measure(state, family="gguf:llama", progress=False).iloc[0]
    assert pooled["k"] == pytest.approx(ref["k"], rel=1e-9) and pooled["n"] == ref["n"]


def test_tied_head_is_recorded_as_alias(tmp_path, values):
    path = _write(tmp_path / "m.gguf", {"token_embd.weight": (values["token_embd.weight"], Q.F16)})
    assert open_checkpoint(path).aliases == {"output.weight": "token_embd.weight"}
    path2 = _write(tmp_path / "n.gguf", {"token_embd.weight": (values["token_embd.weight"], Q.F16),
                                         "output.weight": (values["token_embd.weight"], Q.F16)})
    assert open_checkpoint(path2).aliases == {}


def test_format_is_told_by_content(tmp_path, values):
    path = _write(tmp_path / "weights.bin", {"blk.0.attn_q.weight": (values["blk.0.attn_q.weight"], Q.F16)})
    assert sniff(path) == "gguf"
    assert open_checkpoint(path).config["model_type"] == "gguf:llama"
    directory = tmp_path / "d"
    directory.mkdir()
    _write(directory / "model.gguf", {"blk.0.attn_q.weight": (values["blk.0.attn_q.weight"], Q.F16)})
    assert [i.name for i in open_checkpoint(directory).infos()] == ["blk.0.attn_q.weight"]


def test_bad_gguf_files_name_the_file(tmp_path, values):
    good = _write(tmp_path / "good.gguf", {"blk.0.ffn_up.weight": (values["blk.0.ffn_up.weight"], Q.Q4_0)})
    raw = good.read_bytes()
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(raw[:-100])
    with pytest.raises(SourceError, match="truncated.gguf: not a readable GGUF file, corrupt or truncated"):
        open_checkpoint(truncated)
    header_cut = tmp_path / "header_cut.gguf"
    header_cut.write_bytes(raw[:40])
    with pytest.raises(SourceError, match="header_cut.gguf: not a readable GGUF"):
        open_checkpoint(header_cut)
    garbage = tmp_path / "garbage.gguf"
    garbage.write_bytes(b"\x01\x02" * 100)
    with pytest.raises(SourceError, match="garbage.gguf"):
        open_checkpoint(garbage)
    unknown = _write(tmp_path / "unknown.gguf", {"blk.0.ffn_up.weight": (values["blk.0.ffn_up.weight"], Q.F16)},
                     arch="mamba")
    with pytest.raises(ValueError, match="gguf:mamba"):
        measure(unknown, progress=False)
