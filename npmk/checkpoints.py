"""Checkpoint sources: read a model's tensors lazily, one at a time, from wherever they live.

``open_checkpoint(source, revision=None)`` accepts a Hugging Face Hub id (with a
revision; safetensors files only, through the local cache), a local directory
(``config.json`` plus ``*.safetensors``, sharded with an index or not, or
``pytorch_model.bin``; a CTranslate2 directory with ``model.bin``; a directory
holding one ``.gguf``), one or more ``.safetensors`` files, a PyTorch ``.bin``
(loaded with ``weights_only=True, mmap=True``), a GGUF file
(:mod:`npmk.gguf_checkpoint`), a CTranslate2 ``model.bin``
(:mod:`npmk.ctranslate2_checkpoint`), an ``nn.Module`` or a state dict, or the
name of a registered real network, ``real:NAME`` (:mod:`npmk.realnets`).

A file's format is told by its first bytes (:func:`sniff`), not by its
extension, so a CTranslate2 ``model.bin`` never reaches ``torch.load``; the
extension only chooses the reader whose error message a file of no known
format gets.

Names, shapes and dtypes are known before any data is read (for the skeleton
audit). Safetensors data is read with positional reads into a small reusable
buffer, not through a memory map, so the pages of a multi-GB file never count
towards this process's resident memory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from npmk.tensorfile import CHUNK_ELEMS, Checkpoint, SourceError, TensorInfo, dtype_name

__all__ = ["SourceError", "TensorInfo", "Checkpoint", "open_checkpoint", "drop_tied_aliases", "sniff", "CHUNK_ELEMS"]

# safetensors dtype codes -> torch dtypes this module can hand out.
_ST_DTYPES = {
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F32": torch.float32,
    "F64": torch.float64,
    "I8": torch.int8,
    "U8": torch.uint8,
    "I16": torch.int16,
    "I32": torch.int32,
    "I64": torch.int64,
    "BOOL": torch.bool,
}

# --- safetensors ---------------------------------------------------------------------------


def _safetensors_infos(path: Path) -> list[TensorInfo]:
    """Tensor metadata from a safetensors header, validated by the safetensors library."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            names = set(f.keys())
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise SourceError(f"{path}: not a readable safetensors file ({exc})") from None
    # Offsets are not exposed by safe_open; the header is JSON after an 8-byte length.
    with open(path, "rb") as fh:
        header_len = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(header_len))
    data_start = 8 + header_len
    size = path.stat().st_size
    infos = []
    for name, meta in header.items():
        if name == "__metadata__" or name not in names:
            continue
        start, end = meta["data_offsets"]
        if data_start + end > size:
            raise SourceError(f"{path}: file ends inside tensor {name!r} (truncated download?)")
        dt = _ST_DTYPES.get(meta["dtype"])
        infos.append(
            TensorInfo(
                name,
                tuple(int(d) for d in meta["shape"]),
                dtype_name(dt) if dt is not None else meta["dtype"],
                str(path),
                data_start + start,
                end - start,
            )
        )
    infos.sort(key=lambda i: i.offset)
    return infos


def _from_safetensors(files: Sequence[Path], label: str, config: dict | None) -> Checkpoint:
    infos: list[TensorInfo] = []
    seen: dict[str, str] = {}
    for path in files:
        for info in _safetensors_infos(path):
            if info.name in seen:
                raise SourceError(f"tensor {info.name!r} appears in both {seen[info.name]} and {path}")
            seen[info.name] = str(path)
            infos.append(info)
    return Checkpoint(label, infos, config, aliases=_file_aliases(infos, config))


# --- in-memory and PyTorch pickles ---------------------------------------------------------


def _split_tied(state: Mapping, label: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors, seen, aliases = {}, {}, {}
    for name, t in state.items():
        if not isinstance(t, torch.Tensor):
            raise SourceError(f"{label}: entry {name!r} is a {type(t).__name__}, not a tensor")
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if t.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[name] = t
    return tensors, aliases


def drop_tied_aliases(state: Mapping, label: str = "state dict") -> dict[str, torch.Tensor]:
    """The state dict with each tied alias (a tensor viewing the same memory as an earlier
    entry, e.g. a head tied to the embedding) kept once, as ``save_pretrained`` does, so
    no matrix is counted twice. A non-tensor entry is a SourceError naming it."""
    return _split_tied(state, label)[0]


def _from_state_dict(state: Mapping, label: str, config: dict | None) -> Checkpoint:
    tensors, aliases = _split_tied(state, label)
    infos = [TensorInfo(n, tuple(t.shape), dtype_name(t.dtype)) for n, t in tensors.items()]
    return Checkpoint(label, infos, config, tensors, aliases)


#: token-embedding names an untied-in-the-file ``lm_head.weight`` aliases, by suffix
_TOKEN_EMBEDDINGS = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight", "embed_in.weight")


def _file_aliases(infos: Sequence[TensorInfo], config: dict | None) -> dict[str, str]:
    """The head a causal LM with ``tie_word_embeddings: true`` gets when loaded, absent from its files.

    ``save_pretrained`` stores a tied head once, under the embedding's name; the
    loaded model's ``state_dict()`` lists it again as ``lm_head.weight``.
    """
    if not config or config.get("tie_word_embeddings") is not True:
        return {}
    if not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in config.get("architectures") or []):
        return {}
    names = [i.name for i in infos]
    if any(n.endswith("lm_head.weight") for n in names):
        return {}
    embed = next((n for n in names if n.endswith(_TOKEN_EMBEDDINGS)), None)
    return {} if embed is None else {"lm_head.weight": embed}


def _from_bin(files: Sequence[Path], label: str, config: dict | None) -> Checkpoint:
    state: dict[str, torch.Tensor] = {}
    for path in files:
        try:
            try:
                part = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as exc:
                if "mmap" not in str(exc):
                    raise
                part = torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) format
        except Exception as exc:  # torch raises many types for a corrupt pickle
            raise SourceError(f"{path}: not a readable PyTorch weights file ({type(exc).__name__}: {exc})") from None
        if not isinstance(part, Mapping):
            raise SourceError(f"{path}: holds a {type(part).__name__}, not a state dict")
        for name, tensor in part.items():
            if name in state:
                raise SourceError(f"tensor {name!r} appears in more than one of {', '.join(map(str, files))}")
            state[name] = tensor
    return _from_state_dict(state, label, config)


# --- directories, files and the hub ---------------------------------------------------------

#: highest CTranslate2 binary version whose layout npmk.ctranslate2_checkpoint reads
_CT2_MAX_VERSION = 6


def sniff(path: Path) -> str | None:
    """The weights format of a file from its first bytes: "gguf", "safetensors",
    "torch" (zip archive or pickle), "ctranslate2", or None when none matches.

    GGUF starts with the ASCII magic ``GGUF``; a torch file with a zip local
    header or a pickle protocol byte (0x80); safetensors with an 8-byte
    little-endian header length followed by ``{``; a CTranslate2 ``model.bin``
    with a little-endian uint32 binary version (1 to 6) followed, from version 2
    on, by the length-prefixed, NUL-terminated name of its model spec.
    """
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
        return "torch"
    if len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1:
        return "safetensors"
    if len(head) >= 4 and 1 <= int.from_bytes(head[:4], "little") <= _CT2_MAX_VERSION:
        if int.from_bytes(head[:4], "little") < 2:
            return "ctranslate2"
        n = int.from_bytes(head[4:6], "little")
        name = head[6 : 6 + n]
        if 1 < n <= len(head) - 6 and name.endswith(b"\0") and name[:-1].isascii() and name[:-1].isalnum():
            return "ctranslate2"
    return None


def _from_file(path: Path) -> Checkpoint:
    """One weights file, its reader chosen by content; by extension only when no format matches."""
    fmt = sniff(path)
    if fmt == "gguf" or (fmt is None and path.suffix == ".gguf"):
        from npmk.gguf_checkpoint import open_gguf

        return open_gguf(path)
    if fmt == "ctranslate2":
        from npmk.ctranslate2_checkpoint import open_ctranslate2

        return open_ctranslate2(path, str(path))
    if fmt == "safetensors" or (fmt is None and path.suffix == ".safetensors"):
        return _from_safetensors([path], str(path), _read_config(path.parent))
    if fmt == "torch" or (fmt is None and path.suffix in (".bin", ".pt", ".pth")):
        return _from_bin([path], str(path), _read_config(path.parent))
    raise SourceError(f"{path}: not a weights file npmk can read (its first bytes match no known format: "
                      "safetensors, PyTorch zip/pickle, GGUF, CTranslate2 model.bin)")



def _read_config(directory: Path) -> dict | None:
    path = directory / "config.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: invalid JSON ({exc})") from None


def _shards(directory: Path, index_name: str) -> list[Path] | None:
    index = directory / index_name
    if not index.is_file():
        return None
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise SourceError(f"{index}: not a valid shard index ({exc})") from None
    files = [directory / f for f in dict.fromkeys(weight_map.values())]
    for f in files:
        if not f.is_file():
            raise SourceError(f"{index} lists shard {f.name}, which is missing")
    return files


def _from_directory(directory: Path, label: str) -> Checkpoint:
    model_bin = directory / "model.bin"
    if model_bin.is_file() and sniff(model_bin) == "ctranslate2":
        from npmk.ctranslate2_checkpoint import open_ctranslate2

        return open_ctranslate2(model_bin, label)
    ggufs = sorted(directory.glob("*.gguf"))
    if len(ggufs) == 1:
        return _from_file(ggufs[0])
    if len(ggufs) > 1:
        raise SourceError(f"{directory}: holds {len(ggufs)} .gguf files ({', '.join(p.name for p in ggufs)}); "
                          "pass one of them")
    config = _read_config(directory)
    files = _shards(directory, "model.safetensors.index.json") or sorted(directory.glob("*.safetensors"))
    if files:
        return _from_safetensors(files, label, config)
    files = _shards(directory, "pytorch_model.bin.index.json") or sorted(directory.glob("pytorch_model*.bin"))
    if files:
        return _from_bin(files, label, config)
    raise SourceError(f"{directory}: no *.safetensors, pytorch_model.bin, CTranslate2 model.bin or .gguf weights "
                      "in this directory")


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _from_hub(repo_id: str, revision: str | None) -> Checkpoint:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    rev = revision or "main"
    where = f"model {repo_id!r} at revision {rev!r}"
    hint = (
        "download it where there is network (e.g. `hf download "
        f"{repo_id} --revision {rev} --local-dir DIR`) and pass the local directory DIR instead"
    )
    try:
        path = Path(
            snapshot_download(
                repo_id,
                revision=rev,
                allow_patterns=["*.safetensors", "model.safetensors.index.json", "config.json"],
            )
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        raise SourceError(
            f"{where} is not in the local Hugging Face cache and the Hub is unreachable ({type(exc).__name__}); "
            f"no local path {repo_id!r} exists either; {hint}"
        ) from None
    except HfHubHTTPError as exc:
        raise SourceError(f"cannot fetch {where} from the Hugging Face Hub ({type(exc).__name__}: {exc}); "
                          f"{hint}") from None
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot fetch {where} ({type(exc).__name__}: {exc}); {hint}") from None
    files = _shards(path, "model.safetensors.index.json") or sorted(path.glob("*.safetensors"))
    if not files:
        raise SourceError(f"{where} has no .safetensors weights (npmk reads only safetensors from the Hub); {hint}")
    return _from_safetensors(files, f"{repo_id}@{rev}", _read_config(path))


def open_checkpoint(source, revision: str | None = None) -> Checkpoint:
    """Open any supported source; see the module docstring."""
    if isinstance(source, Checkpoint):
        return source
    if revision is not None and not isinstance(source, str):
        raise SourceError(f"a revision ({revision!r}) applies only to Hugging Face Hub ids")
    if isinstance(source, torch.nn.Module):
        cfg = getattr(source, "config", None)
        config = cfg.to_dict() if hasattr(cfg, "to_dict") else None
        return _from_state_dict(source.state_dict(), type(source).__name__, config)
    if isinstance(source, Mapping):
        return _from_state_dict(source, "state dict", None)
    if isinstance(source, (list, tuple)):
        paths = [Path(p) for p in source]
        if not paths:
            raise SourceError("empty list of checkpoint files")
        for p in paths:
            if p.is_dir():
                raise SourceError(f"{p} is a directory; several sources must all be weight files "
                                  "(one directory at a time)")
            if not p.is_file():
                raise SourceError(f"{p}: no such file")
        if len(paths) == 1:
            return _from_file(paths[0])
        formats = {sniff(p) or p.suffix for p in paths}
        if formats <= {"safetensors", ".safetensors"}:
            return _from_safetensors(paths, ", ".join(map(str, paths)), _read_config(paths[0].parent))
        if formats <= {"torch", ".bin", ".pt", ".pth"}:
            return _from_bin(paths, ", ".join(map(str, paths)), _read_config(paths[0].parent))
        raise SourceError(f"several files must all be safetensors or all PyTorch weights (one GGUF or "
                          f"CTranslate2 file at a time), got {[p.name for p in paths]}")
    if not isinstance(source, (str, os.PathLike)):
        raise SourceError(f"unsupported checkpoint source of type {type(source).__name__}")
    if isinstance(source, str) and source.startswith("real:"):
        if revision is not None:
            raise SourceError(f"{source}: a revision ({revision!r}) applies only to Hugging Face Hub ids")
        from npmk.realnets import weights_path

        ckpt = open_checkpoint(weights_path(source.removeprefix("real:")))
        ckpt.label = source
        return ckpt
    path = Path(source)
    is_hub = (not path.exists() and isinstance(source, str) and bool(_HUB_ID.match(source))
              and path.suffix not in (".safetensors", ".bin", ".pt", ".gguf"))
    if is_hub:
        return _from_hub(source, revision)
    if revision is not None:
        raise SourceError(f"{source}: a revision ({revision!r}) applies only to Hugging Face Hub ids, "
                          "not to local files")
    if path.is_dir():
        return _from_directory(path, str(path))
    if path.is_file():
        return open_checkpoint([path])
    raise SourceError(f"{source}: no such file or directory")
