"""``tc.nn``: modules, layers, losses, initialisation (PyTorch names and semantics)."""

from tinyconv.nn import functional, init
from tinyconv.nn.activation import LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, Softmax, Tanh
from tinyconv.nn.container import ModuleDict, ModuleList, Sequential
from tinyconv.nn.layers import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Dropout2d,
    Flatten,
    Identity,
    Linear,
    LocalResponseNorm,
    MaxPool1d,
    MaxPool2d,
)
from tinyconv.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from tinyconv.nn.module import Module
from tinyconv.nn.parameter import Parameter

__all__ = ["functional", "init", "LeakyReLU", "LogSoftmax", "ReLU", "ReLU6", "Sigmoid", "Softmax",
           "Tanh", "ModuleDict", "ModuleList", "Sequential", "AdaptiveAvgPool2d",
           "AdaptiveMaxPool2d", "AvgPool1d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv1d",
           "Conv2d", "ConvTranspose2d", "Dropout", "Dropout2d", "Flatten", "Identity", "Linear",
           "LocalResponseNorm", "MaxPool1d", "MaxPool2d", "BCELoss", "BCEWithLogitsLoss",
           "CrossEntropyLoss", "MSELoss", "NLLLoss", "Module", "Parameter"]


def __getattr__(name: str):
    # tc.nn.utils (gradient clipping) loads on first use
    if name == "utils":
        import importlib

        return importlib.import_module("tinyconv.nn.utils")
    raise AttributeError(f"module 'tinyconv.nn' has no attribute {name!r}")
