"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 1998), in the simplified form every course teaches today.

The layers, on a ``1×32×32`` image (``N`` is the batch size)::

    input                                   (N,  1, 32, 32)
    C1  conv 6 filters 5×5, stride 1        (N,  6, 28, 28)   6·(1·5·5) + 6     =    156 params
    S2  2×2 pooling, stride 2               (N,  6, 14, 14)
    C3  conv 16 filters 5×5, stride 1       (N, 16, 10, 10)   16·(6·5·5) + 16   =  2,416
    S4  2×2 pooling, stride 2               (N, 16,  5,  5)
        flatten                             (N, 400)
    F5  fully connected 400 -> 120          (N, 120)          400·120 + 120     = 48,120
    F6  fully connected 120 -> 84           (N, 84)           120·84 + 84       = 10,164
    out fully connected 84 -> num_classes   (N, 10)           84·10 + 10        =    850
                                                                          total = 61,706

61,706 is the classic count of this simplified network. The 1998 original differs in three
details that we deliberately drop, because they make the model harder to read and no better:

- S2/S4 were *trainable* subsampling layers (sum of the 2×2 window times a learned coefficient,
  plus a learned bias, then a sigmoid): 12 + 32 extra parameters;
- C3 connected each of its 16 maps to only a subset of S2's 6 maps (a hand-made connection
  table, 1,516 parameters instead of 2,416), to break symmetry and save computation;
- the output layer was a set of Euclidean radial basis function units, not a linear layer.

Activation and pooling: by default we use **ReLU and 2×2 max pooling** — the modern choice
(AlexNet onwards): ReLU's gradient does not vanish for positive inputs, so the network trains in
a few epochs with plain SGD, and max pooling keeps the strongest response of each window.
``activation="tanh", pooling="avg"`` gives the 1998 flavour (squashing nonlinearity and
averaging subsampling, without the trainable coefficients); the parameter count is the same
61,706 in every combination, since activations and pooling have no parameters.

MNIST images are 28×28: pass ``input_size=28`` and C1 pads its input by 2 on each side, which is
exactly the "place the digit in the centre of a 32×32 field" that the paper did to its data.
"""

from __future__ import annotations

from collections import OrderedDict

from tinyconv import nn

__all__ = ["LeNet5", "lenet5"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
_POOLINGS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet5(nn.Module):
    """LeNet-5: two conv/pool stages (``features``) then three fully connected layers
    (``classifier``). See the module docstring for shapes and parameter counts.

    Args:
        num_classes: size of the output layer (10 digits).
        in_channels: channels of the input image (1 for greyscale).
        input_size: 32 (the paper) or 28 (MNIST as stored: C1 then pads by 2).
        activation: ``"relu"`` (default), ``"tanh"`` or ``"sigmoid"``.
        pooling: ``"max"`` (default) or ``"avg"``.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32,
                 activation: str = "relu", pooling: str = "max"):
        super().__init__()
        if input_size not in (28, 32):
            raise ValueError(f"lenet5: input_size must be 32 (the paper's 32×32 input) or 28 "
                             f"(MNIST, padded to 32 by the first conv), got {input_size!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"lenet5: activation must be one of {sorted(_ACTIVATIONS)}, got "
                             f"{activation!r}")
        if pooling not in _POOLINGS:
            raise ValueError(f"lenet5: pooling must be one of {sorted(_POOLINGS)}, got "
                             f"{pooling!r}")
        act, pool = _ACTIVATIONS[activation], _POOLINGS[pooling]
        padding = (32 - input_size) // 2  # 28×28 -> "centred in a 32×32 field"
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding)),  # C1 -> 6×28×28
            ("act1", act()),
            ("pool1", pool(kernel_size=2, stride=2)),                            # S2 -> 6×14×14
            ("conv2", nn.Conv2d(6, 16, kernel_size=5)),                          # C3 -> 16×10×10
            ("act2", act()),
            ("pool2", pool(kernel_size=2, stride=2)),                            # S4 -> 16×5×5
        ]))
        self.flatten = nn.Flatten()                                              # -> 400
        self.classifier = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(16 * 5 * 5, 120)),                                 # F5
            ("act3", act()),
            ("fc2", nn.Linear(120, 84)),                                         # F6
            ("act4", act()),
            ("fc3", nn.Linear(84, num_classes)),                                 # output
        ]))

    def forward(self, x):
        """``x: (N, in_channels, input_size, input_size)`` -> logits ``(N, num_classes)``."""
        return self.classifier(self.flatten(self.features(x)))


def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: int = 32,
           activation: str = "relu", pooling: str = "max") -> LeNet5:
    """LeNet-5 (LeCun et al., 1998): 61,706 parameters with the defaults.

    >>> import tinyconv as tc
    >>> model = tc.models.lenet5()
    >>> model(tc.zeros(2, 1, 32, 32)).shape
    (2, 10)
    """
    return LeNet5(num_classes, in_channels, input_size, activation, pooling)
