"""The dense CRF computed by the reference C++ code (``pydensecrf``), to compare with.

:func:`reference_dense_crf` runs Krähenbühl and Koltun's implementation through its Python
binding with :func:`dlcourse.crf.dense_crf`'s arguments, where the optional package installs
(``pip install pydensecrf2``, the course's ``crf`` extra); nothing else in the course needs it.

Used in: 09.
"""

from __future__ import annotations

import numpy as np

from dlcourse.crf import check_image, check_probs
from dlcourse.crf_kernels import check_theta, check_weight


def reference_dense_crf(image: np.ndarray, probs: np.ndarray, iterations: int = 10, *, w1: float = 4.0,
                        theta_alpha: float = 121.0, theta_beta: float = 5.0, w2: float = 3.0,
                        theta_gamma: float = 3.0) -> np.ndarray:  # fmt: skip
    """The same CRF computed by the reference C++ code (``pydensecrf``) -> ``(C, H, W)`` probabilities.

    Takes :func:`dlcourse.crf.dense_crf`'s arguments (NumPy ``image`` ``(H, W, 3)`` uint8 and
    ``probs`` ``(C, H, W)``). Needs the optional package: ``pip install pydensecrf2`` (the
    course's ``crf`` extra); it has no wheels for every Python, and ``dense_crf`` needs none of it.
    """
    try:
        import pydensecrf.densecrf as dcrf
        from pydensecrf.utils import unary_from_softmax
    except ImportError as err:
        raise ImportError("reference_dense_crf needs pydensecrf: pip install pydensecrf2 (or the course's "
                          "extra, pip install -e '.[crf]'); dense_crf works without it") from err  # fmt: skip
    probs = np.ascontiguousarray(check_probs(np.asarray(probs)).numpy(), dtype=np.float32)
    image = np.ascontiguousarray(check_image(np.asarray(image), probs.shape[1:]).numpy())
    classes, height, width = probs.shape
    crf = dcrf.DenseCRF2D(width, height, classes)
    crf.setUnaryEnergy(unary_from_softmax(probs))
    crf.addPairwiseGaussian(
        sxy=check_theta(theta_gamma, "theta_gamma"), compat=check_weight(w2, "w2")
    )
    crf.addPairwiseBilateral(sxy=check_theta(theta_alpha, "theta_alpha"), srgb=check_theta(theta_beta, "theta_beta"),
                             rgbim=image, compat=check_weight(w1, "w1"))  # fmt: skip
    return np.array(crf.inference(iterations)).reshape(classes, height, width)
