"""Squeeze-and-Excitation networks (Hu, Shen & Sun, "Squeeze-and-Excitation Networks",
CVPR 2018).

A convolution mixes channels only locally. An **SE block** lets the network re-weight its
channels using information from the whole image:

1. *squeeze*: global average pooling, ``(N, C, H, W) -> (N, C)``: one number per channel;
2. *excitation*: a small two-layer network, ``C -> C/r`` (ReLU) ``-> C`` (sigmoid), gives a
   weight in (0, 1) per channel;
3. *scale*: every channel of the input is multiplied by its weight.

It costs ``2·C²/r + C/r + C`` parameters (two fully connected layers with biases) and almost no
computation. In SE-ResNet the block is applied to the residual branch, before the addition::

    x ─ conv3×3 ─ BN ─ ReLU ─ conv3×3 ─ BN ─ SE ─ (+ shortcut(x)) ─ ReLU

We use the paper's reduction ratio **r = 16**. SE-ResNet-18 then has 11,778,592 parameters: the
11,689,512 of ResNet-18 plus 89,080 in its eight SE blocks (580 + 580 at 64 channels,
2,184 × 2 at 128, 8,464 × 2 at 256, 33,312 × 2 at 512). SE-ResNet-50 (Bottleneck blocks, the SE
block on the 4× expanded output) has 28,088,024, the paper's "28.1 M".
"""

from __future__ import annotations

from tinyconv import nn
from tinyconv.models.resnet import BasicBlock, Bottleneck, ResNet

__all__ = ["SEBasicBlock", "SEBlock", "SEBottleneck", "se_resnet18", "se_resnet50"]


class SEBlock(nn.Module):
    """Squeeze-and-excitation: ``x * sigmoid(fc2(relu(fc1(mean_hw(x)))))``, per channel.

    Shapes: ``x: (N, C, H, W)``; squeeze ``(N, C)``; ``fc1: C -> C // reduction``;
    ``fc2: C // reduction -> C``; channel weights ``(N, C, 1, 1)``; output ``(N, C, H, W)``.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(channels, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        n, c = x.shape[0], x.shape[1]
        s = self.flatten(self.squeeze(x))                  # (N, C): one statistic per channel
        w = self.sigmoid(self.fc2(self.relu(self.fc1(s))))  # (N, C): a weight in (0, 1) each
        return x * w.reshape(n, c, 1, 1)                   # rescale every channel


class _SqueezeExcitedResidual:
    """Mixin for a ResNet block: an SE block rescales the residual branch before the addition
    (``out = relu(shortcut(x) + se(residual(x)))``)."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1,
                 downsample: nn.Module | None = None, reduction: int = 16):
        super().__init__(in_channels, channels, stride, downsample)
        self.se = SEBlock(channels * self.expansion, reduction)

    def residual(self, x):
        return self.se(super().residual(x))


class SEBasicBlock(_SqueezeExcitedResidual, BasicBlock):
    """ResNet's BasicBlock with an SE block on the residual branch, before the addition."""


class SEBottleneck(_SqueezeExcitedResidual, Bottleneck):
    """ResNet's Bottleneck with an SE block on the (expanded) residual branch."""


def se_resnet18(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
                reduction: int = 16, **kwargs) -> ResNet:
    """SE-ResNet-18: ResNet-18 with an SE block (r = 16) in each of its 8 BasicBlocks;
    11,778,592 parameters with the defaults."""
    return ResNet(SEBasicBlock, [2, 2, 2, 2], num_classes, in_channels, small_input,
                  block_kwargs={"reduction": reduction}, **kwargs)


def se_resnet50(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
                reduction: int = 16, **kwargs) -> ResNet:
    """SE-ResNet-50: ResNet-50 with an SE block (r = 16) in each of its 16 Bottlenecks;
    28,088,024 parameters with the defaults."""
    return ResNet(SEBottleneck, [3, 4, 6, 3], num_classes, in_channels, small_input,
                  block_kwargs={"reduction": reduction}, **kwargs)
