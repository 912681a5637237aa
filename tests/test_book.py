"""The book pipeline (npmk.book) on a throwaway project, and the data registry's errors."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

from npmk import book, data

HEADER = """\
# ---
# jupyter:
#   jupytext:
#     text_representation:
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---
"""

GOOD = HEADER + textwrap.dedent("""\
    # %% [markdown]
    # # A good chapter

    # %% tags=["parameters"]
    x = 1
    label = "default"

    # %%
    print(f"x={x!r} label={label!r}")
""")

BAD = HEADER + textwrap.dedent("""\
    # %% [markdown]
    # # A failing chapter

    # %% tags=["parameters"]
    d = 0

    # %%
    ok = 1

    # %%
    answer = 1 / d
""")


def _project(root: Path, chapters: dict[str, str | None], profiles: dict | None = None) -> Path:
    """A minimal npmk project: a toc of ``chapters`` (None: listed but no source yet)."""
    (root / "notebooks").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# Intro\n")
    toc = {"format": "jb-book", "root": "book/intro",
           "parts": [{"caption": "Chapters",
                      "chapters": [{"file": f"notebooks/executed/{n}"} for n in chapters]}]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    (root / "_config.yml").write_text("title: test\n")
    (root / "data" / "profiles.yaml").write_text(yaml.safe_dump(profiles or {}))
    for name, source in chapters.items():
        if source is not None:
            (root / "notebooks" / f"{name}.py").write_text(source)
    return root


def _stdout(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


# -- profiles and parameters ---------------------------------------------------------

def test_project_profiles_name_only_declared_parameters(repo_root):
    """Every profile parameter of a written chapter exists in its parameters cell."""
    import jupytext

    profiles = book.load_profiles(repo_root / "data" / "profiles.yaml")
    checked = 0
    for name in book.chapters(repo_root):
        src = repo_root / "notebooks" / f"{name}.py"
        if not src.is_file():
            continue
        declared = book.declared_parameters(jupytext.read(src, fmt="py:percent"))
        for profile in book.PROFILES:
            unknown = set(book.parameters_for(profiles, name, profile)) - set(declared)
            assert not unknown, f"{name}/{profile}: {sorted(unknown)} not in its parameters cell"
        checked += 1
    assert checked >= 1  # measuring_stick at least


def test_load_profiles_rejects_unknown_profile(tmp_path):
    path = tmp_path / "profiles.yaml"
    path.write_text("chap:\n  smoke: {a: 1}\n  quick: {a: 2}\n")
    with pytest.raises(ValueError, match=r"chap: unknown profile 'quick'"):
        book.load_profiles(path)


def test_parameters_for_merges_nothing_it_was_not_given(tmp_path):
    profiles = {"chap": {"smoke": {"n": 10}, "default": None}}
    assert book.parameters_for(profiles, "chap", "smoke") == {"n": 10}
    assert book.parameters_for(profiles, "chap", "default") == {}
    assert book.parameters_for(profiles, "other", "full") == {}
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        book.parameters_for(profiles, "chap", "fast")


def test_run_parses_parameters_as_yaml_scalars():
    args = book._parser("run").parse_args(
        ["measuring_stick", "-p", "trim", "0.9", "-p", "n", "1e5", "-p", "model", "bert",
         "-p", "fast", "true", "-p", "sizes", "[1, 2]", "-p", "sub", "null", "--profile", "smoke"])
    assert args.name == "measuring_stick" and args.profile == "smoke"
    got = book.parse_overrides(args.parameter)
    assert got == {"trim": 0.9, "n": 100000.0, "model": "bert", "fast": True,
                   "sizes": [1, 2], "sub": None}
    assert isinstance(got["n"], float) and isinstance(got["fast"], bool)
    with pytest.raises(ValueError, match="not a Python identifier"):
        book.parse_overrides([["n-mc", "3"]])


def test_integral_float_becomes_int_where_default_is_int(tmp_path):
    root = _project(tmp_path / "p", {"good": GOOD})
    layout = book.Layout.of("smoke", root)
    out = book.execute_chapter("good", layout, parameters={}, overrides={"x": 1e3})
    assert "x=1000 label='default'" in _stdout(out)


# -- execution -----------------------------------------------------------------------

def test_execute_writes_result_with_profile_parameters(tmp_path):
    root = _project(tmp_path / "p", {"good": GOOD}, {"good": {"smoke": {"x": 7}}})
    layout = book.build("smoke", html=False, root=root)
    out = layout.executed / "good.ipynb"
    assert "x=7 label='default'" in _stdout(out)
    nb = nbformat.read(out, as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    at = [i for i, t in enumerate(tags) if "injected-parameters" in t]
    assert len(at) == 1 and "remove-cell" in tags[at[0]]
    # the reader sees which values replaced the defaults, right where they were injected
    note = nb.cells[at[0] + 1]
    assert note.cell_type == "markdown" and "--profile smoke" in note.source and "`x = 7`" in note.source
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any file the user writes
    # no temporary or partial file is left beside or instead of the result
    assert sorted(p.name for p in layout.executed.iterdir()) == ["good.ipynb"]
    assert not list((layout.tree / "running").iterdir())


def test_failing_chapter_stops_build_naming_chapter_and_cell(tmp_path):
    root = _project(tmp_path / "p", {"first": GOOD, "bad": BAD, "after": GOOD})
    layout = book.Layout.of("smoke", root)
    stale = layout.executed / "bad.ipynb"  # a result from an earlier, successful run
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")

    with pytest.raises(book.ChapterFailed) as info:
        book.build("smoke", html=False, root=root)
    err = info.value
    assert err.chapter == "bad"
    assert "answer = 1 / d" in err.source and "ZeroDivisionError" in err.error
    assert err.where == f"notebooks/bad.py line {BAD.splitlines().index('answer = 1 / d') + 1}"
    assert "chapter 'bad' failed in cell" in str(err)
    # no result for the failing chapter, the stale one is gone too, the build stopped
    assert not stale.exists()
    assert (layout.executed / "first.ipynb").is_file()
    assert not (layout.executed / "after.ipynb").exists()
    assert err.failed_path == layout.failed / "bad.failed.ipynb" and err.failed_path.is_file()
    assert not list(layout.executed.glob("*.failed.ipynb"))


def test_cli_reports_failing_chapter(tmp_path, monkeypatch, capsys):
    root = _project(tmp_path / "p", {"bad": BAD})
    monkeypatch.chdir(root)
    assert book.cli(["book", "--profile", "smoke", "--no-html"]) == 1
    err = capsys.readouterr().err
    assert "chapter 'bad' failed" in err and "ZeroDivisionError" in err and "1 / d" in err


def test_atomic_write_keeps_old_result_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "executed" / "chap.ipynb"
    target.parent.mkdir()
    target.write_text("old result")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])

    def broken_write(nb, fh, *args, **kwargs):
        fh.write('{"half": ')
        raise OSError("disk full")

    monkeypatch.setattr(nbformat, "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        book._atomic_write_notebook(nb, target)
    assert target.read_text() == "old result"
    assert [p.name for p in target.parent.iterdir()] == ["chap.ipynb"]
    monkeypatch.undo()
    book._atomic_write_notebook(nb, target)
    assert nbformat.read(target, as_version=4).cells[0].source == "1"


def test_unknown_parameter_is_rejected_before_running(tmp_path):
    root = _project(tmp_path / "p", {"good": GOOD})
    layout = book.Layout.of("smoke", root)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) y; its parameters cell declares label, x"):
        book.execute_chapter("good", layout, parameters={}, overrides={"y": 1})
    assert not (layout.executed / "good.ipynb").exists()


def test_missing_source_fails_for_only_and_is_left_out_of_full_build(tmp_path, capsys):
    root = _project(tmp_path / "p", {"good": GOOD, "later": None})
    with pytest.raises(FileNotFoundError, match=r"chapter 'later' has no source: .*notebooks/later.py"):
        book.build("smoke", only="later", html=False, root=root)
    layout = book.build("smoke", html=False, root=root)
    assert "notebooks/later.py" in capsys.readouterr().err
    names = book.chapters(root)
    book._stage(layout, book._present(names, layout))
    staged = [c["file"] for p in yaml.safe_load((layout.src / "_toc.yml").read_text())["parts"]
              for c in p["chapters"]]
    assert staged == ["notebooks/executed/good"]
    assert (layout.src / "book" / "intro.md").is_file()


def test_rerun_with_parameters_into_a_custom_build_dir(tmp_path):
    root = _project(tmp_path / "p", {"good": GOOD}, {"good": {"default": {"x": 2}}})
    out_dir = tmp_path / "elsewhere"
    layout = book.rerun("good", book.parse_overrides([["label", "mine"]]), "default",
                        html=False, root=root, build_dir=out_dir)
    assert layout.executed == out_dir / "default" / "src" / "notebooks" / "executed"
    assert "x=2 label='mine'" in _stdout(layout.executed / "good.ipynb")
    notes = [c.source for c in nbformat.read(layout.executed / "good.ipynb", as_version=4).cells
             if "npmk-parameters-note" in c.metadata.get("tags", [])]
    assert len(notes) == 1 and "`npmk run`" in notes[0] and "`label = 'mine'`" in notes[0]
    assert not (root / "_build").exists()
    with pytest.raises(ValueError, match="'nope' is not a chapter"):
        book.rerun("nope", {}, root=root, build_dir=out_dir, html=False)


def test_profiles_keep_separate_results(tmp_path):
    root = _project(tmp_path / "p", {"good": GOOD},
                    {"good": {"smoke": {"x": 1}, "default": {"x": 2}}})
    book.build("default", html=False, root=root)
    book.build("smoke", html=False, root=root)
    assert "x=2" in _stdout(root / "_build" / "default" / "src" / "notebooks" / "executed" / "good.ipynb")
    assert "x=1" in _stdout(root / "_build" / "smoke" / "src" / "notebooks" / "executed" / "good.ipynb")


# -- data registry -------------------------------------------------------------------

def test_missing_mirror_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NPMK_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("NPMK_CACHE", str(tmp_path / "cache"))
    key = data.keys("NPM-Weibull-public/database_v9_1/")[0]
    with pytest.raises(data.MissingDataError) as info:
        data.fetch(key)
    msg = str(info.value)
    assert key in msg and "NPMK_MIRROR" in msg and "raw.githubusercontent.com/tiexinding" in msg
