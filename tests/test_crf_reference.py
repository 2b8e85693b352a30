"""Tests of dlcourse.crf_reference: the package's CRF agrees with pydensecrf, the reference code."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# one_thread: an autouse fixture, run on one CPU thread
from crf_inputs import SMALL, blocky_image, one_thread, random_probs  # noqa: F401
from PIL import Image

from dlcourse.crf import DEEPLAB_CRF_PARAMS, dense_crf, simulated_probs
from dlcourse.crf_reference import reference_dense_crf

VOC = Path(__file__).resolve().parents[2] / "shared" / "data" / "voc2012-subset"
VOC_IDS = ["2007_000039", "2007_000063", "2007_000121", "2007_000243"]


def _pydensecrf():
    if os.environ.get("DLCOURSE_REQUIRE_PYDENSECRF") == "1":
        import pydensecrf.densecrf as dcrf
        import pydensecrf.utils as utils
    else:
        dcrf = pytest.importorskip("pydensecrf.densecrf")
        utils = pytest.importorskip("pydensecrf.utils")
    return dcrf, utils


def reference(image: np.ndarray, probs: np.ndarray, iterations: int, params: dict) -> np.ndarray:
    _pydensecrf()
    return reference_dense_crf(np.array(image, order="C"), probs, iterations, **params)


def test_reference_wrapper_says_how_to_install_pydensecrf(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pydensecrf.densecrf", None)  # as if it were not installed
    image, probs = blocky_image(6, 7, 0).numpy(), random_probs(3, 6, 7, 0).numpy()
    with pytest.raises(ImportError, match="pip install pydensecrf2"):
        reference_dense_crf(image, probs, 2)


def real_photos():
    from dlcourse.samples import sample_mask, sample_photo

    photos = [("grace_hopper", sample_photo(), sample_mask())]
    for image_id in VOC_IDS:
        jpg, png = (
            VOC / "JPEGImages" / f"{image_id}.jpg",
            VOC / "SegmentationClass" / f"{image_id}.png",
        )
        if jpg.is_file() and png.is_file():
            photos.append(
                (image_id, np.array(Image.open(jpg).convert("RGB")), np.array(Image.open(png)))
            )
    return photos


@pytest.mark.parametrize("preset", ["v1-largefov", "v2-resnet101"])
def test_agreement_with_pydensecrf_on_real_photos(preset):
    """Same labels as pydensecrf on at least 99.5% of the pixels of every photo.

    Unaries: not the label itself but a simulated coarse network output
    (:func:`dlcourse.crf.simulated_probs`): the label shifted by a few pixels, averaged
    over 8x8 cells (output stride 8), with Gaussian noise on the logits and bilinear
    upsampling, so that the CRF has blurry, partly wrong boundaries to fix.
    """
    _pydensecrf()
    params = DEEPLAB_CRF_PARAMS[preset]
    photos = real_photos() if preset == "v1-largefov" else real_photos()[:2]
    if not VOC.is_dir():
        assert len(photos) == 1  # the sample photo is always there
    for name, image, label in photos:
        probs = simulated_probs(label, 21).numpy()
        expected = reference(image, probs, 10, params)
        ours = dense_crf(image, probs, 10, method="lattice", **params)
        agree = float((ours.argmax(0) == expected.argmax(0)).mean())
        changed = float((expected.argmax(0) != probs.argmax(0)).mean())
        assert agree >= 0.995, f"{name}: only {agree:.2%} of labels agree with pydensecrf"
        assert changed > 0.001, f"{name}: the CRF changed almost nothing; the check would be empty"
        np.testing.assert_allclose(ours, expected, atol=0.05)


def test_agreement_with_pydensecrf_on_random_small_images():
    _pydensecrf()
    for seed in range(3):
        image = blocky_image(37, 53, seed).numpy()
        probs = random_probs(5, 37, 53, seed).numpy()
        expected = reference(image, probs, 5, SMALL)
        ours = dense_crf(image, probs, 5, method="lattice", **SMALL)
        assert float((ours.argmax(0) == expected.argmax(0)).mean()) >= 0.995
