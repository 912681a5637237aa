"""GGUF files (llama.cpp) as a :class:`~npmk.checkpoints.Checkpoint`, read with the ``gguf`` package.

The header (metadata and tensor table) is parsed by ``gguf.GGUFReader``; the
data is read with positional reads, one chunk of rows at a time.

* F32, F16 and BF16 tensors are handed out exactly, as float32 / float16 /
  bfloat16 (so fp16/bf16 counts stay exact).
* Quantized tensors (Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K, ...) are dequantized on
  the fly with ``gguf.quants.dequantize`` (the package's numpy ports of ggml's
  reference dequantizers) into float32; ``TensorInfo.quant`` keeps the storage
  type, so every result row can say which values were 4-bit codes.

Shapes follow torch's convention: GGUF lists dimensions fastest-first
(``ne[0]`` = row length), so they are reversed here; a GGUF ``token_embd``
listed as ``[hidden, vocab]`` is ``(vocab, hidden)``.

The config is ``{"model_type": "gguf:<general.architecture>", ...}``, with the
attention head counts from ``<arch>.attention.head_count(_kv)``, so the
skeleton picks the llama.cpp rule table of that architecture. When a model
has no ``output.weight`` llama.cpp uses ``token_embd.weight`` as the output
head; that tie is recorded in ``Checkpoint.aliases``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from npmk.tensorfile import CHUNK_ELEMS, Checkpoint, SourceError, TensorInfo, pread_exact

__all__ = ["open_gguf", "GGUFCheckpoint"]

# storage types read without dequantization -> the torch dtype they are handed out as
_PLAIN = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def _field_value(reader, key: str):
    """A scalar or string metadata value of a GGUF header, or None when absent."""
    import gguf

    field = reader.fields.get(key)
    if field is None or not field.data:
        return None
    part = field.parts[field.data[0]]
    if field.types and field.types[0] == gguf.GGUFValueType.STRING:
        return bytes(part).decode("utf-8", errors="replace")
    return part.tolist()[0] if len(part) else None


@functools.cache
def _dequantizable(qtype) -> bool:
    """Whether gguf has a dequantizer for ``qtype`` (tried on one all-zero block)."""
    from gguf import GGML_QUANT_SIZES
    from gguf.quants import dequantize

    block, type_size = GGML_QUANT_SIZES[qtype]
    try:
        dequantize(np.zeros((1, type_size), dtype=np.uint8), qtype)
    except (NotImplementedError, ValueError, TypeError):
        return False
    return block > 1  # block 1: plain integer/float types, not quantized codes


class GGUFCheckpoint(Checkpoint):
    """A GGUF file's tensors; quantized ones are dequantized to float32 chunk by chunk."""

    def tensor(self, info: TensorInfo) -> torch.Tensor:
        if info.quant is None:
            return super().tensor(info)
        return torch.cat(list(self.chunks(info, max(info.numel, 1)))).reshape(info.shape)

    def chunks(self, info: TensorInfo, elems: int = CHUNK_ELEMS) -> Iterator[torch.Tensor]:
        if info.quant is None:
            yield from super().chunks(info, elems)
            return
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize

        qtype = GGMLQuantizationType[info.quant]
        cols = info.shape[-1]
        rows = info.numel // cols
        row_bytes = info.nbytes // rows
        per_chunk = max(1, elems // cols)
        raw = np.empty(min(per_chunk, rows) * row_bytes, dtype=np.uint8)
        with open(info.file, "rb") as fh:
            fd = fh.fileno()
            for start in range(0, rows, per_chunk):
                n = min(per_chunk, rows - start)
                pread_exact(fd, raw[: n * row_bytes], info.offset + start * row_bytes, info)
                values = dequantize(raw[: n * row_bytes].reshape(n, row_bytes), qtype)
                yield torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))


def open_gguf(path: str | os.PathLike) -> GGUFCheckpoint:
    """Open a GGUF file: tensor table and metadata only, no tensor data is read.

    Raises SourceError naming the file when it is not a readable GGUF (bad magic,
    unsupported version, truncated header or data).
    """
    import gguf

    path = Path(path)
    try:
        reader = gguf.GGUFReader(path)
    except Exception as exc:  # the reader raises ValueError, struct/numpy errors on corrupt headers
        raise SourceError(f"{path}: not a readable GGUF file, corrupt or truncated "
                          f"({type(exc).__name__}: {exc})") from None
    size = path.stat().st_size
    arch = _field_value(reader, "general.architecture")
    if not arch:
        raise SourceError(f"{path}: GGUF header has no general.architecture; cannot choose skeleton rules")
    infos = []
    for t in reader.tensors:
        qname = t.tensor_type.name
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        if t.data_offset + t.n_bytes > size:
            raise SourceError(f"{path}: file ends inside tensor {t.name!r} (truncated download?)")
        if qname in _PLAIN:
            dtype, quant = _PLAIN[qname], None
        elif _dequantizable(t.tensor_type):
            dtype, quant = "float32", qname
        else:  # integer tensors, or a type gguf cannot dequantize: measure names it if it is in the skeleton
            dtype, quant = qname, None
        infos.append(TensorInfo(t.name, shape, dtype, str(path), int(t.data_offset), int(t.n_bytes), quant))
    names = {i.name for i in infos}
    tied = "output.weight" not in names and "token_embd.weight" in names
    aliases = {"output.weight": "token_embd.weight"} if tied else {}
    config = {
        "model_type": f"gguf:{arch}",
        "name": _field_value(reader, "general.name"),
        "file_type": _field_value(reader, "general.file_type"),
        "num_attention_heads": _field_value(reader, f"{arch}.attention.head_count"),
        "num_key_value_heads": _field_value(reader, f"{arch}.attention.head_count_kv"),
        "num_hidden_layers": _field_value(reader, f"{arch}.block_count"),
    }
    return GGUFCheckpoint(str(path), infos, config, aliases=aliases)
