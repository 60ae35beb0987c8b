"""MobileNets: convolutional networks for phones, built from depthwise-separable convolutions.

- **MobileNet v1** (Howard et al., "MobileNets: Efficient Convolutional Neural Networks for
  Mobile Vision Applications", 2017).
- **MobileNet v2** (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
  CVPR 2018), in torchvision's layout.

A standard K×K convolution from M to N channels on an H×W map costs ``H·W·M·N·K²`` multiply-adds.
A **depthwise-separable** convolution splits it in two:

1. *depthwise*: one K×K filter per input channel (a grouped convolution with ``groups = M``):
   ``H·W·M·K²``;
2. *pointwise*: a 1×1 convolution mixing the channels: ``H·W·M·N``.

The ratio is ``(M·K² + M·N) / (M·N·K²) = 1/N + 1/K²``: with 3×3 kernels, 8 to 9 times fewer
multiply-adds (and parameters), for a small loss of accuracy.

MobileNet v2's **inverted residual** block turns ResNet's bottleneck inside out: it *expands* the
channels by a factor t (1×1 conv + BN + ReLU6), filters them depthwise (3×3, + BN + ReLU6), and
*projects* back down with a 1×1 conv + BN and **no** activation (a "linear bottleneck": ReLU on
few channels would destroy information). The shortcut joins the narrow ends, when the stride is
1 and the channel counts agree.
"""

from __future__ import annotations

from tinyconv import nn
from tinyconv.models._init import init_relu_network_

__all__ = [
    "ConvBNActivation",
    "DepthwiseSeparableConv",
    "InvertedResidual",
    "MobileNetV1",
    "MobileNetV2",
    "make_divisible",
    "mobilenet_v1",
    "mobilenet_v2",
]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` (hardware-friendly), never going more
    than 10 % below ``value``."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvBNActivation(nn.Sequential):
    """Convolution (no bias, "same" padding) + BatchNorm + activation (ReLU6 by default, as both
    MobileNets; ``activation=None`` leaves it out). A Sequential, so its layers are named "0", "1",
    "2" like torchvision's ``Conv2dNormActivation``. ``groups=in_channels`` makes it depthwise."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 groups: int = 1, activation: type | None = nn.ReLU6):
        padding = (kernel_size - 1) // 2
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                            groups=groups, bias=False),
                  nn.BatchNorm2d(out_channels)]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)
        self.out_channels = out_channels


# --------------------------------------------------------------------------------------------
# MobileNet v1
# --------------------------------------------------------------------------------------------

class DepthwiseSeparableConv(nn.Module):
    """One MobileNet v1 layer pair: 3×3 depthwise conv (stride s) + BN + ReLU, then 1×1 pointwise
    conv + BN + ReLU. ``(N, in_channels, H, W) -> (N, out_channels, H/s, W/s)``.

    Parameters: ``9·in_channels`` (depthwise) + ``in_channels·out_channels`` (pointwise) + the two
    BatchNorms' γ and β.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1,
                 activation: type = nn.ReLU):
        super().__init__()
        self.depthwise = ConvBNActivation(in_channels, in_channels, 3, stride,
                                          groups=in_channels, activation=activation)
        self.pointwise = ConvBNActivation(in_channels, out_channels, 1,
                                          activation=activation)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


# (output channels, stride) of the 13 depthwise-separable layers of the paper's Table 1
_V1_LAYERS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
              (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


class MobileNetV1(nn.Module):
    """MobileNet v1: a 3×3/2 conv to 32 channels, 13 depthwise-separable layers (five of them with
    stride 2: 224 -> 7), global average pooling, one fully connected layer.

    The paper's Table 1 shows stride 2 for the last depthwise layer but an unchanged 7×7 output;
    like every implementation we use stride 1 there.

    Parameter convention: convolutions have no bias (each is followed by BatchNorm); BatchNorm's
    γ and β are parameters (2 per channel), its running mean and variance are buffers, not
    parameters. With width 1.0 and 1000 classes this gives **4,231,976** parameters: 3,185,088
    conv weights + 21,888 BatchNorm γ/β + 1,025,000 in the classifier — the paper's "4.2 million".

    Args:
        num_classes: outputs of the classifier.
        in_channels: channels of the input image.
        width_mult: the paper's width multiplier α: every layer has α times the channels
            (0.75, 0.5 and 0.25 in the paper); cost falls roughly as α².
        small_input: for 32×32 images the first convolution has stride 1 (the map is then 1×1
            after the five stride-2 layers).
        dropout: dropout before the classifier (the paper uses none: default 0).
        activation: ``nn.ReLU`` (the paper) or ``nn.ReLU6``.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 small_input: bool = False, dropout: float = 0.0, activation: type = nn.ReLU):
        super().__init__()

        def width(channels: int) -> int:
            return max(8, int(channels * width_mult))

        channels = width(32)
        layers = [ConvBNActivation(in_channels, channels, 3, stride=1 if small_input else 2,
                                   activation=activation)]
        for out_channels, stride in _V1_LAYERS:
            layers.append(DepthwiseSeparableConv(channels, width(out_channels), stride,
                                                 activation))
            channels = width(out_channels)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(p=dropout)
        self.classifier = nn.Linear(channels, num_classes)
        init_relu_network_(self, conv_mode="fan_out", linear_std=0.01, zero_linear_bias=True)

    def forward(self, x):
        """``x: (N, C, 224, 224)`` -> features ``(N, 1024·α, 7, 7)`` -> ``(N, num_classes)``."""
        x = self.flatten(self.avgpool(self.features(x)))
        return self.classifier(self.dropout(x))


def mobilenet_v1(num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 small_input: bool = False, dropout: float = 0.0,
                 activation: type = nn.ReLU) -> MobileNetV1:
    """MobileNet v1 (Howard et al., 2017): 4,231,976 parameters with the defaults (BatchNorm γ/β
    counted, no conv biases; see :class:`MobileNetV1`). Not in torchvision."""
    return MobileNetV1(num_classes, in_channels, width_mult, small_input, dropout, activation)


# --------------------------------------------------------------------------------------------
# MobileNet v2
# --------------------------------------------------------------------------------------------

class InvertedResidual(nn.Module):
    """MobileNet v2's block: expand (1×1, ×t) -> depthwise 3×3 (stride s) -> project (1×1, linear).

    ``(N, in_channels, H, W) -> (N, out_channels, H/s, W/s)``; ``x +`` the result when
    ``stride == 1 and in_channels == out_channels``. With ``expand_ratio == 1`` there is no
    expansion layer. The layers are in ``conv`` (a Sequential), named as in torchvision.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {stride}")
        self.stride = stride
        hidden = round(in_channels * expand_ratio)
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = []
        if expand_ratio != 1:
            layers.append(ConvBNActivation(in_channels, hidden, kernel_size=1))   # expand
        layers += [
            ConvBNActivation(hidden, hidden, 3, stride, groups=hidden),          # depthwise
            nn.Conv2d(hidden, out_channels, 1, bias=False),                      # project
            nn.BatchNorm2d(out_channels),                                        # (linear)
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = out_channels

    def forward(self, x):
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


# t (expansion), c (output channels), n (repeats), s (stride of the first repeat): Table 2
_V2_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileNetV2(nn.Module):
    """MobileNet v2: 3×3/2 conv to 32 channels, 17 inverted residual blocks (Table 2 of the
    paper), 1×1 conv to 1280 channels, global average pooling, dropout, fully connected layer.

    Shapes on 224×224: 112 (stem) -> 112, 56, 28, 14, 14, 7, 7 after the seven groups of blocks
    (16, 24, 32, 64, 96, 160, 320 channels) -> 1280×7×7 -> 1280 -> num_classes.
    3,504,872 parameters with the defaults, torchvision's count (BatchNorm γ/β included).

    Args:
        num_classes, in_channels: as everywhere.
        width_mult: width multiplier (channel counts rounded to multiples of ``round_nearest``;
            the last layer's 1280 is only ever widened, not narrowed).
        small_input: for 32×32 images the stem has stride 1 (the last map is then 2×2).
        dropout: before the classifier (0.2).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 small_input: bool = False, dropout: float = 0.2, round_nearest: int = 8):
        super().__init__()
        channels = make_divisible(32 * width_mult, round_nearest)
        last_channels = make_divisible(1280 * max(1.0, width_mult), round_nearest)
        layers = [ConvBNActivation(in_channels, channels, 3, stride=1 if small_input else 2)]
        for t, c, n, s in _V2_SETTINGS:
            out_channels = make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                layers.append(InvertedResidual(channels, out_channels, s if i == 0 else 1, t))
                channels = out_channels
        layers.append(ConvBNActivation(channels, last_channels, kernel_size=1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Dropout(p=dropout),
                                        nn.Linear(last_channels, num_classes))
        init_relu_network_(self, conv_mode="fan_out", linear_std=0.01, zero_linear_bias=True)

    def forward(self, x):
        """``x: (N, C, 224, 224)`` -> ``(N, num_classes)``."""
        x = self.flatten(self.avgpool(self.features(x)))
        return self.classifier(x)


def mobilenet_v2(num_classes: int = 1000, in_channels: int = 3, width_mult: float = 1.0,
                 small_input: bool = False, dropout: float = 0.2) -> MobileNetV2:
    """MobileNet v2 (Sandler et al., 2018): 3,504,872 parameters with the defaults, as
    torchvision's."""
    return MobileNetV2(num_classes, in_channels, width_mult, small_input, dropout)
