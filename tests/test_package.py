"""Tests of the package's shape: tiny __init__, one-way imports, documented public API."""

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dlcourse

PACKAGE = Path(dlcourse.__file__).parent

# Each module may import only modules of a lower level (see CONTRIBUTING.md):
# env -> rf, viz, features; layers, features -> aspp, resnet, mobilenet, vgg -> heads -> models;
# data, metrics -> train -> cli; the CRF (crf*, lattice*) needs only torch and numpy; widgets sit
# on top; checks may import anything.
LEVELS = {
    "env": 0, "voc": 0, "notebook_tools": 0, "lattice": 0, "decoder_view": 0, "layers": 0,
    "checkpoint": 0,
    "rf": 1, "files": 1, "viz": 1, "metrics": 1, "download": 1, "config": 1, "weights": 1, "features": 1,
    "lattice_structure": 1,
    "samples": 2, "data": 2, "rf_measure": 2, "taps": 2, "error_view": 2,
    "optim": 2, "batches": 2, "aspp": 2, "resnet": 2, "mobilenet": 2, "vgg": 2, "lattice_fast": 2,
    "heads": 3, "frames": 3, "crf_kernels": 3, "costs": 3, "masks": 3, "synthetic": 3, "transforms": 3,
    "models": 4, "export": 4, "crf": 4,
    "inference": 5, "published": 5, "crf_rnn": 5, "crf_reference": 5, "recipe": 5,
    "train": 6,
    "cli": 7, "widgets": 7, "zoo": 7, "family": 7, "photo": 7,
    "checks": 8, "crf_view": 8, "stack_view": 8, "dilation_view": 8, "aspp_view": 8,
}  # fmt: skip
STANDALONE = {
    "lattice": set(), "lattice_structure": {"lattice"}, "lattice_fast": {"lattice", "lattice_structure"},
    "crf_kernels": {"lattice_fast"}, "crf": {"crf_kernels", "lattice_fast"},
    "crf_rnn": {"crf", "crf_kernels"}, "crf_reference": {"crf", "crf_kernels"},
}  # fmt: skip


# A subpackage sits at its own level as a whole; inside it, the modules import only its
# shared core (the lessons' checkers do not import each other), and only its __init__
# imports the rest.
SUBPACKAGE_CORE = {"checks": "checks.core"}


def package_modules() -> list[str]:
    """Every module of dlcourse by its dotted name below the package: ``rf``, ``checks``, ``checks.core``."""
    names = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and parts[-1] != "__main__":
            names.append(".".join(parts))
    return sorted(names)


def module_path(name: str) -> Path:
    """The file of module ``name`` (a subpackage's is its ``__init__.py``)."""
    path = PACKAGE.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def level(name: str) -> int:
    """The import level of a module: its top-level name's, so ``checks.lesson01`` is at ``checks``'s."""
    return LEVELS[name.split(".")[0]]


def _is_main_guard(statement: ast.stmt) -> bool:
    """Whether a top-level statement is ``if __name__ == "__main__": ...``."""
    test = getattr(statement, "test", None)
    return (isinstance(statement, ast.If) and isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and [getattr(c, "value", None) for c in test.comparators] == ["__main__"])  # fmt: skip


def imported_course_modules(name: str) -> set[str]:
    """Modules of dlcourse (dotted names) imported by module ``name``, at any depth of its file."""
    modules = set(package_modules())
    package = name if module_path(name).name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    # the script guard (``if __name__ == "__main__":``) runs only under ``python -m``: an
    # entry point may hand over to a module above it there (train -> cli)
    body = [s for s in ast.parse(module_path(name).read_text()).body if not _is_main_guard(s)]
    for node in (n for statement in body for n in ast.walk(statement)):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from its own package (level 1) or above
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            elif node.module == "dlcourse" or (node.module or "").startswith("dlcourse."):
                source = node.module.removeprefix("dlcourse").lstrip(".")
            else:
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}".lstrip(".")
                found.add(submodule if submodule in modules else source)
        elif isinstance(node, ast.Import):
            found.update(
                a.name.removeprefix("dlcourse.")
                for a in node.names
                if a.name.startswith("dlcourse.")
            )
    return found - {name, ""}


def test_module_discovery_sees_the_subpackages():
    names = package_modules()
    assert {"rf", "checks", "checks.core", "checks.lesson00", "checks.lesson10"} <= set(names)
    assert imported_course_modules("checks.lesson01") >= {"checks.core", "rf"}
    assert "checks.lesson09" in imported_course_modules("checks")
    # python -m dlcourse.train hands over to the command line only under its script guard
    assert "cli" not in imported_course_modules("train")
    assert "train" in imported_course_modules("cli")


def test_every_module_has_a_level():
    missing = [name for name in package_modules() if name.split(".")[0] not in LEVELS]
    assert not missing, f"add {missing} to LEVELS in tests/test_package.py and CONTRIBUTING.md"


@pytest.mark.parametrize("name", package_modules())
def test_imports_point_one_way(name):
    imported = imported_course_modules(name)
    if name in STANDALONE:
        assert imported <= STANDALONE[name], f"dlcourse.{name} must need only torch: {imported}"
        return
    top = name.split(".")[0]
    outside = {other for other in imported if other.split(".")[0] != top}
    upward = {other for other in outside if LEVELS.get(other.split(".")[0], 99) >= level(name)}
    assert not upward, f"dlcourse.{name} imports {sorted(upward)}, which sit at or above it"


@pytest.mark.parametrize(
    "name", [n for n in package_modules() if n.split(".")[0] in SUBPACKAGE_CORE]
)
def test_subpackage_modules_import_only_their_core(name):
    top = name.split(".")[0]
    core = SUBPACKAGE_CORE[top]
    inside = {other for other in imported_course_modules(name) if other.split(".")[0] == top}
    if name == top:  # the subpackage's __init__ gathers its modules
        return
    allowed = set() if name == core else {core}
    assert inside <= allowed, (
        f"dlcourse.{name} imports {sorted(inside - allowed)}; share code through {core}"
    )


@pytest.mark.parametrize("name", package_modules())
def test_module_docstring_names_its_lessons(name):
    module = importlib.import_module(f"dlcourse.{name}")
    assert module.__doc__ and "Used in:" in module.__doc__, f"dlcourse.{name} needs 'Used in: NN'"
    lesson = re.fullmatch(r"checks\.lesson(\d\d)", name)
    if lesson:  # one module per lesson: it names that lesson
        assert f"Used in: {lesson[1]}." in module.__doc__, (
            f"dlcourse.{name} must say 'Used in: {lesson[1]}.'"
        )


@pytest.mark.parametrize("name", package_modules())
def test_public_functions_and_classes_have_docstrings(name):
    module = importlib.import_module(f"dlcourse.{name}")
    undocumented = [
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and (inspect.isfunction(value) or inspect.isclass(value))
        and value.__module__ == module.__name__
        and not inspect.getdoc(value)
    ]
    assert not undocumented, f"dlcourse.{name}: document {undocumented}"


def test_importing_the_package_loads_nothing_heavy():
    code = (
        "import sys, dlcourse; "
        "heavy = [m for m in ('torch', 'ipywidgets', 'matplotlib', 'numpy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
    assert dlcourse.__version__.count(".") == 2


def test_no_module_imports_ipywidgets_at_top_level():
    for name in package_modules():
        tree = ast.parse(module_path(name).read_text())
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] == "ipywidgets" for n in names), (
                f"dlcourse.{name} imports ipywidgets at import time; import it inside the function"
            )


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    import re

    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_runtime_dependencies_are_only_what_the_lessons_import():
    """Colab must not get JupyterLab (it would upgrade jupyter_server under Colab's own)."""
    runtime = _pyproject()["project"]["dependencies"]
    assert {_name(r) for r in runtime} == {
        "torch", "torchvision", "numpy", "matplotlib", "pillow", "tqdm", "ipywidgets",
    }  # fmt: skip
    extras = _pyproject()["project"]["optional-dependencies"]
    assert [_name(r) for r in extras["lab"]] == ["jupyterlab"]
    makefile = (PACKAGE.parent / "Makefile").read_text()
    assert ".[lab,test,crf,export]" in makefile and ".[lab,test,export]" in makefile
    assert "-e .[lab,test,export]" in (PACKAGE.parent / "environment.yml").read_text()


def test_the_colab_cell_never_touches_torch():
    from dlcourse.env import COLAB_REQUIREMENTS, colab_install_cell

    cell = colab_install_cell()
    assert '"--no-deps", "-e", where' in cell
    assert "torch" not in cell.replace("torch and torchvision are kept", "")
    assert "jupyterlab" not in cell.lower() and "--upgrade" not in cell and "-U" not in cell
    runtime = [r for r in _pyproject()["project"]["dependencies"]
               if _name(r) not in {"torch", "torchvision"}]  # fmt: skip
    assert list(COLAB_REQUIREMENTS) == runtime  # the same specifiers as pyproject.toml


def test_data_loading_needs_no_plotting_library():
    """DataLoader workers import dlcourse.data, .transforms and .batches: no matplotlib."""
    code = (
        "import sys, dlcourse.data, dlcourse.transforms, dlcourse.batches, dlcourse.voc; "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
