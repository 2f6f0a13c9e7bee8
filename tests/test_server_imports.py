"""The shape of ``server/``: no import cycle between its modules and no import inside a function
(except ``server/cli.py``, which imports the app only for the command that needs it), read from
the source's AST."""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parent.parent / "server"
LAZY_IMPORTS_ALLOWED = {"server.cli"}


def _modules() -> dict[str, ast.Module]:
    modules = {}
    for path in sorted(SERVER.rglob("*.py")):
        parts = path.relative_to(SERVER.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = ast.parse(path.read_text(), str(path))
    return modules


def _package(name: str, path_is_package: bool) -> str:
    return name if path_is_package else name.rpartition(".")[0]


def _imports(name: str, tree: ast.Module, modules: dict) -> set[str]:
    """The ``server`` modules ``name`` imports at module level (``if TYPE_CHECKING:`` included:
    a cycle hidden behind it is still a cycle)."""
    is_package = (SERVER.parent / name.replace(".", "/") / "__init__.py").exists()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(name, is_package)
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    # Importing a submodule runs its package's __init__ first.
    for target in list(found):
        parent = target.rpartition(".")[0]
        while parent and parent != "server":
            if parent in modules and parent != name and not name.startswith(parent + "."):
                found.add(parent)
            parent = parent.rpartition(".")[0]
    return found


def test_no_import_inside_a_function():
    lazy = []
    for name, tree in _modules().items():
        if name in LAZY_IMPORTS_ALLOWED:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        lazy.append(f"{name}:{inner.lineno}")
    assert lazy == []


def test_no_import_cycle():
    modules = _modules()
    graph = {name: _imports(name, tree, modules) for name, tree in modules.items()}
    assert graph["server.signaling"] >= {"server.handlers", "server.context"}  # the walk sees imports
    cycles = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
