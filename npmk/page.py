"""What a chapter puts on its page besides prose and figures: glued numbers, tables, the rerun note.

A chapter keeps its sentences in markdown and glues only numbers or one-word
verdicts (:func:`glue_values`); it shows tables through :func:`table`, the
book's one table formatter (no index, units in the headers, fixed precision,
thousands separators, an em dash for a value that was not measured), and
formats a number or an interval in a cell or a glued phrase with :func:`number`
and :func:`span`; and it ends with :func:`rerun_note`, which says how to rerun
the page and what it ran on.

Tables are markdown, not pandas Stylers: myst-nb turns a displayed (or glued)
``text/markdown`` table into a Sphinx table, which the book's theme pads,
stripes and wraps in a horizontal scroll box, and it stays readable as text in
the executed notebook.
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


def number(value: object, spec: str) -> str:
    """``value`` formatted with ``spec`` (e.g. '.4f', '+.2%', ',d'); an em dash when it is missing.

    A value that rounds to zero shows no minus sign.

    >>> number(-0.00001, "+.4f"), number(1234567, ",d"), number(float("nan"), ".4f")
    ('+0.0000', '1,234,567', '—')
    """
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return DASH
    text = format(value, spec)
    if text.startswith("-") and not any(ch in "123456789" for ch in text.split("e")[0]):
        text = ("+" if "+" in spec else "") + text[1:]
    return text


def span(lo: float | None, hi: float | None, spec: str = ".4f", *, brackets: bool = False) -> str:
    """The interval from ``lo`` to ``hi``, each end formatted by :func:`number`.

    'lo–hi', or '[lo, hi]' with ``brackets``; one value when both ends print
    the same (a point, e.g. an anchor at one step); an em dash when an end is
    missing.

    >>> span(1000, 24000, ",.0f"), span(5000.0, 5000.0, ",.0f"), span(-0.00001, 0.0123, "+.4f", brackets=True)
    ('1,000–24,000', '5,000', '[+0.0000, +0.0123]')
    >>> span(float("nan"), 1.2)
    '—'
    """
    a, b = number(lo, spec), number(hi, spec)
    if DASH in (a, b):
        return DASH
    if a == b:
        return a
    return f"[{a}, {b}]" if brackets else f"{a}–{b}"


def _whole(col: pd.Series) -> bool:
    """A float column whose every value is a whole number (a count or a step stored as float)."""
    v = col.dropna()
    return pd.api.types.is_float_dtype(col) and len(v) > 0 and bool((v % 1 == 0).all())


def _cell(value: object, spec: str | None) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if isinstance(value, str):
        return value
    if spec:
        return number(value, spec)
    if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b":
        return "yes" if value else "no"
    if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu"):
        return f"{int(value):,}"
    if isinstance(value, float):
        return number(value, ",.0f" if abs(value) >= 1e4 else ".4g")
    return str(value)


def _flat(column: object) -> str:
    """A column heading; a MultiIndex heading ('network', 'Δk') as 'network Δk'."""
    if isinstance(column, tuple):
        return " ".join(str(part) for part in column if str(part))
    return str(column)


def table_markdown(df: pd.DataFrame, formats: Mapping[str, str] | None = None, *, index: bool = False) -> str:
    """``df`` as a markdown table: ``formats`` maps a column to a format spec (e.g. '.4f', ',d').

    A column not named in ``formats`` shows integers (and floats that are all
    whole numbers) with thousands separators, other floats to 4 significant
    digits, booleans as yes/no; a missing value is an em dash, and a value that
    rounds to zero has no minus sign. ``index``: the index becomes the first
    column(s), headed by its name. Levels of a MultiIndex heading are joined by
    a space; ``|`` in a cell is escaped.

    >>> df = pd.DataFrame({"model": ["a|b", "c"], "n": [1234567, 2], "k": [1.18076, float("nan")],
    ...                    "step": [143000.0, float("nan")]})
    >>> print(table_markdown(df, {"k": ".4f"}))
    | model | n | k | step |
    |---|--:|--:|--:|
    | a\\|b | 1,234,567 | 1.1808 | 143,000 |
    | c | 2 | — | — |
    """
    if index:
        df = df.rename_axis(index=[name if name is not None else "" for name in df.index.names]).reset_index()
    df = df.set_axis([_flat(c) for c in df.columns], axis=1)
    formats = dict(formats or {})
    unknown = set(formats) - set(df.columns)
    if unknown:
        raise KeyError(f"table: formats name columns that {list(df.columns)} lacks: {sorted(unknown)}")
    for c in df.columns:
        if c not in formats and _whole(df[c]):
            formats[c] = ",.0f"
    numeric = [
        pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns
    ]
    lines = [
        "| " + " | ".join(c.replace("|", r"\|") for c in df.columns) + " |",
        "|" + "".join("--:|" if n else "---|" for n in numeric),
    ]
    for row in df.itertuples(index=False):
        cells = [_cell(v, formats.get(c)).replace("|", r"\|") for c, v in zip(df.columns, row)]
        lines.append("| " + " | ".join(" ".join(x.split()) for x in cells) + " |")
    return "\n".join(lines)


def table(df: pd.DataFrame, formats: Mapping[str, str] | None = None, *, index: bool = False,
          folded: str | None = None) -> None:
    """Display ``df`` as a formatted markdown table (see :func:`table_markdown`): the book's one table style.

    ``folded``: a title; the table is then shown folded under it, one click
    away (for long reference tables). A table that a ``{glue:figure}`` shows
    is glued as ``glue(key, Markdown(table_markdown(df, formats)), display=False)``.
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
