"""The package's import graph, read from its source: no cycle, and no private name borrowed.

A cycle means two modules are one idea split in two, and the order they load in decides what
works; a `_name` imported from another module is a helper that belongs in a shared module of its
own. Every import counts, function-local ones too: they are edges all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import keyrings_gar

PACKAGE = Path(keyrings_gar.__file__).parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("keyrings_gar", *path.relative_to(PACKAGE).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str]]:
    """(imported module, imported name or "") for every import of the package's own modules."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    edges = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:
                    edges.append((f"{target}.{alias.name}", ""))
                elif target in modules:
                    edges.append((target, alias.name))
        elif isinstance(node, ast.Import):
            edges += [(alias.name, "") for alias in node.names if alias.name in modules]
    return edges


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {module: {target for target, _ in _imports(module, path, modules)} for module, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return [*stack[stack.index(target):], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)) is not None:
            return found
    return None


def test_the_package_has_no_import_cycle() -> None:
    assert _cycle(_graph()) is None


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_imports_another_modules_private_names() -> None:
    modules = _modules()
    borrowed = [f"{module} imports {name} from {target}"
                for module, path in modules.items()
                for target, name in _imports(module, path, modules)
                if name.startswith("_") and not name.startswith("__") and target != module]
    assert borrowed == []


def test_the_graph_sees_relative_and_function_local_imports() -> None:
    graph = _graph()
    assert "keyrings_gar.hosts" in graph["keyrings_gar.backend"]
    assert "keyrings_gar.access_token" in graph["keyrings_gar.cache"]
