"""How long an explorer takes to show a new figure after a slider moves, in a real browser.

JupyterLab (one server on a loopback port) runs a small notebook that builds the explorers
of lessons 01, 02, 04 and 09 (the harness of ``tests/browser.py``); headless Chromium drags one
slider of each with the mouse, back and forth. One move is timed from the release of the
mouse button (the sliders send their value then) to the ``load`` event of the new picture,
both read from the page's clock, so the time covers the kernel's redraw, the trip to the
browser and the decoding. The first ``--warmup`` moves of each explorer are not counted.

    .venv/bin/python benchmarks/bench_widgets.py --moves 30

Prints a Markdown table (median, max and number of moves per explorer) and the machine
with its load average before and after; results go to ``benchmarks/widgets.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import (  # noqa: E402
    EXPLORER_CELLS,
    EXPLORERS,
    SLIDERS,
    chromium,
    explorer_cell,
    jupyter_lab,
    missing_requirement,
    new_page,
    run_notebook,
    slider_handle,
    stderr_outputs,
)

WATCH = """(img) => {
    window.__loads = window.__loads || new Map();
    window.__loads.set(img, []);
    img.addEventListener('load', () => window.__loads.get(img).push(performance.now()));
    if (!window.__upWatched) {
        window.__upWatched = true;
        document.addEventListener('pointerup', () => { window.__up = performance.now(); }, true);
    }
}"""


def machine() -> str:
    """CPU model and core count."""
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        model = names[0] if names else model
    return f"{model}, {os.cpu_count()} cores"


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def drag(page, handle, dx: float) -> None:
    """Press the mouse on ``handle``, move it ``dx`` pixels sideways in a few steps, release."""
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=4)
    page.mouse.up()


def time_moves(page, name: str, moves: int, warmup: int, dx: float) -> list[float]:
    """Milliseconds from the release of each drag to the new figure, for explorer ``name``."""
    cell = explorer_cell(page, name)
    image = cell.locator("img.widget-image")
    image.wait_for(timeout=30_000)
    _, handle = slider_handle(cell, SLIDERS[name])
    handle.scroll_into_view_if_needed()
    image.evaluate(WATCH)
    times = []
    for move in range(warmup + moves):
        count = image.evaluate("(img) => window.__loads.get(img).length")
        drag(page, handle, dx if move % 2 == 0 else -dx)  # back and forth: never stuck at an end
        page.wait_for_function("([img, n]) => window.__loads.get(img).length > n",
                               arg=[image.element_handle(), count], timeout=30_000)  # fmt: skip
        page.wait_for_timeout(150)  # let a late second frame land before the next move
        latency = image.evaluate(
            "(img) => { const l = window.__loads.get(img); return l[l.length - 1] - window.__up; }"
        )
        if move >= warmup:
            times.append(latency)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=30, help="timed moves per explorer")
    parser.add_argument("--warmup", type=int, default=2, help="moves per explorer not counted")
    parser.add_argument("--dx", type=float, default=24.0, help="pixels per drag")
    args = parser.parse_args()
    reason = missing_requirement()
    if reason:
        sys.exit(f"cannot run: {reason}")
    before = load_average()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        with jupyter_lab(Path(scratch), fast=False) as (url, log), chromium() as browser:
            page = new_page(browser)
            run_notebook(page, url(EXPLORERS), len(EXPLORER_CELLS), log, timeout_ms=120_000)
            for name in SLIDERS:
                results[name] = time_moves(page, name, args.moves, args.warmup, args.dx)
            errors = stderr_outputs(page).count()
    after = load_average()
    print(
        f"machine: {machine()}; load average {before} before, {after} after; stderr outputs: {errors}"
    )
    print(f"command: .venv/bin/python benchmarks/bench_widgets.py --moves {args.moves} "
          f"--warmup {args.warmup} --dx {args.dx:g}  ({time.strftime('%Y-%m-%d %H:%M')})\n")  # fmt: skip
    print("| explorer (slider) | median ms | max ms | moves |")
    print("|---|---:|---:|---:|")
    for name, times in results.items():
        print(
            f"| {name} ({SLIDERS[name]}) | {statistics.median(times):.0f} | {max(times):.0f} | {len(times)} |"
        )


if __name__ == "__main__":
    main()
