"""``import npmk`` stays light: the exports load on first use, not at import."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str, repo_root) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_import_npmk_does_not_import_torch(repo_root):
    assert _run("import npmk, sys; print('torch' in sys.modules)", repo_root) == "False"


def test_exports_resolve_on_use(repo_root):
    code = ("import npmk, sys; from npmk import fit, fit_mle, WeibullFit, halfnormal_anchor, measure; "
            "print(all(callable(f) for f in (fit, fit_mle, WeibullFit, halfnormal_anchor, measure)), "
            "'torch' in sys.modules)")
    assert _run(code, repo_root) == "True True"
