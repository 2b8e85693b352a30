"""Tests of dlcourse.env: device choice, seeding, fast mode, Colab, caches, setup."""

import random
import sys

import numpy as np
import pytest
import torch

from dlcourse import env


def test_fast_mode_reads_the_environment_variable(monkeypatch):
    for value, expected in [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)]:
        monkeypatch.setenv("DLCOURSE_FAST", value)
        assert env.fast_mode() is expected
    monkeypatch.delenv("DLCOURSE_FAST")
    assert env.fast_mode() is False


def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert env.get_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(env, "_mps_available", lambda: True)
    assert env.get_device() == torch.device("mps")
    monkeypatch.setattr(env, "_mps_available", lambda: False)
    assert env.get_device() == torch.device("cpu")


def test_get_device_accepts_explicit_cpu():
    assert env.get_device("cpu") == torch.device("cpu")
    assert env.get_device(torch.device("cpu")) == torch.device("cpu")
    assert env.get_device(" CPU ") == torch.device("cpu")


def test_get_device_rejects_unknown_strings():
    with pytest.raises(ValueError, match=r"preferred='tpu'.*cuda, mps, cpu"):
        env.get_device("tpu")
    with pytest.raises(ValueError, match="not a valid device"):
        env.get_device("cuda:x")
    with pytest.raises(TypeError, match="expected a string"):
        env.get_device(3)


def test_get_device_explains_missing_accelerators(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(env, "_mps_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        env.get_device("cuda")
    with pytest.raises(RuntimeError, match="MPS is not available"):
        env.get_device("mps")


def test_seed_everything_makes_every_generator_repeat():
    env.seed_everything(123)
    first = (random.random(), np.random.rand(), torch.rand(3))
    env.seed_everything(123)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    torch.testing.assert_close(first[2], second[2], rtol=0, atol=0)
    env.seed_everything(124)
    assert random.random() != first[0]


@pytest.mark.parametrize("seed", [-1, 1.5, "1", True])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="non-negative int"):
        env.seed_everything(seed)


def test_in_colab_detects_the_colab_module(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert env.in_colab() is False
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert env.in_colab() is True


def test_cache_dir_honours_the_override(monkeypatch, tmp_path):
    target = tmp_path / "cache" / "nested"
    monkeypatch.setenv("DLCOURSE_CACHE", str(target))
    assert env.cache_dir() == target
    assert target.is_dir()


def test_num_workers_is_zero_in_fast_mode_ci_and_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.setenv("DLCOURSE_FAST", "1")
    assert env.num_workers() == 0
    monkeypatch.setenv("DLCOURSE_FAST", "0")
    monkeypatch.setenv("CI", "true")
    assert env.num_workers() == 0
    monkeypatch.setenv("CI", "")
    monkeypatch.setattr(env.os, "cpu_count", lambda: 8)
    assert env.num_workers() == 4
    monkeypatch.setattr(env.os, "cpu_count", lambda: 2)
    assert env.num_workers() == 1


def test_data_dir_points_at_the_checkout():
    assert (env.data_dir() / "annotations" / "grace_hopper.json").is_file()
    assert (env.project_root() / "dlcourse" / "env.py").is_file()


def test_versions_lists_the_course_libraries():
    found = env.versions()
    assert found["torch"] == torch.__version__.split("+")[0] or found["torch"] == torch.__version__
    assert found["numpy"] == np.__version__
    assert set(found) >= {"python", "dlcourse", "torch", "torchvision", "matplotlib", "ipywidgets"}


def test_setup_seeds_prints_and_returns_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("DLCOURSE_FAST", "1")
    result = env.setup(seed=7, device="cpu")
    printed = capsys.readouterr().out
    assert result.device == torch.device("cpu")
    assert result.fast is True and result.seed == 7
    assert "torch" in printed and "device" in printed and "fast mode" in printed
    assert printed.strip() == result.summary()
    expected = torch.rand(2)
    env.seed_everything(7)
    torch.testing.assert_close(expected, torch.rand(2), rtol=0, atol=0)
    env.setup(seed=7, device="cpu", quiet=True)
    assert capsys.readouterr().out == ""


def test_colab_install_cell_is_valid_python_that_names_the_repository():
    source = env.colab_install_cell()
    compile(source, "<colab cell>", "exec")
    assert env.COURSE_REPO in source and env.COURSE_REF in source
    namespace: dict = {}
    exec(source, namespace)  # outside Colab the cell must do nothing
    assert "repo" not in namespace
