"""The book pipeline: execute the chapter notebooks with a profile, then build the HTML.

``npmk book [--profile smoke|default|full] [--only NAME] [--no-html]`` runs every
chapter named in ``_toc.yml`` (``notebooks/executed/NAME``) from its jupytext
source ``notebooks/NAME.py`` through papermill, with the parameters that
``data/profiles.yaml`` gives that notebook under that profile (a notebook's own
``parameters`` cell holds its defaults; a profile lists only what it changes).

Each profile has its own build tree, so the quick ``smoke`` build of the tests
never overwrites the ``default`` book a reader built::

    _build/<profile>/src/            staging copy of the book, the Sphinx source
        _config.yml  _toc.yml  book/  static/
        notebooks/executed/NAME.ipynb   executed chapters (written only on success)
    _build/<profile>/running/NAME.ipynb         a chapter while it executes
    _build/<profile>/failed/NAME.failed.ipynb   partial output of a failing chapter
    _build/<profile>/html/index.html            the book

``npmk run NAME -p key value ...`` re-executes one chapter with parameters on top
of the profile's and rebuilds the HTML.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from npmk._files import write_atomic

__all__ = [
    "PROFILES",
    "ChapterFailed",
    "Layout",
    "chapters",
    "load_profiles",
    "parameters_for",
    "declared_parameters",
    "parse_overrides",
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
            f"chapter {chapter!r} failed in cell {cell_index} ({where}):\n{excerpt}\n"
            f"{error}{kept}\nNo result was written for {chapter!r}; the build stopped."
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


def declared_parameters(nb) -> dict[str, object]:
    """{name: default} for the names assigned in the notebook's cell tagged ``parameters``.

    A default that is not a Python literal is reported as None.  Raises
    ValueError when the notebook has no such cell: papermill would then
    silently inject parameters at the top, before the defaults.
    """
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            names: dict[str, object] = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign):
                    targets, value = node.targets, node.value
                elif isinstance(node, ast.AnnAssign):
                    targets, value = [node.target], node.value
                else:
                    continue
                try:
                    default = ast.literal_eval(value) if value is not None else None
                except ValueError:
                    default = None
                names.update({t.id: default for t in targets if isinstance(t, ast.Name)})
            return names
    raise ValueError("the notebook has no code cell tagged 'parameters'")


def _like_default(value, default):
    """An integral float (``-p n 1e6``) becomes an int where the default is an int."""
    if (isinstance(default, int) and not isinstance(default, bool)
            and isinstance(value, float) and value.is_integer()):
        return int(value)
    return value


def parse_overrides(pairs: list[list[str]] | None) -> dict:
    """``[["key", "value"], ...]`` from ``-p key value`` into {key: YAML-parsed value}.

    ``-p trim 0.9`` gives 0.9, ``-p n 1e5`` 100000.0 (YAML alone would read a
    string), ``-p name bert`` the string, ``-p fast true`` True, ``-p sizes
    "[1, 2]"`` a list, ``-p model null`` None.
    """
    out = {}
    for key, value in pairs or []:
        if not key.isidentifier():
            raise ValueError(f"parameter name {key!r} is not a Python identifier")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ValueError(f"cannot parse the value of parameter {key!r}: {value!r} ({exc})") from exc
        if isinstance(parsed, str):
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        out[key] = parsed
    return out


def _atomic_write_notebook(nb, path: Path) -> None:
    import nbformat

    buf = io.StringIO()
    nbformat.write(nb, buf)
    write_atomic(path, buf.getvalue().encode("utf-8"))


def _where(src: Path, root: Path, cell_source: str) -> str:
    """'notebooks/NAME.py line N' for a cell's source, when it can be found verbatim."""
    text = src.read_text()
    first = cell_source.strip().splitlines()[0] if cell_source.strip() else ""
    pos = text.find(cell_source.strip()) if cell_source.strip() else -1
    if pos < 0 and first:
        pos = text.find(first)
    rel = src.relative_to(root) if src.is_relative_to(root) else src
    return f"{rel} line {text.count(chr(10), 0, pos) + 1}" if pos >= 0 else str(rel)


def _show_parameters(nb, profile: str, params: dict, overrides: dict) -> None:
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
        how = (f"`npmk run` (profile `{profile}`, changed on the command line: "
               + ", ".join(f"`{k}`" for k in overrides) + ")") if overrides else \
            f"`npmk book --profile {profile}`"
        note = nbformat.v4.new_markdown_cell(
            f"*This page was executed by {how} with these values in place of the defaults "
            f"above: {values}.*")
        note.metadata["tags"] = ["npmk-parameters-note"]
        nb.cells.insert(i + 1, note)
        return


def execute_chapter(name: str, layout: Layout, parameters: dict | None = None,
                    overrides: dict | None = None) -> Path:
    """Execute ``notebooks/NAME.py`` into ``<tree>/src/notebooks/executed/NAME.ipynb``.

    ``parameters`` default to the profile's; ``overrides`` go on top.  The
    kernel runs in the executed notebook's folder, as it does under nbval, so a
    chapter must locate files through npmk, never relative to its cwd.  The
    result is written atomically and only on success; on failure any earlier
    result of the chapter is removed, the partial notebook is kept as
    ``<tree>/failed/NAME.failed.ipynb`` and :class:`ChapterFailed` is raised.
    """
    import jupytext
    import papermill as pm

    src = layout.source(name)
    if not src.is_file():
        raise FileNotFoundError(f"chapter {name!r} has no source: {src} does not exist")
    nb = jupytext.read(src, fmt="py:percent")  # the convention for every chapter source
    if parameters is None:
        parameters = parameters_for(load_profiles(layout.root / "data" / "profiles.yaml"),
                                    name, layout.profile)
    params = {**parameters, **(overrides or {})}
    try:
        declared = declared_parameters(nb)
    except ValueError as exc:
        raise ValueError(f"chapter {name!r} ({src}): {exc}") from None
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise ValueError(f"chapter {name!r}: unknown parameter(s) {', '.join(unknown)}; "
                         f"its parameters cell declares {', '.join(sorted(declared)) or 'none'}")
    params = {k: _like_default(v, declared[k]) for k, v in params.items()}

    out = layout.executed / f"{name}.ipynb"
    failed = layout.failed / f"{name}.failed.ipynb"
    # papermill saves after every cell; that partial notebook lives outside
    # executed/ so that neither the HTML nor nbval ever sees it
    tmp = layout.tree / "running" / f"{name}.ipynb"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    layout.executed.mkdir(parents=True, exist_ok=True)
    os.environ["NPMK_PROFILE"] = layout.profile  # the page's rerun note (npmk.page) names it
    try:
        executed = pm.execute_notebook(
            nb, str(tmp), parameters=params, kernel_name="python3", language="python",
            progress_bar=False, cwd=str(layout.executed),
        )
    except pm.PapermillExecutionError as exc:
        out.unlink(missing_ok=True)  # an older result of this chapter must not pass as current
        failed.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, failed)
        raise ChapterFailed(name, exc.cell_index, _where(src, layout.root, exc.source),
                            exc.source, f"{exc.ename}: {exc.evalue}", failed) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.unlink(missing_ok=True)
    _show_parameters(executed, layout.profile, params, overrides or {})
    _atomic_write_notebook(executed, out)
    failed.unlink(missing_ok=True)
    return out


def _stage(layout: Layout, present: list[str]) -> None:
    """Copy the book's files into the staging tree, with a toc of the present chapters."""
    layout.src.mkdir(parents=True, exist_ok=True)
    for item in BOOK_FILES:
        src, dst = layout.root / item, layout.src / item
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst)
        elif src.is_file():
            shutil.copy2(src, dst)
    toc = yaml.safe_load((layout.root / "_toc.yml").read_text())
    keep = {f"{EXECUTED.as_posix()}/{n}" for n in present}

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


def build_html(layout: Layout, present: list[str]) -> Path:
    """Build ``<tree>/html`` from the staging tree with Jupyter Book (no re-execution)."""
    from jupyter_book.sphinx import build_sphinx

    _stage(layout, present)
    result = build_sphinx(
        str(layout.src), str(layout.html), noconfig=True,
        path_config=str(layout.src / "_config.yml"),
        confoverrides={"external_toc_path": (layout.src / "_toc.yml").as_posix(),
                       "latex_individualpages": False},
        quiet=True,
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


def _run_chapters(names: list[str], layout: Layout, overrides: dict | None = None) -> None:
    from tqdm.auto import tqdm

    absolute_path_variables()
    profiles = load_profiles(layout.root / "data" / "profiles.yaml")
    bar = tqdm(names, desc=f"chapters ({layout.profile})", unit="chapter", file=sys.stderr)
    for name in bar:
        bar.set_postfix_str(name)
        t0 = time.perf_counter()
        execute_chapter(name, layout, parameters_for(profiles, name, layout.profile), overrides)
        bar.write(f"  {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def _present(names: list[str], layout: Layout) -> list[str]:
    """Chapters with both a source and an executed notebook in this profile's tree."""
    return [n for n in names if layout.source(n).is_file()
            and (layout.executed / f"{n}.ipynb").is_file()]


def build(profile: str = "default", only: str | None = None, html: bool = True,
          root: Path | None = None, build_dir: Path | None = None) -> Layout:
    """Execute the chapters (all present ones, or ``only``) and build the HTML.

    A full build skips, with a warning, chapters whose ``notebooks/NAME.py`` does
    not exist yet; ``only`` naming such a chapter is an error.
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
    _run_chapters(todo, layout)
    if html:
        index = build_html(layout, _present(names, layout))
        print(f"book: {index}")
    return layout


def rerun(name: str, overrides: dict, profile: str = "default", html: bool = True,
          root: Path | None = None, build_dir: Path | None = None) -> Layout:
    """Re-execute one chapter with ``overrides`` on top of the profile and rebuild."""
    layout = Layout.of(profile, root, build_dir)
    names = chapters(layout.root)
    if name not in names:
        raise ValueError(f"{name!r} is not a chapter of _toc.yml; chapters: {', '.join(names)}")
    _run_chapters([name], layout, overrides)
    if html:
        index = build_html(layout, _present(names, layout))
        print(f"book: {index}")
    return layout


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"npmk {command}")
    if command == "run":
        p.description = "Re-execute one chapter with parameters and rebuild the HTML."
        p.add_argument("name", help="chapter, e.g. measuring_stick (notebooks/NAME.py)")
        p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("KEY", "VALUE"),
                       default=[], help="set a parameter (value read as YAML: 0.9, 1e6, true, [1, 2])")
    else:
        p.description = "Execute the chapter notebooks with a profile and build the HTML book."
        p.add_argument("--only", metavar="NAME", help="execute only this chapter, then rebuild")
    p.add_argument("--profile", choices=PROFILES, default="default",
                   help="parameter set from data/profiles.yaml (default: %(default)s)")
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
            rerun(args.name, parse_overrides(args.parameter), args.profile,
                  html=not args.no_html, build_dir=args.build_dir)
        else:
            build(args.profile, args.only, html=not args.no_html, build_dir=args.build_dir)
    except (ChapterFailed, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"npmk {command}: error: {exc}", file=sys.stderr)
        return 1
    return 0
