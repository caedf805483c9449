"""Drive a real JupyterLab in headless Chromium (a helper for browser tests and benchmarks).

Not a test module. Typical use::

    with running_lab() as lab, chromium() as browser:
        nb = open_notebook(browser, lab, "00_welcome.ipynb")
        nb.run_all()
        nb.wait_for_plots(1)
        latencies = nb.measure_key_latency(slider_index=0, key="ArrowRight", presses=5)

For another notebook or slider, only the names change: ``open_notebook(browser, lab,
"01_....ipynb")`` and ``nb.measure_key_latency(slider_index=k)`` (``k`` counts the
``.noUi-handle`` elements of the whole notebook; the plot measured is the first plotly
figure in the same cell output as that slider, or pass ``plot_index=``). In pytest, wrap
:func:`running_lab` (or :func:`shared_lab`, one server per process for several modules) and
:func:`chromium` in module- or session-scoped fixtures, and skip with :data:`INSTALL_HINT`
when :func:`find_chromium` returns ``None`` (see ``tests/test_browser.py``).

The server runs on a free localhost port with a token, from temporary HOME, Jupyter
config, data, settings and workspaces directories, and serves a temporary *copy* of
``notebooks/`` (the repository's notebooks are never touched). Its user settings turn
notebook windowing off (``windowingMode: "none"``: windowing can drop off-screen outputs,
jupyterlab#17815) and turn off the news pop-up and the update check. The app is exposed
as ``window.jupyterapp`` so commands run by id (``runmenu:run-all``).

Latency is measured inside the page: a capture-phase ``keydown`` listener stamps
``performance.now()``; a ``MutationObserver`` on the plot (trace path ``d`` and marker
``transform`` attributes, added/removed nodes under ``.main-svg``) stamps the first mutation
after it, and the next animation frame after that mutation stamps "painted".
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
#: the plotly.js bundled with plotly.py (what FigureWidget and the static pages draw with)
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: JS (to open a page script's function body) defining ``drawnTraces(el)``: each drawn
#: cartesian trace of a plotly div as ``index:points/lines``, then ``heatmap`` per heatmap
#: image; and ``freshly(gd, look)``: ``look`` applied to a fresh ``Plotly.newPlot`` of
#: ``gd``'s current data and layout in the same page (data shallow-copied: typed arrays do
#: not survive JSON; the layout deep-copied: newPlot writes into it).
FRESH_DRAWING_JS = """
  const drawnTraces = el => [...el.querySelectorAll('.cartesianlayer .trace')]
    .map(g => g.__data__[0].trace.index + ':' + g.querySelectorAll('.point').length + '/'
              + g.querySelectorAll('path.js-line').length)
    .concat([...el.querySelectorAll('.cartesianlayer .hm image')].map(() => 'heatmap'));
  const freshly = async (gd, look) => {
    const div = document.createElement('div');
    div.style.width = gd.offsetWidth + 'px';
    document.body.appendChild(div);
    await Plotly.newPlot(div, gd.data.map(t => Object.assign({}, t)),
                         JSON.parse(JSON.stringify(gd.layout)));
    const seen = look(div);
    Plotly.purge(div);
    div.remove();
    return seen;
  };
"""
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = (
    "no Chromium executable found on PATH (looked for "
    + ", ".join(CHROMIUM_NAMES)
    + "): install it with `apt-get install chromium` (Debian/Ubuntu) to run the browser tests"
)

#: User settings written for the test server: plugin id -> settings.
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

#: Extra user settings (``start_lab(settings=DARK_THEME)``) that open JupyterLab in its dark
#: theme, as a user who picked *Settings > Theme > JupyterLab Dark* sees it.
DARK_THEME: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
}


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable on PATH, or ``None``."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the server ----------------------------------------------------------------
@dataclass
class LabServer:
    """A running JupyterLab: its URL, token, served directory and process."""

    base_url: str
    token: str
    root_dir: Path
    tmp: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: Any = field(repr=False, default=None)

    def api(self, method: str, path: str, timeout: float = 10.0) -> Any:
        """Call the server's REST API (``path`` like ``"api/kernels"``); returns parsed JSON."""
        req = urllib.request.Request(
            f"{self.base_url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def lab_url(self, notebook: str, workspace: str | None = None) -> str:
        """URL opening ``notebook`` (relative to the root dir) in a fresh workspace."""
        ws = workspace or f"t{uuid.uuid4().hex[:8]}"
        return f"{self.base_url}lab/workspaces/{ws}/tree/{notebook}?token={self.token}"

    def log_tail(self, n: int = 60) -> str:
        """The last ``n`` lines of the server's log (for failure messages)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def shutdown_kernels(self) -> None:
        """Shut every kernel down through the API (best effort)."""
        with contextlib.suppress(Exception):
            for kernel in self.api("GET", "api/kernels"):
                with contextlib.suppress(Exception):
                    self.api("DELETE", f"api/kernels/{kernel['id']}", timeout=20)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop kernels and server (SIGTERM, then SIGKILL of its process group); clean up."""
        if self.process.poll() is None:
            _remember_children(self.process.pid)
            self.shutdown_kernels()
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        _kill_leftovers(self.process.pid)
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


_CHILDREN: dict[int, list[Any]] = {}


def _remember_children(pid: int) -> None:
    """Note the server's child processes (kernels start their own sessions)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with jupyter_server's stack
        return
    with contextlib.suppress(psutil.Error):
        kids = psutil.Process(pid).children(recursive=True)
        known = {p.pid for p in _CHILDREN.get(pid, [])}
        _CHILDREN.setdefault(pid, []).extend(k for k in kids if k.pid not in known)


def _kill_leftovers(pid: int) -> None:
    """Kill the processes the server started that outlived it (by their ids only)."""
    with contextlib.suppress(Exception):
        import psutil

        procs = [p for p in _CHILDREN.pop(pid, []) if p.is_running()]
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, alive = psutil.wait_procs(procs, timeout=5)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()


def _write_settings(settings_dir: Path, settings: Mapping[str, Mapping[str, Any]]) -> None:
    for plugin_id, values in settings.items():
        package, plugin = plugin_id.split(":")
        path = settings_dir / package / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))


def start_lab(
    notebooks_dir: Path = NOTEBOOKS,
    *,
    extra_files: Mapping[str, str | bytes] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    env: Mapping[str, str] | None = None,
    server_config: Mapping[str, Mapping[str, Any]] | None = None,
    timeout: float = 120.0,
) -> LabServer:
    """Start JupyterLab serving a temporary copy of ``notebooks_dir``; wait until it answers.

    Parameters
    ----------
    notebooks_dir : Path
        Copied (not served in place) into a temporary root directory.
    extra_files : mapping of relative path -> text or bytes, optional
        More files to write into the root (e.g. a baseline notebook made by a benchmark).
    settings : mapping of plugin id -> settings, optional
        Merged over :data:`LAB_SETTINGS`.
    env : mapping, optional
        Extra environment variables for the server and its kernels.
    server_config : mapping of class name -> traits, optional
        More server configuration (e.g. ``{"ServerApp": {"jpserver_extensions": ...}}``).
    timeout : float
        Seconds to wait for the server to answer.
    """
    tmp = Path(tempfile.mkdtemp(prefix="alignkit-lab-"))
    root = tmp / "root"
    shutil.copytree(notebooks_dir, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for rel, content in (extra_files or {}).items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    home, config, data, user_settings, workspaces, runtime = (
        tmp / name for name in ("home", "config", "data", "settings", "workspaces", "runtime")
    )
    for d in (home, config, data, user_settings, workspaces, runtime):
        d.mkdir()
    merged = {**LAB_SETTINGS, **(settings or {})}
    _write_settings(user_settings, merged)
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "LabApp": {
                    "news_url": None,
                    "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                    "expose_app_in_browser": True,
                },
                **(server_config or {}),
            }
        )
    )
    token = uuid.uuid4().hex
    port = free_port()
    child_env = {
        **os.environ,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(data),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTERLAB_SETTINGS_DIR": str(user_settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(workspaces),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={user_settings}",
        f"--LabApp.workspaces_dir={workspaces}",
        "--LabApp.expose_app_in_browser=True",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    log_path = tmp / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        cmd,
        cwd=root,
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = LabServer(
        base_url=f"http://127.0.0.1:{port}/",
        token=token,
        root_dir=root,
        tmp=tmp,
        process=process,
        log_path=log_path,
        _log=log,
    )
    try:
        _wait_until_answers(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_answers(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with code {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            server.api("GET", "api/status", timeout=5)
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"JupyterLab did not answer within {timeout:.0f} s:\n{server.log_tail()}"
            )
        time.sleep(0.25)


@contextlib.contextmanager
def running_lab(notebooks_dir: Path = NOTEBOOKS, **kwargs: Any) -> Iterator[LabServer]:
    """Context manager around :func:`start_lab`; the server always stops on exit."""
    server = start_lab(notebooks_dir, **kwargs)
    try:
        yield server
    finally:
        server.stop()


# --- the browser -----------------------------------------------------------------
@contextlib.contextmanager
def chromium(executable: str | None = None, *, viewport: tuple[int, int] = (1400, 1000)) -> Any:
    """Headless Chromium via playwright's sync API; yields a ``BrowserContext``.

    Raises ``RuntimeError`` with an install hint when no executable is found.
    """
    from playwright.sync_api import sync_playwright

    path = executable or find_chromium()
    if path is None:
        raise RuntimeError(INSTALL_HINT)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            yield context
        finally:
            browser.close()


# Page-side helpers, installed once per page.
_PAGE_JS = r"""
() => {
  if (window.__ak) return true;
  const ak = {
    armed: null,
    results: [],
    outputArea(el) { return el.closest('.jp-Cell') || document.body; },
    plotFor(sliderIndex, plotIndex) {
      if (plotIndex !== null && plotIndex !== undefined) {
        return document.querySelectorAll('.jp-Notebook .js-plotly-plot')[plotIndex] || null;
      }
      const h = document.querySelectorAll('.jp-Notebook .noUi-handle')[sliderIndex];
      if (!h) return null;
      return this.outputArea(h).querySelector('.js-plotly-plot');
    },
    titleOf(plot) {  // a live panel's caption (over plotly's hidden title), else the title
      if (!plot) return '';
      const box = plot.closest('.alignkit-figure-box');
      const c = box && box.querySelector('.alignkit-caption');
      const t = c || plot.querySelector('.gtitle');
      return t ? (t.textContent || '') : '';
    },
    traceSignature(plot) {
      if (!plot) return null;
      return Array.from(plot.querySelectorAll('.main-svg .trace path'))
        .map(p => p.getAttribute('d') || '').join('|');
    },
    arm(sliderIndex, plotIndex) {
      const plot = this.plotFor(sliderIndex, plotIndex);
      if (!plot) throw new Error('no plot for slider ' + sliderIndex);
      const rec = { t0: null, tMut: null, tPaint: null, tLast: null, nMut: 0 };
      // every mutation of the plot after keydown (titles too): when the last redraw ended
      const all = new MutationObserver(() => {
        if (rec.t0 !== null) rec.tLast = performance.now();
      });
      // the plot's whole cell output: its caption and status line are part of the answer
      all.observe(this.outputArea(plot),
                  { subtree: true, attributes: true, childList: true, characterData: true });
      const obs = new MutationObserver((muts) => {
        if (rec.t0 === null) return;
        const relevant = muts.some(m => {
          const t = m.target.nodeType === 1 ? m.target : m.target.parentElement;
          if (!t || !t.closest || !t.closest('.main-svg')) return false;
          // a path redrawn, or a marker moved (its transform): both are a redraw
          return m.type === 'childList' || !!t.closest('.trace');
        });
        if (!relevant) return;
        rec.nMut += muts.length;
        if (rec.tMut === null) {
          rec.tMut = performance.now();
          requestAnimationFrame(() => { rec.tPaint = performance.now(); });
          obs.disconnect();
        }
      });
      obs.observe(plot, { subtree: true, attributes: true, attributeFilter: ['d', 'transform'],
                         childList: true });
      const onKey = (e) => {
        if (rec.t0 === null) rec.t0 = performance.now();
        document.removeEventListener('keydown', onKey, true);
      };
      document.addEventListener('keydown', onKey, true);
      rec.cancel = () => { obs.disconnect(); all.disconnect();
                           document.removeEventListener('keydown', onKey, true); };
      this.armed = rec;
      return true;
    },
    done() { const r = this.armed; return !!(r && r.tPaint !== null); },
    take() {
      const r = this.armed; this.armed = null;
      if (!r) return null;
      r.cancel();
      const out = { t0: r.t0, tMut: r.tMut, tPaint: r.tPaint, tLast: r.tLast };
      this.results.push(out);
      return out;
    },
  };
  window.__ak = ak;
  return true;
}
"""


@dataclass
class KeyLatency:
    """One key press: ms from keydown to first plot mutation, and to the next frame.

    ``last_ms``: keydown to the last mutation of the plot (any element, titles included)
    within the settle time given to :meth:`NotebookPage.measure_key` (None without one).
    """

    key: str
    mutation_ms: float | None
    paint_ms: float | None
    last_ms: float | None = None


class NotebookPage:
    """A notebook open in JupyterLab in a Chromium page."""

    def __init__(self, page: Any, server: LabServer, notebook: str) -> None:
        self.page = page
        self.server = server
        self.notebook = notebook
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))

    def close(self, shutdown_kernel: bool = True) -> None:
        """Close the page, and shut the notebook's kernel down (best effort)."""
        if shutdown_kernel:
            with contextlib.suppress(Exception):
                self.page.evaluate(
                    "() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"
                )
        with contextlib.suppress(Exception):
            self.page.close()

    def diagnostics(self) -> str:
        """Browser console and server log tails, for failure messages."""
        return (
            "--- browser console (last 30) ---\n"
            + "\n".join(self.console[-30:])
            + "\n--- server log (last 40 lines) ---\n"
            + self.server.log_tail(40)
        )

    # --- loading and running ---------------------------------------------------------
    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait until the app is up, the notebook is the current widget and its kernel ready."""
        self.page.wait_for_function(
            """(name) => {
                const app = window.jupyterapp;
                if (!app || !app.shell) return false;
                const w = app.shell.currentWidget;
                return !!(w && w.context && w.context.path.endsWith(name)
                          && w.sessionContext && w.sessionContext.session
                          && w.sessionContext.session.kernel
                          && w.sessionContext.session.kernel.connectionStatus === 'connected'
                          && w.sessionContext.session.kernel.status === 'idle');
            }""",
            arg=self.notebook,
            timeout=timeout * 1e3,
            polling=200,
        )
        self.page.evaluate(_PAGE_JS)

    def run_all(self, timeout: float = 180.0) -> None:
        """Run every cell (command ``runmenu:run-all``) and wait until all have run."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('runmenu:run-all')")
        self.wait_executed(timeout)

    def wait_executed(self, timeout: float = 180.0) -> None:
        """Wait until the kernel is idle and every code cell has run (or one has failed)."""
        self.page.wait_for_function(
            """() => {
                const w = window.jupyterapp.shell.currentWidget;
                const k = w.sessionContext.session && w.sessionContext.session.kernel;
                if (!k || k.status !== 'idle') return false;
                const cells = w.content.widgets.filter(c => c.model.type === 'code');
                const failed = cells.some(c => c.model.outputs.toJSON().some(
                    o => o.output_type === 'error'));  // run-all stops at an error
                return failed || cells.every(c => c.model.executionCount !== null
                                        && c.model.executionCount !== undefined);
            }""",
            timeout=timeout * 1e3,
            polling=250,
        )

    def wait_for_plots(self, n: int = 1, timeout: float = 60.0) -> None:
        """Wait until ``n`` plotly figures with trace paths are drawn in the notebook."""
        self.page.wait_for_function(
            """(n) => {
                const plots = document.querySelectorAll('.jp-Notebook .js-plotly-plot');
                const drawn = Array.from(plots).filter(
                    p => p.querySelector('.main-svg .trace path'));
                return drawn.length >= n;
            }""",
            arg=n,
            timeout=timeout * 1e3,
            polling=200,
        )

    # --- inspection -------------------------------------------------------------------
    def error_outputs(self) -> list[str]:
        """Error outputs in the notebook model and error-looking text in the page's outputs."""
        return list(
            self.page.evaluate(
                """() => {
                const found = [];
                const w = window.jupyterapp.shell.currentWidget;
                w.content.widgets.forEach((c, i) => {
                    if (c.model.type !== 'code') return;
                    const outs = c.model.outputs.toJSON();
                    for (const o of outs) {
                        if (o.output_type === 'error')
                            found.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
                        if (o.output_type === 'stream' && o.name === 'stderr'
                            && /Traceback|Error/.test(String(o.text)))
                            found.push(`cell ${i} stderr: ${String(o.text).slice(0, 500)}`);
                    }
                });
                document.querySelectorAll('.jp-Notebook .jp-OutputArea-output').forEach(el => {
                    const t = el.textContent || '';
                    if (t.includes('Error displaying widget') || t.includes('Traceback'))
                        found.push('rendered: ' + t.slice(0, 500));
                });
                return found;
            }"""
            )
        )

    def red_text(self, slider_index: int = 0) -> list[str]:
        """Text drawn in the panel's error red (#b00020) in the slider's cell output."""
        return list(
            self.page.evaluate(
                """(i) => {
                const h = document.querySelectorAll('.jp-Notebook .noUi-handle')[i];
                const area = h ? window.__ak.outputArea(h) : document.body;
                return Array.from(area.querySelectorAll('.jp-OutputArea *'))
                    .filter(el => getComputedStyle(el).color === 'rgb(176, 0, 32)')
                    .map(el => (el.textContent || '').trim()).filter(t => t);
            }""",
                slider_index,
            )
        )

    def n_sliders(self) -> int:
        """How many slider handles the notebook shows."""
        js = "() => document.querySelectorAll('.jp-Notebook .noUi-handle').length"
        return int(self.page.evaluate(js))

    def slider_readout(self, slider_index: int) -> str:
        """The readout text next to the N-th slider."""
        return str(
            self.page.evaluate(
                """(i) => {
                const h = document.querySelectorAll('.jp-Notebook .noUi-handle')[i];
                const w = h && h.closest('.widget-slider');
                const r = w && w.querySelector('.widget-readout');
                return r ? (r.textContent || r.value || '') : '';
            }""",
                slider_index,
            )
        )

    def trace_signature(self, slider_index: int = 0, plot_index: int | None = None) -> str:
        """The ``d`` attributes of the trace paths of the slider's plot, joined."""
        return str(
            self.page.evaluate(
                "([s, p]) => window.__ak.traceSignature(window.__ak.plotFor(s, p))",
                [slider_index, plot_index],
            )
        )

    def plot_title(self, slider_index: int = 0, plot_index: int | None = None) -> str:
        """The drawn title text of the slider's plot ("" if none; a panel's caption)."""
        return str(
            self.page.evaluate(
                """([s, p]) => {
                return window.__ak.titleOf(window.__ak.plotFor(s, p));
            }""",
                [slider_index, plot_index],
            )
        )

    def kernel_eval(self, code: str, timeout: float = 60.0) -> str:
        """Run ``code`` in the notebook's kernel (not in a cell); return its stdout and errors."""
        return str(
            self.page.evaluate(
                """async ([code, ms]) => {
                const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                const fut = k.requestExecute({code, silent: false, store_history: false});
                let out = '';
                fut.onIOPub = (msg) => {
                    const t = msg.header.msg_type, c = msg.content;
                    if (t === 'stream') out += c.text;
                    if (t === 'error') out += `${c.ename}: ${c.evalue}`;
                };
                const timer = new Promise((_, rej) =>
                    setTimeout(() => rej(new Error('kernel_eval timed out')), ms));
                await Promise.race([fut.done, timer]);
                return out;
            }""",
                [code, timeout * 1e3],
            )
        )

    # --- interaction -------------------------------------------------------------------
    def focus_slider(self, slider_index: int) -> None:
        """Scroll the N-th ``.noUi-handle`` of the notebook into view and focus it."""
        handle = self.page.locator(".jp-Notebook .noUi-handle").nth(slider_index)
        handle.scroll_into_view_if_needed()
        handle.focus()

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def measure_key(
        self,
        slider_index: int,
        key: str = "ArrowRight",
        *,
        plot_index: int | None = None,
        timeout: float = 10.0,
        settle_ms: float = 0.0,
    ) -> KeyLatency:
        """Press ``key`` on the focused slider; time keydown -> first redraw of its plot.

        Returns a :class:`KeyLatency` with ``None`` fields if nothing redrew in ``timeout``.
        With ``settle_ms``, waits that long after the first redraw and also reports the
        last mutation of the plot (e.g. a title redrawn after the points moved).
        """
        self.page.evaluate("([s, p]) => window.__ak.arm(s, p)", [slider_index, plot_index])
        self.page.keyboard.press(key)
        return self._measured(key, timeout, settle_ms)

    def _measured(self, key: str, timeout: float, settle_ms: float) -> KeyLatency:
        """Wait for the armed press's redraw (or ``timeout``), settle, and read it."""
        with contextlib.suppress(Exception):
            self.page.wait_for_function(
                "() => window.__ak.done()", timeout=timeout * 1e3, polling="raf"
            )
        if settle_ms:
            self.page.wait_for_timeout(settle_ms)
        rec = self.page.evaluate("() => window.__ak.take()")
        t0, t_mut, t_paint, t_last = rec["t0"], rec["tMut"], rec["tPaint"], rec["tLast"]
        return KeyLatency(
            key=key,
            mutation_ms=None if t0 is None or t_mut is None else t_mut - t0,
            paint_ms=None if t0 is None or t_paint is None else t_paint - t0,
            last_ms=None if not settle_ms or t0 is None or t_last is None else t_last - t0,
        )

    def measure_select(
        self,
        select_index: int,
        option: int,
        *,
        plot_index: int | None = None,
        timeout: float = 10.0,
        settle_ms: float = 0.0,
    ) -> KeyLatency:
        """Choose option ``option`` of the N-th dropdown (as a click on it would: the value,
        then a ``change`` event); time that -> first redraw of ``plot_index``'s plot.

        Headless Chromium ignores arrow keys on a closed ``<select>``, so dropdowns are
        timed from the change itself. Fields as :meth:`measure_key` (``key`` is ``"select"``).
        """
        self.page.evaluate("([s, p]) => window.__ak.arm(s, p)", [0, plot_index])
        self.page.evaluate(
            """([i, j]) => {
              const s = document.querySelectorAll('.jp-Notebook .widget-dropdown select')[i];
              window.__ak.armed.t0 = performance.now();
              s.selectedIndex = j;
              s.dispatchEvent(new Event('change', {bubbles: true}));
            }""",
            [select_index, option],
        )
        return self._measured("select", timeout, settle_ms)

    def measure_key_latency(
        self,
        slider_index: int,
        key: str = "ArrowRight",
        presses: int = 10,
        *,
        plot_index: int | None = None,
        settle_s: float = 0.15,
        timeout: float = 10.0,
    ) -> list[KeyLatency]:
        """Focus the N-th slider and press ``key`` ``presses`` times, one redraw at a time.

        Each press waits for its redraw (or ``timeout``), then ``settle_s`` more so the
        next press starts from a quiet kernel.
        """
        self.focus_slider(slider_index)
        out = []
        for _ in range(presses):
            out.append(self.measure_key(slider_index, key, plot_index=plot_index, timeout=timeout))
            self.page.wait_for_timeout(settle_s * 1e3)
        return out


def open_notebook(
    context: Any, server: LabServer, notebook: str, timeout: float = 90.0
) -> NotebookPage:
    """Open ``notebook`` (path relative to the server root) in a new page; wait for its kernel."""
    page = context.new_page()
    nb = NotebookPage(page, server, notebook)
    try:
        page.goto(server.lab_url(notebook), timeout=timeout * 1e3)
        nb.wait_ready(timeout)
    except BaseException:
        page.close()
        raise
    return nb


@contextlib.contextmanager
def notebook_after_run_all(
    notebook: str, *, timeout: float = 300.0, **lab_options: Any
) -> Iterator[NotebookPage]:
    """A fresh JupyterLab and Chromium with ``notebook`` open and every cell run.

    For module-scoped fixtures; the caller skips first when :func:`find_chromium` is None.
    ``lab_options`` go to :func:`start_lab` (e.g. ``settings=DARK_THEME``).
    """
    with running_lab(timeout=120, **lab_options) as lab, chromium() as browser:
        nb = open_notebook(browser, lab, notebook, timeout=120)
        try:
            nb.run_all(timeout=timeout)
            yield nb
        finally:
            nb.close()


# --- one server per test session ----------------------------------------------------
_SHARED: LabServer | None = None


def shared_lab(**kwargs: Any) -> LabServer:
    """The process-wide test server (started on first use, stopped at exit or by
    :func:`stop_shared_lab`), so every browser test module pays the start-up once."""
    global _SHARED
    if _SHARED is None or _SHARED.process.poll() is not None:
        _SHARED = start_lab(**kwargs)
        atexit.register(stop_shared_lab)
    return _SHARED


def stop_shared_lab() -> None:
    global _SHARED
    if _SHARED is not None:
        server, _SHARED = _SHARED, None
        server.stop()
