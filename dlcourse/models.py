"""The DeepLab family (v1 LargeFOV, v2, v3, v3+) and a name-to-builder registry.

``build_model("deeplabv3plus_mobilenet", num_classes=21)`` builds a model by name;
``list_models()`` lists the names. Models return ``{"out": ...}`` (plus ``"aux"``) at
the input resolution, like torchvision's. Nothing is downloaded unless a builder is
asked for ``weights`` or ``weights_backbone``; ``dlcourse.weights`` downloads them
(``torch.hub``, hash-checked) into ``dlcourse.env.cache_dir() / "weights"``;
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

from dlcourse.backbones import VGG16, MobileNetV3Large, check_output_stride, resnet
from dlcourse.layers import (
    ASPPPooling,
    ASPPv2,
    DeepLabHead,
    DeepLabV3PlusHead,
    FCNHead,
    LargeFOVHead,
    freeze_batchnorm,
    positive_ints,
)
from dlcourse.weights import WEIGHTS, load_weights


class SegmentationModel(nn.Module):
    """Backbone -> head -> bilinear upsampling to the input size (plus an optional aux head).

    The head gets ``features["out"]``, or the whole feature dict when it has
    ``uses_features = True`` (the v3+ decoder). Attribute names (``backbone``,
    ``classifier``, ``aux_classifier``) match torchvision's DeepLabV3.

    Args:
        backbone: returns a feature dict and has ``output_stride``.
        head: maps features to class scores.
        aux_head: maps ``features["aux"]`` to class scores, or ``None``.

    Shape: ``(N, 3, H, W) -> {"out": (N, K, H, W), "aux": (N, K, H, W)}``.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, aux_head: nn.Module | None = None):
        super().__init__()
        self.backbone = backbone
        self.classifier = head
        self.aux_classifier = aux_head
        self.output_stride = int(backbone.output_stride)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self._check_input(x)
        size = x.shape[-2:]
        features = self.backbone(x)
        uses_dict = getattr(self.classifier, "uses_features", False)
        scores = self.classifier(features if uses_dict else features["out"])
        result = {"out": F.interpolate(scores, size=size, mode="bilinear", align_corners=False)}
        if self.aux_classifier is not None:
            aux = self.aux_classifier(features["aux"])
            result["aux"] = F.interpolate(aux, size=size, mode="bilinear", align_corners=False)
        return result

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                f"input of shape {tuple(x.shape)}: expected RGB images (N, 3, H, W); "
                "add a batch dimension with x[None] or convert grey images to 3 channels"
            )
        if min(x.shape[-2:]) < self.output_stride:
            raise ValueError(
                f"input of size {x.shape[-2]}x{x.shape[-1]} is smaller than the output stride "
                f"{self.output_stride}; use images of at least {self.output_stride} px per side "
                "or a smaller output_stride"
            )
        if (
            self.training
            and x.shape[0] == 1
            and any(
                type(m.get_submodule("2")) is nn.BatchNorm2d
                for m in self.modules()
                if isinstance(m, ASPPPooling)
            )
        ):
            raise ValueError(
                "a batch of 1 image in train mode: the ASPP image-pooling branch's BatchNorm "
                "needs at least 2 values per channel; use a batch of 2 or more, or call model.eval()"
            )


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

    Common keywords: ``num_classes=21``, ``output_stride``, ``aux_loss=False``,
    ``weights=None``, ``weights_backbone=None``, ``freeze_bn=False``, ``channels_last=False``;
    the v3+ models also take ``separable=True``.
    """
    if name not in _MODELS:
        raise ValueError(f"build_model: unknown model {name!r}; choose one of {list_models()}")
    return _MODELS[name](**kwargs)


# --- weights (files and downloads: dlcourse.weights) ---------------------------------


def _backbone_state(state: dict[str, Tensor], backbone: nn.Module) -> dict[str, Tensor]:
    """Adapt an ImageNet classifier's state_dict to one of our backbones (drop the classifier)."""
    own = backbone.state_dict()
    if isinstance(backbone, MobileNetV3Large):
        state = {
            k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")
        }
    return {k: v for k, v in state.items() if k in own or not k.startswith(("fc.", "classifier."))}


# --- builders ------------------------------------------------------------------------


def aspp_rates(output_stride: int, rates_at_16: Sequence[int] = (6, 12, 18)) -> tuple[int, ...]:
    """ASPP rates for an output stride: ``rates_at_16`` scaled by ``16 / output_stride``.

    DeepLab-v3 uses (6, 12, 18) at output stride 16 and (12, 24, 36) at 8.
    """
    check_output_stride(output_stride)
    return tuple(max(1, rate * 16 // output_stride) for rate in rates_at_16)


def _backbone(kind: str, output_stride: int, multi_grid: Sequence[int] | None = None) -> nn.Module:
    check_output_stride(output_stride)
    if kind.startswith("resnet"):
        depth = int(kind.removeprefix("resnet"))
        return resnet(depth, output_stride=output_stride, multi_grid=multi_grid)
    if multi_grid is not None:
        raise ValueError(f"multi_grid={tuple(multi_grid)}: only ResNet backbones take it")
    if kind == "mobilenet_v3_large":
        return MobileNetV3Large(output_stride=output_stride)
    return VGG16(output_stride=output_stride)


HeadMaker = Callable[[nn.Module, int, int, "Sequence[int] | None"], nn.Module]

BUILDER_ARGS = """

    Args:
        num_classes: classes to predict (21 for VOC).
        output_stride: 8, 16 or 32; ASPP rates follow it unless ``atrous_rates`` is given.
        aux_loss: add the FCN auxiliary head on stage 3 (``"aux"`` output).
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


def _builder(name: str, backbone_kind: str, default_os: int, make_head: HeadMaker, doc: str):
    """Make, document and register the keyword-only builder ``name``."""

    def builder(
        *,
        num_classes: int = 21,
        output_stride: int = default_os,
        aux_loss: bool = False,
        weights: str | Path | None = None,
        weights_backbone: str | Path | None = None,
        freeze_bn: bool = False,
        channels_last: bool = False,
        atrous_rates: Sequence[int] | None = None,
        multi_grid: Sequence[int] | None = None,
        separable: bool = False,
    ) -> SegmentationModel:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes={num_classes!r}: give a positive integer (21 for VOC)")
        if not isinstance(separable, bool):
            raise TypeError(f"{name}(separable={separable!r}): give True or False")
        if separable and not getattr(make_head, "takes_separable", False):
            raise ValueError(
                f"separable=True: {name} has no separable option; only the deeplabv3plus_* "
                "models take it"
            )
        if atrous_rates is not None:
            atrous_rates = positive_ints(atrous_rates, "atrous_rates", name)
        backbone = _backbone(backbone_kind, output_stride, multi_grid)
        if weights_backbone is not None:
            source = backbone_kind if weights_backbone == "imagenet" else weights_backbone
            state = _backbone_state(load_weights(source), backbone)
            backbone.load_state_dict(state, strict=True)
        if aux_loss and "aux" not in backbone.channels:
            raise ValueError(f"aux_loss=True: {name} has no auxiliary head; use aux_loss=False")
        aux = FCNHead(backbone.channels["aux"], num_classes) if aux_loss else None
        options = {"separable": True} if separable else {}
        head = make_head(backbone, num_classes, output_stride, atrous_rates, **options)
        model = SegmentationModel(backbone, head, aux)
        if weights is not None:
            _load_model_weights(model, name, weights, num_classes, aux_loss)
        if freeze_bn:
            freeze_batchnorm(model.backbone)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc + BUILDER_ARGS
    return register_model(builder)


def _load_model_weights(model, name, weights, num_classes, aux_loss) -> None:
    source = name if weights == "default" else weights
    if source == name and name not in WEIGHTS:
        raise ValueError(f"weights='default': there are no published weights for {name}")
    state = load_weights(source)
    if not aux_loss:
        state = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    classes = state.get("classifier.4.bias", torch.empty(num_classes)).shape[0]
    if classes != num_classes:
        raise ValueError(
            f"weights {source!r} predict {classes} classes; build with num_classes={classes}"
        )
    model.load_state_dict(state, strict=True)


def _largefov(backbone, num_classes, output_stride, rates):
    return LargeFOVHead(
        backbone.channels["out"], num_classes, (rates or [12 * 8 // output_stride])[0]
    )


def _aspp_v2(backbone, num_classes, output_stride, rates):
    rates = rates or [rate * 8 // output_stride for rate in (6, 12, 18, 24)]
    return ASPPv2(backbone.channels["out"], num_classes, rates)


def _aspp_v3(rates_at_16: Sequence[int]) -> HeadMaker:
    def make(backbone, num_classes, output_stride, rates):
        rates = rates or aspp_rates(output_stride, rates_at_16)
        return DeepLabHead(backbone.channels["out"], num_classes, rates)

    return make


def _decoder(backbone, num_classes, output_stride, rates, separable=False):
    rates = rates or aspp_rates(output_stride)
    return DeepLabV3PlusHead(
        backbone.channels["out"], backbone.channels["low"], num_classes, rates, separable=separable
    )


_decoder.takes_separable = True  # the builders pass separable=True only to the v3+ head


V1 = "DeepLab-v1 LargeFOV (arXiv:1412.7062): VGG-16 at output stride 8, fc6 with dilation 12."
V2 = "DeepLab-v2 (arXiv:1606.00915): ResNet-{}, output stride 8, ASPP rates 6/12/18/24 summed."
V3 = "DeepLab-v3 (arXiv:1706.05587) on {}: output stride {} by default (as torchvision), ASPP {}."
V3P = "DeepLab-v3+ (arXiv:1802.02611) on {}: output stride 16, ASPP 6/12/18, decoder over stride 4."

deeplabv1_largefov = _builder("deeplabv1_largefov", "vgg16", 8, _largefov, V1)
deeplabv2_resnet101 = _builder("deeplabv2_resnet101", "resnet101", 8, _aspp_v2, V2.format(101))
deeplabv3_resnet18 = _builder(
    "deeplabv3_resnet18",
    "resnet18",
    8,
    _aspp_v3((6, 12, 18)),
    V3.format("ResNet-18", 8, "12/24/36"),
)
deeplabv3_resnet50 = _builder(
    "deeplabv3_resnet50",
    "resnet50",
    8,
    _aspp_v3((6, 12, 18)),
    V3.format("ResNet-50", 8, "12/24/36"),
)
deeplabv3_resnet101 = _builder(
    "deeplabv3_resnet101", "resnet101", 8, _aspp_v3((6, 12, 18)),
    V3.format("ResNet-101", 8, "12/24/36"),
)  # fmt: skip
# torchvision keeps rates 12/24/36 for MobileNetV3 at output stride 16; so does the course.
deeplabv3_mobilenet_v3_large = _builder(
    "deeplabv3_mobilenet_v3_large", "mobilenet_v3_large", 16, _aspp_v3((12, 24, 36)),
    V3.format("MobileNetV3-Large", 16, "12/24/36 (torchvision's choice)"),
)  # fmt: skip
deeplabv3plus_resnet18 = _builder(
    "deeplabv3plus_resnet18", "resnet18", 16, _decoder, V3P.format("ResNet-18")
)
deeplabv3plus_resnet50 = _builder(
    "deeplabv3plus_resnet50", "resnet50", 16, _decoder, V3P.format("ResNet-50")
)
deeplabv3plus_resnet101 = _builder(
    "deeplabv3plus_resnet101", "resnet101", 16, _decoder, V3P.format("ResNet-101")
)
deeplabv3plus_mobilenet = _builder(
    "deeplabv3plus_mobilenet", "mobilenet_v3_large", 16, _decoder, V3P.format("MobileNetV3-Large")
)
