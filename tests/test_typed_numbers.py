"""No chapter types a published number: prose and string literals quote claims.csv by glue.

Every published value, lo and hi of ``data/published/claims.csv`` that carries a
decimal point (``0.053``, ``1.2054``, ``88.3``) is searched for, as printed there,
in the markdown cells of ``notebooks/*.py`` and in the string literals of their
code cells.  Bare integers (0, 1, 8, 20000) are left out: as digit strings they
mostly mean something else (counts, steps, indices).
"""

from __future__ import annotations

import io
import re
import sys
import tokenize
from pathlib import Path

import pytest

from npmk.ledger import load_claims

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

#: digit strings that mean something else wherever they appear
GENERIC = {
    "0.5",  # peak_lr_exponent's lower end is √η's exponent; 0.5 is also every half, trim and midpoint
}

#: typed published values, by notebook, that their chapters' owners have yet to glue
ALLOWED: dict[str, set[str]] = {}


def _published_digits() -> dict[str, list[str]]:
    """Each published digit string with a decimal point, and the claims that print it."""
    found: dict[str, list[str]] = {}
    for c in load_claims().values():
        for text in (c.value_text, c.lo_text, c.hi_text):
            if "." in text:
                found.setdefault(text, []).append(c.id)
    return found


def _prose_and_strings(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the markdown cells' lines and of the code cells' string literals."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[tuple[int, str]] = []
    cells: list[tuple[int, bool]] = []  # (first line index, is markdown)
    for i, line in enumerate(lines):
        if line.startswith("# %%"):
            cells.append((i, "[markdown]" in line))
    for n, (start, markdown) in enumerate(cells):
        end = cells[n + 1][0] if n + 1 < len(cells) else len(lines)
        body = lines[start + 1:end]
        if markdown:
            out += [(start + 2 + j, line) for j, line in enumerate(body)]
            continue
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(body) + "\n").readline))
        except (tokenize.TokenError, IndentationError, SyntaxError):
            # a cell tokenize cannot read (a magic): fall back to its raw lines
            out += [(start + 2 + j, line) for j, line in enumerate(body)]
            continue
        out += [(start + 1 + tok.start[0], tok.string) for tok in tokens if tok.type == tokenize.STRING]
    return out


def _hits(allowed: dict[str, set[str]] | None = None) -> list[tuple[str, int, str, list[str]]]:
    allowed = ALLOWED if allowed is None else allowed
    digits = {d: ids for d, ids in _published_digits().items() if d not in GENERIC}
    patterns = {d: re.compile(rf"(?<![\d.]){re.escape(d)}(?![\d])") for d in digits}
    hits = []
    for path in sorted(NOTEBOOKS.glob("*.py")):
        for lineno, text in _prose_and_strings(path):
            for d, pattern in patterns.items():
                if pattern.search(text) and d not in allowed.get(path.name, set()):
                    hits.append((path.name, lineno, d, digits[d]))
    return hits


def test_the_published_digits_are_found_where_typed(tmp_path, monkeypatch):
    """The search itself: a typed claim in prose and in a string is found, a glued one is not."""
    (tmp_path / "ch.py").write_text(
        "# %% [markdown]\n# The paper finds 1.2054 here, {glue:text}`ledger.halfnormal_k0.published` there.\n"
        "# %%\nx = 1.2054  # a literal is not prose\nprint('a typed 0.8875')\n"
        "# %% [markdown]\n# 11.2054 is another number.\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "NOTEBOOKS", tmp_path)
    found = {(line, d) for _, line, d, _ in _hits()}
    assert found == {(2, "1.2054"), (5, "0.8875")}


def test_no_chapter_types_a_published_number():
    hits = _hits()
    report = "\n".join(f"{name}:{line}: {d} typed (claims {', '.join(ids)}); glue ledger.<id>.published"
                       for name, line, d, ids in hits)
    if hits:
        pytest.fail(f"{len(hits)} published numbers typed in chapter prose or strings:\n{report}")


def test_the_allow_list_holds_only_digits_still_typed():
    """An entry whose digits a chapter no longer types is removed, so the list only shrinks."""
    typed = {(name, d) for name, _, d, _ in _hits(allowed={})}
    stale = sorted((name, d) for name, ds in ALLOWED.items() for d in ds if (name, d) not in typed)
    assert not stale, f"remove from ALLOWED (no longer typed): {stale}"
