"""ZFNet (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014),
the ILSVRC 2013 winner: AlexNet with a smaller, denser first layer.

Looking at AlexNet's first-layer filters with their deconvnet, Zeiler and Fergus saw two
problems: a mix of very high- and very low-frequency filters with few in between, and aliasing
in the second layer's maps, caused by the large stride of 4. They shrank the first layer from
11×11 with stride 4 to **7×7 with stride 2** (and the second layer's stride from 1 to 2 to keep
the sizes), and the error fell. Shapes on a ``3×224×224`` image (Fig. 3 of the paper), with each
layer's parameters::

    conv1  96×7×7, stride 2, pad 1      (N,  96, 110, 110)      14,208
    pool1  3×3, stride 2, pad 1         (N,  96,  55,  55)
    lrn1   across 5 channels            (N,  96,  55,  55)
    conv2  256×5×5, stride 2            (N, 256,  26,  26)     614,656
    pool2  3×3, stride 2, pad 1         (N, 256,  13,  13)
    lrn2   across 5 channels            (N, 256,  13,  13)
    conv3  384×3×3, pad 1               (N, 384,  13,  13)     885,120
    conv4  384×3×3, pad 1               (N, 384,  13,  13)   1,327,488
    conv5  256×3×3, pad 1               (N, 256,  13,  13)     884,992
    pool5  3×3, stride 2                (N, 256,   6,   6)
    fc6    9216 -> 4096  (+ dropout)    (N, 4096)           37,752,832
    fc7    4096 -> 4096  (+ dropout)    (N, 4096)           16,781,312
    fc8    4096 -> num_classes          (N, 1000)            4,097,000
                                                    total   62,357,608

The paper's "contrast normalisation across feature maps" after the first two pooling layers is
local response normalisation (:class:`tinyconv.nn.LocalResponseNorm`, AlexNet's constants); it
has no parameters. The larger variant often quoted in course slides (conv3-5 with 512, 1024 and
512 filters, one of the paper's Table 2 variants) is ``zfnet(channels=(96, 256, 512, 1024, 512))``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tinyconv import nn

__all__ = ["ZFNet", "zfnet"]


class ZFNet(nn.Module):
    """ZFNet: five convolutions with LRN after the first two poolings (``features``), three
    fully connected layers with dropout (``classifier``).

    Args:
        num_classes: outputs of the last layer.
        in_channels: channels of the input image.
        channels: filters of conv1 … conv5 (the paper: 96, 256, 384, 384, 256).
        dropout: dropout probability before fc6 and fc7.
        hidden_features: width of fc6 and fc7.
        lrn: include the two local response normalisations.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3,
                 channels: Sequence[int] = (96, 256, 384, 384, 256), dropout: float = 0.5,
                 hidden_features: int = 4096, lrn: bool = True):
        super().__init__()
        if len(channels) != 5:
            raise ValueError(f"ZFNet: channels must list the filters of the 5 convolutions, "
                             f"got {tuple(channels)}")
        c1, c2, c3, c4, c5 = channels

        def normalization() -> nn.Module:
            # AlexNet's constants, which ZFNet kept
            return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0) if lrn else nn.Identity()

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=7, stride=2, padding=1),   # 0  conv1
            nn.ReLU(inplace=True),                                            # 1
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),                 # 2  pool1
            normalization(),                                                  # 3  lrn1
            nn.Conv2d(c1, c2, kernel_size=5, stride=2),                       # 4  conv2
            nn.ReLU(inplace=True),                                            # 5
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),                 # 6  pool2
            normalization(),                                                  # 7  lrn2
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),                      # 8  conv3
            nn.ReLU(inplace=True),                                            # 9
            nn.Conv2d(c3, c4, kernel_size=3, padding=1),                      # 10 conv4
            nn.ReLU(inplace=True),                                            # 11
            nn.Conv2d(c4, c5, kernel_size=3, padding=1),                      # 12 conv5
            nn.ReLU(inplace=True),                                            # 13
            nn.MaxPool2d(kernel_size=3, stride=2),                            # 14 pool5
        )
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),                                            # 0
            nn.Linear(c5 * 6 * 6, hidden_features),                           # 1  fc6
            nn.ReLU(inplace=True),                                            # 2
            nn.Dropout(p=dropout),                                            # 3
            nn.Linear(hidden_features, hidden_features),                      # 4  fc7
            nn.ReLU(inplace=True),                                            # 5
            nn.Linear(hidden_features, num_classes),                          # 6  fc8
        )

    def forward(self, x):
        """``x: (N, in_channels, 224, 224)`` -> ``(N, num_classes)``."""
        features = self.features(x)
        if features.shape[2:] != (6, 6):
            raise ValueError(f"ZFNet: expected a 224×224 input (6×6 maps after pool5), got an "
                             f"input of shape {x.shape} giving {features.shape[2:]}")
        return self.classifier(self.flatten(features))


def zfnet(num_classes: int = 1000, in_channels: int = 3,
          channels: Sequence[int] = (96, 256, 384, 384, 256), dropout: float = 0.5,
          hidden_features: int = 4096, lrn: bool = True) -> ZFNet:
    """ZFNet (Zeiler & Fergus, 2013/2014) with the layer shapes of the paper's Fig. 3:
    62,357,608 parameters with the defaults. See :class:`ZFNet`."""
    return ZFNet(num_classes, in_channels, channels, dropout, hidden_features, lrn)
