"""Tests of the dlcourse.checks package as a whole: one module per lesson, every checker
importable from the package as the notebooks do, and no printing from any of them."""

import ast
import importlib
import inspect
import re
from pathlib import Path

import nbformat
import pytest

import dlcourse.checks
from dlcourse.env import project_root

PACKAGE = Path(dlcourse.checks.__file__).parent
LESSON_MODULES = sorted(path.stem for path in PACKAGE.glob("lesson[0-9][0-9].py"))
NOTEBOOKS = sorted((project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def checkers_of(module_name: str) -> dict[str, object]:
    """The public ``check_*`` functions defined in ``dlcourse.checks.<module_name>``."""
    module = importlib.import_module(f"dlcourse.checks.{module_name}")
    return {
        name: value
        for name, value in vars(module).items()
        if name.startswith("check_")
        and inspect.isfunction(value)
        and value.__module__ == module.__name__
    }


def test_one_module_per_lesson_in_lesson_order():
    lessons = [path.name[:2] for path in NOTEBOOKS]
    assert LESSON_MODULES == [f"lesson{number}" for number in lessons]


@pytest.mark.parametrize("module_name", LESSON_MODULES)
def test_each_checker_sits_in_its_lessons_module(module_name):
    checkers = checkers_of(module_name)
    assert checkers, f"dlcourse.checks.{module_name} has no checker"
    for name, function in checkers.items():
        assert inspect.getdoc(function).startswith(f"Lesson {module_name[-2:]}:"), name


def test_the_package_re_exports_every_checker_and_nothing_else():
    every = {
        name: f for module_name in LESSON_MODULES for name, f in checkers_of(module_name).items()
    }
    assert len(every) == 52
    exported = set(dlcourse.checks.__all__)
    assert exported == set(every) | {"CheckResult"}
    assert len(dlcourse.checks.__all__) == len(exported), "a name is listed twice in __all__"
    for name, function in every.items():
        assert getattr(dlcourse.checks, name) is function


def _imported_from_checks(source: str) -> set[str]:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "dlcourse.checks"
        for alias in node.names
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_the_notebooks_imports_resolve(path):
    notebook = nbformat.read(path, as_version=4)
    names = set().union(
        *(_imported_from_checks(c.source) for c in notebook.cells if c.cell_type == "code")
    )
    assert names, f"{path.name} imports no checker"
    missing = sorted(name for name in names if not hasattr(dlcourse.checks, name))
    assert not missing, f"{path.name} imports {missing} from dlcourse.checks"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda path: path.stem)
def test_no_checker_prints(path):
    tree = ast.parse(path.read_text())
    calls = [node.lineno for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]  # fmt: skip
    assert not calls, (
        f"dlcourse/checks/{path.name} prints (lines {calls}); return a CheckResult instead"
    )
    assert not re.search(r"\bsys\.stdout\b", path.read_text())


def test_a_check_shows_its_message_and_prints_nothing(capsys):
    from dlcourse.checks import check_rf_size

    result = check_rf_size([(3, 1, 1)], 4)
    assert capsys.readouterr().out == ""
    assert repr(result) == result.message and result.message.startswith(
        "Not yet. Start from size 1 and jump 1"
    )
    assert result._repr_markdown_().startswith("**Not yet.** Start from size 1 and jump 1")
