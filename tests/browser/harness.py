"""End-to-end browser harness: a Voila server, headless Chromium via Playwright, canvas pixels.

Used by the browser tests (through tests/browser/conftest.py) and by latency benchmarks
(``from tests.browser.harness import ...``). Everything is offline: Voila listens on
127.0.0.1 only and the browser aborts every request to any other host.

A widget test (in tests/browser/, where the fixtures live)::

    @pytest.mark.browser
    def test_channel_slider(voila_url, page):
        open_voila(page, voila_url(NOTEBOOKS / "activations.ipynb"), canvas="canvas.my-class")
        before = canvas_pixels(page, "canvas.my-class")
        press_key(page, "channel", "ArrowRight")
        after = wait_for_canvas_change(page, before, canvas="canvas.my-class")
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np

if TYPE_CHECKING:  # playwright is optional at import time: the skip/fail policy reports it
    from playwright.sync_api import BrowserContext, Locator, Page, Playwright

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CONVVIZ_CHROMIUM", "/usr/bin/chromium")
LOCAL_HOST = "127.0.0.1"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # Belt and braces next to the request routing: no name resolves, so no websocket,
    # service worker or prefetch can leave the machine either.
    f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOCAL_HOST}",
)
CanvasRef = int | str  # index among the page's <canvas> elements, or a CSS selector


def browser_unavailable_reason() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    missing = [name for name in ("playwright", "voila") if importlib.util.find_spec(name) is None]
    if missing:
        return (
            f"Python package(s) {', '.join(missing)} not installed; "
            "install the dev extras: bash scripts/setup_env.sh dev"
        )
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"Chromium not found at {CHROMIUM} (set CONVVIZ_CHROMIUM, or apt-get install chromium; "
            "never `playwright install`)"
        )
    return None


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


# --------------------------------------------------------------------------- Voila server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL_HOST, 0))
        return sock.getsockname()[1]


_PORT_CLASH = re.compile(r"address already in use|no available port", re.IGNORECASE)


class VoilaServer:
    """One ``voila NOTEBOOK`` process on 127.0.0.1 with every Jupyter/IPython dir under ``workdir``.

    The kernel runs this interpreter (``sys.executable``): jupyter_client swaps the kernel spec's
    ``python`` for the server's own executable, and the server is started with it. Front-end
    extensions (ipywidgets, ipycanvas) are found in ``sys.prefix/share/jupyter``.
    """

    def __init__(self, notebook: str | Path, workdir: str | Path, *, startup_timeout: float = 60.0):
        self.notebook = Path(notebook).resolve()
        if not self.notebook.is_file():
            raise FileNotFoundError(f"notebook to serve not found: {self.notebook}")
        self.workdir = Path(workdir)
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self.log_path = self.workdir / "voila.log"
        self._proc: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("VoilaServer not started")
        return f"http://{LOCAL_HOST}:{self.port}/"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def environment(self) -> dict[str, str]:
        dirs = {
            "JUPYTER_CONFIG_DIR": "jupyter_config",
            "JUPYTER_DATA_DIR": "jupyter_data",
            "JUPYTER_RUNTIME_DIR": "jupyter_runtime",
            "IPYTHONDIR": "ipython",
            "TMPDIR": "tmp",
        }
        env = dict(os.environ)
        for var, name in dirs.items():
            path = self.workdir / name
            path.mkdir(parents=True, exist_ok=True)
            env[var] = str(path)
        env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
        env.pop("JUPYTER_CONFIG_PATH", None)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # silences ipykernel's debugger warning
        # The kernels import this checkout's package, even where another one is installed
        # (an editable install of a different worktree).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return env

    def write_config(self) -> None:
        """voila.json in the private JUPYTER_CONFIG_DIR.

        Voila's page shuts its kernel down from ``beforeunload`` with a beacon POST that carries no
        _xsrf (the page sets no such cookie): the server answers 403 and every closed page leaves
        its kernel running. The server only listens on 127.0.0.1, so the check goes.
        """
        config = {"Voila": {"tornado_settings": {"disable_check_xsrf": True}}}
        path = self.workdir / "jupyter_config" / "voila.json"
        path.write_text(json.dumps(config, indent=1))

    def command(self, port: int) -> list[str]:
        return [
            sys.executable, "-m", "voila", str(self.notebook),
            "--no-browser",
            f"--Voila.ip={LOCAL_HOST}",
            "--Voila.port_retries=0",
            f"--port={port}",
            f"--Voila.connection_dir_root={self.workdir / 'tmp'}",
            "--VoilaConfiguration.show_tracebacks=True",
        ]  # fmt: skip

    def start(self) -> VoilaServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        self.write_config()
        for attempt in range(3):  # a free port can be taken between probing and binding
            self.port = free_port()
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            self._log.write(f"\n=== {' '.join(self.command(self.port))}\n".encode())
            self._log.flush()
            self._proc = subprocess.Popen(
                self.command(self.port),
                cwd=self.workdir,  # Voila also reads voila.json / voila.py from its cwd
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            _LIVE_SERVERS.add(self)
            try:
                self._wait_until_listening()
                return self
            except RuntimeError:
                exited = self._proc.poll() is not None
                port_clash = exited and _PORT_CLASH.search(self.log_tail(10)) is not None
                self.stop()
                if not port_clash or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _wait_until_listening(self) -> None:
        # Ask the kernel which sockets voila itself listens on: a connect() could reach another
        # process that holds the port while voila is failing to bind it.
        import psutil

        process = psutil.Process(self._proc.pid)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"voila exited with code {self._proc.returncode} before listening on "
                    f"{self.url}\n--- voila log tail ({self.log_path}) ---\n{self.log_tail()}"
                )
            with contextlib.suppress(psutil.NoSuchProcess):
                if any(
                    conn.status == psutil.CONN_LISTEN and conn.laddr.port == self.port
                    for conn in process.net_connections(kind="inet")
                ):
                    return
            time.sleep(0.1)
        raise RuntimeError(
            f"voila did not listen on {self.url} within {self.startup_timeout:.0f} s\n"
            f"--- voila log tail ({self.log_path}) ---\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def kernel_pids(self) -> list[int]:
        """PIDs of the kernels this server started (kernels run in their own sessions)."""
        import psutil

        if self._proc is None or self._proc.poll() is not None:
            return []
        try:
            children = psutil.Process(self._proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [child.pid for child in children]

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Voila then shuts its kernels down); SIGKILL what is left after ``timeout``."""
        import psutil

        proc, self._proc = self._proc, None
        _LIVE_SERVERS.discard(self)
        if proc is not None:
            try:
                descendants = psutil.Process(proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                descendants = []
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
            _, alive = psutil.wait_procs(descendants, timeout=5)
            for leftover in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    leftover.kill()
            psutil.wait_procs(alive, timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> VoilaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class JupyterServer(VoilaServer):
    """``jupyter lab`` (JupyterLab 4) or ``jupyter notebook`` (Notebook 7) on 127.0.0.1, serving
    ``notebook``'s folder, with no token (it listens on 127.0.0.1 only) and every Jupyter dir
    under ``workdir``. ``notebook_url`` opens the notebook in that front end."""

    APPS = {"lab": ("jupyterlab", "LabApp", "lab/tree"), "notebook": ("notebook", "NotebookApp", "notebooks")}

    def __init__(self, app: str, notebook: str | Path, workdir: str | Path, *,
                 startup_timeout: float = 90.0):  # fmt: skip
        if app not in self.APPS:
            raise ValueError(f"app: expected one of {sorted(self.APPS)}, got {app!r}")
        super().__init__(notebook, workdir, startup_timeout=startup_timeout)
        self.app = app
        self.log_path = self.workdir / f"{app}.log"
        # A copy is served: the front end autosaves (outputs, trust) into the file it opened.
        self.served = self.workdir / "notebooks" / self.notebook.name

    @property
    def notebook_url(self) -> str:
        return f"{self.url}{self.APPS[self.app][2]}/{self.served.name}"

    def write_config(self) -> None:
        self.served.parent.mkdir(parents=True, exist_ok=True)
        self.served.write_bytes(self.notebook.read_bytes())
        # No news / update checks (they would reach out), no "announcements" toast.
        settings = self.workdir / "jupyter_config" / "lab" / "user-settings" / "@jupyterlab"
        path = settings / "apputils-extension" / "notification.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        # Every cell stays in the DOM (JupyterLab 4 detaches cells scrolled out of view).
        path = settings / "notebook-extension" / "tracker.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"windowingMode": "none"}))

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["JUPYTERLAB_SETTINGS_DIR"] = str(self.workdir / "jupyter_config" / "lab" / "user-settings")
        env["JUPYTERLAB_WORKSPACES_DIR"] = str(self.workdir / "jupyter_config" / "lab" / "workspaces")
        return env

    def command(self, port: int) -> list[str]:
        module, app_class, _ = self.APPS[self.app]
        return [
            sys.executable, "-m", module,
            "--no-browser",
            f"--ServerApp.ip={LOCAL_HOST}",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={self.served.parent}",
            f"--{app_class}.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--{app_class}.news_url=",
            "--ServerApp.allow_root=True",  # containers run as root; it listens on 127.0.0.1
        ]  # fmt: skip


def run_all_cells(page: Page, *, timeout: float = 120.0) -> None:
    """In JupyterLab 4 or Notebook 7 with a notebook open: wait for its kernel to be idle, then
    Run > Run All Cells from the menu bar, like a user."""
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
    page.wait_for_selector(  # the toolbar's execution indicator: the kernel is up and idle
        ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout * 1000
    )
    started = page.locator(".jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]"))
    accept = page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept")
    for _ in range(3):  # a click while the kernel is still connecting runs nothing: again
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        # A front end that has not started the notebook's kernel yet asks which one: the default.
        with contextlib.suppress(Exception):
            accept.wait_for(timeout=2000)
            accept.click()
        with contextlib.suppress(Exception):
            started.first.wait_for(timeout=15000)
            return
    raise AssertionError(f"Run All Cells did not start the notebook at {page.url}")


_LIVE_SERVERS: set[VoilaServer] = set()  # strong references: atexit must reach forgotten ones


@atexit.register
def _stop_leftover_servers() -> None:  # e.g. an interrupted session
    for server in list(_LIVE_SERVERS):
        server.stop()


# --------------------------------------------------------------------------- Chromium


def launch_chromium(playwright: Playwright, user_data_dir: str | Path) -> BrowserContext:
    """Debian's Chromium, headless, fresh profile in ``user_data_dir``, only 127.0.0.1 reachable."""
    user_data_dir = Path(user_data_dir)
    # Debian's chromium starts crashpad with its database in $XDG_CONFIG_HOME/chromium, outside
    # the profile: keep that under user_data_dir too.
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(user_data_dir / "xdg-config"),
        "XDG_CACHE_HOME": str(user_data_dir / "xdg-cache"),
    }
    context = playwright.chromium.launch_persistent_context(
        str(user_data_dir / "profile"),
        executable_path=CHROMIUM,
        env=env,
        headless=True,
        args=list(CHROMIUM_FLAGS),
        viewport={"width": 1280, "height": 900},
        service_workers="block",
    )
    context.set_default_timeout(30_000)
    context.route("**/*", _local_only)
    return context


def _local_only(route) -> None:
    host = urlsplit(route.request.url).hostname
    if host == LOCAL_HOST:
        route.continue_()
    else:
        route.abort("blockedbyclient")


@dataclass
class PageLog:
    """What a page said: console errors, uncaught exceptions, failed (incl. blocked) requests."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def summary(self, limit: int = 10) -> str:
        parts = []
        for title, items in (
            ("uncaught page errors", self.page_errors),
            ("console errors", self.console_errors),
            ("failed/blocked requests", self.failed_requests),
        ):
            if items:
                parts.append(f"{title} ({len(items)}):\n  " + "\n  ".join(items[-limit:]))
        return "\n".join(parts) or "(no console errors, page errors or failed requests)"


_PAGE_LOGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def page_log(page: Page) -> PageLog:
    """The page's PageLog, listening from the first call on."""
    log = _PAGE_LOGS.get(page)
    if log is None:
        log = _PAGE_LOGS[page] = PageLog()
        page.on(
            "console",
            lambda msg: log.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.on("pageerror", lambda err: log.page_errors.append(str(err)))
        page.on(
            "requestfailed",
            lambda req: log.failed_requests.append(f"{req.url} ({req.failure})"),
        )
    return log


def close_page(page: Page, timeout: float = 10.0) -> None:
    """Close like a user would: beforeunload runs, and Voila shuts the page's kernel down."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if page.is_closed():
        return
    try:
        # With run_before_unload, close() returns before the page is gone.
        with page.expect_event("close", timeout=timeout * 1000):
            page.close(run_before_unload=True)
    except PlaywrightTimeout:
        page.close()


# --------------------------------------------------------------------------- canvas pixels

# Shared by every snippet below: find a canvas by index or selector (null when absent), read
# its pixels, compare them, base64 them (far cheaper than a JSON list of numbers).
_JS_LIB = r"""
const findCanvas = (ref) => {
  const el = typeof ref === "number"
    ? document.querySelectorAll("canvas")[ref] : document.querySelector(ref);
  return el instanceof HTMLCanvasElement ? el : null;
};
const mustFindCanvas = (ref) => {
  const el = findCanvas(ref);
  if (!el) throw new Error(`no canvas ${JSON.stringify(ref)}; canvases: ${describeCanvases()}`);
  return el;
};
const readPixels = (el) => {
  if (el.width === 0 || el.height === 0) return new Uint8ClampedArray(0);
  return el.getContext("2d").getImageData(0, 0, el.width, el.height).data;
};
const samePixels = (a, b) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};
const isBlank = (data) => {  // a fresh canvas is all transparent
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return false;
  return true;
};
const toBase64 = (data) => {
  let s = "";
  for (let i = 0; i < data.length; i += 0x8000)
    s += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
  return btoa(s);
};
const fromBase64 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const snapshot = (el) => ({width: el.width, height: el.height, b64: toBase64(readPixels(el))});
const describeCanvases = () => Array.from(document.querySelectorAll("canvas"))
  .map((c, i) => `#${i} ${c.width}x${c.height}`).join(", ") || "none";
"""


def _js(body: str) -> str:
    """A page function taking one argument, with the helpers above in scope."""
    return f"(arg) => {{ {_JS_LIB}\n{body} }}"


def _decode(snap: dict) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(snap["b64"]), dtype=np.uint8)
    return data.reshape(snap["height"], snap["width"], 4).copy()


def _encode(pixels: np.ndarray) -> dict:
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 4:
        raise ValueError(f"pixels: expected a (H, W, 4) uint8 array, got shape {pixels.shape}")
    height, width = pixels.shape[:2]
    return {"width": width, "height": height, "b64": base64.b64encode(pixels.tobytes()).decode()}


def is_blank(pixels: np.ndarray) -> bool:
    """True for an untouched canvas: every pixel fully transparent."""
    return pixels.size == 0 or not pixels[..., 3].any()


def canvas_pixels(page: Page, canvas: CanvasRef = 0) -> np.ndarray:
    """The canvas's current pixels as uint8 (H, W, 4) RGBA, at its backing-store resolution."""
    snap = page.evaluate(
        _js("""
        const el = findCanvas(arg);
        return el ? snapshot(el) : {missing: describeCanvases()};
        """),
        canvas,
    )
    if "missing" in snap:
        raise LookupError(f"no canvas {canvas!r} on the page; canvases: {snap['missing']}")
    return _decode(snap)


def open_voila(page: Page, url: str, *, canvas: CanvasRef = 0, timeout: float = 60.0) -> None:
    """Load a Voila page and wait until the widgets rendered: ``canvas`` exists and is not blank."""
    page_log(page)
    start = time.monotonic()
    page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    wait_for_render(page, canvas=canvas, timeout=max(1.0, timeout - (time.monotonic() - start)))


def wait_for_render(page: Page, *, canvas: CanvasRef = 0, timeout: float = 60.0) -> None:
    """Wait until ``canvas`` exists and is not blank; on timeout, fail with what the page shows
    (error outputs, page text, console errors, blocked requests)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    log = page_log(page)
    try:
        page.wait_for_function(
            _js("const el = findCanvas(arg); return !!el && !isBlank(readPixels(el));"),
            arg=canvas,
            polling="raf",
            timeout=timeout * 1000,
        )
    except PlaywrightTimeout:
        raise AssertionError(_render_failure(page, page.url, canvas, timeout, log)) from None


def _render_failure(page: Page, url: str, canvas: CanvasRef, timeout: float, log: PageLog) -> str:
    state = page.evaluate(
        _js("""
        const el = findCanvas(arg);
        const errors = Array.from(document.querySelectorAll(
          '[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText.jp-mod-trusted pre'))
          .map((e) => e.innerText.slice(0, 2000));
        return {
          canvas: el ? (isBlank(readPixels(el)) ? "present but blank" : "present") : "absent",
          canvases: describeCanvases(),
          errors,
          text: (document.body ? document.body.innerText : "").slice(0, 1500),
        };
        """),
        canvas,
    )
    blank_hint = (
        "\nA blank canvas under Voila usually means the notebook drew at execution time, before "
        "any browser connected: draw from Canvas.on_client_ready(callback)."
        if state["canvas"] == "present but blank"
        else ""
    )
    errors = "\n".join(state["errors"]) or "(none)"
    return (
        f"Voila page {url} did not render canvas {canvas!r} within {timeout:.0f} s: "
        f"canvas {state['canvas']}; canvases on the page: {state['canvases']}.{blank_hint}\n"
        f"--- error outputs in the page ---\n{errors}\n"
        f"--- page text ---\n{state['text']}\n"
        f"--- browser ---\n{log.summary()}"
    )


def wait_for_canvas_change(
    page: Page, before: np.ndarray, timeout: float = 10.0, *, canvas: CanvasRef = 0
) -> np.ndarray:
    """Wait (checking once per animation frame, in the page) until the canvas differs from
    ``before``; return the new pixels."""
    result = page.evaluate(
        _js("""
        const before = fromBase64(arg.before.b64);
        const deadline = performance.now() + arg.timeoutMs;
        return new Promise((resolve) => {
          const poll = () => {
            const el = findCanvas(arg.canvas);
            if (el && !(el.width === arg.before.width && el.height === arg.before.height
                        && samePixels(readPixels(el), before))) {
              resolve({changed: true, snap: snapshot(el)});
            } else if (performance.now() > deadline) {
              resolve({changed: false, canvases: describeCanvases()});
            } else {
              requestAnimationFrame(poll);
            }
          };
          poll();
        });
        """),
        {"before": _encode(before), "timeoutMs": timeout * 1000, "canvas": canvas},
    )
    if not result["changed"]:
        raise AssertionError(
            f"canvas {canvas!r} did not change within {timeout} s "
            f"(canvases on the page: {result['canvases']})\n{page_log(page).summary()}"
        )
    return _decode(result["snap"])


def time_key_to_pixels(
    page: Page, key_action: Callable[[], object], canvas: CanvasRef = 0, *, timeout: float = 10.0
) -> float:
    """Seconds from the user's input (first keydown, input or change event in the page) to the
    first animation frame in which the canvas pixels differ.

    Both ends are timed inside the page with ``performance.now()``, the pixels compared once per
    requestAnimationFrame, so Python round trips do not count. ``key_action`` performs the input,
    e.g. ``lambda: press_key(page, "channel", "ArrowRight")``. The canvas must be idle when called.
    """
    page.evaluate(
        _js("""
        const el = mustFindCanvas(arg.canvas);
        const before = readPixels(el).slice();
        const size = [el.width, el.height];
        const deadline = performance.now() + arg.timeoutMs;
        let inputAt = null;
        const events = ["keydown", "input", "change"];
        const onInput = (ev) => { if (inputAt === null) inputAt = ev.timeStamp; };
        events.forEach((type) => window.addEventListener(type, onInput, true));
        window.__convvizKeyToPixels = new Promise((resolve) => {
          const finish = (result) => {
            events.forEach((type) => window.removeEventListener(type, onInput, true));
            resolve(result);
          };
          const poll = () => {
            const now = performance.now();
            if (inputAt !== null) {
              const cur = findCanvas(arg.canvas);
              if (cur && (cur.width !== size[0] || cur.height !== size[1]
                          || !samePixels(readPixels(cur), before))) {
                return finish({ms: now - inputAt});
              }
            }
            if (now > deadline) {
              return finish({error: inputAt === null
                ? "no keydown/input/change event reached the page"
                : "the canvas pixels did not change", canvases: describeCanvases()});
            }
            requestAnimationFrame(poll);
          };
          requestAnimationFrame(poll);
        });
        """),
        {"canvas": canvas, "timeoutMs": timeout * 1000},
    )
    key_action()
    result = page.evaluate("() => window.__convvizKeyToPixels")
    if "error" in result:
        raise AssertionError(
            f"time_key_to_pixels: {result['error']} within {timeout} s "
            f"(canvas {canvas!r}; canvases on the page: {result['canvases']})\n"
            f"{page_log(page).summary()}"
        )
    return result["ms"] / 1000.0


# --------------------------------------------------------------------------- widgets

_DESCRIBED = ".jupyter-widgets.widget-inline-hbox, .jupyter-widgets.widget-inline-vbox"
# The keyboard-focusable part of a control, most specific first: noUiSlider handle (sliders),
# <select> (Dropdown), text/number/checkbox <input>, <textarea>, <button>.
_CONTROLS = (
    ":scope > .slider-container .noUi-handle",
    ":scope > select",
    "input",
    "textarea",
    "button",
)


def widget_by_description(
    page: Page, description: str, *, timeout: float = 30.0, within: str | None = None
) -> Locator:
    """The ipywidgets 8 control whose description label reads exactly ``description`` (inside
    the element ``within`` selects, when several explorers on the page have such a control)."""
    label = page.locator(
        ":scope > label.widget-label",
        has_text=re.compile(rf"^\s*{re.escape(description)}\s*$"),
    )
    widget = (page.locator(within) if within else page).locator(_DESCRIBED).filter(has=label)
    deadline = time.monotonic() + timeout
    while (count := widget.count()) == 0 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    if count != 1:
        labels = page.locator("label.widget-label").all_inner_texts()
        raise AssertionError(
            f"expected exactly one widget described {description!r}, found {count}; "
            f"descriptions on the page: {labels}"
        )
    return widget


def control(
    page: Page, description: str, *, timeout: float = 30.0, within: str | None = None
) -> Locator:
    """The keyboard-focusable element of the widget described ``description``."""
    widget = widget_by_description(page, description, timeout=timeout, within=within)
    for selector in _CONTROLS:
        found = widget.locator(selector)
        if found.count():
            return found.first
    raise AssertionError(f"widget {description!r} has no focusable control ({_CONTROLS})")


def press_key(
    page: Page, description: str, key: str = "ArrowRight", *, times: int = 1,
    within: str | None = None,
) -> None:
    """Focus the control described ``description`` and press ``key`` (e.g. ArrowRight on a
    slider handle, ArrowDown on a dropdown's <select>), like a keyboard user."""
    target = control(page, description, within=within)
    target.focus()
    for _ in range(times):
        page.keyboard.press(key)


def select_dropdown(page: Page, description: str, label: str) -> None:
    """Choose the option showing ``label`` in the Dropdown described ``description``."""
    widget_by_description(page, description).locator("select").select_option(label=label)


def control_value(page: Page, description: str, *, within: str | None = None) -> str:
    """What the control shows: a slider's aria-valuetext, a select's or input's value."""
    target = control(page, description, within=within)
    text = target.get_attribute("aria-valuetext")
    return text if text is not None else target.input_value()
