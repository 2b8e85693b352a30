"""Segmentation metrics from one confusion matrix: pixel accuracy, IoU, mIoU, trimap IoU.

Every score here is read off a ``(K, K)`` confusion matrix whose row is the true
class and whose column is the predicted class. Pixels labelled ``ignore_index``
(255, VOC's void) are left out before counting.

Convention for classes that never occur: a class absent from both the labels and
the predictions has no IoU (``nan``) and is excluded from the mean (``nanmean``).
A class that occurs only in the predictions has IoU 0 and counts. Mean class
accuracy averages over the classes present in the labels.

Used in: 05, 06, 07, 08, 09.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _label_maps(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn logits ``(N, C, H, W)`` into label maps and check that shapes agree."""
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError(
            f"pred and target must be torch tensors, got {type(pred).__name__} and "
            f"{type(target).__name__}; convert arrays with torch.as_tensor"
        )
    if pred.is_floating_point():
        if pred.ndim != target.ndim + 1:
            raise ValueError(
                f"pred: floating-point input is read as logits (N, C, H, W) with target "
                f"(N, H, W), got pred {tuple(pred.shape)} and target {tuple(target.shape)}; "
                "pass label maps as an integer tensor"
            )
        pred = pred.argmax(dim=1 if target.ndim >= 3 else 0)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same "
            "shape; resize the prediction to the label size (bilinear on logits) first"
        )
    return pred.long(), target.long()


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = 255
) -> torch.Tensor:
    """Count pixels by (true class, predicted class), on the device of the inputs.

    Args:
        pred: label maps of any shape, or logits with the class dimension at 1.
        target: true labels, same shape as the label maps; ``ignore_index`` pixels
            are skipped.
        num_classes: K.
        ignore_index: label value to skip (255 for VOC).

    Returns:
        ``(K, K)`` int64 tensor ``cm`` with ``cm[t, p]`` = pixels of class t predicted as p.

    Raises:
        ValueError: when a label or prediction lies outside ``0..K-1`` (and is not
            ``ignore_index`` in the labels).
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r}: must be a positive int")
    pred, target = _label_maps(pred, target)
    keep = target != ignore_index
    pred, target = pred[keep], target[keep]
    if target.numel() and (target.min() < 0 or target.max() >= num_classes):
        bad = target[(target < 0) | (target >= num_classes)].unique()[:10].tolist()
        raise ValueError(
            f"target holds values {bad} outside 0..{num_classes - 1} and ignore_index "
            f"{ignore_index}; check num_classes or the mask files"
        )
    if pred.numel() and (pred.min() < 0 or pred.max() >= num_classes):
        bad = pred[(pred < 0) | (pred >= num_classes)].unique()[:10].tolist()
        raise ValueError(f"pred holds values {bad} outside 0..{num_classes - 1}; check num_classes")
    index = target * num_classes + pred
    counts = torch.bincount(index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def scores_from_confusion(cm: torch.Tensor) -> dict[str, object]:
    """All scores of a ``(K, K)`` confusion matrix (rows: truth, columns: prediction).

    Returns:
        A dict with ``pixel_acc`` (float), ``mean_acc`` (float), ``acc`` (per-class
        recall, float64 CPU tensor of length K), ``iou`` (per-class IoU, float64 CPU
        tensor of length K, ``nan`` for classes absent from labels and predictions),
        ``miou`` (float, mean of the non-``nan`` IoUs) and ``fwiou`` (float, IoU
        weighted by each class's share of labelled pixels).
    """
    cm = cm.detach().to("cpu", torch.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm: expected a square (K, K) matrix, got {tuple(cm.shape)}")
    tp = cm.diag()
    label_total = cm.sum(dim=1)
    pred_total = cm.sum(dim=0)
    union = label_total + pred_total - tp
    total = cm.sum()
    nan = torch.tensor(float("nan"), dtype=torch.float64)
    acc = torch.where(label_total > 0, tp / label_total.clamp(min=1), nan)
    iou = torch.where(union > 0, tp / union.clamp(min=1), nan)
    freq = label_total / total if total > 0 else torch.zeros_like(label_total)
    seen = label_total > 0
    return {
        "pixel_acc": float(tp.sum() / total) if total > 0 else float("nan"),
        "mean_acc": float(acc.nanmean()),
        "acc": acc,
        "iou": iou,
        "miou": float(iou.nanmean()),
        "fwiou": float((freq[seen] * iou[seen]).sum()) if total > 0 else float("nan"),
    }


class SegmentationMetrics:
    """Accumulate a confusion matrix over batches, then read every score from it.

    The convention of PASCAL VOC (Everingham et al., IJCV 2010,
    http://host.robots.ox.ac.uk/pascal/VOC/pubs/everingham10.pdf): IoU = TP / (TP + FP + FN)
    per class, summed over the whole data set (not averaged per image); mIoU is the
    mean over classes, leaving out classes absent from both labels and predictions.

    Args:
        num_classes: K, the number of classes (21 for VOC).
        ignore_index: label value that is not scored (255, VOC's void).

    Shape: ``update(pred, target)`` takes label maps ``(N, H, W)`` or logits
    ``(N, K, H, W)`` with labels ``(N, H, W)``; the matrix lives on their device.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
            raise ValueError(
                f"SegmentationMetrics(num_classes={num_classes!r}): must be a positive int"
            )
        if 0 <= ignore_index < num_classes:
            raise ValueError(
                f"SegmentationMetrics(ignore_index={ignore_index}): collides with a class index "
                f"0..{num_classes - 1}; use a value such as 255"
            )
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.confusion: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.confusion = None

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch: ``pred`` label maps or logits, ``target`` labels (255 ignored)."""
        cm = confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        if self.confusion is None:
            self.confusion = cm
        else:
            self.confusion += cm.to(self.confusion.device)

    def matrix(self) -> torch.Tensor:
        """The ``(K, K)`` int64 confusion matrix counted so far (zeros before any update)."""
        if self.confusion is None:
            return torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)
        return self.confusion

    def reduce_from_all_processes(self) -> SegmentationMetrics:
        """Sum the matrix over all processes when ``torch.distributed`` is initialised.

        Call it once before :meth:`compute` in a distributed (DDP) evaluation, on every
        process; without a process group it does nothing. Returns ``self``.
        """
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self
        cm = self.matrix()
        if dist.get_backend() == "nccl" and cm.device.type != "cuda":
            cm = cm.cuda()
        cm = cm.clone()
        dist.all_reduce(cm, op=dist.ReduceOp.SUM)
        self.confusion = cm
        return self

    def compute(self) -> dict[str, object]:
        """Scores of everything counted: see :func:`scores_from_confusion` (``iou`` is a
        float64 CPU tensor with ``nan`` for classes absent from labels and predictions)."""
        return scores_from_confusion(self.matrix())

    def __repr__(self) -> str:
        pixels = int(self.matrix().sum())
        return f"SegmentationMetrics(num_classes={self.num_classes}, pixels={pixels})"


def boundary_band(target: torch.Tensor, band: int) -> torch.Tensor:
    """Pixels within ``band`` pixels of a label edge: the "trimap" band.

    A pixel is on an edge when one of its four neighbours holds a different value
    (void 255 counts as a value, so VOC's void outlines mark object borders). The
    band is that edge grown by ``band`` pixels in every direction (a square of side
    ``2 * band + 1``, i.e. Chebyshev distance ``<= band``).

    Args:
        target: label map ``(H, W)`` or ``(N, H, W)``.
        band: half-width in pixels, ``>= 0`` (0 keeps only the edge pixels).

    Returns:
        Boolean tensor of the same shape, on the same device.
    """
    if not isinstance(band, int) or isinstance(band, bool) or band < 0:
        raise ValueError(f"boundary_band(band={band!r}): band must be an int >= 0")
    if target.ndim not in (2, 3):
        raise ValueError(
            f"boundary_band: target must be (H, W) or (N, H, W), got {tuple(target.shape)}"
        )
    labels = target if target.ndim == 3 else target[None]
    edge = torch.zeros(labels.shape, dtype=torch.bool, device=labels.device)
    dy = labels[:, 1:, :] != labels[:, :-1, :]
    dx = labels[:, :, 1:] != labels[:, :, :-1]
    edge[:, 1:, :] |= dy
    edge[:, :-1, :] |= dy
    edge[:, :, 1:] |= dx
    edge[:, :, :-1] |= dx
    if band > 0:
        grown = F.max_pool2d(edge[:, None].float(), 2 * band + 1, stride=1, padding=band)
        edge = grown[:, 0] > 0
    return edge if target.ndim == 3 else edge[0]


def trimap_iou(
    pred: torch.Tensor, target: torch.Tensor, band: int, num_classes: int, ignore_index: int = 255
) -> float:
    """mIoU counted only on pixels within ``band`` pixels of a label edge.

    This is the trimap measure of Kohli et al. (CVPR 2009) that DeepLab v1/v2
    (https://arxiv.org/abs/1412.7062, Fig. 5) use to show how sharp boundaries are.

    Args:
        pred: label maps ``(N, H, W)``/``(H, W)`` or logits ``(N, K, H, W)``.
        target: labels of the same shape as the label maps.
        band: half-width of the band (see :func:`boundary_band`).
        num_classes: K.
        ignore_index: label value that is never scored.

    Returns:
        The mIoU over the band (classes absent from the band in both are excluded);
        ``nan`` when the band holds no scored pixel.
    """
    pred, target = _label_maps(pred, target)
    inside = boundary_band(target, band)
    masked = torch.where(inside, target, torch.full_like(target, ignore_index))
    cm = confusion_matrix(pred, masked, num_classes, ignore_index)
    return scores_from_confusion(cm)["miou"]
