"""tinyconv: convolutional neural networks from the inside.

``import tinyconv as tc`` gives a PyTorch-shaped API: ``tc.tensor``, ``tc.nn``, ``tc.optim``,
``tc.no_grad()``... on a small reverse-mode autograd whose convolution and pooling run on
hand-written kernels (Numba on the CPU, CUDA C through CuPy on the GPU).

Layers, from the bottom: ``tinyconv.kernels`` (the kernels) -> ``tinyconv.backend`` (device ->
array module + kernel set) -> ``tinyconv.autograd`` / ``tinyconv.ops`` / ``tinyconv.tensor`` ->
``tinyconv.nn.functional`` -> ``tinyconv.nn``, ``optim``, ``data``, ``models``.
"""

import importlib as _importlib

from tinyconv.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from tinyconv.backend import (
    Device,
    cuda_available,
    get_kernels_name,
    register_kernels,
    set_kernels,
    use_kernels,
)
from tinyconv.model_summary import summary
from tinyconv.serialization import LoadError, load, save
from tinyconv.tensor import *  # noqa: F401,F403 - the torch-like namespace
from tinyconv.tensor import (
    MinMax,
    Tensor,
    arange,
    as_dtype,
    bool,
    cat,
    concat,
    default_generator,
    empty,
    empty_like,
    eye,
    float16,
    float32,
    float64,
    from_numpy,
    full,
    full_like,
    int32,
    int64,
    is_tensor,
    linspace,
    manual_seed,
    ones,
    ones_like,
    pad,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    split,
    stack,
    tensor,
    uint8,
    where,
    zeros,
    zeros_like,
)

__version__ = "0.1.0"

device = Device

# Subpackages load on first use, so `import tinyconv` stays fast (no Numba, no hypothesis).
_LAZY_SUBMODULES = ("nn", "optim", "data", "models", "signal", "testing", "utils", "cuda")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        return _importlib.import_module(f"tinyconv.{name}")
    raise AttributeError(f"module 'tinyconv' has no attribute {name!r}")
