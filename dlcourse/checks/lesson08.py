"""Checkers of lesson 08 (evaluation): IoU and mIoU from a confusion matrix, test-time
augmentation, and the learner's confusion matrix, mIoU and flip agreement.

Used in: 08.
"""

from __future__ import annotations

import numpy as np

from dlcourse.checks.core import (
    CheckResult,
    call_for_number,
    call_learner,
    judge,
    judge_function,
    real_number,
)

# Package modules are imported inside the checkers: importing one lesson's checkers
# does not load every lesson's code.


def _confusion_tensor(values):
    """A confusion matrix (tensor, array or nested lists) as an int64 tensor."""
    import torch

    return torch.as_tensor(np.asarray(values), dtype=torch.int64)


def check_iou(confusion, class_index: int, answer: float) -> CheckResult:
    """Lesson 08: the IoU of class ``class_index`` read off a confusion matrix (rows: truth)."""
    from dlcourse.metrics import scores_from_confusion

    expected = float(scores_from_confusion(_confusion_tensor(confusion))["iou"][class_index])
    return judge(
        answer,
        expected,
        f"class {class_index} has IoU {expected:.4f}.",
        "IoU = TP / (TP + FP + FN): the diagonal entry, divided by its row sum plus its "
        "column sum minus the diagonal entry (counted twice otherwise).",
        parse=real_number,
        same=lambda given, right: abs(given - right) < 1e-3,
    )


def check_miou(confusion, answer: float) -> CheckResult:
    """Lesson 08: the mean IoU of a confusion matrix (classes absent everywhere left out)."""
    from dlcourse.metrics import scores_from_confusion

    expected = scores_from_confusion(_confusion_tensor(confusion))["miou"]
    return judge(
        answer,
        expected,
        f"the mIoU is {expected:.4f}.",
        "Compute every class's IoU, drop classes with no pixels in the labels and none in "
        "the predictions, and average the rest.",
        parse=real_number,
        same=lambda given, right: abs(given - right) < 1e-3,
    )


def check_tta_passes(scales, flip: bool, answer: int) -> CheckResult:
    """Lesson 08: forward passes that multi-scale (+ flip) inference makes per image."""
    expected = len(tuple(scales)) * (2 if flip else 1)
    return judge(
        answer,
        expected,
        f"{expected} forward passes: one per scale{', twice with the mirror' if flip else ''}.",
        "Each scale is one forward pass; flipping adds a mirrored copy of every scale.",
    )


def _label_pairs(seed: int):
    """Fresh ``(pred, target, num_classes)`` cases with void (255) pixels, one class never used."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    cases = []
    for k, shape in ((3, (5, 7)), (5, (2, 6, 6)), (4, (9,))):
        target = torch.randint(0, k - 1, shape, generator=generator)  # class k-1 never in target
        pred = torch.randint(0, k, shape, generator=generator)
        target[torch.rand(shape, generator=generator) < 0.2] = 255
        cases.append((pred, target, k))
    return cases


def check_confusion_matrix(confusion_fn) -> CheckResult:
    """Lesson 08: ``confusion_fn(pred, target, num_classes, ignore_index)`` counts a (K, K)
    confusion matrix (rows: truth, columns: prediction, ``ignore_index`` pixels skipped).

    It is called on label maps it has not seen (several shapes and K, void pixels, a class
    that occurs only in the predictions) and compared with ``dlcourse.metrics.confusion_matrix``.
    """
    return judge_function(
        confusion_fn,
        _confusion_matrix_mistake,
        "your matrix equals dlcourse.metrics.confusion_matrix on label maps it had not seen.",
    )


def _confusion_matrix_mistake(confusion_fn) -> str | None:
    """The first label map whose confusion matrix ``confusion_fn`` counts wrong, as a hint."""
    import torch

    from dlcourse.metrics import confusion_matrix

    for pred, target, k in _label_pairs(seed=8):
        expected = confusion_matrix(pred, target, k, ignore_index=255)
        got, failed = call_learner(confusion_fn, pred.clone(), target.clone(), k, 255)
        if failed is not None:
            return failed
        got = torch.as_tensor(np.asarray(got)).to(torch.int64)
        if got.shape != expected.shape:
            return (f"for K={k} expected a {k}x{k} matrix, got shape "
                    f"{tuple(got.shape)}; use torch.bincount(t * K + p, minlength=K * K)"
                    ".reshape(K, K).")  # fmt: skip
        if torch.equal(got, expected):
            continue
        if torch.equal(got, expected.T):
            return "rows and columns are swapped: row = true class, column = predicted class."
        if int(got.sum()) == target.numel():
            return ("void pixels were counted: keep only the pixels whose target is not "
                    "ignore_index, in both pred and target, before counting.")  # fmt: skip
        return (f"for K={k} some counts differ (expected {expected.tolist()}, got "
                f"{got.tolist()}); count each (true, predicted) pair once.")  # fmt: skip
    return None


def _confusion_cases(seed: int):
    """Fresh confusion matrices: one with a class absent everywhere, one only predicted."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    cases = []
    for k in (4, 6):
        cm = torch.randint(0, 20, (k, k), generator=generator)
        cm[k - 1, :] = 0  # class k-1: in no label ...
        cm[:, k - 1] = 0  # ... and in no prediction: it has no IoU
        cm[k - 2, :] = 0  # class k-2: never in the labels, but predicted
        cm[0, k - 2] = 5
        cases.append(cm)
    return cases


def check_miou_from_confusion(miou_fn) -> CheckResult:
    """Lesson 08: ``miou_fn(cm)`` returns the mIoU of a (K, K) confusion matrix (rows: truth)
    with classes absent from both labels and predictions left out, as ``dlcourse.metrics``."""
    return judge_function(
        miou_fn,
        _miou_mistake,
        "the mean IoU agrees with dlcourse.metrics on matrices it had not seen, absent classes included.",
    )


def _miou_mistake(miou_fn) -> str | None:
    """The first confusion matrix whose mIoU ``miou_fn`` gets wrong, as a hint."""
    from dlcourse.metrics import scores_from_confusion

    for cm in _confusion_cases(seed=8):
        expected = scores_from_confusion(cm)["miou"]
        got, failed = call_for_number(miou_fn, cm.clone())
        if failed is not None:
            return failed
        if abs(got - expected) < 1e-6:
            continue
        cmf = cm.double()
        tp, rows, cols = cmf.diag(), cmf.sum(1), cmf.sum(0)
        iou = tp / (rows + cols - tp).clamp(min=1)
        if abs(got - float(iou.mean())) < 1e-6:
            return ("a class with no pixel in the labels and none in the predictions has no "
                    "IoU (0 / 0); leave it out of the mean instead of counting it as 0.")  # fmt: skip
        if abs(got - float(iou[rows > 0].mean())) < 1e-6:
            return ("a class that is only predicted (its row is empty, its column is not) has "
                    "IoU 0 and counts: leave out only classes whose row and column are both empty.")  # fmt: skip
        if abs(got - float((tp / rows.clamp(min=1))[rows > 0].mean())) < 1e-6:
            return "that is the mean class accuracy; IoU divides TP by TP + FP + FN."
        return (f"expected {expected:.4f}, got {got:.4f}: IoU = TP / (row sum + column sum "
                "- TP), averaged over the classes whose union is not empty.")  # fmt: skip
    return None


def _tiny_segmenter(seed: int):
    """A small random conv net returning ``{"out": logits}`` (4 classes), as the course's models."""
    import torch
    from torch import nn

    class TinySegmenter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(),
                                      nn.Conv2d(8, 4, 3, padding=1))  # fmt: skip

        def forward(self, x):
            return {"out": self.body(x)}

    with torch.random.fork_rng(devices=[]):  # the layers' own initialisation draws numbers
        net = TinySegmenter()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return net.eval()


def check_flip_agreement(agreement_fn) -> CheckResult:
    """Lesson 08: ``agreement_fn(model, image)`` returns the share of pixels whose label is the
    same when the model sees ``image`` and when it sees the mirrored image (mapped back).

    Checked on a small random network and pictures the learner has not seen, against
    ``dlcourse.inference.predict``.
    """
    return judge_function(
        agreement_fn,
        _flip_agreement_mistake,
        "averaging with the mirror can change the answer only on the pixels that do not agree.",
    )


def _flip_agreement_mistake(agreement_fn) -> str | None:
    """The first picture whose flip agreement ``agreement_fn`` gets wrong, as a hint."""
    import torch

    from dlcourse.inference import predict

    model = _tiny_segmenter(seed=8)
    generator = torch.Generator().manual_seed(8)
    for shape in ((3, 24, 30), (3, 17, 17)):
        image = torch.randn(shape, generator=generator)
        plain = predict(model, image).argmax(0)
        mirrored = predict(model, image.flip(-1))
        expected = float((mirrored.flip(-1).argmax(0) == plain).double().mean())
        got, failed = call_for_number(
            agreement_fn, model, image.clone(), asks="one number (a share in [0, 1])"
        )
        if failed is not None:
            return failed
        if abs(got - expected) < 1e-6:
            continue
        unflipped = float((mirrored.argmax(0) == plain).double().mean())
        if abs(got - unflipped) < 1e-6:
            return ("the mirrored prediction was compared without flipping it back: pixel x of "
                    "the mirror is pixel W - 1 - x of the picture, so flip the prediction "
                    "(dim -1) before comparing.")  # fmt: skip
        if abs(got - (1 - expected)) < 1e-6:
            return "that is the share of pixels that disagree; return the share that agree."
        return (f"expected {expected:.4f}, got {got:.4f}: compare the label maps "
                "(argmax over classes) of the picture and of the flipped-back mirror.")  # fmt: skip
    return None
