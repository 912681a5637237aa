"""npmk: reproducible companion to the weight-skeleton papers.

``npmk.measure(source, ...)`` fits Weibull (k, lambda) to a checkpoint's skeleton;
``npmk.fit(x, trim)`` fits a sample of magnitudes; ``npmk.halfnormal_anchor(trim)``
gives the half-normal continuum limit. Other modules are imported by name
(``npmk.skeleton``, ``npmk.runs``, ...).
"""

from npmk.measure import measure  # binds the function over the submodule attribute
from npmk.weibull import WeibullFit, fit, fit_mle, halfnormal_anchor

__all__ = ["measure", "fit", "fit_mle", "WeibullFit", "halfnormal_anchor"]
