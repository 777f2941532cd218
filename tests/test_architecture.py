"""The layout is the architecture: imports run one way, library → safety → viz/data → app.

``docs/architecture.md`` draws the same picture; these tests keep it true.
"""

from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "microgrid"


def _modules() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imports() -> dict[str, set[str]]:
    """For each module of the package, the package's modules it imports (anywhere in the file)."""
    names = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in names.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in names:
                subs = {f"{node.module}.{a.name}" for a in node.names} & names.keys()
                deps |= subs or {node.module}
        graph[module] = deps - {module}
    return graph


def _layer(module: str) -> str:
    """``library`` (the top-level modules), ``safety``, ``viz``, ``data`` or ``app``."""
    if module == "microgrid.__main__":  # ``python -m microgrid`` runs the command line
        return "app"
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (PACKAGE / parts[-1]).is_dir() else "library"


# which layers each layer may import (besides itself)
ALLOWED = {
    "library": {"safety"},
    "safety": set(),
    "viz": {"library", "safety"},
    "data": {"library", "safety"},
    "app": {"library", "safety", "viz", "data"},
}


def test_every_module_sits_in_a_known_layer():
    layers = {_layer(m) for m in _modules() if m != "microgrid"}
    assert layers == set(ALLOWED)


def test_imports_run_one_way_library_safety_viz_data_app():
    wrong = [
        f"{module} ({_layer(module)}) imports {dep} ({_layer(dep)})"
        for module, deps in _imports().items() if module != "microgrid"
        for dep in sorted(deps)
        if dep != "microgrid" and _layer(dep) != _layer(module) and _layer(dep) not in ALLOWED[_layer(module)]
    ]
    assert not wrong


def test_the_layer_rule_sees_a_wrong_import():
    assert _layer("microgrid.engine") == "library" and _layer("microgrid.app.runs.run") == "app"
    assert _layer("microgrid.viz") == "viz" and _layer("microgrid.data.fast") == "data"
    assert "app" not in ALLOWED["library"] and "app" not in ALLOWED["viz"]


def test_no_import_cycles_even_through_other_modules():
    graph = _imports()
    assert {"microgrid.engine", "microgrid.app.cli", "microgrid.viz.draw", "microgrid.data"} <= set(graph)
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_the_engine_imports_nothing_but_its_numerics():
    assert _imports()["microgrid.engine"] <= {"microgrid._numerics"}


def test_every_module_named_in_the_architecture_page_exists():
    page = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`(microgrid/[\w/]+(?:\.py)?)`", page))
    assert len(named) >= 10
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing


def test_no_test_module_imports_another():
    """Shared test code lives in conftest.py, strategies.py, helpers.py and chromium.py."""
    tests = {p.stem for p in (ROOT / "tests").glob("test_*.py")}
    wrong = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            wrong += [f"{path.name} imports {n}" for n in names if n.split(".")[-1] in tests]
    assert not wrong


def _private_uses(source: str) -> list[str]:
    """``_name``s a module takes from another package module: ``from microgrid.m import _name``,
    or ``m._name`` where ``m`` is a package module it imported (module files such as
    ``_numerics`` are parts of the package, not private names)."""
    modules = _modules()
    tree = ast.parse(source)
    aliases, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("microgrid"):
            for a in node.names:
                if f"{node.module}.{a.name}" in modules:
                    aliases.add(a.asname or a.name)
                elif a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"{node.module}.{a.name}")
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name in modules}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and ast.unparse(node.value) in aliases):
            found.append(f"{ast.unparse(node.value)}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    wrong = [f"{path.relative_to(ROOT)}: {use}" for path in sorted(PACKAGE.rglob("*.py"))
             for use in _private_uses(path.read_text())]
    assert not wrong


def test_the_private_name_rule_sees_both_forms():
    assert _private_uses("from microgrid.engine import _dot, Value\n") == ["microgrid.engine._dot"]
    assert _private_uses("import microgrid.engine\ny = microgrid.engine._lift(1)\n") == [
        "microgrid.engine._lift"]
    assert _private_uses("from microgrid import engine\nengine._lift(1)\n") == ["engine._lift"]
    assert not _private_uses("from microgrid import _numerics\nfrom microgrid.engine import Value\n")
    assert not _private_uses("from microgrid import __version__\nimport microgrid.engine\n"
                             "microgrid.engine.Value\n")
