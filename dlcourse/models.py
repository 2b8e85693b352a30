"""The DeepLab family (v1 LargeFOV, v2, v3, v3+) and a name-to-builder registry.

``build_model("deeplabv3plus_mobilenet", num_classes=21)`` builds a model by name;
``list_models()`` lists the names. Every builder is a short function over one private
assembly step (backbone, heads, weights, options). Models return ``{"out": ...}`` (plus
``"aux"``) at the input resolution, like torchvision's. Nothing is downloaded unless a
builder is asked for ``weights`` or ``weights_backbone``; ``dlcourse.weights`` downloads
them (``torch.hub``, hash-checked) into ``dlcourse.env.cache_dir() / "weights"``;
``dlcourse.costs`` counts what a model costs.

Default output strides: ``deeplabv3_resnet*`` use 8, as torchvision does, so that
``build_model("deeplabv3_resnet50")`` computes exactly what torchvision's model does
(pass ``output_stride=16`` for cheaper training); ``deeplabv3_mobilenet_v3_large`` and
the v3+ models use 16; v1 and v2 use 8, as in their papers.

Used in: 03, 04, 05, 07, 08.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlcourse.aspp import ASPPv2, DeepLabHead
from dlcourse.features import check_output_stride
from dlcourse.heads import DeepLabV3PlusHead, FCNHead, LargeFOVHead
from dlcourse.layers import freeze_batchnorm, positive_ints
from dlcourse.mobilenet import MobileNetV3Large
from dlcourse.resnet import resnet
from dlcourse.vgg import VGG16
from dlcourse.weights import WEIGHTS, load_weights


def _check_images(x: Tensor, output_stride: int) -> None:
    """Raise a ``ValueError`` unless ``x`` is ``(N, 3, H, W)`` with sides of at least ``output_stride``."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(
            f"input of shape {tuple(x.shape)}: expected RGB images (N, 3, H, W); "
            "add a batch dimension with x[None] or convert grey images to 3 channels"
        )
    if min(x.shape[-2:]) < output_stride:
        raise ValueError(
            f"input of size {x.shape[-2]}x{x.shape[-1]} is smaller than the output stride "
            f"{output_stride}; use images of at least {output_stride} px per side "
            "or a smaller output_stride"
        )


class SegmentationModel(nn.Module):
    """Backbone -> head -> bilinear upsampling to the input size (plus an optional aux head).

    torchvision's ``_SimpleSegmentationModel``: the backbone returns named features
    (:class:`dlcourse.features.FeatureGetter`), the head takes the features named in
    ``head_features`` (``"out"``; the v3+ decoder takes ``"out"`` and ``"low"``), the aux
    head takes ``"aux"``. Attribute names (``backbone``, ``classifier``,
    ``aux_classifier``) match torchvision's DeepLabV3.

    Args:
        backbone: returns a feature dict and has ``output_stride``.
        head: maps the features named in ``head_features`` to class scores.
        aux_head: maps ``features["aux"]`` to class scores, or ``None``.
        head_features: names of the features the head takes, in the order it takes them.

    Shape: ``(N, 3, H, W) -> {"out": (N, K, H, W), "aux": (N, K, H, W)}``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: nn.Module,
        aux_head: nn.Module | None = None,
        head_features: Sequence[str] = ("out",),
    ) -> None:
        super().__init__()
        if isinstance(head_features, str) or not all(isinstance(n, str) for n in head_features):
            raise TypeError(
                f"SegmentationModel(head_features={head_features!r}): give a tuple of feature "
                'names, e.g. ("out",) or ("out", "low")'
            )
        self.backbone = backbone
        self.classifier = head
        self.aux_classifier = aux_head
        self.head_features = tuple(head_features)
        self.output_stride = int(backbone.output_stride)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        _check_images(x, self.output_stride)
        size = x.shape[-2:]
        features = self.backbone(x)
        scores = self.classifier(*(features[name] for name in self.head_features))
        result = {"out": F.interpolate(scores, size=size, mode="bilinear", align_corners=False)}
        if self.aux_classifier is not None:
            aux = self.aux_classifier(features["aux"])
            result["aux"] = F.interpolate(aux, size=size, mode="bilinear", align_corners=False)
        return result


# --- registry ------------------------------------------------------------------------

_MODELS: dict[str, Callable[..., SegmentationModel]] = {}


def register_model(builder: Callable[..., SegmentationModel]) -> Callable[..., SegmentationModel]:
    """Decorator: add ``builder`` to the registry under its function name (no duplicates)."""
    name = builder.__name__
    if name in _MODELS:
        raise ValueError(f"register_model: a model named {name!r} is already registered")
    _MODELS[name] = builder
    return builder


def list_models() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_MODELS)


def build_model(name: str, **kwargs) -> SegmentationModel:
    """Build the registered model ``name``; keyword arguments go to its builder.

    Every builder takes the same keywords:

    Args:
        num_classes: classes to predict (21 for VOC).
        output_stride: 8, 16 or 32 (each builder has its default); the head's rates follow
            it unless ``atrous_rates`` is given.
        aux_loss: add the FCN auxiliary head on the backbone's ``"aux"`` features (stage 3).
        weights: ``"default"`` for the published weights (downloaded once into
            ``dlcourse.env.cache_dir()``), or the path of a ``.pth`` state_dict.
        weights_backbone: ``"imagenet"`` for the published ImageNet backbone, or a path.
        freeze_bn: turn the backbone's batch norms into :class:`FrozenBatchNorm2d`.
        channels_last: return the model in ``torch.channels_last`` memory format.
        atrous_rates: override the head's rates.
        multi_grid: ResNet only: unit rates of the last stage's blocks, e.g. ``(1, 2, 4)``.
        separable: v3+ only: atrous separable convs in ASPP and the decoder
            (:class:`dlcourse.layers.AtrousSeparableConv2d`); ``False`` keeps torchvision's layout.

    Shape: ``(N, 3, H, W) -> {"out": (N, num_classes, H, W)[, "aux": ...]}``.
    """
    if name not in _MODELS:
        raise ValueError(f"build_model: unknown model {name!r}; choose one of {list_models()}")
    return _MODELS[name](**kwargs)


# --- assembly: backbone, heads, weights, options --------------------------------------


def aspp_rates(output_stride: int, rates_at_16: Sequence[int] = (6, 12, 18)) -> tuple[int, ...]:
    """ASPP rates for an output stride: ``rates_at_16`` scaled by ``16 / output_stride``.

    DeepLab-v3 uses (6, 12, 18) at output stride 16 and (12, 24, 36) at 8.
    """
    check_output_stride(output_stride)
    return tuple(max(1, rate * 16 // output_stride) for rate in rates_at_16)


def _backbone_state(state: dict[str, Tensor], backbone: nn.Module) -> dict[str, Tensor]:
    """Adapt an ImageNet classifier's state_dict to one of our backbones (drop the classifier)."""
    own = backbone.state_dict()
    if isinstance(backbone, MobileNetV3Large):
        state = {
            k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")
        }
    return {k: v for k, v in state.items() if k in own or not k.startswith(("fc.", "classifier."))}


def _backbone(kind: str, output_stride: int, multi_grid, weights_backbone) -> nn.Module:
    """The backbone ``kind`` (``"resnet50"``, ``"mobilenet_v3_large"``, ``"vgg16"``), with its weights."""
    check_output_stride(output_stride)
    if kind.startswith("resnet"):
        backbone = resnet(int(kind.removeprefix("resnet")), output_stride, multi_grid)
    elif multi_grid is not None:
        raise ValueError(f"multi_grid={tuple(multi_grid)}: only ResNet backbones take it")
    elif kind == "mobilenet_v3_large":
        backbone = MobileNetV3Large(output_stride=output_stride)
    else:
        backbone = VGG16(output_stride=output_stride)
    if weights_backbone is not None:
        source = kind if weights_backbone == "imagenet" else weights_backbone
        backbone.load_state_dict(_backbone_state(load_weights(source), backbone), strict=True)
    return backbone


def _head(version, channels, num_classes, output_stride, rates, separable, rates_at_16):
    """The classifier of DeepLab ``version`` (``"v1"``, ``"v2"``, ``"v3"``, ``"v3+"``)."""
    if version == "v1":  # fc6 at rate 12 for output stride 8
        return LargeFOVHead(channels["out"], num_classes, (rates or [12 * 8 // output_stride])[0])
    if version == "v2":  # rates 6, 12, 18, 24 at output stride 8
        rates = rates or [rate * 8 // output_stride for rate in (6, 12, 18, 24)]
        return ASPPv2(channels["out"], num_classes, rates)
    rates = rates or aspp_rates(output_stride, rates_at_16)
    if version == "v3":
        return DeepLabHead(channels["out"], num_classes, rates)
    return DeepLabV3PlusHead(
        channels["out"], channels["low"], num_classes, rates, separable=separable
    )


def _assemble(
    name: str,
    backbone_kind: str,
    version: str,
    output_stride: int,
    rates_at_16: Sequence[int] = (6, 12, 18),
    /,
    *,
    num_classes: int = 21,
    aux_loss: bool = False,
    weights: str | Path | None = None,
    weights_backbone: str | Path | None = None,
    freeze_bn: bool = False,
    channels_last: bool = False,
    atrous_rates: Sequence[int] | None = None,
    multi_grid: Sequence[int] | None = None,
    separable: bool = False,
    **unknown,
) -> SegmentationModel:
    """Build the model ``name``: a ``backbone_kind`` backbone and a DeepLab ``version`` head.

    ``rates_at_16`` are the v3 and v3+ ASPP rates at output stride 16 (scaled to the output
    stride); the keywords are :func:`build_model`'s.
    """
    if unknown:
        raise TypeError(
            f"{name}(): unknown keywords {sorted(unknown)}; see build_model's docstring"
        )
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes={num_classes!r}: give a positive integer (21 for VOC)")
    if not isinstance(separable, bool):
        raise TypeError(f"{name}(separable={separable!r}): give True or False")
    if separable and version != "v3+":
        raise ValueError(
            f"separable=True: {name} has no separable option; only the deeplabv3plus_* "
            "models take it"
        )
    if atrous_rates is not None:
        atrous_rates = positive_ints(atrous_rates, "atrous_rates", name)
    backbone = _backbone(backbone_kind, output_stride, multi_grid, weights_backbone)
    if aux_loss and "aux" not in backbone.channels:
        raise ValueError(f"aux_loss=True: {name} has no auxiliary head; use aux_loss=False")
    aux = FCNHead(backbone.channels["aux"], num_classes) if aux_loss else None
    head = _head(
        version, backbone.channels, num_classes, output_stride, atrous_rates, separable, rates_at_16
    )
    head_features = ("out", "low") if version == "v3+" else ("out",)
    model = SegmentationModel(backbone, head, aux, head_features)
    if weights is not None:
        _load_model_weights(model, name, weights, aux_loss)
    if freeze_bn:
        freeze_batchnorm(model.backbone)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _load_model_weights(model: SegmentationModel, name: str, weights, aux_loss: bool) -> None:
    """Load published (``"default"``) or local weights into ``model``, checking the classes first."""
    source = name if weights == "default" else weights
    if source == name and name not in WEIGHTS:
        raise ValueError(f"weights='default': there are no published weights for {name}")
    state = load_weights(source)
    if not aux_loss:
        state = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    # the head's last parameter belongs to its 1x1 classifier: its first side is the classes
    last, ours = list(model.classifier.named_parameters())[-1]
    theirs = state.get(f"classifier.{last}")
    if theirs is not None and theirs.shape[0] != ours.shape[0]:
        raise ValueError(
            f"weights {source!r} predict {theirs.shape[0]} classes; "
            f"build with num_classes={theirs.shape[0]}"
        )
    model.load_state_dict(state, strict=True)


# --- the family: one builder per registered name --------------------------------------


@register_model
def deeplabv1_largefov(*, output_stride: int = 8, **options) -> SegmentationModel:
    """DeepLab-v1 LargeFOV (https://arxiv.org/abs/1412.7062): VGG-16, fc6 a 3x3 conv of rate 12.

    Output stride 8 as in the paper; fc6's rate follows it unless ``atrous_rates=(rate,)``.
    No auxiliary head. Keywords: :func:`build_model`.
    """
    return _assemble("deeplabv1_largefov", "vgg16", "v1", output_stride, **options)


@register_model
def deeplabv2_resnet101(*, output_stride: int = 8, **options) -> SegmentationModel:
    """DeepLab-v2 (https://arxiv.org/abs/1606.00915) on ResNet-101: ASPP whose scores are summed.

    Output stride 8 as in the paper, rates 6, 12, 18, 24 there. Keywords: :func:`build_model`.
    """
    return _assemble("deeplabv2_resnet101", "resnet101", "v2", output_stride, **options)


@register_model
def deeplabv3_resnet18(*, output_stride: int = 8, **options) -> SegmentationModel:
    """DeepLab-v3 (https://arxiv.org/abs/1706.05587) on ResNet-18, the course's small model.

    Output stride 8 like the larger ResNets, ASPP rates 12, 24, 36 there (6, 12, 18 at 16).
    Keywords: :func:`build_model`.
    """
    return _assemble("deeplabv3_resnet18", "resnet18", "v3", output_stride, **options)


@register_model
def deeplabv3_resnet50(*, output_stride: int = 8, **options) -> SegmentationModel:
    """DeepLab-v3 (https://arxiv.org/abs/1706.05587) on ResNet-50, torchvision's model.

    Output stride 8 as torchvision (16 trains cheaper), ASPP rates 12, 24, 36 there (6, 12,
    18 at 16); torchvision's weights load and compute what they compute there.
    Keywords: :func:`build_model`.
    """
    return _assemble("deeplabv3_resnet50", "resnet50", "v3", output_stride, **options)


@register_model
def deeplabv3_resnet101(*, output_stride: int = 8, **options) -> SegmentationModel:
    """DeepLab-v3 (https://arxiv.org/abs/1706.05587) on ResNet-101, torchvision's model.

    Output stride 8 as torchvision, ASPP rates 12, 24, 36 there (6, 12, 18 at 16).
    Keywords: :func:`build_model`.
    """
    return _assemble("deeplabv3_resnet101", "resnet101", "v3", output_stride, **options)


@register_model
def deeplabv3_mobilenet_v3_large(*, output_stride: int = 16, **options) -> SegmentationModel:
    """DeepLab-v3 (https://arxiv.org/abs/1706.05587) on MobileNetV3-Large, torchvision's model.

    Output stride 16 as torchvision, with ASPP rates 12, 24, 36 there: torchvision's choice
    for this backbone, twice the ResNets' 6, 12, 18. Keywords: :func:`build_model`.
    """
    name, rates_at_16 = "deeplabv3_mobilenet_v3_large", (12, 24, 36)
    return _assemble(name, "mobilenet_v3_large", "v3", output_stride, rates_at_16, **options)


@register_model
def deeplabv3plus_resnet18(*, output_stride: int = 16, **options) -> SegmentationModel:
    """DeepLab-v3+ (https://arxiv.org/abs/1802.02611) on ResNet-18: ASPP and a stride-4 decoder.

    Output stride 16, ASPP rates 6, 12, 18; ``separable=True`` makes ASPP and the decoder
    atrous separable. Keywords: :func:`build_model`.
    """
    return _assemble("deeplabv3plus_resnet18", "resnet18", "v3+", output_stride, **options)


@register_model
def deeplabv3plus_resnet50(*, output_stride: int = 16, **options) -> SegmentationModel:
    """DeepLab-v3+ (https://arxiv.org/abs/1802.02611) on ResNet-50: ASPP and a stride-4 decoder.

    Output stride 16, ASPP rates 6, 12, 18; ``separable=True`` makes ASPP and the decoder
    atrous separable. Keywords: :func:`build_model`.
    """
    return _assemble("deeplabv3plus_resnet50", "resnet50", "v3+", output_stride, **options)


@register_model
def deeplabv3plus_resnet101(*, output_stride: int = 16, **options) -> SegmentationModel:
    """DeepLab-v3+ (https://arxiv.org/abs/1802.02611) on ResNet-101, the paper's ResNet model.

    Output stride 16, ASPP rates 6, 12, 18, a decoder over the stride-4 features;
    ``separable=True`` makes ASPP and the decoder atrous separable. Keywords: :func:`build_model`.
    """
    return _assemble("deeplabv3plus_resnet101", "resnet101", "v3+", output_stride, **options)


@register_model
def deeplabv3plus_mobilenet(*, output_stride: int = 16, **options) -> SegmentationModel:
    """DeepLab-v3+ (https://arxiv.org/abs/1802.02611) on MobileNetV3-Large.

    Output stride 16, ASPP rates 6, 12, 18, a decoder over the 24 stride-4 channels;
    ``separable=True`` cuts its cost most on this cheap backbone (lesson 05).
    Keywords: :func:`build_model`.
    """
    name = "deeplabv3plus_mobilenet"
    return _assemble(name, "mobilenet_v3_large", "v3+", output_stride, **options)
