"""npmk.style.table: a chapter's tables show no NaN, integers as integers and booleans in words."""

from __future__ import annotations

import numpy as np
import pandas as pd

from npmk.style import MISSING, table


def _cells(styler) -> list[str]:
    return [cell["display_value"] for row in styler._translate(False, False)["body"] for cell in row
            if cell.get("type") == "td"]


def test_missing_values_show_as_a_dash_and_numbers_by_kind():
    df = pd.DataFrame({"step": [1000.0, np.nan], "lam": [0.0763451, np.nan], "ok": [True, None],
                       "run": ["a", "b"]})
    cells = _cells(table(df))
    assert cells == ["1,000", "0.0763", "yes", "a", MISSING, MISSING, MISSING, "b"]


def test_named_formats_win_and_the_index_is_hidden_unless_asked():
    df = pd.DataFrame({"x": [1.5, 2.25]}, index=["p", "q"])
    assert _cells(table(df, {"x": "{:.1f}"})) == ["1.5", "2.2"]
    assert ">p<" not in table(df).to_html()
    assert ">p<" in table(df, index=True).to_html()
