"""Reproduction-ledger verdicts: our number against the published one, stated plainly."""

from __future__ import annotations

import math


def verdict(ours: float, published: float | tuple[float, float], tol: float = 0.0) -> str:
    """'reproduced' when ``ours`` matches the published value or range, else 'miss (...)'.

    ``published`` is a point value (match: |ours - published| <= tol) or an
    interval (lo, hi) (match: lo - tol <= ours <= hi + tol).  NaN is a miss.
    """
    if ours is None or (isinstance(ours, float) and math.isnan(ours)):
        return "miss (not computed)"
    if isinstance(published, tuple):
        lo, hi = published
        if lo - tol <= ours <= hi + tol:
            return "reproduced"
        return f"miss ({ours:.4g} outside [{lo:.4g}, {hi:.4g}])"
    if abs(ours - published) <= tol:
        return "reproduced"
    return f"miss ({ours:.4g} vs {published:.4g}, off by {ours - published:+.3g})"


def number_or_dash(value: float | None, spec: str = ".4f") -> str:
    """``value`` formatted with ``spec`` (e.g. '.4f'), or an em dash when it was not measured (None, NaN).

    Glue this string for a ledger cell that may be empty, so the page shows '—'
    rather than 'nan'.
    """
    if value is None or math.isnan(value):
        return "—"
    return format(value, spec)
