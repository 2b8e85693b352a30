"""Export a trained model to ONNX and check that ONNX Runtime gives the same scores.

ONNX is the format most deployment runtimes read (ONNX Runtime, TensorRT, OpenVINO,
browsers through onnxruntime-web). :func:`export_onnx` uses PyTorch's exporter
(``torch.onnx.export(..., dynamo=True)``) with a dynamic height and width, so one file
serves any picture size; :func:`check_onnx` runs the file in ONNX Runtime on inputs of
several sizes and returns the largest difference from PyTorch's scores.

Needs the optional extra: ``pip install -e '.[export]'`` (onnx, onnxscript, onnxruntime).

Used in: 10.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from dlcourse.costs import Latency, benchmark_module

EXTRA = "pip install -e '.[export]'  (or: pip install onnx onnxscript onnxruntime)"


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(f"ONNX export needs the {module} package: {EXTRA}") from None


class ScoresOnly(nn.Module):
    """Wrap a segmentation model so it returns only its ``"out"`` scores, ``(N, K, H, W)``.

    The course's models return a dict (``out``, and ``aux`` when trained with it);
    a deployed model needs one tensor.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> Tensor:
        out = self.model(image)
        return out["out"] if isinstance(out, dict) else out


def _eval_copy(model: nn.Module) -> ScoresOnly:
    """An eval-mode CPU copy: the caller's model keeps its device and its mode."""
    return ScoresOnly(copy.deepcopy(model)).eval().cpu()


def export_onnx(model: nn.Module, path: str | Path, example_size: tuple[int, int] = (128, 128),
                max_side: int = 2048) -> Path:  # fmt: skip
    """Write ``model`` (in eval mode, on the CPU) as an ONNX file with dynamic H and W.

    Args:
        model: a segmentation model of the course, or any module taking ``(N, 3, H, W)``.
        path: the ``.onnx`` file to write (written to a temporary name, then renamed).
        example_size: ``(H, W)`` of the example input that traces the model.
        max_side: the largest height or width the file must accept.

    The input is named ``image`` and the output ``scores``; batch, height and width
    are all dynamic.
    """
    _require("onnx")
    _require("onnxscript")
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"export_onnx(path={str(path)!r}): use a file name ending in .onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = _eval_copy(model)
    x = torch.randn(1, 3, *example_size)
    dim = torch.export.Dim
    dynamic = {"image": {0: dim("batch", min=1, max=64), 2: dim("height", min=33, max=max_side),
                         3: dim("width", min=33, max=max_side)}}  # fmt: skip
    partial = path.with_name(path.name + ".partial")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the exporter's progress notes, not problems
        program = torch.onnx.export(wrapped, (x,), dynamo=True, dynamic_shapes=dynamic,
                                    input_names=["image"], output_names=["scores"])  # fmt: skip
        program.save(str(partial))
    os.replace(partial, path)
    return path


def _session(path: str | Path):
    ort = _require("onnxruntime")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file {path} does not exist; write it with export_onnx")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_onnx(path: str | Path, image: Tensor) -> np.ndarray:
    """Scores of the ONNX model at ``path`` for an ``(N, 3, H, W)`` float image batch."""
    session = _session(path)
    return session.run(None, {"image": image.detach().cpu().float().numpy()})[0]


def check_onnx(model: nn.Module, path: str | Path,
               sizes: tuple[tuple[int, int], ...] = ((128, 128), (97, 161))) -> float:  # fmt: skip
    """Largest absolute difference between PyTorch's and ONNX Runtime's scores.

    Runs both on one random image of each size in ``sizes`` (sizes other than the
    export example prove that height and width really are dynamic).
    """
    session = _session(path)
    wrapped = _eval_copy(model)
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for size in sizes:
        x = torch.randn(1, 3, *size, generator=generator)
        with torch.no_grad():
            expected = wrapped(x).numpy()
        got = session.run(None, {"image": x.numpy()})[0]
        if got.shape != expected.shape:
            raise AssertionError(f"ONNX scores have shape {got.shape}, PyTorch's {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def onnx_latency(path: str | Path, input_size: tuple[int, int] = (513, 513), repeats: int = 5,
                 warmup: int = 1) -> Latency:  # fmt: skip
    """Median wall time of ONNX Runtime on one image, measured like :func:`costs.latency`."""
    benchmark = benchmark_module()
    session = _session(path)
    x = np.random.default_rng(0).standard_normal((1, 3, *input_size)).astype(np.float32)
    timer = benchmark.Timer(stmt="session.run(None, {'image': x})",
                            globals={"session": session, "x": x})  # fmt: skip
    if warmup:
        timer.timeit(warmup)
    merged = benchmark.Measurement.merge([timer.timeit(1) for _ in range(repeats)])[0]
    threads = session.get_session_options().intra_op_num_threads or os.cpu_count() or 1
    return Latency(median_ms=merged.median * 1000, iqr_ms=merged.iqr * 1000, runs=repeats,
                   threads=threads, device="cpu")  # fmt: skip
