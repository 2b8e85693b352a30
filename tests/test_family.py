"""dlcourse.family: published numbers with their protocols, the Pareto front, one schedule for all."""

import math

import pytest
import torch
from matplotlib import pyplot as plt

from dlcourse.family import (
    COCO_VOC,
    FAMILY_SCHEDULE,
    PUBLISHED,
    VOC_VAL,
    all_background_miou,
    family_schedule,
    gpu_costs,
    gpu_unavailable_reason,
    model_profile,
    pareto_front,
    plot_family,
    published_for,
    published_text,
    train_and_score,
    unaugmented,
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
        plain, crf = (
            next(r for r in published_for(model) if r.crf == flag) for flag in (False, True)
        )
        assert crf.miou > plain.miou and crf.test_time == plain.test_time
    assert [r.miou for r in published_for("deeplabv1_largefov")] == [62.25, 67.64]
    assert {r.miou for r in published_for("deeplabv3_resnet101", VOC_VAL)} == {77.21, 79.77}
    tv = {r.model: r.miou for r in PUBLISHED if r.benchmark == COCO_VOC}
    assert tv == {
        "deeplabv3_resnet50": 66.4,
        "deeplabv3_resnet101": 67.4,
        "deeplabv3_mobilenet_v3_large": 60.3,
    }


def test_torchvision_rows_match_torchvisions_own_metadata():
    from torchvision.models import segmentation as tvseg

    weights = {"deeplabv3_resnet50": tvseg.DeepLabV3_ResNet50_Weights,
               "deeplabv3_resnet101": tvseg.DeepLabV3_ResNet101_Weights,
               "deeplabv3_mobilenet_v3_large": tvseg.DeepLabV3_MobileNet_V3_Large_Weights}  # fmt: skip
    for row in PUBLISHED:
        if row.benchmark == COCO_VOC:
            meta = weights[row.model].COCO_WITH_VOC_LABELS_V1.meta
            assert row.miou == meta["_metrics"]["COCO-val2017-VOC-labels"]["miou"], row.model
            assert "COCO_WITH_VOC_LABELS_V1" in row.source


def test_models_without_published_numbers_say_so():
    for name in ("deeplabv3_resnet18", "deeplabv3plus_resnet18", "deeplabv3plus_mobilenet"):
        assert published_for(name) == []
        assert published_text(name) == "none published"
    assert published_text("deeplabv3plus_resnet101") == "78.85 (DeepLab v3+, Table 3)"
    assert published_text("deeplabv3_resnet50") == (
        "66.40 (torchvision model docs, weights COCO_WITH_VOC_LABELS_V1, COCO val2017 subset, 20 VOC classes)"
    )
    for name in list_models():  # each source is named once per number
        for row in published_for(name):
            assert published_text(name).count(row.short_source()) >= 1
        assert published_text(name).count("COCO_WITH_VOC_LABELS_V1") <= 1
    assert [r.short_source() for r in published_for("deeplabv1_largefov")] == [
        "DeepLab v1, Table 1(a)", "DeepLab v1, Tables 1(a) and 2"]  # fmt: skip
    with pytest.raises(ValueError, match=r"published_for\(model='deeplabv4'\): unknown model"):
        published_for("deeplabv4")


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
