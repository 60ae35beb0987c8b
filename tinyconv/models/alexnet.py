"""AlexNet (Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NeurIPS 2012), in the single-GPU form of torchvision (which follows Krizhevsky's
"One weird trick" paper, 2014: 64-192-384-256-256 filters instead of the original 96-256-384-384-256
split over two GPUs).

Shapes on a ``3×224×224`` image, with each layer's parameters (weights + biases)::

    conv1  64×11×11, stride 4, pad 2   (N,  64, 55, 55)      23,296
    pool1  3×3, stride 2 (overlapping) (N,  64, 27, 27)
    conv2  192×5×5, pad 2              (N, 192, 27, 27)     307,392
    pool2  3×3, stride 2               (N, 192, 13, 13)
    conv3  384×3×3, pad 1              (N, 384, 13, 13)     663,936
    conv4  256×3×3, pad 1              (N, 256, 13, 13)     884,992
    conv5  256×3×3, pad 1              (N, 256, 13, 13)     590,080
    pool5  3×3, stride 2               (N, 256,  6,  6)
    avgpool (adaptive, to 6×6; a no-op at 224×224)
    fc6    9216 -> 4096  (+ dropout)   (N, 4096)         37,752,832
    fc7    4096 -> 4096  (+ dropout)   (N, 4096)         16,781,312
    fc8    4096 -> num_classes         (N, 1000)          4,097,000
                                                  total  61,100,840

Note where things are: the convolutions hold 4 % of the parameters but do ~92 % of the
multiply-adds; the three fully connected layers hold 96 % of the parameters (compare
``tc.summary(alexnet(), (3, 224, 224))`` with the per-layer cost tables of the course notes).
What made AlexNet work: ReLU instead of tanh, dropout in the classifier, overlapping max pooling,
data augmentation and GPUs. (The original local response normalisation is left out, as in
torchvision: later work found it does little.)

Attribute names follow torchvision (``features``, ``avgpool``, ``classifier``; the layers are
numbered inside them), so ``state_dict`` keys match a torchvision AlexNet.
"""

from __future__ import annotations

from tinyconv import nn

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Module):
    """AlexNet: five convolutions (``features``), adaptive average pooling, three fully connected
    layers with dropout (``classifier``).

    Args:
        num_classes: outputs of the last layer.
        in_channels: channels of the input image.
        small_input: for 32×32 images (CIFAR): the 11×11/4 stem becomes a 3×3/1 convolution with
            padding 1 and the first max-pool is removed (``features[2]`` is an ``Identity``, so the
            other layers keep their indices); global average pooling to 1×1 replaces the 6×6 one,
            so the classifier starts from 256 features.
        dropout: dropout probability before fc6 and fc7.
        hidden_features: width of fc6/fc7; defaults to 4096 (ImageNet) or 1024 (small input).
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
                 dropout: float = 0.5, hidden_features: int | None = None):
        super().__init__()
        if small_input:  # 32×32: 32 -> conv1 32 -> conv2 32 -> pool 15 -> convs 15 -> pool 7
            stem = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
            first_pool = nn.Identity()
            pooled = 1
        else:  # 224×224: 224 -> conv1 55 -> pool 27 -> conv2 27 -> pool 13 -> convs 13 -> pool 6
            stem = nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2)
            first_pool = nn.MaxPool2d(kernel_size=3, stride=2)
            pooled = 6
        hidden = hidden_features or (1024 if small_input else 4096)
        self.features = nn.Sequential(
            stem,                                                    # 0  conv1
            nn.ReLU(inplace=True),                                   # 1
            first_pool,                                              # 2  pool1
            nn.Conv2d(64, 192, kernel_size=5, padding=2),            # 3  conv2
            nn.ReLU(inplace=True),                                   # 4
            nn.MaxPool2d(kernel_size=3, stride=2),                   # 5  pool2
            nn.Conv2d(192, 384, kernel_size=3, padding=1),           # 6  conv3
            nn.ReLU(inplace=True),                                   # 7
            nn.Conv2d(384, 256, kernel_size=3, padding=1),           # 8  conv4
            nn.ReLU(inplace=True),                                   # 9
            nn.Conv2d(256, 256, kernel_size=3, padding=1),           # 10 conv5
            nn.ReLU(inplace=True),                                   # 11
            nn.MaxPool2d(kernel_size=3, stride=2),                   # 12 pool5
        )
        self.avgpool = nn.AdaptiveAvgPool2d((pooled, pooled))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),                                   # 0
            nn.Linear(256 * pooled * pooled, hidden),                # 1  fc6
            nn.ReLU(inplace=True),                                   # 2
            nn.Dropout(p=dropout),                                   # 3
            nn.Linear(hidden, hidden),                               # 4  fc7
            nn.ReLU(inplace=True),                                   # 5
            nn.Linear(hidden, num_classes),                          # 6  fc8
        )

    def forward(self, x):
        """``x: (N, in_channels, 224, 224)`` (or 32×32 with ``small_input``)
        -> ``(N, num_classes)``."""
        x = self.features(x)
        x = self.avgpool(x)
        return self.classifier(self.flatten(x))


def alexnet(num_classes: int = 1000, in_channels: int = 3, small_input: bool = False,
            dropout: float = 0.5, hidden_features: int | None = None) -> AlexNet:
    """AlexNet (Krizhevsky et al., 2012), torchvision's layout: 61,100,840 parameters with the
    defaults. ``small_input=True`` gives a CIFAR-sized variant (see :class:`AlexNet`)."""
    return AlexNet(num_classes, in_channels, small_input, dropout, hidden_features)
