"""A JupyterLab server and headless Chromium driven by playwright: the harness that
``tests/test_browser.py`` tests the explorers with and ``benchmarks/bench_widgets.py`` times them with.

One server runs in a temporary folder with its own config and runtime files; it serves lesson 02
and a small notebook that builds the explorers of lessons 01, 02, 04 and 09 (:data:`EXPLORER_CELLS`).
Needs Debian's Chromium (``/usr/bin/chromium``) and the ``playwright`` package;
:func:`missing_requirement` says which one is missing.
"""

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "notebooks" / "02_atrous_convolution.ipynb"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
EXPLORERS = "explorers.ipynb"
# the explorers notebook: one setup cell, then one explorer per cell (lessons 01, 02, 04, 09)
EXPLORER_CELLS = {
    "setup": "from dlcourse.samples import sample_photo\n"
    "from dlcourse.aspp_view import aspp_explorer\nfrom dlcourse.dilation_view import dilation_explorer\n"
    "from dlcourse.stack_view import stack_explorer\n\n"
    "photo = sample_photo()",
    "stack": "stack_explorer([(3, 1, 1), (3, 2, 1)])",
    "dilation": "dilation_explorer(photo)",
    "aspp": "aspp_explorer(photo)",
    "crf": "from dlcourse.crf_view import crf_explorer\n\ncrf_explorer()",
}
# the slider each check moves, by its label
SLIDERS = {"stack": "dilation", "dilation": "dilation", "aspp": "rate 1", "crf": "θα (px)"}


def missing_requirement() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (pip install -e '.[test]')"
    if not (Path(sys.prefix) / "bin" / "jupyter-lab").exists():
        return f"jupyter-lab is not installed in {sys.prefix}"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer at {url}:\n{log.read_text()[-3000:]}")


def write_notebooks(work: Path) -> None:
    """A fresh copy of lesson 02 (no saved outputs can pass for new ones) and the explorers notebook."""
    import nbformat

    lesson = nbformat.read(LESSON, as_version=4)
    for cell in lesson.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(lesson, work / LESSON.name)
    explorers = nbformat.v4.new_notebook()
    explorers.cells = [nbformat.v4.new_code_cell(source) for source in EXPLORER_CELLS.values()]
    explorers.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(explorers, work / EXPLORERS)


@contextlib.contextmanager
def jupyter_lab(scratch: Path, fast: bool = True):
    """A JupyterLab server on a free loopback port serving ``scratch/work``; yields ``(url, log)``
    where ``url(name)`` opens one notebook. The server and its kernels are stopped on exit."""
    work = scratch / "work"
    work.mkdir()
    write_notebooks(work)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if fast:
        env["DLCOURSE_FAST"] = "1"
    env.pop("MPLBACKEND", None)  # the kernel must use the inline backend, as a learner's would
    for variable, folder in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                             ("JUPYTER_DATA_DIR", "data"), ("IPYTHONDIR", "ipython"),
                             ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):  # fmt: skip
        (scratch / folder).mkdir()
        env[variable] = str(scratch / folder)
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    log = scratch / "server.log"
    command = [
        str(Path(sys.prefix) / "bin" / "jupyter-lab"), "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}", "--ServerApp.port_retries=0",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
    ]  # fmt: skip
    if os.geteuid() == 0:  # containers and CI runners often run as root
        command.append("--allow-root")
    with log.open("w") as log_file:
        process = subprocess.Popen(command, cwd=work, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", process, log)
        # ``reset``: a fresh workspace, so that no tab of an earlier notebook is restored
        yield (lambda name: f"{base}/lab/tree/{name}?reset&token={token}"), log
    finally:
        # the server and the kernels it started share one process group, ours
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


@contextlib.contextmanager
def chromium():
    """A headless Chromium; ``new_page(browser)`` opens a page in it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser):
    """A 1400x1000 page in its own context (no state shared with other pages)."""
    return browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()


def run_notebook(page, url: str, code_cells: int, log: Path, timeout_ms: int = 150_000) -> None:
    """Open the notebook at ``url``, run all its cells and wait until the last one has run."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
        state="attached", timeout=60_000
    )
    # JupyterLab may ask which kernel to use: take the one it proposes (the notebook's)
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        dialog.wait_for(timeout=3_000)
        dialog.click()
    except PlaywrightTimeout:
        pass
    # the kernel is ready when the status bar says so (a busy machine may take many seconds)
    page.locator(".jp-StatusBar-Item", has_text=re.compile(r"\| Idle")).first.wait_for(
        timeout=90_000
    )
    for attempt in range(3):  # a run-all sent before the kernel answers runs nothing: send it again
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
        try:
            page.wait_for_function(
                "() => { const p = document.querySelector('.jp-CodeCell .jp-InputPrompt');"
                " return p !== null && /\\[(\\*|\\d+)\\]/.test(p.textContent); }",
                timeout=30_000,
            )  # fmt: skip
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    # run-all is done when the last code cell shows the last execution count; read with
    # textContent, since JupyterLab may not lay out cells that are off screen
    try:
        page.wait_for_function(
            "(want) => { const p = document.querySelectorAll('.jp-CodeCell .jp-InputPrompt');"
            " return p.length > 0 && p[p.length - 1].textContent.trim() === want; }",
            arg=f"[{code_cells}]:", timeout=timeout_ms,
        )  # fmt: skip
    except PlaywrightTimeout:
        prompts = page.locator(".jp-InputPrompt").all_inner_texts()
        page.screenshot(path=str(log.parent / "run_all.png"))
        raise AssertionError(
            f"the notebook did not finish; prompts {prompts}\n{log.read_text()[-3000:]}"
        ) from None


def stderr_outputs(page):
    """The stderr outputs on the page (warnings, tracebacks)."""
    return page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")


def explorer_cell(page, name: str):
    """The code cell of the explorers notebook that shows the explorer ``name``."""
    return page.locator(".jp-CodeCell").nth(list(EXPLORER_CELLS).index(name))


def slider_handle(cell, label: str):
    """The handle of the slider labelled ``label`` in ``cell``."""
    slider = cell.locator(
        ".widget-slider",
        has=cell.page.locator(".widget-label", has_text=re.compile(f"^{re.escape(label)}$")),
    )
    return slider, slider.locator(".noUi-handle, .ui-slider-handle").first


def image_source(cell) -> str:
    """The ``src`` of the explorer's figure (an ``Image`` widget)."""
    image = cell.locator("img.widget-image")
    image.wait_for(timeout=30_000)
    return image.get_attribute("src")


def wait_for_new_figure(cell, old: str, timeout_ms: int = 30_000) -> str:
    """Wait until the figure of ``cell`` shows a new, loaded picture; return its ``src``."""
    cell.page.wait_for_function(
        "([el, old]) => { const img = el.querySelector('img.widget-image');"
        " return img !== null && img.src !== old && img.complete && img.naturalWidth > 0; }",
        arg=[cell.element_handle(), old], timeout=timeout_ms,
    )  # fmt: skip
    return image_source(cell)
