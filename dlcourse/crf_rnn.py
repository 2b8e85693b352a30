"""CRF-as-RNN: the dense CRF's mean-field iterations as a trainable layer, :class:`CRFasRNN`.

Zheng et al. (ICCV 2015, https://arxiv.org/abs/1502.03240) unroll the iterations of
:func:`dlcourse.crf.mean_field` so that the CRF sits on top of a segmentation network and
trains with it: the per-class kernel weights and the label compatibility become parameters.

Used in: 09.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dlcourse.crf import mean_field, potts
from dlcourse.crf_kernels import (
    METHODS,
    bilateral_features,
    check_theta,
    check_weight,
    make_filter,
    spatial_features,
)


class _PerImage:
    """Apply a filter built for one image's ``(N, d)`` features to a batch ``(B, N, C)`` of values."""

    def __init__(self, filt) -> None:
        self.filt = filt

    def __call__(self, values: Tensor) -> Tensor:
        batch, n, channels = values.shape
        side_by_side = values.permute(1, 0, 2).reshape(n, batch * channels)
        return self.filt(side_by_side).reshape(n, batch, channels).permute(1, 0, 2)


class CRFasRNN(nn.Module):
    """Mean-field CRF iterations as a differentiable layer (CRF-as-RNN).

    Paper: Zheng et al., "Conditional Random Fields as Recurrent Neural Networks",
    ICCV 2015, https://arxiv.org/abs/1502.03240.

    The unary energy is ``-logits`` of the network below; every iteration filters the
    current ``Q`` with the two normalised Gaussian kernels, mixes each kernel's messages
    with its learnable ``(C, C)`` matrix of per-class weights (``m W^T``, initialised to
    ``w I``, as in the paper's layer), applies the learnable ``(C, C)`` compatibility matrix
    (initialised to Potts) and adds the unary. Kernel widths stay fixed. With
    ``method="lattice"`` the whole batch shares one lattice for the appearance kernel.

    Args:
        num_classes: ``C``.
        iterations: unrolled mean-field steps (5 in training, as in the paper).
        w1, theta_alpha, theta_beta, w2, theta_gamma: as in :func:`dlcourse.crf.dense_crf`;
            ``w1`` and ``w2`` set the initial per-class weights ``w1 I`` and ``w2 I``.
        method: ``"naive"`` (exact, small images) or ``"lattice"``.

    Shape: logits ``(B, C, H, W)`` and images ``(B, 3, H, W)`` (RGB on the 0..255 scale)
    -> refined logits ``(B, C, H, W)``.
    """

    def __init__(self, num_classes: int, iterations: int = 5, w1: float = 4.0, theta_alpha: float = 121.0,
                 theta_beta: float = 5.0, w2: float = 3.0, theta_gamma: float = 3.0,
                 method: str = "naive") -> None:  # fmt: skip
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes={num_classes!r}: need an int >= 2")
        if method not in METHODS:
            raise ValueError(f"method={method!r}: use one of {METHODS}")
        self.num_classes, self.iterations, self.method = num_classes, int(iterations), method
        self.theta_alpha, self.theta_beta = (
            check_theta(theta_alpha, "theta_alpha"),
            check_theta(theta_beta, "theta_beta"),
        )
        self.theta_gamma = check_theta(theta_gamma, "theta_gamma")
        eye = torch.eye(num_classes)
        self.bilateral_weights = nn.Parameter(check_weight(w1, "w1") * eye)
        self.spatial_weights = nn.Parameter(check_weight(w2, "w2") * eye)
        self.compat = nn.Parameter(potts(num_classes))

    def forward(self, logits: Tensor, images: Tensor) -> Tensor:
        if logits.ndim != 4 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f"logits: expected shape (B, {self.num_classes}, H, W), got {tuple(logits.shape)}"
            )
        if (
            images.ndim != 4
            or images.shape[1] != 3
            or images.shape[0] != logits.shape[0]
            or images.shape[2:] != logits.shape[2:]
        ):
            raise ValueError(f"images: expected shape ({logits.shape[0]}, 3, {logits.shape[2]}, "
                             f"{logits.shape[3]}) to match the logits, got {tuple(images.shape)}")  # fmt: skip
        batch, classes, height, width = logits.shape
        dtype = logits.dtype
        spatial = make_filter(
            spatial_features(height, width, self.theta_gamma, logits.device, dtype), self.method
        )
        rgb = images.detach().permute(0, 2, 3, 1)  # (B, H, W, 3)
        weights = [self.spatial_weights.to(dtype), self.bilateral_weights.to(dtype)]
        unary = -logits.reshape(batch, classes, -1).transpose(1, 2)  # (B, N, C)
        if self.method == "lattice":  # one lattice for the batch: (B, N, 5) features
            bilateral = torch.stack([bilateral_features(image, self.theta_alpha, self.theta_beta, dtype)
                                     for image in rgb])  # fmt: skip
            filters = [_PerImage(spatial), make_filter(bilateral, self.method)]
            refined = mean_field(unary, filters, weights, self.compat.to(dtype), self.iterations)
        else:
            refined = torch.stack([
                mean_field(u, [spatial, make_filter(bilateral_features(image, self.theta_alpha, self.theta_beta,
                                                                       dtype), self.method)],
                           weights, self.compat.to(dtype), self.iterations)
                for u, image in zip(unary, rgb, strict=True)])  # fmt: skip
        return refined.transpose(1, 2).reshape(batch, classes, height, width)
