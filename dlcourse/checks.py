"""Checkers for the lessons' "Your turn" exercises.

Each ``check_*`` function takes the learner's answer, prints whether it is right
(with a hint when it is not) and returns a :class:`CheckResult`, which is truthy
when the answer is right and adds no clutter below the printed message. Expected values are
computed from the package, not typed in, so the checks and the lessons cannot drift.

Used in: 00-10.
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


def whole_number(answer: object) -> int | None:
    """``answer`` as an int when it is a whole number (``12``, ``12.0``, ``np.int64(12)``), else ``None``."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int | np.integer):
        return int(answer)
    if isinstance(answer, float | np.floating) and float(answer).is_integer():
        return int(answer)
    return None


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
    """Lesson 00: the fraction of *all* pixels of ``mask`` that hold ``class_index``.

    The answer must be right to half a pixel: a share of the labelled (non-void)
    pixels only, a percentage or a rounded value is off by more than that.
    """
    mask = np.asarray(mask)
    if mask.size == 0:
        raise ValueError("check_pixel_fraction: the mask is empty")
    expected = float(np.mean(mask == class_index))
    if unanswered(answer):
        return NOT_ANSWERED
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return feedback(False, "", f"Give one number between 0 and 1, not {type(answer).__name__}.")
    if 1 < value <= 100:
        hint = "That looks like a percentage; give a fraction between 0 and 1."
    else:
        hint = (
            "Compare the mask with the value (mask == k) and take the mean over the whole mask: "
            "every pixel counts, void ones too, and do not round."
        )
    return feedback(
        abs(value - expected) <= 0.5 / mask.size,
        f"{expected:.2%} of the {mask.size} pixels have value {class_index}.",
        hint,
    )


def check_color_to_index(color_to_index) -> CheckResult:
    """Lesson 00: ``color_to_index((r, g, b))`` undoes the VOC palette's bit spreading.

    Runs the learner's function on all 256 palette colours (not only the 21 classes)
    and compares with :func:`dlcourse.viz.voc_colormap`.
    """
    if unanswered(color_to_index):
        return NOT_ANSWERED
    from dlcourse.viz import voc_colormap

    if not callable(color_to_index):
        return feedback(False, "", "Give a function: def color_to_index(rgb): ... return index")
    colormap = voc_colormap(256)
    order = [15, 8, 0, 255, *range(1, 255)]  # a few telling ones first
    for index in order:
        rgb = tuple(int(v) for v in colormap[index])
        try:
            got = color_to_index(rgb)
        except Exception as err:  # the learner's code may fail in any way
            return feedback(False, "", f"color_to_index({rgb}) raised {type(err).__name__}: {err}")
        if got is None or int(got) != index:
            return feedback(
                False,
                "",
                f"color_to_index({rgb}) returned {got!r}, expected {index}. Read bit 7 (128) of red, "
                "green and blue for the three lowest bits of the index, then bit 6 for the next three, "
                "and so on.",
            )
    return feedback(True, "all 256 palette colours map back to their index.", "")


# --- 01 receptive fields -------------------------------------------------------------


def check_rf_size(layers, answer: int) -> CheckResult:
    """Lesson 01: the receptive-field size of a chain of ``(kernel, stride, dilation)`` layers."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.rf import receptive_field

    expected = receptive_field(layers).size
    return feedback(
        whole_number(answer) == expected,
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
        whole_number(answer) == expected,
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
        whole_number(answer) == expected,
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

    try:
        layers = [tuple(layer) for layer in layers]
    except TypeError:
        return feedback(False, "", "Give a list of (kernel, stride, dilation) tuples, e.g. [(3, 2, 1)].")
    if not layers or len(layers) > max_layers:
        return feedback(False, "", f"Use between 1 and {max_layers} layers.")
    if any(len(layer) != 3 or any(whole_number(v) is None or v < 1 for v in layer) for layer in layers):
        return feedback(False, "", "Each layer is a (kernel, stride, dilation) tuple of whole numbers >= 1.")
    layers = [tuple(int(v) for v in layer) for layer in layers]
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


def check_rf_function(rf_table) -> CheckResult:
    """Lesson 01: ``rf_table(layers)`` returns ``(size, jump, start)`` after every layer.

    ``layers`` are ``(kernel, stride, dilation, padding)`` tuples. The learner's function
    runs on chains it has not seen (strides, dilations, too little and too much
    padding) and is compared with :func:`dlcourse.rf.receptive_fields`.
    """
    if unanswered(rf_table):
        return NOT_ANSWERED
    from dlcourse.rf import receptive_fields

    if not callable(rf_table):
        return feedback(False, "", "Give a function: def rf_table(layers): ... return rows")
    chains = [
        [(3, 1, 1, 1)],
        [(5, 1, 1, 0), (3, 1, 1, 0)],
        [(3, 2, 1, 0), (3, 1, 2, 2), (2, 2, 1, 0)],
        [(7, 2, 1, 3), (3, 2, 1, 1), (1, 2, 1, 0), (3, 1, 1, 1)],
        [(3, 1, 3, 1), (4, 2, 1, 1), (3, 3, 2, 0), (5, 1, 1, 4)],
    ]
    for chain in chains:
        expected = [(rf.size, rf.jump, rf.start) for rf in receptive_fields(chain)]
        try:
            got = [tuple(row) for row in rf_table(list(chain))]
        except Exception as err:  # the learner's code may fail in any way
            return feedback(False, "", f"rf_table({chain}) raised {type(err).__name__}: {err}")
        if len(got) != len(expected):
            return feedback(False, "", f"rf_table({chain}) gave {len(got)} rows; give one per layer.")
        for number, (row, want) in enumerate(zip(got, expected, strict=True), start=1):
            names = ("size", "jump", "start")
            wrong = [n for n, a, b in zip(names, row, want, strict=False) if abs(float(a) - b) > 1e-9]
            if len(row) != 3 or wrong:
                return feedback(
                    False,
                    "",
                    f"for {chain}, layer {number}: expected (size, jump, start) = {want}, got {row}. "
                    "Update size and start with the jump of the layer below, and only then multiply "
                    "the jump by the stride; the start moves by ((k_eff - 1) / 2 - padding) * jump.",
                )
    return feedback(True, f"your recursion matches dlcourse.rf on {len(chains)} chains it had not seen.", "")

# --- 02 atrous convolution -----------------------------------------------------------


def check_output_size(size: int, kernel: int, answer: int, stride: int = 1, padding: int = 0,
                      dilation: int = 1) -> CheckResult:  # fmt: skip
    """Lesson 02: the output length of a (dilated) convolution."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.rf import conv_output_size

    expected = conv_output_size(size, kernel, stride, padding, dilation)
    return feedback(
        whole_number(answer) == expected,
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
        whole_number(answer) == expected,
        f"padding {expected} keeps the size; for a 3x3 kernel the padding equals the dilation.",
        "The effective kernel spans d * (k - 1) + 1 pixels; pad half of what it removes on "
        "each side.",
    )


def check_hybrid_rates(rates, min_rf: int = 25, kernel: int = 3, layers: int = 3) -> CheckResult:
    """Lesson 02: ``layers`` dilation rates whose stack reaches ``min_rf`` pixels without holes."""
    if unanswered(rates):
        return NOT_ANSWERED
    from dlcourse.rf import footprint

    if isinstance(rates, int | np.integer) or not isinstance(rates, Sequence | np.ndarray):
        return feedback(False, "", f"Give {layers} rates as a tuple, e.g. (1, 2, 3).")
    rates = list(rates)
    if len(rates) != layers:
        return feedback(False, "", f"Give exactly {layers} rates, one per conv; you gave {len(rates)}.")
    if not all(isinstance(r, int | np.integer) and not isinstance(r, bool) and r >= 1 for r in rates):
        return feedback(False, "", "Every rate must be a whole number of at least 1.")
    grid = footprint(rates, kernel)
    covered = int(grid.sum())
    return feedback(
        grid.shape[0] >= min_rf and bool(grid.all()),
        f"RF {grid.shape[0]}x{grid.shape[0]} and every one of its {covered} pixels is reached.",
        f"Your rates give RF {grid.shape[0]} (need at least {min_rf}) and reach {covered} of "
        f"{grid.size} pixels; sorted, the rates should start with 1 and each be at most the RF "
        "of the smaller ones (1 + 2 * their sum).",
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
        whole_number(answer) == size,
        f"a {input_size}x{input_size} image gives a {size}x{size} map at output stride "
        f"{output_stride}.",
        "Apply the output-size formula to each stride-2 layer that is left: the stem conv "
        "(k7, p3), the max pool (k3, p1) and a 3x3 (p1) conv for each stride-2 stage.",
    )


def _tensor_mismatch(got, expected, case: str, shape_hint: str, value_hint: str) -> str:
    """What is wrong with a learner's tensor ``got`` for ``case`` ("" when it matches ``expected``)."""
    import torch

    if got.shape != expected.shape:
        return f"for {case} expected shape {tuple(expected.shape)}, got {tuple(got.shape)}; {shape_hint}"
    if not torch.allclose(got.to(expected.dtype), expected, atol=1e-8, rtol=1e-6):
        return f"for {case} the shape is right but the values differ: {value_hint}"
    return ""


def check_conv_by_unfold(conv_by_unfold) -> CheckResult:
    """Lesson 02: ``conv_by_unfold(x, weight, bias, dilation, padding)`` equals ``F.conv2d``.

    Stride 1; ``x`` is ``(N, C, H, W)``, ``weight`` ``(K, C, k, k)``, ``bias`` ``(K,)``.
    The learner's function runs on shapes it has not seen with convolutions switched
    off (``F.conv2d`` raises inside the check), so it must use ``F.unfold``.
    """
    if unanswered(conv_by_unfold):
        return NOT_ANSWERED
    import torch
    from torch.nn import functional as F

    if not callable(conv_by_unfold):
        return feedback(False, "", "Give a function: def conv_by_unfold(x, weight, bias, dilation, padding): ...")
    generator = torch.Generator().manual_seed(2)
    cases = [  # (N, C, H, W), (K, k), dilation, padding
        ((1, 1, 9, 9), (1, 3), 2, 0),
        ((2, 3, 11, 9), (5, 3), 2, 2),
        ((1, 2, 12, 10), (4, 5), 3, 6),
        ((3, 4, 8, 13), (2, 3), 1, 1),
        ((1, 3, 15, 15), (6, 3), 4, 1),
    ]
    original = F.conv2d

    def blocked(*args, **kwargs):
        raise RuntimeError("F.conv2d is switched off in this check: build the output from F.unfold")

    for (n, c, h, w), (k_out, k), dilation, padding in cases:
        x = torch.randn(n, c, h, w, generator=generator, dtype=torch.float64)
        weight = torch.randn(k_out, c, k, k, generator=generator, dtype=torch.float64)
        bias = torch.randn(k_out, generator=generator, dtype=torch.float64)
        expected = original(x, weight, bias, padding=padding, dilation=dilation)
        F.conv2d = torch.conv2d = blocked
        try:
            got = conv_by_unfold(x, weight, bias, dilation, padding)
        except Exception as err:  # the learner's code may fail in any way
            return feedback(
                False, "", f"for x {tuple(x.shape)}, weight {tuple(weight.shape)}, dilation {dilation}, "
                f"padding {padding} it raised {type(err).__name__}: {err}"
            )
        finally:
            F.conv2d = torch.conv2d = original
        case = f"x {tuple(x.shape)}, weight {tuple(weight.shape)}, dilation {dilation}, padding {padding}"
        if got is None:
            return feedback(False, "", "conv_by_unfold returned None: return the output tensor.")
        try:
            got = torch.as_tensor(got)
        except (TypeError, ValueError, RuntimeError):
            return feedback(False, "", f"for {case} it returned a {type(got).__name__}, not a tensor.")
        wrong = _tensor_mismatch(
            got, expected, case, "the output side is H + 2 * padding - dilation * (k - 1).",
            "reshape the weight to (K, C * k * k), multiply with the unfolded columns, add "
            "bias[:, None], then reshape.",
        )  # fmt: skip
        if wrong:
            return feedback(False, "", wrong)
    return feedback(True, f"matches F.conv2d on {len(cases)} convolutions it had not seen.", "")


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

def _call_answer(function, *args):
    """Call the learner's ``function``: ``(result, None)``, or ``(None, hint)`` when it raised."""
    try:
        return function(*args), None
    except Exception as err:  # the learner's code may fail in any way
        name = getattr(function, "__name__", "your function")
        return None, f"{name} raised {type(err).__name__}: {err}"


def check_flip_pad_crop(flip_pad_crop) -> CheckResult:
    """Lesson 06: ``flip_pad_crop(image, mask, crop)`` applies one random flip and crop to both.

    The learner's function gets a ``(3, H, W)`` uint8 photo and an ``(H, W)`` int64 mask.
    It must flip both left-right with probability 1/2, pad both up to ``crop`` x ``crop``
    where they are smaller (photo with 0, mask with void 255) and cut the same random
    ``crop`` x ``crop`` window from both. The check calls it on fresh random pictures,
    larger and smaller than the crop, whose pixels record where they came from, and
    follows every output pixel back to its source.
    """
    if unanswered(flip_pad_crop):
        return NOT_ANSWERED
    import random

    import torch

    from dlcourse.viz import VOID_INDEX

    if not callable(flip_pad_crop):
        return feedback(False, "", "Give a function: def flip_pad_crop(image, mask, crop): ...")
    generator = torch.Generator().manual_seed(606)
    crop = int(torch.randint(20, 29, (), generator=generator))
    sizes = [(crop + 13, crop + 17), (crop - 7, crop - 5), (crop - 6, crop + 11), (crop + 9, crop)]
    flips, tops, python_state = [], set(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        random.seed(7)
        try:
            for number, (height, width) in enumerate(sizes):
                rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
                tag = torch.randint(1, 256, (height, width), generator=generator)
                image = torch.stack([rows + 1, cols + 1, tag]).to(torch.uint8)  # no 0 anywhere
                mask = torch.randint(0, 21, (height, width), generator=generator)
                for _ in range(24):
                    outcome = _follow_crop(flip_pad_crop, image, mask, crop, tag)
                    if isinstance(outcome, str):
                        return feedback(False, "", outcome)
                    flips.append(outcome[0])
                    if number == 0:
                        tops.add(outcome[1])
        finally:
            random.setstate(python_state)
    if not 0.2 < sum(flips) / len(flips) < 0.8:
        return feedback(False, "", f"{sum(flips)} of {len(flips)} calls flipped the pictures; "
                        "flip with probability 1/2, e.g. when torch.rand(()) < 0.5.")  # fmt: skip
    if len(tops) < 4:
        return feedback(False, "", "the window is (almost) always cut at the same place; draw "
                        "its top and left corner at random, e.g. with torch.randint.")  # fmt: skip
    return feedback(True, "photo and mask got the same flip and the same window, and the "
                    f"padding is void ({VOID_INDEX}), which the loss and the metrics ignore.", "")  # fmt: skip


def _follow_crop(function, image, mask, crop, tag):
    """One call of the learner's ``flip_pad_crop``: ``(flipped, top)``, or a hint (a str)."""
    import torch

    from dlcourse.viz import VOID_INDEX

    height, width = mask.shape
    result, hint = _call_answer(function, image.clone(), mask.clone(), crop)
    if hint:
        return hint
    try:
        out_image, out_mask = (torch.as_tensor(part) for part in result)
    except (TypeError, ValueError):
        return "return the pair (image, mask)."
    if tuple(out_image.shape) != (3, crop, crop) or tuple(out_mask.shape) != (crop, crop):
        return (f"for a {height}x{width} picture and crop={crop} expected shapes (3, {crop}, "
                f"{crop}) and ({crop}, {crop}), got {tuple(out_image.shape)} and "
                f"{tuple(out_mask.shape)}; pad to at least crop x crop, then cut the window.")  # fmt: skip
    rows, cols = out_image[0].long() - 1, out_image[1].long() - 1
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    source = torch.zeros_like(inside)
    source[inside] = tag[rows[inside], cols[inside]] == out_image[2].long()[inside]
    if not source.any():
        return "the output photo holds none of the input's pixels; move pixels, don't change them."
    out_rows, out_cols = torch.nonzero(source, as_tuple=True)
    top = (rows[source] - out_rows).unique()
    mirrored = (cols[source] + out_cols).unique()
    straight = (cols[source] - out_cols).unique()
    if len(top) != 1 or (len(mirrored) != 1 and len(straight) != 1):
        return "the photo was not cut as one window; flip and crop, but don't resize or rotate."
    if int(source.sum()) != min(height, crop) * min(width, crop):
        return (f"a {height}x{width} picture should fill {min(height, crop)}x{min(width, crop)} "
                "pixels of the crop; pad only where the picture is smaller than the crop, and "
                "keep the whole picture then.")  # fmt: skip
    if not torch.equal(out_mask[source].long(), mask[rows[source], cols[source]]):
        return ("the mask no longer sits on the photo: draw the flip and the window once and "
                "apply the same ones to the photo and to the mask.")  # fmt: skip
    padding = out_mask[~source].long()
    if padding.numel() and not bool((padding == VOID_INDEX).all()):
        if bool((padding == 0).any()):
            return (f"the mask's padded border holds 0 (background); pad the mask with "
                    f"{VOID_INDEX} (void), which the loss ignores.")  # fmt: skip
        return f"the mask's padded border must be {VOID_INDEX} (void)."
    return len(mirrored) == 1, int(top[0])


def check_class_shares(class_shares) -> CheckResult:
    """Lesson 06: ``class_shares(masks, num_classes)``: each class's share of the labelled pixels.

    ``masks`` is a list of ``(H, W)`` int64 masks; void (255) pixels count for no class
    and are left out of the total. The result is a float tensor of length
    ``num_classes`` summing to 1. The check runs the learner's function on fresh random
    masks, one set of them without any pixel of the last class.
    """
    if unanswered(class_shares):
        return NOT_ANSWERED
    import torch

    from dlcourse.viz import VOID_INDEX

    if not callable(class_shares):
        return feedback(False, "", "Give a function: def class_shares(masks, num_classes): ...")
    generator = torch.Generator().manual_seed(66)
    for num_classes, absent in ((5, None), (4, 3)):
        masks = []
        for height, width in ((7, 9), (12, 5), (6, 6)):
            mask = torch.randint(0, num_classes - (absent is not None), (height, width),
                                 generator=generator)  # fmt: skip
            mask[torch.rand(height, width, generator=generator) < 0.3] = VOID_INDEX
            masks.append(mask)
        labelled = torch.cat([m[m != VOID_INDEX] for m in masks])
        expected = torch.bincount(labelled, minlength=num_classes).double() / labelled.numel()
        got, hint = _call_answer(class_shares, [m.clone() for m in masks], num_classes)
        if hint:
            return feedback(False, "", hint)
        try:
            got = torch.as_tensor(got, dtype=torch.float64).reshape(-1)
        except (TypeError, ValueError, RuntimeError):
            return feedback(False, "", "return a tensor with one share per class.")
        if got.numel() != num_classes:
            return feedback(False, "", f"with num_classes={num_classes} return {num_classes} "
                            f"shares, got {got.numel()}; torch.bincount(..., minlength="
                            "num_classes) keeps classes that no pixel has.")  # fmt: skip
        if not torch.allclose(got, expected, atol=1e-6):
            total = sum(m.numel() for m in masks)
            if torch.allclose(got * total / labelled.numel(), expected, atol=1e-6):
                hint = "you divided by every pixel; void pixels are no class: leave them out of the total."
            elif torch.allclose(got, 100 * expected, atol=1e-4):
                hint = "give shares between 0 and 1, not percentages."
            else:
                hint = ("drop the void pixels (mask != 255), count each class over all masks "
                        "together (torch.bincount), then divide by the number of labelled pixels.")  # fmt: skip
            return feedback(False, "", hint)
    return feedback(True, "void pixels are neither counted nor in the total, and a class no "
                    "pixel has still gets its share, 0.", "")  # fmt: skip


def check_rgb_to_labels(rgb_to_labels) -> CheckResult:
    """Lesson 06: ``rgb_to_labels(rgb, colors)`` turns a colour mask into class indices.

    ``rgb`` is an ``(H, W, 3)`` uint8 array, ``colors`` a ``(K, 3)`` array: a pixel of
    colour ``colors[k]`` becomes k, any other colour becomes void 255. The check runs
    the learner's function on fresh random colour tables, some of whose colours share
    a channel or a channel sum, and compares with :func:`dlcourse.data.colors_to_labels`.
    """
    if unanswered(rgb_to_labels):
        return NOT_ANSWERED
    from dlcourse.data import colors_to_labels
    from dlcourse.viz import VOID_COLOR, VOID_INDEX

    if not callable(rgb_to_labels):
        return feedback(False, "", "Give a function: def rgb_to_labels(rgb, colors): ...")
    rng = np.random.default_rng(606)
    for k in (3, 6):
        colors = rng.integers(0, 256, (k, 3)).astype(np.uint8)
        colors[1] = colors[0][[1, 0, 2]]  # the same channels in another order
        colors[2] = [colors[0][0], (int(colors[0][1]) + 40) % 256, colors[0][2]]  # same red
        colors = np.unique(colors, axis=0)[rng.permutation(len(np.unique(colors, axis=0)))]
        labels = rng.integers(0, len(colors), (9, 11))
        rgb = colors[labels]
        rgb[rng.random((9, 11)) < 0.2] = VOID_COLOR
        expected = colors_to_labels(rgb, colors)
        stranger = rgb.copy()
        stranger[0, 0] = [7, 77, 177] if not (colors == [7, 77, 177]).all(1).any() else [8, 88, 188]
        expected_stranger = expected.copy()
        expected_stranger[0, 0] = VOID_INDEX
        for picture, truth in ((rgb, expected), (stranger, expected_stranger)):
            got, hint = _call_answer(rgb_to_labels, picture.copy(), colors.copy())
            if hint:
                return feedback(False, "", hint)
            got = np.asarray(got)
            if got.shape != truth.shape:
                return feedback(False, "", f"for a {picture.shape} colour mask return a "
                                f"{truth.shape} array of indices, got {got.shape}.")  # fmt: skip
            if not np.array_equal(got.astype(np.int64), truth):
                wrong = got != truth
                if bool((got[truth == VOID_INDEX] == 0).any()):
                    hint = ("a colour that is in no row of colors (the void colour, or any "
                            "other) must become 255, not 0 (background).")  # fmt: skip
                else:
                    hint = (f"{int(wrong.sum())} pixels got the wrong index; compare all three "
                            "channels at once, e.g. (rgb[..., None, :] == colors).all(-1).")  # fmt: skip
                return feedback(False, "", hint)
    return feedback(True, "each colour was matched on all three channels, and unknown ones are void.", "")


# --- 03 backbone ---------------------------------------------------------------------


def _int_list(answer) -> list[int] | None:
    """``answer`` as a list of ints, or ``None`` when it is not a sequence of whole numbers."""
    if isinstance(answer, str | bytes) or not hasattr(answer, "__iter__"):
        return None
    try:
        values = list(answer)
        if any(isinstance(v, bool) or int(v) != v for v in values):
            return None
        return [int(v) for v in values]
    except (TypeError, ValueError):
        return None


def _whole_number(answer) -> int | None:
    """``answer`` as an int, or ``None`` when it is not a whole number."""
    try:
        return None if isinstance(answer, bool) or int(answer) != answer else int(answer)
    except (TypeError, ValueError):
        return None


def _not_a_list(example: str) -> CheckResult:
    return feedback(False, "", f"give a list of whole numbers, e.g. {example}.")


def check_bottleneck_params(inplanes: int, planes: int, answer: int) -> CheckResult:
    """Lesson 03: parameters of a ResNet bottleneck block (convs, BN, shortcut projection)."""
    if unanswered(answer):
        return NOT_ANSWERED
    from torch import nn

    from dlcourse.backbones import Bottleneck

    downsample = None
    if inplanes != 4 * planes:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, 4 * planes, 1, bias=False), nn.BatchNorm2d(4 * planes)
        )
    block = Bottleneck(inplanes, planes, downsample=downsample)
    expected = sum(p.numel() for p in block.parameters())
    without_shortcut = expected - sum(p.numel() for p in (downsample or nn.Sequential()).parameters())
    value = _whole_number(answer)
    hint = (
        "Add the three convs (in*out*k*k, no bias), two parameters per BatchNorm channel, and "
        "a 1x1 conv + BN shortcut when inplanes != 4 * planes."
    )
    if value is not None and value == without_shortcut != expected:
        hint = "Right for the three convs and their batch norms; now add the downsample shortcut."
    return feedback(value == expected, f"Bottleneck({inplanes}, {planes}) has {expected:,} parameters.", hint)


def check_stage_dilations(output_stride: int, answer) -> CheckResult:
    """Lesson 03: the dilation of each of the 3 blocks of ResNet-50's last stage."""
    if unanswered(answer):
        return NOT_ANSWERED
    import torch

    from dlcourse.backbones import resnet

    with torch.device("meta"):
        net = resnet(50, output_stride=output_stride)
    expected = [block.conv2.dilation[0] for block in net.layer4]
    values = _int_list(answer)
    if values is None:
        return _not_a_list("[1, 1, 1]")
    hint = (
        "A dilated stage doubles the dilation, but its first block keeps the dilation the "
        "previous stage ended with."
    )
    if len(values) != len(expected):
        hint = f"layer4 has {len(expected)} blocks: give one dilation per block."
    return feedback(values == expected, f"at output stride {output_stride} layer4 uses dilations {expected}.", hint)


def check_downsampling_blocks(answer) -> CheckResult:
    """Lesson 03: indices of the MobileNetV3-Large children that halve the resolution.

    The stem conv (child 0) has stride 2 too, so the answer is right with or without it;
    the order does not matter.
    """
    if unanswered(answer):
        return NOT_ANSWERED
    import torch

    from dlcourse.backbones import MobileNetV3Large

    with torch.device("meta"):
        net = MobileNetV3Large(output_stride=32)
    halving = [
        i
        for i, child in enumerate(net.children())
        if any(m.stride[0] > 1 for m in child.modules() if isinstance(m, torch.nn.Conv2d))
    ]
    marked = [i for i, b in enumerate(net.children()) if getattr(b, "downsamples", False)]
    values = _int_list(answer)
    if values is None:
        return _not_a_list("[2, 5]")
    given = sorted(set(values))
    return feedback(
        given in (halving, marked),
        f"children {halving} halve the resolution: the stem conv (0) and the blocks {marked} "
        "that start a new stage.",
        "Loop over enumerate(net.children()) and keep the indices whose block has "
        "downsamples == True (the stem conv, child 0, may be included or left out).",
    )


def check_stage_plan(plan_fn) -> CheckResult:
    """Lesson 03: ``plan_fn(output_stride, blocks)`` gives the (stride, dilation) of every 3x3 conv.

    ``blocks`` is the number of blocks in each of ResNet's four stages; the function
    returns three lists (stages 2, 3, 4) of ``(stride, dilation)`` pairs, one per block.
    The check runs it on stage sizes the lesson does not use and compares with
    :class:`dlcourse.backbones.ResNet`.
    """
    if unanswered(plan_fn):
        return NOT_ANSWERED
    import torch

    from dlcourse.backbones import Bottleneck, ResNet

    for blocks in [(1, 2, 5, 2), (2, 1, 3, 4)]:
        for output_stride in (32, 16, 8):
            with torch.device("meta"):
                net = ResNet(Bottleneck, blocks, output_stride=output_stride)
            expected = [
                [(b.conv2.stride[0], b.conv2.dilation[0]) for b in getattr(net, f"layer{i}")]
                for i in (2, 3, 4)
            ]
            try:
                plan = plan_fn(output_stride, blocks)
                if plan is None:  # the exercise's template still returns None
                    unanswered(None)
                    return NOT_ANSWERED
                got = [[tuple(int(v) for v in pair) for pair in stage] for stage in plan]
            except Exception as err:  # the learner's code: report any failure as a hint
                return feedback(False, "", f"plan_fn({output_stride}, {blocks}) raised {type(err).__name__}: {err}")
            if got != expected:
                return feedback(
                    False,
                    "",
                    f"for output_stride={output_stride}, blocks={blocks} the package gives "
                    f"{expected}, your function {got}. Keep stride 2 until the running stride "
                    "reaches the output stride; after that, stride 1 and the dilation doubles, "
                    "but a stage's first block keeps the dilation from before.",
                )
    return feedback(True, "your plan matches dlcourse.backbones.ResNet for every output stride.", "")


# --- 04 ASPP -------------------------------------------------------------------------


def check_branch_span(rate: int, output_stride: int, answer: int) -> CheckResult:
    """Lesson 04: width in photo pixels of the area a 3x3 ASPP branch reads."""
    if unanswered(answer):
        return NOT_ANSWERED
    expected = (2 * rate + 1) * output_stride
    value = _whole_number(answer)
    hint = (
        "The taps are rate cells apart, so the 3x3 pattern spans 2 * rate + 1 feature cells; "
        "each cell is output_stride photo pixels wide."
    )
    if value == 2 * rate * output_stride:
        hint = "Almost: the span is 2 * rate + 1 cells (the two outer taps' cells count too)."
    elif value == 2 * rate + 1:
        hint = "That is the span in feature cells; multiply by the output stride to get pixels."
    return feedback(value == expected, f"rate {rate} at output stride {output_stride} reads a {expected} px wide area.", hint)


def check_valid_taps(feature_size: int, rate: int, answer: int) -> CheckResult:
    """Lesson 04: taps of the centre cell's 3x3 branch that land on a square feature map."""
    if unanswered(answer):
        return NOT_ANSWERED
    centre = feature_size // 2
    per_axis = sum(0 <= centre + d * rate < feature_size for d in (-1, 0, 1))
    inside = per_axis**2
    value = _whole_number(answer)
    hint = (
        "Per axis, count which of centre - rate, centre, centre + rate lie in "
        "0..feature_size - 1; the 2-D count is that number squared."
    )
    if value == per_axis != inside:
        hint = "That is the count along one axis; the 3x3 pattern is 2-D, so square it."
    return feedback(
        value == inside,
        f"{inside} of the 9 taps land on the {feature_size}x{feature_size} map; the others "
        "read zero padding.",
        hint,
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
    value = _whole_number(answer)
    hint = "Count the branches: the 1x1 conv, one per rate, and the image pooling if it is on."
    if value == branch_channels:
        hint = "That is one branch; the projection sees all branches concatenated."
    return feedback(value == expected, f"{len(aspp.convs)} branches of {branch_channels} channels: {expected} channels.", hint)


def check_aspp_branch(make_branch) -> CheckResult:
    """Lesson 04: ``make_branch(in_channels, out_channels, rate)`` builds one atrous ASPP branch.

    The branch must be a 3x3 conv (no bias) with dilation ``rate`` and size-keeping
    padding, batch norm and ReLU, with the parameter names of ``dlcourse.layers.ConvBNReLU``.
    The check builds it for sizes and rates the lesson does not use, copies the package
    branch's weights into it and compares the outputs in eval mode.
    """
    if unanswered(make_branch):
        return NOT_ANSWERED
    import torch

    from dlcourse.layers import ConvBNReLU

    generator = torch.Generator().manual_seed(4)
    for in_channels, out_channels, rate in [(5, 7, 3), (3, 4, 11)]:
        reference = ConvBNReLU(in_channels, out_channels, 3, dilation=rate)
        with torch.no_grad():
            for param in reference.parameters():
                param.copy_(torch.randn(param.shape, generator=generator))
            reference[1].running_mean.copy_(torch.randn(out_channels, generator=generator))
            reference[1].running_var.copy_(torch.rand(out_channels, generator=generator) + 0.5)
        call = f"make_branch({in_channels}, {out_channels}, {rate})"
        try:
            branch = make_branch(in_channels, out_channels, rate)
            if branch is None:  # the exercise's template still returns None
                unanswered(None)
                return NOT_ANSWERED
            mine, theirs = branch.state_dict(), reference.state_dict()
            if list(mine) != list(theirs) or any(mine[k].shape != theirs[k].shape for k in mine):
                return feedback(
                    False,
                    "",
                    f"{call} has parameters {[(k, tuple(v.shape)) for k, v in mine.items()]}; "
                    "expected nn.Sequential(nn.Conv2d(..., 3, padding=rate, dilation=rate, "
                    "bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()).",
                )
            branch.load_state_dict(theirs)
            branch.eval()
            x = torch.randn(2, in_channels, 13, 17, generator=generator)
            with torch.no_grad():
                got, expected = branch(x), reference.eval()(x)
        except Exception as err:  # the learner's code: report any failure as a hint
            return feedback(False, "", f"{call} raised {type(err).__name__}: {err}")
        if got.shape != expected.shape:
            return feedback(
                False,
                "",
                f"{call} maps a 13x17 map to {tuple(got.shape[-2:])}; a branch must keep the "
                "size: padding = rate for a 3x3 conv with dilation rate.",
            )
        if not torch.allclose(got, expected, atol=1e-5):
            return feedback(
                False,
                "",
                f"{call} has the right shapes but computes something else: check the "
                "dilation, the padding and the order conv -> batch norm -> ReLU.",
            )
    return feedback(True, "your branch computes exactly what dlcourse.layers.ConvBNReLU does.", "")


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

    from dlcourse.costs import count_parameters
    from dlcourse.models import build_model

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

def check_pixel_loss(pixel_loss) -> CheckResult:
    """Lesson 07: ``pixel_loss(logits, target)``: cross-entropy over the non-void pixels.

    ``logits`` is ``(N, K, H, W)``, ``target`` ``(N, H, W)`` with void 255. The check
    runs the learner's function on fresh random batches of several shapes and compares
    with ``F.cross_entropy(logits, target, ignore_index=255)``.
    """
    if unanswered(pixel_loss):
        return NOT_ANSWERED
    import torch
    import torch.nn.functional as F

    if not callable(pixel_loss):
        return feedback(False, "", "Give a function: def pixel_loss(logits, target): ...")
    generator = torch.Generator().manual_seed(707)
    for n, k, h, w in ((2, 4, 5, 6), (3, 6, 4, 4), (1, 3, 7, 3)):
        logits = 3 * torch.randn(n, k, h, w, generator=generator)
        target = torch.randint(0, k, (n, h, w), generator=generator)
        target[torch.rand(n, h, w, generator=generator) < 0.35] = 255
        expected = F.cross_entropy(logits, target, ignore_index=255)
        got, hint = _call_answer(pixel_loss, logits.clone(), target.clone())
        if hint:
            return feedback(False, "", hint)
        try:
            got = torch.as_tensor(got, dtype=torch.float64).reshape(())
        except (TypeError, ValueError, RuntimeError):
            return feedback(False, "", "return the mean loss as one number (a 0-d tensor or a float).")
        if not torch.isclose(got, expected.double(), rtol=1e-4, atol=1e-6):
            kept = int((target != 255).sum())
            if torch.isclose(got * target.numel() / kept, expected.double(), rtol=1e-4):
                hint = ("you divided by every pixel; the void pixels count neither in the sum "
                        "nor in the number you divide by.")  # fmt: skip
            elif torch.isclose(got / kept, expected.double(), rtol=1e-4):
                hint = "that is the sum; take the mean over the non-void pixels."
            else:
                hint = ("take log_softmax over the classes (dim=1), pick each pixel's true class "
                        "with gather, keep the pixels whose target is not 255, and average "
                        "minus those values.")  # fmt: skip
            return feedback(False, "", hint)
    return feedback(True, "the same number as F.cross_entropy(..., ignore_index=255) on batches "
                    "you had not seen.", "")  # fmt: skip


def check_poly_schedule(poly_lr) -> CheckResult:
    """Lesson 07: ``poly_lr(step, total, base_lr, power, warmup)``: warmup, then poly decay.

    For ``step < warmup`` the rate climbs linearly from ``base_lr / 100`` to ``base_lr``;
    from ``warmup`` on it is ``base_lr * (1 - step / total) ** power``. The check
    compares the learner's function with :class:`dlcourse.train.PolyLR` on settings the
    lesson does not use.
    """
    if unanswered(poly_lr):
        return NOT_ANSWERED
    import math

    from dlcourse.train import PolyLR

    if not callable(poly_lr):
        return feedback(False, "", "Give a function: def poly_lr(step, total, base_lr, power, warmup): ...")
    for total, power, warmup, base_lr in ((730, 1.3, 37, 0.02), (4100, 0.75, 0, 0.007), (90, 0.9, 12, 0.1)):
        schedule = PolyLR(total, power, warmup)
        for step in sorted({0, 1, warmup // 2, max(warmup - 1, 0), warmup, warmup + 3, total // 2,
                            total - 1}):  # fmt: skip
            expected = base_lr * schedule(step)
            got, hint = _call_answer(poly_lr, step, total, base_lr, power, warmup)
            if hint:
                return feedback(False, "", hint)
            try:
                got = float(got)
            except (TypeError, ValueError):
                return feedback(False, "", "return the learning rate as one number.")
            if not math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-12):
                where = (f"at step {step} of {total} (power {power}, warmup {warmup}, "
                         f"base_lr {base_lr}) expected {expected:.6g}, got {got:.6g}")  # fmt: skip
                if step < warmup and math.isclose(got, base_lr * (1 - step / total) ** power):
                    hint = f"{where}: during the first `warmup` steps the rate climbs linearly."
                elif step < warmup and math.isclose(got, base_lr * step / warmup, abs_tol=1e-12):
                    hint = f"{where}: the warmup starts at base_lr / 100, not at 0."
                elif step >= warmup and math.isclose(got, base_lr * (1 - (step / total) ** power)):
                    hint = f"{where}: raise (1 - step / total) to the power, not step / total."
                else:
                    hint = (f"{where}; warmup: base_lr * (0.01 + 0.99 * step / warmup); "
                            "afterwards base_lr * (1 - step / total) ** power.")  # fmt: skip
                return feedback(False, "", hint)
    return feedback(True, "your schedule equals dlcourse.train.PolyLR on settings you had not "
                    "seen.", "")  # fmt: skip


def check_accumulate(accumulate) -> CheckResult:
    """Lesson 07: ``accumulate(model, images, masks, passes)`` leaves the whole batch's gradient.

    The learner's function splits the batch into ``passes`` equal micro-batches, runs
    forward and backward on each, and must leave in every ``.grad`` the gradient of
    ``segmentation_loss`` over the whole batch, as one pass would (the check's model has
    no batch norm and its masks no void pixels, so the two agree exactly). It starts
    from zeroed gradients and takes no optimizer step.
    """
    if unanswered(accumulate):
        return NOT_ANSWERED
    import torch
    from torch import nn

    from dlcourse.train import segmentation_loss

    if not callable(accumulate):
        return feedback(False, "", "Give a function: def accumulate(model, images, masks, passes): ...")
    generator = torch.Generator().manual_seed(77)
    for batch, passes in ((6, 3), (8, 2)):
        torch.manual_seed(batch)
        model = nn.Sequential(nn.Conv2d(3, 5, 3, padding=2, dilation=2), nn.ReLU(), nn.Conv2d(5, 4, 1))
        images = torch.randn(batch, 3, 6, 6, generator=generator)
        masks = torch.randint(0, 4, (batch, 6, 6), generator=generator)
        segmentation_loss(model(images), masks).backward()
        expected = [p.grad.clone() for p in model.parameters()]
        model.zero_grad(set_to_none=False)
        before = [p.detach().clone() for p in model.parameters()]
        _, hint = _call_answer(accumulate, model, images.clone(), masks.clone(), passes)
        if hint:
            return feedback(False, "", hint)
        if any(not torch.equal(p.detach(), b) for p, b in zip(model.parameters(), before, strict=True)):
            return feedback(False, "", "the weights changed; only accumulate the gradients, the "
                            "optimizer step comes after.")  # fmt: skip
        grads = [p.grad for p in model.parameters()]
        if any(g is None for g in grads):
            return feedback(False, "", "some parameters have no .grad; call loss.backward() on "
                            "every micro-batch.")  # fmt: skip
        if all(torch.allclose(g, e, atol=1e-6) for g, e in zip(grads, expected, strict=True)):
            continue
        if all(torch.allclose(g, passes * e, atol=1e-5) for g, e in zip(grads, expected, strict=True)):
            hint = (f"the gradient is {passes} times too large: divide each micro-batch's loss "
                    "by the number of passes before backward().")  # fmt: skip
        else:
            hint = ("the gradients differ from one pass over the whole batch; do not zero them "
                    "between micro-batches, and run every image exactly once: "
                    "images.chunk(passes) splits the batch.")  # fmt: skip
        return feedback(False, "", hint)
    return feedback(True, "for a network without batch norm the accumulated gradient is the "
                    "big batch's.", "")  # fmt: skip


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


def _learner_call(fn, *args):
    """Call the learner's ``fn``; return ``(result, None)`` or ``(None, feedback)`` if it raised."""
    try:
        return fn(*args), None
    except Exception as err:  # the learner's code may fail in any way
        return None, feedback(False, "", f"your function raised {type(err).__name__}: {err}")


def _label_pairs(seed: int):
    """Fresh ``(pred, target, num_classes)`` cases with void (255) pixels, one class never used."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    cases = []
    for k, shape in ((3, (5, 7)), (5, (2, 6, 6)), (4, (9,))):
        target = torch.randint(0, k - 1, shape, generator=generator)  # class k-1 never in target
        pred = torch.randint(0, k, shape, generator=generator)
        target[torch.rand(shape, generator=generator) < 0.2] = 255
        cases.append((pred, target, k))
    return cases


def check_confusion_matrix(confusion_fn) -> CheckResult:
    """Lesson 08: ``confusion_fn(pred, target, num_classes, ignore_index)`` counts a (K, K)
    confusion matrix (rows: truth, columns: prediction, ``ignore_index`` pixels skipped).

    It is called on label maps it has not seen (several shapes and K, void pixels, a class
    that occurs only in the predictions) and compared with ``dlcourse.metrics.confusion_matrix``.
    """
    if unanswered(confusion_fn):
        return NOT_ANSWERED
    import torch

    from dlcourse.metrics import confusion_matrix

    for pred, target, k in _label_pairs(seed=8):
        expected = confusion_matrix(pred, target, k, ignore_index=255)
        got, failed = _learner_call(confusion_fn, pred.clone(), target.clone(), k, 255)
        if failed is not None:
            return failed
        got = torch.as_tensor(np.asarray(got)).to(torch.int64)
        if got.shape != expected.shape:
            return feedback(False, "", f"for K={k} expected a {k}x{k} matrix, got shape "
                            f"{tuple(got.shape)}; use torch.bincount(t * K + p, minlength=K * K)"
                            ".reshape(K, K).")  # fmt: skip
        if torch.equal(got, expected):
            continue
        if torch.equal(got, expected.T):
            hint = "rows and columns are swapped: row = true class, column = predicted class."
        elif int(got.sum()) == target.numel():
            hint = ("void pixels were counted: keep only the pixels whose target is not "
                    "ignore_index, in both pred and target, before counting.")  # fmt: skip
        else:
            hint = (f"for K={k} some counts differ (expected {expected.tolist()}, got "
                    f"{got.tolist()}); count each (true, predicted) pair once.")  # fmt: skip
        return feedback(False, "", hint)
    return feedback(True, "your matrix equals dlcourse.metrics.confusion_matrix on label maps "
                    "it had not seen.", "")  # fmt: skip


def _confusion_cases(seed: int):
    """Fresh confusion matrices: one with a class absent everywhere, one only predicted."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    cases = []
    for k in (4, 6):
        cm = torch.randint(0, 20, (k, k), generator=generator)
        cm[k - 1, :] = 0  # class k-1: in no label ...
        cm[:, k - 1] = 0  # ... and in no prediction: it has no IoU
        cm[k - 2, :] = 0  # class k-2: never in the labels, but predicted
        cm[0, k - 2] = 5
        cases.append(cm)
    return cases


def check_miou_from_confusion(miou_fn) -> CheckResult:
    """Lesson 08: ``miou_fn(cm)`` returns the mIoU of a (K, K) confusion matrix (rows: truth)
    with classes absent from both labels and predictions left out, as ``dlcourse.metrics``."""
    if unanswered(miou_fn):
        return NOT_ANSWERED
    from dlcourse.metrics import scores_from_confusion

    for cm in _confusion_cases(seed=8):
        expected = scores_from_confusion(cm)["miou"]
        got, failed = _learner_call(miou_fn, cm.clone())
        if failed is not None:
            return failed
        try:
            got = float(got)
        except (TypeError, ValueError):
            return feedback(False, "", f"return one number, got {type(got).__name__}.")
        if abs(got - expected) < 1e-6:
            continue
        cmf = cm.double()
        tp, rows, cols = cmf.diag(), cmf.sum(1), cmf.sum(0)
        iou = tp / (rows + cols - tp).clamp(min=1)
        if abs(got - float(iou.mean())) < 1e-6:
            hint = ("a class with no pixel in the labels and none in the predictions has no "
                    "IoU (0 / 0); leave it out of the mean instead of counting it as 0.")  # fmt: skip
        elif abs(got - float(iou[rows > 0].mean())) < 1e-6:
            hint = ("a class that is only predicted (its row is empty, its column is not) has "
                    "IoU 0 and counts: leave out only classes whose row and column are both empty.")  # fmt: skip
        elif abs(got - float((tp / rows.clamp(min=1))[rows > 0].mean())) < 1e-6:
            hint = "that is the mean class accuracy; IoU divides TP by TP + FP + FN."
        else:
            hint = (f"expected {expected:.4f}, got {got:.4f}: IoU = TP / (row sum + column sum "
                    "- TP), averaged over the classes whose union is not empty.")  # fmt: skip
        return feedback(False, "", hint)
    return feedback(True, "the mean IoU agrees with dlcourse.metrics on matrices it had not seen, "
                    "absent classes included.", "")  # fmt: skip


def _tiny_segmenter(seed: int):
    """A small random conv net returning ``{"out": logits}`` (4 classes), as the course's models."""
    import torch
    from torch import nn

    class TinySegmenter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(),
                                      nn.Conv2d(8, 4, 3, padding=1))  # fmt: skip

        def forward(self, x):
            return {"out": self.body(x)}

    with torch.random.fork_rng(devices=[]):  # the layers' own initialisation draws numbers
        net = TinySegmenter()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return net.eval()


def check_flip_agreement(agreement_fn) -> CheckResult:
    """Lesson 08: ``agreement_fn(model, image)`` returns the share of pixels whose label is the
    same when the model sees ``image`` and when it sees the mirrored image (mapped back).

    Checked on a small random network and pictures the learner has not seen, against
    ``dlcourse.inference.predict``.
    """
    if unanswered(agreement_fn):
        return NOT_ANSWERED
    import torch

    from dlcourse.inference import predict

    model = _tiny_segmenter(seed=8)
    generator = torch.Generator().manual_seed(8)
    for shape in ((3, 24, 30), (3, 17, 17)):
        image = torch.randn(shape, generator=generator)
        plain = predict(model, image).argmax(0)
        mirrored = predict(model, image.flip(-1))
        expected = float((mirrored.flip(-1).argmax(0) == plain).double().mean())
        got, failed = _learner_call(agreement_fn, model, image.clone())
        if failed is not None:
            return failed
        try:
            got = float(got)
        except (TypeError, ValueError):
            return feedback(False, "", f"return one number (a share in [0, 1]), got {type(got).__name__}.")
        if abs(got - expected) < 1e-6:
            continue
        unflipped = float((mirrored.argmax(0) == plain).double().mean())
        if abs(got - unflipped) < 1e-6:
            hint = ("the mirrored prediction was compared without flipping it back: pixel x of "
                    "the mirror is pixel W - 1 - x of the picture, so flip the prediction "
                    "(dim -1) before comparing.")  # fmt: skip
        elif abs(got - (1 - expected)) < 1e-6:
            hint = "that is the share of pixels that disagree; return the share that agree."
        else:
            hint = (f"expected {expected:.4f}, got {got:.4f}: compare the label maps "
                    "(argmax over classes) of the picture and of the flipped-back mirror.")  # fmt: skip
        return feedback(False, "", hint)
    return feedback(True, "averaging with the mirror can change the answer only on the pixels "
                    "that do not agree.", "")  # fmt: skip


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


# --- 05 upsampling and decoder: atrous separable convolution --------------------------


def check_separable_params(in_channels: int, out_channels: int, answer: int) -> CheckResult:
    """Lesson 05: weights of a 3x3 atrous separable conv (depthwise + pointwise, no BN, no bias)."""
    if unanswered(answer):
        return NOT_ANSWERED
    from dlcourse.layers import AtrousSeparableConv2d

    block = AtrousSeparableConv2d(in_channels, out_channels)
    expected = block.depthwise[0].weight.numel() + block.pointwise[0].weight.numel()
    value = whole_number(answer)
    hint = "Depthwise: one 3x3 filter per input channel; pointwise: a 1x1 conv from every input to every output channel."
    if value == 9 * in_channels * out_channels:
        hint = "That is the dense 3x3 conv; the separable one filters each channel once, then mixes."
    elif value == 9 * in_channels:
        hint = "That is only the depthwise part; add the pointwise 1x1 conv."
    elif value == in_channels * out_channels:
        hint = "That is only the pointwise part; add the depthwise 3x3 filters."
    return feedback(
        value == expected,
        f"9 x {in_channels} + {in_channels} x {out_channels} = {expected:,} weights, against "
        f"{9 * in_channels * out_channels:,} for a dense 3x3 conv.",
        hint,
    )


def check_atrous_separable_conv(separable_conv) -> CheckResult:
    """Lesson 05: ``separable_conv(x, depthwise, pointwise, dilation)`` is an atrous separable conv.

    ``x`` is ``(N, C, H, W)``, ``depthwise`` ``(C, 1, 3, 3)``, ``pointwise`` ``(K, C, 1, 1)``;
    the output ``(N, K, H, W)`` keeps the size. The check runs the learner's function on
    shapes and rates the lesson does not use and compares it with ``F.conv2d`` (grouped,
    then 1x1), without batch norm or ReLU.
    """
    if unanswered(separable_conv):
        return NOT_ANSWERED
    import torch
    from torch.nn import functional as F

    if not callable(separable_conv):
        return feedback(False, "", "Give a function: def separable_conv(x, depthwise, pointwise, dilation): ...")
    generator = torch.Generator().manual_seed(5)
    cases = [((1, 3, 9, 9), 4, 2), ((2, 5, 11, 8), 2, 3), ((1, 6, 13, 15), 7, 1)]  # x, K, rate
    for (n, c, h, w), k_out, rate in cases:
        x = torch.randn(n, c, h, w, generator=generator, dtype=torch.float64)
        depthwise = torch.randn(c, 1, 3, 3, generator=generator, dtype=torch.float64)
        pointwise = torch.randn(k_out, c, 1, 1, generator=generator, dtype=torch.float64)
        expected = F.conv2d(F.conv2d(x, depthwise, padding=rate, dilation=rate, groups=c), pointwise)
        case = f"x {tuple(x.shape)}, depthwise {tuple(depthwise.shape)}, pointwise {tuple(pointwise.shape)}, dilation {rate}"
        try:
            got = separable_conv(x.clone(), depthwise.clone(), pointwise.clone(), rate)
        except Exception as err:  # the learner's code may fail in any way
            hint = f"for {case} it raised {type(err).__name__}: {err}"
            if "groups" in str(err) or "expected input" in str(err):
                hint += " (a depthwise conv needs groups=C: one filter per channel)"
            return feedback(False, "", hint)
        if got is None:  # the exercise's template still returns None
            unanswered(None)
            return NOT_ANSWERED
        if not isinstance(got, torch.Tensor):
            return feedback(False, "", f"for {case} it returned a {type(got).__name__}, not a tensor.")
        wrong = _tensor_mismatch(
            got, expected, case, "a 3x3 conv with dilation r keeps the size with padding r.",
            "the depthwise conv takes dilation=r, padding=r and groups=C; the pointwise conv then "
            "needs no padding.",
        )  # fmt: skip
        if wrong:
            return feedback(False, "", wrong)
    return feedback(True, f"matches the grouped + 1x1 F.conv2d on {len(cases)} inputs it had not seen.", "")


# --- 10 capstone ----------------------------------------------------------------------


def check_pareto_front(front_fn) -> CheckResult:
    """Lesson 10: ``front_fn(costs, scores)`` returns the Pareto front's indices, cheapest first.

    Tried on point sets the lesson does not show (ties, a dominated cheapest point, one
    point), against :func:`dlcourse.family.pareto_front`.
    """
    if unanswered(front_fn):
        return NOT_ANSWERED
    from dlcourse.family import pareto_front

    if not callable(front_fn):
        return feedback(False, "", "Give a function: def my_pareto_front(costs, scores): ...")
    cases = [
        ([5.0, 1.0, 3.0, 2.0, 4.0], [60.0, 40.0, 65.0, 55.0, 70.0]),
        ([2.0, 2.0, 1.0, 6.0, 3.0, 6.0], [50.0, 50.0, 30.0, 80.0, 49.0, 75.0]),
        ([4.0, 1.0, 2.0], [10.0, 20.0, 15.0]),
        ([7.0], [33.0]),
    ]
    for costs, scores in cases:
        expected = pareto_front(costs, scores)
        case = f"costs {costs}, scores {scores}"
        try:
            got = front_fn(list(costs), list(scores))
        except Exception as err:  # the learner's code may fail in any way
            return feedback(False, "", f"for {case} it raised {type(err).__name__}: {err}")
        try:
            got = [int(i) for i in got]
        except (TypeError, ValueError):
            return feedback(False, "", f"for {case} it returned {got!r}; return a list of indices")
        if got == expected:
            continue
        reversed_cost = pareto_front([-c for c in costs], scores)
        if sorted(got) == sorted(expected):
            hint = f"the right points, in the wrong order: sort them by cost, cheapest first ({expected})."
        elif sorted(got) == sorted(reversed_cost):
            hint = f"for {case} you treated a higher cost as better; lower cost and higher score win."
        elif set(got) < set(expected) and len(got) == 1:
            hint = (f"for {case} you returned one point; the front holds every point that no other beats "
                    f"on both cost and score ({expected}).")
        elif set(got) < set(expected):
            hint = (f"for {case} point(s) {sorted(set(expected) - set(got))} are missing: a point is beaten "
                    "only by one at least as cheap AND at least as good, better in one of the two "
                    "(two equal points are both kept).")
        else:
            hint = (f"for {case} point(s) {sorted(set(got) - set(expected))} are beaten by a point that is "
                    "at least as cheap and at least as good.")
        return feedback(False, "", hint)
    return feedback(True, f"it agrees with dlcourse.family.pareto_front on {len(cases)} point sets.", "")


def check_class_weights(weights_fn) -> CheckResult:
    """Lesson 10: ``weights_fn(pixels)`` returns median-frequency class weights.

    Compared, on pixel counts the lesson does not use (one class absent), with
    :meth:`dlcourse.masks.MaskReport.class_weights`.
    """
    if unanswered(weights_fn):
        return NOT_ANSWERED
    from pathlib import Path

    from dlcourse.masks import MaskReport

    if not callable(weights_fn):
        return feedback(False, "", "Give a function: def my_class_weights(pixels): ...")
    cases = [np.array([9000, 600, 300, 100]), np.array([5000, 0, 2500, 1250, 250])]
    for pixels in cases:
        expected = MaskReport(Path("."), len(pixels), 0, pixels=pixels.copy()).class_weights()
        try:
            got = np.asarray(weights_fn(pixels.copy()), dtype=np.float64)
        except Exception as err:  # the learner's code may fail in any way
            return feedback(False, "", f"for pixels {pixels.tolist()} it raised {type(err).__name__}: {err}")
        if got.shape != expected.shape:
            return feedback(False, "", f"for pixels {pixels.tolist()} expected {len(pixels)} weights, got shape {got.shape}")
        if np.allclose(got, expected, atol=1e-6):
            continue
        freq = pixels / pixels.sum()
        present = freq > 0
        hint = f"for pixels {pixels.tolist()} expected {np.round(expected, 3).tolist()}, got {np.round(got, 3).tolist()}."
        with np.errstate(divide="ignore", invalid="ignore"):
            if np.allclose(got[present], (1 / freq)[present]):
                hint = "That is plain inverse frequency; divide the median frequency by each class's frequency."
            elif np.allclose(got[present], (freq / np.median(freq[present]))[present]):
                hint = "Upside down: a rare class must get a weight above 1, median / frequency."
            elif np.allclose(got[present], (np.median(freq) / freq)[present]):
                hint = "Take the median over the classes that occur only; an absent class would pull it down."
            elif not np.all(np.isfinite(got)):
                hint = "A class with no pixels must get weight 0, not infinity or NaN."
        return feedback(False, "", hint)
    return feedback(True, "median(freq) / freq over the classes that occur, 0 for absent ones.", "")


def check_torchvision_gflops(flops_g: float, answer) -> CheckResult:
    """Lesson 10: torchvision's "GFLOPS" column for a model that ``FlopCounterMode`` counts at ``flops_g`` GFLOPs."""
    if unanswered(answer):
        return NOT_ANSWERED
    expected = flops_g / 2
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return feedback(False, "", f"give a number, not {answer!r}")
    hint = "torchvision's column counts multiply-adds; FlopCounterMode counts 2 FLOPs per multiply-add."
    if abs(value - flops_g) < 0.01:
        hint = "That is FlopCounterMode's own count; torchvision's column counts multiply-adds, half as many."
    elif abs(value - 2 * flops_g) < 0.01:
        hint = "The other way round: one multiply-add is 2 FLOPs, so the multiply-adds are half the FLOPs."
    return feedback(abs(value - expected) < 0.01, f"{expected:.3f}: half of {flops_g} GFLOPs.", hint)


# --- 09 CRF: the mean-field update as Krähenbühl and Koltun write it -----------------


def _mean_field_problems():
    """Fresh problems for :func:`check_mean_field_update`: sizes and values the lesson never shows."""
    import torch

    generator = torch.Generator().manual_seed(2011)
    for pixels, classes in ((7, 3), (15, 4), (11, 6)):
        features = torch.rand(pixels, 3, generator=generator, dtype=torch.float64) * 2
        kernel = torch.exp(-0.5 * torch.cdist(features, features) ** 2)
        unary = torch.rand(pixels, classes, generator=generator, dtype=torch.float64) * 3
        q = torch.softmax(torch.randn(pixels, classes, generator=generator, dtype=torch.float64), dim=1)
        yield unary, q, kernel, float(torch.rand(1, generator=generator)) * 3 + 0.5


def check_mean_field_update(update_fn) -> CheckResult:
    """Lesson 09: ``update_fn(unary, q, kernel, w) -> Q``, one Potts mean-field update.

    Krähenbühl and Koltun (2011, eq. 4 with the Potts model):
    ``Q_i(l) ∝ exp(-U_i(l) - w sum_{j != i} k_ij sum_{l' != l} Q_j(l'))``. Including ``j = i``
    (as pydensecrf's filters do) is accepted too, and so is the equivalent
    ``softmax(-U + w sum_{j != i} k_ij Q_j)``. Checked on problems the lesson never shows.
    """
    if unanswered(update_fn):
        return NOT_ANSWERED
    import torch

    forms = {"j != i": None, "j = i included": None}
    for unary, q, kernel, w in _mean_field_problems():
        others = kernel - torch.diag(torch.diag(kernel))
        paper = torch.softmax(-unary - w * others @ (1 - q), dim=1)
        with_self = torch.softmax(-unary - w * kernel @ (1 - q), dim=1)
        try:
            got = torch.as_tensor(update_fn(unary.clone(), q.clone(), kernel.clone(), w), dtype=torch.float64)
        except Exception as err:  # the learner's code: report any failure as a hint
            return feedback(False, "", f"your function raised {type(err).__name__}: {err}")
        if got.shape != paper.shape:
            return feedback(False, "", f"return Q of shape {tuple(paper.shape)} (pixels, classes), got {tuple(got.shape)}")
        for name, expected in (("j != i", paper), ("j = i included", with_self)):
            ok = torch.allclose(got, expected, atol=1e-6)
            forms[name] = ok if forms[name] is None else forms[name] and ok
    if forms["j != i"]:
        return feedback(True, "the paper's update: messages from every other pixel, weighted by the kernel.", "")
    if forms["j = i included"]:
        return feedback(True, "with the pixel's own message too (j = i), as pydensecrf computes it; the paper "
                        "leaves it out (subtract the diagonal of the kernel).", "")  # fmt: skip
    unary, q, kernel, w = next(_mean_field_problems())
    got = torch.as_tensor(update_fn(unary.clone(), q.clone(), kernel.clone(), w), dtype=torch.float64)
    others = kernel - torch.diag(torch.diag(kernel))
    hint = ("Q_i(l) = softmax over l of -U_i(l) - w * sum_{j != i} k_ij * (1 - Q_j(l)): a label pays for every "
            "neighbour that does not share it.")  # fmt: skip
    if torch.allclose(got, torch.softmax(-unary + w * others @ (1 - q), dim=1), atol=1e-6):
        hint = "The sign is upside down: disagreeing neighbours must raise the energy, so subtract w * k (1 - Q)."
    elif torch.allclose(got, torch.exp(-unary - w * others @ (1 - q)), atol=1e-6):
        hint = "Almost: normalise over the labels (a softmax), so that each pixel's Q sums to 1."
    elif torch.allclose(got, torch.softmax(-unary, dim=1), atol=1e-6):
        hint = "That is softmax(-U), the unaries alone: add the messages w * sum_j k_ij (1 - Q_j(l))."
    return feedback(False, "", hint)
