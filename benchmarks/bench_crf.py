"""Time the dense CRF (dlcourse.crf, permutohedral lattice) against pydensecrf.

Runs both on the same photo, unaries and parameters (DeepLab-v1 values, 21 classes,
10 mean-field iterations), interleaving the two so that load on the machine hits
both alike, and prints the median times, their ratio and the label agreement.

    python benchmarks/bench_crf.py                     # CPU, torch on all cores
    python benchmarks/bench_crf.py --device cuda       # the lattice on the GPU
    python benchmarks/bench_crf.py --threads 1 --repeats 9

The photo is a 500x375 image from a VOC 2012 folder when one is found
(``--voc``, default ``../shared/data/voc2012-subset``), else matplotlib's sample
photo resized to 500x375 with the course's hand-drawn mask. Results: benchmarks/crf.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dlcourse.crf import DEEPLAB_CRF_PARAMS, dense_crf, simulated_probs

SIZE = (500, 375)  # width, height


def load_photo(voc: Path, image_id: str) -> tuple[np.ndarray, np.ndarray, str]:
    """A (375, 500, 3) uint8 photo and its label map, from VOC when present."""
    jpg = voc / "JPEGImages" / f"{image_id}.jpg"
    png = voc / "SegmentationClass" / f"{image_id}.png"
    if jpg.is_file() and png.is_file():
        image, label, name = Image.open(jpg).convert("RGB"), Image.open(png), f"VOC {image_id}"
    else:
        from dlcourse.samples import sample_mask, sample_photo

        image, label, name = Image.fromarray(sample_photo()), Image.fromarray(sample_mask()), "grace_hopper"
    image = image.resize(SIZE, Image.BILINEAR)
    label = label.resize(SIZE, Image.NEAREST)
    return np.asarray(image).copy(), np.asarray(label).copy(), name


def reference_crf(image: np.ndarray, probs: np.ndarray, iterations: int, params: dict) -> np.ndarray:
    """pydensecrf with the same parameters -> (C, H, W) probabilities."""
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    classes, height, width = probs.shape
    crf = dcrf.DenseCRF2D(width, height, classes)
    crf.setUnaryEnergy(unary_from_softmax(probs))
    crf.addPairwiseGaussian(sxy=params["theta_gamma"], compat=params["w2"])
    crf.addPairwiseBilateral(sxy=params["theta_alpha"], srgb=params["theta_beta"], rgbim=image,
                             compat=params["w1"])  # fmt: skip
    return np.array(crf.inference(iterations)).reshape(classes, height, width)


def timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the lattice's device)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--voc", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/voc2012-subset")
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
        return dense_crf(image_dev, probs_dev, args.iterations, method="lattice", **params)

    try:
        import pydensecrf  # noqa: F401
    except ImportError:
        pydensecrf = None
    ours()  # warm-up (allocations, CUDA context)
    times_ours, times_ref = [], []
    out_ours = out_ref = None
    for _ in range(args.repeats):
        seconds, out_ours = timed(ours, device)
        times_ours.append(seconds)
        if pydensecrf is not None:
            seconds, out_ref = timed(lambda: reference_crf(image, probs, args.iterations, params),
                                     torch.device("cpu"))  # fmt: skip
            times_ref.append(seconds)
    print(f"machine      {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, {args.threads} threads")  # fmt: skip
    if device.type == "cuda":
        print(f"device       {torch.cuda.get_device_name(device)}")
    print(f"photo        {name}, {image.shape[1]}x{image.shape[0]}, {args.classes} classes, "
          f"{args.iterations} iterations, {args.repeats} repeats")  # fmt: skip
    median_ours = statistics.median(times_ours)
    print(f"dlcourse     {median_ours * 1000:8.1f} ms (median; lattice on {device.type})")
    if times_ref:
        median_ref = statistics.median(times_ref)
        agree = float((out_ours.argmax(0).cpu().numpy() == out_ref.argmax(0)).mean())
        print(f"pydensecrf   {median_ref * 1000:8.1f} ms (median; CPU, one thread)")
        print(f"ratio        {median_ours / median_ref:8.2f} x pydensecrf's time")
        print(f"agreement    {agree:.4%} of pixels get the same label")
    else:
        print("pydensecrf   not installed (pip install -e '.[crf]')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
