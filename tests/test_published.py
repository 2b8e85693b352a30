"""dlcourse.published: every published mIoU with its protocol and source."""

import pytest

from dlcourse.models import list_models
from dlcourse.published import COCO_VOC, PUBLISHED, VOC_VAL, published_for, published_text


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
