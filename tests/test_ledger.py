"""npmk.ledger: the claims table, check() verdicts, and the generated ledger and summary pages."""

from __future__ import annotations

import math

import nbformat
import numpy as np
import pytest

from npmk import ledger
from npmk.ledger import Claim, ClaimError, check, claim, load_claims

CLAIM_FIELDS = (
    "id,chapter,evidence,description,value,lo,hi,unit,statement,source,where,tol,tol_source,"
    "offline,fmt,note"
).split(",")


def _row(**kw) -> dict[str, str]:
    row = dict.fromkeys(CLAIM_FIELDS, "")
    row.update(id="x", chapter="ch", evidence="independent", description="d", source="ding2026npmk")
    row.update(kw)
    return row


def _notebook(path, glued: dict[str, object], title: str = "A chapter") -> None:
    """An executed notebook as myst_nb's glue leaves it: one display output per glued value."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {title}\n\nText."))
    prefix = "application/papermill.record/"  # what glue(..., display=False) writes
    outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={prefix + "text/plain": repr(v)},
            metadata={"scrapbook": {"name": k, "mime_prefix": prefix}},
        )
        for k, v in glued.items()
    ]
    nb.cells.append(nbformat.v4.new_code_cell("glue(...)", outputs=outputs))
    nbformat.write(nb, path)


def test_the_shipped_claims_table_loads_and_cites_known_references():
    claims = load_claims()
    assert len(claims) >= 60
    bib = (ledger.CLAIMS_CSV.parent.parent.parent / "book" / "references.bib").read_text()
    for c in claims.values():
        assert f"{{{c.source}," in bib, f"claim {c.id}: source {c.source!r} is not a key of references.bib"
        assert "GUIDE" not in c.description + c.where + c.tol_source, f"claim {c.id} cites the guide"
        assert c.evidence in ledger.EVIDENCE


def test_point_claims_are_reproduced_within_tolerance_and_missed_outside():
    c = claim("halfnormal_k0")
    assert c.value == 1.2054 and c.tol == 5e-5
    assert c.judge(1.20543) == "reproduced"
    assert c.judge(1.2056) == "miss"


def test_interval_claims_are_consistent_inside_and_missed_outside():
    c = claim("terminal_k_band")
    assert (c.lo, c.hi) == (1.13, 1.19)
    assert c.judge(1.15) == "consistent"
    assert c.judge(1.1272) == "miss"
    assert c.judge((1.14, 1.18)) == "consistent"
    assert c.judge((1.12, 1.18)) == "miss"


def test_open_intervals_statements_and_booleans():
    lower = Claim.from_row(_row(lo="0.5"))
    assert lower.published == "≥ 0.5"
    assert lower.judge(0.7) == "consistent" and lower.judge(0.3) == "miss"
    words = Claim.from_row(_row(statement="negligible"))
    assert words.judge(0.001) == "no verdict"
    assert words.judge(True) == "consistent" and words.judge(False) == "miss"
    both = Claim.from_row(_row(lo="20000", hi="50000", unit="steps", statement="near step 30k"))
    assert both.published == "near step 30k ([20,000, 50,000] steps)"


def test_check_formats_ours_with_the_claims_unit_and_handles_numpy():
    c = check("rise_share_pythia_min", np.float64(88.321), display=False)
    assert c.ours == "88.32%" and c.claim.published == "88.3%" and c.verdict == "reproduced"
    assert c.value == pytest.approx(88.321)
    assert check("skip_unrecognised", np.int64(0), display=False).ours == "0 tensors"


def test_check_refuses_nan_and_unexplained_missing_values():
    with pytest.raises(ClaimError, match="NaN"):
        check("ffn_cv", math.nan, display=False)
    with pytest.raises(ClaimError, match="why="):
        check("ffn_cv", None, display=False)
    assert check("ffn_cv", None, why="file missing", display=False).verdict == "not tested offline"
    with pytest.raises(ClaimError, match="no claim 'nope'"):
        check("nope", 1.0, display=False)


def test_bad_rows_are_refused_with_the_claim_named():
    with pytest.raises(ClaimError, match="'x'.*both a value and an interval"):
        Claim.from_row(_row(value="1", lo="0"))
    with pytest.raises(ClaimError, match="evidence"):
        Claim.from_row(_row(evidence="hearsay", value="1"))
    with pytest.raises(ClaimError, match="neither"):
        Claim.from_row(_row())
    with pytest.raises(ClaimError, match="not a number"):
        Claim.from_row(_row(value="1.2.3"))


def test_glued_values_reads_numbers_strings_and_numpy_reprs(tmp_path):
    nb = tmp_path / "ch.ipynb"
    _notebook(nb, {"a": 1.5, "b": "reproduced", "c": 3})
    nbf = nbformat.read(nb, as_version=4)
    nbf.cells[1].outputs.append(
        nbformat.v4.new_output(
            "display_data", data={"text/plain": "np.float64(0.25)"}, metadata={"scrapbook": {"name": "d"}}
        )
    )
    nbformat.write(nbf, nb)
    assert ledger.glued_values(nb) == {"a": 1.5, "b": "reproduced", "c": 3, "d": 0.25}


def _claims(tmp_path):
    path = tmp_path / "claims.csv"
    rows = [
        _row(id="new", chapter="ch", value="1.20", tol="0.005", fmt=".3f", description="uses | pipes"),
        _row(id="unchecked", chapter="ch", evidence="authors-data", lo="1", hi="2"),
        _row(id="offline", chapter="ch", lo="1", hi="2", offline="needs the Hub"),
        _row(id="other", chapter="gone", value="3"),
    ]
    with open(path, "w") as fh:
        fh.write("# comment\n" + ",".join(CLAIM_FIELDS) + "\n")
        for r in rows:
            fh.write(",".join(f'"{r[k]}"' for k in CLAIM_FIELDS) + "\n")
    return load_claims(path)


def test_rows_read_check_keys_only_and_say_when_a_chapter_did_not_run(tmp_path):
    claims = _claims(tmp_path)
    _notebook(
        tmp_path / "ch.ipynb",
        {"ledger.new.ours": "1.250", "ledger.new.verdict": "miss", "k": 2.5, "k_verdict": "reproduced"},
    )
    got = {r.claim.id: (r.ours, r.verdict) for r in ledger.rows(tmp_path, claims)}
    assert got["new"] == ("1.250", "miss")
    # a value the chapter glued under its own key is no verdict: only check() makes one
    assert got["unchecked"] == ("—", "not run in this profile")
    assert got["offline"] == ("—", "not tested offline")
    assert got["other"] == ("—", "not run in this profile")


def test_ledger_page_groups_by_evidence_escapes_pipes_and_never_shows_glue_refs(tmp_path):
    claims = _claims(tmp_path)
    ex = tmp_path / "src" / "notebooks" / "executed"
    ex.mkdir(parents=True)
    _notebook(ex / "ch.ipynb", {"ledger.new.ours": "1.201", "ledger.new.verdict": "reproduced"}, "My chapter")
    page = ledger.ledger_markdown(ex, tmp_path / "src" / "book", claims)
    assert "## My chapter" in page and "{doc}`../notebooks/executed/ch`" in page
    assert r"uses \| pipes" in page
    assert page.index("**Measured independently here**") < page.index(
        "**Re-derived from the authors' shipped data**"
    )
    assert "{glue" not in page
    gone = page[page.index("## Gone") :]
    assert "did not run in this profile" in gone and "*not run in this profile*" in gone
    for line in page.splitlines():
        if line.startswith("| ") and "---" not in line:
            assert line.replace(r"\|", "").count("|") in (3, 7, 5, 6, 8), line


def test_pages_of_a_build_where_no_chapter_ran(tmp_path):
    ex = tmp_path / "executed"
    ex.mkdir()
    page = ledger.ledger_markdown(ex, tmp_path / "book")
    assert page.startswith("# Reproduction ledger")
    assert "*not run in this profile*" in page
    summary = ledger.summary_markdown(ex, "ledger")
    assert "{doc}`ledger <ledger>`" in summary
    assert "Claim measured independently here" in summary


def test_summary_counts_misses_among_independent_claims(tmp_path):
    claims = _claims(tmp_path)
    _notebook(tmp_path / "ch.ipynb", {"ledger.new.ours": "1.250", "ledger.new.verdict": "miss"})
    text = ledger.summary_markdown(tmp_path, claims=claims)
    assert "tests 3 of the papers' claims" in text
    assert "0 agree with the published value, 1 miss, 1 need data this machine cannot reach" in text

