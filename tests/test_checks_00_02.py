"""The lesson 00-02 checkers: each accepts the right answer and rejects typical wrong ones."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from dlcourse import checks
from dlcourse.rf import receptive_fields
from dlcourse.viz import VOC_PALETTE, VOID_INDEX, voc_colormap

# --- 00 ------------------------------------------------------------------------------


def test_check_class_index(capsys):
    assert checks.check_class_index("dog", 12)
    assert not checks.check_class_index("dog", 11)  # counted from 1 (background forgotten)
    assert not checks.check_class_index("dog", "dog")  # the name, not the index
    assert not checks.check_class_index("dog", None)
    assert "Not answered" in capsys.readouterr().out


def test_check_class_color():
    assert checks.check_class_color("cat", (64, 0, 0))
    assert not checks.check_class_color("cat", (0, 0, 64))  # channels reversed (BGR)
    assert not checks.check_class_color("cat", VOC_PALETTE[7])  # the row of the class before
    assert not checks.check_class_color("cat", (64, 0))


def test_check_pixel_fraction_rejects_labelled_only_and_percentages(capsys):
    mask = np.zeros((40, 50), dtype=np.uint8)
    mask[:, :3] = VOID_INDEX  # 6% void
    mask[10:30, 10:30] = 15
    void = float((mask == VOID_INDEX).mean())
    assert checks.check_pixel_fraction(mask, VOID_INDEX, void)
    labelled_only = (mask == VOID_INDEX).sum() / (mask != VOID_INDEX).sum()
    assert not checks.check_pixel_fraction(mask, VOID_INDEX, labelled_only)
    assert not checks.check_pixel_fraction(mask, VOID_INDEX, 100 * void)
    assert "percentage" in capsys.readouterr().out
    assert not checks.check_pixel_fraction(mask, VOID_INDEX, void + 5e-4)  # 1 pixel per 2000 off
    assert not checks.check_pixel_fraction(mask, VOID_INDEX, "six percent")


def test_check_pixel_fraction_on_the_lesson_mask():
    from dlcourse.samples import sample_mask

    mask = sample_mask()
    void = mask == VOID_INDEX
    assert checks.check_pixel_fraction(mask, VOID_INDEX, void.mean())
    # the labelled-only share differs by less than 1e-3 here: the old tolerance let it pass
    assert not checks.check_pixel_fraction(mask, VOID_INDEX, void.sum() / (~void).sum())


def _color_to_index(rgb):
    index = 0
    for position in range(8):  # bit 7 of each channel holds index bits 0..2, bit 6 bits 3..5, ...
        bit = 7 - position
        for channel in range(3):
            index |= ((int(rgb[channel]) >> bit) & 1) << (3 * position + channel)
    return index


def test_check_color_to_index():
    assert checks.check_color_to_index(_color_to_index)
    table = {tuple(int(v) for v in VOC_PALETTE[i]): i for i in range(21)}
    assert not checks.check_color_to_index(lambda rgb: table[tuple(rgb)])  # only the 21 classes
    assert not checks.check_color_to_index(lambda rgb: _color_to_index(rgb[::-1]))  # BGR
    assert not checks.check_color_to_index(42)
    assert not checks.check_color_to_index(None)
    colormap = voc_colormap(256)
    assert all(_color_to_index(colormap[i]) == i for i in range(256))


# --- 01 ------------------------------------------------------------------------------

VGG_LIKE = [(3, 1, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1)]


def test_check_rf_size():
    assert checks.check_rf_size(VGG_LIKE, 24)
    assert not checks.check_rf_size(VGG_LIKE, 15)  # every layer adds k - 1, ignoring the jump
    assert not checks.check_rf_size(VGG_LIKE, 32)  # grown with the new jump instead of the old
    assert not checks.check_rf_size(VGG_LIKE, 24.5)
    assert not checks.check_rf_size(VGG_LIKE, None)


def test_check_jump():
    assert checks.check_jump(VGG_LIKE, 4)
    assert not checks.check_jump(VGG_LIKE, 2)
    assert not checks.check_jump(VGG_LIKE, 8)


def test_check_layers_needed():
    assert checks.check_layers_needed(100, 50)
    assert not checks.check_layers_needed(100, 49)  # RF 99: one short
    assert not checks.check_layers_needed(100, 49.5)


def test_check_rf_design():
    assert checks.check_rf_design([(3, 2, 1), (3, 2, 1), (3, 1, 1)], size=15, jump=4)
    assert checks.check_rf_design([(7, 2, 1), (3, 2, 1), (2, 1, 1)], size=15, jump=4)
    assert not checks.check_rf_design([(3, 1, 1)] * 7, size=15, jump=1)  # too many layers
    assert not checks.check_rf_design([(3, 2, 1), (3, 2, 1)], size=15, jump=4)  # RF 7
    assert not checks.check_rf_design([(3, 1, 1), (3, 2, 1), (3, 2, 1)], size=15, jump=4)  # RF 9
    assert not checks.check_rf_design([(3, 2, 1, 1)], size=15, jump=4)  # four numbers per layer
    assert not checks.check_rf_design(7, size=15, jump=4)


def _rf_table(layers):
    size, jump, start, rows = 1, 1, 0.0, []
    for kernel, stride, dilation, padding in layers:
        span = dilation * (kernel - 1) + 1
        size, start, jump = size + (span - 1) * jump, start + ((span - 1) / 2 - padding) * jump, jump * stride
        rows.append((size, jump, start))
    return rows


def test_check_rf_function():
    assert checks.check_rf_function(_rf_table)
    assert checks.check_rf_function(lambda layers: [(r.size, r.jump, r.start) for r in receptive_fields(layers)])

    def jump_first(layers):  # multiplies the jump before growing the size
        size, jump, start, rows = 1, 1, 0.0, []
        for kernel, stride, dilation, padding in layers:
            jump *= stride
            span = dilation * (kernel - 1) + 1
            size, start = size + (span - 1) * jump, start + ((span - 1) / 2 - padding) * jump
            rows.append((size, jump, start))
        return rows

    def no_padding(layers):  # forgets that padding moves the start
        return _rf_table([(k, s, d, 0) for k, s, d, _ in layers])

    assert not checks.check_rf_function(jump_first)
    assert not checks.check_rf_function(no_padding)
    assert not checks.check_rf_function(lambda layers: _rf_table(layers)[-1:])  # only the last row
    assert not checks.check_rf_function(lambda layers: 1 / 0)
    assert not checks.check_rf_function(None)


# --- 02 ------------------------------------------------------------------------------


def test_check_output_size():
    assert checks.check_output_size(20, 3, 12, dilation=4)
    assert not checks.check_output_size(20, 3, 18, dilation=4)  # dilation ignored
    assert not checks.check_output_size(20, 3, 16, dilation=4)  # span taken as 4 * 3 + 1


def test_check_same_padding():
    assert checks.check_same_padding(5, 3, 6)
    assert not checks.check_same_padding(5, 3, 3)  # padding = dilation only holds for 3x3
    assert not checks.check_same_padding(5, 3, 2)  # dilation ignored
    with pytest.raises(ValueError, match="odd"):
        checks.check_same_padding(4, 1, 1)


def test_check_hybrid_rates():
    assert checks.check_hybrid_rates((1, 3, 8), min_rf=25)
    assert checks.check_hybrid_rates((1, 3, 9))
    assert not checks.check_hybrid_rates((1, 2, 5), min_rf=25)  # solid, but RF 17
    assert not checks.check_hybrid_rates((1, 4, 8), min_rf=25)  # RF 27 with holes
    assert not checks.check_hybrid_rates((2, 4, 8), min_rf=25)  # multi-grid at OS16: holes
    assert not checks.check_hybrid_rates((1,) * 12, min_rf=25)  # solid RF 25, but twelve layers
    assert not checks.check_hybrid_rates((1, 3, 8, 1), min_rf=25)
    assert not checks.check_hybrid_rates((1, 3.5, 8), min_rf=25)
    assert not checks.check_hybrid_rates(12, min_rf=25)
    assert not checks.check_hybrid_rates(None)


def test_check_feature_size():
    assert [checks.check_feature_size(os, 513, side) for os, side in ((8, 65), (16, 33), (32, 17))] == [True] * 3
    assert not checks.check_feature_size(8, 513, 64)  # 513 / 8 rounded down
    assert not checks.check_feature_size(8, 513, 129)  # one stride-2 stage too few
    with pytest.raises(ValueError, match="8, 16 or 32"):
        checks.check_feature_size(4, 513, 129)


def _conv_by_unfold(x, weight, bias, dilation, padding):
    n, _, h, w = x.shape
    k_out, _, k, _ = weight.shape
    cols = F.unfold(x, k, dilation=dilation, padding=padding)
    side_h, side_w = h + 2 * padding - dilation * (k - 1), w + 2 * padding - dilation * (k - 1)
    return (weight.reshape(k_out, -1) @ cols + bias[:, None]).reshape(n, k_out, side_h, side_w)


def test_check_conv_by_unfold():
    assert checks.check_conv_by_unfold(_conv_by_unfold)
    # calling the convolution is switched off inside the check
    assert not checks.check_conv_by_unfold(
        lambda x, w, b, d, p: F.conv2d(x, w, b, padding=p, dilation=d)
    )
    assert F.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3)).item() == 9.0  # restored
    assert not checks.check_conv_by_unfold(lambda x, w, b, d, p: _conv_by_unfold(x, w, b * 0, d, p))  # no bias
    assert not checks.check_conv_by_unfold(lambda x, w, b, d, p: _conv_by_unfold(x, w, b, d, 0))  # no padding
    assert not checks.check_conv_by_unfold(None)
    assert not checks.check_conv_by_unfold(lambda x, w, b, d, p: None)  # the exercise as handed out
    assert not checks.check_conv_by_unfold(lambda x, w, b, d, p: "out")
