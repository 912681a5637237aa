"""npmk.data.load_or_note_missing: data when it can be had, a note on the page when it cannot."""

from __future__ import annotations

import IPython.display
import pytest

from npmk import data

KEY = "NPM-Weibull-public/database_v9_1/DATABASE_v9_1.csv"


@pytest.fixture
def shown(monkeypatch) -> list:
    """What the helper displays, captured instead of printed."""
    out: list = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_: out.extend(objs))
    return out


def test_available_key_returns_the_loaders_result(needs_data, shown, monkeypatch, tmp_path):
    monkeypatch.setenv("NPMK_CACHE", str(tmp_path))  # a cold cache: the file really is fetched
    path = data.load_or_note_missing(data.fetch, KEY)
    assert path is not None and path.is_file() and path.is_relative_to(tmp_path)
    assert path.read_text().splitlines()[0]  # a header line, not an empty file
    assert shown == []


def test_missing_file_returns_none_and_names_it_on_the_page(shown, monkeypatch, tmp_path):
    monkeypatch.setenv("NPMK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NPMK_MIRROR", str(tmp_path / "empty-mirror"))
    assert data.load_or_note_missing(data.fetch, KEY) is None
    assert len(shown) == 1 and isinstance(shown[0], IPython.display.Markdown)
    assert KEY in shown[0].data and "NPMK_MIRROR" in shown[0].data


def test_other_errors_propagate(shown):
    with pytest.raises(KeyError, match="not/registered"):
        data.load_or_note_missing(data.fetch, "not/registered")
    assert shown == []
