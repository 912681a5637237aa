"""The `Examples` in the package's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import npmk

MODULES = sorted(m.name for m in pkgutil.iter_modules(npmk.__path__, "npmk.") if m.name != "npmk.__main__")
#: the public entry points whose docstrings must keep a runnable example
MUST_HAVE_EXAMPLES = {
    "npmk.weibull": ("fit", "fit_mle", "halfnormal_anchor", "WeibullFit"),
    "npmk._measure": ("measure",),
    "npmk.ledger": ("check", "Claim.judge"),
    "npmk.page": ("number", "span", "table_markdown", "rerun_markdown"),
}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = {t.name.removeprefix(name + "."): t for t in finder.find(module, name) if t.examples}
    for obj in MUST_HAVE_EXAMPLES.get(name, ()):
        assert obj in tests, f"{name}.{obj} lost its Examples section"
    for test in tests.values():
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} docstring examples in {name} failed (see above)"
    )
