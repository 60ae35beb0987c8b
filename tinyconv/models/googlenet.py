"""GoogLeNet / Inception v1 (Szegedy et al., "Going Deeper with Convolutions", CVPR 2015), in
torchvision's layout.

Instead of choosing one filter size per layer, an **Inception block** runs four branches in
parallel on the same input and concatenates their outputs along the channels::

    x ─┬─ 1×1 conv ───────────────────────────┐
       ├─ 1×1 conv (reduce) ─ 3×3 conv ────────┤
       ├─ 1×1 conv (reduce) ─ "5×5" conv ──────┼─ concat -> ch1x1 + ch3x3 + ch5x5 + pool_proj
       └─ 3×3 max-pool, stride 1 ─ 1×1 conv ──┘

The 1×1 "bottleneck" convolutions shrink the channels before the expensive 3×3/5×5 filters:
this is what keeps the network at 6.6 M parameters (AlexNet: 61 M, VGG-16: 138 M) with 22 layers.
The other savings: an aggressive stem (224 -> 28 before the first Inception block) and global
average pooling followed by a single fully connected layer instead of a big classifier.

Differences from the paper, taken from torchvision so that parameter counts and ``state_dict``
keys match it:

- every convolution is a :class:`BasicConv2d` = conv (no bias) + **BatchNorm** (eps 0.001) + ReLU
  (BatchNorm came after the paper);
- the "5×5" branch uses a **3×3** convolution (a known quirk of the reference weights);
- no local response normalisation.

Parameters: 6,624,904 without the auxiliary classifiers (the default), 13,004,888 with
``aux_logits=True``. The auxiliary classifiers (after inception4a and inception4d) were the
paper's way to push gradient into the lower layers of a deep network before BatchNorm; in
training mode the model then returns ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``, and
the paper adds their losses with weight 0.3. In eval mode only the logits are returned.

Shapes on 3×224×224::

    conv1 7×7/2 -> 64×112×112, maxpool1 -> 64×56×56, conv2 1×1 -> 64×56×56,
    conv3 3×3 -> 192×56×56, maxpool2 -> 192×28×28,
    inception3a -> 256×28×28, inception3b -> 480×28×28, maxpool3 -> 480×14×14,
    inception4a..4e -> 512, 512, 512, 528, 832 ×14×14, maxpool4 -> 832×7×7,
    inception5a, 5b -> 832, 1024 ×7×7, avgpool -> 1024, dropout(0.2), fc -> num_classes

``small_input=True`` (32×32): conv1 is 3×3 stride 1 and maxpool1 an ``Identity``, so the
Inception stages see 16, 8 and 4 pixels.
"""

from __future__ import annotations

from collections import namedtuple

from tinyconv import nn
from tinyconv.functions import cat

__all__ = [
    "BasicConv2d",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "Inception",
    "InceptionAux",
    "googlenet",
]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


class BasicConv2d(nn.Module):
    """Convolution (no bias) + BatchNorm + ReLU; ``kwargs`` go to the convolution."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """The Inception block: four parallel branches, concatenated along the channels.

    ``(N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)`` (every branch keeps
    H×W: 1×1 convs, padded 3×3 convs, a stride-1 padded max-pool).

    Args:
        ch1x1: output channels of branch 1 (a 1×1 convolution).
        ch3x3red, ch3x3: branch 2, 1×1 reduction to ``ch3x3red`` then a 3×3 conv to ``ch3x3``.
        ch5x5red, ch5x5: branch 3, the same with the paper's 5×5 (a 3×3 here, as torchvision).
        pool_proj: branch 4, 3×3 max-pool then a 1×1 projection to ``pool_proj`` channels.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1),  # 5×5 in the paper
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x):
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return cat(branches, dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: ``(N, in_channels, 14, 14) -> (N, num_classes)`` via a 4×4 average
    pool, a 1×1 conv to 128 channels, fc 2048 -> 1024, dropout 0.7, fc 1024 -> num_classes."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(p=dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.flatten(self.conv(self.avgpool(x)))
        x = self.dropout(self.relu(self.fc1(x)))
        return self.fc2(x)


class GoogLeNet(nn.Module):
    """GoogLeNet (Inception v1). See the module docstring for the layout and shapes.

    Args:
        num_classes: outputs of ``fc`` (and of the auxiliary classifiers).
        in_channels: channels of the input image.
        aux_logits: build the two auxiliary classifiers ``aux1``, ``aux2`` (default False).
        small_input: CIFAR-style stem (3×3 stride-1 conv1, no first max-pool).
        dropout: dropout probability before ``fc``.
        dropout_aux: dropout probability inside the auxiliary classifiers.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False,
                 small_input: bool = False, dropout: float = 0.2, dropout_aux: float = 0.7):
        super().__init__()
        self.aux_logits = aux_logits
        if small_input:
            self.conv1 = BasicConv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
            self.maxpool1 = nn.Identity()
        else:
            self.conv1 = BasicConv2d(in_channels, 64, kernel_size=7, stride=2, padding=3)
            self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        #                          in   1×1  3×3red 3×3  5×5red 5×5 pool
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)       # -> 256
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)     # -> 480
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)      # -> 512
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)     # -> 512
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)     # -> 512
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)     # -> 528
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)   # -> 832
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)   # -> 832
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)   # -> 1024
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout_aux)  # after inception4a
            self.aux2 = InceptionAux(528, num_classes, dropout_aux)  # after inception4d
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)

        for m in self.modules():  # small truncated-normal weights, as torchvision
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        """``x: (N, C, 224, 224)`` -> logits ``(N, num_classes)``, or, in training mode with
        ``aux_logits=True``, ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``."""
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.dropout(self.flatten(self.avgpool(x)))
        logits = self.fc(x)
        if self.aux_logits and self.training:
            return GoogLeNetOutputs(logits, aux2, aux1)
        return logits


def googlenet(num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = False,
              small_input: bool = False, dropout: float = 0.2,
              dropout_aux: float = 0.7) -> GoogLeNet:
    """GoogLeNet / Inception v1 with torchvision's layer choices (BatchNorm in every
    :class:`BasicConv2d`, a 3×3 conv in the "5×5" branch): 6,624,904 parameters with the
    defaults, 13,004,888 with ``aux_logits=True``."""
    return GoogLeNet(num_classes, in_channels, aux_logits, small_input, dropout, dropout_aux)
