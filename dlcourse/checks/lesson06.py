"""Checkers of lesson 06 (data pipeline): mask files, padding, class shares, a joint
flip-pad-crop and colour masks turned into labels.

Used in: 06.
"""

from __future__ import annotations

import numpy as np

from dlcourse.checks.core import (
    NOT_ANSWERED,
    CheckResult,
    call_learner,
    function_name,
    judge,
    judge_function,
    real_number,
)

# Package modules are imported inside the checkers: importing one lesson's checkers
# does not load every lesson's code.

PAD_CASES = [((2, 3), (4, 5)), ((5, 2), (3, 4)), ((3, 3), (3, 3))]
"""The ``(mask side, padded side)`` pairs :func:`check_pad_mask` tries."""


def _sorted_ints(answer) -> list[int] | None:
    """The values of ``answer`` (any array-like) as a sorted list of ints, or ``None``."""
    try:
        return sorted(int(v) for v in np.asarray(answer).reshape(-1))
    except (TypeError, ValueError):
        return None


def check_mask_values(path, answer) -> CheckResult:
    """Lesson 06: the sorted class indices stored in the mask file at ``path``."""
    from dlcourse.files import read_mask

    expected = sorted(int(v) for v in read_mask(path).unique())
    return judge(
        answer,
        expected,
        f"the file stores the indices {expected}; 255 is void, not a class.",
        "Open the PNG with PIL and take np.unique(np.asarray(image)) without converting it "
        "to RGB: a palette PNG stores class indices, and .convert('RGB') turns them into colours.",
        parse=_sorted_ints,
    )


def check_pad_mask(pad_mask) -> CheckResult:
    """Lesson 06: ``pad_mask(mask, height, width)`` pads an (H, W) mask at the bottom and
    right with 255 up to ``height`` x ``width`` and leaves larger sides alone."""
    return judge_function(
        pad_mask, _pad_mask_mistake, "the padding is void, so the loss and the metrics ignore it."
    )


def _pad_mask_mistake(pad_mask) -> str | None:
    """The first of :data:`PAD_CASES` that ``pad_mask`` pads wrong, as a hint."""
    import torch

    from dlcourse.voc import VOID_INDEX

    for (h, w), (height, width) in PAD_CASES:
        mask = torch.arange(h * w).reshape(h, w) % 21
        expected = torch.full((max(h, height), max(w, width)), VOID_INDEX, dtype=mask.dtype)
        expected[:h, :w] = mask
        try:
            got = torch.as_tensor(pad_mask(mask.clone(), height, width))
        except Exception as err:  # the learner's code may fail in any way
            return f"pad_mask raised {type(err).__name__}: {err}"
        if got.shape != expected.shape or not torch.equal(got.to(expected.dtype), expected):
            return (
                f"for a {h}x{w} mask padded to {height}x{width} expected shape "
                f"{tuple(expected.shape)} with 255 below and right of the mask, got "
                f"{tuple(got.shape)}; torch.nn.functional.pad(mask, (0, dw, 0, dh), value=255) "
                "with dw, dh clamped at 0 does it."
            )
    return None


def check_background_share(dataset, answer) -> CheckResult:
    """Lesson 06: the share of labelled (non-void) pixels of ``dataset`` that are class 0."""
    from dlcourse.data import class_frequencies

    if answer is None:  # remind before counting every mask of the dataset
        return NOT_ANSWERED
    counts = class_frequencies(dataset)
    expected = float(counts[0]) / float(counts.sum())
    return judge(
        answer,
        expected,
        f"{expected:.1%} of the labelled pixels are background: a model that always says "
        f"'background' already scores {expected:.1%} pixel accuracy.",
        "Count every class over all masks (dlcourse.data.class_frequencies does it, void "
        "excluded) and divide the background count by the total.",
        parse=real_number,
        same=lambda given, right: abs(given - right) < 1e-3,
    )


def check_flip_pad_crop(flip_pad_crop) -> CheckResult:
    """Lesson 06: ``flip_pad_crop(image, mask, crop)`` applies one random flip and crop to both.

    The learner's function gets a ``(3, H, W)`` uint8 photo and an ``(H, W)`` int64 mask.
    It must flip both left-right with probability 1/2, pad both up to ``crop`` x ``crop``
    where they are smaller (photo with 0, mask with void 255) and cut the same random
    ``crop`` x ``crop`` window from both. The check calls it on fresh random pictures,
    larger and smaller than the crop, whose pixels record where they came from, and
    follows every output pixel back to its source.
    """
    from dlcourse.voc import VOID_INDEX

    return judge_function(
        flip_pad_crop,
        _flip_pad_crop_mistake,
        "photo and mask got the same flip and the same window, and the "
        f"padding is void ({VOID_INDEX}), which the loss and the metrics ignore.",
        usage="def flip_pad_crop(image, mask, crop): ...",
    )


def _flip_pad_crop_mistake(flip_pad_crop) -> str | None:
    """What goes wrong in ``flip_pad_crop`` over 96 calls, as a hint; the global RNGs are left alone."""
    import random

    import torch

    generator = torch.Generator().manual_seed(606)
    crop = int(torch.randint(20, 29, (), generator=generator))
    sizes = [(crop + 13, crop + 17), (crop - 7, crop - 5), (crop - 6, crop + 11), (crop + 9, crop)]
    flips, tops, python_state = [], set(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        random.seed(7)
        try:
            for number, (height, width) in enumerate(sizes):
                rows, cols = torch.meshgrid(
                    torch.arange(height), torch.arange(width), indexing="ij"
                )
                tag = torch.randint(1, 256, (height, width), generator=generator)
                image = torch.stack([rows + 1, cols + 1, tag]).to(torch.uint8)  # no 0 anywhere
                mask = torch.randint(0, 21, (height, width), generator=generator)
                for _ in range(24):
                    outcome = _follow_crop(flip_pad_crop, image, mask, crop, tag)
                    if isinstance(outcome, str):
                        return outcome
                    flips.append(outcome[0])
                    if number == 0:
                        tops.add(outcome[1])
        finally:
            random.setstate(python_state)
    if not 0.2 < sum(flips) / len(flips) < 0.8:
        return (f"{sum(flips)} of {len(flips)} calls flipped the pictures; "
                "flip with probability 1/2, e.g. when torch.rand(()) < 0.5.")  # fmt: skip
    if len(tops) < 4:
        return ("the window is (almost) always cut at the same place; draw "
                "its top and left corner at random, e.g. with torch.randint.")  # fmt: skip
    return None


def _follow_crop(function, image, mask, crop, tag):
    """One call of the learner's ``flip_pad_crop``: ``(flipped, top)``, or a hint (a str)."""
    import torch

    from dlcourse.voc import VOID_INDEX

    height, width = mask.shape
    result, hint = call_learner(
        function, image.clone(), mask.clone(), crop, who=function_name(function)
    )
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
    return judge_function(
        class_shares,
        _class_shares_mistake,
        "void pixels are neither counted nor in the total, and a class no "
        "pixel has still gets its share, 0.",
        usage="def class_shares(masks, num_classes): ...",
    )


def _class_shares_mistake(class_shares) -> str | None:
    """The first set of random masks whose shares ``class_shares`` gets wrong, as a hint."""
    import torch

    from dlcourse.voc import VOID_INDEX

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
        got, hint = call_learner(class_shares, [m.clone() for m in masks], num_classes,
                                 who=function_name(class_shares))  # fmt: skip
        if hint:
            return hint
        try:
            got = torch.as_tensor(got, dtype=torch.float64).reshape(-1)
        except (TypeError, ValueError, RuntimeError):
            return "return a tensor with one share per class."
        if got.numel() != num_classes:
            return (f"with num_classes={num_classes} return {num_classes} "
                    f"shares, got {got.numel()}; torch.bincount(..., minlength="
                    "num_classes) keeps classes that no pixel has.")  # fmt: skip
        if not torch.allclose(got, expected, atol=1e-6):
            total = sum(m.numel() for m in masks)
            if torch.allclose(got * total / labelled.numel(), expected, atol=1e-6):
                return "you divided by every pixel; void pixels are no class: leave them out of the total."
            if torch.allclose(got, 100 * expected, atol=1e-4):
                return "give shares between 0 and 1, not percentages."
            return ("drop the void pixels (mask != 255), count each class over all masks "
                    "together (torch.bincount), then divide by the number of labelled pixels.")  # fmt: skip
    return None


def check_rgb_to_labels(rgb_to_labels) -> CheckResult:
    """Lesson 06: ``rgb_to_labels(rgb, colors)`` turns a colour mask into class indices.

    ``rgb`` is an ``(H, W, 3)`` uint8 array, ``colors`` a ``(K, 3)`` array: a pixel of
    colour ``colors[k]`` becomes k, any other colour becomes void 255. The check runs
    the learner's function on fresh random colour tables, some of whose colours share
    a channel or a channel sum, and compares with :func:`dlcourse.files.colors_to_labels`.
    """
    return judge_function(
        rgb_to_labels,
        _rgb_to_labels_mistake,
        "each colour was matched on all three channels, and unknown ones are void.",
        usage="def rgb_to_labels(rgb, colors): ...",
    )


def _rgb_to_labels_mistake(rgb_to_labels) -> str | None:
    """The first random colour mask ``rgb_to_labels`` labels wrong, as a hint."""
    from dlcourse.files import colors_to_labels
    from dlcourse.voc import VOID_COLOR, VOID_INDEX

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
            got, hint = call_learner(
                rgb_to_labels, picture.copy(), colors.copy(), who=function_name(rgb_to_labels)
            )
            if hint:
                return hint
            got = np.asarray(got)
            if got.shape != truth.shape:
                return (f"for a {picture.shape} colour mask return a "
                        f"{truth.shape} array of indices, got {got.shape}.")  # fmt: skip
            if not np.array_equal(got.astype(np.int64), truth):
                wrong = got != truth
                if bool((got[truth == VOID_INDEX] == 0).any()):
                    return ("a colour that is in no row of colors (the void colour, or any "
                            "other) must become 255, not 0 (background).")  # fmt: skip
                return (f"{int(wrong.sum())} pixels got the wrong index; compare all three "
                        "channels at once, e.g. (rgb[..., None, :] == colors).all(-1).")  # fmt: skip
    return None
