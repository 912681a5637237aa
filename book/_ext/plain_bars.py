"""Sphinx hook for the API page: the package's docstrings write magnitudes as |w| and |A|.

reStructuredText reads ``|w|`` as a substitution; escape every bar outside
inline literals and doctest lines so that it prints as written.
"""

from __future__ import annotations


def _escape(line: str) -> str:
    if line.lstrip().startswith((">>>", "...")):
        return line
    parts = line.split("``")
    # even parts are outside ``literals``
    return "``".join(p.replace("|", r"\|") if i % 2 == 0 else p for i, p in enumerate(parts))


def escape_bars(app, what, name, obj, options, lines: list[str]) -> None:
    lines[:] = [_escape(line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", escape_bars)
    return {"parallel_read_safe": True}
