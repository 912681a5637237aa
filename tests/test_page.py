"""npmk.page: one call glues a number and checks it against its claim; the book's one table formatter."""

from __future__ import annotations

import myst_nb
import numpy as np
import pandas as pd
import pytest

from npmk.page import glue_number, number, table_markdown


@pytest.fixture
def glued(monkeypatch):
    out: dict[str, object] = {}
    monkeypatch.setattr(myst_nb, "glue", lambda key, value, display=True: out.__setitem__(key, value))
    return out


def test_glue_number_glues_a_python_float(glued):
    glue_number("n", np.int64(3))
    assert glued == {"n": 3.0} and type(glued["n"]) is float


def test_glue_number_with_a_claim_glues_its_verdict(glued):
    glue_number("k0", 1.20543, "halfnormal_k0")
    assert glued["k0"] == 1.20543
    assert glued["ledger.halfnormal_k0.verdict"] == "reproduced"
    glue_number("cv", 0.48, "ffn_cv")
    assert glued["ledger.ffn_cv.verdict"] == "miss"


def test_glue_number_refuses_nan(glued):
    with pytest.raises(ValueError, match="'x' is NaN"):
        glue_number("x", float("nan"), "halfnormal_k0")
    assert glued == {}


def _rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in text.splitlines()]


def test_table_shows_no_nan_integers_with_separators_and_booleans_in_words():
    df = pd.DataFrame({"step": [143000.0, np.nan], "n": [22682112, 3], "lam": [0.0763451, np.nan],
                       "ok": [True, False], "dk": [-0.00001, 0.25]})
    rows = _rows(table_markdown(df, {"dk": "+.4f"}))
    assert rows[2] == ["143,000", "22,682,112", "0.07635", "yes", "+0.0000"]
    assert rows[3] == ["—", "3", "—", "no", "+0.2500"]
    assert "nan" not in table_markdown(df).lower()
    mixed = pd.DataFrame({"relaxed": pd.Series([np.True_, None], dtype=object)})
    assert [r[0] for r in _rows(table_markdown(mixed))[2:]] == ["yes", "—"]


def test_table_index_and_multiindex_headings():
    wide = pd.DataFrame([[1.5, 2.5]], index=pd.Index(["Q4_0"], name="type"),
                        columns=pd.MultiIndex.from_tuples([("MiniLM", "Δk"), ("MiniLM", "Δλ")]))
    rows = _rows(table_markdown(wide, {"MiniLM Δk": ".1f"}, index=True))
    assert rows[0] == ["type", "MiniLM Δk", "MiniLM Δλ"] and rows[2] == ["Q4_0", "1.5", "2.5"]
    assert _rows(table_markdown(pd.DataFrame({"x": [1]}, index=["p"]), index=True))[0] == ["", "x"]
    assert "p" not in table_markdown(pd.DataFrame({"x": [1]}, index=["p"]))


def test_table_refuses_a_format_for_a_column_it_lacks():
    with pytest.raises(KeyError, match="lacks"):
        table_markdown(pd.DataFrame({"x": [1]}), {"y": ".2f"})


def test_number_drops_the_sign_of_a_rounded_zero():
    assert number(-0.00004, ".4f") == "0.0000" and number(-0.00004, "+.4f") == "+0.0000"
    assert number(-0.0004, ".4f") == "-0.0004" and number(None, ".4f") == "—"
