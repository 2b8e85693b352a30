"""The fully connected CRF of DeepLab v1/v2: its energy, mean-field inference, :func:`dense_crf`.

Krähenbühl and Koltun (NeurIPS 2011, https://arxiv.org/abs/1210.5644) refine a per-pixel
class distribution ``P`` by minimising the Gibbs energy

    E(x) = sum_i -log P(x_i) + sum_{i<j} mu(x_i, x_j) k(f_i, f_j),

    k(f_i, f_j) = w1 exp(-|p_i - p_j|^2 / (2 theta_alpha^2) - |I_i - I_j|^2 / (2 theta_beta^2))
                + w2 exp(-|p_i - p_j|^2 / (2 theta_gamma^2)),

with positions ``p``, colours ``I`` and the Potts compatibility ``mu(l, l') = [l != l']``.
Mean-field inference replaces ``x`` by independent distributions ``Q_i`` and repeats
``Q_i(l) ∝ exp(-U_i(l) - sum_k w_k sum_l' mu(l, l') m_k,i(l'))`` where the messages
``m_k = filter_k(Q)`` are Gaussian filters of ``Q`` in feature space, built in
:mod:`dlcourse.crf_kernels` (``method="naive"`` or ``"lattice"``).

DeepLab (Chen et al., ICLR 2015, https://arxiv.org/abs/1412.7062; TPAMI 2017,
https://arxiv.org/abs/1606.00915) fixes ``w2 = 3, theta_gamma = 3`` and cross-validates
``w1, theta_alpha, theta_beta``; :data:`DEEPLAB_CRF_PARAMS` lists the values the authors
released. :func:`simulated_probs` makes a network-like input from a label map. The same CRF
by the reference C++ code is :func:`dlcourse.crf_reference.reference_dense_crf`; as a
trainable layer, :class:`dlcourse.crf_rnn.CRFasRNN`.

Used in: 09, 10.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from dlcourse.crf_kernels import (
    METHODS,
    bilateral_features,
    check_theta,
    check_weight,
    make_filter,
    spatial_features,
)
from dlcourse.lattice_fast import single_threaded

DEEPLAB_CRF_PARAMS: dict[str, dict[str, float]] = {
    "v1-largefov": dict(w1=4.0, theta_alpha=121.0, theta_beta=5.0, w2=3.0, theta_gamma=3.0),
    "v2-resnet101": dict(w1=4.0, theta_alpha=67.0, theta_beta=3.0, w2=3.0, theta_gamma=1.0),
}
"""CRF parameters of the released DeepLab models, as set in the configuration files the
authors published with them (10 mean-field iterations): DeepLab-v1 LargeFOV (VGG-16) and
DeepLab-v2 ResNet-101. Both papers fix the smoothness kernel and cross-validate
``w1, theta_alpha, theta_beta`` on 100 validation images with a coarse-to-fine search.
The defaults of :func:`dense_crf` are the v1 values."""


def check_image(image: np.ndarray | Tensor, size: tuple[int, int] | None = None) -> Tensor:
    """Validate an ``(H, W, 3)`` uint8 photo (NumPy or tensor) and return it as a tensor."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.array(image))
    if not isinstance(image, Tensor):
        raise TypeError(
            f"image: expected an (H, W, 3) uint8 array or tensor, got {type(image).__name__}"
        )
    if image.dtype != torch.uint8:
        raise TypeError(f"image: expected dtype uint8 (RGB values 0..255), got {image.dtype}; "
                        "convert a [0, 1] float image with (image * 255).round().astype(np.uint8)")  # fmt: skip
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image: expected shape (H, W, 3) with 3 colour channels, got {tuple(image.shape)}"
        )
    if size is not None and tuple(image.shape[:2]) != tuple(size):
        raise ValueError(f"image is {tuple(image.shape[:2])} but probs is {tuple(size)} (H, W); "
                         "resize the probabilities to the image size first")  # fmt: skip
    return image


def check_probs(probs: np.ndarray | Tensor, atol: float = 1e-3) -> Tensor:
    """Validate ``(C, H, W)`` class probabilities (non-negative, summing to 1 over ``C``)."""
    if isinstance(probs, np.ndarray):
        probs = torch.from_numpy(np.array(probs))
    if not isinstance(probs, Tensor) or not probs.is_floating_point():
        raise TypeError(
            "probs: expected a floating-point (C, H, W) array or tensor of class probabilities"
        )
    if probs.ndim != 3 or probs.shape[0] < 2:
        raise ValueError(
            f"probs: expected shape (C, H, W) with C >= 2 classes, got {tuple(probs.shape)}"
        )
    bad = not torch.isfinite(probs).all() or bool((probs < 0).any())
    if bad or not torch.allclose(probs.sum(dim=0), torch.ones_like(probs[0]), atol=atol):
        raise ValueError("probs: not a distribution over classes (values must be >= 0 and sum to 1 "
                         "along the first axis); apply softmax over the class axis first")  # fmt: skip
    return probs


def potts(num_classes: int, device=None, dtype=torch.float32) -> Tensor:
    """The Potts compatibility ``mu(l, l') = [l != l']`` as a ``(C, C)`` matrix."""
    return 1.0 - torch.eye(num_classes, device=device, dtype=dtype)


def _weighted(message: Tensor, weight) -> Tensor:
    """``w * m`` for a number, ``m W^T`` for a ``(C, C)`` matrix of per-class weights."""
    if isinstance(weight, float) and weight == 1.0:
        return message
    if isinstance(weight, Tensor) and weight.ndim == 2:
        return message @ weight.T
    return weight * message


def mean_field(unary: Tensor, filters, weights, compat: Tensor | None, iterations: int,
               pool: ThreadPoolExecutor | None = None) -> Tensor:  # fmt: skip
    """Mean-field iterations of the dense CRF.

    Args:
        unary: ``(N, C)`` (or ``(B, N, C)``) unary energies ``U = -log P`` (or ``-logits``).
        filters: callables, each filtering values of that shape (:func:`make_filter`).
        weights: one weight per filter: a float, a scalar tensor, or a ``(C, C)`` matrix
            ``W`` of per-class weights (the message becomes ``m W^T``, as in CRF-as-RNN).
        compat: ``(C, C)`` label compatibility ``mu`` (an energy), or ``None`` for Potts.
        iterations: number of updates.
        pool: run the filters side by side on this thread pool (``None``: one after another).

    Returns:
        logits ``-U - sum_k (w_k m_k) mu^T`` of ``unary``'s shape; their softmax is ``Q``. For
        Potts, ``-m mu^T = m - sum_l' m(l')`` and the sum is the same for every label, so it
        is left out (``Q`` does not change).
    """
    logits = -unary
    for _ in range(iterations):
        q = torch.softmax(logits, dim=-1)
        if not filters:
            break
        if pool is None or len(filters) < 2:
            messages = [filt(q) for filt in filters]
        else:
            messages = list(
                pool.map(lambda filt, values: filt(values), filters, [q] * len(filters))
            )
        pairwise = _weighted(messages[0], weights[0])
        for message, weight in zip(messages[1:], weights[1:], strict=True):
            pairwise = pairwise + _weighted(message, weight)
        logits = pairwise - unary if compat is None else -unary - pairwise @ compat.T
    return logits


def simulated_probs(
    label: np.ndarray | Tensor,
    num_classes: int,
    stride: int = 8,
    shift: tuple[int, int] = (3, -2),
    noise: float = 0.5,
    sharpness: float = 4.0,
    seed: int = 0,
) -> Tensor:
    """A realistic stand-in for a CNN's softmax output, made from a label map.

    The label is shifted by ``shift`` = ``(down, right)`` pixels (a mis-alignment; the
    border is extended, not wrapped), averaged over
    ``stride x stride`` cells (a network at output stride ``stride``), perturbed by
    Gaussian noise of std ``noise`` in logit space, and upsampled bilinearly, so the
    result is blurry at boundaries and wrong in places, like a DeepLab score map
    before the CRF. Void pixels (255) count as background.

    Returns:
        ``(C, H, W)`` float32 probabilities.
    """
    label = torch.as_tensor(np.array(label)).long()
    if label.ndim != 2:
        raise ValueError(f"label: expected an (H, W) label map, got shape {tuple(label.shape)}")
    label = torch.where(label == 255, torch.zeros_like(label), label)
    if int(label.max()) >= num_classes or int(label.min()) < 0:
        raise ValueError(
            f"label: values must lie in 0..{num_classes - 1} (or 255), got max {int(label.max())}"
        )
    height, width = label.shape
    dy, dx = shift
    padded = torch.nn.functional.pad(label[None, None].float(), (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)),
                                     mode="replicate")  # fmt: skip
    label = padded[
        0, 0, max(-dy, 0) : max(-dy, 0) + height, max(-dx, 0) : max(-dx, 0) + width
    ].long()
    onehot = torch.nn.functional.one_hot(label, num_classes).permute(2, 0, 1).float()[None]
    coarse = torch.nn.functional.avg_pool2d(onehot, stride, ceil_mode=True)
    generator = torch.Generator().manual_seed(seed)
    logits = sharpness * coarse + noise * torch.randn(coarse.shape, generator=generator)
    logits = torch.nn.functional.interpolate(
        logits, size=(height, width), mode="bilinear", align_corners=False
    )
    return torch.softmax(logits[0], dim=0)


def dense_crf(
    image: np.ndarray | Tensor,
    probs: np.ndarray | Tensor,
    iterations: int = 10,
    *,
    w1: float = 4.0,
    theta_alpha: float = 121.0,
    theta_beta: float = 5.0,
    w2: float = 3.0,
    theta_gamma: float = 3.0,
    compat: np.ndarray | Tensor | None = None,
    method: str = "lattice",
    eps: float = 1e-5,
    workers: int | None = None,
    cache: dict | None = None,
) -> np.ndarray | Tensor:
    """Refine a segmentation's class probabilities with the fully connected CRF.

    Args:
        image: ``(H, W, 3)`` uint8 RGB photo (NumPy array or tensor).
        probs: ``(C, H, W)`` class probabilities (a softmax output) of the same size.
        iterations: mean-field iterations (DeepLab uses 10).
        w1, theta_alpha, theta_beta: weight, spatial and colour standard deviations of the
            appearance (bilateral) kernel; pydensecrf's bilateral ``compat``, ``sxy``, ``srgb``.
        w2, theta_gamma: weight and spatial standard deviation of the smoothness kernel;
            pydensecrf's Gaussian ``compat`` and ``sxy``.
            Defaults: DeepLab-v1 LargeFOV's published values (:data:`DEEPLAB_CRF_PARAMS`).
        compat: ``(C, C)`` label compatibility ``mu(l, l')``; ``None`` for Potts.
        method: ``"lattice"`` (fast, any size, CPU or GPU) or ``"naive"`` (exact, small images).
        eps: probabilities are clipped to ``[eps, 1]`` before ``U = -log P``, as pydensecrf's
            ``unary_from_softmax`` does.
        workers: CPU threads that build and apply the two kernels side by side (each on one
            torch thread); ``None``: 2 when torch may use 2 or more threads, else 1. Torch's
            own thread setting is the same on return as before (also after an error).
        cache: a dict that keeps the two built kernels between calls (an explorer passes one):
            a kernel whose image, size and parameters are unchanged is reused, not rebuilt.
            ``None``: nothing is kept.

    Returns:
        ``(C, H, W)`` refined probabilities, a NumPy array if ``probs`` was one, else a
        tensor on ``probs``'s device.
    """
    as_numpy = isinstance(probs, np.ndarray)
    probs = check_probs(probs)
    image = check_image(image, probs.shape[1:]).to(probs.device)
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 0:
        raise ValueError(f"iterations={iterations!r}: must be an int >= 0")
    if method not in METHODS:
        raise ValueError(f"method={method!r}: use one of {METHODS}")
    w1, w2 = check_weight(w1, "w1"), check_weight(w2, "w2")
    theta_alpha, theta_beta = (
        check_theta(theta_alpha, "theta_alpha"),
        check_theta(theta_beta, "theta_beta"),
    )
    theta_gamma = check_theta(theta_gamma, "theta_gamma")
    if workers is None:
        workers = 2 if probs.device.type == "cpu" and torch.get_num_threads() >= 2 else 1
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers={workers!r}: must be an int >= 1 (threads for the two kernels)")
    pool = ThreadPoolExecutor(2) if workers >= 2 else None
    try:
        with single_threaded(probs.device):
            refined = _dense_crf(image, probs, iterations, w1, theta_alpha, theta_beta, w2, theta_gamma, compat,
                                 method, eps, pool, cache)  # fmt: skip
    finally:
        if pool is not None:
            pool.shutdown()
    return refined.cpu().numpy() if as_numpy else refined


def _dense_crf(image, probs, iterations, w1, theta_alpha, theta_beta, w2, theta_gamma, compat, method, eps,
               pool=None, cache=None):  # fmt: skip
    num_classes, height, width = probs.shape
    dtype = torch.float64 if probs.dtype == torch.float64 else torch.float32
    if compat is not None:
        compat = torch.as_tensor(compat, dtype=dtype, device=probs.device)
        if compat.shape != (num_classes, num_classes):
            raise ValueError(
                f"compat: expected shape ({num_classes}, {num_classes}), got {tuple(compat.shape)}"
            )
    common = (method, dtype, str(probs.device), height, width)
    builders = {}  # key -> how to build that kernel
    if w2 > 0:
        builders[("smoothness", *common, theta_gamma, w2)] = lambda: make_filter(
            spatial_features(height, width, theta_gamma, probs.device, dtype), method, weight=w2)  # fmt: skip
    if w1 > 0:
        picture = (
            hashlib.sha1(image.cpu().numpy().tobytes()).hexdigest() if cache is not None else None
        )
        builders[("appearance", *common, picture, theta_alpha, theta_beta, w1)] = lambda: make_filter(
            bilateral_features(image, theta_alpha, theta_beta, dtype), method, weight=w1)  # fmt: skip
    if iterations == 0:
        builders = {}
    kept = {} if cache is None else {key: cache[key] for key in builders if key in cache}
    missing = [key for key in builders if key not in kept]
    if pool is None or len(missing) < 2:
        built = [builders[key]() for key in missing]
    else:
        built = list(pool.map(lambda key: builders[key](), missing))
    kept.update(zip(missing, built, strict=True))
    if cache is not None:
        cache.clear()  # keep only the kernels of this call
        cache.update(kept)
    filters = [kept[key] for key in builders]
    weights = [1.0] * len(filters)
    unary = -probs.to(dtype).clamp(min=eps, max=1.0).log().reshape(num_classes, -1).T
    with torch.no_grad():
        logits = mean_field(unary.contiguous(), filters, weights, compat, iterations, pool)
    return torch.softmax(logits, dim=1).T.reshape(num_classes, height, width)
