"""A checkpoint's tensors as metadata plus lazy reads: :class:`TensorInfo`, :class:`Checkpoint`.

The format readers (:mod:`npmk.checkpoints` for safetensors, PyTorch pickles and
in-memory state dicts; :mod:`npmk.gguf_checkpoint`; :mod:`npmk.ctranslate2_checkpoint`)
all build these; :func:`npmk.checkpoints.open_checkpoint` chooses the reader.
File data is read with positional reads (``os.preadv``) into a small reusable
buffer, not through a memory map, so the pages of a multi-GB file never count
towards this process's resident memory.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["SourceError", "TensorInfo", "Checkpoint", "CHUNK_ELEMS", "pread_exact", "dtype_name"]

#: Elements per chunk handed to consumers of ``Checkpoint.chunks``.
CHUNK_ELEMS = 1 << 20


class SourceError(ValueError):
    """A checkpoint source cannot be read; the message names the file, model or tensor."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's metadata. dtype is the torch dtype name (e.g. 'float16') or the file's code.

    quant: the storage type of a quantized tensor (a GGUF type name such as
    ``"Q4_K"``); its values are dequantized on reading and handed out as ``dtype``
    (float32). None for tensors stored as plain floats.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    file: str | None = None
    offset: int = 0  # byte offset of the data in ``file``
    nbytes: int = 0
    quant: str | None = None

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def dtype_name(dt: torch.dtype) -> str:
    """torch dtype as TensorInfo spells it: 'float16' for torch.float16."""
    return str(dt).removeprefix("torch.")


class Checkpoint:
    """A lazily read set of named tensors plus the model config (dict) when one is known.

    label: a human-readable description of the source (for messages and results).
    aliases: tied tensors the source stores once, as {alias name: stored name}
    (a CTranslate2 alias, a GGUF model without ``output.weight`` whose head is the
    token embedding). ``infos`` lists each stored tensor once; a consumer that
    counts tied matrices as a state dict does reads the aliases from here.
    """

    def __init__(self, label: str, infos: list[TensorInfo], config: dict | None, tensors: Mapping | None = None,
                 aliases: Mapping[str, str] | None = None):
        self.label = label
        self.config = config
        self._infos = infos
        self._tensors = tensors  # in-memory sources only
        #: tied alias -> the listed tensor it shares its values with (see :meth:`alias_infos`)
        self.aliases: dict[str, str] = dict(aliases or {})

    def alias_infos(self) -> list[TensorInfo]:
        """One TensorInfo per tied alias, pointing at the values of the tensor it aliases.

        ``model.state_dict()`` lists a tied output head under its own name beside
        the embedding; :meth:`infos` lists the matrix once, as ``save_pretrained``
        stores it.  These infos restore the state-dict listing when asked for.
        """
        by_name = {i.name: i for i in self._infos}
        return [dataclasses.replace(by_name[target], name=alias) for alias, target in self.aliases.items()]

    def infos(self) -> list[TensorInfo]:
        """Name, shape, dtype of every tensor, in storage order; no data is read."""
        return list(self._infos)

    def named_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(i.name, i.shape) for i in self._infos]

    def tensor(self, info: TensorInfo) -> torch.Tensor:
        """The whole tensor (read from disk for file sources)."""
        if self._tensors is not None:
            return self._tensors[self.aliases.get(info.name, info.name)]
        out = torch.empty(info.shape, dtype=self._torch_dtype(info))
        _read_into(info, out.reshape(-1).view(torch.uint8).numpy(), info.offset)
        return out

    def tensors(self) -> Iterator[tuple[str, torch.Tensor]]:
        """(name, tensor) pairs, one tensor in memory at a time."""
        for info in self._infos:
            yield info.name, self.tensor(info)

    def chunks(self, info: TensorInfo, elems: int = CHUNK_ELEMS) -> Iterator[torch.Tensor]:
        """The tensor's values as consecutive flat pieces of at most ``elems`` elements.

        For files, each piece reuses one buffer: consume it before asking for the next.
        """
        if self._tensors is not None:
            flat = self._tensors[self.aliases.get(info.name, info.name)].detach().reshape(-1)
            for start in range(0, flat.numel(), elems):
                yield flat[start : start + elems]
            return
        dtype = self._torch_dtype(info)
        itemsize = torch.empty(0, dtype=dtype).element_size()
        buf = torch.empty(min(elems, max(info.numel, 1)), dtype=dtype)
        raw = buf.view(torch.uint8).numpy()
        with open(info.file, "rb") as fh:
            fd = fh.fileno()
            for start in range(0, info.numel, elems):
                count = min(elems, info.numel - start)
                pread_exact(fd, raw[: count * itemsize], info.offset + start * itemsize, info)
                yield buf[:count]

    @staticmethod
    def _torch_dtype(info: TensorInfo) -> torch.dtype:
        dt = getattr(torch, info.dtype, None)
        if not isinstance(dt, torch.dtype):
            raise SourceError(f"tensor {info.name!r} in {info.file} has dtype {info.dtype}, which torch cannot hold")
        return dt


def pread_exact(fd: int, dest: np.ndarray, offset: int, info: TensorInfo) -> None:
    """Fill ``dest`` with the bytes of ``info.file`` from ``offset``; SourceError if the file ends first."""
    view = memoryview(dest)
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            raise SourceError(f"{info.file}: file ends inside tensor {info.name!r} (truncated download?)")
        done += got


def _read_into(info: TensorInfo, dest: np.ndarray, offset: int) -> None:
    with open(info.file, "rb") as fh:
        pread_exact(fh.fileno(), dest, offset, info)
