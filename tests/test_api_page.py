"""The API page (book/api.md) documents every public module of the package, and only existing ones."""

from __future__ import annotations

import pkgutil
import re

import npmk


def test_api_page_lists_every_public_module(repo_root):
    page = (repo_root / "book" / "api.md").read_text()
    # a module is documented by automodule, or (npmk.measure, whose name is also the function's) by :module:
    documented = set(re.findall(r"^\.\. automodule:: (npmk\.\w+)|^   :module: (npmk\.\w+)", page, re.M))
    documented = {a or b for a, b in documented}
    public = {
        m.name
        for m in pkgutil.iter_modules(npmk.__path__, "npmk.")
        if not m.name.rsplit(".", 1)[1].startswith("_")
    }
    assert public - documented == set(), f"book/api.md does not document {sorted(public - documented)}"
    existing = {m.name for m in pkgutil.iter_modules(npmk.__path__, "npmk.")}
    assert documented - existing == set(), (
        f"book/api.md names modules that do not exist: {sorted(documented - existing)}"
    )
