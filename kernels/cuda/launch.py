"""The launchers: the Python half of every CUDA kernel, written once for both runtimes.

A CUDA kernel only sees raw pointers and the numbers it is given. Everything else happens here,
once, for the GPU (``CupyRuntime``) and for the CPU emulation (``EmulatedRuntime``) alike:

1. the contract's checks (``tinyconv.kernels.contract``: shapes, options, dtypes), plus "is this
   array on the runtime's device", before any kernel runs;
2. contiguity: inputs may be any strided view; a kernel indexes a C-contiguous block, so
   non-contiguous inputs are copied (``xp.ascontiguousarray``, free when already contiguous);
3. empty problems (N = 0): a grid of 0 blocks is an invalid launch, so nothing is launched and an
   empty (or, for the weight gradient, zero) result is returned;
4. the output allocation (always a fresh array, never a view of an input);
5. dtype dispatch: float32 arrays go to the ``..._f32`` entry point, float64 to ``..._f64``;
6. the grid: :data:`THREADS` threads per block, enough blocks for one thread per element, capped
   at :data:`MAX_BLOCKS` (the kernels' grid-stride loops cover the rest);
7. scalar marshalling (:func:`kernel_arguments`): CuPy passes a Python ``float`` as a C
   ``double`` and an ``int`` as ``long long``; a kernel's ``float`` parameter would read half of
   the double's bytes. Python scalars are converted to the kernel's dtype here. (The shapes go
   in one struct, :data:`CONV2D_SHAPE` / :data:`POOL2D_SHAPE`, mirrored in the ``.cu`` files.)

Convolutions have three plans (:data:`PLANS`), picked by :func:`choose_plan`:

- ``"direct"`` (``conv2d.cu``): one thread per output element, the formula as written. Best when
  each output needs little arithmetic, ``R = C_in/groups · kH · kW`` small (LeNet: 25 and 150,
  depthwise layers: 9), where a GEMM would be thin and im2col would copy the input k² times for
  nothing. Its weight gradient has one thread per weight element summing over the whole batch:
  few, long threads, fine for small layers only.
- ``"im2col"`` (``im2col.cu`` + ``xp.matmul``, i.e. cuBLAS on the GPU): copy every window into a
  column matrix and multiply. Best for dense layers (R in the hundreds and more): the GEMM runs
  near the GPU's peak, and all three passes are then GEMMs (the input gradient's col2im is a
  gather). Costs a column buffer of ``N · C_in · kH · kW · H_out · W_out`` elements.
- ``"tiled"`` (``conv2d_tiled.cu``): the forward pass with a shared-memory tile, which teaches
  the memory hierarchy; its backward passes are the direct ones. Used only when forced.

**The heuristic** (``R`` as above), per call and pass:

1. a 1×1 kernel without groups: ``"im2col"`` (a 1×1 convolution *is* a matrix product);
2. ``R >=`` :data:`IM2COL_MIN_REDUCTION` and a column buffer of at most
   :data:`IM2COL_MAX_BYTES`: ``"im2col"``;
3. the weight gradient of a layer with fewer than :data:`WEIGHT_GRAD_MIN_THREADS` weights, when
   its column buffer fits: ``"im2col"`` (the direct kernel would run one thread per weight, each
   summing over the whole batch: LeNet's first layer has 150 weights, and a GPU needs tens of
   thousands of threads in flight to hide its memory latency);
4. else ``"direct"``.

The thresholds are the CPU heuristic's (``kernels/cpu/dispatch.py``: below R = 64 direct kernels
beat im2col + GEMM), the cuDNN paper's observation that im2col + cuBLAS is within 1.4× of the
best for dense layers, and the occupancy argument of rule 3; they were not measured on a GPU
(there was none where this was written). ``benchmarks/gpu.py`` times every plan against PyTorch
where a GPU is present: adjust them from its figures. ``force_plan(name)`` overrides the
heuristic (the tests run every plan).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

from ..contract import (
    check_conv2d,
    check_conv2d_grad_y,
    check_float_array,
    check_max_pool2d_backward,
    check_pool2d,
    check_same_dtype,
)

__all__ = [
    "CONV2D_SHAPE",
    "MAX_BLOCKS",
    "PLANS",
    "POOL2D_SHAPE",
    "THREADS",
    "Runtime",
    "RuntimeKernelSet",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "choose_plan",
    "conv2d_backward_input",
    "conv2d_backward_weight",
    "conv2d_forward",
    "force_plan",
    "kernel_arguments",
    "launch_grid_stride",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "plan_name",
    "tiled_applies",
]


class Runtime(Protocol):
    """What a launcher needs from "a GPU" (see ``runtime.py``)."""

    name: str
    xp: object          # the array module: cupy, or numpy for the emulation
    array_type: type    # cupy.ndarray or numpy.ndarray

    def get_function(self, name: str): ...  # kernel(grid, block, args)


#: Threads per block for the one-thread-per-element kernels: a multiple of the 32-thread warp,
#: small enough that several blocks share a multiprocessor.
THREADS = 256

#: At most this many blocks per launch. Far more than any GPU runs at once (an H100 holds about
#: a thousand such blocks), so nothing is lost; the grid-stride loops cover larger problems.
MAX_BLOCKS = 65535

#: The ``Conv2dShape`` struct of conv2d.cu / im2col.cu / conv2d_tiled.cu, field for field.
CONV2D_SHAPE = np.dtype([(field, np.int32) for field in (
    "n", "c_in", "h", "w", "c_out", "h_out", "w_out", "kh", "kw", "sh", "sw",
    "pad_top", "pad_left", "dh", "dw", "groups")], align=True)

#: The ``Pool2dShape`` struct of pool2d.cu, field for field.
POOL2D_SHAPE = np.dtype([(field, np.int32) for field in (
    "n", "c", "h", "w", "h_out", "w_out", "kh", "kw", "sh", "sw", "pad_top", "pad_bottom",
    "pad_left", "pad_right", "dh", "dw", "count_include_pad")], align=True)

#: The entry point of each dtype: conv2d_forward_f32, conv2d_forward_f64, ...
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


# ------------------------------------------------------------------------------------------------
# Launching
# ------------------------------------------------------------------------------------------------

def kernel_arguments(dtype, arguments) -> tuple:
    """``arguments`` as a kernel of ``dtype`` (float32 / float64) must receive them.

    A Python ``float`` becomes a scalar of ``dtype`` (a kernel's ``float`` parameter must get 4
    bytes of float, not CuPy's 8 bytes of double), a Python ``int`` becomes ``int64`` (the
    kernels' ``long long``), a ``bool`` becomes ``numpy.bool_``; arrays, NumPy scalars and shape
    structs pass unchanged.
    """
    dtype = np.dtype(dtype)
    converted = []
    for a in arguments:
        if isinstance(a, bool):
            a = np.bool_(a)
        elif isinstance(a, int):
            a = np.int64(a)
        elif isinstance(a, float):
            a = dtype.type(a)
        converted.append(a)
    return tuple(converted)


def launch_grid_stride(runtime: Runtime, kernel: str, dtype, count: int, *arguments) -> None:
    """Launch ``kernel``'s entry point for ``dtype`` with one thread per element, ``count``
    elements (nothing at all when ``count`` is 0)."""
    if count == 0:
        return  # a grid of 0 blocks is an invalid launch
    blocks = min(-(-count // THREADS), MAX_BLOCKS)
    function = runtime.get_function(f"{kernel}_{_SUFFIX[np.dtype(dtype)]}")
    function((blocks,), (THREADS,), kernel_arguments(dtype, arguments))


def _check_on_device(runtime: Runtime, op: str, **arrays) -> None:
    """Each array must live where the runtime's kernels run (CuPy arrays for the GPU)."""
    for name, a in arrays.items():
        if not isinstance(a, runtime.array_type):
            wanted = f"{runtime.array_type.__module__}.{runtime.array_type.__name__}"
            raise TypeError(f"{op}: {name} is a {type(a).__module__}.{type(a).__name__}, but the "
                            f"{runtime.name!r} kernel set computes on {wanted} arrays (move the "
                            f"tensor with .to(...) first)")


def _struct(op: str, dtype: np.dtype, values: tuple) -> np.ndarray:
    """One shape struct (a size-1 structured array); the kernels index with 32-bit ints per
    dimension, so every value must fit one."""
    if max(values) >= 2**31:
        raise ValueError(f"{op}: a dimension or option exceeds what the CUDA kernels index with "
                         f"32-bit ints (2**31 - 1): {dict(zip(dtype.names, values, strict=True))}")
    return np.array([tuple(int(v) for v in values)], dtype=dtype)


def _contiguous(xp, a):
    return xp.ascontiguousarray(a)


# ------------------------------------------------------------------------------------------------
# Choosing a convolution plan
# ------------------------------------------------------------------------------------------------

PLANS = ("direct", "im2col", "tiled")

#: From this ``C_in/groups · kH · kW`` up, im2col + GEMM (the CPU's threshold, see above).
IM2COL_MIN_REDUCTION = 64

#: The largest column buffer im2col may allocate; bigger problems stay direct.
IM2COL_MAX_BYTES = 512 * 2**20

#: Below this many weight elements, the weight gradient goes through im2col (rule 3 above).
WEIGHT_GRAD_MIN_THREADS = 16384

#: conv2d_tiled.cu's TILE, MAX_PATCH and MAX_TAPS.
TILE, MAX_PATCH, MAX_TAPS = 16, 48, 64

_forced: list[str | None] = [None]


@contextlib.contextmanager
def force_plan(name: str | None) -> Iterator[None]:
    """Use plan ``name`` for every CUDA convolution inside the block (``None``: the heuristic).
    ``"tiled"`` applies to forward passes whose patch fits (:func:`tiled_applies`); other calls
    then use ``"direct"``."""
    if name is not None and name not in PLANS:
        raise ValueError(f"force_plan: unknown plan {name!r}; known: {list(PLANS)}")
    previous = _forced[0]
    _forced[0] = name
    try:
        yield
    finally:
        _forced[0] = previous


STEPS = ("forward", "backward_input", "backward_weight")


def choose_plan(x_shape, w_shape, stride, padding, dilation, groups, itemsize: int = 4,
                step: str = "forward") -> str:
    """The plan for one pass (``step``, one of :data:`STEPS`) of a convolution with these
    contract arguments: the module docstring's heuristic, or the forced plan."""
    if _forced[0] is not None:
        return _forced[0]
    n, c_in = x_shape[0], x_shape[1]
    c_out, c_in_g, kh, kw = w_shape
    if kh == kw == 1 and groups == 1:
        return "im2col"
    y_shape = check_conv2d("choose_plan", x_shape, w_shape, stride, padding, dilation, groups)
    columns_fit = n * c_in * kh * kw * y_shape[2] * y_shape[3] * itemsize <= IM2COL_MAX_BYTES
    if c_in_g * kh * kw >= IM2COL_MIN_REDUCTION and columns_fit:
        return "im2col"
    if step == "backward_weight" and c_out * c_in_g * kh * kw < WEIGHT_GRAD_MIN_THREADS \
            and columns_fit:
        return "im2col"
    return "direct"


def plan_name(x_shape, w_shape, stride, padding, dilation, groups, dtype="float32",
              step: str = "forward") -> str:
    """The plan one pass of a CUDA convolution with these arguments would use now."""
    if step not in STEPS:
        raise ValueError(f"plan_name: step must be one of {STEPS}, got {step!r}")
    return choose_plan(tuple(x_shape), tuple(w_shape), stride, padding, dilation, groups,
                       np.dtype(dtype).itemsize, step)


def tiled_applies(y_shape, w_shape, stride, dilation) -> bool:
    """Whether conv2d_tiled.cu can compute this forward pass: the patch a tile reads fits its
    shared-memory arrays, and N and C_out fit the grid's y and z dimensions (<= 65535)."""
    patch = [(TILE - 1) * s + d * (k - 1) + 1
             for s, d, k in zip(stride, dilation, w_shape[2:], strict=True)]
    return (max(patch) <= MAX_PATCH and w_shape[2] * w_shape[3] <= MAX_TAPS
            and y_shape[0] <= 65535 and y_shape[1] <= 65535)


def _conv2d_shape(op, x_shape, w_shape, y_shape, stride, padding, dilation, groups):
    n, c_in, h, w = x_shape
    return _struct(op, CONV2D_SHAPE, (n, c_in, h, w, w_shape[0], y_shape[2], y_shape[3],
                                      w_shape[2], w_shape[3], stride[0], stride[1], padding[0],
                                      padding[2], dilation[0], dilation[1], groups))


def _columns(runtime: Runtime, x, shape, x_shape, w_shape, y_shape, groups):
    """im2col: ``x`` as the column matrix, viewed as ``(N, groups, C_in_g·kH·kW, H_out·W_out)``."""
    n, c_in = x_shape[0], x_shape[1]
    rows = c_in // groups * w_shape[2] * w_shape[3]
    cols = runtime.xp.empty((n, groups, rows, y_shape[2] * y_shape[3]), dtype=x.dtype)
    launch_grid_stride(runtime, "im2col", x.dtype, cols.size, x, cols, shape)
    return cols


# ------------------------------------------------------------------------------------------------
# Convolution
# ------------------------------------------------------------------------------------------------

def conv2d_forward(runtime: Runtime, x, w, stride, padding, dilation, groups):
    """``y = x ⋆ w``: ``x: (N, C_in, H, W)``, ``w: (C_out, C_in/groups, kH, kW)``
    -> ``y: (N, C_out, H_out, W_out)`` (see ``reference.conv2d_forward``)."""
    op = "conv2d_forward"
    check_same_dtype(op, x=x, w=w)
    y_shape = check_conv2d(op, x.shape, w.shape, stride, padding, dilation, groups)
    _check_on_device(runtime, op, x=x, w=w)
    xp = runtime.xp
    if math.prod(y_shape) == 0:
        return xp.zeros(y_shape, dtype=x.dtype)
    x, w = _contiguous(xp, x), _contiguous(xp, w)
    shape = _conv2d_shape(op, x.shape, w.shape, y_shape, stride, padding, dilation, groups)
    plan = choose_plan(x.shape, w.shape, stride, padding, dilation, groups, x.dtype.itemsize)
    if plan == "im2col":
        cols = _columns(runtime, x, shape, x.shape, w.shape, y_shape, groups)
        # (groups, C_out_g, R) @ (N, groups, R, L) -> (N, groups, C_out_g, L) = y's layout
        y = xp.matmul(w.reshape(groups, w.shape[0] // groups, -1), cols)
        return y.reshape(y_shape)
    y = xp.empty(y_shape, dtype=x.dtype)
    if plan == "tiled" and tiled_applies(y_shape, w.shape, stride, dilation):
        tiles = -(-y_shape[2] // TILE) * -(-y_shape[3] // TILE)
        function = runtime.get_function(f"conv2d_forward_tiled_{_SUFFIX[x.dtype]}")
        function((tiles, y_shape[1], y_shape[0]), (TILE, TILE), (x, w, y, shape))
    else:
        launch_grid_stride(runtime, "conv2d_forward", x.dtype, y.size, x, w, y, shape)
    return y


def conv2d_backward_input(runtime: Runtime, grad_y, w, x_shape, stride, padding, dilation,
                          groups):
    """``grad_x = full_corr(δ, rot180(w))`` cropped by the padding: ``grad_y: (N, C_out, H_out,
    W_out)``, ``x_shape = (N, C_in, H, W)`` -> ``grad_x: (N, C_in, H, W)``."""
    op = "conv2d_backward_input"
    check_same_dtype(op, grad_y=grad_y, w=w)
    y_shape = check_conv2d(op, x_shape, w.shape, stride, padding, dilation, groups)
    check_conv2d_grad_y(op, grad_y.shape, y_shape)
    _check_on_device(runtime, op, grad_y=grad_y, w=w)
    xp = runtime.xp
    x_shape = tuple(int(v) for v in x_shape)
    if math.prod(x_shape) == 0:
        return xp.zeros(x_shape, dtype=grad_y.dtype)
    grad_y, w = _contiguous(xp, grad_y), _contiguous(xp, w)
    shape = _conv2d_shape(op, x_shape, w.shape, y_shape, stride, padding, dilation, groups)
    grad_x = xp.empty(x_shape, dtype=grad_y.dtype)
    plan = choose_plan(x_shape, w.shape, stride, padding, dilation, groups, w.dtype.itemsize,
                       "backward_input")
    if plan == "im2col":
        n, c_out_g = x_shape[0], w.shape[0] // groups
        w_t = w.reshape(groups, c_out_g, -1).transpose(0, 2, 1)  # (groups, R, C_out_g)
        dy = grad_y.reshape(n, groups, c_out_g, y_shape[2] * y_shape[3])
        grad_cols = _contiguous(xp, xp.matmul(w_t, dy))  # (N, groups, R, L)
        launch_grid_stride(runtime, "col2im", grad_y.dtype, grad_x.size, grad_cols, grad_x,
                           shape)
    else:
        launch_grid_stride(runtime, "conv2d_backward_input", grad_y.dtype, grad_x.size, grad_y,
                           w, grad_x, shape)
    return grad_x


def conv2d_backward_weight(runtime: Runtime, x, grad_y, w_shape, stride, padding, dilation,
                           groups):
    """``grad_w = x ⋆ δ`` summed over the batch: ``x: (N, C_in, H, W)``, ``grad_y: (N, C_out,
    H_out, W_out)`` -> ``grad_w`` of shape ``w_shape = (C_out, C_in/groups, kH, kW)``."""
    op = "conv2d_backward_weight"
    check_same_dtype(op, x=x, grad_y=grad_y)
    y_shape = check_conv2d(op, x.shape, w_shape, stride, padding, dilation, groups)
    check_conv2d_grad_y(op, grad_y.shape, y_shape)
    _check_on_device(runtime, op, x=x, grad_y=grad_y)
    xp = runtime.xp
    w_shape = tuple(int(v) for v in w_shape)
    if x.shape[0] == 0:
        return xp.zeros(w_shape, dtype=x.dtype)  # a sum over an empty batch
    x, grad_y = _contiguous(xp, x), _contiguous(xp, grad_y)
    shape = _conv2d_shape(op, x.shape, w_shape, y_shape, stride, padding, dilation, groups)
    plan = choose_plan(x.shape, w_shape, stride, padding, dilation, groups, x.dtype.itemsize,
                       "backward_weight")
    if plan == "im2col":
        cols = _columns(runtime, x, shape, x.shape, w_shape, y_shape, groups)
        n, c_out_g = x.shape[0], w_shape[0] // groups
        dy = grad_y.reshape(n, groups, c_out_g, y_shape[2] * y_shape[3])
        # per sample (groups, C_out_g, L) @ (groups, L, R), then the sum over the batch: the
        # per-sample products (N·C_out·R) are far smaller than a transposed copy of cols (N·R·L)
        grad_w = xp.matmul(dy, cols.transpose(0, 1, 3, 2)).sum(axis=0)
        return grad_w.reshape(w_shape)
    grad_w = xp.empty(w_shape, dtype=x.dtype)
    launch_grid_stride(runtime, "conv2d_backward_weight", x.dtype, grad_w.size, x, grad_y,
                       grad_w, shape)
    return grad_w


# ------------------------------------------------------------------------------------------------
# Pooling
# ------------------------------------------------------------------------------------------------

def _pool2d_shape(op, x_shape, y_shape, kernel, stride, padding, dilation,
                  count_include_pad=False):
    n, c, h, w = x_shape
    return _struct(op, POOL2D_SHAPE, (n, c, h, w, y_shape[2], y_shape[3], kernel[0], kernel[1],
                                      stride[0], stride[1], *padding, dilation[0], dilation[1],
                                      int(bool(count_include_pad))))


def max_pool2d_forward(runtime: Runtime, x, kernel, stride, padding, dilation, ceil_mode):
    """The largest element of each window and its flat index ``h * W + w`` in its plane:
    ``x: (N, C, H, W)`` -> ``(y, indices)``, both ``(N, C, H_out, W_out)``, indices int64."""
    op = "max_pool2d_forward"
    check_float_array(op, "x", x)
    y_shape = check_pool2d(op, x.shape, kernel, stride, padding, dilation, ceil_mode)
    _check_on_device(runtime, op, x=x)
    xp = runtime.xp
    y = xp.empty(y_shape, dtype=x.dtype)
    indices = xp.empty(y_shape, dtype=np.int64)
    if y.size:
        x = _contiguous(xp, x)
        shape = _pool2d_shape(op, x.shape, y_shape, kernel, stride, padding, dilation)
        launch_grid_stride(runtime, "max_pool2d_forward", x.dtype, y.size, x, y, indices, shape)
    return y, indices


def max_pool2d_backward(runtime: Runtime, grad_y, indices, x_shape):
    """Each window's δ goes to its argmax: ``grad_y, indices: (N, C, H_out, W_out)``,
    ``x_shape = (N, C, H, W)`` -> ``grad_x: (N, C, H, W)``."""
    op = "max_pool2d_backward"
    check_max_pool2d_backward(op, grad_y, indices, x_shape)
    _check_on_device(runtime, op, grad_y=grad_y, indices=indices)
    xp = runtime.xp
    x_shape = tuple(int(v) for v in x_shape)
    grad_x = xp.empty(x_shape, dtype=grad_y.dtype)  # every plane is zeroed by its thread
    if grad_x.size:
        grad_y, indices = _contiguous(xp, grad_y), _contiguous(xp, indices)
        shape = _pool2d_shape(op, x_shape, grad_y.shape, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1))
        planes = x_shape[0] * x_shape[1]
        launch_grid_stride(runtime, "max_pool2d_backward", grad_y.dtype, planes, grad_y, indices,
                           grad_x, shape)
    return grad_x


def avg_pool2d_forward(runtime: Runtime, x, kernel, stride, padding, ceil_mode,
                       count_include_pad):
    """The mean of each window (PyTorch's divisor): ``x: (N, C, H, W)`` -> ``y: (N, C, H_out,
    W_out)``."""
    op = "avg_pool2d_forward"
    check_float_array(op, "x", x)
    y_shape = check_pool2d(op, x.shape, kernel, stride, padding, (1, 1), ceil_mode)
    _check_on_device(runtime, op, x=x)
    xp = runtime.xp
    y = xp.empty(y_shape, dtype=x.dtype)
    if y.size:
        x = _contiguous(xp, x)
        shape = _pool2d_shape(op, x.shape, y_shape, kernel, stride, padding, (1, 1),
                              count_include_pad)
        launch_grid_stride(runtime, "avg_pool2d_forward", x.dtype, y.size, x, y, shape)
    return y


def avg_pool2d_backward(runtime: Runtime, grad_y, x_shape, kernel, stride, padding, ceil_mode,
                        count_include_pad):
    """``δ / divisor`` spread over each window: ``grad_y: (N, C, H_out, W_out)``,
    ``x_shape = (N, C, H, W)`` -> ``grad_x: (N, C, H, W)``."""
    op = "avg_pool2d_backward"
    check_float_array(op, "grad_y", grad_y)
    y_shape = check_pool2d(op, x_shape, kernel, stride, padding, (1, 1), ceil_mode)
    check_conv2d_grad_y(op, grad_y.shape, y_shape)
    _check_on_device(runtime, op, grad_y=grad_y)
    xp = runtime.xp
    x_shape = tuple(int(v) for v in x_shape)
    grad_x = xp.empty(x_shape, dtype=grad_y.dtype)
    if grad_x.size:
        grad_y = _contiguous(xp, grad_y)
        shape = _pool2d_shape(op, x_shape, y_shape, kernel, stride, padding, (1, 1),
                              count_include_pad)
        launch_grid_stride(runtime, "avg_pool2d_backward", grad_y.dtype, grad_x.size, grad_y,
                           grad_x, shape)
    return grad_x


# ------------------------------------------------------------------------------------------------
# A kernel set bound to one runtime
# ------------------------------------------------------------------------------------------------

class RuntimeKernelSet:
    """The seven contract functions, launched on ``runtime``: a kernel set object.

    ``runtime`` is a :class:`Runtime`, or a function that returns one, called at the first
    kernel call (so the ``"cuda"`` set imports CuPy and needs a GPU only when used). The
    ``"cuda"`` and ``"cuda-emu"`` kernel sets are the modules ``kernels/cuda/__init__.py`` and
    ``emulated.py``, whose functions are the methods of one such object each. Bind any other
    runtime the same way, e.g. one in which a student's own ``.cu`` file replaces some kernels
    (a file defining kernels of the same names wins over the built-in ones)::

        from tinyconv.kernels import reference
        from tinyconv.kernels.cuda.launch import RuntimeKernelSet
        from tinyconv.kernels.cuda.runtime import SOURCES, EmulatedRuntime

        mine = RuntimeKernelSet(EmulatedRuntime((*SOURCES, "my_conv2d.cu")), name="mine")
        tc.testing.run_all(mine, reference=reference)      # grade it
        tc.register_kernels("mine", mine)                   # train with it
        tc.set_kernels("mine")
    """

    def __init__(self, runtime: Runtime | Callable[[], Runtime], name: str | None = None):
        self._runtime = runtime
        label = getattr(runtime, "name", None) or getattr(runtime, "__name__", "a runtime")
        self.__name__ = name or f"kernels on {label}"

    @property
    def runtime(self) -> Runtime:
        """The runtime, made by the factory on first use if one was given."""
        if not hasattr(self._runtime, "get_function"):  # a factory: call it (it may raise)
            self._runtime = self._runtime()
        return self._runtime

    def conv2d_forward(self, x, w, stride, padding, dilation, groups):
        """``y = x ⋆ w``: ``x: (N, C_in, H, W)``, ``w: (C_out, C_in/groups, kH, kW)`` ->
        ``y: (N, C_out, H_out, W_out)`` (the plan: :func:`plan_name`)."""
        return conv2d_forward(self.runtime, x, w, stride, padding, dilation, groups)

    def conv2d_backward_input(self, grad_y, w, x_shape, stride, padding, dilation, groups):
        """``grad_x = full_corr(δ, rot180(w))`` cropped by the padding: ``grad_y: (N, C_out,
        H_out, W_out)`` -> ``grad_x`` of shape ``x_shape``."""
        return conv2d_backward_input(self.runtime, grad_y, w, x_shape, stride, padding, dilation,
                                     groups)

    def conv2d_backward_weight(self, x, grad_y, w_shape, stride, padding, dilation, groups):
        """``grad_w = x ⋆ δ`` summed over the batch -> ``grad_w`` of shape ``w_shape``."""
        return conv2d_backward_weight(self.runtime, x, grad_y, w_shape, stride, padding,
                                      dilation, groups)

    def max_pool2d_forward(self, x, kernel, stride, padding, dilation, ceil_mode):
        """Window maxima and their flat indices: ``x: (N, C, H, W)`` -> ``(y, indices)``, both
        ``(N, C, H_out, W_out)``."""
        return max_pool2d_forward(self.runtime, x, kernel, stride, padding, dilation, ceil_mode)

    def max_pool2d_backward(self, grad_y, indices, x_shape):
        """δ routed to each window's argmax -> ``grad_x`` of shape ``x_shape``."""
        return max_pool2d_backward(self.runtime, grad_y, indices, x_shape)

    def avg_pool2d_forward(self, x, kernel, stride, padding, ceil_mode, count_include_pad):
        """Window means (PyTorch's divisor): ``x: (N, C, H, W)`` -> ``(N, C, H_out, W_out)``."""
        return avg_pool2d_forward(self.runtime, x, kernel, stride, padding, ceil_mode,
                                  count_include_pad)

    def avg_pool2d_backward(self, grad_y, x_shape, kernel, stride, padding, ceil_mode,
                            count_include_pad):
        """δ / divisor spread over each window -> ``grad_x`` of shape ``x_shape``."""
        return avg_pool2d_backward(self.runtime, grad_y, x_shape, kernel, stride, padding,
                                   ceil_mode, count_include_pad)
