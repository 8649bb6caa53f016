"""scan sits beside the engines: no widgets; importing it loads neither TensorFlow nor dask."""

import ast
import subprocess
import sys
from pathlib import Path

import convviz_widgets.scan

SCAN = Path(convviz_widgets.scan.__file__).parent
ROOT = SCAN.parents[1]


def test_scan_imports_no_widgets():
    for path in SCAN.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            bad = [n for n in names if n.startswith(("ipywidgets", "ipycanvas", "..widgets"))]
            assert not bad, (path.name, bad)


def test_importing_scan_and_the_cli_loads_neither_tensorflow_nor_dask():
    code = (
        "import sys, convviz_widgets as cvw, convviz_widgets.cli\n"
        "cvw.scan.top_activations, cvw.scan.cam_audit, cvw.scan.filter_atlas, cvw.image_folder\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'dask', 'distributed', 'pandas'))\n"
        "assert not heavy, heavy[:5]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
