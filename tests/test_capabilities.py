"""Capability curves from the registered Pythia evals, and run probes in the tidy layout."""

import pytest

from npmk import data
from npmk.capabilities import COLUMNS, pythia_eval_keys, pythia_evals


def test_pythia_70m_curves_from_the_registry(needs_data):
    df = pythia_evals(["70m"])
    assert list(df.columns) == COLUMNS
    steps = sorted(df["step"].unique())
    assert steps[0] == 0 and steps[-1] == 143000 and len(steps) == 27
    lam = df[(df.task == "lambada_openai") & (df.metric == "acc")].set_index("step")["value"]
    assert lam.loc[143000] > lam.loc[1] + 0.1  # the final model reads LAMBADA, the first doesn't
    raw = __import__("json").loads(data.fetch(pythia_eval_keys("70m")[143000]).read_text())
    assert lam.loc[143000] == raw["results"]["lambada_openai"]["acc"]
    assert df["stderr"].notna().all()


def test_unknown_size_and_task_fail_clearly(needs_data):
    with pytest.raises(KeyError, match="pythia-1b"):
        pythia_evals(["1b"])
    with pytest.raises(KeyError, match="no_such_task"):
        pythia_evals(["70m"], tasks={"no_such_task": ("acc",)})


def test_missing_file_raises_missing_data(monkeypatch, tmp_path):
    monkeypatch.setenv("NPMK_MIRROR", str(tmp_path))  # an empty mirror
    monkeypatch.setenv("NPMK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "url", lambda key: "https://invalid.invalid/" + key)
    with pytest.raises(data.MissingDataError, match="70m_step"):
        pythia_evals(["70m"])
