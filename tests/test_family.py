"""dlcourse.family: published numbers with their protocols, the Pareto front, one schedule for all."""

import math

import pytest
import torch
from matplotlib import pyplot as plt

from dlcourse.family import (
    COCO_VOC,
    PUBLISHED,
    VOC_VAL,
    family_schedule,
    gpu_costs,
    model_profile,
    pareto_front,
    plot_family,
    published_for,
    published_text,
    train_and_score,
)
from dlcourse.models import list_models
from dlcourse.train import build_datasets


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


def test_published_numbers_are_tagged_and_consistent():
    models = set(list_models())
    for row in PUBLISHED:
        assert row.model in models
        assert 0 < row.miou < 100
        assert row.benchmark in (VOC_VAL, COCO_VOC)
        assert row.benchmark in row.protocol() and ("no CRF" in row.protocol()) != row.crf
        if row.benchmark == VOC_VAL:
            assert "arXiv:" in row.source and "Table" in row.source and "train_aug" in row.train_set
        else:  # torchvision's numbers: another benchmark, tagged as such
            assert row.source.startswith("torchvision") and "not comparable" in row.note
    papers = {"deeplabv1": "1412.7062", "deeplabv2": "1606.00915", "deeplabv3_": "1706.05587",
              "deeplabv3plus": "1802.02611"}  # fmt: skip
    for row in PUBLISHED:
        if row.benchmark == VOC_VAL:
            arxiv = next(v for k, v in papers.items() if row.model.startswith(k))
            assert arxiv in row.source, row
    # the CRF adds to the same network's number under the same protocol
    for model in ("deeplabv1_largefov", "deeplabv2_resnet101"):
        plain, crf = (next(r for r in published_for(model) if r.crf == flag) for flag in (False, True))
        assert crf.miou > plain.miou and crf.test_time == plain.test_time
    assert [r.miou for r in published_for("deeplabv1_largefov")] == [62.25, 67.64]
    assert {r.miou for r in published_for("deeplabv3_resnet101", VOC_VAL)} == {77.21, 79.77}
    tv = {r.model: r.miou for r in PUBLISHED if r.benchmark == COCO_VOC}
    assert tv == {"deeplabv3_resnet50": 66.4, "deeplabv3_resnet101": 67.4, "deeplabv3_mobilenet_v3_large": 60.3}


def test_models_without_published_numbers_say_so():
    for name in ("deeplabv3_resnet18", "deeplabv3plus_resnet18", "deeplabv3plus_mobilenet"):
        assert published_for(name) == []
        assert published_text(name) == "none published"
    assert published_text("deeplabv3plus_resnet101") == "78.85 (DeepLab v3+, Table 3)"
    assert "COCO val2017" in published_text("deeplabv3_resnet50")
    with pytest.raises(ValueError, match=r"published_for\(model='deeplabv4'\): unknown model"):
        published_for("deeplabv4")


def test_model_profile_reproduces_torchvisions_published_count():
    with torch.device("meta"):
        counted = model_profile("deeplabv3_resnet50", (520, 520), aux_loss=True)
    assert round(counted.gmacs, 2) == 178.72  # torchvision's "GFLOPS" column
    assert counted.flops == 2 * counted.macs


def test_family_schedule_is_one_protocol_for_every_model():
    full, fast = family_schedule(False), family_schedule(True)
    assert (full.steps, full.batch_size, full.synthetic["n_val"]) == (12, 2, 16)
    assert (fast.steps, fast.batch_size, fast.synthetic["n_val"]) == (1, 2, 2)
    for cfg in (full, fast):
        assert cfg.model_kwargs == {} and cfg.weights_backbone is None and cfg.data == "synthetic"
        assert cfg.seed == 0 and cfg.warmup_steps < cfg.steps and cfg.synthetic["size"] == cfg.crop_size == 32


def test_train_and_score_is_seeded(tmp_path):
    cfg = family_schedule(True).replace(synthetic={"n_train": 4, "n_val": 2, "size": 32, "seed": 0})
    train_set, val_set = build_datasets(cfg, tmp_path)
    first = train_and_score("deeplabv3_mobilenet_v3_large", cfg, train_set, val_set)
    second = train_and_score("deeplabv3_mobilenet_v3_large", cfg, train_set, val_set)
    assert 0 <= first <= 100 and first == second


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU answer")
def test_gpu_costs_without_a_gpu_is_none():
    assert gpu_costs("deeplabv3_resnet18") is None


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
