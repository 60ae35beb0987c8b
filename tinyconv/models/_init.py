"""The initialisation torchvision gives its ReLU networks, shared by the model builders."""

from __future__ import annotations

from tinyconv import nn


def init_relu_network_(model: nn.Module, conv_mode: str = "fan_out",
                       linear_std: float | None = None,
                       zero_linear_bias: bool = False) -> nn.Module:
    """He (Kaiming) normal weights for every convolution (gain sqrt(2), for ReLU) with zero
    biases, BatchNorm starting as the identity (γ = 1, β = 0), and optionally N(0, linear_std²)
    linear weights and zero linear biases; other linear layers keep PyTorch's default.

    VGG and MobileNet use ``("fan_out", 0.01, True)``, ResNet ``("fan_out", None, False)`` and
    DenseNet ``("fan_in", None, True)``, as torchvision does.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode=conv_mode, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and module.affine:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            if linear_std is not None:
                nn.init.normal_(module.weight, 0.0, linear_std)
            if zero_linear_bias and module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
