"""One figure style for every chapter."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

#: colours by component class, used by every chapter that splits by class
CLASS_COLORS = {"Transmission": "#1b7837", "Selection": "#762a83", "other": "#777777"}
#: the NPM-K convergence band for pooled k (paper 000)
K_BAND = (1.13, 1.19)


def use() -> None:
    """Apply the book's style: seaborn whitegrid, colour-blind palette, 110 dpi."""
    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    plt.rcParams.update(
        {"figure.dpi": 110, "savefig.dpi": 110, "figure.figsize": (7.0, 4.2),
         "axes.titleweight": "bold", "figure.autolayout": True}
    )
