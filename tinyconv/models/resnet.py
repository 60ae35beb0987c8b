"""ResNet (He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR 2016).

Plain deep networks train *worse* than shallow ones, even on the training set: the optimiser
cannot easily find the identity mapping that would make extra layers harmless. A residual block
makes the identity the default: it computes ``relu(F(x) + x)``, so the stacked layers only learn
the residual ``F(x)``, and the gradient has a direct path back through the ``+ x``.

Two kinds of block (both with BatchNorm after every convolution)::

    BasicBlock (ResNet-18/34)             Bottleneck (ResNet-50/101/152)
    x ─ conv3×3 ─ BN ─ ReLU               x ─ conv1×1 (reduce to width) ─ BN ─ ReLU
      ─ conv3×3 ─ BN ─ (+ x) ─ ReLU         ─ conv3×3 (stride) ─ BN ─ ReLU
                                            ─ conv1×1 (expand ×4) ─ BN ─ (+ x) ─ ReLU

When a block changes the shape (stride 2, or a different number of channels) the shortcut
cannot be the identity: it becomes a *projection*, a 1×1 convolution with the same stride
followed by BatchNorm (the paper's option B), stored as ``downsample``.

The network: a stem (7×7/2 conv, 3×3/2 max-pool: 224 -> 56), four stages ``layer1..layer4``
(64, 128, 256, 512 base channels; stages 2-4 start with stride 2: 56 -> 28 -> 14 -> 7), global
average pooling and one fully connected layer ``fc``. Blocks per stage: ResNet-18 [2, 2, 2, 2],
ResNet-34 [3, 4, 6, 3], ResNet-50 [3, 4, 6, 3] with bottlenecks.

Like torchvision ("ResNet v1.5"), the Bottleneck puts its stride on the 3×3 convolution, not on
the first 1×1 as in the paper (same parameters, slightly better accuracy). Parameter counts equal
torchvision's: ResNet-18 11,689,512; ResNet-34 21,797,672; ResNet-50 25,557,032. Attribute names
follow torchvision too (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``).

``small_input=True`` (CIFAR, 32×32): the stem is a 3×3 stride-1 convolution and the max-pool is
an ``Identity``, so the stages see 32, 16, 8 and 4 pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinyconv import nn
from tinyconv.models._init import init_relu_network_

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "conv1x1",
    "conv3x3",
    "resnet18",
    "resnet34",
    "resnet50",
]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """3×3 convolution with padding 1 (keeps H×W at stride 1), no bias: a BatchNorm follows, and
    its shift β would make a bias redundant."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1,
                     groups=groups, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution, no bias: a linear map of the channels at every pixel."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions and a shortcut: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    Shapes: ``(N, in_channels, H, W) -> (N, channels, H/stride, W/stride)``.
    ``downsample`` is the projection shortcut (1×1 conv + BN) when the shape changes, else None.
    """

    expansion = 1  # output channels = channels * expansion

    def __init__(self, in_channels: int, channels: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = downsample
        self.stride = stride

    def residual(self, x):
        """The branch ``F(x)`` that the block learns."""
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.residual(x) + shortcut)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3, 1×1 expand (×4), plus a shortcut.

    Shapes: ``(N, in_channels, H, W) -> (N, 4·channels, H/stride, W/stride)``; the 3×3
    convolution works on only ``channels`` maps, which is what makes 50+ layers affordable.
    ``groups``/``base_width`` give the ResNeXt variants (width = channels·base_width/64·groups).
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1, base_width: int = 64):
        super().__init__()
        width = int(channels * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(in_channels, width)              # reduce
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)    # the spatial work (and the stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, channels * self.expansion)  # expand
        self.bn3 = nn.BatchNorm2d(channels * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def residual(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.residual(x) + shortcut)


Block = type[BasicBlock] | type[Bottleneck]


class ResNet(nn.Module):
    """A ResNet: stem, four stages of residual blocks, global average pool, ``fc``.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck` (or a subclass, e.g. SE blocks).
        layers: number of blocks in each of the four stages.
        num_classes: outputs of ``fc``.
        in_channels: channels of the input image.
        small_input: CIFAR-style stem (3×3 stride-1 conv, no max-pool) for 32×32 images.
        zero_init_residual: start each block's last BN with γ = 0, so every block begins as the
            identity (Goyal et al., 2017).
        block_kwargs: extra keyword arguments for every block (e.g. ``{"reduction": 16}`` for
            the SE blocks of :mod:`tinyconv.models.senet`).
    """

    def __init__(self, block: Block, layers: Sequence[int], num_classes: int = 1000,
                 in_channels: int = 3, small_input: bool = False,
                 zero_init_residual: bool = False, block_kwargs: dict | None = None):
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNet: layers must give the number of blocks of the 4 stages, "
                             f"got {list(layers)}")
        self.block = block
        self.block_kwargs = dict(block_kwargs or {})
        self.channels = 64  # channels entering the next stage (updated by _make_stage)
        if small_input:  # 32×32 stays 32×32
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1,
                                   bias=False)
            self.maxpool = nn.Identity()
        else:  # 224 -> 112 (conv) -> 56 (pool)
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3,
                                   bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_stage(64, layers[0], stride=1)
        self.layer2 = self._make_stage(128, layers[1], stride=2)
        self.layer3 = self._make_stage(256, layers[2], stride=2)
        self.layer4 = self._make_stage(512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        init_relu_network_(self, conv_mode="fan_out")  # He et al.'s initialisation for ReLU
        if zero_init_residual:
            for m in self.modules():
                last_bn = getattr(m, "bn3", None) if isinstance(m, Bottleneck) else \
                    getattr(m, "bn2", None) if isinstance(m, BasicBlock) else None
                if last_bn is not None:
                    nn.init.zeros_(last_bn.weight)

    def _make_stage(self, channels: int, blocks: int, stride: int) -> nn.Sequential:
        """``blocks`` blocks; the first may downsample (stride) and change the channel count, so
        it gets a projection shortcut; the others keep the shape and use the identity."""
        out_channels = channels * self.block.expansion
        downsample = None
        if stride != 1 or self.channels != out_channels:
            downsample = nn.Sequential(
                conv1x1(self.channels, out_channels, stride),
                nn.BatchNorm2d(out_channels),
            )
        stage = [self.block(self.channels, channels, stride, downsample, **self.block_kwargs)]
        self.channels = out_channels
        for _ in range(1, blocks):
            stage.append(self.block(self.channels, channels, **self.block_kwargs))
        return nn.Sequential(*stage)

    def forward(self, x):
        """``x: (N, C, 224, 224)`` -> ``(N, num_classes)`` (the stages see 56, 28, 14, 7 pixels;
        with ``small_input`` and 32×32 images: 32, 16, 8, 4)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.flatten(self.avgpool(x))
        return self.fc(x)


def resnet18(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
             **kwargs) -> ResNet:
    """ResNet-18: BasicBlocks [2, 2, 2, 2]; 11,689,512 parameters with the defaults
    (11,173,962 for ``num_classes=10, small_input=True``)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, small_input, **kwargs)


def resnet34(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
             **kwargs) -> ResNet:
    """ResNet-34: BasicBlocks [3, 4, 6, 3]; 21,797,672 parameters with the defaults."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels, small_input, **kwargs)


def resnet50(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
             **kwargs) -> ResNet:
    """ResNet-50: Bottlenecks [3, 4, 6, 3]; 25,557,032 parameters with the defaults."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, small_input, **kwargs)
