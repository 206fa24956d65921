"""Imports run downhill: no cycle between the packages of nesabench/, and light modules stay light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nesabench"

#: What a module that only defines result types and small statistics must never pull in.
HEAVY = ("torch", "sklearn", "scipy", "dcor", "pandas", "opacus", "tenseal", "concrete", "ezkl",
         "skimage", "transformers", "matplotlib", "hydra", "omegaconf")


def package_of(module: str) -> str:
    """``nesabench.leakage.suite`` -> ``nesabench.leakage``; a top-level module is its own package."""
    parts = module.split(".")
    return ".".join(parts[:2])


def typing_only_nodes(tree: ast.AST) -> set[int]:
    """Nodes under ``if TYPE_CHECKING:``: annotations only, never executed."""
    return {id(n) for t in ast.walk(tree)
            if isinstance(t, ast.If) and "TYPE_CHECKING" in ast.unparse(t.test)
            for b in t.body for n in ast.walk(b)}


def imported_modules(path: Path, module: str) -> set[str]:
    """Absolute names of the nesabench modules a file imports at run time (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    skip = typing_only_nodes(tree)
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                names.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                names.add(node.module)
    return {n for n in names if n == "nesabench" or n.startswith("nesabench.")}


def package_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for f in root.rglob("*.py"):
        module = ".".join(f.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
        src = package_of(module)
        for name in imported_modules(f, module):
            if package_of(name) != src:
                edges.setdefault(src, set()).add(package_of(name))
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle found by depth-first search, each as a path a -> ... -> a."""
    found: set[tuple[str, ...]] = set()

    def walk(path: list[str]) -> None:
        for nxt in sorted(edges.get(path[-1], ())):
            if nxt == path[0]:
                i = path.index(min(path))
                found.add(tuple(path[i:] + path[:i]))
            elif nxt not in path and nxt > path[0]:
                walk([*path, nxt])

    for start in sorted(edges):
        walk([start])
    return [[*c, c[0]] for c in sorted(found)]


def test_the_cycle_finder_sees_a_cycle() -> None:
    """The detector itself can fail: a planted two-package and three-package cycle are both found."""
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]
    assert cycles({"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": {"x"}}) == [["x", "y", "z", "x"]]
    assert cycles({"a": {"b"}, "b": {"c"}}) == []


def test_the_graph_reads_relative_and_typing_only_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "nesabench"
    for sub in ("one", "two"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "one" / "a.py").write_text("from ..two import b\n")
    (pkg / "two" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from nesabench.one import a\n")
    assert package_graph(pkg) == {"nesabench.one": {"nesabench.two"}}
    (pkg / "two" / "b.py").write_text("import nesabench.one.a\n")
    assert cycles(package_graph(pkg)) == [["nesabench.one", "nesabench.two", "nesabench.one"]]


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    assert "nesabench.harness" in graph  # the walk found the code
    found = cycles(graph)
    assert not found, "import cycles between packages: " + "; ".join(" -> ".join(c) for c in found)


def test_importing_an_attack_result_stays_light() -> None:
    """``import nesabench.leakage.result`` in a fresh interpreter loads numpy and nothing heavy.

    (The time it takes is printed, not asserted: timings on a shared machine are not test material.)
    """
    code = (
        "import json, sys, time\n"
        "t0 = time.perf_counter()\n"
        "import nesabench.leakage.result\n"
        "dt = time.perf_counter() - t0\n"
        "print(json.dumps({'seconds': dt, 'modules': sorted({m.split('.')[0] for m in sys.modules})}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    loaded = json.loads(out.stdout)
    heavy = sorted(set(HEAVY) & set(loaded["modules"]))
    assert not heavy, f"importing nesabench.leakage.result pulled in {heavy}"
    assert "nesabench" in loaded["modules"]
    print(f"import nesabench.leakage.result: {loaded['seconds']:.3f} s")


def test_techniques_do_not_import_the_harness() -> None:
    """Techniques offer capabilities (``trained_model``, ``verify``); the harness calls them, never the
    reverse. DP-SGD in particular leaves its membership audit to the harness."""
    for f in sorted((ROOT / "baselines").glob("*.py")):
        imported = imported_modules(f, f"baselines.{f.stem}")
        assert not {m for m in imported if m.startswith("nesabench.harness")}, f"{f.name} imports the harness"
    dp = imported_modules(ROOT / "baselines" / "dp_sgd.py", "baselines.dp_sgd")
    assert not {m for m in dp if m.startswith("nesabench.leakage")}, dp
