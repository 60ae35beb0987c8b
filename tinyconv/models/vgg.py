"""VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015).

VGG replaced hand-tuned layer sizes with three rules:

- every convolution is 3×3, stride 1, padding 1 (the spatial size never changes inside a stage);
- every max-pool is 2×2, stride 2 (it halves H and W);
- after each pool the number of channels doubles (64, 128, 256, 512, then capped at 512), so each
  stage costs about the same number of multiply-adds.

Two stacked 3×3 convolutions see a 5×5 field (three see 7×7) with fewer parameters
(2·9·C² = 18C² instead of 25C²) and an extra nonlinearity in between.

A configuration lists the stages: an int is a 3×3 convolution with that many output channels
(followed by ReLU, and BatchNorm before it when ``batch_norm=True``), ``"M"`` a max-pool. The
paper's tables name them A (VGG-11), B (VGG-13), D (VGG-16) and E (VGG-19)::

    A: 64 M 128 M 256 256 M 512 512 M 512 512 M
    D: 64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M

On 224×224 the five pools give ``512×7×7`` features, then fc 25088 -> 4096 -> 4096 ->
num_classes with ReLU and dropout. Parameters: VGG-11 132,863,336; VGG-16 138,357,544 — of which
VGG-16's first fully connected layer alone holds 102,764,544 (74 %). Most of the memory for
activations, on the other hand, is in the first stages (64×224×224 floats per conv there).

Attribute names follow torchvision (``features``, ``avgpool``, ``classifier``), so ``state_dict``
keys match a torchvision VGG (the builders here have no pretrained weights).
"""

from __future__ import annotations

from collections.abc import Sequence

from tinyconv import nn
from tinyconv.models._init import init_relu_network_

__all__ = ["CONFIGS", "VGG", "vgg", "vgg11", "vgg16"]

CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}
_NAMES = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}


def make_layers(cfg: Sequence[int | str], in_channels: int = 3,
                batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part of a VGG from its configuration (see the module docstring)."""
    layers = []
    channels = in_channels
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))  # halve H and W
            continue
        if not isinstance(item, int) or item < 1:
            raise ValueError(f"vgg: a configuration holds positive ints (conv channels) and 'M' "
                             f"(max-pool), got {item!r}")
        layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))  # keeps H and W
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A VGG network: ``features`` (convolutions and pools), ``avgpool``, ``classifier``.

    Args:
        features: the convolutional part, e.g. from :func:`make_layers`.
        num_classes: outputs of the last layer.
        pooled: side of the adaptive average pool before the classifier (7 for ImageNet: a no-op
            at 224×224; 1 for small inputs).
        hidden_features: width of the two hidden fully connected layers.
        dropout: dropout probability after each hidden layer.
        init_weights: torchvision's initialisation (Kaiming-normal convs, N(0, 0.01) linears,
            zero biases) rather than the layers' defaults.
    """

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, pooled: int = 7,
                 hidden_features: int = 4096, dropout: float = 0.5, init_weights: bool = True):
        super().__init__()
        out_channels = [m.out_channels for m in features if isinstance(m, nn.Conv2d)][-1]
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((pooled, pooled))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(out_channels * pooled * pooled, hidden_features),  # 0  fc6
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden_features, hidden_features),                  # 3  fc7
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden_features, num_classes),                      # 6  fc8
        )
        if init_weights:
            init_relu_network_(self, conv_mode="fan_out", linear_std=0.01, zero_linear_bias=True)

    def forward(self, x):
        """``x: (N, C, 224, 224)`` -> ``(N, num_classes)``; with 32×32 inputs the five pools
        leave ``(N, 512, 1, 1)``."""
        x = self.features(x)
        x = self.avgpool(x)
        return self.classifier(self.flatten(x))


def vgg(cfg: str | Sequence[int | str] = "D", num_classes: int = 1000,
        in_channels: int = 3, batch_norm: bool = False, small_input: bool = False,
        hidden_features: int | None = None, dropout: float = 0.5,
        init_weights: bool = True) -> VGG:
    """Any VGG: ``cfg`` is a configuration list, a letter of the paper's table ("A", "B", "D",
    "E") or a name ("vgg11", "vgg13", "vgg16", "vgg19").

    ``small_input=True`` is for 32×32 images (CIFAR): VGG's convolutions are already 3×3 stride 1,
    so the feature extractor is unchanged; the five pools leave 1×1, so the classifier becomes
    ``512 -> 512 -> 512 -> num_classes`` (``hidden_features`` defaults to 512 there, 4096 for
    ImageNet).
    """
    if isinstance(cfg, str):
        key = _NAMES.get(cfg.lower(), cfg.upper())
        if key not in CONFIGS:
            raise ValueError(f"vgg: unknown configuration {cfg!r}; use one of "
                             f"{sorted(CONFIGS)}, {sorted(_NAMES)} or a list like [64, 'M', ...]")
        cfg = CONFIGS[key]
    features = make_layers(cfg, in_channels, batch_norm)
    if small_input:
        pooled, hidden = 1, hidden_features or 512
    else:
        pooled, hidden = 7, hidden_features or 4096
    return VGG(features, num_classes, pooled, hidden, dropout, init_weights)


def vgg11(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
          small_input: bool = False, **kwargs) -> VGG:
    """VGG-11 (configuration A): 8 convolutions + 3 fully connected layers; 132,863,336
    parameters with the defaults (132,868,840 with ``batch_norm=True``)."""
    return vgg("A", num_classes, in_channels, batch_norm, small_input, **kwargs)


def vgg16(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False,
          small_input: bool = False, **kwargs) -> VGG:
    """VGG-16 (configuration D): 13 convolutions + 3 fully connected layers; 138,357,544
    parameters with the defaults (138,365,992 with ``batch_norm=True``)."""
    return vgg("D", num_classes, in_channels, batch_norm, small_input, **kwargs)
