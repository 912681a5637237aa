"""The book pipeline (npmk.book) on a throwaway project of toy chapters, and the data registry's errors.

Each toy chapter runs in a real kernel in a second or two; the one test that
builds HTML uses a two-chapter book.
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml

from npmk import book, chapter_cache, data, page_state, parameters
from npmk.parameters import Declared, ParameterTypeError

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
    from myst_nb import glue
    print(f"x={x!r} label={label!r}")
    glue("doubled", float(2 * x), display=False)
    # what npmk.ledger.check glues (the toy claim lives in the test project's claims.csv, not the package's)
    glue("ledger.twice.ours", f"{2 * x:.1f}", display=False)
    glue("ledger.twice.verdict", "reproduced" if 2 * x == 10 else "miss", display=False)

    # %% [markdown]
    # Twice x is {glue:text}`doubled:.1f`.
""")

#: fails when d == 0, so one parameter turns a good run into a failing one
FLAKY = HEADER + textwrap.dedent("""\
    # %% [markdown]
    # # A chapter that divides

    # %% tags=["parameters"]
    d = 1

    # %%
    ok = 1

    # %%
    answer = 1 / d
""")

DATA_KEY = "NPM-Weibull-public/database_v9_1/DATABASE_v9_1.csv"
#: reads a registered data file; without the data it notes the missing file and glues nothing
NEEDS_DATA = HEADER + textwrap.dedent(f"""\
    # %% [markdown]
    # # A chapter that needs data

    # %% tags=["parameters"]
    key = "{DATA_KEY}"

    # %%
    from myst_nb import glue
    from npmk import data
    path = data.load_or_note_missing(data.fetch, key)
    if path is not None:
        glue("n_lines", len(path.read_text().splitlines()), display=False)
    data.load_or_note_missing(data.fetch, data.keys("pythia/")[0])

    # %% [markdown]
    # The table has {{glue:text}}`n_lines` lines (the header included).
""")


def _project(root: Path, chapters: dict[str, str | None], profiles: dict | None = None,
             pages: dict[str, str] | None = None) -> Path:
    """A minimal npmk project: a toc of ``chapters`` (None: listed but no source yet), then ``pages``
    ({name: markdown} under book/)."""
    (root / "notebooks").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# Intro\n")
    files = [{"file": f"notebooks/executed/{n}"} for n in chapters]
    for name, text in (pages or {}).items():
        (root / "book" / f"{name}.md").write_text(text)
        files.append({"file": f"book/{name}"})
    toc = {"format": "jb-book", "root": "book/intro", "parts": [{"caption": "Chapters", "chapters": files}]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    # the generated ledger cites each claim's source: the toy claims' "toy" is in the bibliography
    (root / "book" / "references.bib").write_text("@misc{toy, title = {A toy claim}, year = {2026}}\n")
    (root / "_config.yml").write_text("title: test\nexecute:\n  execute_notebooks: 'off'\n"
                                      "bibtex_bibfiles: [book/references.bib]\n")
    (root / "data" / "profiles.yaml").write_text(yaml.safe_dump(profiles or {}))
    for name, source in chapters.items():
        if source is not None:
            (root / "notebooks" / f"{name}.py").write_text(source)
    return root


def _stdout(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


def _markdown(nb_path: Path) -> str:
    cells = nbformat.read(nb_path, as_version=4).cells
    return "\n".join(c.source for c in cells if c.cell_type == "markdown")


def _staged_chapters(layout: book.Layout) -> list[str]:
    toc = yaml.safe_load((layout.src / "_toc.yml").read_text())
    return [c["file"] for p in toc["parts"] for c in p["chapters"]]


# -- profiles and parameters ---------------------------------------------------------

def test_project_profiles_name_declared_parameters_of_the_right_type(repo_root):
    """Every profile parameter of a written chapter exists in its parameters cell, with its type."""
    profiles = book.load_profiles(repo_root / "data" / "profiles.yaml")
    checked = 0
    for name in book.chapters(repo_root):
        if not (repo_root / "notebooks" / f"{name}.py").is_file():
            continue
        for profile in book.PROFILES:
            layout = book.Layout.of(profile, repo_root)
            book.prepare(name, layout, book.parameters_for(profiles, name, profile))  # raises if not
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


DECLARED = {
    "n_mc": Declared("n_mc", 4_000_000), "trim": Declared("trim", 0.8), "model": Declared("model", "minilm"),
    "fast": Declared("fast", False), "trims": Declared("trims", [0.8, 0.9, 1.0]),
    "sizes": Declared("sizes", [1000, 10000]), "subsample": Declared("subsample", None),
    "runs": Declared("runs", [{"arch": "pythia"}]), "corpus": Declared("corpus", "docs", (str, type(None))),
    "nets": Declared("nets", "default", (str, list)),
}


def test_command_line_values_are_read_as_the_type_of_the_default():
    args = book._parser("run").parse_args(
        ["measuring_stick", "-p", "trim", "1", "-p", "n_mc", "1e6", "-p", "model", "123",
         "-p", "fast", "true", "-p", "trims", "[0.7, 0.8]", "-p", "sizes", "[1e3, 2000]",
         "-p", "subsample", "1e5", "-p", "corpus", "null", "--profile", "smoke"])
    assert args.name == "measuring_stick" and args.profile == "smoke"
    got = parameters.conform_all("measuring_stick", DECLARED, {}, parameters.parse_overrides(args.parameter))
    assert got == {"trim": 1.0, "n_mc": 1_000_000, "model": "123", "fast": True, "trims": [0.7, 0.8],
                   "sizes": [1000, 2000], "subsample": 100000.0, "corpus": None}
    assert isinstance(got["n_mc"], int) and isinstance(got["trim"], float)
    assert all(isinstance(v, int) for v in got["sizes"])
    with pytest.raises(ValueError, match="not a Python identifier"):
        parameters.parse_overrides([["n-mc", "3"]])


@pytest.mark.parametrize("key, text, expected", [
    ("n_mc", "abc", "int"), ("n_mc", "1.5", "int"), ("trim", "high", "float"), ("fast", "1", "bool"),
    ("trims", "0.8", "list"), ("sizes", "[1, x]", "list of int"), ("runs", "pythia", "list"),
])
def test_a_value_of_the_wrong_type_names_parameter_value_and_type(key, text, expected):
    with pytest.raises(ParameterTypeError) as info:
        parameters.conform_all("chap", DECLARED, {}, {key: text})
    msg = str(info.value)
    assert f"chapter 'chap': parameter {key} = " in msg and f"expected {expected}" in msg


def test_profile_values_are_typed_too_and_set_the_type_of_a_none_default():
    with pytest.raises(ParameterTypeError, match=r"parameter n_mc = 'many' is a str, expected int"):
        parameters.conform_all("chap", DECLARED, {"n_mc": "many"}, {})
    with pytest.raises(ParameterTypeError, match=r"parameter model = 5 is a int, expected str"):
        parameters.conform_all("chap", DECLARED, {"model": 5}, {})
    # on the command line, a str parameter takes the text as it is, unless YAML gives another allowed type
    assert parameters.conform_all("chap", DECLARED, {}, {"model": "null"}) == {"model": "null"}
    assert parameters.conform_all("chap", DECLARED, {}, {"nets": "[a, b]"}) == {"nets": ["a", "b"]}
    assert parameters.conform_all("chap", DECLARED, {}, {"nets": "1e6"}) == {"nets": "1e6"}
    # the default None leaves subsample open; the profile's int makes it an int (or None)
    got = parameters.conform_all("chap", DECLARED, {"subsample": 200}, {"subsample": "1e3"})
    assert got == {"subsample": 1000}
    with pytest.raises(ParameterTypeError, match=r"subsample = 'all' is a str, expected None or int"):
        parameters.conform_all("chap", DECLARED, {"subsample": 200}, {"subsample": "all"})
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) y; its parameters cell declares"):
        parameters.conform_all("chap", DECLARED, {}, {"y": "1"})


def test_annotations_in_the_parameters_cell_state_the_type():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "a: str | None = 'docs'\nb = 3\nc: list[float] = [1.0]\nd = len([])\n",
        metadata={"tags": ["parameters"]})])
    got = parameters.declared_parameters(nb)
    assert got["a"] == Declared("a", "docs", (str, type(None)))
    assert got["b"] == Declared("b", 3) and got["c"].types == (list,)
    assert got["d"].default is None  # not a literal: open
    nb.cells[0].source = "a: numpy.ndarray = None\n"
    with pytest.raises(ValueError, match="unsupported annotation 'numpy.ndarray'"):
        parameters.declared_parameters(nb)


def test_a_bad_parameter_stops_everything_before_any_chapter_runs(tmp_path):
    root = _project(tmp_path / "p", {"good": GOOD, "flaky": FLAKY}, {"flaky": {"smoke": {"d": "zero"}}})
    with pytest.raises(ParameterTypeError, match=r"'flaky': parameter d = 'zero' is a str, expected int"):
        book.build("smoke", html=False, root=root)
    with pytest.raises(ParameterTypeError, match=r"'good': parameter x = 'abc' is a str, expected int"):
        book.rerun("good", {"x": "abc"}, "default", html=False, root=root)
    assert not (root / "_build" / "smoke" / "src" / "notebooks" / "executed" / "good.ipynb").exists()
    assert not (root / "_build" / "default").exists()


# -- execution -----------------------------------------------------------------------

def test_execute_writes_result_with_profile_parameters(tmp_path, capfd):
    root = _project(tmp_path / "p", {"good": GOOD}, {"good": {"smoke": {"x": 7}}})
    report = book.build("smoke", html=False, root=root)
    layout = report.layout
    out = layout.result("good")
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
    # the result, its manifest, nothing partial beside them
    assert sorted(p.name for p in layout.executed.iterdir()) == ["good.ipynb", "good.run.json"]
    assert not list((layout.tree / "running").iterdir())
    manifest = chapter_cache.read(layout.manifest("good"))
    assert manifest.status == "complete" and manifest.parameters == {"x": 7}
    assert [r.status for r in report.runs] == ["complete"] and report.exit_status() == 0
    # the kernel's start-up warning about unencrypted TCP is not printed once per chapter
    assert "without encryption" not in capfd.readouterr().err


def test_a_failed_run_keeps_the_last_good_result_and_every_chapter(tmp_path):
    root = _project(tmp_path / "p", {"good": GOOD, "flaky": FLAKY, "after": GOOD})
    first = book.build("smoke", html=False, root=root)
    layout = first.layout
    assert [r.status for r in first.runs] == ["complete"] * 3

    failed = book.rerun("flaky", {"d": "0"}, "smoke", html=False, root=root)
    (run,) = failed.runs
    assert run.status == "failed" and failed.exit_status() == 1
    assert "answer = 1 / d" in run.error.source and "ZeroDivisionError" in run.error.error
    assert run.error.where == f"notebooks/flaky.py line {FLAKY.splitlines().index('answer = 1 / d') + 1}"
    assert run.error.failed_path == layout.failed / "flaky.failed.ipynb" and run.error.failed_path.is_file()
    assert run.kept == chapter_cache.read(layout.manifest("flaky")).finished
    # the last good result is still there, says on its page that a later run failed, and how
    page = _markdown(layout.result("flaky"))
    assert "last good run" in page and "`d = 0`" in page and "ZeroDivisionError" in page
    assert "last good result" in failed.summary() and "FAILED in cell" in failed.summary()

    # the next successful run of another chapter rebuilds a book that still has every chapter
    book.rerun("good", {"x": "3"}, "smoke", html=False, root=root)
    book._stage(layout, book.chapters(root))
    assert _staged_chapters(layout) == [f"notebooks/executed/{n}" for n in ("good", "flaky", "after")]
    assert not list(layout.executed.glob("*.md"))  # no placeholder: every chapter has its page

    # a later good run of the chapter removes the warning
    again = book.rerun("flaky", {"d": "2"}, "smoke", html=False, root=root)
    assert again.runs[0].status == "complete" and "last good run" not in _markdown(layout.result("flaky"))
    assert not (layout.failed / "flaky.failed.ipynb").exists()


def test_a_chapter_that_never_ran_gets_a_placeholder_page(tmp_path, monkeypatch, capsys):
    root = _project(tmp_path / "p", {"good": GOOD, "flaky": FLAKY}, {"flaky": {"smoke": {"d": 0}}})
    monkeypatch.chdir(root)
    assert book.cli(["book", "--profile", "smoke", "--no-html"]) == 1
    out = capsys.readouterr().out
    assert "1 complete, 0 degraded, 1 failed" in out and "chapter 'flaky' failed in cell" in out
    assert "no earlier result" in out and "1 / d" in out
    layout = book.Layout.of("smoke", root)
    book._stage(layout, book.chapters(root))
    assert _staged_chapters(layout) == ["notebooks/executed/good", "notebooks/executed/flaky"]
    stand_in = (layout.executed / "flaky.md").read_text()
    assert stand_in.startswith("# A chapter that divides") and "no result in the `smoke` book" in stand_in
    assert "Its last run failed" in stand_in and "failed/flaky.failed.ipynb" in stand_in


def test_missing_source_fails_for_only_and_is_left_out_of_full_build(tmp_path, capsys):
    root = _project(tmp_path / "p", {"good": GOOD, "later": None})
    with pytest.raises(FileNotFoundError, match=r"chapter 'later' has no source: .*notebooks/later.py"):
        book.build("smoke", only="later", html=False, root=root)
    layout = book.build("smoke", html=False, root=root).layout
    assert "notebooks/later.py" in capsys.readouterr().err
    book._stage(layout, [n for n in book.chapters(root) if layout.source(n).is_file()])
    assert _staged_chapters(layout) == ["notebooks/executed/good"]
    assert (layout.src / "book" / "intro.md").is_file()


def test_rerun_with_parameters_into_a_custom_build_dir(tmp_path):
    root = _project(tmp_path / "p", {"good": GOOD}, {"good": {"default": {"x": 2}}})
    out_dir = tmp_path / "elsewhere"
    layout = book.rerun("good", {"label": "mine"}, "default", html=False, root=root, build_dir=out_dir).layout
    assert layout.executed == out_dir / "default" / "src" / "notebooks" / "executed"
    assert "x=2 label='mine'" in _stdout(layout.result("good"))
    notes = [c.source for c in nbformat.read(layout.result("good"), as_version=4).cells
             if "npmk-parameters-note" in c.metadata.get("tags", [])]
    assert len(notes) == 1 and "`npmk run`" in notes[0] and "`label = 'mine'`" in notes[0]
    assert not (root / "_build").exists()
    with pytest.raises(ValueError, match="'nope' is not a chapter"):
        book.rerun("nope", {}, root=root, build_dir=out_dir, html=False)


# -- missing data: degraded chapters, honest exit status, no holes in the prose ----------------

def test_without_data_the_chapter_is_degraded_and_the_exit_status_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NPMK_MIRROR", str(tmp_path / "empty-mirror"))  # no file, and no download
    monkeypatch.setenv("NPMK_CACHE", str(tmp_path / "cache"))
    root = _project(tmp_path / "p", {"good": GOOD, "needs": NEEDS_DATA})
    monkeypatch.chdir(root)
    assert book.cli(["book", "--profile", "smoke", "--no-html"]) == 3
    out = capsys.readouterr().out
    assert "1 complete, 1 degraded, 0 failed" in out
    assert "needs: degraded" in out and "DATABASE_v9_1.csv" in out and "--partial" in out
    layout = book.Layout.of("smoke", root)
    # one short note: the advice first, the error chain folded away
    nb = nbformat.read(layout.result("needs"), as_version=4)
    first, second = [o["data"]["text/markdown"] for c in nb.cells for o in c.get("outputs", [])
                     if "npmk" in o.get("metadata", {})]
    assert first.startswith("**Not available in this build:**")
    assert "NPMK_MIRROR" in first.split("<details>")[0]
    assert "<summary>What failed</summary>" in first
    assert second.startswith("**Also not available:**") and len(second.split("<details>")[0]) < 200
    # no sentence with a hole: the unglued value is marked in the prose
    assert f"The table has {page_state.NOT_COMPUTED} lines" in _markdown(layout.result("needs"))
    assert chapter_cache.read(layout.manifest("needs")).missing_data == [DATA_KEY, data.keys("pythia/")[0]]
    # a partial book was asked for: exit 0; the degraded chapter is never reused from the cache
    assert book.cli(["book", "--profile", "smoke", "--no-html", "--partial"]) == 0
    out = capsys.readouterr().out
    assert "1 complete (1 reused, unchanged), 1 degraded" in out


def test_fill_holes_and_cross_refs_mark_values_a_build_lacks(tmp_path):
    PREFIX = "application/papermill.record/"  # where glue(..., display=False) puts the value
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("r is {glue:text}`rho:.2f` (GQA: {glue:text}`gqa`); "
                                      "k {glue:text}`k0:.4f`; {glue:text}`../x.ipynb::y:s`"),
        nbformat.v4.new_code_cell("", outputs=[
            nbformat.v4.new_output("display_data", data={"text/plain": "1.2"},
                                   metadata={"scrapbook": {"name": "k0"}}),
            nbformat.v4.new_output("display_data", data={f"{PREFIX}text/plain": "nan"},
                                   metadata={"scrapbook": {"name": "rho", "mime_prefix": PREFIX}})])])
    assert page_state.fill_holes(nb) == ["rho", "gqa"]  # rho was glued, but as NaN
    assert nb.cells[0].source == (f"r is {page_state.NOT_COMPUTED} (GQA: {page_state.NOT_COMPUTED}); "
                                  "k {glue:text}`k0:.4f`; {glue:text}`../x.ipynb::y:s`")
    executed = tmp_path / "notebooks" / "executed"
    text = ("| a | {glue:text}`../notebooks/executed/ran.ipynb::k0:.4f` |\n"
            "| b | {glue:text}`../notebooks/executed/ran.ipynb::gone:s` |\n"
            "| c | {glue:text}`../notebooks/executed/absent.ipynb::k0:.4f` |\n")
    keys = {executed / "ran.ipynb": {"k0"}}
    got = page_state.fill_cross_refs(text, tmp_path / "book", lambda p: keys.get(p))
    assert got.splitlines() == ["| a | {glue:text}`../notebooks/executed/ran.ipynb::k0:.4f` |",
                                f"| b | {page_state.NOT_COMPUTED} |", f"| c | {page_state.NOT_RUN} |"]


def test_the_smoke_book_is_complete_when_the_data_can_be_had(repo_root, needs_data):
    """With the data at hand, every smoke chapter is complete and quotes only values it computed.

    ``make test`` builds the smoke book with ``--partial`` (so that it runs
    without data too); this is the check that, with data, nothing was degraded.
    """
    report = book.build("smoke", root=repo_root, html=False)  # reuses what make test just ran
    layout = report.layout
    assert not [r.name for r in report.runs if r.status == "failed"]
    incomplete = {}
    for run in report.runs:
        m = chapter_cache.read(layout.manifest(run.name))
        if m.status != "complete" or m.holes:
            incomplete[run.name] = f"{m.status}; missing data {m.missing_data}; not computed {m.holes}"
    assert not incomplete, incomplete


# -- the chapter cache ---------------------------------------------------------------------------

def test_unchanged_chapters_are_reused_and_changed_ones_rerun(tmp_path, monkeypatch):
    root = _project(tmp_path / "p", {"good": GOOD, "flaky": FLAKY}, {"good": {"smoke": {"x": 2}}})
    layout = book.build("smoke", html=False, root=root).layout
    stamp = {n: layout.result(n).stat().st_mtime_ns for n in ("good", "flaky")}

    def statuses(**kwargs):
        report = book.build("smoke", html=False, root=root, **kwargs)
        return {r.name: "reused" if r.reused else r.status for r in report.runs}

    assert statuses() == {"good": "reused", "flaky": "reused"}
    assert {n: layout.result(n).stat().st_mtime_ns for n in stamp} == stamp  # not even rewritten
    # a parameter of the profile changes: only that chapter runs
    (root / "data" / "profiles.yaml").write_text(yaml.safe_dump({"good": {"smoke": {"x": 3}}}))
    assert statuses() == {"good": "complete", "flaky": "reused"}
    # its source changes
    (root / "notebooks" / "flaky.py").write_text(FLAKY.replace("ok = 1", "ok = 2"))
    assert statuses() == {"good": "reused", "flaky": "complete"}
    # the package changes (its version or any file of npmk/)
    state = chapter_cache._package_state(root)
    monkeypatch.setattr(chapter_cache, "_package_state", lambda r: {**state, "npmk_sha256": "edited"})
    assert statuses() == {"good": "complete", "flaky": "complete"}
    # --force reruns what is unchanged; `npmk run` always runs its chapter
    assert statuses(force=True) == {"good": "complete", "flaky": "complete"}
    assert book.rerun("good", {}, "smoke", html=False, root=root).runs[0].reused is False
    # another build tree has its own cache
    other = book.build("smoke", html=False, root=root, build_dir=tmp_path / "b2")
    assert not any(r.reused for r in other.runs)


def test_manifest_records_the_inputs_and_survives_garbage(tmp_path):
    root = _project(tmp_path / "p", {"good": GOOD})
    layout = book.build("smoke", html=False, root=root).layout
    m = chapter_cache.read(layout.manifest("good"))
    assert set(m.inputs) == {"source_sha256", "parameters", "npmk_version", "npmk_sha256", "data_sha256",
                             "python"}
    assert m.key == chapter_cache.key_of(m.inputs) and m.seconds > 0
    layout.manifest("good").write_text("{not json")
    assert chapter_cache.read(layout.manifest("good")) is None
    assert not book.build("smoke", html=False, root=root).runs[0].reused


# -- pages that quote chapters are rebuilt with them -----------------------------------------------

NOTES = """\
# Notes

| claim | ours |
| --- | --- |
| twice x | {glue:text}`../notebooks/executed/good.ipynb::doubled:.1f` |
| from a chapter not in this book | {glue:text}`../notebooks/executed/later.ipynb::doubled:.1f` |
"""

CLAIMS = """\
id,chapter,evidence,description,value,lo,hi,unit,statement,source,where,tol,tol_source,offline,fmt,note
twice,good,independent,Twice x,10,,,,,toy,here,0,exact,,.1f,
later,later,independent,A claim of a chapter not written yet,1,,,,,toy,here,0,exact,,.1f,
"""


def _text(html_page: Path) -> list[str]:
    html = re.sub(r"<[^>]+>", "", html_page.read_text())
    return [line.strip() for line in html.splitlines() if line.strip()]


def test_pages_quoting_a_chapter_follow_its_rerun(tmp_path):
    """The generated ledger, the landing page's summary and a hand-written page quoting a chapter
    show the values of its latest run, and mark what this build does not have."""
    root = _project(tmp_path / "p", {"good": GOOD, "later": None}, {"good": {"smoke": {"x": 2}}},
                    pages={"ledger": "# placeholder\n", "notes": NOTES,
                           "references": "# References\n\n```{bibliography}\n```\n"})
    (root / "book" / "intro.md").write_text("# Intro\n\n```{include} results.md\n```\n")
    (root / "data" / "published").mkdir()
    (root / "data" / "published" / "claims.csv").write_text(CLAIMS)
    html = book.build("smoke", root=root).layout.html
    ledger, notes, intro = (html / "book" / f"{n}.html" for n in ("ledger", "notes", "intro"))
    assert "4.0" in _text(ledger) and "miss" in _text(ledger) and "not run in this profile" in _text(ledger)
    assert "4.0" in _text(intro)
    assert "4.0" in _text(notes) and "not run in this profile" in _text(notes)

    book.rerun("good", {"x": "5"}, "smoke", root=root)
    for page in (ledger, intro, notes):
        assert "10.0" in _text(page) and "4.0" not in _text(page), page.name
    assert "reproduced" in _text(ledger)
    assert "Twice x is 10.0." in _text(html / "notebooks" / "executed" / "good.html")


# -- data registry -------------------------------------------------------------------

def test_missing_mirror_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("NPMK_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("NPMK_CACHE", str(tmp_path / "cache"))
    key = data.keys("NPM-Weibull-public/database_v9_1/")[0]
    with pytest.raises(data.MissingDataError) as info:
        data.fetch(key)
    msg = str(info.value)
    assert info.value.key == key
    assert key in msg and "NPMK_MIRROR" in msg and "raw.githubusercontent.com/tiexinding" in msg


def test_the_smoke_html_is_strict_unless_a_chapter_lacks_its_data(tmp_path, monkeypatch):
    """A Sphinx warning fails a smoke book whose chapters are complete; one with a degraded chapter
    (its data missing) still builds, partial."""
    monkeypatch.setenv("NPMK_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("NPMK_CACHE", str(tmp_path / "cache"))
    broken = {"broken": "# Broken\n\nSee {numref}`fig-nowhere`.\n"}
    complete = _project(tmp_path / "complete", {"good": GOOD}, pages=broken)
    with pytest.raises(RuntimeError, match="Jupyter Book failed"):
        book.build("smoke", root=complete)
    partial = _project(tmp_path / "partial", {"good": GOOD, "needs": NEEDS_DATA}, pages=broken)
    assert book.build("smoke", root=partial).layout.html.joinpath("book", "broken.html").is_file()
