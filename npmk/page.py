"""What a chapter puts on its page besides prose and figures: glued numbers, tables, the rerun note.

A chapter keeps its sentences in markdown and glues only numbers or one-word
verdicts (:func:`glue_values`); it shows tables through :func:`table` (no index,
units in the headers, fixed precision, thousands separators, an em dash for a
value that was not measured); and it ends with :func:`rerun_note`, which says
how to rerun the page and what it ran on.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd

from npmk.ledger import DASH

#: the time this module was first imported (a chapter imports it in its first cell)
STARTED = time.monotonic()
#: packages whose versions the rerun note lists
VERSIONS = ("npmk", "numpy", "scipy", "pandas", "torch", "transformers", "myst-nb")
#: the repository's root (this file is npmk/page.py)
ROOT = Path(__file__).resolve().parent.parent


def glue_values(**values: object) -> None:
    """Glue each keyword as a hidden value: ``glue_values(k0=k0, n=n)``.

    numpy scalars are glued as Python numbers (myst-nb cannot format their
    ``np.float64(...)`` repr); a NaN is refused, since the page would print
    'nan' in a sentence.

    >>> glue_values(x=float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: glue_values: 'x' is NaN; glue ledger.DASH or leave the sentence out
    """
    from myst_nb import glue

    for key, value in values.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"glue_values: {key!r} is NaN; glue ledger.DASH or leave the sentence out")
        glue(key, value, display=False)


def glue_number(key: str, value: float, claim: str | None = None, **check: object) -> None:
    """Glue ``value`` as a float under ``key`` and, with a claim id, check it against the claim.

    ``check`` goes to :func:`npmk.ledger.check` (``fmt``, ``shown``, ``why``).
    A number reported in the prose and in the ledger is then computed once.

    >>> glue_number("x", float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: glue_values: 'x' is NaN; glue ledger.DASH or leave the sentence out
    """
    from npmk import ledger

    glue_values(**{key: float(value)})
    if claim is not None:
        ledger.check(claim, float(value), **check)


def _cell(value: object, spec: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return DASH
    if spec:
        return format(value, spec)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_markdown(df: pd.DataFrame, formats: Mapping[str, str] | None = None, *, index: bool = False) -> str:
    """``df`` as a markdown table: ``formats`` maps a column to a format spec (e.g. '.4f', ',d').

    Integers get thousands separators, other floats 4 significant digits,
    booleans yes/no, missing values an em dash; ``|`` in a cell is escaped.

    >>> df = pd.DataFrame({"model": ["a|b", "c"], "n": [1234567, 2], "k": [1.18076, float("nan")]})
    >>> print(table_markdown(df, {"k": ".4f"}))
    | model | n | k |
    |---|--:|--:|
    | a\\|b | 1,234,567 | 1.1808 |
    | c | 2 | — |
    """
    formats = dict(formats or {})
    if index:
        df = df.reset_index()
    unknown = set(formats) - set(df.columns)
    if unknown:
        raise KeyError(f"table: formats name columns that {list(df.columns)} lacks: {sorted(unknown)}")
    numeric = [
        pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns
    ]
    lines = [
        "| " + " | ".join(str(c) for c in df.columns) + " |",
        "|" + "".join("--:|" if n else "---|" for n in numeric),
    ]
    for row in df.itertuples(index=False):
        cells = [_cell(v, formats.get(c)).replace("|", r"\|") for c, v in zip(df.columns, row)]
        lines.append("| " + " | ".join(" ".join(x.split()) for x in cells) + " |")
    return "\n".join(lines)


def table(df: pd.DataFrame, formats: Mapping[str, str] | None = None, *, index: bool = False,
          folded: str | None = None):
    """Display ``df`` as a formatted markdown table (see :func:`table_markdown`).

    ``folded``: a title; the table is then shown folded under it, one click
    away (for long reference tables).
    """
    from IPython.display import Markdown, display

    text = table_markdown(df, formats, index=index)
    if folded:
        text = f":::{{admonition}} {folded}\n:class: dropdown\n\n{text}\n:::"
    display(Markdown(text))


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short=10", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (not a git checkout)"
    if done.returncode != 0:
        return "unknown (not a git checkout)"
    return done.stdout.strip() + (" with local changes" if dirty.stdout.strip() else "")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _repository_url() -> str:
    """``repository.url`` of the book's ``_config.yml`` ('' when unset or unreadable)."""
    import yaml

    try:
        config = yaml.safe_load((ROOT / "_config.yml").read_text())
    except (OSError, yaml.YAMLError):
        return ""
    return ((config or {}).get("repository") or {}).get("url") or ""


def rerun_markdown(chapter: str, profile: str | None = None, seconds: float | None = None) -> str:
    """The text of the rerun note: command, profile, run time, package versions, commit, date.

    ``profile`` defaults to ``$NPMK_PROFILE`` (set by ``npmk book``), ``seconds``
    to the time since this module was imported. The source links to the
    repository when ``_config.yml`` sets ``repository.url``.

    >>> text = rerun_markdown("skip_audit", profile="smoke", seconds=34.9)
    >>> "python -m npmk run skip_audit --profile smoke" in text, "35 s" in text
    (True, True)
    """
    profile = profile or os.environ.get("NPMK_PROFILE", "default")
    seconds = time.monotonic() - STARTED if seconds is None else seconds
    versions = ", ".join(f"{name} {_version(name)}" for name in VERSIONS)
    repo = _repository_url()
    source = (
        f"[`notebooks/{chapter}.py`]({repo}/blob/main/notebooks/{chapter}.py)"
        if repo
        else f"`notebooks/{chapter}.py` in the npmk repository"
    )
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            ":::{admonition} Rerun this page",
            ":class: note dropdown",
            "",
            f"`python -m npmk run {chapter} --profile {profile}` (add `-p NAME VALUE` to change a "
            "parameter of the cell at the top). Source: " + source + ".",
            "",
            f"This page ran with the `{profile}` profile in {seconds:,.0f} s on {os.cpu_count()} CPU "
            f"core(s) ({platform.machine()}, Python {platform.python_version()}), on {when}; "
            f"{versions}; commit {_commit()}.",
            ":::",
        ]
    )


def rerun_note(chapter: str) -> None:
    """Display the rerun note (call it in the chapter's last cell, tagged ``remove-input``)."""
    from IPython.display import Markdown, display

    display(Markdown(rerun_markdown(chapter)))
