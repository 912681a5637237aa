"""The data registry: every external file the book reads, by public URL and sha256.

Files are fetched with :mod:`pooch` into a cache (``$NPMK_CACHE/data``, default
``~/.cache/npmk/data``) and hash-checked on every fetch.  When the environment
variable ``NPMK_MIRROR`` names a directory laid out as
``raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>`` (the public raw URL
minus ``https://``), files are copied from there instead of downloaded; the hash
check is the same.  Nothing fetched here is committed to the project.

Registry keys are ``<repo>/<path>``, e.g.
``pythia/evals/pythia-v1/pythia-70m/zero-shot/70m_step1000.json``; the hashes
live in ``registry.txt`` beside this file.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import pooch

__all__ = ["SOURCES", "Source", "MissingDataError", "fetch", "note_missing", "load_or_note_missing", "keys",
           "url", "cache_dir"]

T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """One public repository the book reads files from, pinned to a commit."""

    owner: str
    repo: str
    commit: str
    licence: str
    citation: str


SOURCES: dict[str, Source] = {
    "pythia": Source(
        owner="EleutherAI",
        repo="pythia",
        commit="a19eecb807ec2c79a39ebf18108816e6ffffc1d5",
        licence="Apache-2.0",
        citation=(
            "Biderman et al. (2023), Pythia: A Suite for Analyzing Large Language "
            "Models Across Training and Scaling, ICML 2023, arXiv:2304.01373"
        ),
    ),
    "NPM-Weibull-public": Source(
        owner="tiexinding",
        repo="NPM-Weibull-public",
        commit="213fd40575fa23ff629a6010c96bbdc78bc88362",
        licence="CC-BY-4.0",
        citation=(
            "Ding (2026), A Two-Parameter Weibull Framework for Diagnosing "
            "Transformer Weight Distributions, arXiv:2605.18898; and Ding (2026), "
            "Weibull Weight-Scale Parameter Evolution under AdamW Training Dynamics"
        ),
    ),
}

MIRROR_ENV = "NPMK_MIRROR"

pooch.get_logger().setLevel("WARNING")  # a fetch per file would otherwise log a line to stderr


class MissingDataError(FileNotFoundError):
    """A registered file could be neither downloaded nor found in a mirror; ``key`` names it."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def cache_dir() -> Path:
    """Root of npmk's caches: ``$NPMK_CACHE`` or ``~/.cache/npmk``."""
    return Path(os.environ.get("NPMK_CACHE", Path.home() / ".cache" / "npmk")).expanduser()


@lru_cache(maxsize=1)
def _registry() -> dict[str, str]:
    entries = {}
    for line in (Path(__file__).with_name("registry.txt")).read_text().splitlines():
        if line.strip():
            key, digest = line.split()
            entries[key] = digest
    return entries


def keys(prefix: str = "") -> list[str]:
    """Registered keys starting with ``prefix``, sorted."""
    return sorted(k for k in _registry() if k.startswith(prefix))


def _split(key: str) -> tuple[Source, str]:
    if key not in _registry():
        raise KeyError(f"{key!r} is not in the npmk data registry (npmk/registry.txt)")
    repo, path = key.split("/", 1)
    return SOURCES[repo], path


def url(key: str) -> str:
    """The public URL of a registered file."""
    src, path = _split(key)
    return f"https://raw.githubusercontent.com/{src.owner}/{src.repo}/{src.commit}/{path}"


def _mirror_downloader(mirror: Path):
    def download(file_url: str, output_file: str, _pooch) -> None:
        local = mirror / file_url.removeprefix("https://")
        if not local.is_file():
            raise MissingDataError(f"{local} is not in the mirror {mirror} (set by {MIRROR_ENV})")
        shutil.copyfile(local, output_file)

    return download


def fetch(key: str) -> Path:
    """Local path of a registered file, fetched and sha256-checked on first use.

    Raises :class:`MissingDataError` naming the file, its URL and ``NPMK_MIRROR``
    when neither the network nor a mirror provides it.
    """
    src, path = _split(key)
    target = cache_dir() / "data" / key
    mirror = os.environ.get(MIRROR_ENV)
    downloader = _mirror_downloader(Path(mirror).expanduser()) if mirror else None
    try:
        return Path(
            pooch.retrieve(
                url(key),
                known_hash=_registry()[key],
                fname=target.name,
                path=target.parent,
                downloader=downloader,
                progressbar=False,
            )
        )
    except ValueError:  # pooch's hash mismatch: never hand out a file we can't vouch for
        raise
    except Exception as exc:  # network down, DNS failure, mirror lacks the file
        raise MissingDataError(
            f"cannot fetch {key} ({url(key)}): {exc}. Without internet, point "
            f"{MIRROR_ENV} at a directory holding raw.githubusercontent.com/"
            f"{src.owner}/{src.repo}/{src.commit}/{path}",
            key=key,
        ) from exc


#: whether this process (a chapter's kernel) has shown the full missing-data note yet
_noted_missing = False


def note_missing(err: MissingDataError) -> None:
    """Say on the page that the input of ``err`` is missing and this part is skipped.

    For notebooks. The first note of a chapter (one kernel) says what to do
    (for a registry file: the network or ``NPMK_MIRROR``; otherwise the
    error's own advice), then folds the error away; later ones name their
    input in one line. Each carries the output metadata
    ``{"npmk": {"missing_data": key}}``, by which ``npmk book`` reports the
    chapter as degraded.
    """
    global _noted_missing
    from html import escape

    from IPython.display import Markdown, display  # a notebook-only dependency, not the package's

    what = err.key or str(err).splitlines()[0]
    if _noted_missing:
        text = f"**Also not available:** `{what}`; this part is skipped too."
    elif err.key:
        text = (f"**Not available in this build:** `{err.key}`. This part is skipped; to compute it, "
                f"connect to the internet or set `{MIRROR_ENV}` to a data mirror (README, *Data*) "
                "and rerun the chapter.")
    else:
        text = f"**Not available in this build:** {err}. This part is skipped."
    _noted_missing = True
    display(Markdown(f"{text}\n\n<details><summary>What failed</summary>\n\n<pre>{escape(str(err))}"
                     "</pre>\n\n</details>"), metadata={"npmk": {"missing_data": what}})


def load_or_note_missing(loader: Callable[..., T], *args, **kwargs) -> T | None:
    """``loader(*args, **kwargs)``, or ``None`` after :func:`note_missing` when data is missing.

    For notebooks: a registry file that cannot be fetched (:class:`MissingDataError`)
    must not stop the chapter; the cells that need the data test for ``None``.
    Any other exception, an unregistered key included, propagates.
    """
    try:
        return loader(*args, **kwargs)
    except MissingDataError as err:
        note_missing(err)
        return None
