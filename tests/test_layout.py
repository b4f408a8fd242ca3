"""The package's layout: no import cycles between nnfast's modules (deferred imports inside
functions included), and the core does not import the command line or the benchmark harness."""

import ast
from pathlib import Path

import nnfast

PACKAGE = Path(nnfast.__file__).resolve().parent


def _modules():
    """{dotted module name: path} of every Python module of the installed nnfast."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("nnfast",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    for path in list(PACKAGE.rglob("*.so")) + list(PACKAGE.rglob("*.pyd")):  # compiled: leaves
        parts = ("nnfast",) + path.relative_to(PACKAGE).parent.parts + (path.name.split(".")[0],)
        modules[".".join(parts)] = None
    return modules


def _imports(name, path, modules):
    """The nnfast modules `name` imports, anywhere in its code."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from package import submodule` imports the submodule; other names come from the
            # module itself
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                       for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) if path else set()
             for name, path in modules.items()}
    # a module that imports a *name* from the package itself (not a submodule) depends on the
    # package's __init__, which imports the public modules: that is an edge too
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_core_imports_neither_the_command_line_nor_the_bench_harness():
    modules = _modules()
    for name, path in modules.items():
        if path is None or name.startswith(("nnfast.cli", "nnfast.bench", "nnfast.__main__")):
            continue
        imported = _imports(name, path, modules)
        assert not [m for m in imported if m.startswith(("nnfast.cli", "nnfast.bench"))], name
