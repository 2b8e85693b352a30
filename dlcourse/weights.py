"""Published weights: torchvision's ImageNet backbones and DeepLab-v3 models, by name.

``load_weights("resnet50")`` returns the state_dict of torchvision's ImageNet
ResNet-50. The file is downloaded once with ``torch.hub.load_state_dict_from_url``
(progress bar, SHA-256 check against the ``-<hash>`` in the file name) into
``dlcourse.env.cache_dir() / "weights"``; later calls read it from there. Without
network, the error names the file, its URL and the folder to copy it into, and a
file placed there by hand is used (after the same hash check). A path to any
``.pth`` state_dict works too.

Used in: 05, 07, 08, 10 (through ``dlcourse.models.build_model``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import Tensor

from dlcourse.env import cache_dir

BASE_URL = "https://download.pytorch.org/models/"
WEIGHTS: dict[str, str] = {
    # name: torchvision's published file; the 8 hex digits are the start of its SHA-256
    "deeplabv3_resnet50": BASE_URL + "deeplabv3_resnet50_coco-cd0a2569.pth",
    "deeplabv3_resnet101": BASE_URL + "deeplabv3_resnet101_coco-586e9e4e.pth",
    "deeplabv3_mobilenet_v3_large": BASE_URL + "deeplabv3_mobilenet_v3_large-fc3c493d.pth",
    "resnet18": BASE_URL + "resnet18-f37072fd.pth",
    "resnet34": BASE_URL + "resnet34-b627a593.pth",
    "resnet50": BASE_URL + "resnet50-0676ba61.pth",
    "resnet101": BASE_URL + "resnet101-63fe2227.pth",
    "mobilenet_v3_large": BASE_URL + "mobilenet_v3_large-8738ca79.pth",
    "vgg16": BASE_URL + "vgg16-397923af.pth",
}
"""Weights known by name; see torchvision's model pages for their training recipes."""


class WeightsUnavailable(RuntimeError):
    """The weights could not be downloaded or failed their hash check; the message says what to do."""


def weights_dir() -> Path:
    """The folder the weight files are kept in: ``cache_dir() / "weights"``."""
    return cache_dir() / "weights"


def file_name(name: str) -> str:
    """The file name of the weights ``name``, e.g. ``"resnet50-0676ba61.pth"``."""
    if name not in WEIGHTS:
        raise ValueError(f"weights {name!r}: unknown name; choose one of {sorted(WEIGHTS)}")
    return WEIGHTS[name].rsplit("/", 1)[1]


def expected_hash(name: str) -> str:
    """The hex digits between the last ``-`` and ``.pth`` of the file name: a SHA-256 prefix."""
    return file_name(name).rsplit("-", 1)[1].split(".")[0]


def weights_path(name: str) -> Path:
    """Where the file of the weights ``name`` is (or will be) stored."""
    return weights_dir() / file_name(name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _offline_message(name: str, reason: object) -> str:
    return (
        f"could not download the weights {name!r} ({reason}). The file is "
        f"{file_name(name)}, from {WEIGHTS[name]}: download it on a machine with internet "
        f"and copy it into {weights_dir()} (keep its name), or pass the path of a local "
        ".pth file instead; for training, --set weights_backbone=null starts from random weights."
    )


def load_weights(source: str | Path, progress: bool = True) -> dict[str, Tensor]:
    """The state_dict of published weights (a name in :data:`WEIGHTS`) or of a ``.pth`` file.

    A name is downloaded once into :func:`weights_dir` (``torch.hub`` with its
    progress bar and ``check_hash=True``); a file already there, downloaded or
    copied by hand, is checked against the same hash. A path is read as it is.
    Files are read with ``weights_only=True`` (no code runs from them).

    Raises:
        WeightsUnavailable: offline, or a file whose hash does not match.
        FileNotFoundError: ``source`` is neither a known name nor an existing file.
    """
    name = str(source)
    if name not in WEIGHTS:
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"weights {name!r}: neither a known name ({sorted(WEIGHTS)}) nor an existing "
                ".pth file; check the path"
            )
        return torch.load(path, map_location="cpu", weights_only=True)
    path = weights_path(name)
    if path.is_file():
        if not _sha256(path).startswith(expected_hash(name)):
            raise WeightsUnavailable(
                f"the weights file {path} does not match its SHA-256 prefix {expected_hash(name)} "
                "(a broken download or another file); delete it and load again"
            )
        return torch.load(path, map_location="cpu", weights_only=True)
    try:
        return torch.hub.load_state_dict_from_url(
            WEIGHTS[name], model_dir=str(weights_dir()), map_location="cpu", progress=progress,
            check_hash=True, weights_only=True,
        )  # fmt: skip
    except RuntimeError as err:  # torch.hub's hash check: the partial file is already deleted
        if "hash" not in str(err):
            raise
        raise WeightsUnavailable(
            f"the download of {WEIGHTS[name]} does not match its SHA-256 prefix "
            f"{expected_hash(name)}, so it was refused; try again, or download the file by "
            f"hand and copy it into {weights_dir()}"
        ) from None
    except OSError as err:  # URLError, timeouts, refused connections
        raise WeightsUnavailable(_offline_message(name, getattr(err, "reason", err))) from None
