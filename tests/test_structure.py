"""The package's shape, read from its source: scikit-learn's private API is
imported in one module only, and the modules import one another without a
cycle."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sktimbre"
# The one module allowed to reach into scikit-learn's private modules.
COMPAT = "_sklearn_compat.py"


def source_files():
    """(path relative to the package, parsed tree) of every module."""
    return [(path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(),
                                                               str(path)))
            for path in sorted(PACKAGE.rglob("*.py"))]


def _is_private(dotted):
    return any(part.startswith("_") and not part.startswith("__")
               for part in dotted.split("."))


def private_sklearn_imports(tree):
    """``module.name`` of each import of scikit-learn private API in ``tree``,
    at any depth (inside functions too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names
                      if alias.name.split(".")[0] == "sklearn"
                      and _is_private(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (
                (node.module or "").split(".")[0] == "sklearn"):
            found += [f"{node.module}.{alias.name}" for alias in node.names
                      if _is_private(f"{node.module}.{alias.name}")]
    return found


def test_private_sklearn_api_is_imported_by_the_compat_module_only():
    offenders = {name: private_sklearn_imports(tree)
                 for name, tree in source_files() if name != COMPAT}
    offenders = {name: found for name, found in offenders.items() if found}
    assert offenders == {}, (
        f"import scikit-learn's private API through sktimbre/{COMPAT}: {offenders}")


def test_the_scan_sees_private_imports():
    tree = ast.parse("from sklearn.base import _fit_context\n"
                     "def f():\n    import sklearn.utils._param_validation\n"
                     "from sklearn.utils import check_random_state\n")
    assert private_sklearn_imports(tree) == [
        "sklearn.base._fit_context", "sklearn.utils._param_validation"]


def module_name(relative):
    """``sktimbre.x.y`` of a path relative to the package."""
    parts = ["sktimbre", *relative[:-len(".py")].split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(name, relative, tree, modules):
    """The package's modules that module ``name`` imports, at the top or
    inside functions (an import inside a function that dodges a cycle is
    still one), by relative or absolute name."""
    package = name if relative.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(parts + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # "from . import io" imports the module sktimbre.io.
                submodule = f"{source}.{alias.name}"
                if submodule in modules:
                    found.add(submodule)
                elif source in modules:
                    found.add(source)
    return found - {name}


def import_graph():
    trees = {module_name(relative): (relative, tree)
             for relative, tree in source_files()}
    return {name: imported_modules(name, relative, tree, trees)
            for name, (relative, tree) in trees.items()}


def find_cycle(graph):
    """One import cycle as a list of modules (first == last), or None."""
    done, path = set(), []

    def visit(node):
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for successor in sorted(graph.get(node, ())):
            cycle = visit(successor)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "sktimbre._base" in graph["sktimbre._vae"]
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_cycle_search_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_fit_validates_through_fit_context():
    # scikit-learn's _fit_context validates the parameters once, honours
    # set_config(skip_parameter_validation=True) and sets up nested checks.
    undecorated = []
    for name, tree in source_files():
        for klass in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for node in klass.body:
                if isinstance(node, ast.FunctionDef) and node.name == "fit" and not any(
                        isinstance(d, ast.Call) and getattr(d.func, "id", None)
                        == "fit_context" for d in node.decorator_list):
                    undecorated.append(f"{name}: {klass.name}.fit")
    assert undecorated == []
