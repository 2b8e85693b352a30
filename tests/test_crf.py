"""Tests of dlcourse.crf: the dense CRF (naive and lattice), its inputs, and CRF-as-RNN."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlcourse.crf import (
    DEEPLAB_CRF_PARAMS,
    CRFasRNN,
    bilateral_features,
    dense_crf,
    gaussian_kernel,
    make_filter,
    mean_field,
    potts,
    reference_dense_crf,
    simulated_probs,
    spatial_features,
)

VOC = Path(__file__).resolve().parents[2] / "shared" / "data" / "voc2012-subset"
VOC_IDS = ["2007_000039", "2007_000063", "2007_000121", "2007_000243"]


def blocky_image(height: int, width: int, seed: int) -> torch.Tensor:
    """A uint8 photo of coloured rectangles (4x4 blocks of random colour)."""
    generator = torch.Generator().manual_seed(seed)
    colours = torch.rand(1, 3, 4, 4, generator=generator) * 255
    image = torch.nn.functional.interpolate(colours, size=(height, width), mode="nearest")
    return image[0].permute(1, 2, 0).to(torch.uint8)


def random_probs(
    classes: int, height: int, width: int, seed: int, scale: float = 2.0
) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.softmax(scale * torch.randn(classes, height, width, generator=generator), dim=0)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run this module on one CPU thread: the lattice's many medium-sized tensor ops lose
    more to thread synchronisation than they gain on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SMALL = dict(w1=4.0, theta_alpha=8.0, theta_beta=20.0, w2=3.0, theta_gamma=2.0)


# --- features and kernels ------------------------------------------------------------


def test_features_are_positions_and_colours_over_their_thetas():
    image = torch.tensor([[[0, 10, 20], [30, 40, 50]]], dtype=torch.uint8)  # 1 x 2 pixels
    features = bilateral_features(image, theta_alpha=2.0, theta_beta=10.0)
    expected = torch.tensor([[0.0, 0.0, 0.0, 1.0, 2.0], [0.5, 0.0, 3.0, 4.0, 5.0]])
    torch.testing.assert_close(features, expected)
    torch.testing.assert_close(
        spatial_features(2, 2, 0.5), torch.tensor([[0.0, 0], [2, 0], [0, 2], [2, 2]])
    )


def test_gaussian_kernel_by_hand():
    features = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    kernel = gaussian_kernel(features)
    # exp(-|f_i - f_j|^2 / 2): distances^2 are 1, 4 and 5
    expected = torch.tensor([[1.0, math.exp(-0.5), math.exp(-2.0)],
                             [math.exp(-0.5), 1.0, math.exp(-2.5)],
                             [math.exp(-2.0), math.exp(-2.5), 1.0]])  # fmt: skip
    torch.testing.assert_close(kernel, expected)


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
    # kernels differ by a few percent (see test_lattice.py), which moves probabilities by
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


# --- CRF-as-RNN ----------------------------------------------------------------------


def test_crfasrnn_at_initialisation_is_dense_crf():
    image, probs = blocky_image(12, 15, 4), random_probs(3, 12, 15, 4, scale=1.0)
    layer = CRFasRNN(3, iterations=4, method="naive", **SMALL)
    refined = layer(torch.log(probs)[None], image.permute(2, 0, 1)[None].float())
    assert refined.shape == (1, 3, 12, 15)
    expected = dense_crf(image, probs, 4, method="naive", **SMALL)
    torch.testing.assert_close(torch.softmax(refined[0], dim=0), expected, rtol=1e-4, atol=1e-5)


def test_crfasrnn_gradcheck():
    torch.manual_seed(0)
    layer = CRFasRNN(3, iterations=2, method="naive", w1=2.0, theta_alpha=3.0, theta_beta=40.0, w2=1.0,
                     theta_gamma=1.5).double()  # fmt: skip
    images = blocky_image(4, 5, 5).permute(2, 0, 1)[None].double()
    logits = torch.randn(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(x, images), (logits,), eps=1e-6, atol=1e-5)

    def of_parameters(w1, w2, compat):
        return torch.func.functional_call(layer, {"bilateral_weights": w1, "spatial_weights": w2, "compat": compat},
                                          (logits.detach(), images))  # fmt: skip

    eye = torch.eye(3, dtype=torch.float64)
    params = ((2.0 * eye + 0.1).requires_grad_(), (1.0 * eye - 0.05).requires_grad_(),
              potts(3, dtype=torch.float64).requires_grad_())  # fmt: skip
    assert torch.autograd.gradcheck(of_parameters, params, eps=1e-6, atol=1e-5)


def test_crfasrnn_lattice_backward_reaches_every_parameter():
    layer = CRFasRNN(4, iterations=3, method="lattice", **SMALL)
    images = torch.stack([blocky_image(16, 16, s) for s in (0, 1)]).permute(0, 3, 1, 2).float()
    logits = torch.randn(2, 4, 16, 16, requires_grad=True)
    out = layer(logits, images)
    assert out.shape == (2, 4, 16, 16)
    target = torch.randint(0, 4, (2, 16, 16))
    torch.nn.functional.cross_entropy(out, target).backward()
    for name, param in [("logits", logits), *layer.named_parameters()]:
        assert param.grad is not None and float(param.grad.abs().sum()) > 0, name


def test_crfasrnn_has_a_weight_matrix_per_kernel_and_batches_like_single_images():
    # Zheng et al.'s layer mixes each kernel's messages with a learnable C x C matrix
    # (initialised to w * I): at initialisation that is dense_crf's scalar weight.
    layer = CRFasRNN(3, iterations=3, method="lattice", **SMALL)
    assert layer.bilateral_weights.shape == (3, 3) and layer.spatial_weights.shape == (3, 3)
    torch.testing.assert_close(layer.bilateral_weights.detach(), 4.0 * torch.eye(3))
    with torch.no_grad():
        layer.bilateral_weights[0, 1] = 1.5  # class 1's message now also pulls towards class 0
    images = torch.stack([blocky_image(14, 17, s) for s in (2, 3, 4)]).permute(0, 3, 1, 2).float()
    logits = torch.randn(3, 3, 14, 17, generator=torch.Generator().manual_seed(0))
    batched = layer(logits, images)
    for b in range(3):  # one lattice for the batch = one lattice per image (float rounding: 1e-5)
        torch.testing.assert_close(
            batched[b], layer(logits[b : b + 1], images[b : b + 1])[0], rtol=1e-5, atol=1e-5
        )
    naive = CRFasRNN(3, iterations=3, method="naive", **SMALL)
    naive.load_state_dict(layer.state_dict())
    assert float((naive(logits, images).argmax(1) == batched.argmax(1)).float().mean()) > 0.95


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


def test_crfasrnn_bad_inputs():
    layer = CRFasRNN(3)
    with pytest.raises(ValueError, match="logits"):
        layer(torch.zeros(1, 4, 5, 5), torch.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match="images"):
        layer(torch.zeros(1, 3, 5, 5), torch.zeros(1, 3, 5, 6))
    with pytest.raises(ValueError, match="num_classes"):
        CRFasRNN(1)
    with pytest.raises(ValueError, match="theta_alpha"):
        CRFasRNN(3, theta_alpha=0)


# --- agreement with the reference implementation (pydensecrf) -----------------------


def _pydensecrf():
    if os.environ.get("DLCOURSE_REQUIRE_PYDENSECRF") == "1":
        import pydensecrf.densecrf as dcrf
        import pydensecrf.utils as utils
    else:
        dcrf = pytest.importorskip("pydensecrf.densecrf")
        utils = pytest.importorskip("pydensecrf.utils")
    return dcrf, utils


def reference(image: np.ndarray, probs: np.ndarray, iterations: int, params: dict) -> np.ndarray:
    _pydensecrf()
    return reference_dense_crf(np.array(image, order="C"), probs, iterations, **params)


def test_reference_wrapper_says_how_to_install_pydensecrf(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pydensecrf.densecrf", None)  # as if it were not installed
    image, probs = blocky_image(6, 7, 0).numpy(), random_probs(3, 6, 7, 0).numpy()
    with pytest.raises(ImportError, match="pip install pydensecrf2"):
        reference_dense_crf(image, probs, 2)


def real_photos():
    from dlcourse.samples import sample_mask, sample_photo

    photos = [("grace_hopper", sample_photo(), sample_mask())]
    for image_id in VOC_IDS:
        jpg, png = (
            VOC / "JPEGImages" / f"{image_id}.jpg",
            VOC / "SegmentationClass" / f"{image_id}.png",
        )
        if jpg.is_file() and png.is_file():
            photos.append(
                (image_id, np.array(Image.open(jpg).convert("RGB")), np.array(Image.open(png)))
            )
    return photos


@pytest.mark.parametrize("preset", ["v1-largefov", "v2-resnet101"])
def test_agreement_with_pydensecrf_on_real_photos(preset):
    """Same labels as pydensecrf on at least 99.5% of the pixels of every photo.

    Unaries: not the label itself but a simulated coarse network output
    (:func:`dlcourse.crf.simulated_probs`): the label shifted by a few pixels, averaged
    over 8x8 cells (output stride 8), with Gaussian noise on the logits and bilinear
    upsampling, so that the CRF has blurry, partly wrong boundaries to fix.
    """
    _pydensecrf()
    params = DEEPLAB_CRF_PARAMS[preset]
    photos = real_photos() if preset == "v1-largefov" else real_photos()[:2]
    if not VOC.is_dir():
        assert len(photos) == 1  # the sample photo is always there
    for name, image, label in photos:
        probs = simulated_probs(label, 21).numpy()
        expected = reference(image, probs, 10, params)
        ours = dense_crf(image, probs, 10, method="lattice", **params)
        agree = float((ours.argmax(0) == expected.argmax(0)).mean())
        changed = float((expected.argmax(0) != probs.argmax(0)).mean())
        assert agree >= 0.995, f"{name}: only {agree:.2%} of labels agree with pydensecrf"
        assert changed > 0.001, f"{name}: the CRF changed almost nothing; the check would be empty"
        np.testing.assert_allclose(ours, expected, atol=0.05)


def test_agreement_with_pydensecrf_on_random_small_images():
    _pydensecrf()
    for seed in range(3):
        image = blocky_image(37, 53, seed).numpy()
        probs = random_probs(5, 37, 53, seed).numpy()
        expected = reference(image, probs, 5, SMALL)
        ours = dense_crf(image, probs, 5, method="lattice", **SMALL)
        assert float((ours.argmax(0) == expected.argmax(0)).mean()) >= 0.995


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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_crfasrnn_batch_on_cuda_matches_cpu():
    layer = CRFasRNN(4, iterations=3, method="lattice", **SMALL)
    images = torch.stack([blocky_image(30, 40, s) for s in range(4)]).permute(0, 3, 1, 2).float()
    logits = torch.randn(4, 4, 30, 40, generator=torch.Generator().manual_seed(1))
    cpu = layer(logits, images)
    gpu = layer.cuda()(logits.cuda(), images.cuda())
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)
