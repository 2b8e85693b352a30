"""Does random scaling help or hurt the lessons' model on the synthetic set?

`make_synthetic`'s pictures carry their class in a coloured frame far from each shape, so a
crop that cuts the frame away removes the evidence. This script trains the lessons' run
(`dlcourse.zoo.lesson_config()`: the `fast` preset, 300 steps) with several `scale_range`
settings and the same seeds, and prints val mIoU at every evaluation, single scale and with
the multi-scale + flip inference of lesson 08. Accuracy does not depend on the machine's load;
only the time column does.

    .venv/bin/python benchmarks/bench_scale_aug.py --seeds 0 1 --out benchmarks/scale_aug.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from dlcourse.inference import evaluate
from dlcourse.zoo import lesson_config, lesson_model

SETTINGS = {"scale 0.75-1.25 (old preset)": (0.75, 1.25), "no scaling": (1.0, 1.0)}


def run(scale_range: tuple[float, float], seed: int) -> dict:
    """Train one run and score it; returns its eval history and the final TTA score."""
    cfg = lesson_config(fast=False).replace(scale_range=scale_range, seed=seed)
    start = time.perf_counter()
    trained = lesson_model(cfg, cache=False)
    seconds = time.perf_counter() - start
    tta = evaluate(
        trained.model, trained.val_set, cfg.num_classes, scales=(0.75, 1.0, 1.25), flip=True
    )
    return {
        "scale_range": list(scale_range),
        "seed": seed,
        "val_miou": {e["step"]: round(e["miou"], 4) for e in trained.history["eval"]},
        "val_miou_scales_flip": round(float(tta["miou"]), 4),
        "train_seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    results = []
    for seed in args.seeds:
        for name, scale_range in SETTINGS.items():
            result = {"setting": name, **run(scale_range, seed)}
            results.append(result)
            print(json.dumps(result), flush=True)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"machine: {machine}; torch {torch.__version__}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                {"machine": machine, "torch": torch.__version__, "runs": results}, f, indent=1
            )


if __name__ == "__main__":
    main()
