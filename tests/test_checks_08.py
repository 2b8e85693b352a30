"""Tests of lesson 08's coding checkers: right answers pass, the usual mistakes get their hint."""

import torch

from dlcourse import checks
from dlcourse.inference import predict
from dlcourse.metrics import confusion_matrix, scores_from_confusion


def right_confusion(pred, target, num_classes, ignore_index):
    keep = target != ignore_index
    pairs = target[keep] * num_classes + pred[keep]
    return torch.bincount(pairs, minlength=num_classes**2).reshape(num_classes, num_classes)


def test_confusion_matrix_checker_passes_a_right_answer(capsys):
    assert checks.check_confusion_matrix(right_confusion)
    assert "Correct!" in capsys.readouterr().out
    assert checks.check_confusion_matrix(lambda p, t, k, i: confusion_matrix(p, t, k, i).numpy())


def test_confusion_matrix_checker_catches_swapped_rows_and_columns(capsys):
    assert not checks.check_confusion_matrix(lambda p, t, k, i: right_confusion(p, t, k, i).T)
    assert "rows and columns are swapped" in capsys.readouterr().out


def test_confusion_matrix_checker_catches_counted_void_pixels(capsys):
    def void_as_background(pred, target, num_classes, ignore_index):
        target = torch.where(target == ignore_index, torch.zeros_like(target), target)
        return right_confusion(pred, target, num_classes, ignore_index)

    assert not checks.check_confusion_matrix(void_as_background)
    assert "void pixels were counted" in capsys.readouterr().out


def test_confusion_matrix_checker_reports_errors_and_wrong_shapes(capsys):
    def crashes(pred, target, num_classes, ignore_index):
        return torch.bincount(target.flatten() * num_classes + pred.flatten())  # 255 * K: too long

    assert not checks.check_confusion_matrix(crashes)
    assert "expected a 3x3 matrix" in capsys.readouterr().out
    assert not checks.check_confusion_matrix(lambda *args: 1 / 0)
    assert "raised ZeroDivisionError" in capsys.readouterr().out
    assert not checks.check_confusion_matrix(None)
    assert "replace the None" in capsys.readouterr().out


def right_miou(cm):
    cm = torch.as_tensor(cm, dtype=torch.float64)
    tp, union = cm.diag(), cm.sum(0) + cm.sum(1) - cm.diag()
    return float((tp[union > 0] / union[union > 0]).mean())


def test_miou_checker_passes_a_right_answer(capsys):
    assert checks.check_miou_from_confusion(right_miou)
    assert checks.check_miou_from_confusion(lambda cm: scores_from_confusion(cm)["miou"])
    assert "Correct!" in capsys.readouterr().out


def test_miou_checker_catches_absent_classes_averaged_as_zero(capsys):
    def absent_as_zero(cm):
        cm = cm.double()
        tp = cm.diag()
        return float((tp / (cm.sum(0) + cm.sum(1) - tp).clamp(min=1)).mean())

    assert not checks.check_miou_from_confusion(absent_as_zero)
    assert "leave it out of the mean instead of counting it as 0" in capsys.readouterr().out


def test_miou_checker_catches_dropping_classes_that_are_only_predicted(capsys):
    def only_labelled_classes(cm):
        cm = cm.double()
        tp, rows = cm.diag(), cm.sum(1)
        iou = tp / (rows + cm.sum(0) - tp).clamp(min=1)
        return float(iou[rows > 0].mean())

    assert not checks.check_miou_from_confusion(only_labelled_classes)
    assert "only predicted" in capsys.readouterr().out


def test_miou_checker_catches_mean_class_accuracy(capsys):
    def mean_accuracy(cm):
        cm = cm.double()
        rows = cm.sum(1)
        return float((cm.diag()[rows > 0] / rows[rows > 0]).mean())

    assert not checks.check_miou_from_confusion(mean_accuracy)
    assert "mean class accuracy" in capsys.readouterr().out
    assert not checks.check_miou_from_confusion(lambda cm: "high")
    assert "return one number" in capsys.readouterr().out


def right_agreement(model, image):
    plain = predict(model, image).argmax(0)
    mirrored = predict(model, image.flip(-1)).flip(-1).argmax(0)
    return (plain == mirrored).float().mean()


def test_flip_agreement_checker_passes_a_right_answer(capsys):
    assert checks.check_flip_agreement(right_agreement)
    assert "Correct!" in capsys.readouterr().out


def test_flip_agreement_checker_catches_a_mirror_not_flipped_back(capsys):
    def not_flipped_back(model, image):
        plain = predict(model, image).argmax(0)
        return (plain == predict(model, image.flip(-1)).argmax(0)).float().mean()

    assert not checks.check_flip_agreement(not_flipped_back)
    assert "without flipping it back" in capsys.readouterr().out


def test_flip_agreement_checker_catches_the_share_that_disagrees(capsys):
    assert not checks.check_flip_agreement(lambda m, x: 1 - right_agreement(m, x))
    assert "disagree" in capsys.readouterr().out


def test_flip_agreement_checker_catches_compared_probabilities(capsys):
    def probabilities(model, image):
        plain = predict(model, image)
        return (plain == predict(model, image.flip(-1)).flip(-1)).float().mean()

    assert not checks.check_flip_agreement(probabilities)
    assert "compare the label maps" in capsys.readouterr().out


def test_the_checkers_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_confusion_matrix(right_confusion)
    checks.check_miou_from_confusion(right_miou)
    checks.check_flip_agreement(right_agreement)
    assert torch.equal(torch.rand(3), expected)
