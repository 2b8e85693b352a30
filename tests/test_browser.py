"""Lesson 02 in a real browser: JupyterLab runs it, a key press moves the dilation slider,
and the explorer's figure must change.

Needs Debian's Chromium (``/usr/bin/chromium``) and the ``playwright`` package. Without
them the test is skipped, unless ``DLCOURSE_REQUIRE_BROWSER=1`` (CI), where it fails.
Everything the server writes (config, runtime files, the notebook copy) stays in ``tmp_path``.
"""

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


def _count_cells() -> tuple[int, int]:
    """The lesson's number of code cells, and how many of its saved outputs remind the learner
    to answer an exercise (all exercises start unanswered)."""
    import json

    cells = [c for c in json.loads(LESSON.read_text())["cells"] if c["cell_type"] == "code"]
    text = ["".join(o.get("text", "")) for c in cells for o in c["outputs"]]
    return len(cells), sum("replace the None with your answer" in t for t in text)


CODE_CELLS, REMINDERS = _count_cells()
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def _missing_requirement() -> str | None:
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


@pytest.fixture
def lab_server(tmp_path):
    """A JupyterLab server on a free loopback port, serving a copy of lesson 02 from ``tmp_path``."""
    work = tmp_path / "work"
    work.mkdir()
    import nbformat

    lesson = nbformat.read(LESSON, as_version=4)
    for cell in lesson.cells:  # a fresh copy: no saved outputs can pass for new ones
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(lesson, work / LESSON.name)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, DLCOURSE_FAST="1", PYTHONUNBUFFERED="1")
    env.pop("MPLBACKEND", None)  # the kernel must use the inline backend, as a learner's would
    for variable, folder in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                             ("JUPYTER_DATA_DIR", "data"), ("IPYTHONDIR", "ipython"),
                             ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):  # fmt: skip
        (tmp_path / folder).mkdir()
        env[variable] = str(tmp_path / folder)
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    log = tmp_path / "server.log"
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
        yield f"{base}/lab/tree/{LESSON.name}?token={token}", log
    finally:
        # the server and the kernels it started share one process group, ours
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def _require_browser():
    reason = _missing_requirement()
    if reason is None:
        return
    if os.environ.get("DLCOURSE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"DLCOURSE_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def test_dilation_slider_redraws_in_jupyterlab(request):
    _require_browser()
    url, log = request.getfixturevalue("lab_server")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            # wait until the notebook is open and its kernel is ready
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
                state="attached", timeout=60_000
            )
            # JupyterLab may ask which kernel to use: take the one it proposes (the notebook's)
            dialog = page.locator(".jp-Dialog .jp-mod-accept")
            try:
                dialog.wait_for(timeout=5_000)
                dialog.click()
            except PlaywrightTimeout:
                pass
            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()

            # run-all is done when the last code cell shows the last execution count; read with
            # textContent, since JupyterLab may not lay out cells that are off screen
            last_prompt = f"[{CODE_CELLS}]:"
            try:
                page.wait_for_function(
                    "(want) => { const p = document.querySelectorAll('.jp-CodeCell .jp-InputPrompt');"
                    " return p.length > 0 && p[p.length - 1].textContent.trim() === want; }",
                    arg=last_prompt, timeout=150_000,
                )  # fmt: skip
            except PlaywrightTimeout:
                prompts = page.locator(".jp-InputPrompt").all_inner_texts()
                page.screenshot(path=str(log.parent / "run_all.png"))
                raise AssertionError(
                    f"lesson 02 did not finish; prompts {prompts}\n{log.read_text()[-3000:]}"
                ) from None
            # every unanswered exercise printed its reminder, as in the committed lesson
            reminders = page.locator(".jp-OutputArea-output", has_text="replace the None with your answer")
            assert reminders.count() == REMINDERS, f"{reminders.count()} reminders, expected {REMINDERS}"
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert errors.count() == 0, errors.first.inner_text()

            slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text=re.compile(r"^dilation$")))
            assert slider.count() == 1
            explorer = page.locator(".widget-vbox", has=slider).last
            figure = explorer.locator(".widget-output img")
            figure.wait_for(timeout=30_000)
            before = figure.get_attribute("src")
            assert before and before.startswith("data:image/png")
            assert slider.locator(".widget-readout").inner_text().strip() == "1"

            handle = slider.locator(".noUi-handle, .ui-slider-handle").first
            handle.scroll_into_view_if_needed()
            handle.focus()
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            page.wait_for_function(
                "([el, old]) => { const img = el.querySelector('.widget-output img');"
                " return img !== null && img.src !== old; }",
                arg=[explorer.element_handle(), before], timeout=30_000,
            )  # fmt: skip
            after = figure.get_attribute("src")
            assert after != before
            assert slider.locator(".widget-readout").inner_text().strip() == "3"
        finally:
            browser.close()
    assert "Traceback" not in log.read_text()
