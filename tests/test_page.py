"""npmk.page.glue_number: one call glues a number for the prose and checks it against its claim."""

from __future__ import annotations

import myst_nb
import numpy as np
import pytest

from npmk.page import glue_number


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
