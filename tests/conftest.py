"""Fixtures and hooks shared by the test modules (keep this file small and generic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from npmk.book import absolute_path_variables

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # nbval starts each notebook's kernel in the notebook's folder: a relative
    # NPMK_MIRROR or NPMK_CACHE must not change meaning there
    absolute_path_variables()


def _without_stderr(outputs):
    return [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


def pytest_collection_modifyitems(items):
    # nbval compares what the reader sees. The book hides stderr, and whether a
    # cell writes any depends on caches (a run trained while the book was built
    # is reused when nbval re-executes), so stderr is left out of the comparison.
    for item in items:
        if type(item).__name__ == "IPyNbCell":
            compare = item.compare_outputs
            item.compare_outputs = lambda test, ref, skip_compare=None, _cmp=compare: _cmp(
                _without_stderr(test), _without_stderr(ref), skip_compare)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The project checkout the tests run from."""
    return ROOT
