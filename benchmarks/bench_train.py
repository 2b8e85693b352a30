"""Training-step speed and memory of the course's models next to torchvision's, plus a short run.

Part 1 times forward + backward + SGD step on random images for ``deeplabv3_resnet50``
and ``deeplabv3plus_resnet50`` from ``dlcourse.models`` and for torchvision's
``deeplabv3_resnet50`` (built in the same process, same settings), with and without
mixed precision and channels_last. It reports images per second and peak GPU memory.

Part 2 trains ``dlcourse``'s model with ``dlcourse.train.fit`` on a VOC-layout folder
(``train.txt``) and records the mIoU on ``minival.txt`` along the way. All weights
start random: nothing is downloaded.

    # on a GPU (see benchmarks/train.md for the recorded commands)
    python benchmarks/bench_train.py --data ../shared/data/voc2012-subset --out benchmarks/train.json
    # a CPU smoke test with tiny settings
    python benchmarks/bench_train.py --tiny --out /tmp/bench_train.json

Used in: benchmarks/train.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torchvision

from dlcourse.config import load_config
from dlcourse.env import describe_device, get_device, seed_everything, versions
from dlcourse.models import build_model
from dlcourse.optim import amp_dtype, segmentation_loss
from dlcourse.recipe import build_datasets, build_model_for
from dlcourse.train import fit


def make_model(name: str, num_classes: int) -> torch.nn.Module:
    """``torchvision:<builder>`` or a ``dlcourse`` registry name; random weights."""
    if name.startswith("torchvision:"):
        builder = getattr(torchvision.models.segmentation, name.split(":", 1)[1])
        return builder(weights=None, weights_backbone=None, num_classes=num_classes)
    return build_model(name, num_classes=num_classes)


def time_steps(model, device, batch, crop, steps, warmup, dtype, channels_last) -> dict:
    """Images/s and peak memory of ``steps`` training steps after ``warmup`` untimed ones."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=fmt).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, crop, crop, generator=generator).to(device, memory_format=fmt)
    masks = torch.randint(0, 21, (batch, crop, crop), generator=generator).to(device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            outputs = model(images)
        scaler.scale(segmentation_loss(outputs, masks)).backward()
        scaler.step(optimizer)
        scaler.update()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"images_per_s": batch * steps / seconds, "peak_gib": peak}


def speed_table(args, device) -> list[dict]:
    rows = []
    for amp in ("off", "auto"):
        dtype = amp_dtype(amp, device) if amp == "off" or device.type == "cuda" else torch.bfloat16
        for channels_last in (False, True):
            for name in args.models:
                seed_everything(0)
                model = make_model(name, 21)
                result = time_steps(model, device, args.batch, args.crop, args.steps,
                                    args.warmup, dtype, channels_last)  # fmt: skip
                rows.append({"model": name, "amp": str(dtype).replace("torch.", "") if dtype
                             else "off", "channels_last": channels_last, **result})  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
                del model
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    return rows


def miou_run(args, device) -> dict:
    cfg = load_config("colab", {
        "data": str(args.data), "model": args.train_model, "train_split": "train",
        "val_split": "minival", "steps": args.train_steps, "eval_every": max(1, args.train_steps // 5),
        "checkpoint_every": 0, "crop_size": args.crop, "batch_size": args.batch,
        "warmup_steps": min(100, args.train_steps // 10), "device": str(device),
        "amp": "auto" if device.type == "cuda" else "off", "channels_last": device.type == "cuda",
        "train_subset": args.train_subset, "val_subset": args.val_subset,
        # the GPU machine is offline: random initial weights unless a .pth is given; with
        # random weights the batch norms must train (frozen ones would keep mean 0, var 1)
        "weights_backbone": args.weights_backbone, "freeze_bn": args.weights_backbone is not None,
    })  # fmt: skip
    seed_everything(cfg.seed)
    train_set, val_set = build_datasets(cfg, args.workdir)
    model = build_model_for(cfg)
    start = time.perf_counter()
    history = fit(model, train_set, cfg, val_set=val_set, progress=not args.no_progress)
    return {"config": cfg.to_dict(), "minutes": (time.perf_counter() - start) / 60,
            "eval": history["eval"], "last_loss": history["loss"][-1],
            "train_images": len(train_set), "val_images": len(val_set)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/voc2012-subset"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/train.json"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dlcourse-bench"))
    parser.add_argument("--models", nargs="+", default=[
        "deeplabv3_resnet50", "torchvision:deeplabv3_resnet50", "deeplabv3plus_resnet50"])  # fmt: skip
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=321)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per setting")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps per setting")
    parser.add_argument("--train-model", default="deeplabv3plus_resnet50")
    parser.add_argument("--train-steps", type=int, default=1500)
    parser.add_argument("--train-subset", type=int, default=None, help="first N train ids")
    parser.add_argument("--val-subset", type=int, default=None, help="first N minival ids")
    parser.add_argument(
        "--weights-backbone",
        default=None,
        help="'imagenet' or a .pth for the short run (default: random weights)",
    )
    parser.add_argument("--skip-train", action="store_true", help="only the speed table")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test: tiny sizes")
    parser.add_argument("--device", default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    if args.tiny:
        args.batch, args.crop, args.steps, args.warmup, args.train_steps = 2, 64, 2, 1, 4
        args.train_subset, args.val_subset = 8, 2
    device = get_device(args.device)
    report = {"device": describe_device(device), "versions": versions(),
              "weights_backbone": args.weights_backbone,
              "batch": args.batch, "crop": args.crop, "speed": speed_table(args, device)}  # fmt: skip
    if not args.skip_train:
        report["train"] = miou_run(args, device)
        print(json.dumps({"minival": report["train"]["eval"]}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
