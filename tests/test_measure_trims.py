"""measure() with several trims: one reading, one block of rows per trim, refused fits reported."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from npmk import measure
from npmk.weibull import FitError


def _state(zeros: int = 0):
    g = torch.Generator().manual_seed(3)
    w = torch.randn(256, 256, generator=g, dtype=torch.float32) * 0.02
    w.view(-1)[:zeros] = 0.0
    return {"model.layers.0.mlp.up_proj.weight": w,
            "model.layers.0.self_attn.q_proj.weight": torch.randn(256, 256, generator=g) * 0.02}


def test_sequence_of_trims_equals_separate_calls():
    both = measure(_state(), family="llama", by="kind", trim=[0.8, 1.0], progress=False)
    assert list(both["trim"]) == [0.8, 0.8, 1.0, 1.0]
    for t in (0.8, 1.0):
        one = measure(_state(), family="llama", by="kind", trim=t, progress=False)
        got = both[both["trim"] == t].reset_index(drop=True)
        assert list(got["k"]) == list(one["k"]) and list(got["lam"]) == list(one["lam"])
    assert both["error"].isna().all()


def test_refused_fit_is_a_row_with_the_reason_only_for_sequences():
    state = _state(zeros=10)
    with pytest.raises(FitError, match="zero"):
        measure(state, family="llama", trim=1.0, progress=False)
    df = measure(state, family="llama", trim=(0.8, 1.0), progress=False)
    assert df.loc[0, "k"] > 0 and pd.isna(df.loc[0, "error"])
    assert df.loc[1, "k"] != df.loc[1, "k"] and "zero" in df.loc[1, "error"]  # NaN and the engine's message
