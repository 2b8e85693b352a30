"""Tests of dlcourse.crf: the dense CRF (naive and lattice), its inputs, mean field, its explorer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

# one_thread: an autouse fixture, run on one CPU thread
from crf_inputs import SMALL, blocky_image, one_thread, random_probs  # noqa: F401

from dlcourse.crf import DEEPLAB_CRF_PARAMS, dense_crf, mean_field, potts, simulated_probs
from dlcourse.crf_kernels import make_filter

# --- mean field ----------------------------------------------------------------------


def test_one_mean_field_step_by_hand():
    # two pixels, two labels, one kernel k = exp(-1/2) between them, Potts, weight w.
    # Both rows of K sum to 1 + k, so the normalised message is K q / (1 + k), and
    # Q1(l) ∝ P(l) * exp(w * m(l)) (the Potts constant cancels in the softmax).
    p = torch.tensor([[0.8, 0.2], [0.3, 0.7]])  # (N, C)
    features = torch.tensor([[0.0], [1.0]])
    w, k = 2.0, math.exp(-0.5)
    message = torch.tensor([[1.0, k], [k, 1.0]]) @ p / (1 + k)
    expected = torch.softmax(torch.log(p) + w * message, dim=1)
    logits = mean_field(
        -torch.log(p), [make_filter(features, "naive")], [w], potts(2), iterations=1
    )
    torch.testing.assert_close(torch.softmax(logits, dim=1), expected)
    # Potts written as a matrix and Potts left implicit give the same Q
    implicit = mean_field(-torch.log(p), [make_filter(features, "naive")], [w], None, iterations=1)
    torch.testing.assert_close(torch.softmax(implicit, dim=1), expected)


def test_zero_iterations_or_zero_weights_return_the_input():
    image, probs = blocky_image(12, 16, 0), random_probs(3, 12, 16, 0)
    torch.testing.assert_close(dense_crf(image, probs, 0), probs)
    torch.testing.assert_close(dense_crf(image, probs, 5, w1=0, w2=0, method="naive"), probs)


# --- naive vs lattice ----------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lattice_agrees_with_naive_on_small_images(seed):
    # Tolerance: the lattice replaces exp(-|f_i - f_j|^2 / 2) by interpolation on a
    # simplex grid plus a [1/2, 1, 1/2] blur. After the symmetric normalisation the
    # kernels differ by a few percent (see test_lattice_fast.py), which moves probabilities by
    # about 0.01 on average (measured 0.004-0.011, worst pixel 0.2) and flips the label only
    # of pixels whose two best classes are nearly tied (measured 1-2.5%).
    image, probs = blocky_image(24, 32, seed), random_probs(4, 24, 32, seed)
    naive = dense_crf(image, probs, 5, method="naive", **SMALL)
    lattice = dense_crf(image, probs, 5, method="lattice", **SMALL)
    assert float((naive - lattice).abs().mean()) < 0.02
    assert float((naive.argmax(0) == lattice.argmax(0)).float().mean()) >= 0.95
    # and the CRF did something: a good share of labels changed
    assert float((naive.argmax(0) != probs.argmax(0)).float().mean()) > 0.1


def test_uniform_image_with_wide_colour_kernel_is_the_gaussian_kernel_alone():
    image = torch.full((16, 20, 3), 90, dtype=torch.uint8)
    probs = random_probs(3, 16, 20, 3)
    bilateral_only = dense_crf(
        image, probs, 5, w1=3.0, theta_alpha=2.5, theta_beta=1e4, w2=0.0, method="naive"
    )
    gaussian_only = dense_crf(image, probs, 5, w1=0.0, w2=3.0, theta_gamma=2.5, method="naive")
    torch.testing.assert_close(bilateral_only, gaussian_only, rtol=1e-5, atol=1e-6)
    # the lattice of the 5-D features is a different grid from the 2-D one: close, not equal
    bilateral_lattice = dense_crf(image, probs, 5, w1=3.0, theta_alpha=2.5, theta_beta=1e4, w2=0.0)
    assert float((bilateral_lattice - gaussian_only).abs().mean()) < 0.02


def test_crf_pulls_labels_towards_colour_edges():
    # left half dark, right half bright; the unaries are right except in a 3-pixel strip
    image = torch.zeros(20, 20, 3, dtype=torch.uint8)
    image[:, 10:] = 220
    label = torch.zeros(20, 20, dtype=torch.long)
    label[:, 10:] = 1
    noisy = label.clone()
    noisy[:, 10:13] = 0
    probs = torch.nn.functional.one_hot(noisy, 2).permute(2, 0, 1).float() * 0.3 + 0.35
    for method in ("naive", "lattice"):
        refined = dense_crf(image, probs, 10, w1=10.0, theta_alpha=20.0, theta_beta=10.0, w2=1.0,
                            theta_gamma=1.0, method=method)  # fmt: skip
        assert float((refined.argmax(0) == label).float().mean()) == 1.0


def test_output_types_shapes_and_dtypes():
    image, probs = blocky_image(10, 14, 1), random_probs(3, 10, 14, 1)
    out = dense_crf(image.numpy(), probs.numpy(), 3)
    assert isinstance(out, np.ndarray) and out.shape == (3, 10, 14) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=0), 1.0, rtol=1e-5)
    out = dense_crf(image, probs.double(), 3, method="naive")
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_dense_crf_on_cuda_matches_cpu():
    image, probs = blocky_image(30, 40, 2), random_probs(5, 30, 40, 2)
    cpu = dense_crf(image, probs, 5)
    gpu = dense_crf(image.cuda(), probs.cuda(), 5)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)


# --- bad inputs ----------------------------------------------------------------------


def test_bad_inputs_raise_errors_naming_the_argument():
    image, probs = blocky_image(8, 8, 0), random_probs(3, 8, 8, 0)
    with pytest.raises(ValueError, match="probs: not a distribution"):
        dense_crf(image, probs * 2)
    with pytest.raises(ValueError, match="probs: not a distribution"):
        dense_crf(image, probs - 0.5)
    with pytest.raises(ValueError, match="image is \\(8, 8\\) but probs is \\(8, 9\\)"):
        dense_crf(image, random_probs(3, 8, 9, 0))
    with pytest.raises(TypeError, match="image: expected dtype uint8"):
        dense_crf(image.float(), probs)
    with pytest.raises(ValueError, match="3 colour channels"):
        dense_crf(image[..., :2].contiguous(), probs)
    with pytest.raises(ValueError, match="probs: expected shape \\(C, H, W\\)"):
        dense_crf(image, probs[0])
    for name in ("theta_alpha", "theta_beta", "theta_gamma"):
        with pytest.raises(ValueError, match=f"{name}=0"):
            dense_crf(image, probs, **{name: 0})
        with pytest.raises(ValueError, match=f"{name}=-1"):
            dense_crf(image, probs, **{name: -1.0})
    with pytest.raises(ValueError, match="w1=-1"):
        dense_crf(image, probs, w1=-1.0)
    with pytest.raises(ValueError, match="method='exact'"):
        dense_crf(image, probs, method="exact")
    with pytest.raises(ValueError, match="iterations"):
        dense_crf(image, probs, -1)
    with pytest.raises(ValueError, match="compat"):
        dense_crf(image, probs, compat=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="method='lattice'"):
        dense_crf(blocky_image(120, 120, 0), random_probs(2, 120, 120, 0), method="naive")


def test_published_defaults():
    assert DEEPLAB_CRF_PARAMS["v1-largefov"] == dict(w1=4.0, theta_alpha=121.0, theta_beta=5.0, w2=3.0,
                                                    theta_gamma=3.0)  # fmt: skip
    import inspect

    defaults = {k: v.default for k, v in inspect.signature(dense_crf).parameters.items()}
    assert {k: defaults[k] for k in DEEPLAB_CRF_PARAMS["v1-largefov"]} == DEEPLAB_CRF_PARAMS[
        "v1-largefov"
    ]
    assert defaults["iterations"] == 10


def test_simulated_probs_is_a_blurry_noisy_distribution():
    label = np.zeros((40, 48), dtype=np.uint8)
    label[10:30, 12:36] = 7
    label[10, 12:36] = 255
    probs = simulated_probs(label, 21)
    assert probs.shape == (21, 40, 48) and probs.dtype == torch.float32
    torch.testing.assert_close(probs.sum(0), torch.ones(40, 48))
    accuracy = float((probs.argmax(0).numpy() == np.where(label == 255, 0, label)).mean())
    assert 0.7 < accuracy < 1.0  # mostly right, wrong near the shifted, blurred boundary
    with pytest.raises(ValueError, match="label"):
        simulated_probs(label, 5)


def test_dense_crf_restores_torch_threads_also_after_an_error():
    image, probs = blocky_image(12, 14, 3), random_probs(3, 12, 14, 3)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        one = dense_crf(image, probs, 4, workers=1, **SMALL)
        assert torch.get_num_threads() == 2
        two = dense_crf(image, probs, 4, workers=2, **SMALL)
        assert torch.get_num_threads() == 2
        torch.testing.assert_close(one, two)  # the kernels side by side give the same numbers
        with pytest.raises(
            ValueError, match="compat"
        ):  # raised inside, after the switch to one thread
            dense_crf(image, probs, 4, compat=torch.zeros(2, 2))
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="workers"):
            dense_crf(image, probs, 4, workers=0)
    finally:
        torch.set_num_threads(before)


def test_lesson_naive_crf_is_the_package_naive_crf():
    from dlcourse.env import project_root
    from dlcourse.notebook_tools import notebook_definitions

    path = project_root() / "notebooks" / "09_crf.ipynb"
    if not path.is_file():
        pytest.skip("lesson 09 is not in this checkout")
    lesson = notebook_definitions(path)
    image, probs = blocky_image(14, 18, 6), random_probs(3, 14, 18, 6)
    by_hand = lesson["naive_dense_crf"](image, probs, 4, **SMALL)
    torch.testing.assert_close(
        by_hand, dense_crf(image, probs, 4, method="naive", **SMALL), rtol=1e-4, atol=1e-5
    )


# --- lesson 09 widget ----------------------------------------------------------------


def test_plot_crf_and_its_explorer():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.figure import Figure

    from dlcourse.crf_view import CONTROLS, NAMES, crf_explorer, plot_crf

    image, probs = blocky_image(20, 24, 8).numpy(), random_probs(3, 20, 24, 8).numpy()
    fig = plot_crf(
        image,
        probs,
        w1=4.0,
        theta_alpha=8.0,
        theta_beta=20.0,
        w2=3.0,
        theta_gamma=2.0,
        iterations=0,
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert "0.0% changed" in fig.axes[2].get_title()  # no iterations: nothing moves
    plt.close(fig)
    fig = crf_explorer(interactive=False)  # the sample photo at its start values
    caption = fig.texts[0]
    assert isinstance(fig, Figure) and caption.get_text().startswith("w1 = 4, θα = 40 px")
    # the caption and the third panel's title do not overlap
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not caption.get_window_extent(renderer).overlaps(
        fig.axes[2].title.get_window_extent(renderer)
    )
    plt.close(fig)
    # sliders and figure name the parameters alike; whole-number sliders are whole numbers
    for name, (_, _, label) in CONTROLS.items():
        assert label.startswith(NAMES[name])
    whole = ("theta_alpha", "theta_beta", "theta_gamma", "iterations")
    assert all(
        isinstance(CONTROLS[n][1], int) and all(isinstance(v, int) for v in CONTROLS[n][0])
        for n in whole
    )
    with pytest.raises(ValueError, match="both image and probs"):
        crf_explorer(image=image, interactive=False)
    with pytest.raises(TypeError, match=r"unknown CRF parameters \['theta'\]"):
        plot_crf(image, probs, theta=3.0)


def test_dense_crf_cache_reuses_unchanged_kernels(monkeypatch):
    import dlcourse.crf as crf_module

    image, probs = blocky_image(20, 24, 5).numpy(), random_probs(3, 20, 24, 5).numpy()
    built = []
    real = crf_module.make_filter
    monkeypatch.setattr(
        crf_module, "make_filter", lambda *a, **k: built.append(k["weight"]) or real(*a, **k)
    )
    cache = {}
    fresh = dense_crf(image, probs, 5, **SMALL)
    assert len(built) == 2
    first = dense_crf(image, probs, 5, **SMALL, cache=cache)
    assert len(built) == 4 and len(cache) == 2
    np.testing.assert_allclose(first, fresh, rtol=1e-6, atol=1e-7)  # a kept kernel filters alike
    expected = dense_crf(image, probs, 8, **SMALL)
    count = len(built)
    again = dense_crf(image, probs, 8, **SMALL, cache=cache)  # only the iterations change
    assert len(built) == count
    np.testing.assert_allclose(again, expected, rtol=1e-6, atol=1e-7)
    dense_crf(image, probs, 5, **{**SMALL, "w1": 2.0}, cache=cache)  # the appearance kernel only
    assert built[count:] == [2.0] and len(cache) == 2
    other = image.copy()
    other[0, 0] = 255 - other[0, 0]
    expected = dense_crf(other, probs, 5, **{**SMALL, "w1": 2.0})
    count = len(built)
    np.testing.assert_allclose(dense_crf(other, probs, 5, **{**SMALL, "w1": 2.0}, cache=cache), expected,
                               rtol=1e-6, atol=1e-7)  # fmt: skip
    assert built[count:] == [2.0]  # another photo: its appearance kernel is built anew


def test_live_crf_explorer_says_when_it_is_computing():
    pytest.importorskip("ipywidgets")
    import matplotlib

    matplotlib.use("Agg")
    from dlcourse.crf_view import crf_explorer

    image, probs = blocky_image(20, 24, 9).numpy(), random_probs(3, 20, 24, 9).numpy()
    box = crf_explorer(image, probs, interactive=True)
    seen = []
    box.status.observe(lambda change: seen.append(change["new"]), names="value")
    assert type(box.controls["theta_alpha"]).__name__ == "IntSlider"
    assert type(box.controls["w1"]).__name__ == "FloatSlider"
    box.controls["theta_alpha"].value = 12
    assert seen[0] == "computing..." and seen[-1].startswith("updated in ")
    assert not box.controls["w1"].continuous_update  # redraw on release, not while dragging
    assert (
        box.controls["theta_alpha"].description == "θα (px)"
        and box.controls["theta_beta"].value == 5
    )
    assert "after 10 iterations" in box.live.titles.value  # the third panel's title, as HTML
