"""No import circles in the package: neither between module-level imports nor through imports inside functions (a
lazy import still ties the two modules together), nor through modules imported by name (importlib)."""
import ast
import os
import sys

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "trafficpipe")


def _modules(root):
    """{dotted module name: file path} of every .py file under the package folder `root`."""
    parent = os.path.dirname(root)
    mods = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(d, f)
                name = os.path.relpath(path, parent)[:-3].replace(os.sep, ".")
                mods[name[:-len(".__init__")] if name.endswith(".__init__") else name] = path
    return mods


def _resolve(mods, dotted):
    """The deepest module of the package that `dotted` (a module, or a name inside one) lies in; None outside it."""
    parts = dotted.split(".")
    while parts:
        if ".".join(parts) in mods:
            return ".".join(parts)
        parts.pop()
    return None


def import_edges(mods, name, path, module_level_only=False):
    """The package modules that module `name` imports: `import x`, `from x import y` (relative ones resolved), at module
    level only or anywhere (in functions too), and with importlib also every string naming a package module."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    top = name.split(".")[0]
    out = set()
    dynamic = False

    def visit(node, at_top):
        nonlocal dynamic
        for child in ast.iter_child_nodes(node):
            child_top = at_top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)) and (at_top or not module_level_only):
                if isinstance(child, ast.Import):
                    targets = [a.name for a in child.names]
                    dynamic = dynamic or any(a.name == "importlib" for a in child.names)
                else:
                    if child.level:
                        base = package.split(".")
                        base = base[:len(base) - (child.level - 1)]
                        mod = ".".join(base + ([child.module] if child.module else []))
                    else:
                        mod = child.module or ""
                    dynamic = dynamic or mod == "importlib"
                    targets = [mod + "." + a.name for a in child.names]
                for t in targets:
                    if t.split(".")[0] == top:
                        r = _resolve(mods, t)
                        if r and r != name:
                            out.add(r)
            elif isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id == "__import__":
                dynamic = True
            visit(child, child_top)

    visit(tree, True)
    if dynamic and not module_level_only:  # importlib.import_module("pkg.mod") of names written in this module
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in mods:
                if node.value != name:
                    out.add(node.value)
    return out


def import_cycles(root, module_level_only=False):
    """The import circles of the package at `root`: one sorted list of modules per strongly connected component."""
    mods = _modules(root)
    graph = {m: sorted(import_edges(mods, m, p, module_level_only)) for m, p in mods.items()}
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))

    def connect(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(found)


def _describe(cycles):
    return "; ".join(" <-> ".join(c) for c in cycles)


def test_no_import_cycle_at_module_level():
    cycles = import_cycles(PACKAGE, module_level_only=True)
    assert not cycles, "import circles: " + _describe(cycles)


def test_no_import_cycle_through_imports_in_functions():
    cycles = import_cycles(PACKAGE)
    assert not cycles, "import circles (counting imports inside functions and importlib names): " + _describe(cycles)


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize("files,level_cycles,any_cycles", [
    ({"a.py": "from . import b\n", "b.py": "from .a import x\n"}, [["pkg.a", "pkg.b"]], [["pkg.a", "pkg.b"]]),
    ({"a.py": "def f():\n    from .sub.c import g\n", "sub/__init__.py": "", "sub/c.py": "from ..a import f\n"},
     [], [["pkg.a", "pkg.sub.c"]]),
    ({"cli.py": "import importlib\nMODS = ('pkg.cmd',)\n", "cmd.py": "def run():\n    from .cli import MODS\n"},
     [], [["pkg.cli", "pkg.cmd"]]),
    ({"a.py": "from .b import y\n", "b.py": "y = 1\n", "c.py": "from . import a, b\n"}, [], []),
], ids=("module-level", "in-function", "importlib-name", "no-circle"))
def test_the_checker_finds_circles(tmp_path, files, level_cycles, any_cycles):
    """The checker itself on small packages: each kind of circle is found, and a tree without one passes."""
    root = tmp_path / "pkg"
    _write(root, dict(files, **{"__init__.py": ""}))
    assert import_cycles(str(root), module_level_only=True) == level_cycles
    assert import_cycles(str(root)) == any_cycles


def test_engines_use_the_adapters_declared_interface_only():
    """Engines read an adapter through its public methods and attributes (models/base.py), never its `_private` fields:
    a model family's internals (grids, DFL bins) stay in its folder."""
    found = []
    engines = os.path.join(PACKAGE, "engines")
    for f in sorted(os.listdir(engines)):
        if not f.endswith(".py"):
            continue
        path = os.path.join(engines, f)
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and "adapter" in node.value.id):
                found.append("%s:%d %s.%s" % (f, node.lineno, node.value.id, node.attr))
    assert not found, "engines reaching into adapters: " + ", ".join(found)
