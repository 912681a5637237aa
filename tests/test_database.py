"""DATABASE_v9_1 numbers recomputed from the registry file, pinned, and judged against paper 001."""

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from npmk import data
from npmk import database as D
from npmk.ledger import claim


@pytest.fixture(scope="module")
def db(needs_data):
    return D.load()


def test_ffn_band_and_cv_computed_and_judged(db):
    band = D.ffn_band(db)
    assert band.n == 12
    assert round(band.lo, 4) == 1.1872 and round(band.hi, 4) == 1.2039
    assert round(100 * band.cv, 2) == 0.48
    # at the paper's printed precision the lower end is 1.187, not its 1.186
    assert (round(band.lo, 3), round(band.hi, 3)) == (1.187, 1.204)
    # the band lies inside the published one; the CV is a miss against the printed 0.51% at its two decimals
    assert claim("ffn_band").judge((band.lo, band.hi)) == "consistent"
    assert claim("ffn_cv").judge(100 * band.cv) == "miss"


def test_lambda_scaling_computed_and_judged(db):
    sc = D.lambda_scaling(db, "Pythia")
    assert sc.n == 5
    assert round(sc.r, 3) == 0.941
    assert claim("lambda_r").judge(sc.r) == "reproduced"
    assert round(sc.slope, 4) == 0.0854
    assert claim("lambda_slope").judge(sc.slope) == "miss"


def _published_state_edges() -> dict[str, float]:
    """The lower T/τ edge of each state as DATABASE_v9_1.md prints it ("- Saturated: T/τ ≥ 1.20" ...)."""
    text = Path(data.fetch(D.DATABASE_DOC_KEY)).read_text()
    section = text.split("Physical State thresholds", 1)[1].split("\n\n**", 1)[0]
    edges = {}
    for name, rest in re.findall(r"^- ([A-Za-z-]+): (.+)$", section, flags=re.M):
        lower = re.match(r"([0-9.]+) ≤", rest) or re.search(r"≥ ([0-9.]+)", rest)
        edges[name] = float(lower.group(1)) if lower else 0.0
    return edges


def test_saturation_thresholds_are_the_published_ones(needs_data):
    edges = _published_state_edges()
    assert edges.pop("Transition") == 0.0
    assert dict(D.SATURATION_THRESHOLDS) == edges


def test_saturation_states_of_the_entries(db):
    # a reading check, not a test of the scheme: the 12 T/τ values sit far from every edge
    for entry, row in db.iterrows():
        ratio = D.t_over_tau(row["T_steps"], row["eta_peak"], row["lambda_wd"])
        # the CSV prints T/τ to 3 decimals, from a τ rounded to whole steps
        assert abs(ratio - row["T_over_tau"]) <= max(5e-4, 2e-3 * ratio), entry
        assert D.saturation_state(ratio) == row["Physical_State"], entry
    assert D.tau(1e-3, 0.01) == pytest.approx(1e5)


def test_saturation_edges():
    assert D.saturation_state(1.20) == "Saturated"
    assert D.saturation_state(1.0) == "Near-saturated"
    assert D.saturation_state(0.80) == "Near-saturated"
    assert D.saturation_state(0.5) == "Approaching"
    assert D.saturation_state(0.3) == "Partial"
    assert D.saturation_state(0.2) == "Transition"
    with pytest.raises(ValueError):
        D.saturation_state(float("nan"))
    with pytest.raises(ValueError):
        D.t_over_tau(100, 0.0, 0.1)
    assert D.saturation_state(D.t_over_tau(10_000, 1e-3, 0.0)) == "Transition"  # no decay: τ = ∞


def test_drift_severity_edges_and_transmission_near_anchor(db):
    assert [D.drift_severity(x) for x in (0.25, 0.20, 0.15, 0.05, 0.01)] == ["deep", "deep", "moderate", "mild", "none"]
    assert D.drift_severity(float("nan")) == "unknown"
    diag = D.diagnose_entries(db)
    # Transmission median stays near the anchor everywhere except OLMo-1 (W_o at 1.04)
    assert (diag.drop(index="olmo-1-7b")["k_transmission"].between(1.18, 1.21)).all()


def test_attention_labels(db):
    assert list(db["attention"].unique()) == ["MHA", "GQA"]
    assert db["merged_qkv"].sum() == 5
    with pytest.raises(ValueError):
        D.attention_of_entry("linear-attention")


def _toy_db(rows):
    cols = {f"k_median_{k}": math.nan for k in D.DB_KINDS}
    return pd.DataFrame([{**cols, **r} for r in rows]).set_index("entry_id")


def test_nearest_ties_are_deterministic():
    rows = [
        {"entry_id": "zeta", "k_median_o": 1.19, "k_median_q": 1.10},
        {"entry_id": "alpha", "k_median_o": 1.19, "k_median_q": 1.10},
        {"entry_id": "mid", "k_median_o": 1.17, "k_median_q": 1.10},
    ]
    user = {"o": 1.18, "q": 1.10}
    first = D.nearest(user, _toy_db(rows))
    second = D.nearest(user, _toy_db(rows[::-1]))
    # alpha, mid and zeta are all 0.01/√2 away: equal distance, broken by entry_id
    assert list(first["entry_id"]) == ["alpha", "mid", "zeta"]
    assert list(second["entry_id"]) == ["alpha", "mid", "zeta"]
    assert first["distance"].iloc[0] == pytest.approx(0.01 / math.sqrt(2))


def test_nearest_uses_every_shared_kind_and_prefers_coverage():
    rows = [
        # shares only 'o' with the user, and matches it exactly
        {"entry_id": "one_kind", "k_median_o": 1.19},
        # shares q, k, o, up: close but not exact
        {"entry_id": "all_kinds", "k_median_o": 1.18, "k_median_q": 1.12,
         "k_median_k": 1.12, "k_median_up": 1.19},
        {"entry_id": "nothing", "k_median_qkv": 1.1},
    ]
    user = {"o": 1.19, "q": 1.13, "k": 1.11, "up": 1.20, "embed": 0.5}
    out = D.nearest(user, _toy_db(rows)).set_index("entry_id")
    assert out.loc["all_kinds", "rank"] == 1
    assert out.loc["all_kinds", "shared"] == "q,k,o,up"
    assert out.loc["all_kinds", "distance"] == pytest.approx(0.01)
    assert out.loc["one_kind", "distance"] == 0.0
    assert out.loc["one_kind", "rank"] == 2
    assert math.isnan(out.loc["nothing", "distance"]) and out.loc["nothing", "rank"] == 3
    with pytest.raises(ValueError):
        D.nearest({"embed": 1.0}, _toy_db(rows))


def test_kind_medians_from_per_tensor_rows():
    t = pd.DataFrame({"kind": ["o", "o", "o", "embed", "ffn_in"], "k": [1.1, 1.3, 1.2, 0.9, 1.19]})
    assert D.kind_medians(t) == {"ffn_in": 1.19, "o": 1.2}


def test_published_tables_agree_with_style_and_full_profile():
    from pathlib import Path

    import yaml

    table = D.published_table("npmk_terminal_k.csv")
    assert len(table) == 10 and table["hub_id"].is_unique
    # the model list carries no k: the one value citable offline is the claims table's pythia1b_k
    assert "published_k" not in table.columns
    profiles = yaml.safe_load((Path(D.PUBLISHED_DIR).parents[0] / "profiles.yaml").read_text())
    full = profiles["two_parameters"]["full"]
    assert full["models"] == list(table["hub_id"])
    assert full["revisions"] == dict(zip(table["hub_id"], table["revision"]))
    assert profiles["terminal_k"]["full"]["paper_models"] is True
    with pytest.raises(FileNotFoundError):
        D.published_table("no_such_table.csv")
