"""Fixtures and hooks shared by the test modules (keep this file small and generic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from npmk import data
from npmk.book import absolute_path_variables

ROOT = Path(__file__).resolve().parents[1]
#: a small registered file whose fetch tells whether the registry's data can be had at all
PROBE_KEY = "NPM-Weibull-public/database_v9_1/DATABASE_v9_1.csv"


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
def needs_data(tmp_path_factory) -> None:
    """Use (or ``pytest.mark.usefixtures("needs_data")``) in a test that reads registered data files.

    The files are fetched through the registry (network, or a mirror named by
    NPMK_MIRROR) with its hash checks; when neither provides them, the test
    is skipped with one reason instead of failing. The probe fetches into an
    empty cache: files left in NPMK_CACHE by an earlier run do not count.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NPMK_CACHE", str(tmp_path_factory.mktemp("probe-cache")))
        try:
            data.fetch(PROBE_KEY)
        except data.MissingDataError:
            pytest.skip("needs the registered data files: neither the network nor NPMK_MIRROR provides "
                        "them (set NPMK_MIRROR to a data mirror, see the README's 'Data' section)")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The project checkout the tests run from."""
    return ROOT
