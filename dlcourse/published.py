"""Published mIoU with its protocol: every number the course quotes, tagged with how it was measured.

A paper's mIoU is a measurement under a protocol: which benchmark, which initial
weights, which training images, which output stride in training and in evaluation,
which test-time augmentation, whether a CRF ran afterwards. :data:`PUBLISHED` keeps
each published number the course quotes together with that protocol and its source
(paper and table), so a lesson can never show a number without its tag; numbers of
different protocols must not be compared as if they were one experiment.

Used in: 10.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlcourse.models import list_models

VOC_VAL = "VOC 2012 val"
COCO_VOC = "COCO val2017 subset, 20 VOC classes"
TRAIN_AUG = "VOC 2012 train_aug (10,582 images)"


@dataclass(frozen=True)
class Published:
    """One published mIoU (%) and the protocol behind it.

    Attributes:
        model: the course's registry name of the closest model.
        miou: the published mean IoU in percent.
        source: paper (arXiv id) and table.
        benchmark: the images and labels it was measured on.
        init: initial weights before training on the benchmark's training set.
        train_set: the training images.
        output_stride: ``"train / eval"`` output strides.
        test_time: test-time inputs (one scale, several scales, flips).
        crf: whether a dense CRF refined the scores.
        note: how the published model differs from the course's.
    """

    model: str
    miou: float
    source: str
    benchmark: str
    init: str
    train_set: str
    output_stride: str
    test_time: str
    crf: bool
    note: str = ""

    def short_source(self) -> str:
        """The source without its arXiv id, e.g. ``"DeepLab v1, Table 1(a)"``."""
        paper, _, where = self.source.partition(", ")
        paper = paper.split(" (")[0]
        return f"{paper}, {where}" if where else paper

    def protocol(self) -> str:
        """A one-line protocol tag, e.g. ``"VOC 2012 val | ImageNet | OS 16 / 16 | one scale | no CRF"``."""
        crf = "CRF" if self.crf else "no CRF"
        return (
            f"{self.benchmark} | {self.init} | OS {self.output_stride} | {self.test_time} | {crf}"
        )


V1 = "DeepLab v1 (arXiv:1412.7062)"
V2 = "DeepLab v2 (arXiv:1606.00915)"
V3 = "DeepLab v3 (arXiv:1706.05587)"
V3P = "DeepLab v3+ (arXiv:1802.02611)"
TORCHVISION = "torchvision model docs, weights COCO_WITH_VOC_LABELS_V1"

PUBLISHED: tuple[Published, ...] = (
    Published("deeplabv1_largefov", 62.25, f"{V1}, Table 1(a)", VOC_VAL, "ImageNet", TRAIN_AUG,
              "8 / 8", "one scale", False, "VGG-16 LargeFOV, loss on labels subsampled by 8"),
    Published("deeplabv1_largefov", 67.64, f"{V1}, Tables 1(a) and 2", VOC_VAL, "ImageNet", TRAIN_AUG,
              "8 / 8", "one scale", True, "VGG-16 LargeFOV, loss on labels subsampled by 8"),
    Published("deeplabv2_resnet101", 76.35, f"{V2}, Table 4", VOC_VAL, "ImageNet, then MS-COCO",
              TRAIN_AUG, "8 / 8", "scales 0.5, 0.75, 1 max-fused (also in training)", False,
              "ASPP-L; random rescaling in training"),
    Published("deeplabv2_resnet101", 77.69, f"{V2}, Table 4", VOC_VAL, "ImageNet, then MS-COCO",
              TRAIN_AUG, "8 / 8", "scales 0.5, 0.75, 1 max-fused (also in training)", True,
              "ASPP-L; random rescaling in training"),
    Published("deeplabv3_resnet101", 77.21, f"{V3}, Table 5", VOC_VAL, "ImageNet", TRAIN_AUG,
              "16 / 16", "one scale", False,
              "multi-grid (1, 2, 4); the course's default is OS 8 without multi-grid"),
    Published("deeplabv3_resnet101", 79.77, f"{V3}, Table 6", VOC_VAL, "ImageNet", TRAIN_AUG,
              "16 / 8", "scales 0.5 to 1.75, plus flips", False, "multi-grid (1, 2, 4)"),
    Published("deeplabv3plus_resnet101", 78.85, f"{V3P}, Table 3", VOC_VAL, "ImageNet", TRAIN_AUG,
              "16 / 16", "one scale", False, "decoder over stride-4 features"),
    Published("deeplabv3_resnet50", 66.4, TORCHVISION, COCO_VOC, "ImageNet",
              "COCO train2017 subset, 20 VOC classes", "8 / 8", "one scale, shorter side resized to 520", False,
              "a different benchmark: not comparable with the VOC rows"),
    Published("deeplabv3_resnet101", 67.4, TORCHVISION, COCO_VOC, "ImageNet",
              "COCO train2017 subset, 20 VOC classes", "8 / 8", "one scale, shorter side resized to 520", False,
              "a different benchmark: not comparable with the VOC rows"),
    Published("deeplabv3_mobilenet_v3_large", 60.3, TORCHVISION, COCO_VOC, "ImageNet",
              "COCO train2017 subset, 20 VOC classes", "16 / 16", "one scale, shorter side resized to 520", False,
              "a different benchmark: not comparable with the VOC rows"),
)  # fmt: skip
"""Every published mIoU the course quotes, each with its protocol and source."""


def published_for(model: str, benchmark: str | None = None) -> list[Published]:
    """The published rows of ``model`` (a registry name), optionally of one ``benchmark`` only.

    An empty list means "none published" for that model: the course builds several
    variants (ResNet-18 ones, for example) that no paper reports.
    """
    if model not in list_models():
        raise ValueError(
            f"published_for(model={model!r}): unknown model; choose one of {list_models()}"
        )
    return [row for row in PUBLISHED if row.model == model and benchmark in (None, row.benchmark)]


def published_text(model: str) -> str:
    """All published numbers of ``model`` as one short line, or ``"none published"``."""
    rows = published_for(model)
    if not rows:
        return "none published"
    return "; ".join(f"{r.miou:.2f} ({r.short_source()}"
                     f"{', ' + r.benchmark if r.benchmark != VOC_VAL else ''}"
                     f"{', CRF' if r.crf else ''})" for r in rows)  # fmt: skip
