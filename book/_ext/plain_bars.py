"""Sphinx hook for the API page: read the package's plain-text docstrings as written.

The package's docstrings are written for ``help()``, not for reStructuredText.
Before autodoc parses one, this hook

* escapes the bars of |w| and |A| (reST substitutions) and lone asterisks
  (reST emphasis), outside inline literals and doctest lines;
* turns an ``Examples`` heading underlined with dashes into a rubric (a
  section title is not allowed inside a docstring);
* joins an indented continuation line to the paragraph it continues, and puts
  a blank line where a list or an indented block ends or a bullet list starts,
  as reST requires;
* makes an indented block after a paragraph and a blank line a literal block
  (the docstrings' formulas and listings), and turns a ``::`` that introduces no
  indented block into ``:``.
"""

from __future__ import annotations

import re

_UNDERLINE = re.compile(r"^\s*-{3,}\s*$")
_BULLET = re.compile(r"^\s*[*-] \S")
_LONE_STAR = re.compile(r"(?<![*\\])\*(?!\*)")
_TABLE_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _escape(line: str) -> str:
    if line.lstrip().startswith((">>>", "...")):
        return line
    lead = len(line) - len(line.lstrip("* -")) if _BULLET.match(line) else 0
    head, body = line[:lead], line[lead:]
    parts = body.split("``")
    # even parts are outside ``literals``
    parts = [_LONE_STAR.sub(r"\*", p.replace("|", r"\|")) if i % 2 == 0 else p for i, p in enumerate(parts)]
    return head + "``".join(parts)


def _rubrics(lines: list[str]) -> list[str]:
    out: list[str] = []
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _UNDERLINE.match(line) and out and out[-1] == "":
            continue  # the underline of a heading already turned into a rubric
        if line.strip() and _UNDERLINE.match(nxt):
            out += [f"{' ' * _indent(line)}.. rubric:: {line.strip()}", ""]
            continue
        out.append(line)
    return out


def _table_lines(lines: list[str]) -> set[int]:
    """Indices of the lines of reST simple tables: from a ===== border to one followed by a blank line."""
    inside: set[int] = set()
    start = None
    for i, line in enumerate(lines):
        if _TABLE_BORDER.match(line):
            if start is None:
                start = i
            elif i + 1 == len(lines) or not lines[i + 1].strip():
                inside.update(range(start, i + 1))
                start = None
    return inside


def _blocks(lines: list[str]) -> list[str]:
    out: list[str] = []
    para_start = True  # the previous non-blank line opened its paragraph
    in_literal = None  # indent of the line that opened a literal (::) or doctest block
    table = _table_lines(lines)  # reST simple tables are left as written
    for idx, line in enumerate(lines):
        prev = out[-1] if out else ""
        if idx in table:
            out.append(line)
            continue
        if not line.strip():
            out.append(line)
            para_start = True
            continue
        if in_literal is not None:
            if _indent(line) > in_literal or line.lstrip().startswith((">>>", "...")):
                out.append(line)
                continue
            in_literal = None
        if prev.strip():
            if (
                _indent(line) > _indent(prev)
                and not prev.rstrip().endswith("::")
                and not para_start
                and not _BULLET.match(prev)
            ):
                line = " " * _indent(prev) + line.lstrip()  # a continuation of the paragraph
            elif _indent(line) < _indent(prev) or (
                _BULLET.match(line) and not _BULLET.match(prev) and _indent(line) == _indent(prev)
            ):
                out.append("")  # reST wants a blank line where a block ends or a list starts
        if line.rstrip().endswith("::"):
            in_literal = _indent(line)
        elif line.lstrip().startswith(">>>"):
            in_literal = _indent(line) - 1
        para_start = not prev.strip()
        out.append(line)
    return out


def _literals_have_blocks(lines: list[str]) -> list[str]:
    out = list(lines)
    for i, line in enumerate(out):
        nxt_i = next((j for j in range(i + 1, len(out)) if out[j].strip()), None)
        if (
            line.strip()
            and not line.rstrip().endswith("::")
            and nxt_i is not None
            and nxt_i > i + 1
            and _indent(out[nxt_i]) > _indent(line)
            and not out[nxt_i].lstrip().startswith(">>>")
            and not _BULLET.match(line)
            and not line.strip().startswith("..")
        ):
            # an indented block after a paragraph is a formula or a listing: literal
            out[i] = line.rstrip() + (":" if line.rstrip().endswith(":") else " ::")
            continue
        if line.rstrip().endswith("::") and not line.strip().startswith(".."):
            nxt = next((x for x in out[i + 1 :] if x.strip()), "")
            if _indent(nxt) <= _indent(line):
                out[i] = line.rstrip()[:-1]  # "::" with no indented block after it: a plain colon
    return out


def plain_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    lines[:] = [_escape(x) for x in _literals_have_blocks(_blocks(_rubrics(lines)))]


def setup(app):
    app.connect("autodoc-process-docstring", plain_docstring)
    return {"parallel_read_safe": True}
