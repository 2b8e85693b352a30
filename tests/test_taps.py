"""Where the taps of dilated convolutions land (dlcourse.taps), against hand-derived values."""

import pytest

from dlcourse.rf import effective_kernel
from dlcourse.taps import aspp_taps, footprint, stack_support, tiled_field_of_view


@pytest.mark.parametrize(
    ("call", "error", "name"),
    [
        (lambda: footprint([]), ValueError, "dilations"),
        (lambda: footprint([1, 2], kernel=[3]), ValueError, "kernel"),
        (lambda: footprint([1, 0]), ValueError, "dilation"),
        (lambda: footprint(2), TypeError, "dilations"),
    ],
)
def test_bad_arguments_name_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_footprint_gridding():
    grid = footprint((2, 2, 2))
    assert grid.shape == (13, 13)
    assert grid.sum() == 49
    assert grid[::2, ::2].all() and not grid[1::2, :].any()
    assert footprint((1, 2, 5)).shape == (17, 17)
    assert footprint((1, 2, 5)).sum() == 289
    counts = footprint((1, 2, 5), counts=True)
    assert counts.sum() == 3**6  # every one of the 3^3 x 3^3 paths ends somewhere
    assert counts.max() == 4 and counts[0, 0] == 1 and counts[8, 8] == 1
    assert footprint([6]).sum() == 9
    assert footprint([1, 1], kernel=[3, 5]).shape == (7, 7)


def test_tiled_field_of_view_gives_deeplab_v1_table_2_column():
    # arXiv:1412.7062 table 2 "receptive field": (kernel - 1) * rate * 8 + 32
    assert tiled_field_of_view(7, 4, jump=8, tile=32) == 6 * 32 + 32 == 224  # DeepLab-CRF-7x7
    assert tiled_field_of_view(4, 4, jump=8, tile=32) == 3 * 32 + 32 == 128  # DeepLab-CRF
    assert tiled_field_of_view(4, 8, jump=8, tile=32) == 3 * 64 + 32 == 224  # DeepLab-CRF-4x4
    assert tiled_field_of_view(3, 12, jump=8, tile=32) == 2 * 96 + 32 == 224  # LargeFOV
    assert tiled_field_of_view(3, 2) == effective_kernel(3, 2) == 5
    with pytest.raises(ValueError, match=r"tiled_field_of_view\(.*tile=0\).*tile=0"):
        tiled_field_of_view(3, 12, 8, 0)
    with pytest.raises(ValueError, match="dilation=0"):
        tiled_field_of_view(3, 0)


def test_stack_support_hand_values():
    # (3,1,1) then (3,1,2): the top unit reads units 0, 2, 4 of layer 1, which read inputs 0..6
    support = stack_support([(3, 1, 1), (3, 1, 2)])
    assert [s.tolist() for s in support] == [list(range(7)), [0, 2, 4], [0]]
    support = stack_support([(3, 2, 1), (3, 1, 1)])
    assert support[0].tolist() == list(range(7)) and support[1].tolist() == [0, 1, 2]
    # a 3x3 conv with dilation 2 on top of a stride-2 layer skips every other unit
    assert stack_support([(1, 2, 1), (3, 1, 2)])[0].tolist() == [0, 4, 8]


def test_aspp_taps_by_hand():
    corners, inside = aspp_taps(36, 8, center=(256, 256), image_size=(513, 513))
    assert inside.tolist() == [False] * 4 + [True] + [False] * 4  # 65x65 map: only the centre
    assert corners[4].tolist() == [256, 256] and corners[0].tolist() == [-32, -32]
    _, inside = aspp_taps(6, 16, center=(300, 256), image_size=(600, 512))
    assert inside.all()
    with pytest.raises(ValueError, match="rate"):
        aspp_taps(0, 16, (0, 0), (64, 64))
