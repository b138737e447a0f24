"""The documentation: the site builds without a warning, and every public
class and function has a numpydoc docstring with a runnable example."""

import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.base import BaseEstimator

import sktimbre

ROOT = Path(__file__).resolve().parent.parent
# Public modules whose ``__all__`` the API reference and this test cover, besides
# the package's own ``__all__``.
MODULES = ("sktimbre.metrics", "sktimbre.io", "sktimbre.datasets", "sktimbre.plotting",
           "sktimbre.callbacks")
# Estimator methods that need an example wherever our code defines them.
METHODS = ("fit", "transform", "inverse_transform", "save", "load")
_EXAMPLES = re.compile(r"^Examples\n-{8,}\n(?P<body>.*?)(?=^\S[^\n]*\n-{3,}\n|\Z)",
                       re.MULTILINE | re.DOTALL)


def public_names():
    """(reference, object) of each public class and function."""
    names = [(f"sktimbre.{n}", getattr(sktimbre, n)) for n in sktimbre.__all__]
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        names += [(f"{module_name}.{n}", getattr(module, n)) for n in module.__all__]
    return [(ref, obj) for ref, obj in names
            if inspect.isclass(obj) or inspect.isfunction(obj)]


def estimator_methods():
    """(reference, function) of each estimator method in METHODS, once per
    definition (a method inherited from a base class is checked where it is
    written)."""
    seen = {}
    for _, obj in public_names():
        if not (inspect.isclass(obj) and issubclass(obj, BaseEstimator)):
            continue
        for name in METHODS:
            for klass in obj.__mro__:
                if name in vars(klass):
                    function = inspect.unwrap(
                        getattr(vars(klass)[name], "__func__", vars(klass)[name]))
                    if klass.__module__.startswith("sktimbre"):
                        ref = f"{klass.__module__}.{klass.__qualname__}.{name}"
                        seen.setdefault(ref, function)
                    break
    return sorted(seen.items())


def _params(pairs):
    return [pytest.param(obj, id=ref) for ref, obj in pairs]


@pytest.mark.parametrize("obj", _params(public_names() + estimator_methods()))
def test_docstring_has_a_numpydoc_example(obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{obj.__qualname__} has no docstring"
    summary = doc.splitlines()[0]
    assert summary.strip() and not summary.startswith(" "), (
        f"{obj.__qualname__}: the docstring should open with a one-line summary")
    match = _EXAMPLES.search(doc)
    assert match, (f"{obj.__qualname__} has no numpydoc 'Examples' section "
                   "(a line 'Examples' underlined with dashes)")
    prompts = [line for line in match["body"].splitlines()
               if line.lstrip().startswith(">>> ")]
    assert prompts, f"{obj.__qualname__}: the Examples section holds no '>>>' doctest"
    code = [line for line in prompts if "+SKIP" not in line
            and not re.match(r">>> (import|from) ", line.lstrip())]
    assert code, (f"{obj.__qualname__}: the example only imports or is skipped; "
                  "add a line that runs the code")


def test_api_reference_lists_every_public_name():
    api = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^::: (\S+)$", api, re.MULTILINE))
    missing = [ref for ref, _ in public_names() if ref not in documented]
    assert not missing, f"docs/api.md has no '::: name' entry for {missing}"


# Pages written by hand; docs/benchmarks.md is written by the benchmark scripts.
HAND_WRITTEN = ("index.md", "getting-started.md", "concepts.md", "vae.md",
                "cyclegan.md", "data.md", "gpu.md", "cli.md", "realtime.md")
# A measured figure: two or more decimals, a percentage or a speed factor.
_FIGURE = re.compile(r"(?<![\w.])[+-]?\d+(?:\.\d{2,}|(?:\.\d+)?(?:%|x\b))")


@pytest.mark.parametrize("page", HAND_WRITTEN)
def test_quoted_figures_are_in_the_benchmark_tables(page):
    """A figure quoted in prose must be one the benchmarks wrote, so a page
    cannot keep a number after a new run changed it."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    benchmarks = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    measured = set(_FIGURE.findall(benchmarks))
    stale = sorted({f for f in _FIGURE.findall(prose) if f not in measured})
    assert not stale, (
        f"docs/{page} quotes {stale}, which docs/benchmarks.md does not hold; "
        "quote the current tables")


def test_docs_build_strict_without_warnings(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings",
                   "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason="pip install -e .[dev] adds the docs tools")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
         str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=300,
    )
    output = result.stdout + result.stderr
    problems = [line for line in output.splitlines()
                if re.match(r"\s*(WARNING|ERROR)\b", line)]
    assert result.returncode == 0 and not problems, (
        f"mkdocs build --strict failed (exit {result.returncode}):\n{output}")
    api = (tmp_path / "site" / "api.html").read_text(encoding="utf-8")
    for ref, _ in public_names():
        assert f'id="{ref}"' in api, f"the API page does not render {ref}"
    # Offline: no page loads a script, style, font or picture from the network.
    for page in (tmp_path / "site").rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|img|source)[^>]*\ssrc="https?:[^"]*"'
                            r'|<link[^>]*rel="(?:stylesheet|preload|preconnect)"'
                            r'[^>]*href="https?:[^"]*"', html)
        assert not remote, f"{page.name} fetches from the network: {remote}"
