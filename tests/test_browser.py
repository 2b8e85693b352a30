"""The explorers in a real browser: one JupyterLab server runs lesson 02 and a small notebook
that builds the explorers of lessons 01, 02, 04 and 09; for each, moving a control must change
its figure, with nothing written to stderr.

Needs Debian's Chromium (``/usr/bin/chromium``) and the ``playwright`` package. Without
them the tests are skipped, unless ``DLCOURSE_REQUIRE_BROWSER=1`` (CI), where they fail.
Everything the server writes (config, runtime files, the notebooks) stays in a temporary
folder. The harness is ``tests/browser.py``; ``benchmarks/bench_widgets.py`` times the same explorers with it.
"""

import json
import os
import re
import time

import pytest
from browser import (
    EXPLORER_CELLS,
    EXPLORERS,
    LESSON,
    SLIDERS,
    chromium,
    explorer_cell,
    image_source,
    jupyter_lab,
    missing_requirement,
    new_page,
    run_notebook,
    slider_handle,
    stderr_outputs,
    wait_for_new_figure,
)


def _count_cells() -> tuple[int, int]:
    """The lesson's number of code cells, and how many of its saved outputs remind the learner
    to answer an exercise (all exercises start unanswered)."""
    cells = [c for c in json.loads(LESSON.read_text())["cells"] if c["cell_type"] == "code"]
    outputs = [output for cell in cells for output in cell["outputs"]]
    # printed text is a stream's "text", a checker's result an execute_result's "text/plain"
    text = ["".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")) for o in outputs]
    return len(cells), sum("replace the None with your answer" in t for t in text)


CODE_CELLS, REMINDERS = _count_cells()


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
        # what the server wrote while the tests ran; a kernel that is stopped with the server
        # may log a traceback of its own while shutting down, which says nothing about the lessons
        served = log.read_text()
    assert "Traceback" not in served, served[-3000:]


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
