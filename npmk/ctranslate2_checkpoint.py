"""CTranslate2 ``model.bin`` files (e.g. faster-whisper models) as a :class:`~npmk.checkpoints.Checkpoint`.

A small reader of the documented binary layout (CTranslate2's
``ModelSpec.save`` writer and its C++ loader, binary versions 4 to 6), all
integers little-endian, strings as a uint16 length (NUL included), the bytes
and a NUL::

    uint32 binary_version
    string spec_name; uint32 spec_revision
    uint32 n_variables, then per variable:
        string name; uint8 rank; uint32 dims[rank]; uint8 dtype_id; uint32 n_bytes; n_bytes of data
    uint32 n_aliases, then per alias: string alias; string target

dtype ids: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16. Nothing
here unpickles or executes anything, and only the header is read on open.

Fused attention projections are split into their parts, where the shape says
how: a self-attention ``linear_0`` of shape (3d, d) is Q, K, V stacked along
rows (names ``.../linear_0/weight[q]``, ``[k]``, ``[v]``), a cross-attention
``linear_1`` of shape (2d, d) is K, V (``[k]``, ``[v]``). Each part is a
contiguous block of rows, so it is read like any tensor, at its own offset.
A fused matrix of any other shape (grouped-query attention) is kept whole.
CTranslate2's aliases (Whisper's output projection is its token embedding)
are kept in ``Checkpoint.aliases``.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np

from npmk.tensorfile import Checkpoint, SourceError, TensorInfo

__all__ = ["open_ctranslate2", "DTYPES", "FUSED"]

#: CTranslate2 DataType ids -> (torch dtype name, bytes per element)
DTYPES = {0: ("float32", 4), 1: ("int8", 1), 2: ("int16", 2), 3: ("int32", 4), 4: ("float16", 2), 5: ("bfloat16", 2)}

#: name suffix of a fused projection -> its parts along the rows, in order
FUSED = {
    "self_attention/linear_0/weight": ("q", "k", "v"),
    "attention/linear_1/weight": ("k", "v"),
}

_VERSIONS = range(4, 7)


class _Header:
    """Sequential little-endian reads from a model.bin, with errors naming the file."""

    def __init__(self, fh, path: Path):
        self.fh, self.path = fh, path

    def unpack(self, fmt: str, what: str):
        size = struct.calcsize("<" + fmt)
        raw = self.fh.read(size)
        if len(raw) != size:
            raise SourceError(f"{self.path}: file ends inside the header ({what}); "
                              "truncated or not a CTranslate2 model")
        return struct.unpack("<" + fmt, raw)

    def string(self, what: str) -> str:
        (n,) = self.unpack("H", what)
        raw = self.fh.read(n)
        if len(raw) != n or n == 0 or raw[-1:] != b"\0":
            raise SourceError(f"{self.path}: malformed string in the header ({what})")
        return raw[:-1].decode("utf-8", errors="replace")


def _split(info: TensorInfo, parts: tuple[str, ...]) -> list[TensorInfo]:
    rows, cols = info.shape
    if rows != len(parts) * cols:
        return [info]
    size = info.nbytes // len(parts)
    return [TensorInfo(f"{info.name}[{p}]", (cols, cols), info.dtype, info.file, info.offset + i * size, size)
            for i, p in enumerate(parts)]


def open_ctranslate2(path: str | os.PathLike, label: str | None = None) -> Checkpoint:
    """Open a CTranslate2 ``model.bin``: its variable table (names, shapes, dtypes, offsets) and aliases.

    The config is ``{"model_type": "ct2:<spec>", "spec": ..., "spec_revision": ...,
    "num_attention_heads": ...}``, with ``<spec>`` the spec name lower-cased without
    its ``Spec`` suffix (``WhisperSpec`` -> ``ct2:whisper``).
    """
    path = Path(path)
    size = path.stat().st_size
    infos: list[TensorInfo] = []
    scalars: dict[str, int] = {}
    with open(path, "rb") as fh:
        h = _Header(fh, path)
        (version,) = h.unpack("I", "binary version")
        if version not in _VERSIONS:
            raise SourceError(f"{path}: CTranslate2 binary version {version} is not supported "
                              f"(npmk reads versions {_VERSIONS.start} to {_VERSIONS.stop - 1})")
        spec = h.string("spec name")
        (revision,) = h.unpack("I", "spec revision")
        (count,) = h.unpack("I", "number of variables")
        for _ in range(count):
            name = h.string("variable name")
            (rank,) = h.unpack("B", f"rank of {name!r}")
            shape = h.unpack(f"{rank}I", f"shape of {name!r}") if rank else ()
            dtype_id, nbytes = h.unpack("BI", f"dtype of {name!r}")
            if dtype_id not in DTYPES:
                raise SourceError(f"{path}: variable {name!r} has unknown CTranslate2 dtype id {dtype_id}")
            dtype, itemsize = DTYPES[dtype_id]
            if nbytes != math.prod(shape) * itemsize:
                raise SourceError(f"{path}: variable {name!r} declares {nbytes} bytes for shape {shape} of {dtype}")
            offset = fh.tell()
            if offset + nbytes > size:
                raise SourceError(f"{path}: file ends inside tensor {name!r} (truncated download?)")
            if rank == 0 and dtype.startswith("int"):
                scalars[name] = int(np.frombuffer(fh.read(nbytes), dtype=np.dtype(f"<i{itemsize}"))[0])
            else:
                fh.seek(nbytes, os.SEEK_CUR)
            info = TensorInfo(name, tuple(shape), dtype, str(path), offset, nbytes)
            parts = next((p for suffix, p in FUSED.items() if name.endswith("/" + suffix)), None)
            infos.extend(_split(info, parts) if parts and rank == 2 else [info])
        (n_aliases,) = h.unpack("I", "number of aliases")
        aliases = {}
        for _ in range(n_aliases):
            alias = h.string("alias name")
            aliases[alias] = h.string(f"target of alias {alias!r}")
    heads = scalars.get("encoder/num_heads", scalars.get("decoder/num_heads", scalars.get("num_heads")))
    config = {"model_type": f"ct2:{spec.removesuffix('Spec').lower()}", "spec": spec, "spec_revision": revision,
              "binary_version": version, "num_attention_heads": heads}
    return Checkpoint(label or str(path), infos, config, aliases=aliases)
