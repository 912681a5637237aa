"""Training corpora for the lab: text → token ids, cached by content hash.

A corpus source is one of

* ``"stdlib"`` — the offline default: the Python standard library's own ``.py``
  files under ``sysconfig.get_paths()["stdlib"]`` (present on every machine),
  excluding ``site-packages``/``dist-packages`` and the ``test``/``tests``/
  ``idle_test`` suites, read in sorted relative-path order and capped at
  ``max_bytes`` (files in that order, the last one cut at the cap);
* a directory of text files (every regular file below it, same order and cap);
* a single text file (its first ``max_bytes`` bytes);
* a pre-tokenized ``.npy`` array of non-negative integer ids (``tokenizer``
  must then be ``"none"``).

Files are joined with an end-of-text separator token.  Tokenizers:

* ``"bpe"`` — a byte-level BPE with ``vocab`` ids trained on the corpus text
  itself with :mod:`tokenizers` (small vocabularies suit small models);
* ``"pythia"`` — the Pythia/GPT-NeoX 20B tokenizer from the data registry
  (``pythia/utils/20B_tokenizer.json``; 50,277 ids, the model's embedding is
  padded to 50,304 as Pythia does).

Tokenized corpora are cached under ``$NPMK_CACHE/corpora/<sha256>.npy`` where the
hash covers the text bytes and the tokenizer spec, so the same text and
tokenizer are encoded once on a machine.  :func:`split` holds out the last
``val_frac`` of the token stream for validation; :func:`corrupt` replaces a
seeded fraction ρ of tokens by uniformly random ids (the data-coherence knob).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from npmk._files import write_atomic
from npmk.data import cache_dir, fetch

__all__ = ["Corpus", "load", "read_text", "split", "corrupt", "stdlib_files", "stdlib_docstrings", "EOT"]

EOT = "<|endoftext|>"
_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
PYTHIA_TOKENIZER = "pythia/utils/20B_tokenizer.json"


@dataclass(frozen=True)
class Corpus:
    """A token stream: ``tokens`` (int32 ids), ``vocab_size`` (the model's embedding rows),
    ``n_ids`` (ids the tokenizer can emit, ≤ vocab_size), ``sha256`` (hash of text + tokenizer spec, or of the
    .npy bytes), ``n_files``, ``n_bytes`` (text bytes read) and ``tokenizer`` (the spec, as recorded in config.json)."""

    tokens: np.ndarray
    vocab_size: int
    n_ids: int
    sha256: str
    n_files: int
    n_bytes: int
    tokenizer: str

    def describe(self) -> dict:
        """The corpus as recorded in a run's config.json (everything but the tokens)."""
        return {
            "sha256": self.sha256,
            "n_files": self.n_files,
            "n_bytes": self.n_bytes,
            "n_tokens": int(self.tokens.size),
            "vocab_size": self.vocab_size,
            "n_ids": self.n_ids,
            "tokenizer": self.tokenizer,
        }


def stdlib_files() -> tuple[Path, list[Path]]:
    """The standard library's root and its ``.py`` files in the fixed corpus order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]  # prune site-packages etc.
        files += [Path(dirpath, f) for f in filenames if f.endswith(".py")]
    return root, sorted(files, key=lambda p: p.relative_to(root).as_posix())


def stdlib_docstrings(min_chars: int = 40) -> Path:
    """The standard library's docstrings as one text file: an offline prose corpus.

    Every module, class and function docstring longer than ``min_chars``
    characters, in :func:`stdlib_files` order, joined by blank lines; written
    once (atomically) under ``$NPMK_CACHE/corpora/`` and reused.  English
    written by programmers about code: prose from one domain.
    """
    import ast

    out = cache_dir() / "corpora" / f"stdlib_docstrings_{min_chars}.txt"
    if out.exists():
        return out
    _, files = stdlib_files()
    docs = []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except SyntaxError:
            continue  # a few stdlib files are deliberately invalid (test data for the parsers)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > min_chars:
                    docs.append(doc)
    write_atomic(out, "\n\n".join(docs).encode("utf-8"))
    return out


def read_text(source: str | os.PathLike, max_bytes: int) -> list[str]:
    """The documents of a text source (``"stdlib"``, a directory or a file), capped at ``max_bytes``.

    Bytes that are not UTF-8 are replaced (U+FFFD), deterministically.
    """
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}")
    if str(source) == "stdlib":
        root, files = stdlib_files()
    else:
        root = Path(source).expanduser()
        if root.is_file():
            return [root.read_bytes()[:max_bytes].decode("utf-8", errors="replace")]
        if not root.is_dir():
            raise FileNotFoundError(f"corpus source {str(source)!r} is neither 'stdlib', a directory nor a file")
        files = sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.relative_to(root).as_posix())
    docs, total = [], 0
    for path in files:
        data = path.read_bytes()[: max_bytes - total]
        docs.append(data.decode("utf-8", errors="replace"))
        total += len(data)
        if total >= max_bytes:
            break
    if not docs:
        raise ValueError(f"corpus source {str(source)!r} holds no files")
    return docs


def _train_bpe(docs: list[str], vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(docs, trainer=trainer)
    return tok


def load(source: str | os.PathLike = "stdlib", *, tokenizer: str = "bpe", vocab: int = 2048,
         max_bytes: int = 8_000_000) -> Corpus:
    """Read and tokenize a corpus (cached); see the module docstring for sources and tokenizers."""
    if str(source).endswith(".npy"):
        if tokenizer != "none":
            raise ValueError(f"a pre-tokenized .npy corpus needs tokenizer='none', got {tokenizer!r}")
        raw = Path(source).expanduser().read_bytes()
        tokens = np.load(Path(source).expanduser())
        if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer) or tokens.size == 0 or tokens.min() < 0:
            raise ValueError(f"{source}: expected a non-empty 1-D array of non-negative integer token ids")
        n = int(tokens.max()) + 1
        return Corpus(tokens.astype(np.int32), n, n, hashlib.sha256(raw).hexdigest(), 1, len(raw), "none")
    if tokenizer not in {"bpe", "pythia"}:
        raise ValueError(f"unknown tokenizer {tokenizer!r}; expected 'bpe', 'pythia' (or 'none' for .npy)")
    docs = read_text(source, max_bytes)
    spec = f"bpe-{vocab}" if tokenizer == "bpe" else "pythia-20B"
    h = hashlib.sha256(json.dumps({"tokenizer": spec}).encode())
    for d in docs:
        h.update(d.encode("utf-8"))
        h.update(b"\0")
    sha = h.hexdigest()
    cached = cache_dir() / "corpora" / f"{sha}.npy"
    if tokenizer == "pythia":
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(fetch(PYTHIA_TOKENIZER)))
        n_ids = tok.get_vocab_size()
        vocab_size = -(-n_ids // 128) * 128
    else:
        tok = None
        n_ids = vocab_size = vocab
    if cached.exists():
        tokens = np.load(cached)
    else:
        tok = tok or _train_bpe(docs, vocab)
        if tokenizer == "bpe":
            cached.parent.mkdir(parents=True, exist_ok=True)
            tok.save(str(cached.with_suffix(".tokenizer.json")))
        eot = tok.token_to_id(EOT)
        ids: list[int] = []
        for enc in tok.encode_batch(docs):
            ids.extend(enc.ids)
            ids.append(eot)
        tokens = np.asarray(ids, dtype=np.int32)
        buf = io.BytesIO()
        np.save(buf, tokens)
        write_atomic(cached, buf.getvalue())
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    return Corpus(tokens, vocab_size, n_ids, sha, len(docs), n_bytes, spec)


def split(tokens: np.ndarray, val_frac: float) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation): the validation set is the last ``val_frac`` of the stream."""
    if not 0 < val_frac < 1:
        raise ValueError(f"val_frac must be in (0, 1), got {val_frac}")
    cut = int(round(len(tokens) * (1 - val_frac)))
    return tokens[:cut], tokens[cut:]


def corrupt(tokens: np.ndarray, rho: float, vocab_size: int, seed: int) -> np.ndarray:
    """A copy of ``tokens`` with each position replaced, with probability ρ, by a uniform id in [0, vocab_size).

    A replaced id equals the original with probability 1/vocab_size, so the
    expected fraction of changed tokens is ρ(1 − 1/vocab_size).
    """
    if not 0 <= rho <= 1:
        raise ValueError(f"corruption rate rho must be in [0, 1], got {rho}")
    out = tokens.copy()
    if rho == 0:
        return out
    rng = np.random.default_rng([seed, 0xC0])
    mask = rng.random(len(tokens)) < rho
    out[mask] = rng.integers(0, vocab_size, int(mask.sum()), dtype=out.dtype)
    return out
