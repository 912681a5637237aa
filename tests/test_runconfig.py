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


def test_every_grid_entry_of_the_emergence_lab_resolves_and_has_a_distinct_label(repo_root):
    """The lab chapter names its runs as base + grid entry; each profile's must resolve, one label per run."""
    import jupytext

    from npmk import book
    from npmk.runconfig import RunConfig

    declared = book.declared_parameters(jupytext.read(repo_root / "notebooks" / "emergence_lab.py", fmt="py:percent"))
    profiles = book.load_profiles(repo_root / "data" / "profiles.yaml")
    for profile in book.PROFILES:
        params = {k: v.default for k, v in declared.items()} | book.parameters_for(profiles, "emergence_lab", profile)
        configs = [RunConfig.from_spec({**params["base"], **g}).resolved() for g in params["grid"]]
        labels = [overrides_label(g) for g in params["grid"]]
        assert len(set(labels)) == len(labels) == len(set(configs)), profile
