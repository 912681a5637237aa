"""Fixtures shared by the test modules (keep this file small and generic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from npmk.book import absolute_path_variables

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    # nbval starts each notebook's kernel in the notebook's folder: a relative
    # NPMK_MIRROR or NPMK_CACHE must not change meaning there
    absolute_path_variables()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The project checkout the tests run from."""
    return ROOT
