"""Named features of a backbone: :class:`FeatureGetter`, :func:`out_channels`, the output stride.

A backbone runs its layers one after the other, but a DeepLab head needs some of the
results on the way: ``"low"`` (stride 4, for the v3+ decoder), ``"aux"`` (for the
auxiliary head) and ``"out"`` (the last features). :class:`FeatureGetter` runs the layers
in order and returns those results by name, the idea of torchvision's
``IntermediateLayerGetter``; every backbone (:mod:`dlcourse.resnet`, :mod:`dlcourse.mobilenet`,
:mod:`dlcourse.vgg`) is one, so every head reads the same contract. Channel counts are read
from the layers, never written down. A backbone also has an ``output_stride``, input size over
the size of ``"out"``: one of :data:`OUTPUT_STRIDES` (:func:`check_output_stride`); strides
beyond it become dilation, as in DeepLab.

Used in: 03, 05.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

from torch import Tensor, nn

OUTPUT_STRIDES = (8, 16, 32)


def check_output_stride(output_stride: int, allowed: Sequence[int] = OUTPUT_STRIDES) -> int:
    """Return ``output_stride`` if it is one of ``allowed``; raise a ``ValueError`` otherwise."""
    if isinstance(output_stride, bool) or output_stride not in allowed:
        raise ValueError(
            f"output_stride={output_stride!r} is not supported; use one of {tuple(allowed)}"
        )
    return int(output_stride)


def out_channels(module: nn.Module) -> int | None:
    """Channels of ``module``'s output: those of its last conv or batch norm (``None``: neither).

    The layers are read in registration order, which suits modules that run them in that
    order: a ResNet stage (its ``downsample`` shortcut ends with as many channels as the main
    path), a MobileNet block, an ASPP. Pooling, activation and dropout keep the channels.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"out_channels(module={module!r}): give an nn.Module")
    channels = None
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
            channels = layer.out_channels
        elif isinstance(layer, nn.BatchNorm2d):
            channels = layer.num_features
    return channels


class FeatureGetter(nn.Sequential):
    """Layers run in order, like ``nn.Sequential``; ``forward`` returns the named layers' outputs.

    The idea of torchvision's ``IntermediateLayerGetter`` (``torchvision.models._utils``):
    the layers must be registered in the order they run, each running once, so that a
    named layer's output is the feature the head wants. Every layer runs, as in a plain
    ``nn.Sequential``, and parameter names are the layers' (``layer1.0.conv1.weight``).
    ``channels`` gives each feature's channels, read from the layers (:func:`out_channels`).

    Args:
        layers: ``{name: layer}`` in the order they run, or a sequence of layers (named
            ``"0"``, ``"1"``, ... as in ``nn.Sequential``).
        return_layers: ``{layer name: feature name}``, e.g. ``{"layer1": "low", "layer4": "out"}``.

    Shape: ``(N, C, H, W) -> {feature name: (N, C_f, H_f, W_f)}``, in the order the layers run.
    """

    def __init__(
        self,
        layers: Mapping[str, nn.Module] | Sequence[nn.Module],
        return_layers: Mapping[str, str],
    ) -> None:
        if not isinstance(layers, Mapping):
            layers = {str(index): layer for index, layer in enumerate(layers)}
        super().__init__(OrderedDict(layers))
        if not isinstance(return_layers, Mapping) or not return_layers:
            raise TypeError(
                f"FeatureGetter(return_layers={return_layers!r}): give a dict from layer names "
                'to feature names, e.g. {"layer1": "low", "layer4": "out"}'
            )
        unknown = [name for name in return_layers if name not in self._modules]
        if unknown:
            raise ValueError(
                f"FeatureGetter(return_layers={dict(return_layers)!r}): no layer named {unknown}; "
                f"the layers are {list(self._modules)}"
            )
        self.return_layers = {str(name): str(feature) for name, feature in return_layers.items()}
        self.channels = self._feature_channels()

    def _feature_channels(self) -> dict[str, int]:
        """Channels of every returned feature: those of the last conv or BN up to its layer."""
        channels, latest = {}, None
        for name, layer in self.named_children():
            latest = out_channels(layer) or latest
            if name in self.return_layers:
                channels[self.return_layers[name]] = latest
        return channels

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        features = {}
        for name, layer in self.named_children():
            x = layer(x)
            if name in self.return_layers:
                features[self.return_layers[name]] = x
        return features

    def __getitem__(self, index: int | slice) -> nn.Module:
        """One layer for an ``int``; for a ``slice``, those layers as a plain ``nn.Sequential``."""
        if isinstance(index, slice):
            return nn.Sequential(OrderedDict(list(self.named_children())[index]))
        return super().__getitem__(index)
