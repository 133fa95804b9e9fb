"""The code's shape, as the renovation left it: small modules, imports that flow one way, narrow component inputs.

Read from the source with `ast`, so a regression names the file and line that brought it back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parent.parent / "infra"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(INFRA.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(INFRA.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """Every infra module this file imports, at any depth (an import inside a function is still a dependency)."""
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                # `from infra.platforms import gke` names a module; `from infra.platforms import Platform` its package.
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    # Importing a module of another package first runs that package's __init__: a dependency too.
    own = _module_name(path)
    chain = {own.rsplit(".", k)[0] for k in range(own.count(".") + 1)}
    for module in list(found):
        parts = module.split(".")
        found.update(p for p in (".".join(parts[:k]) for k in range(2, len(parts))) if p not in chain)
    return {m for m in found if m in MODULES and m != own}


def _cycles() -> list[list[str]]:
    graph = {m: _imports(p) for m, p in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return components


def test_no_import_cycles():
    cycles = _cycles()
    assert not cycles, "import cycles (each group imports itself through the others, counting imports inside " \
                       f"functions): {cycles}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_the_size_limit(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(INFRA.parent)} has {lines} lines (limit {MAX_LINES}): " \
                               "split it by concern"


def _component_inputs() -> list[tuple[str, str, str]]:
    """(file:line, class, parameter) for every ComponentResource __init__ parameter annotated with a type."""
    found = []
    for path in MODULES.values():
        for cls in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(cls, ast.ClassDef) and any("ComponentResource" in ast.unparse(b) for b in cls.bases)):
                continue
            for item in cls.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    for arg in [*item.args.args, *item.args.kwonlyargs]:
                        if arg.annotation is not None:
                            where = f"{path.relative_to(INFRA.parent)}:{item.lineno}"
                            found.append((where, cls.name, f"{arg.arg}: {ast.unparse(arg.annotation)}"))
    return found


def test_components_exist_to_check():
    assert len({c for _, c, _ in _component_inputs()}) >= 10


def test_no_component_takes_the_whole_stack_config():
    """Components take narrow typed Args; the program resolves the stack once and hands each only what it uses."""
    wide = [f"{where} {cls}({param})" for where, cls, param in _component_inputs() if "StackConfig" in param]
    assert not wide, "components taking the whole StackConfig: " + "; ".join(wide)
