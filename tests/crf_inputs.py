"""Small inputs shared by the CRF tests: blocky photos, random probabilities, small kernels."""

import pytest
import torch

SMALL = dict(w1=4.0, theta_alpha=8.0, theta_beta=20.0, w2=3.0, theta_gamma=2.0)
"""CRF parameters for images of a few dozen pixels a side."""


def blocky_image(height: int, width: int, seed: int) -> torch.Tensor:
    """A uint8 photo of coloured rectangles (4x4 blocks of random colour)."""
    generator = torch.Generator().manual_seed(seed)
    colours = torch.rand(1, 3, 4, 4, generator=generator) * 255
    image = torch.nn.functional.interpolate(colours, size=(height, width), mode="nearest")
    return image[0].permute(1, 2, 0).to(torch.uint8)


def random_probs(
    classes: int, height: int, width: int, seed: int, scale: float = 2.0
) -> torch.Tensor:
    """``(C, H, W)`` class probabilities: a softmax of Gaussian logits times ``scale``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.softmax(scale * torch.randn(classes, height, width, generator=generator), dim=0)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run this module on one CPU thread: the lattice's many medium-sized tensor ops lose
    more to thread synchronisation than they gain on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
