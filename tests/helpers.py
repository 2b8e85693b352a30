"""Small helpers shared by several test files."""

import torch
from torch import nn


def randomize_(module: nn.Module, std: float = 0.2, seed: int = 0) -> nn.Module:
    """Give every parameter and BN statistic a random value, so equality means something.

    Weights and biases are drawn from N(0, std); BN running variances from U(0.5, 1.5).
    """
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if tensor.dtype.is_floating_point:
                if "running_var" in name:
                    tensor.uniform_(0.5, 1.5)
                else:
                    tensor.normal_(0, std)
    return module
