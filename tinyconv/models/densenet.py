"""DenseNet (Huang, Liu, van der Maaten & Weinberger, "Densely Connected Convolutional
Networks", CVPR 2017), in torchvision's layout.

ResNet *adds* a block's input to its output. DenseNet *concatenates*: inside a dense block, layer
``l`` receives the feature maps of **all** earlier layers of the block,
``x_l = H_l([x_0, x_1, ..., x_{l-1}])``, and contributes only ``k`` new maps (the *growth rate*,
32 here). Features are reused rather than relearned, so each layer can be thin.

- A **dense layer** ``H_l`` is BN-ReLU-conv1×1 (to ``bn_size·k`` = 128 channels: a bottleneck)
  then BN-ReLU-conv3×3 (to ``k`` channels) — "pre-activation" order, BN and ReLU before the conv.
  After ``L`` layers a block that started with ``C`` channels has ``C + L·k``.
- A **transition** between blocks is BN-ReLU-conv1×1 (halving the channels: compression 0.5)
  then 2×2 average pooling (halving H and W).

DenseNet-121: stem (7×7/2 conv, BN, ReLU, 3×3/2 max-pool: 224 -> 56), dense blocks of
6, 12, 24, 16 layers (channels 64 -> 256 -> 128 -> 512 -> 256 -> 1024 -> 512 -> 1024, maps 56,
28, 14, 7), a final BN, ReLU, global average pooling and one fully connected layer: conv0 + 58
dense layers × 2 convolutions + 3 transition convolutions = 120 convolutions, + 1 fc = 121.
7,978,856 parameters with the defaults (torchvision's count). The modules are named as in
torchvision: ``features.conv0``, ``features.denseblock1.denselayer1.conv1``,
``features.transition1.conv``, ``features.norm5``, ``classifier``.

``small_input=True`` (32×32): conv0 is 3×3 stride 1 and pool0 an ``Identity``: the blocks see 32,
16, 8 and 4 pixels.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from tinyconv import nn
from tinyconv.functions import cat
from tinyconv.models._init import init_relu_network_

__all__ = ["DenseBlock", "DenseLayer", "DenseNet", "Transition", "densenet121"]


class DenseLayer(nn.Module):
    """BN-ReLU-conv1×1 (bottleneck to ``bn_size·growth_rate``) then BN-ReLU-conv3×3.

    ``(N, C_in, H, W) -> (N, growth_rate, H, W)``: the *new* maps only; the block concatenates.
    """

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int, drop_rate: float = 0.0):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1,
                               bias=False)
        self.dropout = nn.Dropout(p=drop_rate)

    def forward(self, x):
        out = self.conv1(self.relu1(self.norm1(x)))
        out = self.conv2(self.relu2(self.norm2(out)))
        return self.dropout(out)


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers, ``denselayer1``, ``denselayer2``, ... Each one sees the
    concatenation of the block input and every earlier layer's output.

    ``(N, C, H, W) -> (N, C + num_layers·growth_rate, H, W)``.
    """

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bn_size: int,
                 drop_rate: float = 0.0):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size,
                                       drop_rate))
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(cat(features, dim=1)))  # every earlier map is an input
        return cat(features, dim=1)


class Transition(nn.Sequential):
    """Between dense blocks: BN-ReLU-conv1×1 to ``out_channels``, then 2×2 average pooling.
    ``(N, C_in, H, W) -> (N, out_channels, H/2, W/2)``."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(in_channels)),
            ("relu", nn.ReLU(inplace=True)),
            ("conv", nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)),
            ("pool", nn.AvgPool2d(kernel_size=2, stride=2)),
        ]))


class DenseNet(nn.Module):
    """A DenseNet-BC (bottleneck layers + compression 0.5).

    Args:
        growth_rate: ``k``, new channels per dense layer (32).
        block_config: layers in each dense block ((6, 12, 24, 16) for DenseNet-121).
        num_init_features: channels after the stem (64).
        bn_size: bottleneck width factor: the 1×1 conv outputs ``bn_size·k`` channels (4).
        drop_rate: dropout after each dense layer (0).
        num_classes, in_channels: as everywhere.
        small_input: CIFAR-style stem (3×3 stride-1 conv0, no pool0).
    """

    def __init__(self, growth_rate: int = 32, block_config: Sequence[int] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, drop_rate: float = 0.0,
                 num_classes: int = 1000, in_channels: int = 3, small_input: bool = False):
        super().__init__()
        if small_input:
            stem = [("conv0", nn.Conv2d(in_channels, num_init_features, kernel_size=3, stride=1,
                                        padding=1, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)),
                    ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.Identity())]
        else:
            stem = [("conv0", nn.Conv2d(in_channels, num_init_features, kernel_size=7, stride=2,
                                        padding=3, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)),
                    ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
        self.features = nn.Sequential(OrderedDict(stem))
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels = block.out_channels
            if i != len(block_config) - 1:  # compression: halve the channels
                self.features.add_module(f"transition{i + 1}",
                                         Transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.features.add_module("relu5", nn.ReLU(inplace=True))  # parameter-free
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(channels, num_classes)

        init_relu_network_(self, conv_mode="fan_in", zero_linear_bias=True)

    def forward(self, x):
        """``x: (N, C, 224, 224)`` -> features ``(N, 1024, 7, 7)`` -> ``(N, num_classes)``."""
        x = self.flatten(self.avgpool(self.features(x)))
        return self.classifier(x)


def densenet121(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
                growth_rate: int = 32, drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-121 (k = 32, blocks 6-12-24-16): 7,978,856 parameters with the defaults."""
    return DenseNet(growth_rate, (6, 12, 24, 16), 64, 4, drop_rate, num_classes, in_channels,
                    small_input)
