"""Time the dense CRF (dlcourse.crf, permutohedral lattice) against pydensecrf.

Runs both on the same photo, unaries and parameters (DeepLab-v1 values, 21 classes,
10 mean-field iterations), interleaving the two so that load on the machine hits
both alike, and prints the median times (wall clock and CPU time of this process),
their ratios, the label agreement, the machine, its load average and pydensecrf's version.

    python benchmarks/bench_crf.py                     # CPU, both kernels side by side on 2 threads
    python benchmarks/bench_crf.py --workers 1         # CPU, one thread, like pydensecrf
    python benchmarks/bench_crf.py --device cuda       # the lattice on the GPU
    python benchmarks/bench_crf.py --device cuda --batch 8   # CRF-as-RNN style batch on the GPU

The photo is a 500x375 image from a VOC 2012 folder when one is found
(``--voc``, default ``../shared/data/voc2012-subset``), else matplotlib's sample
photo resized to 500x375 with the course's hand-drawn mask. Results: benchmarks/crf.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dlcourse.crf import DEEPLAB_CRF_PARAMS, dense_crf, simulated_probs
from dlcourse.crf_reference import reference_dense_crf
from dlcourse.crf_rnn import CRFasRNN

SIZE = (500, 375)  # width, height


def load_photo(voc: Path, image_id: str) -> tuple[np.ndarray, np.ndarray, str]:
    """A (375, 500, 3) uint8 photo and its label map, from VOC when present."""
    jpg = voc / "JPEGImages" / f"{image_id}.jpg"
    png = voc / "SegmentationClass" / f"{image_id}.png"
    if jpg.is_file() and png.is_file():
        image, label, name = Image.open(jpg).convert("RGB"), Image.open(png), f"VOC {image_id}"
    else:
        from dlcourse.samples import sample_mask, sample_photo

        image, label, name = (
            Image.fromarray(sample_photo()),
            Image.fromarray(sample_mask()),
            "grace_hopper",
        )
    image = image.resize(SIZE, Image.BILINEAR)
    label = label.resize(SIZE, Image.NEAREST)
    return np.asarray(image).copy(), np.asarray(label).copy(), name


def timed(fn, device: torch.device):
    """(wall seconds, CPU seconds of this process, result) of ``fn()``."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, time.process_time() - cpu, out


def pydensecrf_version() -> str | None:
    try:
        import pydensecrf.densecrf  # noqa: F401
    except ImportError:
        return None
    try:
        return "pydensecrf2 " + importlib.metadata.version("pydensecrf2")
    except importlib.metadata.PackageNotFoundError:
        return "pydensecrf (version unknown)"


def time_batch(image: np.ndarray, probs: np.ndarray, batch: int, iterations: int, device: torch.device,
               params: dict, repeats: int) -> float:  # fmt: skip
    """Median seconds per image of a CRF-as-RNN forward pass over ``batch`` copies of the photo."""
    layer = CRFasRNN(probs.shape[0], iterations=iterations, method="lattice", **params).to(device)
    logits = torch.from_numpy(probs).clamp(min=1e-5).log()[None].repeat(batch, 1, 1, 1).to(device)
    images = (
        torch.from_numpy(image).permute(2, 0, 1)[None].repeat(batch, 1, 1, 1).float().to(device)
    )
    with torch.no_grad():
        layer(logits, images)  # warm-up
        times = [timed(lambda: layer(logits, images), device)[0] for _ in range(repeats)]
    return statistics.median(times) / batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the lattice's device)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads")
    parser.add_argument(
        "--workers", type=int, default=None, help="dense_crf's workers (default: 2 if threads >= 2)"
    )
    parser.add_argument(
        "--batch", type=int, default=0, help="also time a CRF-as-RNN batch of this size"
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument(
        "--voc",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared/data/voc2012-subset",
    )
    parser.add_argument("--image-id", default="2007_000039")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    params = DEEPLAB_CRF_PARAMS["v1-largefov"]
    image, label, name = load_photo(args.voc, args.image_id)
    probs = simulated_probs(label, args.classes).numpy()
    probs_dev = torch.from_numpy(probs).to(device)
    image_dev = torch.from_numpy(image).to(device)

    def ours():
        return dense_crf(
            image_dev, probs_dev, args.iterations, method="lattice", workers=args.workers, **params
        )

    reference = pydensecrf_version()
    load_before = os.getloadavg()
    ours()  # warm-up (allocations, CUDA context)
    times_ours, times_ref, cpu_ours, cpu_ref = [], [], [], []
    out_ours = out_ref = None
    for _ in range(args.repeats):
        seconds, cpu, out_ours = timed(ours, device)
        times_ours.append(seconds)
        cpu_ours.append(cpu)
        if reference is not None:
            seconds, cpu, out_ref = timed(lambda: reference_dense_crf(image, probs, args.iterations, **params),
                                          torch.device("cpu"))  # fmt: skip
            times_ref.append(seconds)
            cpu_ref.append(cpu)
    load_after = os.getloadavg()
    print(f"machine      {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {args.threads} threads, workers {args.workers or 'default'}")  # fmt: skip
    print(f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (1-minute)")
    if device.type == "cuda":
        print(f"device       {torch.cuda.get_device_name(device)}")
    print(f"photo        {name}, {image.shape[1]}x{image.shape[0]}, {args.classes} classes, "
          f"{args.iterations} iterations, {args.repeats} repeats")  # fmt: skip
    median_ours = statistics.median(times_ours)
    print(f"dlcourse     {median_ours * 1000:8.1f} ms (median wall; lattice on {device.type}), "
          f"CPU {statistics.median(cpu_ours) * 1000:.1f} ms")  # fmt: skip
    if times_ref:
        median_ref = statistics.median(times_ref)
        agree = float((out_ours.argmax(0).cpu().numpy() == out_ref.argmax(0)).mean())
        print(f"pydensecrf   {median_ref * 1000:8.1f} ms (median wall; CPU, one thread; {reference}), "
              f"CPU {statistics.median(cpu_ref) * 1000:.1f} ms")  # fmt: skip
        print(f"ratio        {median_ours / median_ref:8.2f} x pydensecrf's time "
              f"({statistics.median(cpu_ours) / statistics.median(cpu_ref):.2f} x its CPU time)")  # fmt: skip
        print(f"speed-up     {median_ref / median_ours:8.1f} x")
        print(f"agreement    {agree:.4%} of pixels get the same label")
    else:
        print("pydensecrf   not installed (pip install -e '.[crf]')")
    if args.batch:
        per_image = time_batch(
            image, probs, args.batch, args.iterations, device, params, args.repeats
        )
        print(
            f"CRF-as-RNN   {per_image * 1000:8.1f} ms per image in batches of {args.batch} (forward, {device.type})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
