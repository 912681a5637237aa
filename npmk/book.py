"""The book pipeline: execute the chapter notebooks with a profile, then build the HTML.

``npmk book [--profile smoke|default|full] [--only NAME] [--force] [--partial]``
runs every chapter named in ``_toc.yml`` (``notebooks/executed/NAME``) from its
jupytext source ``notebooks/NAME.py`` through papermill, with the parameters
that ``data/profiles.yaml`` gives that notebook under that profile (a
notebook's own ``parameters`` cell holds its defaults and, through them, each
parameter's type; a profile lists only what it changes).

Each profile has its own build tree, so the quick ``smoke`` build of the tests
never overwrites the ``default`` book a reader built::

    _build/<profile>/src/            staging copy of the book, the Sphinx source
        _config.yml  _toc.yml  book/  static/
        notebooks/executed/NAME.ipynb      last complete (or degraded) result of a chapter
        notebooks/executed/NAME.run.json   its manifest: inputs, cache key, status (npmk.chapter_cache)
        notebooks/executed/NAME.md         placeholder page of a chapter with no result yet
    _build/<profile>/running/NAME.ipynb         a chapter while it executes
    _build/<profile>/failed/NAME.failed.ipynb   partial output of a failing chapter
    _build/<profile>/html/index.html            the book

A chapter whose inputs are unchanged since its last complete run is reused
(``--force`` re-executes it). A chapter that fails keeps its last good result,
with a warning on its page; a chapter that could not fetch some of its data is
*degraded*. The build goes on, ends with a summary, and exits non-zero when a
chapter failed, or was degraded without ``--partial``.

``npmk run NAME -p key value ...`` re-executes one chapter with parameters on top
of the profile's and rebuilds the HTML.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from npmk import chapter_cache, page_state
from npmk._files import write_atomic
from npmk.parameters import conform_all, declared_parameters, parse_overrides

__all__ = [
    "PROFILES",
    "ChapterFailed",
    "ChapterRun",
    "Report",
    "Layout",
    "chapters",
    "load_profiles",
    "parameters_for",
    "prepare",
    "execute_chapter",
    "build",
    "rerun",
    "build_html",
    "absolute_path_variables",
    "cli",
]

PROFILES = ("smoke", "default", "full")
#: where _toc.yml points for a chapter; the staging tree keeps the same layout
EXECUTED = Path("notebooks") / "executed"
#: what a book build copies from the project into its staging tree
BOOK_FILES = ("_config.yml", "book", "static")


class ChapterFailed(RuntimeError):
    """A chapter's notebook raised; carries the chapter, the failing cell and the error."""

    def __init__(self, chapter: str, cell_index: int | None, where: str, source: str,
                 error: str, failed_path: Path | None):
        self.chapter, self.cell_index, self.where = chapter, cell_index, where
        self.source, self.error, self.failed_path = source, error, failed_path
        excerpt = "\n".join("    " + line for line in source.strip().splitlines()[:12])
        kept = f"\npartial output kept for debugging: {failed_path}" if failed_path else ""
        super().__init__(
            f"chapter {chapter!r} failed in cell {cell_index} ({where}):\n{excerpt}\n{error}{kept}"
        )


@dataclass(frozen=True)
class Layout:
    """Paths of the project and of one profile's build tree."""

    root: Path
    build_dir: Path
    profile: str

    @classmethod
    def of(cls, profile: str, root: Path | None = None, build_dir: Path | None = None) -> Layout:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
        root = (root or find_root()).resolve()
        build_dir = Path(build_dir).resolve() if build_dir else root / "_build"
        return cls(root, build_dir, profile)

    @property
    def tree(self) -> Path:
        return self.build_dir / self.profile

    @property
    def src(self) -> Path:
        return self.tree / "src"

    @property
    def executed(self) -> Path:
        return self.src / EXECUTED

    @property
    def failed(self) -> Path:
        return self.tree / "failed"

    @property
    def html(self) -> Path:
        return self.tree / "html"

    def result(self, name: str) -> Path:
        """The executed notebook of chapter ``name`` (its last complete or degraded run)."""
        return self.executed / f"{name}.ipynb"

    def manifest(self, name: str) -> Path:
        """The manifest beside :meth:`result` (:mod:`npmk.chapter_cache`)."""
        return self.executed / f"{name}.run.json"

    def source(self, name: str) -> Path:
        return self.root / "notebooks" / f"{name}.py"


def find_root(start: Path | None = None) -> Path:
    """The project root: the nearest directory at or above ``start`` (default: cwd)
    holding both ``_toc.yml`` and ``data/profiles.yaml``."""
    here = Path(start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "_toc.yml").is_file() and (d / "data" / "profiles.yaml").is_file():
            return d
    raise FileNotFoundError(
        f"no npmk project (a directory with _toc.yml and data/profiles.yaml) at or above {here}"
    )


def _toc_entries(toc: dict) -> list[dict]:
    """Every entry of a jb-book toc (root excluded), in reading order."""
    out = []
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        for entry in part.get("chapters", []):
            out.append(entry)
            out.extend(entry.get("sections", []))
    return out


def chapters(root: Path) -> list[str]:
    """Notebook chapter names in ``_toc.yml`` order (entries ``notebooks/executed/NAME``)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    prefix = EXECUTED.as_posix() + "/"
    return [e["file"].removeprefix(prefix) for e in _toc_entries(toc)
            if e.get("file", "").startswith(prefix)]


def load_profiles(path: Path) -> dict[str, dict[str, dict]]:
    """``data/profiles.yaml`` as {notebook: {profile: {param: value}}}, checked for shape."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping notebook -> profile -> parameters")
    for name, block in raw.items():
        if not isinstance(block, dict):
            raise ValueError(f"{path}: block {name!r} must map profiles to parameters")
        for profile, params in block.items():
            if profile not in PROFILES:
                raise ValueError(f"{path}: {name}: unknown profile {profile!r} "
                                 f"(expected {', '.join(PROFILES)})")
            if not isinstance(params, dict | None):
                raise ValueError(f"{path}: {name}.{profile} must be a mapping of parameters")
    return raw


def parameters_for(profiles: dict, name: str, profile: str) -> dict:
    """Parameters a profile sets for notebook ``name`` (empty: the notebook's defaults)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return dict((profiles.get(name) or {}).get(profile) or {})


def _atomic_write_notebook(nb, path: Path) -> None:
    import nbformat

    write_atomic(path, nbformat.writes(nb).encode("utf-8"))


def _where(src: Path, root: Path, cell_source: str) -> str:
    """'notebooks/NAME.py line N' for a cell's source, when it can be found verbatim."""
    text = src.read_text()
    first = cell_source.strip().splitlines()[0] if cell_source.strip() else ""
    pos = text.find(cell_source.strip()) if cell_source.strip() else -1
    if pos < 0 and first:
        pos = text.find(first)
    rel = src.relative_to(root) if src.is_relative_to(root) else src
    return f"{rel} line {text.count(chr(10), 0, pos) + 1}" if pos >= 0 else str(rel)


def _how(profile: str, overrides: tuple[str, ...]) -> str:
    """The command that ran a chapter, in words for its page."""
    if overrides:
        return (f"`npmk run` (profile `{profile}`, changed on the command line: "
                + ", ".join(f"`{k}`" for k in overrides) + ")")
    return f"`npmk book --profile {profile}`"


def _show_parameters(nb, how: str, params: dict) -> None:
    """Hide papermill's injected cell; in its place, tell the reader which values ran.

    The defaults cell stays on the page, so without this note a page built
    with another profile would show numbers its code never used.
    """
    import nbformat

    for i, cell in enumerate(nb.cells):
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" not in tags:
            continue
        if "remove-cell" not in tags:
            tags.append("remove-cell")
        values = ", ".join(f"`{k} = {v!r}`" for k, v in params.items())
        note = nbformat.v4.new_markdown_cell(
            f"*This page was executed by {how} with these values in place of the defaults "
            f"above: {values}.*")
        note.metadata["tags"] = ["npmk-parameters-note"]
        nb.cells.insert(i + 1, note)
        return


@dataclass(frozen=True)
class Chapter:
    """A chapter ready to run: its source notebook, checked parameters and cache key.

    ``overrides`` names the parameters set on the command line; ``inputs`` is
    what its result depends on (:func:`npmk.chapter_cache.inputs`), ``key``
    their hash.
    """

    name: str
    nb: object
    parameters: dict
    overrides: tuple[str, ...]
    inputs: dict
    key: str


def prepare(name: str, layout: Layout, profile_parameters: dict,
            overrides: dict[str, str] | None = None) -> Chapter:
    """Read ``notebooks/NAME.py`` and check its parameters, before anything runs.

    ``profile_parameters`` come from ``data/profiles.yaml``; ``overrides`` are
    command-line text (``-p n_mc 1e6``) read against each parameter's type
    (:func:`npmk.parameters.conform`). Raises FileNotFoundError for a missing
    source and ValueError (a :class:`~npmk.parameters.ParameterTypeError` for
    a value of the wrong type) naming the chapter and the parameter.
    """
    import jupytext

    src = layout.source(name)
    if not src.is_file():
        raise FileNotFoundError(f"chapter {name!r} has no source: {src} does not exist")
    nb = jupytext.read(src, fmt="py:percent")  # the convention for every chapter source
    try:
        declared = declared_parameters(nb)
    except ValueError as exc:
        raise ValueError(f"chapter {name!r} ({src}): {exc}") from None
    params = conform_all(name, declared, profile_parameters, overrides or {})
    inputs = chapter_cache.inputs(layout.root, src, params)
    return Chapter(name, nb, params, tuple(overrides or ()), inputs, chapter_cache.key_of(inputs))


@dataclass
class ChapterRun:
    """How one chapter fared: ``status`` is ``complete``, ``degraded`` (data missing) or ``failed``.

    ``reused``: the result of an earlier run with the same inputs was kept
    (the chapter cache). ``missing``: registry keys it could not fetch;
    ``holes``: glue keys its prose quotes that it did not glue. ``kept``:
    after a failure, when the last good result that the book still shows
    finished (None: there was none).
    """

    name: str
    status: str
    seconds: float = 0.0
    reused: bool = False
    missing: list[str] = field(default_factory=list)
    holes: list[str] = field(default_factory=list)
    error: ChapterFailed | None = None
    kept: str | None = None


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _rewrite(path: Path, change) -> None:
    """Apply ``change(nb) -> bool`` to the notebook at ``path``; write it back (atomically) if it changed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    if change(nb):
        _atomic_write_notebook(nb, path)


def _keep_last_good(chapter: Chapter, layout: Layout, err: ChapterFailed) -> str | None:
    """After a failure: leave the last good result in place and say on its page that a later run failed."""
    out, last = layout.result(chapter.name), chapter_cache.read(layout.manifest(chapter.name))
    if not out.is_file():
        return None
    when = last.finished if last else "an earlier build"
    how = _how(last.profile, tuple(last.overrides)) if last else "an earlier run"
    tried = ", ".join(f"`{k} = {chapter.parameters[k]!r}`" for k in chapter.overrides)
    message = (f"This page shows the last good run of this chapter ({when}, by {how}). A later run "
               f"({_how(layout.profile, chapter.overrides)}{': ' + tried if tried else ''}) failed in "
               f"cell {err.cell_index} ({err.where}) with `{err.error.splitlines()[0]}`; its partial "
               f"output is `failed/{chapter.name}.failed.ipynb` in the build tree.")

    def mark(nb) -> bool:
        page_state.mark_stale(nb, message)
        return True

    _rewrite(out, mark)
    return when


def _known_parameters(record: logging.LogRecord) -> bool:
    """Drop papermill's "Passed unknown parameter" lines: its regex does not read annotations such as
    ``str | list``, while :func:`npmk.parameters.conform_all` has already checked every name against
    the parameters cell's syntax tree and refused unknown ones."""
    return not record.getMessage().startswith("Passed unknown parameter")


def execute_chapter(chapter: Chapter, layout: Layout, *, force: bool = True) -> ChapterRun:
    """Execute ``chapter`` into ``<tree>/src/notebooks/executed/NAME.ipynb``, or reuse its last run.

    Without ``force``, a complete earlier result with the same inputs (same
    cache key) is kept and nothing runs. The kernel runs in the executed
    notebook's folder, as it does under nbval, so a chapter must locate files
    through npmk, never relative to its cwd. The result and its manifest are
    written atomically and only on success. On failure the partial notebook
    is kept as ``<tree>/failed/NAME.failed.ipynb`` and the last good result
    stays, marked on its page as older than the failed attempt.
    """
    import papermill as pm

    # after a Sphinx build in the same process papermill's INFO lines would reach the terminal
    logging.getLogger("papermill").setLevel(logging.WARNING)
    logging.getLogger("papermill").addFilter(_known_parameters)  # adding it twice is a no-op
    name = chapter.name
    out, manifest_path = layout.result(name), layout.manifest(name)
    manifest = chapter_cache.read(manifest_path)
    if not force and chapter_cache.is_fresh(manifest, chapter.key, out):
        # a failed attempt with other inputs no longer concerns this page
        _rewrite(out, page_state.unmark_stale)
        return ChapterRun(name, "complete", reused=True)

    failed = layout.failed / f"{name}.failed.ipynb"
    # papermill saves after every cell; that partial notebook lives outside
    # executed/ so that neither the HTML nor nbval ever sees it
    tmp = layout.tree / "running" / f"{name}.ipynb"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    layout.executed.mkdir(parents=True, exist_ok=True)
    os.environ["NPMK_PROFILE"] = layout.profile  # the page's rerun note (npmk.page) names it
    t0 = time.perf_counter()
    try:
        executed = pm.execute_notebook(
            chapter.nb, str(tmp), parameters=chapter.parameters, kernel_name="python3",
            language="python", progress_bar=False, cwd=str(layout.executed),
            # the kernel's start-up warning about unencrypted TCP on localhost is noise, once per chapter
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except pm.PapermillExecutionError as exc:
        failed.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, failed)
        err = ChapterFailed(name, exc.cell_index, _where(layout.source(name), layout.root, exc.source),
                            exc.source, f"{exc.ename}: {exc.evalue}", failed)
        return ChapterRun(name, "failed", time.perf_counter() - t0, error=err,
                          kept=_keep_last_good(chapter, layout, err))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - t0
    tmp.unlink(missing_ok=True)
    _show_parameters(executed, _how(layout.profile, chapter.overrides), chapter.parameters)
    holes = page_state.fill_holes(executed)
    missing = page_state.missing_data(executed)
    _atomic_write_notebook(executed, out)
    chapter_cache.write(chapter_cache.Manifest(
        chapter=name, profile=layout.profile, parameters=chapter.inputs["parameters"],
        overrides=list(chapter.overrides), inputs=chapter.inputs, key=chapter.key,
        status="degraded" if missing else "complete", finished=_now(), seconds=round(seconds, 1),
        missing_data=missing, holes=holes), manifest_path)
    failed.unlink(missing_ok=True)
    return ChapterRun(name, "degraded" if missing else "complete", seconds, missing=missing, holes=holes)


def _placeholder(name: str, layout: Layout, run: ChapterRun | None) -> str:
    """The stand-in page of a chapter with a source but no result in this build tree."""
    import jupytext

    heading = page_state.title(jupytext.read(layout.source(name), fmt="py:percent"), name)
    again = f"`npmk run {name} --profile {layout.profile}`"
    if run is not None and run.error is not None:
        why = (f"Its run failed in cell {run.error.cell_index} ({run.error.where}) with "
               f"`{run.error.error.splitlines()[0]}`; its partial output is "
               f"`failed/{name}.failed.ipynb` in the build tree. Once that is fixed, {again} builds it.")
    elif (layout.failed / f"{name}.failed.ipynb").is_file():
        why = (f"Its last run failed; its partial output is `failed/{name}.failed.ipynb` in the build tree. "
               f"Once that is fixed, {again} builds it.")
    else:
        why = (f"It has not run in this build tree yet; {again} (or `npmk book --profile {layout.profile}`) "
               "builds it.")
    return page_state.placeholder(heading, f"This chapter has no result in the `{layout.profile}` book. "
                                           f"{why}")


def _stage(layout: Layout, names: list[str], runs: dict[str, ChapterRun] | None = None) -> None:
    """Write the staging tree Jupyter Book builds from: the book's files, a toc, every chapter's page.

    ``names`` are the chapters with a source; each gets its executed notebook
    or, failing that, a placeholder page, so the navigation and links stay
    whole. Book pages are written afresh (a new mtime) on every build, so
    that Sphinx re-reads them and the values they quote from chapters are the
    current ones; a quoted value that this build lacks is marked, not left
    blank (:func:`npmk.page_state.fill_cross_refs`).
    """
    layout.src.mkdir(parents=True, exist_ok=True)
    for item in BOOK_FILES:
        src, dst = layout.root / item, layout.src / item
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, copy_function=shutil.copy)  # shutil.copy: a fresh mtime
        elif src.is_file():
            shutil.copy(src, dst)
    toc = yaml.safe_load((layout.root / "_toc.yml").read_text())
    keep = {f"{EXECUTED.as_posix()}/{n}" for n in names}

    def wanted(entry: dict) -> bool:
        f = entry.get("file", "")
        return not f.startswith(EXECUTED.as_posix() + "/") or f in keep

    parts = []
    for part in toc.get("parts", []):
        chs = [c for c in part.get("chapters", []) if wanted(c)]
        if chs:
            parts.append({**part, "chapters": chs})
    toc["parts"] = parts
    (layout.src / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))

    layout.executed.mkdir(parents=True, exist_ok=True)
    keys: dict[str, set[str] | None] = {}
    for name in names:
        stand_in = layout.executed / f"{name}.md"
        if layout.result(name).is_file():
            stand_in.unlink(missing_ok=True)
            keys[name] = _glued_keys(layout.result(name))
        else:
            stand_in.write_text(_placeholder(name, layout, (runs or {}).get(name)))
            keys[name] = None
    _generate_pages(layout)
    for page in (layout.src / "book").rglob("*.md"):
        text = page.read_text()
        filled = page_state.fill_cross_refs(
            text, page.parent,
            lambda p: keys.get(p.stem) if p.parent == layout.executed.resolve() else None)
        if filled != text:
            page.write_text(filled)


#: the published claims that the generated pages set our values beside (npmk.ledger)
CLAIMS = Path("data") / "published" / "claims.csv"
#: pages generated on every build, relative to the staging tree
LEDGER_PAGE = Path("book") / "ledger.md"
RESULTS_FRAGMENT = Path("book") / "results.md"  # included by book/intro.md


def _generate_pages(layout: Layout) -> None:
    """Write the pages made of the chapters' values: the ledger and the landing page's results summary.

    They are generated from the project's ``data/published/claims.csv`` and
    the executed notebooks of this build tree on every build, never copied, so
    they cannot lag behind a chapter; a claim whose chapter has no result here
    says that it did not run. A project without a claims table has no
    generated pages.
    """
    from npmk import ledger

    if not (layout.root / CLAIMS).is_file():
        return
    claims = ledger.load_claims(layout.root / CLAIMS)
    page = layout.src / LEDGER_PAGE
    write_atomic(page, ledger.ledger_markdown(layout.executed, page.parent, claims).encode("utf-8"))
    write_atomic(layout.src / RESULTS_FRAGMENT,
                 ledger.summary_markdown(layout.executed, "ledger", claims).encode("utf-8"))


def _glued_keys(path: Path) -> set[str]:
    import nbformat

    return page_state.glued_keys(nbformat.read(path, as_version=4))


def _degraded(layout: Layout, names: list[str], runs: dict[str, ChapterRun] | None) -> list[str]:
    """Chapters of this build whose result lacks data: this run's status, else the last manifest's."""
    def status(name: str) -> str | None:
        if runs and name in runs:
            return runs[name].status
        manifest = chapter_cache.read(layout.manifest(name))
        return manifest.status if manifest else None

    return [n for n in names if status(n) == "degraded"]


def build_html(layout: Layout, names: list[str], runs: dict[str, ChapterRun] | None = None) -> Path:
    """Build ``<tree>/html`` from the staging tree with Jupyter Book (no re-execution).

    The smoke book is strict (a Sphinx warning fails the build, after all of
    them are reported) unless a chapter of it is degraded: a reader without the
    data still gets a partial smoke book, whose notes on missing data may warn.
    """
    from jupyter_book.sphinx import build_sphinx
    from myst_nb.ext.glue.crossref import read_glue_cache

    _stage(layout, names, runs)
    # myst-nb memoises each notebook's glued values per process: a second build in the same
    # process (a test, a notebook) would otherwise quote the first build's values on other pages
    read_glue_cache.cache_clear()
    strict = ({"warningiserror": True, "keep_going": True}
              if layout.profile == "smoke" and not _degraded(layout, names, runs) else {})
    result = build_sphinx(
        str(layout.src), str(layout.html), noconfig=True,
        path_config=str(layout.src / "_config.yml"),
        confoverrides={"external_toc_path": (layout.src / "_toc.yml").as_posix(),
                       "latex_individualpages": False},
        quiet=True,
        **strict,
    )
    if isinstance(result, Exception) or result:
        raise RuntimeError(f"Jupyter Book failed to build {layout.html} ({result!r}); see above")
    return layout.html / "index.html"


#: environment variables holding paths that the notebooks' kernels read
PATH_VARIABLES = ("NPMK_MIRROR", "NPMK_CACHE")


def absolute_path_variables() -> None:
    """Make relative NPMK_MIRROR / NPMK_CACHE absolute: kernels run in another directory."""
    for var in PATH_VARIABLES:
        if os.environ.get(var):
            os.environ[var] = str(Path(os.environ[var]).expanduser().resolve())


def _run_chapters(names: list[str], layout: Layout, overrides: dict[str, str] | None = None,
                  force: bool = True) -> list[ChapterRun]:
    """Check every chapter's parameters, then execute (or reuse) each in turn."""
    from tqdm.auto import tqdm

    absolute_path_variables()
    profiles = load_profiles(layout.root / "data" / "profiles.yaml")
    todo = [prepare(n, layout, parameters_for(profiles, n, layout.profile), overrides) for n in names]
    runs = []
    bar = tqdm(todo, desc=f"chapters ({layout.profile})", unit="chapter", file=sys.stderr)
    for chapter in bar:
        bar.set_postfix_str(chapter.name)
        run = execute_chapter(chapter, layout, force=force)
        bar.write(f"  {chapter.name}: {_line(run)}", file=sys.stderr)
        runs.append(run)
    return runs


def _line(run: ChapterRun) -> str:
    """One line of the summary for one chapter."""
    if run.reused:
        return "complete (unchanged since its last run: reused)"
    if run.status == "complete":
        unglued = (f"; its prose quotes values it did not compute, shown as such: {', '.join(run.holes)}"
                   if run.holes else "")
        return f"complete ({run.seconds:.1f} s){unglued}"
    if run.status == "degraded":
        more = len(run.missing) - 2
        files = ", ".join(run.missing[:2]) + (f" and {more} more" if more > 0 else "")
        return f"degraded ({run.seconds:.1f} s): data not available: {files}"
    kept = (f"the book keeps its last good result ({run.kept})" if run.kept
            else "it has no earlier result; its page says so")
    return (f"FAILED in cell {run.error.cell_index} ({run.error.where}): "
            f"{run.error.error.splitlines()[0]}; {kept}")


@dataclass
class Report:
    """What a build did: the chapters it ran and where the HTML is (None with ``--no-html``)."""

    layout: Layout
    runs: list[ChapterRun]
    index: Path | None = None

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.runs)

    def summary(self, partial: bool = False) -> str:
        """A few lines for the terminal: chapters complete, degraded and failed, and why."""
        n = len(self.runs)
        reused = sum(r.reused for r in self.runs)
        lines = [f"npmk: {n} chapter{'s' * (n != 1)} ({self.layout.profile}): "
                 f"{self.count('complete')} complete"
                 + (f" ({reused} reused, unchanged)" if reused else "")
                 + f", {self.count('degraded')} degraded, {self.count('failed')} failed"]
        lines += [f"  {r.name}: {_line(r)}" for r in self.runs if r.status != "complete" or r.holes]
        for r in self.runs:
            if r.error is not None:
                lines.append(str(r.error))
        if self.count("degraded"):
            lines.append("degraded chapters lack registered data files: connect to the internet or set "
                         "NPMK_MIRROR to a data mirror (README, 'Data')"
                         + ("" if partial else ", or pass --partial to accept a partial book"))
        if self.index is not None:
            lines.append(f"book: {self.index}")
        return "\n".join(lines)

    def exit_status(self, partial: bool = False) -> int:
        """0 when every chapter is complete (degraded ones too with ``partial``); 1 on a failure, else 3."""
        if self.count("failed"):
            return 1
        return 3 if self.count("degraded") and not partial else 0


def _finish(layout: Layout, names: list[str], runs: list[ChapterRun], html: bool) -> Report:
    present = [n for n in names if layout.source(n).is_file()]
    index = build_html(layout, present, {r.name: r for r in runs}) if html else None
    return Report(layout, runs, index)


def build(profile: str = "default", only: str | None = None, html: bool = True,
          root: Path | None = None, build_dir: Path | None = None, force: bool = False) -> Report:
    """Execute the chapters (all with a source, or ``only``), reusing unchanged ones, and build the HTML.

    Every chapter's parameters are checked before the first one runs. A full
    build skips, with a warning, chapters whose ``notebooks/NAME.py`` does not
    exist yet; ``only`` naming such a chapter is an error. ``force``
    re-executes chapters whose inputs are unchanged.
    """
    layout = Layout.of(profile, root, build_dir)
    names = chapters(layout.root)
    if only is not None:
        if only not in names:
            raise ValueError(f"{only!r} is not a chapter of _toc.yml; chapters: {', '.join(names)}")
        todo = [only]
    else:
        todo = [n for n in names if layout.source(n).is_file()]
        missing = [n for n in names if n not in todo]
        if missing:
            print(f"warning: no source yet for {len(missing)} chapter(s), left out of the book: "
                  + ", ".join(f"notebooks/{n}.py" for n in missing), file=sys.stderr)
    return _finish(layout, names, _run_chapters(todo, layout, force=force), html)


def rerun(name: str, overrides: dict[str, str], profile: str = "default", html: bool = True,
          root: Path | None = None, build_dir: Path | None = None) -> Report:
    """Re-execute one chapter with ``overrides`` (command-line text) on top of the profile and rebuild."""
    layout = Layout.of(profile, root, build_dir)
    names = chapters(layout.root)
    if name not in names:
        raise ValueError(f"{name!r} is not a chapter of _toc.yml; chapters: {', '.join(names)}")
    return _finish(layout, names, _run_chapters([name], layout, overrides, force=True), html)


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"npmk {command}",
        epilog="exit status: 0 when every chapter run is complete; 1 when a chapter failed (its last "
               "good result stays in the book) or on an error; 3 when chapters lacked their data "
               "and --partial was not given")
    if command == "run":
        p.description = "Re-execute one chapter with parameters and rebuild the HTML."
        p.add_argument("name", help="chapter, e.g. measuring_stick (notebooks/NAME.py)")
        p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                       default=[], help="set a parameter; the value is read as the type of the chapter's "
                       "default (YAML: 0.9, 1e6, true, [1, 2]; text where the default is text)")
    else:
        p.description = "Execute the chapter notebooks with a profile and build the HTML book."
        p.add_argument("--only", metavar="NAME", help="execute only this chapter, then rebuild")
        p.add_argument("--force", action="store_true",
                       help="re-execute chapters whose source, parameters and package are unchanged")
    p.add_argument("--profile", choices=PROFILES, default="default",
                   help="parameter set from data/profiles.yaml (default: %(default)s)")
    p.add_argument("--partial", action="store_true",
                   help="accept chapters that lack their data (exit 0 with a partial book)")
    p.add_argument("--no-html", action="store_true", help="execute only; skip the HTML build")
    p.add_argument("--build-dir", type=Path, default=None,
                   help="where the per-profile build trees go (default: ./_build)")
    return p


def cli(argv: list[str]) -> int:
    """Entry point for ``npmk book`` and ``npmk run`` (``argv[0]`` is the command)."""
    command, rest = argv[0], argv[1:]
    args = _parser(command).parse_args(rest)
    try:
        if command == "run":
            report = rerun(args.name, parse_overrides(args.parameter), args.profile,
                           html=not args.no_html, build_dir=args.build_dir)
        else:
            report = build(args.profile, args.only, html=not args.no_html, build_dir=args.build_dir,
                           force=args.force)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"npmk {command}: error: {exc}", file=sys.stderr)
        return 1
    print(report.summary(args.partial))
    return report.exit_status(args.partial)
