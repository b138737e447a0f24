"""The package's shape, read from its source: scikit-learn's private API is
imported in one module only."""

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
