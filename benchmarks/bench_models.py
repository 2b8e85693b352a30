"""Forward+backward time of the course's DeepLab-v3 models vs torchvision's, same settings.

Both models are built with the same configuration (torchvision's output strides,
aux head on), get the same weights, and are timed alternately in one process on the
same inputs, so the comparison is fair on a busy machine too.

    python benchmarks/bench_models.py                        # CPU, small inputs
    python benchmarks/bench_models.py --device cuda --amp --channels-last --size 512 --batch 8

Prints one Markdown table row per model (median milliseconds per training step and, on a
GPU, the peak memory of a step); ``--json FILE`` also writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torchvision.models import segmentation as tv_segmentation

from dlcourse.env import describe_device, get_device
from dlcourse.models import build_model

NAMES = ("deeplabv3_resnet50", "deeplabv3_resnet101", "deeplabv3_mobilenet_v3_large")


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def step_time(model, x, y, amp: bool) -> float:
    """Seconds for one forward + backward pass (loss on "out" and "aux")."""
    device = x.device
    start = time.perf_counter()
    with torch.autocast(
        device.type, dtype=torch.bfloat16 if device.type == "cpu" else torch.float16, enabled=amp
    ):
        result = model(x)
        loss = sum(torch.nn.functional.cross_entropy(v.float(), y) for v in result.values())
    loss.backward()
    model.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    parser.add_argument("--models", nargs="+", default=list(NAMES), choices=NAMES)
    parser.add_argument("--size", type=int, default=128, help="square input side in pixels")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--amp", action="store_true", help="autocast (fp16 on GPU, bf16 on CPU)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)

    device = get_device(args.device)
    torch.manual_seed(0)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    print(
        f"device: {describe_device(device)} [{cpu_name()}]; torch {torch.__version__}; input "
        f"{args.batch}x3x{args.size}x{args.size}; amp={args.amp}; "
        f"channels_last={args.channels_last}"
    )
    print("| model | output stride | torchvision ms | dlcourse ms | ratio | peak GiB tv / ours |")
    print("|---|---|---|---|---|---|")
    rows = []
    for name in args.models:
        theirs = getattr(tv_segmentation, name)(weights=None, weights_backbone=None, aux_loss=True)
        ours = build_model(name, aux_loss=True)
        ours.load_state_dict(theirs.state_dict(), strict=True)
        pair = {"torchvision": theirs, "dlcourse": ours}
        for model in pair.values():
            model.to(device=device, memory_format=fmt).train()
        x = torch.randn(args.batch, 3, args.size, args.size, device=device).to(memory_format=fmt)
        y = torch.randint(0, 21, (args.batch, args.size, args.size), device=device)
        times = {key: [] for key in pair}
        for step in range(args.warmup + args.steps):
            order = list(pair.items())
            for key, model in order if step % 2 == 0 else order[::-1]:  # alternate who goes first
                seconds = step_time(model, x, y, args.amp)
                if step >= args.warmup:
                    times[key].append(seconds * 1000)
        tv, dl = (statistics.median(times[key]) for key in ("torchvision", "dlcourse"))
        peak = {key: peak_memory_gib(model, x, y, args.amp) for key, model in pair.items()}
        memory = (f"{peak['torchvision']:.2f} / {peak['dlcourse']:.2f}"
                  if device.type == "cuda" else "n/a (CPU)")  # fmt: skip
        print(f"| {name} | {ours.output_stride} | {tv:.0f} | {dl:.0f} | {dl / tv:.2f} | {memory} |")
        rows.append({"model": name, "output_stride": ours.output_stride, "torchvision_ms": tv,
                     "dlcourse_ms": dl, "ratio": dl / tv, "peak_gib": peak})  # fmt: skip
        del pair, theirs, ours
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "device": describe_device(device), "cpu": cpu_name(), "torch": torch.__version__,
            "size": args.size, "batch": args.batch, "amp": args.amp,
            "channels_last": args.channels_last, "rows": rows}, indent=2))  # fmt: skip


def peak_memory_gib(model, x, y, amp: bool) -> float | None:
    """Peak CUDA memory of one training step of ``model`` alone (``None`` on the CPU)."""
    if x.device.type != "cuda":
        return None
    torch.cuda.synchronize(x.device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(x.device)
    step_time(model, x, y, amp)
    return torch.cuda.max_memory_allocated(x.device) / 2**30


if __name__ == "__main__":
    main()
