"""One figure style for every chapter (tables: :func:`npmk.page.table`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

from npmk.ledger import claim

#: colours by component class, used by every chapter that splits by class
CLASS_COLORS = {"Transmission": "#1b7837", "Selection": "#762a83", "other": "#777777"}
#: the NPM-K convergence band for pooled k, (lo, hi) of the claim ``terminal_k_band``
K_BAND: tuple[float, float] = (claim("terminal_k_band").lo, claim("terminal_k_band").hi)


def use() -> None:
    """Apply the book's style: seaborn whitegrid, colour-blind palette, 110 dpi."""
    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "figure.figsize": (7.0, 4.2),
            "axes.titleweight": "bold",
            "figure.autolayout": True,
        }
    )


def band(ax, claim, label: str, color: str = "0.6", alpha: float = 0.3) -> None:
    """Shade a published interval (a :class:`npmk.ledger.Claim` with lo and hi) across ``ax``.

    The label carries the published text, so a figure never types the digits.
    """
    if claim.lo is None or claim.hi is None:
        raise ValueError(f"claim {claim.id!r} is not a closed interval; nothing to shade")
    ax.axhspan(claim.lo, claim.hi, color=color, alpha=alpha, lw=0, label=f"{label} {claim.published}")


def kind_colors(kinds: list[str], class_of) -> dict[str, tuple]:
    """A colour per component kind: shades of its class's colour (greens, purples, greys), in order."""
    counts = {c: sum(class_of(k) == c for k in kinds) for c in CLASS_COLORS}
    shades = {c: sns.light_palette(CLASS_COLORS[c], n + 2, reverse=True) for c, n in counts.items()}
    used = dict.fromkeys(CLASS_COLORS, 0)
    out = {}
    for kind in kinds:
        c = class_of(kind)
        out[kind] = shades[c][used[c]]
        used[c] += 1
    return out
