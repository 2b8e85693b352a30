"""Checkers for the lessons' "Your turn" exercises.

Each ``check_*`` function takes the learner's answer, prints whether it is right
(with a hint when it is not) and returns a :class:`CheckResult`, which is truthy
when the answer is right and adds no clutter below the printed message. Expected values are
computed from the package, not typed in, so the checks and the lessons cannot drift.

Used in: 00-09.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class CheckResult:
    """The outcome of a check: ``bool(result)`` is whether the answer was right.

    Notebooks show nothing for it (the check has already printed its message).
    """

    def __init__(self, correct: bool, message: str) -> None:
        self.correct = bool(correct)
        self.message = message

    def __bool__(self) -> bool:
        return self.correct

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CheckResult):
            return self.correct == other.correct
        return self.correct == other

    __hash__ = None

    def __repr__(self) -> str:
        return f"CheckResult(correct={self.correct})"

    def _ipython_display_(self) -> None:
        """Display nothing: the message was printed when the check ran."""


def feedback(correct: bool, success: str, hint: str) -> CheckResult:
    """Print the outcome of a check and return it as a :class:`CheckResult`."""
    message = f"Correct! {success}" if correct else f"Not yet. {hint}"
    print(message)
    return CheckResult(bool(correct), message)


def unanswered(answer: object) -> bool:
    """Print a reminder and return ``True`` when the exercise still holds ``None``."""
    if answer is None:
        print("Not answered yet: replace the None with your answer and run the cell again.")
        return True
    return False


NOT_ANSWERED = CheckResult(False, "not answered")
"""What a check returns while the learner's answer is still ``None``."""


# --- 00 setup and tour ---------------------------------------------------------------


def check_class_index(name: str, answer: int) -> CheckResult:
    """Lesson 00: the mask value that stands for VOC class ``name``."""
    from dlcourse.viz import VOC_CLASSES

    if name not in VOC_CLASSES:
        raise ValueError(f"check_class_index: {name!r} is not a VOC class; see VOC_CLASSES")
    expected = VOC_CLASSES.index(name)
    if unanswered(answer):
        return NOT_ANSWERED
    return feedback(
        answer == expected,
        f"{name!r} is stored as {expected} in VOC masks.",
        "Class indices are positions in VOC_CLASSES, counting from 0 (background).",
    )


def check_class_color(name: str, answer: Sequence[int]) -> CheckResult:
    """Lesson 00: the RGB colour of VOC class ``name`` in the VOC palette."""
    from dlcourse.viz import VOC_CLASSES, VOC_PALETTE

    if name not in VOC_CLASSES:
        raise ValueError(f"check_class_color: {name!r} is not a VOC class; see VOC_CLASSES")
    expected = VOC_PALETTE[VOC_CLASSES.index(name)]
    if unanswered(answer):
        return NOT_ANSWERED
    answer = np.asarray(answer).reshape(-1)
    return feedback(
        answer.shape == (3,) and bool(np.all(answer == expected)),
        f"{name!r} is drawn as RGB {tuple(int(v) for v in expected)}.",
        "Look the class up in VOC_CLASSES, then take that row of VOC_PALETTE.",
    )


def check_pixel_fraction(mask: np.ndarray, class_index: int, answer: float) -> CheckResult:
    """Lesson 00: the fraction of pixels of ``mask`` labelled ``class_index`` (void counts)."""
    expected = float(np.mean(np.asarray(mask) == class_index))
    if unanswered(answer):
        return NOT_ANSWERED
    return feedback(
        abs(float(answer) - expected) < 1e-3,
        f"{expected:.1%} of the pixels have value {class_index}.",
        "Compare the mask with the class index (mask == k) and take the mean of the result.",
    )


# --- 01 receptive fields -------------------------------------------------------------


def check_rf_size(layers, answer: int) -> CheckResult:
    """Lesson 01: the receptive-field size of a chain of ``(kernel, stride, dilation)`` layers."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.rf import receptive_field

    expected = receptive_field(layers).size
    return feedback(
        int(answer) == expected,
        f"one output unit sees {expected}x{expected} input pixels.",
        "Start from size 1 and jump 1; each layer adds (k_eff - 1) * jump, then multiplies "
        "the jump by its stride.",
    )


def check_jump(layers, answer: int) -> CheckResult:
    """Lesson 01: the jump (cumulative stride) of a chain of ``(kernel, stride, dilation)`` layers."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.rf import receptive_field

    expected = receptive_field(layers).jump
    return feedback(
        int(answer) == expected,
        f"neighbouring outputs are {expected} input pixels apart.",
        "The jump is the product of all strides; kernels and dilations do not change it.",
    )


def check_layers_needed(target: int, answer: int) -> CheckResult:
    """Lesson 01: the fewest stride-1 3x3 convolutions whose RF is at least ``target`` pixels."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.rf import receptive_field

    expected = 0
    while receptive_field([(3, 1, 1)] * expected).size < target:
        expected += 1
    return feedback(
        int(answer) == expected,
        f"{expected} layers reach {receptive_field([(3, 1, 1)] * expected).size} pixels; "
        "linear growth is why deep nets need strides or dilation.",
        "Each stride-1 3x3 conv adds 2 pixels to the RF: solve 1 + 2n >= target for n.",
    )


def check_rf_design(layers, size: int, jump: int, max_layers: int = 3) -> CheckResult:
    """Lesson 01: a chain of at most ``max_layers`` layers with the given RF ``size`` and ``jump``.

    The chain is checked twice: with the arithmetic and by measuring the RF of a
    conv stack built from it.
    """
    if unanswered(layers):
        return NOT_ANSWERED
    from torch import nn

    from dlcourse.rf import measure_receptive_field, receptive_field

    layers = [tuple(int(v) for v in layer) for layer in layers]
    if not layers or len(layers) > max_layers:
        return feedback(False, "", f"Use between 1 and {max_layers} layers.")
    found = receptive_field(layers)
    modules = []
    for kernel, stride, dilation in layers:
        modules += [nn.Conv2d(1, 1, kernel, stride, dilation * (kernel - 1) // 2, dilation), nn.ReLU()]
    measured = measure_receptive_field(nn.Sequential(*modules), 2 * found.size + 8 * found.jump)
    return feedback(
        found.size == size and found.jump == jump and measured.size == (size, size),
        f"RF {found.size} and jump {found.jump}, and the measured RF agrees.",
        f"Your chain has RF {found.size} and jump {found.jump}; a stride early on multiplies "
        "what every later layer adds.",
    )


# --- 02 atrous convolution -----------------------------------------------------------


def check_output_size(size: int, kernel: int, answer: int, stride: int = 1, padding: int = 0,
                      dilation: int = 1) -> CheckResult:  # fmt: skip
    """Lesson 02: the output length of a (dilated) convolution."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.rf import conv_output_size

    expected = conv_output_size(size, kernel, stride, padding, dilation)
    return feedback(
        int(answer) == expected,
        f"{size} pixels in, {expected} out.",
        "Use floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1.",
    )


def check_same_padding(kernel: int, dilation: int, answer: int) -> CheckResult:
    """Lesson 02: the padding that keeps the size of a stride-1 dilated conv with an odd kernel."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.rf import effective_kernel

    if kernel % 2 == 0:
        raise ValueError(f"check_same_padding(kernel={kernel}): use an odd kernel size")
    expected = (effective_kernel(kernel, dilation) - 1) // 2
    return feedback(
        int(answer) == expected,
        f"padding {expected} keeps the size; for a 3x3 kernel the padding equals the dilation.",
        "The effective kernel spans d * (k - 1) + 1 pixels; pad half of what it removes on "
        "each side.",
    )


def check_hybrid_rates(rates, min_rf: int = 25, kernel: int = 3) -> CheckResult:
    """Lesson 02: dilation rates whose stack reaches ``min_rf`` pixels without gridding holes."""
    if unanswered(rates):
        return NOT_ANSWERED
    from dlcourse.rf import footprint

    grid = footprint(list(rates), kernel)
    covered = int(grid.sum())
    return feedback(
        grid.shape[0] >= min_rf and bool(grid.all()),
        f"RF {grid.shape[0]}x{grid.shape[0]} and every one of its {covered} pixels is reached.",
        f"Your rates give RF {grid.shape[0]} (need at least {min_rf}) and reach {covered} of "
        f"{grid.size} pixels; start with rate 1 and keep each rate at most the RF of the "
        "layers below it.",
    )


def check_feature_size(output_stride: int, input_size: int, answer: int) -> CheckResult:
    """Lesson 02: the side of ResNet's last feature map at ``output_stride`` 8, 16 or 32."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.rf import conv_output_size

    if output_stride not in (8, 16, 32):
        raise ValueError(f"check_feature_size(output_stride={output_stride}): use 8, 16 or 32")
    size = conv_output_size(input_size, 7, 2, 3)  # stem conv
    size = conv_output_size(size, 3, 2, 1)  # max pool: output stride 4
    for stride_at in (8, 16, 32):  # layer2, layer3, layer4 keep their stride up to output_stride
        if stride_at <= output_stride:
            size = conv_output_size(size, 3, 2, 1)
    return feedback(
        int(answer) == size,
        f"a {input_size}x{input_size} image gives a {size}x{size} map at output stride "
        f"{output_stride}.",
        "Apply the output-size formula to each stride-2 layer that is left: the stem conv "
        "(k7, p3), the max pool (k3, p1) and a 3x3 (p1) conv for each stride-2 stage.",
    )



# --- 06 data pipeline ----------------------------------------------------------------


def check_mask_values(path, answer) -> CheckResult:
    """Lesson 06: the sorted class indices stored in the mask file at ``path``."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.data import read_mask

    expected = sorted(int(v) for v in read_mask(path).unique())
    try:
        given = sorted(int(v) for v in np.asarray(answer).reshape(-1))
    except (TypeError, ValueError):
        given = None
    return feedback(
        given == expected,
        f"the file stores the indices {expected}; 255 is void, not a class.",
        "Open the PNG with PIL and take np.unique(np.asarray(image)) without converting it "
        "to RGB: a palette PNG stores class indices, and .convert('RGB') turns them into colours.",
    )


def check_pad_mask(pad_mask) -> CheckResult:
    """Lesson 06: ``pad_mask(mask, height, width)`` pads an (H, W) mask at the bottom and
    right with 255 up to ``height`` x ``width`` and leaves larger sides alone."""
    if unanswered(pad_mask):
        return NOT_ANSWERED
    import torch

    from dlcourse.viz import VOID_INDEX

    cases = [((2, 3), (4, 5)), ((5, 2), (3, 4)), ((3, 3), (3, 3))]
    for (h, w), (height, width) in cases:
        mask = torch.arange(h * w).reshape(h, w) % 21
        expected = torch.full((max(h, height), max(w, width)), VOID_INDEX, dtype=mask.dtype)
        expected[:h, :w] = mask
        try:
            got = torch.as_tensor(pad_mask(mask.clone(), height, width))
        except Exception as err:  # the learner's code may fail in any way
            return feedback(False, "", f"pad_mask raised {type(err).__name__}: {err}")
        if got.shape != expected.shape or not torch.equal(got.to(expected.dtype), expected):
            return feedback(
                False,
                "",
                f"for a {h}x{w} mask padded to {height}x{width} expected shape "
                f"{tuple(expected.shape)} with 255 below and right of the mask, got "
                f"{tuple(got.shape)}; torch.nn.functional.pad(mask, (0, dw, 0, dh), value=255) "
                "with dw, dh clamped at 0 does it.",
            )
    return feedback(True, "the padding is void, so the loss and the metrics ignore it.", "")


def check_background_share(dataset, answer) -> CheckResult:
    """Lesson 06: the share of labelled (non-void) pixels of ``dataset`` that are class 0."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.data import class_frequencies

    counts = class_frequencies(dataset)
    expected = float(counts[0]) / float(counts.sum())
    return feedback(
        abs(float(answer) - expected) < 1e-3,
        f"{expected:.1%} of the labelled pixels are background: a model that always says "
        f"'background' already scores {expected:.1%} pixel accuracy.",
        "Count every class over all masks (dlcourse.data.class_frequencies does it, void "
        "excluded) and divide the background count by the total.",
    )


# --- 03 backbone ---------------------------------------------------------------------


def check_bottleneck_params(inplanes: int, planes: int, answer: int) -> CheckResult:
    """Lesson 03: parameters of a ResNet bottleneck block (convs, BN, shortcut projection)."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.backbones import Bottleneck

    downsample = None
    if inplanes != 4 * planes:
        from torch import nn

        downsample = nn.Sequential(
            nn.Conv2d(inplanes, 4 * planes, 1, bias=False), nn.BatchNorm2d(4 * planes)
        )
    block = Bottleneck(inplanes, planes, downsample=downsample)
    expected = sum(p.numel() for p in block.parameters())
    return feedback(
        int(answer) == expected,
        f"Bottleneck({inplanes}, {planes}) has {expected:,} parameters.",
        "Add the three convs (in*out*k*k, no bias), two parameters per BatchNorm channel, and "
        "a 1x1 conv + BN shortcut when inplanes != 4 * planes.",
    )


def check_stage_dilations(output_stride: int, answer) -> CheckResult:
    """Lesson 03: the dilation of each of the 3 blocks of ResNet-50's last stage."""
    if unanswered(answer):
        return NOT_ANSWERED
    import torch

    from dlcourse.backbones import resnet

    with torch.device("meta"):
        net = resnet(50, output_stride=output_stride)
    expected = [block.conv2.dilation[0] for block in net.layer4]
    return feedback(
        [int(a) for a in answer] == expected,
        f"at output stride {output_stride} layer4 uses dilations {expected}.",
        "A dilated stage doubles the dilation, but its first block keeps the dilation the "
        "previous stage ended with.",
    )


def check_downsampling_blocks(answer) -> CheckResult:
    """Lesson 03: indices of the MobileNetV3-Large blocks that halve the resolution."""
    if unanswered(answer):
        return NOT_ANSWERED
    import torch

    from dlcourse.backbones import MobileNetV3Large

    with torch.device("meta"):
        net = MobileNetV3Large()
    expected = [i for i, block in enumerate(net.children()) if getattr(block, "downsamples", False)]
    return feedback(
        [int(a) for a in answer] == expected,
        f"blocks {expected} start a new stage (the stem conv, index 0, also has stride 2).",
        "Loop over enumerate(net.children()) and keep the indices whose block has "
        "downsamples == True.",
    )



# --- 04 ASPP -------------------------------------------------------------------------


def check_branch_span(rate: int, output_stride: int, answer: int) -> CheckResult:
    """Lesson 04: width in photo pixels of the area a 3x3 ASPP branch reads."""
    if unanswered(answer):
        return NOT_ANSWERED
    expected = (2 * rate + 1) * output_stride
    return feedback(
        int(answer) == expected,
        f"rate {rate} at output stride {output_stride} reads a {expected} px wide area.",
        "The taps are rate cells apart, so the 3x3 pattern spans 2 * rate + 1 feature cells; "
        "each cell is output_stride photo pixels wide.",
    )


def check_valid_taps(feature_size: int, rate: int, answer: int) -> CheckResult:
    """Lesson 04: taps of the centre cell's 3x3 branch that land on a square feature map."""
    if unanswered(answer):
        return NOT_ANSWERED
    centre = feature_size // 2
    inside = sum(0 <= centre + d * rate < feature_size for d in (-1, 0, 1)) ** 2
    return feedback(
        int(answer) == inside,
        f"{inside} of the 9 taps land on the {feature_size}x{feature_size} map; the others "
        "read zero padding.",
        "Per axis, count which of centre - rate, centre, centre + rate lie in "
        "0..feature_size - 1; the 2-D count is that number squared.",
    )


def check_aspp_channels(
    num_rates: int, branch_channels: int, pooling: bool, answer: int
) -> CheckResult:
    """Lesson 04: channels that enter ASPP's 1x1 projection (the concatenated branches)."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.layers import ASPP

    aspp = ASPP(8, tuple(range(1, num_rates + 1)), branch_channels, pooling=pooling)
    expected = aspp.project[0].in_channels
    return feedback(
        int(answer) == expected,
        f"{len(aspp.convs)} branches of {branch_channels} channels: {expected} channels.",
        "Count the branches: the 1x1 conv, one per rate, and the image pooling if it is on.",
    )



# --- 05 upsampling and decoder -------------------------------------------------------


def check_transposed_output_size(
    size: int, kernel: int, stride: int, padding: int, answer: int
) -> CheckResult:
    """Lesson 05: output side of a ``ConvTranspose2d`` for an input of side ``size``."""
    if unanswered(answer):
        return NOT_ANSWERED
    import torch
    from torch import nn

    with torch.device("meta"):
        up = nn.ConvTranspose2d(1, 1, kernel, stride=stride, padding=padding)
        expected = up(torch.empty(1, 1, size, size)).shape[-1]
    return feedback(
        int(answer) == expected,
        f"{size} -> {expected}.",
        "A transposed conv inverts the conv size formula: "
        "(size - 1) * stride - 2 * padding + kernel.",
    )


def check_decoder_channels(answer: int) -> CheckResult:
    """Lesson 05: channels that enter the first 3x3 conv of the DeepLab-v3+ decoder."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.layers import DeepLabV3PlusHead

    expected = DeepLabV3PlusHead(2048, 256, 21).decoder[0][0].in_channels
    return feedback(
        int(answer) == expected,
        f"{expected} = 256 (upsampled ASPP output) + 48 (projected low-level features).",
        "The decoder concatenates the ASPP output with the low-level features after their 1x1 "
        "projection.",
    )


def check_parameter_count(name: str, answer: float) -> CheckResult:
    """Lesson 05: parameters of ``build_model(name)`` in millions (within 1%)."""
    if unanswered(answer):
        return NOT_ANSWERED
    import torch

    from dlcourse.models import build_model, count_parameters

    with torch.device("meta"):
        expected = count_parameters(build_model(name)) / 1e6
    return feedback(
        abs(float(answer) - expected) <= 0.01 * expected,
        f"{name} has {expected:.2f} M parameters.",
        "Sum p.numel() over model.parameters() and divide by one million.",
    )


# --- 07 training ---------------------------------------------------------------------


def check_poly_lr(base_lr: float, step: int, total_steps: int, answer: float,
                  power: float = 0.9) -> CheckResult:  # fmt: skip
    """Lesson 07: the poly learning rate ``base_lr * (1 - step / total_steps) ** power``."""
    if unanswered(answer):
        return NOT_ANSWERED
    import math

    from dlcourse.train import PolyLR

    expected = base_lr * PolyLR(total_steps, power)(step)
    return feedback(
        math.isclose(float(answer), expected, rel_tol=1e-3, abs_tol=1e-9),
        f"at step {step} of {total_steps} the learning rate is {expected:.6g}.",
        "Divide the step by the total, subtract from 1, raise to the power 0.9, "
        "then multiply by the base learning rate.",
    )


def check_ignored_loss(logits, target, answer: float) -> CheckResult:
    """Lesson 07: the cross-entropy of ``logits`` (N, K, H, W) over non-void pixels of ``target``."""
    if unanswered(answer):
        return NOT_ANSWERED
    import math

    import torch.nn.functional as F

    expected = float(F.cross_entropy(logits.float(), target.long(), ignore_index=255))
    return feedback(
        math.isclose(float(answer), expected, rel_tol=1e-4, abs_tol=1e-6),
        f"the loss is {expected:.4f}: void pixels count neither in the sum nor in the mean.",
        "Take -log_softmax at each pixel's true class, keep only pixels whose label "
        "is not 255, and average over those pixels only.",
    )


def check_effective_batch(
    batch_size: int, accumulate: int, world_size: int, answer: int
) -> CheckResult:
    """Lesson 07: images behind one optimizer step with accumulation and several GPUs."""
    if unanswered(answer):
        return NOT_ANSWERED
    expected = batch_size * accumulate * world_size
    return feedback(
        int(answer) == expected,
        f"each optimizer step averages gradients over {expected} images.",
        "Every process runs `accumulate` forward/backward passes of `batch_size` images "
        "before the step, and DDP averages the gradients of all processes.",
    )


# --- 08 evaluation -------------------------------------------------------------------


def check_iou(confusion, class_index: int, answer: float) -> CheckResult:
    """Lesson 08: the IoU of class ``class_index`` read off a confusion matrix (rows: truth)."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.metrics import scores_from_confusion

    expected = float(scores_from_confusion(_confusion_tensor(confusion))["iou"][class_index])
    return feedback(
        abs(float(answer) - expected) < 1e-3,
        f"class {class_index} has IoU {expected:.4f}.",
        "IoU = TP / (TP + FP + FN): the diagonal entry, divided by its row sum plus its "
        "column sum minus the diagonal entry (counted twice otherwise).",
    )


def check_miou(confusion, answer: float) -> CheckResult:
    """Lesson 08: the mean IoU of a confusion matrix (classes absent everywhere left out)."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.metrics import scores_from_confusion

    expected = scores_from_confusion(_confusion_tensor(confusion))["miou"]
    return feedback(
        abs(float(answer) - expected) < 1e-3,
        f"the mIoU is {expected:.4f}.",
        "Compute every class's IoU, drop classes with no pixels in the labels and none in "
        "the predictions, and average the rest.",
    )


def check_tta_passes(scales, flip: bool, answer: int) -> CheckResult:
    """Lesson 08: forward passes that multi-scale (+ flip) inference makes per image."""
    if unanswered(answer):
        return NOT_ANSWERED
    expected = len(tuple(scales)) * (2 if flip else 1)
    return feedback(
        int(answer) == expected,
        f"{expected} forward passes: one per scale{', twice with the mirror' if flip else ''}.",
        "Each scale is one forward pass; flipping adds a mirrored copy of every scale.",
    )


def _confusion_tensor(values):
    """A confusion matrix (tensor, array or nested lists) as an int64 tensor."""
    import torch

    return torch.as_tensor(np.asarray(values), dtype=torch.int64)


# --- 09 CRF --------------------------------------------------------------------------


def check_bilateral_weight(pixel_i, pixel_j, theta_alpha: float, theta_beta: float, answer: float):
    """Lesson 09: the appearance kernel between two pixels ``(x, y, r, g, b)`` (without w1)."""
    if unanswered(answer):
        return NOT_ANSWERED
    import torch

    from dlcourse.crf import gaussian_kernel

    i, j = np.asarray(pixel_i, dtype=np.float64), np.asarray(pixel_j, dtype=np.float64)
    scale = np.array([theta_alpha] * 2 + [theta_beta] * 3, dtype=np.float64)
    features = torch.from_numpy(np.stack([i / scale, j / scale]))
    expected = float(gaussian_kernel(features)[0, 1])
    return feedback(
        abs(float(answer) - expected) <= 1e-4 + 1e-3 * expected,
        f"k = {expected:.4g}.",
        "k = exp(-|p_i - p_j|^2 / (2 theta_alpha^2) - |I_i - I_j|^2 / (2 theta_beta^2)), with "
        "p = (x, y) and I = (r, g, b); square the distances before dividing.",
    )


def check_mean_field_step(step_fn):
    """Lesson 09: a function ``step_fn(unary, kernel, w) -> Q`` doing one Potts mean-field update.

    ``unary`` is ``(N, C)``, ``kernel`` the ``(N, N)`` Gaussian kernel, ``w`` the weight;
    the kernel is normalised symmetrically and ``Q`` starts as ``softmax(-unary)``.
    """
    if unanswered(step_fn):
        return NOT_ANSWERED
    import torch

    from dlcourse.crf import mean_field

    generator = torch.Generator().manual_seed(9)
    features = torch.rand(12, 2, generator=generator) * 3
    unary = torch.rand(12, 4, generator=generator) * 3
    kernel = torch.exp(-0.5 * torch.cdist(features, features) ** 2)

    class Exact:
        def __call__(self, values):
            norm = kernel.sum(dim=1, keepdim=True).rsqrt()
            return norm * (kernel @ (norm * values))

    expected = torch.softmax(mean_field(unary, [Exact()], [2.5], None, 1), dim=1)
    try:
        got = torch.as_tensor(step_fn(unary.clone(), kernel.clone(), 2.5), dtype=torch.float32)
    except Exception as err:  # the learner's code: report any failure as a hint
        return feedback(False, "", f"your function raised {type(err).__name__}: {err}")
    ok = got.shape == expected.shape and torch.allclose(got, expected, atol=1e-4)
    return feedback(
        ok,
        "one update: filter Q, weight it, add it to -U, normalise with a softmax.",
        "Q = softmax(-U); D = kernel.sum(1); m = D^-1/2 * (kernel @ (D^-1/2 * Q)); "
        "return softmax(-U + w * m) (Potts: the label's own message counts positively).",
    )


def check_splat_corners(dim: int, answer: int):
    """Lesson 09: how many lattice vertices one pixel splats onto, for ``dim``-D features."""
    if unanswered(answer):
        return NOT_ANSWERED
    expected = dim + 1
    return feedback(
        int(answer) == expected,
        f"{expected} vertices: the corners of the simplex that holds the point, so splatting "
        f"costs {expected} x C multiply-adds per pixel, not N x C.",
        "The permutohedral lattice tiles space with simplices; a simplex in d dimensions has "
        "d + 1 corners.",
    )
