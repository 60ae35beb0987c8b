"""The benchmark cases, and how many floating-point operations each one costs.

A conv case is ``(N, C_in, H, W, C_out, k, stride, pad, groups)``. FLOPs (a multiply-add counts 2):
forward ``2·N·C_out·H_out·W_out·(C_in/groups)·k²``; forward + backward is 3× that (the input
gradient and the weight gradient each cost one forward). Output sizes come from the kernel
contract's formula (``tinyconv.kernels.contract.conv_output_size``).
"""

from __future__ import annotations

from tinyconv.kernels.contract import conv_output_size

CONV_CASES = {
    # name: (N, C_in, H, W, C_out, k, stride, pad, groups)
    "lenet_c1": (64, 1, 32, 32, 6, 5, 1, 0, 1),
    "lenet_c3": (64, 6, 14, 14, 16, 5, 1, 0, 1),
    "vgg_3x3": (32, 64, 32, 32, 64, 3, 1, 1, 1),
    "resnet_3x3": (16, 128, 16, 16, 128, 3, 1, 1, 1),
    "stride2_3x3": (16, 64, 32, 32, 128, 3, 2, 1, 1),
    "pointwise_1x1": (32, 256, 14, 14, 64, 1, 1, 0, 1),
    "depthwise_3x3": (32, 64, 32, 32, 64, 3, 1, 1, 64),
    "alexnet_c1": (8, 3, 227, 227, 96, 11, 4, 0, 1),
}

#: Cases on either side of the heuristic's thresholds (``kernels/cpu/dispatch.py``), timed with
#: every plan forced by ``run.py --plans`` (and ``--markdown``); not in the PyTorch comparison.
PLAN_CASES = {
    "c3_batch8": (8, 6, 14, 14, 16, 5, 1, 0, 1),  # batch lanes' minimum batch
    "c3_batch4": (4, 6, 14, 14, 16, 5, 1, 0, 1),
    "5x5_r100": (64, 4, 14, 14, 16, 5, 1, 0, 1),  # just above the unrolled maximum R = 99
    "5x5_r400": (64, 16, 10, 10, 16, 5, 1, 0, 1),  # batch lanes' maximum R
    "3x3_c8": (64, 8, 16, 16, 8, 3, 1, 1, 1),  # below Winograd's 12 input channels
    "3x3_c12": (32, 12, 32, 32, 12, 3, 1, 1, 1),  # above the unrolled maximum R = 99
    "3x3_c16": (32, 16, 32, 32, 16, 3, 1, 1, 1),  # R = 144: unrolled, though Winograd has tiles
    "3x3_c24": (32, 24, 16, 16, 24, 3, 1, 1, 1),  # Winograd's minimum R = 216
    "3x3_c32": (32, 32, 16, 16, 32, 3, 1, 1, 1),
    "3x3_128tiles": (8, 128, 8, 8, 128, 3, 1, 1, 1),  # Winograd's minimum tile count
    "3x3_64tiles": (1, 128, 16, 16, 128, 3, 1, 1, 1),
    "depthwise_s2": (32, 64, 32, 32, 64, 3, 2, 1, 64),  # direct, R = 9 with a stride
    "shortcut_1x1_s2": (32, 16, 32, 32, 32, 1, 2, 0, 1),  # a 1x1 is a GEMM even with R = 16
}

POOL_CASES = {
    # name: (kind, (N, C, H, W), kernel = stride)
    "maxpool_2x2_small": ("max", (64, 16, 28, 28), 2),
    "maxpool_2x2_large": ("max", (32, 64, 32, 32), 2),
    "avgpool_2x2_small": ("avg", (64, 16, 28, 28), 2),
    "avgpool_2x2_large": ("avg", (32, 64, 32, 32), 2),
}


def conv_shapes(case: tuple) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """``(x_shape, w_shape)`` of a conv case: ``(N, C_in, H, W)``, ``(C_out, C_in/g, k, k)``."""
    n, c_in, h, w, c_out, k, s, p, g = case
    return (n, c_in, h, w), (c_out, c_in // g, k, k)


def conv_output_hw(case: tuple) -> tuple[int, int]:
    """``(H_out, W_out)`` of a conv case."""
    n, c_in, h, w, c_out, k, s, p, g = case
    return conv_output_size(h, k, s, p, p), conv_output_size(w, k, s, p, p)


def conv_flops(case: tuple) -> float:
    """Forward FLOPs of a conv case (fwd+bwd is 3×)."""
    n, c_in, h, w, c_out, k, s, p, g = case
    h_out, w_out = conv_output_hw(case)
    return 2.0 * n * c_out * h_out * w_out * (c_in // g) * k * k
