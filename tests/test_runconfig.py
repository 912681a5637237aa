"""Run configs named for people: the label of a grid entry."""

import pytest

from npmk.runconfig import overrides_label


def test_overrides_label_names_each_change_in_order():
    assert overrides_label({"lr": 2e-3, "batch": 16}) == "lr 0.002, batch 16"
    assert overrides_label({"seed": 1, "arch": "llama", "repeat_frac": 0.75}) == "seed 1, arch llama, repeat_frac 0.75"
    assert overrides_label({}) == "base"


def test_overrides_label_refuses_unknown_fields():
    with pytest.raises(ValueError, match="unknown RunConfig field.*learning_rate"):
        overrides_label({"learning_rate": 1e-3})
