"""Structure and hygiene of every lesson notebook (their outputs are checked by nbval)."""

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from dlcourse.env import colab_install_cell, project_root
from dlcourse.notebook_tools import code_cells, notebook_definitions

NOTEBOOKS = sorted((project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IDS = [path.stem for path in NOTEBOOKS]
MAX_BYTES = 1_000_000
FORBIDDEN_OUTPUTS = ("image/svg+xml", "application/pdf")


def read(path: Path):
    return nbformat.read(path, as_version=4)


def test_lessons_are_numbered_from_00_without_gaps():
    numbers = [int(path.name[:2]) for path in NOTEBOOKS]
    assert numbers == list(range(len(numbers))), numbers
    assert numbers, "no lessons found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_cell_has_title_colab_badge_and_goals(path):
    first = read(path).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# "), "the first cell starts with the lesson's title"
    badge = f"https://colab.research.google.com/github/deeplab-from-scratch/deeplab-from-scratch/blob/main/notebooks/{path.name}"
    assert badge in first.source, f"the Colab badge must link to {badge}"
    assert re.search(r"learning goals|you will", first.source, re.IGNORECASE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_code_cells_install_in_colab_then_set_up(path):
    cells = code_cells(path)
    assert cells[0] == colab_install_cell(), (
        "the first code cell must be exactly dlcourse.env.colab_install_cell(); "
        "print it with `python -m dlcourse.env`"
    )
    assert cells[1].startswith("# NBVAL_IGNORE_OUTPUT")
    assert "setup(" in cells[1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_was_run_top_to_bottom_without_errors(path):
    notebook = read(path)
    counts = [cell.execution_count for cell in notebook.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"execution counts {counts}: re-run it with `make execute NB={path.relative_to(project_root())}`"
    )
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"cell {number} has an error output"
            if output.output_type == "stream" and output.name == "stderr":
                assert "Warning" not in output.text, (
                    f"cell {number} prints a warning: {output.text[:200]}"
                )
            for kind in FORBIDDEN_OUTPUTS:
                assert kind not in output.get("data", {}), (
                    f"cell {number} has a {kind} output; use PNG"
                )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_small_and_ends_with_a_summary(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is over 1 MB; shrink its figures"
    notebook = read(path)
    assert notebook.metadata.kernelspec.name == "python3"
    headings = [c.source for c in notebook.cells if c.cell_type == "markdown"]
    assert any(re.search(r"^#+ .*summary", h, re.IGNORECASE | re.MULTILINE) for h in headings[-3:])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercises_use_the_package_checkers(path):
    source = "\n".join(code_cells(path))
    markdown = "\n".join(c.source for c in read(path).cells if c.cell_type == "markdown")
    assert "Your turn" in markdown
    assert re.search(r"\bcheck_\w+\(", source), "exercises are checked with dlcourse.checks"
    assert "<details>" in markdown, "solutions sit in collapsed <details> blocks"


def _checker_calls(source: str, checkers: set[str]) -> tuple[int, bool]:
    """How many checkers a cell calls, and whether its last statement is such a call."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    body = ast.parse("\n".join(lines)).body

    def is_check(node) -> bool:
        return (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in checkers
        )

    calls = sum(is_check(node) for statement in body for node in ast.walk(statement))
    shown = bool(body) and isinstance(body[-1], ast.Expr) and is_check(body[-1].value)
    return calls, shown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_a_checker_is_the_last_expression_of_its_cell(path):
    """A check returns its message; only the last expression of a cell is shown."""
    import dlcourse.checks

    checkers = {name for name in dlcourse.checks.__all__ if name.startswith("check_")}
    for number, source in enumerate(code_cells(path)):
        calls, shown = _checker_calls(source, checkers)
        if calls:
            assert calls == 1 and shown, (
                f"code cell {number} of {path.name}: end the cell with the one check, or its "
                "message is not shown"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebooks_do_not_read_environment_variables_directly(path):
    source = "\n".join(code_cells(path)[1:])
    assert "os.environ" not in source and "getenv" not in source, "use dlcourse.env instead"


def test_readme_lists_every_lesson():
    readme = (project_root() / "README.md").read_text()
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}" in readme, f"README.md's lesson table misses {path.name}"


def test_notebook_definitions_keeps_only_imports_functions_and_classes(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import math\nvalue = 1 / 0"),
        nbformat.v4.new_code_cell("%matplotlib inline\ndef area(r):\n    return math.pi * r * r"),
        nbformat.v4.new_code_cell("class Box:\n    size = 3\nprint('not run')"),
    ]
    path = tmp_path / "toy.ipynb"
    path.write_text(json.dumps(notebook))
    namespace = notebook_definitions(path)
    assert namespace["area"](1.0) == pytest.approx(3.141592653589793)
    assert namespace["Box"].size == 3
    assert "value" not in namespace
