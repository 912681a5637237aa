"""npmk.ledger: verdict strings and the text of a possibly unmeasured ledger cell."""

from __future__ import annotations

import math

import numpy as np

from npmk.ledger import number_or_dash, verdict


def test_number_or_dash_formats_a_measured_value():
    assert number_or_dash(1.18076) == "1.1808"
    assert number_or_dash(np.float64(0.5), ".2f") == "0.50"
    assert number_or_dash(0.0) == "0.0000"


def test_number_or_dash_shows_an_em_dash_when_not_measured():
    assert number_or_dash(math.nan) == "—"
    assert number_or_dash(np.nan, ".2f") == "—"
    assert number_or_dash(None) == "—"


def test_verdict_point_range_and_nan():
    assert verdict(1.1809, 1.1808, tol=1e-4) == "reproduced"
    assert verdict(1.19, 1.1808, tol=1e-4).startswith("miss (")
    assert verdict(1.19, (1.186, 1.204)) == "reproduced"
    assert verdict(1.21, (1.186, 1.204)).startswith("miss (")
    assert verdict(math.nan, 1.1808) == "miss (not computed)"
