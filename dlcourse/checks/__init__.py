"""Checkers for the lessons' "Your turn" exercises, one module per lesson.

Each ``check_*`` function takes the learner's answer and returns a
:class:`CheckResult`: truthy when the answer is right, and shown as the cell's
result, "Correct! ..." or "Not yet. <hint>" (a reminder while the answer is still
``None``). Expected values are computed from the package, not typed in, so the
checks and the lessons cannot drift. Lessons import them from here
(``from dlcourse.checks import check_rf_size``); ``lessonNN`` holds lesson NN's,
``core`` what they share.

Used in: 00-10.
"""

from dlcourse.checks.core import CheckResult
from dlcourse.checks.lesson00 import (
    check_class_color,
    check_class_index,
    check_color_to_index,
    check_pixel_fraction,
)
from dlcourse.checks.lesson01 import (
    check_jump,
    check_layers_needed,
    check_rf_design,
    check_rf_function,
    check_rf_size,
)
from dlcourse.checks.lesson02 import (
    check_conv_by_unfold,
    check_feature_size,
    check_hybrid_rates,
    check_output_size,
    check_same_padding,
)
from dlcourse.checks.lesson03 import (
    check_bottleneck_params,
    check_downsampling_blocks,
    check_stage_dilations,
    check_stage_plan,
)
from dlcourse.checks.lesson04 import (
    check_aspp_branch,
    check_aspp_channels,
    check_branch_span,
    check_valid_taps,
)
from dlcourse.checks.lesson05 import (
    check_atrous_separable_conv,
    check_decoder_channels,
    check_parameter_count,
    check_separable_params,
    check_transposed_output_size,
)
from dlcourse.checks.lesson06 import (
    check_background_share,
    check_class_shares,
    check_flip_pad_crop,
    check_mask_values,
    check_pad_mask,
    check_rgb_to_labels,
)
from dlcourse.checks.lesson07 import (
    check_accumulate,
    check_effective_batch,
    check_ignored_loss,
    check_pixel_loss,
    check_poly_lr,
    check_poly_schedule,
)
from dlcourse.checks.lesson08 import (
    check_confusion_matrix,
    check_flip_agreement,
    check_iou,
    check_miou,
    check_miou_from_confusion,
    check_tta_passes,
)
from dlcourse.checks.lesson09 import (
    check_bilateral_weight,
    check_mean_field_step,
    check_mean_field_update,
    check_splat_corners,
)
from dlcourse.checks.lesson10 import (
    check_class_weights,
    check_pareto_front,
    check_torchvision_gflops,
)

__all__ = [
    "CheckResult",
    # 00 setup and tour
    "check_class_index", "check_class_color", "check_pixel_fraction", "check_color_to_index",
    # 01 receptive fields
    "check_rf_size", "check_jump", "check_layers_needed", "check_rf_design", "check_rf_function",
    # 02 atrous convolution
    "check_output_size", "check_same_padding", "check_hybrid_rates", "check_feature_size", "check_conv_by_unfold",
    # 03 backbone
    "check_bottleneck_params", "check_stage_dilations", "check_downsampling_blocks", "check_stage_plan",
    # 04 ASPP
    "check_branch_span", "check_valid_taps", "check_aspp_channels", "check_aspp_branch",
    # 05 upsampling and decoder
    "check_transposed_output_size", "check_decoder_channels", "check_parameter_count", "check_separable_params",
    "check_atrous_separable_conv",
    # 06 data pipeline
    "check_mask_values", "check_pad_mask", "check_background_share", "check_flip_pad_crop", "check_class_shares",
    "check_rgb_to_labels",
    # 07 training
    "check_poly_lr", "check_ignored_loss", "check_effective_batch", "check_pixel_loss", "check_poly_schedule",
    "check_accumulate",
    # 08 evaluation
    "check_iou", "check_miou", "check_tta_passes", "check_confusion_matrix", "check_miou_from_confusion",
    "check_flip_agreement",
    # 09 CRF
    "check_bilateral_weight", "check_mean_field_step", "check_splat_corners", "check_mean_field_update",
    # 10 capstone
    "check_pareto_front", "check_class_weights", "check_torchvision_gflops",
]  # fmt: skip
