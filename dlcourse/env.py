"""The learner's environment: device, seeds, fast mode, Colab, caches.

Every lesson starts with ``setup()``; nothing here runs at import time except
reading ``DLCOURSE_FAST`` into :data:`FAST`.

Used in: 00-09 (first code cell), tests.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

COURSE_REPO = "https://github.com/deeplab-from-scratch/deeplab-from-scratch"
"""Where the course lives; the Colab cell of every notebook installs from here."""

COURSE_REF = "main"
"""The branch or tag the Colab cell checks out."""

DEVICE_KINDS = ("cuda", "mps", "cpu")


def fast_mode() -> bool:
    """True when the environment variable ``DLCOURSE_FAST`` is ``1`` (or ``true``/``yes``).

    Fast mode shrinks images, steps and data so every notebook runs on a 2-core CPU
    in about a minute. Lessons read :data:`FAST`; this function re-reads the variable.
    """
    return os.environ.get("DLCOURSE_FAST", "0").strip().lower() in {"1", "true", "yes", "on"}


FAST: bool = fast_mode()
"""Fast mode as it was when ``dlcourse.env`` was imported (see :func:`fast_mode`)."""


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def in_ci() -> bool:
    """True when running under continuous integration (``CI`` set to a true value)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(preferred: str | torch.device | None = None) -> torch.device:
    """The device lessons compute on: CUDA if present, else Apple MPS, else CPU.

    Args:
        preferred: ``None`` picks automatically; ``"cuda"``, ``"cuda:1"``, ``"mps"`` or
            ``"cpu"`` asks for one device and fails clearly when it is not available.

    Returns:
        A ``torch.device``.
    """
    if preferred is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if isinstance(preferred, torch.device):
        device = preferred
    elif isinstance(preferred, str):
        kind = preferred.split(":", 1)[0].strip().lower()
        if kind not in DEVICE_KINDS:
            raise ValueError(
                f"get_device(preferred={preferred!r}): unknown device; "
                f"use one of {', '.join(DEVICE_KINDS)} (e.g. 'cuda:0') or None to pick automatically"
            )
        try:
            device = torch.device(preferred.strip().lower())
        except RuntimeError as err:
            raise ValueError(
                f"get_device(preferred={preferred!r}): not a valid device string ({err})"
            ) from None
    else:
        raise TypeError(
            f"get_device(preferred=...): expected a string, torch.device or None, "
            f"got {type(preferred).__name__}"
        )
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"get_device(preferred={preferred!r}): CUDA is not available on this machine; "
                "use 'cpu' or None (on Colab: Runtime > Change runtime type > GPU)"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"get_device(preferred={preferred!r}): only {torch.cuda.device_count()} "
                "CUDA device(s) present"
            )
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(
            f"get_device(preferred={preferred!r}): Apple MPS is not available; use 'cpu' or None"
        )
    return device


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (all devices) in one call.

    Args:
        seed: a non-negative integer.
        deterministic: also ask PyTorch for deterministic algorithms (slower on GPU).
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed_everything(seed={seed!r}): seed must be a non-negative int")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def cache_dir() -> Path:
    """Folder for downloads and checkpoints: ``$DLCOURSE_CACHE`` or ``~/.cache/dlcourse``.

    The folder is created if it does not exist.
    """
    root = os.environ.get("DLCOURSE_CACHE")
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "dlcourse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def project_root() -> Path:
    """The course checkout that holds ``dlcourse/``, ``data/`` and ``notebooks/``."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The project's own small data (``data/`` in the checkout).

    Raises:
        FileNotFoundError: when the package was installed without its checkout.
    """
    path = project_root() / "data"
    if not path.is_dir():
        raise FileNotFoundError(
            f"The course data folder {path} is missing. Install the course from a clone "
            f"with `pip install -e .` (git clone {COURSE_REPO}) rather than as a plain package."
        )
    return path


def num_workers() -> int:
    """DataLoader workers: 0 in fast mode, CI or Colab (fewer surprises), else up to 4."""
    if fast_mode() or in_ci() or in_colab():
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries the course uses (``"missing"`` if absent)."""
    found = {"python": platform.python_version()}
    for name in ("dlcourse", "torch", "torchvision", "numpy", "matplotlib", "ipywidgets"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def describe_device(device: torch.device) -> str:
    """A one-line human description of ``device`` (GPU name and memory for CUDA)."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"cuda ({props.name}, {props.total_memory / 2**30:.1f} GiB)"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


@dataclass(frozen=True)
class Environment:
    """What :func:`setup` found: device, versions, fast mode, Colab, seed."""

    device: torch.device
    fast: bool
    colab: bool
    seed: int
    versions: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """Multi-line text that a lesson prints under its setup cell."""
        lines = [f"{name:<12} {version}" for name, version in self.versions.items()]
        lines += [
            f"{'device':<12} {describe_device(self.device)}",
            f"{'fast mode':<12} {'on (tiny sizes, DLCOURSE_FAST=1)' if self.fast else 'off'}",
            f"{'colab':<12} {'yes' if self.colab else 'no'}",
            f"{'seed':<12} {self.seed}",
        ]
        return "\n".join(lines)


def setup(
    seed: int = 0, device: str | torch.device | None = None, quiet: bool = False
) -> Environment:
    """One call at the top of every lesson: seed everything, pick the device, report.

    Args:
        seed: seed for ``random``, NumPy and PyTorch.
        device: ``None`` to pick automatically (see :func:`get_device`).
        quiet: do not print the summary.

    Returns:
        An :class:`Environment`; its ``device`` is what the lesson computes on.
    """
    seed_everything(seed)
    env = Environment(
        device=get_device(device),
        fast=fast_mode(),
        colab=in_colab(),
        seed=seed,
        versions=versions(),
    )
    if not quiet:
        print(env.summary())
    return env


COLAB_REQUIREMENTS = (
    "numpy>=1.24",
    "matplotlib>=3.7",
    "pillow>=10",
    "tqdm>=4.66",
    "ipywidgets>=7.7,<9",
)
"""What the lessons import besides torch and torchvision; Colab has all of it already."""


def colab_install_cell() -> str:
    """The source of the first code cell of every notebook.

    In Colab it clones the course at :data:`COURSE_REF` and installs ``dlcourse`` from
    it with ``--no-deps``, so Colab's own torch and torchvision are never reinstalled,
    upgraded or downgraded; then it asks pip for :data:`COLAB_REQUIREMENTS`, which
    Colab already satisfies (pip installs nothing, and ipywidgets stays at Colab's
    7.7). JupyterLab is not installed: Colab runs its own notebook server. Anywhere
    else the cell does nothing. A test keeps every notebook's copy identical to this
    text; ``python -m dlcourse.env`` prints it.
    """
    requirements = ", ".join(f'"{r}"' for r in COLAB_REQUIREMENTS)
    return (
        "# Colab only: fetch the course and install its package (does nothing elsewhere).\n"
        "# Colab's torch and torchvision are kept as they are (--no-deps).\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules and importlib.util.find_spec("dlcourse") is None:\n'
        f'    repo, ref, where = "{COURSE_REPO}", "{COURSE_REF}", "/content/deeplab-from-scratch"\n'
        '    subprocess.run(["git", "clone", "-q", "--depth", "1", "-b", ref, repo, where], check=True)\n'
        '    pip = [sys.executable, "-m", "pip", "install", "-q"]\n'
        '    subprocess.run([*pip, "--no-deps", "-e", where], check=True)\n'
        f"    subprocess.run([*pip, {requirements}], check=True)\n"
        "    sys.path.insert(0, where)"
    )


if __name__ == "__main__":
    print(colab_install_cell())
