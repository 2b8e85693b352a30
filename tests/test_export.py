"""dlcourse.export: an ONNX file with dynamic height and width gives PyTorch's scores.

Needs the ``export`` extra (onnx, onnxscript, onnxruntime). Without it the tests skip,
unless ``DLCOURSE_REQUIRE_EXPORT=1`` (CI), where they fail.
"""

import os

import pytest
import torch
from torch import nn

from dlcourse import export


def _require_export():
    for module in ("onnx", "onnxscript", "onnxruntime"):
        if os.environ.get("DLCOURSE_REQUIRE_EXPORT") == "1":
            __import__(module)
        else:
            pytest.importorskip(module, reason=f"{module} missing: pip install -e '.[export]'")


class TinySegmenter(nn.Module):
    """Conv at stride 2, scores, bilinear back to the input size: the shape of a DeepLab."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return {"out": nn.functional.interpolate(y, size=x.shape[-2:], mode="bilinear")}


def test_export_and_parity_at_several_sizes(tmp_path):
    _require_export()
    torch.manual_seed(0)
    model = TinySegmenter()
    model.bn.running_mean.uniform_(-1, 1)  # eval-mode batch norm must be what is exported
    path = export.export_onnx(model, tmp_path / "tiny.onnx", example_size=(64, 64))
    assert path.is_file() and not (tmp_path / "tiny.onnx.partial").exists()
    assert model.training  # the caller's model is left as it was
    assert export.check_onnx(model, path, sizes=((64, 64), (45, 77))) < 1e-5
    scores = export.run_onnx(path, torch.zeros(2, 3, 50, 60))
    assert scores.shape == (2, 4, 50, 60)
    assert export.onnx_latency(path, (64, 64), repeats=2).median_ms > 0


def test_a_course_model_exports(tmp_path):
    _require_export()
    from dlcourse.models import build_model

    model = build_model("deeplabv3_resnet18", num_classes=3, output_stride=16)
    path = export.export_onnx(model, tmp_path / "r18.onnx", example_size=(96, 96))
    assert export.check_onnx(model, path, sizes=((96, 96), (65, 129))) < 1e-4


def test_bad_paths_say_what_to_do(tmp_path):
    _require_export()
    with pytest.raises(ValueError, match=r"\.onnx"):
        export.export_onnx(TinySegmenter(), tmp_path / "model.pth")
    with pytest.raises(FileNotFoundError, match="export_onnx"):
        export.run_onnx(tmp_path / "missing.onnx", torch.zeros(1, 3, 8, 8))
