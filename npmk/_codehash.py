"""A hash of the code that shapes a cached result, so a code change drops the result and a doc edit keeps it."""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
from functools import cache

__all__ = ["code_hash", "MEASURING"]

#: Modules whose code decides a fit's numbers: readers, skeleton, counting, fitting, spectra, the sweep's rows.
MEASURING = ("npmk.tensorfile", "npmk.checkpoints", "npmk.gguf_checkpoint", "npmk.ctranslate2_checkpoint",
             "npmk.skeleton", "npmk.counts", "npmk.weibull", "npmk._measure", "npmk.spectra", "npmk.sweep")


def without_docstrings(tree: ast.Module) -> ast.Module:
    """``tree`` with the docstring of every module, class and function removed (in place)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


@cache
def code_hash(modules: tuple[str, ...] = MEASURING) -> str:
    """sha256 (hex) of the syntax trees of ``modules`` without docstrings (comments are not in a
    tree), so an edit of documentation or doctests keeps cached results and a code change drops them."""
    h = hashlib.sha256()
    for mod in modules:
        tree = without_docstrings(ast.parse(inspect.getsource(importlib.import_module(mod))))
        h.update(ast.dump(tree).encode())
    return h.hexdigest()
