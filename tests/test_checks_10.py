"""Tests of lesson 10's checkers: right answers pass, the usual mistakes get their hint."""

import numpy as np

from dlcourse import checks
from dlcourse.family import pareto_front


def right_front(costs, scores):
    points = list(zip(costs, scores, strict=True))
    front = [i for i, (c, s) in enumerate(points)
             if not any(c2 <= c and s2 >= s and (c2 < c or s2 > s) for c2, s2 in points)]  # fmt: skip
    return sorted(front, key=lambda i: (costs[i], -scores[i]))


def test_pareto_checker_passes_right_answers(capsys):
    assert checks.check_pareto_front(right_front)
    assert checks.check_pareto_front(pareto_front)
    assert "Correct!" in capsys.readouterr().out


def test_pareto_checker_catches_the_usual_mistakes(capsys):
    assert not checks.check_pareto_front(lambda c, s: [int(np.argmax(s))])  # only the best score
    assert "you returned one point" in capsys.readouterr().out
    assert not checks.check_pareto_front(lambda c, s: pareto_front([-x for x in c], s))  # cost reversed
    assert "higher cost as better" in capsys.readouterr().out
    assert not checks.check_pareto_front(lambda c, s: sorted(right_front(c, s), key=lambda i: -s[i]))
    assert "wrong order" in capsys.readouterr().out

    def drops_ties(costs, scores):  # strict dominance on both counts: keeps beaten points
        kept = [i for i in range(len(costs))
                if not any(costs[j] < costs[i] and scores[j] > scores[i] for j in range(len(costs)))]  # fmt: skip
        return sorted(kept, key=lambda i: costs[i])

    assert not checks.check_pareto_front(drops_ties)
    assert "are beaten by a point" in capsys.readouterr().out


def test_pareto_checker_reports_crashes_and_non_answers(capsys):
    assert not checks.check_pareto_front(None)
    assert "Not answered" in capsys.readouterr().out
    assert not checks.check_pareto_front(lambda c, s: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out


def right_weights(pixels):
    freq = pixels / pixels.sum()
    present = freq > 0
    weights = np.zeros(len(freq))
    weights[present] = np.median(freq[present]) / freq[present]
    return weights


def test_class_weights_checker_passes_the_right_answer(capsys):
    assert checks.check_class_weights(right_weights)
    assert "Correct!" in capsys.readouterr().out


def test_class_weights_checker_catches_the_usual_mistakes(capsys):
    assert not checks.check_class_weights(lambda p: p.sum() / np.maximum(p, 1))  # inverse frequency
    assert "plain inverse frequency" in capsys.readouterr().out
    assert not checks.check_class_weights(lambda p: (p / p.sum()) / np.median((p / p.sum())[p > 0]))
    assert "Upside down" in capsys.readouterr().out

    def median_with_absent(pixels):
        freq = pixels / pixels.sum()
        weights = np.zeros(len(freq))
        weights[freq > 0] = np.median(freq) / freq[freq > 0]
        return weights

    assert not checks.check_class_weights(median_with_absent)
    assert "classes that occur only" in capsys.readouterr().out
    assert not checks.check_class_weights(lambda p: [1.0, 2.0])
    assert "expected 4 weights" in capsys.readouterr().out


def test_torchvision_gflops_checker(capsys):
    assert checks.check_torchvision_gflops(517.49, 258.745)
    assert "Correct!" in capsys.readouterr().out
    assert not checks.check_torchvision_gflops(517.49, 517.49)
    assert "FlopCounterMode's own count" in capsys.readouterr().out
    assert not checks.check_torchvision_gflops(517.49, 1034.98)
    assert "The other way round" in capsys.readouterr().out
    assert not checks.check_torchvision_gflops(517.49, "lots")
    assert "give a number" in capsys.readouterr().out
