"""tinyconv: convolutional neural networks from the inside.

``import tinyconv as tc`` gives a PyTorch-shaped API: ``tc.tensor``, ``tc.nn``, ``tc.optim``,
``tc.no_grad()``... on a small reverse-mode autograd whose convolution and pooling run on
hand-written kernels (Numba on the CPU, CUDA C through CuPy on the GPU).

Layers, from the bottom (each imports only from the ones before it):

- ``tinyconv.kernels`` (the kernels) and ``tinyconv.backend`` (device -> array module + kernel set);
- ``tinyconv.dtypes``, ``tinyconv.random`` (the generator), ``tinyconv.shapes`` (dim checks);
- ``tinyconv.autograd`` (the engine) and ``tinyconv.ops`` (the Functions of the Tensor methods);
- ``tinyconv.tensor`` (the class), then ``tinyconv.creation`` (``tc.zeros``...) and
  ``tinyconv.functions`` (``tc.cat``, ``tc.exp``...);
- ``tinyconv.nn.functional`` -> ``tinyconv.nn``, ``optim``, ``data``, ``models``.

The public namespace is exactly ``__all__`` plus the subpackages of ``_LAZY_SUBMODULES``, which
load on first use so that ``import tinyconv`` stays fast (no Numba, no hypothesis).
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
from tinyconv.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    is_tensor,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from tinyconv.dtypes import (
    as_dtype,
    bool,
    float16,
    float32,
    float64,
    int32,
    int64,
    uint8,
)
from tinyconv.functions import (
    abs,
    add,
    allclose,
    amax,
    amin,
    argmax,
    argmin,
    cat,
    chunk,
    clamp,
    clip,
    concat,
    cos,
    div,
    eq,
    equal,
    exp,
    flatten,
    ge,
    gt,
    le,
    log,
    logsumexp,
    lt,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    ne,
    neg,
    pad,
    permute,
    pow,
    relu,
    reshape,
    sigmoid,
    sin,
    split,
    sqrt,
    squeeze,
    stack,
    std,
    sub,
    sum,
    tanh,
    transpose,
    unsqueeze,
    var,
    where,
)
from tinyconv.model_summary import summary
from tinyconv.random import default_generator, manual_seed
from tinyconv.serialization import LoadError, load, save
from tinyconv.tensor import MinMax, Tensor

__version__ = "0.1.0"

device = Device  # tc.device("cuda"), as torch.device

__all__ = [
    # tensors and their dtypes
    "Tensor", "MinMax", "Device", "device", "bool", "float16", "float32", "float64", "int32",
    "int64", "uint8", "as_dtype",
    # making tensors
    "tensor", "as_tensor", "is_tensor", "from_numpy", "from_dlpack", "zeros", "ones", "empty",
    "full", "zeros_like", "ones_like", "empty_like", "full_like", "arange", "linspace", "eye",
    # random numbers
    "manual_seed", "default_generator", "rand", "randn", "randint", "rand_like", "randn_like",
    "randperm",
    # functions on tensors
    "cat", "concat", "stack", "split", "chunk", "where", "pad",
    "exp", "log", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "relu", "clamp", "clip",
    "maximum", "minimum", "neg", "add", "sub", "mul", "div", "pow", "matmul",
    "sum", "mean", "var", "std", "amax", "amin", "max", "min", "argmax", "argmin", "logsumexp",
    "reshape", "transpose", "permute", "flatten", "squeeze", "unsqueeze",
    "eq", "ne", "lt", "le", "gt", "ge", "allclose", "equal",
    # autograd
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
    # kernels and devices
    "set_kernels", "get_kernels_name", "use_kernels", "register_kernels", "cuda_available",
    # models on disk, summaries
    "save", "load", "LoadError", "summary",
]

# Subpackages that load on first use (``tc.nn``...), so `import tinyconv` stays fast.
_LAZY_SUBMODULES = ("nn", "optim", "data", "models", "signal", "testing", "cuda", "onnx")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        return _importlib.import_module(f"tinyconv.{name}")
    raise AttributeError(f"module 'tinyconv' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
