"""Imports run one way: loaders → _load → _transport | _frames → errors. Read from the source.

Every ``import`` of the package (at module level or inside a function; not under
``if TYPE_CHECKING:``) is checked against the layer of the module it is in: a module may import
its own group and any lower layer, never a higher one or a sibling group of its own layer, and
no chain of imports may lead back to where it started.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "loketvalinso"

#: group → (layer, the groups of the same layer it may import besides its own)
GROUPS: dict[str, tuple[int, frozenset[str]]] = {
    "base": (0, frozenset()),
    "mock": (1, frozenset()),
    "_frames": (1, frozenset()),
    "_transport": (1, frozenset()),
    "_load": (2, frozenset()),
    "loaders": (3, frozenset()),
    "apps": (4, frozenset()),
    "top": (5, frozenset()),
}
BASE = {"errors", "_version", "_dates", "_catalog", "_json", "_logging"}
LOADERS = {
    "_client",
    "_config",
    "_loket",
    "_loket_base",
    "_loket_leave_writes",
    "_loket_resources",
    "_loket_writes",
    "_valinso",
    "_valinso_paths",
    "_valinso_writes",
    "_writes",
    "cache",
}
APPS = {"_dataset", "_parquet", "charts", "dlt_source", "report", "snapshots", "widgets"}
TOP = {"__init__", "__main__", "_cli"}
#: what the mock may use of the client package: nothing but the error tree
MOCK_ALLOWED = {"loketvalinso.errors"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def group_of(module: str) -> str:
    parts = module.split(".")
    head = parts[1] if len(parts) > 1 else "__init__"
    if head in ("_frames", "_transport", "_load", "mock"):
        return head
    for name, members in (("base", BASE), ("loaders", LOADERS), ("apps", APPS), ("top", TOP)):
        if head in members:
            return name
    msg = f"{module}: no layer declared for it in tests/test_layers.py"
    raise AssertionError(msg)


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of the package in ``path`` that runs."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                continue
            if isinstance(child, ast.Import):
                found.extend((child.lineno, a.name) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    # "from loketvalinso._load import walk" imports a module
                    candidate = f"{base}.{alias.name}"
                    found.append((child.lineno, candidate if _is_module(candidate) else base))
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return [(line, name) for line, name in found if name.split(".")[0] == "loketvalinso"]


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (PACKAGE / rel).with_suffix(".py").exists() or (PACKAGE / rel / "__init__.py").exists()


def graph() -> dict[str, list[tuple[int, str]]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_layer() -> None:
    for module in graph():
        group_of(module)


def violations(imports_by_module: dict[str, list[tuple[int, str]]]) -> list[str]:
    wrong = []
    for module, imports in imports_by_module.items():
        group = group_of(module)
        layer, siblings = GROUPS[group]
        for line, target in imports:
            if target == "loketvalinso":
                if group != "top":
                    wrong.append(f"{module}:{line} imports the package root")
                continue
            if group == "mock":
                if group_of(target) != "mock" and target not in MOCK_ALLOWED:
                    wrong.append(f"{module}:{line} → {target} (the mock uses only errors)")
                continue
            other = group_of(target)
            other_layer, _ = GROUPS[other]
            if other == group or other_layer < layer or other in siblings:
                continue
            wrong.append(f"{module}:{line} → {target} ({group} may not import {other})")
    return wrong


def test_no_upward_or_sideways_import() -> None:
    wrong = violations(graph())
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle() -> None:
    edges = {m: sorted({t for _, t in imports if t != m}) for m, imports in graph().items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, []):
            if nxt == "loketvalinso" or nxt.endswith(".__main__"):
                continue  # the package root only names its submodules lazily
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := walk(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for module in edges:
        if module not in state and (cycle := walk(module)):
            pytest.fail("import cycle: " + " → ".join(cycle))


def test_the_checks_catch_a_wrong_import() -> None:
    """The rules are not vacuous: upward and sideways imports are found."""
    probe = {
        "loketvalinso._transport.probe": [(1, "loketvalinso._load.walk")],
        "loketvalinso._frames.probe": [(2, "loketvalinso._transport.cache")],
        "loketvalinso._load.probe": [(3, "loketvalinso._loket")],
        "loketvalinso.mock.probe": [(4, "loketvalinso._frames.spec")],
        "loketvalinso._loket": [(5, "loketvalinso._load.walk")],  # allowed: downward
    }
    wrong = violations(probe)
    assert len(wrong) == 4
    assert "_transport may not import _load" in wrong[0]
    assert "_frames may not import _transport" in wrong[1]
    assert "_load may not import loaders" in wrong[2]
    assert "the mock uses only errors" in wrong[3]
