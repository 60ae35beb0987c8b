"""DeepID (Sun, Wang & Tang, "Deep Learning Face Representation from Predicting 10,000
Classes", CVPR 2014): a small ConvNet trained to tell 10,000 people apart, whose 160-unit
next-to-last layer is then used as a *face representation* (the "DeepID" features) for
verification: are two faces the same person?

Shapes on one ``1×39×31`` face patch (the paper's rectangular patches; ``k`` input channels, 1
for grey, 3 for colour), with each layer's parameters for ``k = 1``::

    conv1   20×4×4                       (N, 20, 36, 28)        340
    pool1   2×2 max                      (N, 20, 18, 14)
    conv2   40×3×3                       (N, 40, 16, 12)      7,240
    pool2   2×2 max                      (N, 40,  8,  6)
    conv3   60×3×3                       (N, 60,  6,  4)     21,660
    pool3   2×2 max                      (N, 60,  3,  2)
    conv4   80×2×2                       (N, 80,  2,  1)     19,280
    deepid  [pool3 (360), conv4 (160)] -> 160, ReLU          83,360
    fc      160 -> num_classes (softmax) (N, 10000)       1,610,000
                                                   total  1,741,880

Two features of the design:

- the DeepID layer is connected to **both** pool3 and conv4, so it sees the more local
  features of the third stage and the more global ones of the fourth (a multi-scale skip,
  two years before ResNet): ``deepid = ReLU(W₃ · pool3 + W₄ · conv4 + b)``;
- the representation is kept small (160 numbers, against 10,000 classes), which forces it to
  be compact and to generalise to people never seen in training.

Simplification: the paper shares conv3's weights only within 2×2 regions and does not share
conv4's at all (locally connected layers, since different parts of an aligned face look
different); here all four layers are ordinary convolutions, as in most re-implementations, so
the parameter counts above are those of the shared version. Every convolution is followed by
ReLU. ``input_size=(31, 31)`` gives the square-patch variant.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinyconv import nn
from tinyconv.tensor import Tensor

__all__ = ["DeepID", "deepid"]


def _stage_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Spatial sizes after conv1, pool1, conv2, pool2, conv3, pool3, conv4 (valid convs of
    sizes 4, 3, 3, 2; 2×2 pooling that drops an odd last row or column)."""
    sizes = []
    for kernel in (4, 3, 3, 2):
        height, width = height - kernel + 1, width - kernel + 1
        sizes.append((height, width))
        if kernel != 2:
            height, width = height // 2, width // 2
            sizes.append((height, width))
    return sizes


class DeepID(nn.Module):
    """DeepID: four convolutions, a 160-unit representation joined to pool3 and conv4, and a
    softmax classifier over the training identities.

    Args:
        num_classes: identities seen in training (10,000 in the paper).
        in_channels: 1 (grey) or 3 (colour) patches.
        input_size: ``(height, width)`` of the patches: ``(39, 31)`` or ``(31, 31)`` in the paper;
            any size of at least 26×26 works (conv4 needs 2×2 inputs).
        features: width of the DeepID layer (160).

    ``forward(x)`` gives the class scores; :meth:`represent` gives the 160 DeepID features.
    """

    def __init__(self, num_classes: int = 10_000, in_channels: int = 1,
                 input_size: Sequence[int] = (39, 31), features: int = 160):
        super().__init__()
        height, width = (int(s) for s in input_size)
        sizes = _stage_sizes(height, width)
        if min(min(size) for size in sizes) < 1:
            raise ValueError(f"DeepID: input_size {tuple(input_size)} is too small: the layers "
                             f"need at least 26×26 pixels (sizes per stage: {sizes})")
        self.input_size = (height, width)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 20, kernel_size=4),                # 0  conv1
            nn.ReLU(inplace=True),                                    # 1
            nn.MaxPool2d(2),                                          # 2  pool1
            nn.Conv2d(20, 40, kernel_size=3),                         # 3  conv2
            nn.ReLU(inplace=True),                                    # 4
            nn.MaxPool2d(2),                                          # 5  pool2
            nn.Conv2d(40, 60, kernel_size=3),                         # 6  conv3
            nn.ReLU(inplace=True),                                    # 7
            nn.MaxPool2d(2),                                          # 8  pool3
        )
        self.conv4 = nn.Sequential(nn.Conv2d(60, 80, kernel_size=2), nn.ReLU(inplace=True))
        pool3_features = 60 * sizes[5][0] * sizes[5][1]
        conv4_features = 80 * sizes[6][0] * sizes[6][1]
        self.flatten = nn.Flatten()
        # the two halves of one fully connected layer: W₃ · pool3 + W₄ · conv4 + b
        self.deepid_from_pool3 = nn.Linear(pool3_features, features)
        self.deepid_from_conv4 = nn.Linear(conv4_features, features, bias=False)
        self.relu = nn.ReLU()
        self.classifier = nn.Linear(features, num_classes)

    def represent(self, x: Tensor) -> Tensor:
        """The DeepID features: ``x: (N, in_channels, *input_size)`` -> ``(N, 160)``."""
        if tuple(x.shape[2:]) != self.input_size:
            raise ValueError(f"DeepID: built for {self.input_size[0]}×{self.input_size[1]} "
                             f"patches, got an input of shape {tuple(x.shape)}")
        pool3 = self.features(x)
        conv4 = self.conv4(pool3)
        return self.relu(self.deepid_from_pool3(self.flatten(pool3))
                         + self.deepid_from_conv4(self.flatten(conv4)))

    def forward(self, x: Tensor) -> Tensor:
        """``x: (N, in_channels, *input_size)`` -> class scores ``(N, num_classes)``."""
        return self.classifier(self.represent(x))


def deepid(num_classes: int = 10_000, in_channels: int = 1,
           input_size: Sequence[int] = (39, 31), features: int = 160) -> DeepID:
    """DeepID (Sun et al., 2014) with the paper's layer shapes, convolutions shared everywhere:
    1,741,880 parameters with the defaults. See :class:`DeepID`."""
    return DeepID(num_classes, in_channels, input_size, features)
