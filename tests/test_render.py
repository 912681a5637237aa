"""The built smoke book as a reader's browser sees it: typeset math, figures, no CDN.

Uses the HTML of ``npmk book --profile smoke`` in ``_build/smoke/html`` (the
README's test command builds it first) and builds it if it is not there.
Headless Chromium must be installed (Debian package ``chromium``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from myst_nb.core.variables import format_plain_text

from npmk import book

CHAPTER = "notebooks/executed/measuring_stick.html"
#: attributes that make a browser fetch something when the page loads
FETCHING = {("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"),
            ("source", "src"), ("video", "src"), ("audio", "src"), ("embed", "src"),
            ("object", "data"), ("img", "srcset"), ("source", "srcset")}
EXTERNAL = re.compile(r"^\s*(https?:)?//", re.I)


@pytest.fixture(scope="session")
def smoke_html(repo_root) -> Path:
    html = book.Layout.of("smoke", repo_root).html
    if not (html / CHAPTER).is_file():
        book.build("smoke", root=repo_root)
    assert (html / CHAPTER).is_file(), f"the smoke build did not produce {html / CHAPTER}"
    return html


@pytest.fixture(scope="session")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.fail("headless Chromium is needed: apt-get install -y chromium (the README's test command does)")


def _dump_dom(chromium: str, page: Path, profile_dir: Path) -> str:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--no-first-run",
           f"--user-data-dir={profile_dir}", "--virtual-time-budget=20000", "--dump-dom",
           page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"chromium failed on {page}: {done.stderr[-2000:]}"
    return done.stdout


def test_chapter_math_is_typeset_in_chromium(smoke_html, chromium, tmp_path):
    page = smoke_html / CHAPTER
    static = page.read_text()
    n_math = len(re.findall(r'class="math notranslate nohighlight"', static))
    assert n_math >= 5, "the chapter should contain inline and display math"
    assert re.search(r'<script[^>]+src="[./]*_static/mathjax/tex-mml-chtml\.js', static)

    dom = _dump_dom(chromium, page, tmp_path / "chromium")
    typeset = dom.count("<mjx-container")
    assert typeset >= n_math, f"MathJax typeset {typeset} of {n_math} math spans"
    # figures are local images, and glued numbers made it into the prose
    assert len(re.findall(r'<img[^>]+src="[./]*_images/[^"]+\.png"', dom)) >= 2
    assert "1.20543" in dom  # the glued quadrature anchor k0, formatted .5f


class _Fetches(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self._in_style = tag == "style"
        for name, value in attrs:
            if (tag, name) in FETCHING and value and EXTERNAL.match(value):
                self.urls.append(f"<{tag} {name}={value}>")

    def handle_data(self, data):
        if self._in_style:
            self.urls += [f"<style> {u}" for u in _css_urls(data)]


def _css_urls(css: str) -> list[str]:
    return re.findall(r"""(?:url\(\s*['"]?|@import\s+['"])((?:https?:)?//[^'")\s]+)""", css)


def test_no_page_requests_a_cdn(smoke_html):
    pages = sorted(smoke_html.rglob("*.html"))
    assert len(pages) >= 4
    offenders = {}
    for page in pages:
        parser = _Fetches()
        parser.feed(page.read_text(errors="replace"))
        if parser.urls:
            offenders[str(page.relative_to(smoke_html))] = parser.urls
    for css in smoke_html.joinpath("_static").rglob("*.css"):
        if urls := _css_urls(css.read_text(errors="replace")):
            offenders[str(css.relative_to(smoke_html))] = urls
    assert not offenders, f"pages that would fetch from the network: {offenders}"


def test_cdn_scan_catches_external_requests():
    """The scanner itself flags what it must (guards the test above against passing vacuously)."""
    parser = _Fetches()
    parser.feed('<a href="https://arxiv.org/abs/1">cite</a>'
                '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'
                '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Lato">'
                '<style>@import "https://fonts.example/x.css";</style>')
    assert len(parser.urls) == 3
    assert not any("arxiv" in u for u in parser.urls)


GLUE_REF = re.compile(r"\{glue:text\}`(?:([^`:]+\.ipynb)::)?([A-Za-z0-9_.]+)(?::([^`]*))?`")


def _glued(nb_path: Path) -> dict[str, str]:
    """{key: text/plain} of every myst-nb glue output in an executed notebook."""
    nb = nbformat.read(nb_path, as_version=4)
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            record = o.get("metadata", {}).get("scrapbook", {})
            if key := record.get("name"):
                data = o.get("data", {})
                out[key] = data.get(record.get("mime_prefix", "") + "text/plain",
                                    data.get("text/plain", ""))
    return out


def test_glue_references_resolve_and_format(smoke_html):
    """Every {glue:text}`key:spec` on a built chapter page, or pointing at a built
    chapter from book/*.md, names a glued value that the spec can format (numpy
    scalars glue as 'np.float64(...)', which myst-nb silently drops); a reference
    to another page carries a spec (``path::key`` alone is misparsed)."""
    src = smoke_html.parent / "src"
    executed = {p.stem: p for p in (src / book.EXECUTED).glob("*.ipynb")}
    problems = []
    refs = [(p, None, nbformat.reads(p.read_text(), as_version=4)) for p in executed.values()]
    for page, _, nb in refs:
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        for _, key, spec in GLUE_REF.findall(text):
            problems += _check(page.stem, executed[page.stem], key, spec)
    for md in (src / "book").glob("*.md"):
        for target, key, spec in GLUE_REF.findall(md.read_text()):
            stem = Path(target).stem
            if target and not spec:  # myst-nb would read 'path:' as the key and the key as a spec
                problems.append(f"book/{md.name}: {target}::{key} needs a format spec, e.g. ':s'")
            elif target and stem in executed:  # rows of chapters not in this build are skipped
                problems += _check(f"book/{md.name}", executed[stem], key, spec)
    assert executed, "no executed chapters in the smoke build"
    assert not problems, "\n".join(problems)


def _check(where: str, nb_path: Path, key: str, spec: str) -> list[str]:
    glued = _glued(nb_path)
    if key not in glued:
        return [f"{where}: glue key {key!r} is not glued in {nb_path.name}"]
    if not spec:
        return []
    try:
        format_plain_text(glued[key], spec)  # what myst-nb does when it pastes the value
    except (ValueError, TypeError) as exc:
        return [f"{where}: {key!r} = {glued[key]!r} cannot be formatted with {spec!r} ({exc})"]
    return []
