"""The lesson 10 (capstone) checkers: right answers pass, the usual mistakes get their hint."""

import numpy as np

from dlcourse.checks import check_class_weights, check_pareto_front, check_torchvision_gflops
from dlcourse.family import pareto_front


def right_front(costs, scores):
    points = list(zip(costs, scores, strict=True))
    front = [i for i, (c, s) in enumerate(points)
             if not any(c2 <= c and s2 >= s and (c2 < c or s2 > s) for c2, s2 in points)]  # fmt: skip
    return sorted(front, key=lambda i: (costs[i], -scores[i]))


def test_pareto_checker_passes_right_answers():
    assert check_pareto_front(right_front)
    result = check_pareto_front(pareto_front)
    assert result and "Correct!" in result.message


def test_pareto_checker_catches_the_usual_mistakes():
    best = check_pareto_front(lambda c, s: [int(np.argmax(s))])  # only the best score
    assert not best and "you returned one point" in best.message
    reversed_cost = check_pareto_front(lambda c, s: pareto_front([-x for x in c], s))
    assert not reversed_cost and "higher cost as better" in reversed_cost.message
    result = check_pareto_front(lambda c, s: sorted(right_front(c, s), key=lambda i: -s[i]))
    assert not result and "wrong order" in result.message

    def drops_ties(costs, scores):  # strict dominance on both counts: keeps beaten points
        kept = [i for i in range(len(costs))
                if not any(costs[j] < costs[i] and scores[j] > scores[i] for j in range(len(costs)))]  # fmt: skip
        return sorted(kept, key=lambda i: costs[i])

    result = check_pareto_front(drops_ties)
    assert not result and "are beaten by a point" in result.message


def test_pareto_checker_reports_crashes_and_non_answers():
    result = check_pareto_front(None)
    assert not result and "Not answered" in result.message
    result = check_pareto_front(lambda c, s: 1 / 0)
    assert not result and "ZeroDivisionError" in result.message


def right_weights(pixels):
    freq = pixels / pixels.sum()
    present = freq > 0
    weights = np.zeros(len(freq))
    weights[present] = np.median(freq[present]) / freq[present]
    return weights


def test_class_weights_checker_passes_the_right_answer():
    result = check_class_weights(right_weights)
    assert result and "Correct!" in result.message


def test_class_weights_checker_catches_the_usual_mistakes():
    inverse = check_class_weights(lambda p: p.sum() / np.maximum(p, 1))  # inverse frequency
    assert not inverse and "plain inverse frequency" in inverse.message
    result = check_class_weights(lambda p: (p / p.sum()) / np.median((p / p.sum())[p > 0]))
    assert not result and "Upside down" in result.message

    def median_with_absent(pixels):
        freq = pixels / pixels.sum()
        weights = np.zeros(len(freq))
        weights[freq > 0] = np.median(freq) / freq[freq > 0]
        return weights

    result = check_class_weights(median_with_absent)
    assert not result and "classes that occur only" in result.message
    result = check_class_weights(lambda p: [1.0, 2.0])
    assert not result and "expected 4 weights" in result.message


def test_torchvision_gflops_checker():
    result = check_torchvision_gflops(517.49, 258.745)
    assert result and "Correct!" in result.message
    result = check_torchvision_gflops(517.49, 517.49)
    assert not result and "FlopCounterMode's own count" in result.message
    result = check_torchvision_gflops(517.49, 1034.98)
    assert not result and "The other way round" in result.message
    result = check_torchvision_gflops(517.49, "lots")
    assert not result and "give a number" in result.message
