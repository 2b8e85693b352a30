"""Tools for the course's own notebooks: run one top to bottom, read its code.

``python -m dlcourse.notebook_tools execute notebooks/01_receptive_fields.ipynb``
re-runs a lesson in a fresh kernel and saves its outputs (what ``make execute``
does). Tests use :func:`notebook_definitions` to check that the class a lesson
writes by hand is the same code as the package's.

Used in: tests, ``make execute``.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from pathlib import Path


def _read(path: str | Path):
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook {path} does not exist")
    return nbformat.read(path, as_version=4)


def execute_notebook(path: str | Path, fast: bool = False, timeout: int = 1800) -> None:
    """Run the notebook at ``path`` top to bottom in a fresh kernel and save it in place.

    Args:
        path: the ``.ipynb`` file.
        fast: run with ``DLCOURSE_FAST=1`` (tiny sizes).
        timeout: seconds allowed per cell.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    notebook = _read(path)
    previous = os.environ.get("DLCOURSE_FAST")
    os.environ["DLCOURSE_FAST"] = "1" if fast else "0"
    try:
        client = NotebookClient(
            notebook, timeout=timeout, kernel_name="python3",
            resources={"metadata": {"path": str(path.parent.resolve())}},
        )  # fmt: skip
        client.execute()
    finally:
        if previous is None:
            os.environ.pop("DLCOURSE_FAST", None)
        else:
            os.environ["DLCOURSE_FAST"] = previous
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)


def code_cells(path: str | Path) -> list[str]:
    """The source of every code cell of a notebook, in order."""
    return [cell.source for cell in _read(path).cells if cell.cell_type == "code"]


def notebook_definitions(path: str | Path) -> dict[str, object]:
    """Execute only the imports, functions and classes a notebook defines.

    Cells are parsed; top-level ``import`` statements, ``def`` and ``class``
    blocks are kept (in order), everything else is dropped, and the result is
    executed in a fresh namespace that is returned. Tests use this to compare
    a lesson's hand-written code with the package's.
    """
    kept: list[str] = []
    for source in code_cells(path):
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef):
                kept.append(ast.unparse(node))
    namespace: dict[str, object] = {"__name__": f"notebook_{Path(path).stem}"}
    exec(compile("\n\n".join(kept), str(path), "exec"), namespace)
    return namespace


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m dlcourse.notebook_tools execute PATH... [--fast]``."""
    parser = argparse.ArgumentParser(prog="python -m dlcourse.notebook_tools")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("execute", help="run notebooks top to bottom and save their outputs")
    run.add_argument("paths", nargs="+", type=Path)
    run.add_argument("--fast", action="store_true", help="run with DLCOURSE_FAST=1")
    args = parser.parse_args(argv)
    for path in args.paths:
        targets = sorted(path.glob("[0-9][0-9]_*.ipynb")) if path.is_dir() else [path]
        for target in targets:
            print(f"executing {target} ...", file=sys.stderr)
            execute_notebook(target, fast=args.fast)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
