"""The benchmark cases of the issue, and how many floating-point operations each one costs.

A conv case is ``(N, C_in, H, W, C_out, k, stride, pad, groups)``. FLOPs (a multiply-add counts 2):
forward ``2·N·C_out·H_out·W_out·(C_in/groups)·k²``; forward + backward is 3× that (the input
gradient and the weight gradient each cost one forward).
"""

from __future__ import annotations

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

POOL_CASES = {
    # name: (kind, (N, C, H, W), kernel = stride)
    "maxpool_2x2_small": ("max", (64, 16, 28, 28), 2),
    "maxpool_2x2_large": ("max", (32, 64, 32, 32), 2),
    "avgpool_2x2_small": ("avg", (64, 16, 28, 28), 2),
    "avgpool_2x2_large": ("avg", (32, 64, 32, 32), 2),
}


def conv_output_hw(case):
    n, c_in, h, w, c_out, k, s, p, g = case
    return (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1


def conv_flops(case) -> float:
    """Forward FLOPs of a conv case (fwd+bwd is 3×)."""
    n, c_in, h, w, c_out, k, s, p, g = case
    h_out, w_out = conv_output_hw(case)
    return 2.0 * n * c_out * h_out * w_out * (c_in // g) * k * k
