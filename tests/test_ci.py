"""The CI helper treats pytest's "no tests collected" as a clear failure."""

import subprocess
import sys

from dlcourse.env import project_root


def test_no_tests_collected_fails_with_a_message(tmp_path):
    script = project_root() / ".ci" / "pytest"
    (tmp_path / "empty").mkdir()
    result = subprocess.run(
        ["bash", str(script), sys.executable, str(tmp_path / "empty")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 5
    assert "collected no tests" in result.stderr


def test_passing_tests_pass_through(tmp_path):
    script = project_root() / ".ci" / "pytest"
    (tmp_path / "test_one.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    result = subprocess.run(
        ["bash", str(script), sys.executable, str(tmp_path / "test_one.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
