"""The package's layout: no import circles between modules (a package importing its own submodules,
to register its built-ins, is not a circle), and loading a config imports no JAX."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent / "jaxrelu"


def _graph() -> dict[str, set[str]]:
    mods = {}
    for p in ROOT.rglob("*.py"):
        name = ".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        deps = set()
        for node in ast.walk(ast.parse(p.read_text())):  # lazy imports inside functions count too
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxrelu"):
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    as_path = ROOT.parent / full.replace(".", "/")
                    deps.add(full if as_path.with_suffix(".py").exists() or as_path.is_dir() else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("jaxrelu")}
        mods[name] = deps
    return {k: {d for d in v if d in mods and d != k and not d.startswith(k + ".")} for k, v in mods.items()}


def _cycles(graph):
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    graph = _graph()
    assert "jaxrelu.engine.loop" in graph and "jaxrelu.theory.predict" in graph  # the walk found the package
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_loading_a_config_imports_no_jax():
    code = (
        "import sys; from jaxrelu import config, registry; "
        "config.from_dict({'model': {'activation': 'anything'}}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'numpy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
