"""Chapter parameters: the defaults a notebook declares, values from the command line, and type checks.

A chapter's ``parameters`` cell declares each parameter with a default
(``n_mc = 4_000_000``). The default's type is the parameter's type; an
annotation (``prose_corpus: str | None = "docstrings"``) states it explicitly,
and a default of ``None`` leaves it open unless a profile gives a value (the
profile's type is then allowed too). :func:`conform` checks a value against
that type before any chapter runs, so ``-p n_mc abc`` fails at once with the
parameter, the value and the type expected instead of deep inside a cell.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import yaml

__all__ = ["Declared", "ParameterTypeError", "declared_parameters", "parse_overrides", "conform",
           "conform_all"]

#: names an annotation in a parameters cell may use
_ANNOTATION_NAMES = {"int": int, "float": float, "str": str, "bool": bool, "list": list,
                     "dict": dict, "tuple": tuple, "None": type(None)}


class ParameterTypeError(ValueError):
    """A parameter value whose type does not match the chapter's declaration."""


@dataclass(frozen=True)
class Declared:
    """One parameter of a chapter's ``parameters`` cell.

    ``default`` is the literal default (None when it is not a Python literal);
    ``types`` the allowed types from an annotation, or () when there is none.
    """

    name: str
    default: object
    types: tuple[type, ...] = ()


def _annotation_types(node: ast.expr) -> tuple[type, ...]:
    """Types named by an annotation such as ``int``, ``str | None`` or ``list[float]`` (its origin)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _annotation_types(node.left) + _annotation_types(node.right)
    if isinstance(node, ast.Subscript):
        return _annotation_types(node.value)
    if isinstance(node, ast.Constant) and node.value is None:
        return (type(None),)
    if isinstance(node, ast.Name) and node.id in _ANNOTATION_NAMES:
        return (_ANNOTATION_NAMES[node.id],)
    raise ValueError(f"unsupported annotation {ast.unparse(node)!r} (use int, float, str, bool, "
                     "list, dict, tuple, None and |)")


def declared_parameters(nb) -> dict[str, Declared]:
    """{name: Declared} for the names assigned in the notebook's cell tagged ``parameters``.

    Raises ValueError when the notebook has no such cell: papermill would then
    silently inject parameters at the top, before the defaults.
    """
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            out: dict[str, Declared] = {}
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign):
                    targets, value, kinds = node.targets, node.value, ()
                elif isinstance(node, ast.AnnAssign):
                    targets, value = [node.target], node.value
                    kinds = _annotation_types(node.annotation)
                else:
                    continue
                try:
                    default = ast.literal_eval(value) if value is not None else None
                except ValueError:
                    default = None
                out.update({t.id: Declared(t.id, default, kinds) for t in targets if isinstance(t, ast.Name)})
            return out
    raise ValueError("the notebook has no code cell tagged 'parameters'")


def parse_overrides(pairs: list[list[str]] | None) -> dict[str, str]:
    """``[["key", "value"], ...]`` from ``-p key value`` into {key: text}; :func:`conform` reads the text."""
    out = {}
    for key, value in pairs or []:
        if not key.isidentifier():
            raise ValueError(f"parameter name {key!r} is not a Python identifier")
        out[key] = value
    return out


def _read_text(name: str, text: str, want: tuple[type, ...]):
    """A command-line value: YAML (``1e6`` read as a number) where that fits the parameter, else the
    text itself where a str is wanted (``-p label 123``), else the YAML value (to fail the type check)."""
    try:
        parsed = _number(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        if str in want:
            return text
        raise ParameterTypeError(f"cannot read the value of parameter {name!r}: {text!r} ({exc})") from exc
    if not want or str not in want:
        return parsed
    try:
        _coerce(parsed, want)
    except TypeError:
        return text
    return parsed


def _number(value):
    """'1e6' -> 1000000.0: YAML 1.1 reads exponents without a dot as strings."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _expected(decl: Declared, profile_value=None, has_profile: bool = False) -> tuple[type, ...]:
    """Types a value may have: the annotation's, else the default's (the profile's too where that is None)."""
    if decl.types:
        return decl.types
    if decl.default is None:
        return (type(None), type(profile_value)) if has_profile and profile_value is not None else ()
    return (type(decl.default),)


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join("None" if k is type(None) else k.__name__ for k in kinds)


def _coerce(value, want: tuple[type, ...], element_of=None):
    """``value`` converted to one of ``want`` where the conversion loses nothing, else raise TypeError."""
    if isinstance(value, bool):
        if bool in want:
            return value
        raise TypeError
    if isinstance(value, int) and int not in want and float in want:
        return float(value)
    if isinstance(value, float) and float not in want and int in want and value.is_integer():
        return int(value)
    for kind in want:
        if kind in (list, tuple) and isinstance(value, list | tuple):
            return [_coerce(_number(v), (element_of,)) if element_of else v for v in value]
        if kind is not bool and isinstance(value, kind):
            return value
    raise TypeError


def _element_type(default) -> type | None:
    """The one scalar type of a non-empty list default's elements (float where ints and floats mix)."""
    if not isinstance(default, list | tuple) or not default:
        return None
    kinds = {type(v) for v in default}
    if kinds <= {int, float} and float in kinds:
        return float
    kind = kinds.pop() if len(kinds) == 1 else None
    return kind if kind in (int, float, str, bool) else None


def conform(chapter: str, decl: Declared, value, *, from_text: bool = False,
            profile_value=None, has_profile: bool = False):
    """``value`` checked (and losslessly converted) against the type of parameter ``decl``.

    ``from_text``: the value is command-line text, read as YAML unless the
    parameter is a str. An integral float becomes an int where an int is
    expected (``-p n 1e6``), an int a float where a float is. Raises
    :class:`ParameterTypeError` naming the chapter, parameter, value and
    expected type.
    """
    want = _expected(decl, profile_value, has_profile)
    if from_text:
        value = _read_text(decl.name, value, want)
    if not want:
        return value
    try:
        return _coerce(value, want, _element_type(decl.default))
    except TypeError:
        what = f"the default is {decl.default!r}" if not decl.types else "its annotation"
        raise ParameterTypeError(
            f"chapter {chapter!r}: parameter {decl.name} = {value!r} is a {type(value).__name__}, "
            f"expected {_names(want)}"
            + (" of " + _element_type(decl.default).__name__ if _element_type(decl.default) else "")
            + f" ({what})") from None


def conform_all(chapter: str, declared: dict[str, Declared], profile: dict,
                overrides: dict[str, str]) -> dict:
    """The parameters a chapter runs with: ``profile`` values, then command-line ``overrides``, each checked.

    Raises ValueError for a name the parameters cell does not declare and
    :class:`ParameterTypeError` for a value of the wrong type.
    """
    unknown = sorted((set(profile) | set(overrides)) - set(declared))
    if unknown:
        raise ValueError(f"chapter {chapter!r}: unknown parameter(s) {', '.join(unknown)}; "
                         f"its parameters cell declares {', '.join(sorted(declared)) or 'none'}")
    out = {k: conform(chapter, declared[k], v, profile_value=v, has_profile=True) for k, v in profile.items()}
    for k, text in overrides.items():
        out[k] = conform(chapter, declared[k], text, from_text=True,
                         profile_value=profile.get(k), has_profile=k in profile)
    return out
