"""The lesson 08 (evaluation) checkers: right answers pass, the usual mistakes get their hint."""

import numpy as np
import torch

from dlcourse.checks import (
    check_confusion_matrix,
    check_flip_agreement,
    check_iou,
    check_miou,
    check_miou_from_confusion,
    check_tta_passes,
)
from dlcourse.inference import predict
from dlcourse.metrics import confusion_matrix, scores_from_confusion


def right_confusion(pred, target, num_classes, ignore_index):
    keep = target != ignore_index
    pairs = target[keep] * num_classes + pred[keep]
    return torch.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)


def test_confusion_matrix_checker_passes_a_right_answer():
    result = check_confusion_matrix(right_confusion)
    assert result and "Correct!" in result.message
    assert check_confusion_matrix(lambda p, t, k, i: confusion_matrix(p, t, k, i).numpy())


def test_confusion_matrix_checker_catches_swapped_rows_and_columns():
    result = check_confusion_matrix(lambda p, t, k, i: right_confusion(p, t, k, i).T)
    assert not result and "rows and columns are swapped" in result.message


def test_confusion_matrix_checker_catches_counted_void_pixels():
    def void_as_background(pred, target, num_classes, ignore_index):
        target = torch.where(target == ignore_index, torch.zeros_like(target), target)
        return right_confusion(pred, target, num_classes, ignore_index)

    result = check_confusion_matrix(void_as_background)
    assert not result and "void pixels were counted" in result.message


def test_confusion_matrix_checker_reports_errors_and_wrong_shapes():
    def crashes(pred, target, num_classes, ignore_index):
        return torch.bincount(target.flatten() * num_classes + pred.flatten())  # 255 * K: too long

    result = check_confusion_matrix(crashes)
    assert not result and "expected a 3x3 matrix" in result.message
    result = check_confusion_matrix(lambda *args: 1 / 0)
    assert not result and "raised ZeroDivisionError" in result.message
    result = check_confusion_matrix(None)
    assert not result and "replace the None" in result.message


def right_miou(cm):
    cm = torch.as_tensor(cm, dtype=torch.float64)
    tp, union = cm.diag(), cm.sum(0) + cm.sum(1) - cm.diag()
    return float((tp[union > 0] / union[union > 0]).mean())


def test_miou_checker_passes_a_right_answer():
    assert check_miou_from_confusion(right_miou)
    result = check_miou_from_confusion(lambda cm: scores_from_confusion(cm)["miou"])
    assert result and "Correct!" in result.message


def test_miou_checker_catches_absent_classes_averaged_as_zero():
    def absent_as_zero(cm):
        cm = cm.double()
        tp = cm.diag()
        return float((tp / (cm.sum(0) + cm.sum(1) - tp).clamp(min=1)).mean())

    result = check_miou_from_confusion(absent_as_zero)
    assert not result and "leave it out of the mean instead of counting it as 0" in result.message


def test_miou_checker_catches_dropping_classes_that_are_only_predicted():
    def only_labelled_classes(cm):
        cm = cm.double()
        tp, rows = cm.diag(), cm.sum(1)
        iou = tp / (rows + cm.sum(0) - tp).clamp(min=1)
        return float(iou[rows > 0].mean())

    result = check_miou_from_confusion(only_labelled_classes)
    assert not result and "only predicted" in result.message


def test_miou_checker_catches_mean_class_accuracy():
    def mean_accuracy(cm):
        cm = cm.double()
        rows = cm.sum(1)
        return float((cm.diag()[rows > 0] / rows[rows > 0]).mean())

    result = check_miou_from_confusion(mean_accuracy)
    assert not result and "mean class accuracy" in result.message
    result = check_miou_from_confusion(lambda cm: "high")
    assert not result and "return one number" in result.message


def right_agreement(model, image):
    plain = predict(model, image).argmax(0)
    mirrored = predict(model, image.flip(-1)).flip(-1).argmax(0)
    return (plain == mirrored).float().mean()


def test_flip_agreement_checker_passes_a_right_answer():
    result = check_flip_agreement(right_agreement)
    assert result and "Correct!" in result.message


def test_flip_agreement_checker_catches_a_mirror_not_flipped_back():
    def not_flipped_back(model, image):
        plain = predict(model, image).argmax(0)
        return (plain == predict(model, image.flip(-1)).argmax(0)).float().mean()

    result = check_flip_agreement(not_flipped_back)
    assert not result and "without flipping it back" in result.message


def test_flip_agreement_checker_catches_the_share_that_disagrees():
    result = check_flip_agreement(lambda m, x: 1 - right_agreement(m, x))
    assert not result and "disagree" in result.message


def test_flip_agreement_checker_catches_compared_probabilities():
    def probabilities(model, image):
        plain = predict(model, image)
        return (plain == predict(model, image.flip(-1)).flip(-1)).float().mean()

    result = check_flip_agreement(probabilities)
    assert not result and "compare the label maps" in result.message


def test_the_checkers_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_confusion_matrix(right_confusion)
    check_miou_from_confusion(right_miou)
    check_flip_agreement(right_agreement)
    assert torch.equal(torch.rand(3), expected)


# --- values read off a confusion matrix ----------------------------------------------

CONFUSION = [
    [7, 2, 1, 0],
    [1, 6, 1, 0],
    [0, 0, 0, 0],
    [0, 0, 0, 0],
]  # rows: truth; class 3 absent everywhere


def test_check_iou():
    result = check_iou(CONFUSION, 1, 0.6)  # 6 / (8 + 8 - 6)
    assert result.message == "Correct! class 1 has IoU 0.6000."
    assert check_iou(np.array(CONFUSION), 0, 7 / 11) and check_iou(
        torch.tensor(CONFUSION), 1, 0.6004
    )
    assert not check_iou(CONFUSION, 1, 6 / 8)  # TP / row: the class accuracy
    assert not check_iou(CONFUSION, 1, "0.6")
    assert check_iou(CONFUSION, 1, None).message.startswith("Not answered yet")


def test_check_miou():
    assert (
        check_miou(CONFUSION, (7 / 11 + 0.6 + 0) / 3).message
        == f"Correct! the mIoU is {(7 / 11 + 0.6) / 3:.4f}."
    )
    absent = check_miou(
        CONFUSION, (7 / 11 + 0.6) / 2
    )  # class 2 is predicted once: it counts, with IoU 0
    assert not absent and "drop classes with no pixels" in absent.message
    assert not check_miou(CONFUSION, (7 / 11 + 0.6) / 4)  # class 3 has no IoU at all


def test_check_tta_passes():
    assert check_tta_passes((0.5, 1.0, 1.5), True, 6).message == (
        "Correct! 6 forward passes: one per scale, twice with the mirror."
    )
    assert (
        check_tta_passes([0.75, 1.25], False, 2).message
        == "Correct! 2 forward passes: one per scale."
    )
    assert not check_tta_passes((0.5, 1.0, 1.5), True, 3)  # the mirror forgotten
    assert not check_tta_passes((0.5, 1.0, 1.5), True, 6.5)
