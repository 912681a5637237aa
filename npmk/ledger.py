"""The reproduction ledger: published claims, our numbers beside them, and a verdict.

Every number the book compares against lives once, in ``data/published/claims.csv``
(one row per claim: value or interval, unit, source, evidence kind, tolerance).
A chapter checks a claim with one call,

    >>> from npmk import ledger
    >>> ledger.check("halfnormal_k0", 1.20543).verdict
    'reproduced'

which glues our number, the published one and the verdict under the keys
``ledger.<id>.ours``, ``ledger.<id>.published`` and ``ledger.<id>.verdict``
(and the bare number under ``ledger.<id>.value``).  Chapter prose quotes them
with ``{glue:text}`ledger.<id>.published```, so no published digit is typed twice.

:func:`ledger_markdown` makes the ledger page and :func:`summary_markdown` the
landing page's results table, both from the claims and the glued values of the
executed notebooks (``npmk book`` writes them on every build); a claim whose
chapter did not run says so.

A verdict is one of :data:`VERDICTS`.  A number matches a point value when
``|ours - value| <= tol`` and an interval when ``lo - tol <= ours <= hi + tol``.
"""

from __future__ import annotations

import ast
import csv
import math
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: the path of the claims table, relative to the repository root
CLAIMS_CSV = Path(__file__).resolve().parent.parent / "data" / "published" / "claims.csv"

#: the verdict vocabulary, with the sentence that explains each word on the ledger page
VERDICTS: dict[str, str] = {
    "reproduced": "our number equals the published value within the stated tolerance "
    "(for most claims, half a unit of the last printed digit)",
    "consistent": "our number lies inside the published interval or bound, or meets the published statement",
    "miss": "our number lies outside the published value's tolerance or the published interval",
    "not tested offline": "the check needs something this machine cannot reach (a model on the "
    "Hugging Face Hub, a file the authors did not ship)",
    "no verdict": "the paper states the claim without a number to compare with; our number is "
    "shown for context",
    "not run in this profile": "the chapter, or the part of it that measures this claim, did not "
    "run in this build",
}

#: evidence kinds, in the order the ledger lists them, with their headings
EVIDENCE: dict[str, str] = {
    "independent": "Measured independently here",
    "authors-data": "Re-derived from the authors' shipped data",
    "own-tools": "Checks of our own tools",
}

#: what the ledger shows in place of a number that is not there
DASH = "—"


class ClaimError(ValueError):
    """A claim id, a claims-table row or a checked value that cannot be used."""


def _number(text: str) -> float | None:
    return float(text) if text.strip() else None


@dataclass(frozen=True)
class Claim:
    """One published claim (a row of ``claims.csv``).

    ``value`` is a point, ``lo``/``hi`` an interval (either end may be open:
    ``None``), ``statement`` the claim in words when it is not a number.
    ``tol`` is in the claim's ``unit``; ``tol_source`` says where it comes from.
    ``offline`` says why the claim cannot be tested offline ('' if it can).
    ``fmt`` is the format spec of our number.
    """

    id: str
    chapter: str
    evidence: str
    description: str
    value: float | None
    lo: float | None
    hi: float | None
    unit: str
    statement: str
    source: str
    where: str
    tol: float
    tol_source: str
    offline: str
    fmt: str
    note: str
    value_text: str = ""
    lo_text: str = ""
    hi_text: str = ""

    @classmethod
    def from_row(cls, row: dict[str, str]) -> Claim:
        """Build a claim from a ``claims.csv`` row, checking its fields."""
        cid = row.get("id", "").strip()
        try:
            claim = cls(
                id=cid,
                chapter=row["chapter"].strip(),
                evidence=row["evidence"].strip(),
                description=row["description"].strip(),
                value=_number(row["value"]),
                lo=_number(row["lo"]),
                hi=_number(row["hi"]),
                unit=row["unit"].strip(),
                statement=row["statement"].strip(),
                source=row["source"].strip(),
                where=row["where"].strip(),
                tol=_number(row["tol"]) or 0.0,
                tol_source=row["tol_source"].strip(),
                offline=row["offline"].strip(),
                fmt=row["fmt"].strip() or ".4g",
                note=row["note"].strip(),
                value_text=row["value"].strip(),
                lo_text=row["lo"].strip(),
                hi_text=row["hi"].strip(),
            )
        except KeyError as exc:
            raise ClaimError(f"claims.csv row {cid!r} lacks the column {exc}") from None
        except ValueError as exc:
            raise ClaimError(
                f"claims.csv row {cid!r}: a value, lo, hi or tol is not a number ({exc})"
            ) from None
        if not cid:
            raise ClaimError(f"claims.csv has a row without an id: {row}")
        if claim.evidence not in EVIDENCE:
            raise ClaimError(
                f"claim {cid!r}: evidence {claim.evidence!r} is not one of {', '.join(EVIDENCE)}"
            )
        if claim.value is not None and (claim.lo is not None or claim.hi is not None):
            raise ClaimError(f"claim {cid!r} gives both a value and an interval")
        if claim.value is None and claim.lo is None and claim.hi is None and not claim.statement:
            raise ClaimError(f"claim {cid!r} has neither a published number nor a statement")
        if not claim.source:
            raise ClaimError(f"claim {cid!r} has no source")
        return claim

    @property
    def numeric(self) -> bool:
        """Whether the claim has a published number or interval to match."""
        return self.value is not None or self.lo is not None or self.hi is not None

    @property
    def published(self) -> str:
        """The published value as the paper states it, with its unit ('1.2054', '[1.13, 1.19]', '≤ 0.13%')."""
        if self.value is not None:
            text = _with_unit(_typed(self.value_text), self.unit)
        elif self.lo is not None and self.hi is not None:
            text = _with_unit(f"[{_typed(self.lo_text)}, {_typed(self.hi_text)}]", self.unit)
        elif self.lo is not None:
            text = "≥ " + _with_unit(_typed(self.lo_text), self.unit)
        elif self.hi is not None:
            text = "≤ " + _with_unit(_typed(self.hi_text), self.unit)
        else:
            return self.statement
        return f"{self.statement} ({text})" if self.statement else text

    def judge(self, ours: float | bool | tuple[float, float]) -> str:
        """The verdict on ``ours``: 'reproduced', 'consistent', 'miss' or 'no verdict'.

        A bool says whether a statement holds; a pair (lo, hi) is our interval,
        consistent when it lies inside the published one; a number is matched
        against the value or interval (see the module docstring).

        >>> claim("ffn_cv").judge(0.48)
        'miss'
        >>> claim("ffn_band").judge((1.1872, 1.2039))
        'consistent'
        """
        if isinstance(ours, bool):
            return "consistent" if ours else "miss"
        if isinstance(ours, tuple):
            if self.value is not None or not self.numeric:
                raise ClaimError(f"claim {self.id!r}: an interval can only be checked against an interval")
            inside = all(self.judge(float(x)) == "consistent" for x in ours)
            return "consistent" if inside else "miss"
        ours = float(ours)
        if math.isnan(ours):
            raise ClaimError(
                f"claim {self.id!r}: our value is NaN; pass None with why= if it was not measured"
            )
        if self.value is not None:
            return "reproduced" if abs(ours - self.value) <= self.tol else "miss"
        if not self.numeric:
            return "no verdict"
        lo = -math.inf if self.lo is None else self.lo - self.tol
        hi = math.inf if self.hi is None else self.hi + self.tol
        return "consistent" if lo <= ours <= hi else "miss"

    def format(self, ours: float | tuple[float, float], fmt: str | None = None) -> str:
        """Our number as the ledger shows it: ``fmt`` (default: the claim's) and the unit."""
        fmt = fmt or self.fmt
        if isinstance(ours, tuple):
            return _with_unit("[" + ", ".join(_fmt(x, fmt) for x in ours) + "]", self.unit)
        return _with_unit(_fmt(ours, fmt), self.unit)


def _typed(text: str) -> str:
    """A published number as typed, with thousands separators on large integers."""
    return f"{int(text):,}" if re.fullmatch(r"\d{5,}", text) else text


def _with_unit(text: str, unit: str) -> str:
    if not unit:
        return text
    return f"{text}%" if unit == "%" else f"{text} {unit}"


def _fmt(x: float, fmt: str) -> str:
    return format(int(round(x)) if fmt[-1] == "d" else x, fmt)


def load_claims(path: Path = CLAIMS_CSV) -> dict[str, Claim]:
    """All claims of ``path`` (default: ``data/published/claims.csv``), by id, in file order."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"claims table {path} does not exist")
    with open(path, newline="", encoding="utf-8") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    out: dict[str, Claim] = {}
    for row in csv.DictReader(lines):
        c = Claim.from_row(row)
        if c.id in out:
            raise ClaimError(f"{path}: claim id {c.id!r} appears twice")
        out[c.id] = c
    return out


@cache
def _claims() -> dict[str, Claim]:
    return load_claims()


def claim(claim_id: str) -> Claim:
    """The claim ``claim_id`` of ``claims.csv``; a clear error for an unknown id."""
    claims = _claims()
    if claim_id not in claims:
        raise ClaimError(f"no claim {claim_id!r} in {CLAIMS_CSV}; known ids: {', '.join(claims)}")
    return claims[claim_id]


@dataclass(frozen=True)
class Check:
    """The outcome of :func:`check`: the claim, our number as shown, and the verdict."""

    claim: Claim
    ours: str
    verdict: str
    value: float | None


def check(
    claim_id: str,
    ours: float | bool | tuple[float, float] | None,
    *,
    fmt: str | None = None,
    shown: str | None = None,
    why: str = "",
    display: bool = True,
) -> Check:
    """Compare ``ours`` with the published claim ``claim_id`` and glue the result.

    ``ours`` is a number, a bool (does the published statement hold?), our
    interval (lo, hi), or None when it could not be measured here (then the
    claim must say why in its ``offline`` column, or ``why`` must).  ``fmt``
    overrides the claim's format spec; ``shown`` replaces the text shown for
    ours (e.g. 'in order' for a bool).  With ``display`` (the default) the
    values are glued for the page and the ledger; without it nothing is glued.

    >>> c = check("halfnormal_k0", 1.20543, display=False)
    >>> c.ours, c.claim.published, c.verdict
    ('1.20543', '1.2054', 'reproduced')
    >>> check("ffn_cv", 0.48, display=False).verdict
    'miss'
    >>> check("terminal_k_band", None, display=False).verdict
    'not tested offline'
    """
    c = claim(claim_id)
    value: float | None = None
    if ours is None:
        if not (c.offline or why):
            raise ClaimError(
                f"claim {claim_id!r}: ours is None but neither the claim's offline column "
                "nor why= says why it was not measured"
            )
        verdict, text = "not tested offline", shown or DASH
    else:
        if hasattr(ours, "item") and not isinstance(ours, tuple):
            ours = ours.item()  # numpy scalar -> python number
        verdict = c.judge(ours)
        if isinstance(ours, bool):
            text = shown or ("holds" if ours else "does not hold")
        else:
            text = shown or c.format(ours, fmt)
            value = None if isinstance(ours, tuple) else float(ours)
    result = Check(c, text, verdict, value)
    if display:
        from myst_nb import glue

        glue(f"ledger.{c.id}.ours", text, display=False)
        glue(f"ledger.{c.id}.published", c.published, display=False)
        glue(f"ledger.{c.id}.verdict", verdict, display=False)
        if value is not None:
            glue(f"ledger.{c.id}.value", value, display=False)
    return result


def show(checks: list[Check]) -> None:
    """Display a chapter's slice of the ledger: claim, published value with its source, ours, verdict.

    The verdict words are explained on the ledger page, which lists the same rows.
    """
    from IPython.display import Markdown, display

    display(Markdown(ledger_table(checks)))


def ledger_table(checks: list[Check]) -> str:
    """The markdown table that :func:`show` displays.

    >>> print(ledger_table([check("ffn_cv", 0.48, fmt=".2f", display=False)]))
    | Claim | Published | Ours | Verdict |
    |---|---|---|---|
    | Cross-family CV of the per-entry FFN $k$ | 0.51% {cite:p}`ding2026weibull` | 0.48% | *miss* |
    """
    return _table(
        ["Claim", "Published", "Ours", "Verdict"],
        [[c.claim.description, f"{c.claim.published} {{cite:p}}`{c.claim.source}`", c.ours, f"*{c.verdict}*"]
         for c in checks],
    )


# --- reading the executed notebooks ----------------------------------------------------------

_NUMPY_SCALAR = re.compile(r"^np\.\w+\((.*)\)$", re.S)


def _parse_plain(text: str) -> object:
    """A glued value back from its ``text/plain`` repr (numbers, strings, numpy scalars)."""
    text = text.strip()
    m = _NUMPY_SCALAR.match(text)
    if m:
        text = m.group(1)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def glued_values(notebook: Path) -> dict[str, object]:
    """Every value glued in an executed notebook, by key, read from its outputs with nbformat."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    out: dict[str, object] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook", {})
            # glue(..., display=False) stores the bundle under a mime prefix
            plain = output.get("data", {}).get(record.get("mime_prefix", "") + "text/plain")
            if record.get("name") and plain is not None:
                out[record["name"]] = _parse_plain(plain)
    return out


@dataclass(frozen=True)
class Row:
    """One ledger row: a claim and what the executed chapter says about it."""

    claim: Claim
    ours: str
    verdict: str
    ran: bool


def row(c: Claim, glued: dict[str, object] | None) -> Row:
    """The ledger row of claim ``c`` given its chapter's glued values (None: the chapter did not run)."""
    if glued is None:
        return Row(c, DASH, "not run in this profile", ran=False)
    key = f"ledger.{c.id}"
    if f"{key}.verdict" in glued:
        return Row(c, str(glued.get(f"{key}.ours", DASH)), str(glued[f"{key}.verdict"]), ran=True)
    if c.offline:
        return Row(c, DASH, "not tested offline", ran=True)
    return Row(c, DASH, "not run in this profile", ran=True)


def rows(executed_dir: Path, claims: dict[str, Claim] | None = None) -> list[Row]:
    """One :class:`Row` per claim, reading ``executed_dir/<chapter>.ipynb`` where it exists."""
    claims = _claims() if claims is None else claims
    cache_: dict[str, dict[str, object] | None] = {}
    out = []
    for c in claims.values():
        if c.chapter not in cache_:
            nb = Path(executed_dir) / f"{c.chapter}.ipynb"
            cache_[c.chapter] = glued_values(nb) if nb.is_file() else None
        out.append(row(c, cache_[c.chapter]))
    return out


# --- writing the pages -----------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell: one line, ``|`` escaped."""
    return " ".join(str(text).split()).replace("|", r"\|")


def _table(header: list[str], body: list[list[str]], numeric_from: int | None = None) -> str:
    """A markdown table; columns from ``numeric_from`` on are right-aligned (counts)."""
    align = ["--:|" if numeric_from is not None and i >= numeric_from else "---|" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "".join(align)]
    lines += ["| " + " | ".join(_cell(x) for x in r) + " |" for r in body]
    return "\n".join(lines)


def _source(c: Claim) -> str:
    return f"{{cite:p}}`{c.source}`, {c.where}" if c.where else f"{{cite:p}}`{c.source}`"


def _title(notebook: Path, fallback: str) -> str:
    import nbformat

    if notebook.is_file():
        for cell in nbformat.read(notebook, as_version=4).cells:
            if cell.cell_type == "markdown":
                m = re.search(r"^#\s+(.+)$", cell.source, re.M)
                if m:
                    return m.group(1).strip()
    return fallback


def _vocabulary() -> str:
    return _table(["Verdict", "Meaning"], [[f"*{v}*", m] for v, m in VERDICTS.items()])


def _counts(all_rows: list[Row]) -> str:
    verdicts = [v for v in VERDICTS if any(r.verdict == v for r in all_rows)]
    body = []
    for ev, label in EVIDENCE.items():
        mine = [r for r in all_rows if r.claim.evidence == ev]
        if mine:
            body.append(
                [label] + [str(sum(r.verdict == v for r in mine)) for v in verdicts] + [str(len(mine))]
            )
    return _table(["Evidence"] + [f"*{v}*" for v in verdicts] + ["claims"], body, numeric_from=1)


def ledger_markdown(executed_dir: Path, page_dir: Path, claims: dict[str, Claim] | None = None) -> str:
    """The ledger page (MyST markdown) for a build whose executed notebooks are in ``executed_dir``.

    ``page_dir`` is the folder the page will live in, so the links to the
    chapters are relative to it.
    """
    executed_dir = Path(executed_dir)
    all_rows = rows(executed_dir, claims)
    parts = [
        "# Reproduction ledger",
        "",
        "Every published number the book compares against, beside the number the book computed "
        "for it in this build. The page is generated by `npmk book` from the claims table "
        "(`data/published/claims.csv`, where each published value is typed once, with its source "
        "and tolerance) and from the values the executed chapters glued; misses are listed with "
        "the rest. Rows are grouped by the kind of evidence: a number re-derived from the files "
        "the authors shipped checks that the book reads them as the paper does; a number measured "
        "independently here (our own training runs, real networks) tests the claim itself; a "
        "check of our own tools tests the ruler.",
        "",
        "A verdict is one of these words:",
        "",
        _vocabulary(),
        "",
        "## Summary",
        "",
        _counts(all_rows),
    ]
    for chapter in dict.fromkeys(r.claim.chapter for r in all_rows):
        mine = [r for r in all_rows if r.claim.chapter == chapter]
        nb = executed_dir / f"{chapter}.ipynb"
        parts += ["", f"## {_title(nb, chapter.replace('_', ' ').capitalize())}", ""]
        if nb.is_file():
            link = Path(os.path.relpath(executed_dir / chapter, page_dir)).as_posix()
            parts += [f"Chapter: {{doc}}`{link}`.", ""]
        else:
            parts += ["*This chapter did not run in this profile.*", ""]
        for ev, label in EVIDENCE.items():
            group = [r for r in mine if r.claim.evidence == ev]
            if not group:
                continue
            parts += [
                f"**{label}**",
                "",
                _table(
                    ["Claim", "Published", "Source", "Tolerance", "Ours", "Verdict"],
                    [
                        [
                            r.claim.description,
                            r.claim.published,
                            _source(r.claim),
                            _tolerance(r.claim),
                            r.ours,
                            f"*{r.verdict}*",
                        ]
                        for r in group
                    ],
                ),
                "",
            ]
        notes = [
            r.claim for r in mine if r.claim.note or (r.verdict == "not tested offline" and r.claim.offline)
        ]
        if notes:
            parts += ["Notes:", ""]
            for c in notes:
                why = " ".join(
                    x for x in (c.note, f"Not tested offline: {c.offline}." if c.offline else "") if x
                )
                parts.append(f"- {c.description}: {why}")
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def _tolerance(c: Claim) -> str:
    if not c.numeric:
        return DASH
    if c.tol == 0:
        return c.tol_source or "exact"
    tol = format(c.tol, "f").rstrip("0").rstrip(".")
    return f"± {tol} ({c.tol_source})" if c.tol_source else f"± {tol}"


def summary_markdown(
    executed_dir: Path, ledger_doc: str = "ledger", claims: dict[str, Claim] | None = None
) -> str:
    """The landing page's results summary: counts by evidence and verdict, then every
    independently measured claim with its outcome (misses included).

    ``ledger_doc`` is the ledger page's document path as seen from the landing page.
    """
    all_rows = rows(Path(executed_dir), claims)
    independent = [r for r in all_rows if r.claim.evidence == "independent"]
    count = {v: sum(r.verdict == v for r in independent) for v in VERDICTS}
    return "\n".join(
        [
            f"The book tests {len(independent)} of the papers' claims by its own measurements (its own "
            f"training runs, real networks). In this build: {count['reproduced'] + count['consistent']} "
            f"agree with the published value, {count['miss']} miss, {count['not tested offline']} "
            f"need data this machine cannot reach, {count['not run in this profile']} were not run in "
            f"this profile and {count['no verdict']} have no published number to compare with. The "
            f"{{doc}}`ledger <{ledger_doc}>` lists every claim with its source and tolerance, "
            "including those re-derived from the authors' own files.",
            "",
            _counts(all_rows),
            "",
            _table(
                ["Claim measured independently here", "Published", "Ours", "Verdict"],
                [[r.claim.description, r.claim.published, r.ours, f"*{r.verdict}*"] for r in independent],
            ),
            "",
        ]
    )
