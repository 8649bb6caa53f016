"""Imports go one way (widgets -> render -> engines): render stays numpy, cv2, matplotlib, PIL."""

import ast
from pathlib import Path

import pytest

import convviz_widgets.render

RENDER = Path(convviz_widgets.render.__file__).parent
FORBIDDEN = ("tensorflow", "keras", "ipywidgets", "ipycanvas", "convviz_widgets.engines", "convviz_widgets.widgets")


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against convviz_widgets.render
                package = ["convviz_widgets", "render"][: 2 - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("path", sorted(RENDER.glob("*.py")), ids=lambda p: p.name)
def test_render_imports_nothing_upstream(path):
    modules = list(imported_modules(path))
    assert modules, "the scan found no imports at all"
    bad = [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert not bad, f"{path.name} imports {bad}"


def test_the_scan_resolves_relative_imports():
    source = RENDER / "frames.py"
    assert "convviz_widgets.errors.ConvVizError" in set(imported_modules(source))
