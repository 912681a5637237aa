"""npmk: reproducible companion to the weight-skeleton papers.

``npmk.measure(source, ...)`` fits Weibull (k, lambda) to a checkpoint's skeleton;
``npmk.fit(x, trim)`` fits a sample of magnitudes; ``npmk.halfnormal_anchor(trim)``
gives the half-normal continuum limit. Other modules are imported by name
(``npmk.skeleton``, ``npmk.runs``, ...).

The exports load on first use (PEP 562), so ``import npmk`` and the ``npmk``
command start without importing torch or scipy.
"""

from __future__ import annotations

import importlib
import sys
import types

#: exported name -> the submodule that defines it
_EXPORTS: dict[str, str] = {
    "measure": "npmk.measure",
    "fit": "npmk.weibull",
    "fit_mle": "npmk.weibull",
    "WeibullFit": "npmk.weibull",
    "halfnormal_anchor": "npmk.weibull",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value) -> None:
        # Importing the submodule npmk.measure sets the package attribute
        # ``measure`` to that module; keep it the function so that
        # ``npmk.measure(...)`` works whichever import came first.
        if name == "measure" and isinstance(value, types.ModuleType):
            value = value.measure
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
