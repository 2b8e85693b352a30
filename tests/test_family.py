"""dlcourse.family: the Pareto front, costs counted here, one schedule for all."""

import math

import pytest
import torch
from matplotlib import pyplot as plt

from dlcourse.family import (
    FAMILY_SCHEDULE,
    all_background_miou,
    family_schedule,
    gpu_costs,
    gpu_unavailable_reason,
    model_profile,
    pareto_front,
    plot_family,
    train_and_score,
    unaugmented,
)
from dlcourse.recipe import build_datasets


def test_pareto_front_of_hand_made_points():
    # (cost, score): the third is beaten by the second (cheaper and better); the fifth ties the second
    costs, scores = [1, 2, 3, 4, 2], [50, 60, 55, 70, 60]
    assert pareto_front(costs, scores) == [0, 1, 4, 3]
    assert pareto_front([1, 2, 3, 4], [50, 60, 55, 70]) == [0, 1, 3]
    # a point beaten on cost only (same score) is off the front; one point is its own front
    assert pareto_front([1, 2], [60, 60]) == [0]
    assert pareto_front([5.5], [1.0]) == [0]
    # the cheapest point is dominated when another is as cheap and better
    assert pareto_front([1, 1, 3], [40, 45, 50]) == [1, 2]
    assert pareto_front([], []) == []


def test_pareto_front_refuses_bad_input():
    with pytest.raises(ValueError, match="3 costs but 2 scores"):
        pareto_front([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="scores=.*nan"):
        pareto_front([1, 2], [1, math.nan])
    with pytest.raises(ValueError, match="costs=.*'a'"):
        pareto_front(["a"], [1])


def test_model_profile_reproduces_torchvisions_published_count():
    with torch.device("meta"):
        counted = model_profile("deeplabv3_resnet50", (520, 520), aux_loss=True)
    assert round(counted.gmacs, 2) == 178.72  # torchvision's "GFLOPS" column
    assert counted.flops == 2 * counted.macs


def test_family_schedule_is_one_protocol_for_every_model():
    full, fast = family_schedule(False), family_schedule(True)
    assert (full.steps, full.batch_size, full.lr, full.warmup_steps) == (80, 4, 0.02, 8)
    assert (
        full.synthetic == {"n_train": 64, "n_val": 32, "size": 64, "seed": 0}
        and full.crop_size == 64
    )
    assert (
        full.steps == FAMILY_SCHEDULE["steps"] and full.batch_size == FAMILY_SCHEDULE["batch_size"]
    )
    assert (fast.steps, fast.batch_size, fast.synthetic["n_val"], fast.crop_size) == (2, 2, 4, 32)
    for cfg in (full, fast):
        assert cfg.model_kwargs == {} and cfg.weights_backbone is None and cfg.data == "synthetic"
        assert (
            cfg.seed == 0
            and cfg.warmup_steps < cfg.steps
            and cfg.synthetic["size"] == cfg.crop_size
        )
        # no rescaling: it would crop away the frame that gives a shape its class
        assert cfg.scale_range == (1.0, 1.0)
        assert cfg.synthetic["n_train"] >= 2 * cfg.batch_size


def test_unaugmented_gives_whole_pictures(tmp_path):
    cfg = family_schedule(True)
    train_set, _ = build_datasets(cfg, tmp_path)
    plain = unaugmented(train_set)
    assert len(plain) == len(train_set) == 8 and plain.pairs == train_set.pairs
    first, again = plain[0], plain[0]  # no random flip: the same tensors twice
    assert first[0].shape == (3, 32, 32) and torch.equal(first[0], again[0])
    with pytest.raises(ValueError, match=r"unaugmented\(dataset=...\): expected a PairDataset"):
        unaugmented([first])


def test_all_background_miou_of_hand_made_masks():
    # scored pixels: 3 background, 1 of class 1, 3 of class 2 (255 is void): background IoU 3/7
    masks = [torch.tensor([[0, 0], [1, 255]]), torch.tensor([[0, 2], [2, 2]])]
    assert all_background_miou([(None, m) for m in masks], 3) == pytest.approx(100 * 3 / 7 / 3)
    # a class that occurs nowhere is left out of the mean: background IoU 3/4 over 2 classes
    masks = [torch.tensor([[0, 0], [1, 0]])]
    assert all_background_miou([(None, m) for m in masks], 3) == pytest.approx(100 * 3 / 4 / 2)
    with pytest.raises(ValueError, match="the data set is empty"):
        all_background_miou([], 3)


def test_train_and_score_is_seeded(tmp_path):
    cfg = family_schedule(True)
    train_set, val_set = build_datasets(cfg, tmp_path)
    first = train_and_score("deeplabv3_mobilenet_v3_large", cfg, train_set, val_set)
    second = train_and_score("deeplabv3_mobilenet_v3_large", cfg, train_set, val_set)
    assert 0 <= first.miou <= 100 and 0 <= first.miou_as_trained <= 100 and first.train_s > 0
    assert (first.miou, first.miou_as_trained) == (second.miou, second.miou_as_trained)


def test_gpu_costs_checks_the_name_on_any_machine():
    with pytest.raises(ValueError, match=r"gpu_costs\(name='deeplabv4'\): unknown model"):
        gpu_costs("deeplabv4")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU answer")
def test_gpu_costs_without_a_gpu_is_none_and_says_why():
    assert gpu_costs("deeplabv3_resnet18") is None
    reason = gpu_unavailable_reason()
    assert "no CUDA GPU" in reason and "Change runtime type" in reason


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU: measures CUDA latency and memory"
)
def test_gpu_costs_on_a_gpu_measures_latency_and_memory():
    assert gpu_unavailable_reason() is None
    small, large = (gpu_costs("deeplabv3_mobilenet_v3_large", (129, 129), batch=b) for b in (2, 8))
    assert small.latency_ms > 0 and small.device == torch.cuda.get_device_name()
    # a larger batch keeps more activations for the backward pass
    assert 0 < small.train_memory_gib < large.train_memory_gib


def test_plot_family_draws_the_front():
    names = ["deeplabv3_resnet18", "deeplabv3_resnet101", "deeplabv3plus_resnet101"]
    fig = plot_family(names, [69.0, 248.7, 92.8], [40.0, 35.0, 45.0])
    left, right = fig.axes[:2]
    front_line = next(line for line in left.get_lines() if line.get_label() == "Pareto front")
    assert list(front_line.get_xdata()) == [69.0, 92.8]  # resnet101 (dearer and worse) is off it
    # the published panel holds the VOC rows of these models: 77.21, 79.77 and 78.85
    published = sorted(float(c.get_offsets()[0][1]) for c in right.collections)
    assert published == [77.21, 78.85, 79.77]
    plt.close(fig)
    with pytest.raises(ValueError, match="one name, one cost and one score"):
        plot_family(names, [1.0], [1.0, 2.0, 3.0])
