"""Safety: no code from user data, safe model loading, a quiet import, a local-only demo server."""

from __future__ import annotations

import ast
import inspect
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import convviz_widgets as cvw
from convviz_widgets import cli

PACKAGE = Path(cvw.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))

# -- no code from data ---------------------------------------------------------------------------

DANGEROUS_CALLS = {"eval", "exec", "compile", "__import__", "breakpoint"}
DANGEROUS_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"}
DANGEROUS_ATTRS = {
    ("yaml", "load"), ("yaml", "unsafe_load"), ("yaml", "full_load"),
    ("os", "system"), ("os", "popen"), ("importlib", "import_module"),
    ("keras", "enable_unsafe_deserialization"), ("config", "enable_unsafe_deserialization"),
}
# Documented exceptions: (file relative to the package, line text fragment) -> reason.
ALLOWED: dict[tuple[str, str], str] = {
    ("_lazy.py", 'importlib.import_module(f".{names[name]}", package)'):
        "lazy exports: the module name comes from the package's own table, never a user",
    ("_lazy.py", 'importlib.import_module(f".{paths[name]}", package)'):
        "lazy submodules: only names in the package's own submodule table reach it",
}


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def findings(source: str, name: str = "<snippet>") -> list[str]:
    """Every place in ``source`` that could run code or unpickle objects from data."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"{name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in DANGEROUS_MODULES:
                    found.append(f"{where} imports {module}")
        if not isinstance(node, ast.Call):
            continue
        dotted = _dotted(node.func)
        tail = tuple(dotted.split(".")[-2:])
        keywords = {k.arg: k.value for k in node.keywords}
        if dotted in DANGEROUS_CALLS or dotted.split(".")[-1] in {"eval", "exec"}:
            found.append(f"{where} calls {dotted}()")
        elif tail in DANGEROUS_ATTRS:
            found.append(f"{where} calls {dotted}()")
        elif dotted.split(".")[-1] in {"load", "loads"} and dotted.split(".")[0] in DANGEROUS_MODULES:
            found.append(f"{where} calls {dotted}()")
        elif dotted.split(".")[-1] == "load" and isinstance(keywords.get("allow_pickle"), ast.Constant) \
                and keywords["allow_pickle"].value:
            found.append(f"{where} calls {dotted}(allow_pickle=True)")
        elif isinstance(keywords.get("shell"), ast.Constant) and keywords["shell"].value:
            found.append(f"{where} calls {dotted}(shell=True)")
        elif dotted.endswith("load_model") and "safe_mode" in keywords:
            mode = keywords["safe_mode"]
            if isinstance(mode, ast.Constant) and mode.value is not True:
                found.append(f"{where} calls {dotted}(safe_mode={mode.value!r})")
        elif dotted.endswith("models.load_model") and "safe_mode" not in keywords:
            found.append(f"{where} calls {dotted}() without an explicit safe_mode")
    return found


def test_the_scanner_finds_what_it_looks_for():
    snippet = textwrap.dedent(
        """
        import pickle, marshal
        from dill import loads
        eval(text); exec(code); __import__(name); builtins.eval(s)
        pickle.loads(blob); marshal.load(f); yaml.load(f); np.load(p, allow_pickle=True)
        subprocess.run(cmd, shell=True); os.system(cmd); importlib.import_module(name)
        keras.models.load_model(p, safe_mode=False); keras.models.load_model(p)
        keras.config.enable_unsafe_deserialization()
        """
    )
    assert len(findings(snippet)) == 17, findings(snippet)
    assert findings("np.load(p); keras.models.load_model(p, safe_mode=True); getattr(m, n)") == []


def test_no_eval_exec_or_unpickling_in_the_package():
    assert len(SOURCES) > 20 and PACKAGE / "engines" / "models.py" in SOURCES
    found = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for item in findings(text, str(path.relative_to(PACKAGE))):
            name, line = item.split(" ", 1)[0].rsplit(":", 1)
            code = lines[int(line) - 1]
            if not any(f == name and fragment in code for f, fragment in ALLOWED):
                found.append(f"{item}: {code.strip()}")
    assert found == []


def test_model_files_load_with_keras_safe_mode_on_by_default():
    assert inspect.signature(cvw.load_model).parameters["safe_mode"].default is True
    # the Dashboard's model box has no way to turn it off: it calls load_model with defaults
    from convviz_widgets.widgets import _controls

    calls = [n for n in ast.walk(ast.parse(inspect.getsource(_controls.as_model))) if isinstance(n, ast.Call)]
    loads = [c for c in calls if _dotted(c.func) == "load_model"]
    assert loads and all(not c.keywords for c in loads)


# -- a quiet import ------------------------------------------------------------------------------

PROBE = textwrap.dedent(
    """
    import json, os, sys
    before = dict(os.environ)
    events = []
    binds = []
    NETWORK = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto",
               "socket.sendmsg", "urllib.Request", "http.client.connect"}

    def hook(event, args):
        if event == "socket.bind":  # local only; reported, not refused
            binds.append(list(args[1])[:2])
        if event in NETWORK:
            events.append([event, repr(args)[:200]])
            raise ConnectionRefusedError("network access is not allowed here: " + event)

    sys.addaudithook(hook)
    try:
        exec(sys.argv[1])
    except Exception as exc:
        events.append(["exception", repr(exc)[:200]])
    after = dict(os.environ)
    print("\\n" + json.dumps({
        "events": events,
        "binds": binds,
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(k for k in before if k in after and before[k] != after[k]),
    }))
    """
)


def probe(code: str, tmp_path) -> dict:
    """Run ``code`` in a fresh Python with a minimal environment (the test process's own has been
    changed by the imports it made), recording network events and environment changes."""
    # HOME: a first Keras import writes ~/.keras/keras.json; keep it out of the real home.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    done = subprocess.run([sys.executable, "-c", PROBE, code], capture_output=True, text=True,
                          timeout=180, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_probe_sees_network_access_and_environment_changes(tmp_path):
    seen = probe("import socket, os; os.environ['X_SET_BY_IMPORT'] = '1'; "
                 "socket.create_connection(('127.0.0.1', 9), timeout=1)", tmp_path)
    assert [e[0] for e in seen["events"]][:1] in (["socket.connect"], ["socket.getaddrinfo"])
    assert seen["added"] == ["X_SET_BY_IMPORT"]


@pytest.fixture(scope="module")
def package_import(tmp_path_factory):
    return probe("import convviz_widgets, convviz_widgets.cli", tmp_path_factory.mktemp("import"))


def test_import_does_no_network_access(package_import):
    assert package_import["events"] == []  # no connect, no name lookup, nothing sent
    # A dependency probes for IPv6 support by binding ("::1", 0) (urllib3's HAS_IPV6): local only.
    binds = package_import["binds"]
    assert all(host in ("::1", "127.0.0.1") and port == 0 for host, port in binds), binds


def test_import_sets_no_environment_variables(package_import):
    """Issue 6, literally. TensorFlow (TF2_BEHAVIOR, TPU_ML_PLATFORM, ...) and OpenCV
    (LD_LIBRARY_PATH) set variables when they are imported, so this holds only because the
    package imports them on first use of an engine, a render function or a widget."""
    changes = {key: package_import[key] for key in ("added", "removed", "changed")}
    assert changes == {"added": [], "removed": [], "changed": []}


DEPENDENCIES = "import tensorflow, keras, cv2, matplotlib, PIL.Image, ipywidgets, ipycanvas, skimage"


def test_the_package_own_code_sets_no_environment_variables(tmp_path):
    """With every dependency already imported, importing the package changes nothing more."""
    code = (f"{DEPENDENCIES}; import os; os.environ['X_BASE'] = repr(sorted(os.environ.items())); "
            "import convviz_widgets, convviz_widgets.widgets, convviz_widgets.cli; "
            "assert repr(sorted((k, v) for k, v in os.environ.items() if k != 'X_BASE')) == os.environ['X_BASE']")
    seen = probe(code, tmp_path)
    assert seen["events"] == []  # the assert in the child raised nothing
    assert "X_BASE" in seen["added"] and "TF2_BEHAVIOR" in seen["added"]  # the deps' own changes


# -- the demo server -----------------------------------------------------------------------------


def test_demo_defaults_to_127_0_0_1_and_passes_it_to_voila(monkeypatch):
    args = cli.build_parser().parse_args(["demo"])
    assert args.ip == "127.0.0.1"
    command = cli.voila_command(Path("demo.ipynb"), args.ip, 8866)
    assert "--Voila.ip=127.0.0.1" in command
    assert not [c for c in command if c.startswith(("--ip", "--Voila.ip=0", "--Voila.ip=::"))]
    served = []
    monkeypatch.setattr(cli, "_serve", lambda notebook, ip, port, open_browser: served.append(ip) or 0)
    assert cli.main(["demo", "--no-browser", "--port", "0"]) == 0
    assert cli.main(["demo", "--no-browser", "--port", "0", "--ip", "0.0.0.0"]) == 0  # asked for
    assert served == ["127.0.0.1", "0.0.0.0"]


def listeners(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of sockets LISTENing on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hexport = fields[1].split(":")
            if fields[3] == "0A" and int(hexport, 16) == port:
                found.append(address)
    return found


def test_demo_server_listens_on_loopback_only(tmp_path):
    if not cli.voila_available():
        pytest.skip("voila is not installed (pip install convviz_widgets[demo])")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[var] = str(tmp_path / var.lower())
    proc = subprocess.Popen(
        [sys.executable, "-m", "convviz_widgets.cli", "demo", "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path,
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not any("Serving" in line for line in lines):
            assert proc.poll() is None, "the demo exited early"
            assert time.monotonic() < deadline, "the demo did not start within 90 s"
            time.sleep(0.2)
        url = next(line for line in lines if "Serving" in line).split(" at ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        bound = listeners(port)
        assert bound and set(bound) == {"0100007F"}, bound  # 127.0.0.1 only: no 0.0.0.0, no ::
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(5)


def test_image_helpers_do_not_import_tensorflow(tmp_path):
    """load_image and the sample images need numpy, Pillow and OpenCV only: using them must not
    pull in TensorFlow or Keras (seconds of start-up and gigabytes of address space)."""
    code = (
        "import sys, convviz_widgets as cvw; cvw.load_image(cvw.sample_image('star')); "
        "cvw.sample_images(); assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras')))[:5]"
    )
    seen = probe(code, tmp_path)
    assert not any(e[0] == "exception" for e in seen["events"]), seen["events"]
