"""npmk's modules import each other in one direction: the import graph has no cycle."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import npmk

PACKAGE = Path(npmk.__file__).parent


def _module_of(path: Path) -> str:
    return "npmk" if path.name == "__init__.py" else f"npmk.{path.stem}"


def _imports(path: Path) -> set[str]:
    """npmk modules that ``path`` imports anywhere (top level or inside functions)."""
    here = _module_of(path)
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "npmk" if node.level else (node.module or "")
            if node.level and node.module:
                base = f"npmk.{node.module}"
            # "from npmk import x" names a submodule when npmk/x.py exists
            names = [f"{base}.{a.name}" if (PACKAGE / f"{a.name}.py").is_file() and base == "npmk" else base
                     for a in node.names]
        else:
            continue
        out |= {n for n in names if n.startswith("npmk.") and n != here}
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the npmk modules it imports."""
    return {_module_of(path): _imports(path) for path in sorted(PACKAGE.glob("*.py"))}


def test_graph_sees_the_imports():
    g = import_graph()
    # top-level, relative and function-level imports are all edges
    assert "npmk.train" in g["npmk.runs"] and "npmk.runconfig" in g["npmk.train"]
    assert "npmk.forces" in g["npmk.dynamics"]
    assert "npmk.models" in g["npmk.runconfig"]  # imported inside RunConfig.resolved


def test_a_cycle_would_be_found():
    with pytest.raises(CycleError):
        TopologicalSorter({**import_graph(), "npmk.models": {"npmk.runs"}}).prepare()


def test_npmk_imports_have_no_cycle():
    try:
        TopologicalSorter(import_graph()).prepare()
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def _layers() -> list[tuple[str, list[str]]]:
    """The package docstring's module map: [(layer title, [module, ...]), ...] in order."""
    text = npmk.__doc__.split("The modules, by layer", 1)[1].split("\n\n")[1]
    layers: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("    "):
            layers[-1][1].append(f"npmk.{line.split()[0]}")
        else:
            layers.append((line.strip(), []))
    return layers


def test_package_docstring_maps_every_module_once():
    listed = [m for _, mods in _layers() for m in mods]
    assert len(listed) == len(set(listed))
    assert set(listed) == set(import_graph()) - {"npmk", "npmk.__main__"}


def test_layers_import_only_upward_or_the_shared_modules():
    layers = _layers()
    assert layers[-1][0] == "Shared by every layer"
    shared = set(layers[-1][1])
    rank = {m: i for i, (_, mods) in enumerate(layers[:-1]) for m in mods}
    wrong = [f"{a} -> {b}" for a, targets in import_graph().items() if a in rank
             for b in targets if b not in shared and rank[b] > rank[a]]
    assert not wrong, f"imports from a lower layer: {wrong}"
