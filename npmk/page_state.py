"""What a book page says about its own state: no prose with a hole, no stale result passed off as current.

A chapter that ran without some of its data glues fewer values (or NaN); a
``{glue:text}`` reference to a value that was not glued would render as
nothing and leave a sentence with a hole ("the correlation is ."). These
functions replace such references by a short marker before the page is
built, put a visible note on a page that shows an older result than the last
attempt, and write a placeholder page for a chapter that has no result yet,
so that the navigation and every link to it still work.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

__all__ = ["NOT_COMPUTED", "NOT_RUN", "GLUE_REF", "glued_keys", "missing_data", "fill_holes",
           "fill_cross_refs", "mark_stale", "unmark_stale", "title", "placeholder"]

#: what a reference to a value this run did not compute shows instead
NOT_COMPUTED = "*not computed in this run*"
#: what a reference into a chapter that is not part of this build shows instead
NOT_RUN = "*not run in this profile*"
#: a MyST glue role: optional ``path.ipynb::``, the key, an optional format spec
GLUE_REF = re.compile(r"\{glue(?::(?:text|md|any))?\}`(?:([^`:]+\.ipynb)::)?([A-Za-z0-9_.]+)(?::[^`]*)?`")
#: metadata key of a note added by the pipeline (so that it can be found and removed again)
STALE_TAG = "npmk-stale-note"
#: output metadata that npmk.data.load_or_note_missing attaches to its note
MISSING_KEY = "missing_data"


#: the plain text of a glued value that was not computed (a NaN float, as glued and as numpy glues it)
NAN_TEXT = ("nan", "np.float64(nan)")


def glued_keys(nb) -> set[str]:
    """Keys of every myst-nb ``glue`` output in an executed notebook, except those glued as NaN."""
    keys = set()
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.cell_type == "code" else ():
            record = o.get("metadata", {}).get("scrapbook", {})
            plain = o.get("data", {}).get(record.get("mime_prefix", "") + "text/plain")
            if record.get("name") and plain not in NAN_TEXT:
                keys.add(record["name"])
    return keys


def missing_data(nb) -> list[str]:
    """Registry keys a chapter noted as missing (npmk.data.load_or_note_missing), in order, once each."""
    keys = [o["metadata"]["npmk"][MISSING_KEY] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if MISSING_KEY in o.get("metadata", {}).get("npmk", {})]
    return list(dict.fromkeys(keys))


def fill_holes(nb) -> list[str]:
    """Replace, in the notebook's markdown, each glue reference to a key it did not glue (or glued as NaN).

    The reference becomes :data:`NOT_COMPUTED`, so the sentence still reads
    as one. Returns the keys replaced (each once, in order).
    """
    have = glued_keys(nb)
    holes: list[str] = []

    def sub(m: re.Match) -> str:
        if m.group(1) or m.group(2) in have:  # references to other pages are resolved when staging
            return m.group(0)
        holes.append(m.group(2))
        return NOT_COMPUTED

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = GLUE_REF.sub(sub, cell.source)
    return list(dict.fromkeys(holes))


def fill_cross_refs(text: str, page_dir: Path, keys_of: Callable[[Path], set[str] | None]) -> str:
    """``text`` of a book page with each reference into a chapter notebook resolved or marked.

    ``keys_of(path)`` gives the keys glued in the executed notebook at
    ``path`` (relative references are taken from ``page_dir``), or None when
    that chapter has no result in this build: the reference then shows
    :data:`NOT_RUN`; a key the chapter did not glue shows :data:`NOT_COMPUTED`.
    """
    def sub(m: re.Match) -> str:
        if not m.group(1):
            return m.group(0)
        keys = keys_of((page_dir / m.group(1)).resolve())
        if keys is None:
            return NOT_RUN
        return m.group(0) if m.group(2) in keys else NOT_COMPUTED

    return GLUE_REF.sub(sub, text)


def _after_title(nb) -> int:
    """Index just after the first markdown cell (the one holding the page title)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            return i + 1
    return 0


def mark_stale(nb, message: str) -> None:
    """Put (or replace) a warning under the title of a page that shows an older result."""
    import nbformat

    unmark_stale(nb)
    note = nbformat.v4.new_markdown_cell(f":::{{warning}}\n{message}\n:::")
    note.metadata["tags"] = [STALE_TAG]
    nb.cells.insert(_after_title(nb), note)


def unmark_stale(nb) -> bool:
    """Remove the note of :func:`mark_stale`; True when there was one."""
    before = len(nb.cells)
    nb.cells = [c for c in nb.cells if STALE_TAG not in c.metadata.get("tags", [])]
    return len(nb.cells) != before


def title(nb, fallback: str) -> str:
    """The first ``# Heading`` of the notebook's markdown, else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def placeholder(heading: str, message: str) -> str:
    """A page (MyST markdown) standing in for a chapter with no result in this build."""
    return f"# {heading}\n\n:::{{warning}}\n{message}\n:::\n"
