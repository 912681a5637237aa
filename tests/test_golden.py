"""Each chapter's headline numbers under the smoke profile, against tests/golden_smoke.yaml.

Reads the glued values of the executed smoke notebooks
(``_build/smoke/src/notebooks/executed/NAME.ipynb``, written by
``npmk book --profile smoke``, which ``make test`` runs first). A miss prints
the key, the expected value with its tolerance, and the value found.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from npmk import book, ledger

GOLDEN = Path(__file__).with_name("golden_smoke.yaml")


def _golden() -> dict[str, dict[str, dict]]:
    return yaml.safe_load(GOLDEN.read_text())


def misses(expected: dict[str, dict], glued: dict[str, object]) -> list[str]:
    """One line per key whose glued value is missing or outside its tolerance."""
    out = []
    for key, spec in expected.items():
        want = spec["value"]
        if key not in glued:
            out.append(f"{key}: expected {want!r}, not glued")
            continue
        got = glued[key]
        if isinstance(want, str) or isinstance(got, str):
            ok = str(got) == str(want)
            tol = ""
        else:
            rtol, atol = float(spec.get("rtol", 0.0)), float(spec.get("atol", 0.0))
            ok = math.isclose(float(got), float(want), rel_tol=rtol, abs_tol=atol)
            tol = f" (rtol {rtol:g}, atol {atol:g})"
        if not ok:
            out.append(f"{key}: expected {want!r}{tol}, got {got!r}")
    return out


def test_misses_reports_key_expected_and_actual():
    expected = {"a": {"value": 1.0, "rtol": 1e-3}, "b": {"value": "reproduced"}, "c": {"value": 2, "atol": 0}}
    assert misses(expected, {"a": 1.0005, "b": "reproduced", "c": 2}) == []
    found = misses(expected, {"a": 1.01, "b": "miss"})
    assert found == [
        "a: expected 1.0 (rtol 0.001, atol 0), got 1.01",
        "b: expected 'reproduced', got 'miss'",
        "c: expected 2, not glued",
    ]


def test_claim_entries_take_the_tolerance_of_the_claims_evidence():
    glued = {"ledger.ffn_cv.value": 0.48, "ledger.ffn_cv.verdict": "miss", "ledger.init_k.value": 1.2058,
             "ledger.init_k.ours": "1.2058", "other": 3.0}
    assert claim_entries(glued) == {
        "ledger.ffn_cv.value": {"value": 0.48, "rtol": 1e-9},  # the authors' shipped table
        "ledger.ffn_cv.verdict": {"value": "miss"},
        "ledger.init_k.value": {"value": 1.2058, "rtol": 1e-3},  # measured on our own draws
    }


def test_every_golden_chapter_is_a_chapter(repo_root):
    chapters = set(book.chapters(repo_root))
    assert set(_golden()) <= chapters, (
        f"golden_smoke.yaml names unknown chapters: {set(_golden()) - chapters}"
    )


@pytest.mark.parametrize("chapter", sorted(_golden()))
def test_chapter_headline_values(chapter, repo_root):
    nb = book.Layout.of("smoke", repo_root).executed / f"{chapter}.ipynb"
    if not nb.is_file():
        pytest.fail(
            f"{nb} is missing: run `python -m npmk book --profile smoke` (or `npmk run {chapter} "
            "--profile smoke`) first"
        )
    found = misses(_golden()[chapter], ledger.glued_values(nb))
    assert not found, f"{chapter} (smoke profile) moved:\n  " + "\n  ".join(found)


#: tolerance of a claim's number by its evidence kind: the authors' files and our own tools are
#: deterministic arithmetic; our runs and draws are seeded but not bitwise equal across BLAS builds
CLAIM_TOLERANCE = {"authors-data": {"rtol": 1e-9}, "own-tools": {"rtol": 1e-6}, "independent": {"rtol": 1e-3}}


def claim_entries(glued: dict[str, object]) -> dict[str, dict]:
    """Golden entries for every claim a chapter checked: its number (tolerance by evidence) and verdict."""
    out = {}
    for key, value in glued.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "ledger" and parts[2] in ("value", "verdict"):
            claim = ledger.claim(parts[1])
            out[key] = {"value": value} if parts[2] == "verdict" else {
                "value": float(value), **CLAIM_TOLERANCE[claim.evidence]}
    return out


if __name__ == "__main__":
    # print golden entries for one chapter from its executed smoke notebook:
    #   python tests/test_golden.py CHAPTER --claims            (every ledger.check value and verdict)
    #   python tests/test_golden.py CHAPTER KEY=rtol:1e-3 KEY=atol:0 KEY=exact ...
    import sys

    chapter, *specs = sys.argv[1:]
    glued = ledger.glued_values(book.Layout.of("smoke", Path.cwd()).executed / f"{chapter}.ipynb")
    entry = claim_entries(glued) if "--claims" in specs else {}
    for spec in (s for s in specs if s != "--claims"):
        key, _, tol = spec.partition("=")
        kind, _, size = tol.partition(":")
        entry[key] = {"value": glued[key], **({kind: float(size)} if size else {})}
    print(yaml.safe_dump({chapter: entry}, sort_keys=False, allow_unicode=True, default_flow_style=None))
