"""Tests for dlcourse.metrics: hand-computed confusion matrices, trimap bands, DDP sums."""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from dlcourse.metrics import (
    SegmentationMetrics,
    boundary_band,
    confusion_matrix,
    scores_from_confusion,
    trimap_iou,
)

# A 3x3 example worked out by hand (255 = void, skipped):
#   target      pred        pairs (t, p): (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) (2,2) (0,0)
#   0   0 1     0 1 1       confusion (rows truth, columns prediction):
#   1   2 2     1 2 0         [[2, 1, 0],
#   255 2 0     2 2 0          [0, 2, 0],
#                              [1, 0, 2]]
TARGET = torch.tensor([[[0, 0, 1], [1, 2, 2], [255, 2, 0]]])
PRED = torch.tensor([[[0, 1, 1], [1, 2, 0], [2, 2, 0]]])
CM = torch.tensor([[2, 1, 0], [0, 2, 0], [1, 0, 2]])


def test_confusion_matrix_by_hand():
    assert torch.equal(confusion_matrix(PRED, TARGET, 3), CM)


def test_scores_by_hand():
    metrics = SegmentationMetrics(3)
    metrics.update(PRED, TARGET)
    scores = metrics.compute()
    assert scores["pixel_acc"] == pytest.approx(6 / 8)
    # per-class recall 2/3, 2/2, 2/3
    assert scores["mean_acc"] == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    # IoU = TP / (label + pred - TP): 2/(3+3-2), 2/(2+3-2), 2/(3+2-2)
    torch.testing.assert_close(
        scores["iou"], torch.tensor([0.5, 2 / 3, 2 / 3], dtype=torch.float64)
    )
    assert scores["miou"] == pytest.approx(11 / 18)
    # frequency weighted: 3/8 * 1/2 + 2/8 * 2/3 + 3/8 * 2/3
    assert scores["fwiou"] == pytest.approx(29 / 48)


def test_logits_equal_label_maps():
    logits = torch.nn.functional.one_hot(PRED, 3).permute(0, 3, 1, 2).float() * 5
    by_logits = SegmentationMetrics(3)
    by_logits.update(logits, TARGET)
    assert torch.equal(by_logits.matrix(), CM)
    # a single (C, H, W) logit map with an (H, W) target
    assert torch.equal(confusion_matrix(logits[0], TARGET[0], 3), CM)


def test_absent_class_is_excluded_and_predicted_only_class_counts():
    metrics = SegmentationMetrics(4)
    metrics.update(PRED, TARGET)
    scores = metrics.compute()
    assert math.isnan(scores["iou"][3])
    assert scores["miou"] == pytest.approx(11 / 18)
    assert scores["mean_acc"] == pytest.approx(7 / 9)
    # class 3 predicted where the truth is 0: its IoU is 0 and it enters the mean
    pred = PRED.clone()
    pred[0, 0, 0] = 3
    metrics.reset()
    metrics.update(pred, TARGET)
    scores = metrics.compute()
    assert scores["iou"][3] == 0
    assert scores["iou"][0] == pytest.approx(1 / 4)  # TP 1, label 3, pred 2: 1 / (3 + 2 - 1)
    assert scores["miou"] == pytest.approx((1 / 4 + 2 / 3 + 2 / 3 + 0) / 4)


def test_batches_accumulate_like_one_pass_and_match_a_pixel_loop():
    gen = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (6, 17, 13), generator=gen)
    target[target == 4] = 255
    pred = torch.randint(0, 4, (6, 17, 13), generator=gen)
    metrics = SegmentationMetrics(4)
    for i in range(0, 6, 2):
        metrics.update(pred[i : i + 2], target[i : i + 2])
    naive = torch.zeros(4, 4, dtype=torch.int64)
    for t, p in zip(target.flatten().tolist(), pred.flatten().tolist(), strict=True):
        if t != 255:
            naive[t, p] += 1
    assert torch.equal(metrics.matrix(), naive)
    assert repr(metrics) == f"SegmentationMetrics(num_classes=4, pixels={int(naive.sum())})"


def test_empty_metrics_and_reset():
    metrics = SegmentationMetrics(3)
    assert torch.equal(metrics.matrix(), torch.zeros(3, 3, dtype=torch.int64))
    assert math.isnan(metrics.compute()["miou"])
    metrics.update(PRED, TARGET)
    metrics.reset()
    assert int(metrics.matrix().sum()) == 0


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="num_classes"):
        SegmentationMetrics(0)
    with pytest.raises(ValueError, match="ignore_index"):
        SegmentationMetrics(3, ignore_index=1)
    metrics = SegmentationMetrics(3)
    with pytest.raises(ValueError, match="same shape"):
        metrics.update(PRED[:, :2], TARGET)
    with pytest.raises(ValueError, match=r"target holds values \[7\]"):
        metrics.update(PRED, torch.full_like(TARGET, 7))
    with pytest.raises(ValueError, match=r"pred holds values \[5\]"):
        metrics.update(torch.full_like(PRED, 5), TARGET)
    with pytest.raises(TypeError, match="torch tensors"):
        metrics.update(PRED.numpy(), TARGET)
    with pytest.raises(ValueError, match="square"):
        scores_from_confusion(torch.zeros(2, 3))


def test_boundary_band_by_hand():
    # left three columns class 0, right three class 1: edge = columns 2 and 3
    target = torch.tensor([[0, 0, 0, 1, 1, 1]] * 4)
    expect0 = torch.zeros(4, 6, dtype=torch.bool)
    expect0[:, 2:4] = True
    assert torch.equal(boundary_band(target, 0), expect0)
    expect1 = torch.zeros(4, 6, dtype=torch.bool)
    expect1[:, 1:5] = True
    assert torch.equal(boundary_band(target, 1), expect1)
    assert bool(boundary_band(target, 2).all())
    assert boundary_band(target[None], 1).shape == (1, 4, 6)
    assert not boundary_band(torch.zeros(5, 5, dtype=torch.long), 3).any()


def test_boundary_band_void_marks_borders():
    # a void ring around a one-pixel object, as VOC draws object outlines
    target = torch.zeros(7, 7, dtype=torch.long)
    target[2:5, 2:5] = 255
    target[3, 3] = 1
    band = boundary_band(target, 0)
    assert band[3, 3] and band[2, 2] and band[1, 3]
    assert not band[0, 0] and not band[1, 1]
    # the 3x3 void square with its centre, plus the 12 background pixels touching it
    assert int(band.sum()) == 9 + 12


def test_trimap_iou_by_hand():
    target = torch.tensor([[0, 0, 0, 1, 1, 1]] * 4)
    pred = target.clone()
    pred[:, 0] = 1  # wrong, but two pixels away from the edge
    # inside a band of 1 everything is right
    assert trimap_iou(pred, target, band=1, num_classes=2) == 1.0
    # the whole image: IoU0 = 8/12, IoU1 = 12/16
    whole = SegmentationMetrics(2)
    whole.update(pred[None], target[None])
    assert whole.compute()["miou"] == pytest.approx((8 / 12 + 12 / 16) / 2)
    assert trimap_iou(pred, target, band=2, num_classes=2) == pytest.approx((8 / 12 + 12 / 16) / 2)
    # all-background prediction inside band 1: IoU0 = 8/16, IoU1 = 0
    assert trimap_iou(torch.zeros_like(target), target, 1, 2) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="band"):
        boundary_band(target, -1)


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        metrics = SegmentationMetrics(3)
        metrics.update(PRED if rank == 0 else TARGET.clamp(max=2), TARGET)
        metrics.reduce_from_all_processes()
        torch.save(metrics.matrix(), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_reduce_from_all_processes_sums_over_two_gloo_processes(tmp_path):
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    # rank 1 predicts the truth (void pixel -> class 2 is skipped anyway)
    expected = CM + torch.diag(torch.tensor([3, 2, 3]))
    for rank in range(2):
        assert torch.equal(torch.load(tmp_path / f"rank{rank}.pt", weights_only=True), expected)


def test_reduce_without_process_group_is_a_no_op():
    metrics = SegmentationMetrics(3)
    metrics.update(PRED, TARGET)
    assert metrics.reduce_from_all_processes() is metrics
    assert torch.equal(metrics.matrix(), CM)
