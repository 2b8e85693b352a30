"""What a model costs: parameters, multiply-adds, FLOPs, activation memory, latency.

Counting uses PyTorch's own tools, so the numbers mean what PyTorch says they mean:

- multiply-adds and FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``, which
  counts the matrix products and convolutions of one forward pass and scores a
  multiply-add as 2 FLOPs. The count runs on the ``meta`` device: shapes only, no
  arithmetic, so even ResNet-101 at 513x513 takes a second;
- latency comes from ``torch.utils.benchmark.Timer`` (median of several runs, CUDA
  synchronised, thread count stated);
- memory of a training step comes from ``torch.cuda.max_memory_allocated`` on a GPU. On a
  CPU PyTorch keeps no such counter, so :func:`saved_for_backward_bytes` stands in: the
  bytes of every tensor autograd keeps for the backward pass, counted with
  ``torch.autograd.graph.saved_tensors_hooks`` on the ``meta`` device, the same on every
  machine. :func:`activation_bytes` (every layer's output) is the coarser count that
  lessons 03 and 05 use to compare output strides.

torchvision's model tables print "GFLOPS" that are multiply-adds (its
``deeplabv3_resnet50`` lists 178.72 at 520x520 with the aux head): compare them with
:attr:`Profile.gmacs`, not with :attr:`Profile.gflops`.

Used in: 03, 05, 10.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dlcourse.layers import positive_int, positive_ints


def _size(input_size: object, where: str) -> tuple[int, int]:
    """``input_size`` as ``(H, W)``; an int means a square."""
    if isinstance(input_size, int) and not isinstance(input_size, bool):
        input_size = (input_size, input_size)
    if not isinstance(input_size, tuple | list) or len(input_size) != 2:
        raise ValueError(
            f"{where}: input_size={input_size!r} must be (H, W) or one int, e.g. (513, 513); "
            "the batch and the 3 colour channels are added for you"
        )
    return positive_ints(input_size, "input_size", where, example="(513, 513)", length=2)


def _device_of(model: nn.Module) -> torch.device:
    tensor = next(model.parameters(), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def _meta_copy(model: nn.Module, train: bool = False) -> nn.Module:
    """A copy of ``model`` on the ``meta`` device: shapes flow through it, nothing is computed."""
    return copy.deepcopy(model).to("meta").train(train)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those that require gradients if ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_size: object = (512, 512)) -> int:
    """FLOPs of one eval forward pass on a ``1x3xHxW`` input (a multiply-add counts 2).

    The model is copied to the ``meta`` device and run there: nothing is computed and
    ``model`` itself is not touched.
    """
    from torch.utils.flop_counter import FlopCounterMode

    height, width = _size(input_size, "count_flops")
    ghost = _meta_copy(model)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        ghost(torch.zeros(1, 3, height, width, device="meta"))
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class Profile:
    """Parameters and compute of one forward pass at ``input_size``."""

    params: int
    macs: int
    flops: int
    input_size: tuple[int, int]

    @property
    def gmacs(self) -> float:
        """Billions of multiply-adds (the unit of torchvision's "GFLOPS" column)."""
        return self.macs / 1e9

    @property
    def gflops(self) -> float:
        """Billions of floating-point operations (2 per multiply-add)."""
        return self.flops / 1e9

    def __str__(self) -> str:
        h, w = self.input_size
        return (f"{self.params / 1e6:.2f} M parameters, {self.gmacs:.2f} GMACs "
                f"= {self.gflops:.2f} GFLOPs at {h}x{w}")  # fmt: skip


def profile(model: nn.Module, input_size: object = (513, 513)) -> Profile:
    """Parameters, multiply-adds and FLOPs of ``model`` for one ``1x3xHxW`` image.

    Args:
        model: any module taking a ``(1, 3, H, W)`` tensor.
        input_size: ``(H, W)``, or one int for a square.

    Example: ``profile(build_model("deeplabv3_resnet50", aux_loss=True), (520, 520)).gmacs``
    is 178.72, torchvision's published figure.
    """
    size = _size(input_size, "profile")
    flops = count_flops(model, size)
    return Profile(params=count_parameters(model), macs=flops // 2, flops=flops, input_size=size)


def activation_bytes(model: nn.Module, input_size: object = (512, 512)) -> int:
    """Bytes of every leaf module's output for one ``1x3xHxW`` float32 image.

    A quick, coarse measure of how activation memory grows with the picture and the
    output stride, the same on any machine (on the ``meta`` device: nothing is computed).
    It counts an in-place ReLU's output again and some outputs the backward pass never
    needs; :func:`saved_for_backward_bytes` counts what a training step really keeps.
    """
    height, width = _size(input_size, "activation_bytes")
    ghost = _meta_copy(model)
    total = 0

    def add_output(_module, _inputs, output):
        nonlocal total
        if isinstance(output, Tensor):
            total += output.numel() * output.element_size()

    for module in ghost.modules():
        if not list(module.children()):
            module.register_forward_hook(add_output)
    with torch.no_grad():
        ghost(torch.zeros(1, 3, height, width, device="meta"))
    return total


def saved_for_backward_bytes(
    model: nn.Module, input_size: object = (513, 513), batch: int = 8
) -> int:
    """Bytes autograd keeps between the forward and the backward pass of a training step.

    The model is copied to the ``meta`` device and run forward once in train mode on a
    ``batch x 3 x H x W`` input; every tensor autograd saves for the backward pass is
    counted once per storage (a tensor saved twice, or saved by an in-place ReLU, is not
    counted again). Weights and buffers are left out: they are in memory anyway. So are
    the gradients, the optimiser's state and the temporary buffers of the backward pass
    itself, which a GPU's ``max_memory_allocated`` also sees (:func:`training_step_memory`):
    treat this number as the floor of a training step's memory, the part that grows with
    the batch and the picture.

    Args:
        model: any module taking a ``(batch, 3, H, W)`` tensor; it is not touched.
        input_size: ``(H, W)``, or one int for a square.
        batch: images per step; at least 2 when the model has batch norm over one value
            per channel (an ASPP image-pooling branch), as in training.
    """
    height, width = _size(input_size, "saved_for_backward_bytes")
    batch = positive_int(batch, "batch", "saved_for_backward_bytes")
    ghost = _meta_copy(model, train=True)
    # a storage's identity; data_ptr() cannot tell meta storages apart (it is 0 for all)
    kept = {t.untyped_storage()._cdata for t in (*ghost.parameters(), *ghost.buffers())}
    saved: dict[int, int] = {}

    def count(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage._cdata not in kept:
            saved[storage._cdata] = storage.nbytes()
        return tensor

    x = torch.zeros(batch, 3, height, width, device="meta")
    with torch.autograd.graph.saved_tensors_hooks(count, lambda tensor: tensor):
        ghost(x)
    return sum(saved.values())


def benchmark_module():
    """``torch.utils.benchmark``, imported without its import-time note about ``CUDA_HOME``.

    On a machine with ``CUDA_HOME`` set but no GPU, importing it logs a warning from
    ``torch.utils.cpp_extension`` that says nothing about the timing; it is silenced here.
    """
    import logging

    logger = logging.getLogger("torch.utils.cpp_extension")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        from torch.utils import benchmark
    finally:
        logger.setLevel(level)
    return benchmark


@dataclass(frozen=True)
class Latency:
    """Median and spread of a forward pass's wall time, and how it was measured."""

    median_ms: float
    iqr_ms: float
    runs: int
    threads: int
    device: str

    def __str__(self) -> str:
        where = f"{self.threads} CPU threads" if self.device == "cpu" else self.device
        return f"{self.median_ms:.1f} ms (median of {self.runs}, IQR {self.iqr_ms:.1f} ms, {where})"


def latency(
    model: nn.Module,
    input_size: object = (512, 512),
    batch: int = 1,
    repeats: int = 5,
    warmup: int = 1,
    threads: int | None = None,
) -> Latency:
    """Wall time of an eval forward pass, measured with ``torch.utils.benchmark.Timer``.

    Args:
        model: the model, on the device to time it on.
        input_size: ``(H, W)`` of the random input, or one int.
        batch: images per forward pass.
        repeats: timed runs (the median is reported).
        warmup: untimed runs first (allocator, cuDNN autotuning).
        threads: CPU threads (default: ``torch.get_num_threads()``); the Timer restores
            the previous setting afterwards.
    """
    benchmark = benchmark_module()
    height, width = _size(input_size, "latency")
    batch, repeats = (
        positive_int(batch, "batch", "latency"),
        positive_int(repeats, "repeats", "latency"),
    )
    device = _device_of(model)
    threads = torch.get_num_threads() if threads is None else threads
    x = torch.randn(batch, 3, height, width, device=device)
    was_training = model.training
    model.eval()
    try:
        timer = benchmark.Timer(stmt="model(x)", globals={"model": model, "x": x},
                                num_threads=threads)  # fmt: skip
        with torch.no_grad():
            if warmup:
                timer.timeit(warmup)
            runs = [timer.timeit(1) for _ in range(repeats)]
    finally:
        model.train(was_training)
    merged = benchmark.Measurement.merge(runs)[0]
    return Latency(median_ms=merged.median * 1000, iqr_ms=merged.iqr * 1000, runs=repeats,
                   threads=threads, device=str(device))  # fmt: skip


def latency_ms(model: nn.Module, input_size: object = (512, 512), batch: int = 1,
               repeats: int = 5, warmup: int = 1) -> float:  # fmt: skip
    """The median of :func:`latency`, in milliseconds."""
    return latency(model, input_size, batch, repeats, warmup).median_ms


def training_step_memory(model: nn.Module, input_size: object = (321, 321), batch: int = 8) -> int:
    """Peak CUDA memory in bytes of one training step (forward, loss, backward).

    Needs the model on a CUDA device; on a CPU, use :func:`saved_for_backward_bytes`
    instead (PyTorch keeps no peak-memory counter for the CPU).
    """
    device = _device_of(model)
    if device.type != "cuda":
        raise RuntimeError(
            f"training_step_memory: the model is on {device}; it measures CUDA memory only. "
            "Move the model to a GPU, or use saved_for_backward_bytes(model, input_size, batch) on a CPU"
        )
    height, width = _size(input_size, "training_step_memory")
    x = torch.randn(batch, 3, height, width, device=device)
    was_training = model.training
    model.train()
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    start = torch.cuda.memory_allocated(device)
    try:
        out = model(x)
        out = out["out"] if isinstance(out, dict) else out
        out.float().mean().backward()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - start
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return int(peak)
