"""The chapter cache: what an executed chapter was computed from, kept beside it as a small JSON manifest.

``npmk book`` skips a chapter whose inputs are unchanged since its last
complete run in the same build tree, as Jupyter Book's ``execute_notebooks:
cache`` does for its pages. The inputs are the chapter's source, the
parameters it ran with, the npmk version with the sha256 of every file of
the package (``npmk/registry.txt`` pins each registered data file by its own
sha256, so the data a chapter can read are covered too), the project's
``data/`` tables and the Python version. Trained lab runs are a function of
those (their configs come from the parameters and the package), so they are
covered as well. A chapter that ran without some of its data is never
reused: the next build tries again.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from npmk._files import sha256, write_json

__all__ = ["Manifest", "inputs", "key_of", "read", "write", "is_fresh"]

PACKAGE = Path(__file__).resolve().parent


@dataclass
class Manifest:
    """The record of one chapter run: its inputs, their key, and how it went.

    ``status`` is ``"complete"`` or ``"degraded"`` (some registered data file
    could not be fetched; ``missing_data`` lists them). ``holes``: glue keys
    the chapter's prose quotes but the run did not glue (shown as "not
    computed"). ``finished`` is the time it ended (UTC), ``seconds`` the wall
    time of the execution.
    """

    chapter: str
    profile: str
    parameters: dict
    overrides: dict
    inputs: dict
    key: str
    status: str
    finished: str
    seconds: float
    missing_data: list[str] = field(default_factory=list)
    holes: list[str] = field(default_factory=list)


def _sha256_files(files: list[Path], base: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.relative_to(base).as_posix().encode() + b"\0")
        h.update(bytes.fromhex(sha256(f)))
    return h.hexdigest()


def _package_state(root: Path) -> dict:
    """Version and content hash of the npmk package and of the project's data tables (a few ms)."""
    try:
        version = metadata.version("npmk")
    except metadata.PackageNotFoundError:  # running from a checkout on PYTHONPATH
        version = "not installed"
    pkg = [p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    data = [p for p in (root / "data").rglob("*") if p.is_file() and p.name != "profiles.yaml"]
    return {"npmk_version": version, "npmk_sha256": _sha256_files(pkg, PACKAGE),
            "data_sha256": _sha256_files(data, root), "python": sys.version.split()[0]}


def inputs(root: Path, source: Path, parameters: dict) -> dict:
    """Everything a chapter's result depends on, as hashes and versions (JSON-ready).

    ``data/profiles.yaml`` is left out: the parameters it gives are in ``parameters``.
    """
    return {"source_sha256": sha256(source),
            "parameters": json.loads(json.dumps(parameters, sort_keys=True, default=repr)),
            **_package_state(root)}


def key_of(inputs_: dict) -> str:
    """sha256 of the canonical JSON of ``inputs_``."""
    return hashlib.sha256(json.dumps(inputs_, sort_keys=True, default=repr).encode()).hexdigest()


def read(path: Path) -> Manifest | None:
    """The manifest at ``path``, or None when there is none or it is unreadable (then nothing is reused)."""
    try:
        return Manifest(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write(manifest: Manifest, path: Path) -> None:
    """Write ``manifest`` atomically (a run interrupted mid-write leaves the old one)."""
    write_json(path, asdict(manifest))


def is_fresh(manifest: Manifest | None, key: str, result: Path) -> bool:
    """True when ``result`` exists and was a complete run with inputs ``key``."""
    return (manifest is not None and manifest.key == key and manifest.status == "complete"
            and result.is_file())
