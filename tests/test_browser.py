"""The explorers in a real browser: one JupyterLab server runs lesson 02 and a small notebook
that builds the explorers of lessons 01, 02, 04 and 09; for each, moving a control must change
its figure, with nothing written to stderr.

Needs Debian's Chromium (``/usr/bin/chromium``) and the ``playwright`` package. Without
them the tests are skipped, unless ``DLCOURSE_REQUIRE_BROWSER=1`` (CI), where they fail.
Everything the server writes (config, runtime files, the notebooks) stays in a temporary
folder. ``benchmarks/bench_widgets.py`` times the same explorers with the same helpers.
"""

import contextlib
import json
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

import pytest

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
    "from dlcourse.aspp_view import aspp_explorer\nfrom dlcourse.rf_view import dilation_explorer, stack_explorer\n\n"
    "photo = sample_photo()",
    "stack": "stack_explorer([(3, 1, 1), (3, 2, 1)])",
    "dilation": "dilation_explorer(photo)",
    "aspp": "aspp_explorer(photo)",
    "crf": "from dlcourse.crf_view import crf_explorer\n\ncrf_explorer()",
}
# the slider each check moves, by its label
SLIDERS = {"stack": "dilation", "dilation": "dilation", "aspp": "rate 1", "crf": "θα (px)"}


def _count_cells() -> tuple[int, int]:
    """The lesson's number of code cells, and how many of its saved outputs remind the learner
    to answer an exercise (all exercises start unanswered)."""
    cells = [c for c in json.loads(LESSON.read_text())["cells"] if c["cell_type"] == "code"]
    outputs = [output for cell in cells for output in cell["outputs"]]
    # printed text is a stream's "text", a checker's result an execute_result's "text/plain"
    text = ["".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")) for o in outputs]
    return len(cells), sum("replace the None with your answer" in t for t in text)


CODE_CELLS, REMINDERS = _count_cells()


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


def _require_browser():
    reason = missing_requirement()
    if reason is None:
        return
    if os.environ.get("DLCOURSE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"DLCOURSE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab server and one browser for every test of this file."""
    _require_browser()
    with jupyter_lab(tmp_path_factory.mktemp("lab")) as (url, log), chromium() as browser:
        yield url, log, browser
    assert "Traceback" not in log.read_text()


def test_dilation_slider_redraws_in_jupyterlab(lab):
    url, log, browser = lab
    page = new_page(browser)
    run_notebook(page, url(LESSON.name), CODE_CELLS, log)
    # every unanswered exercise printed its reminder, as in the committed lesson
    reminders = page.locator(".jp-OutputArea-output", has_text="replace the None with your answer")
    assert reminders.count() == REMINDERS, f"{reminders.count()} reminders, expected {REMINDERS}"
    errors = stderr_outputs(page)
    assert errors.count() == 0, errors.first.inner_text()

    slider = page.locator(
        ".widget-slider", has=page.locator(".widget-label", has_text=re.compile(r"^dilation$"))
    )
    assert slider.count() == 1
    explorer = page.locator(".jp-CodeCell", has=slider)
    before = image_source(explorer)
    assert before
    assert slider.locator(".widget-readout").inner_text().strip() == "1"
    handle = slider.locator(".noUi-handle, .ui-slider-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert wait_for_new_figure(explorer, before) != before
    assert slider.locator(".widget-readout").inner_text().strip() == "3"
    page.context.close()


@pytest.fixture(scope="module")
def explorers(lab):
    """The explorers notebook, run once in its own page."""
    url, log, browser = lab
    page = new_page(browser)
    run_notebook(page, url(EXPLORERS), len(EXPLORER_CELLS), log, timeout_ms=90_000)
    return page


@pytest.mark.parametrize("name", ["stack", "dilation", "aspp", "crf"])
def test_moving_a_slider_redraws_each_explorer(explorers, name):
    page = explorers
    cell = explorer_cell(page, name)
    slider, handle = slider_handle(cell, SLIDERS[name])
    assert slider.count() == 1
    before = image_source(cell)
    size = cell.locator("img.widget-image").evaluate("img => [img.naturalWidth, img.naturalHeight]")
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press("ArrowRight")
    after = wait_for_new_figure(cell, before)
    assert after != before
    # a fixed layout: the new figure has the size of the old one
    assert (
        cell.locator("img.widget-image").evaluate("img => [img.naturalWidth, img.naturalHeight]")
        == size
    )
    errors = stderr_outputs(page)
    assert errors.count() == 0, errors.first.inner_text()


def test_aspp_dropdown_and_checkbox_redraw(explorers):
    page = explorers
    cell = explorer_cell(page, "aspp")
    before = image_source(cell)
    cell.locator(".widget-dropdown select").select_option("8")
    before = wait_for_new_figure(cell, before)
    # the title travels as HTML beside the picture, and follows the controls
    cell.locator(".widget-html", has_text="ASPP at output stride 8").wait_for(timeout=10_000)
    assert (
        cell.locator(".widget-html", has_text="rate 12: span").count() == 1
    )  # the legend, as HTML
    cell.locator(".widget-checkbox input").click()
    wait_for_new_figure(cell, before)
    assert stderr_outputs(page).count() == 0


def test_rapid_add_layer_clicks_keep_the_page_still(explorers):
    page = explorers
    cell = explorer_cell(page, "stack")
    add = cell.locator("button", has_text="add layer")
    add.scroll_into_view_if_needed()
    before = image_source(cell)
    height = cell.bounding_box()["height"]
    box = add.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    start = time.monotonic()
    for _ in range(10):  # 10 clicks, 80 ms apart: the chain of 2 layers reaches its limit of 8
        page.mouse.click(x, y)
        page.wait_for_timeout(80)
        assert abs(cell.bounding_box()["height"] - height) < 1, "the explorer changed its height"
    cell.locator(".widget-label", has_text="8 of 8 layers, the limit").wait_for(timeout=20_000)
    wait_for_new_figure(cell, before)
    page.wait_for_function(
        "(el) => el.querySelector('button.jupyter-button:disabled') !== null",
        arg=cell.element_handle(),
    )
    settled = time.monotonic() - start
    assert settled < 10, f"the explorer took {settled:.1f} s to settle"
    assert add.is_disabled()
    assert stderr_outputs(page).count() == 0
    assert abs(cell.bounding_box()["height"] - height) < 1
