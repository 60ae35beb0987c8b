"""The kernel contract: output-size formulas and argument checks shared by every kernel set.

Every backend (``reference``, ``cpu`` and ``cuda``) implements the same seven functions with the
same signatures, on plain arrays (NumPy on the CPU, CuPy on the GPU)::

    conv2d_forward(x, w, stride, padding, dilation, groups) -> y
    conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups) -> grad_x
    conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups) -> grad_w
    max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode) -> (y, indices)
    max_pool2d_backward(grad_y, indices, x_shape) -> grad_x
    avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad) -> y
    avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, ceil_mode, count_include_pad)
        -> grad_x

Conventions (already normalised by the caller, ``tinyconv.nn.functional``):

- ``x: (N, C_in, H, W)``, ``w: (C_out, C_in // groups, kH, kW)``, ``y: (N, C_out, H_out, W_out)``.
- ``stride``, ``dilation``, ``kernel``: pairs ``(along H, along W)`` of positive ints.
- ``padding``: explicit per side, ``(top, bottom, left, right)``, non-negative ints. Padding is
  zeros for convolution; max pooling treats it as -inf.
- ``indices`` of max pooling are int64 flat offsets ``h * W + w`` into each input plane, like
  PyTorch.
- Inputs are float32 or float64 and may be non-contiguous; outputs have the input's dtype and are
  freshly allocated (never a view of an input).

This module holds the pieces that must exist exactly once: the output-size formulas and the shape
checks. ``tinyconv.nn.functional`` calls the checks before any kernel runs, and each kernel set
calls them again on entry so that a kernel called directly with inconsistent shapes raises a clear
error instead of reading out of bounds.

What a kernel set *is* is written down once, as types: :class:`KernelSet` (the seven functions,
with their parameter names) and two optional parts, which the CPU set has: :class:`FusedBatchNorm`
(a ``batch_norm`` attribute: batch norm in few passes) and :class:`FusedConvEpilogue` (a
``conv_epilogue`` attribute: bias + ReLU after a convolution in one pass). :func:`check_kernel_set`
compares a module with them (``tc.register_kernels`` calls it); :func:`optional_batch_norm` and
:func:`optional_conv_epilogue` are how the functional layer asks for the optional parts.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import numpy as np

__all__ = [
    "CONTRACT_FUNCTIONS",
    "KERNEL_DTYPES",
    "FusedBatchNorm",
    "FusedConvEpilogue",
    "KernelSet",
    "OPTIONAL_PARTS",
    "Pair",
    "Padding4",
    "check_conv2d",
    "check_conv2d_grad_y",
    "check_float_array",
    "check_kernel_set",
    "check_max_pool2d_backward",
    "check_pair",
    "check_padding4",
    "check_pool2d",
    "check_same_dtype",
    "conv_output_size",
    "optional_batch_norm",
    "optional_conv_epilogue",
    "pool_output_size",
]

Pair = tuple[int, int]
Padding4 = tuple[int, int, int, int]
Shape4 = tuple[int, int, int, int]
#: A ``numpy.ndarray`` on the CPU, a ``cupy.ndarray`` on the GPU.
Array = Any


class KernelSet(Protocol):
    """The seven functions every kernel set provides (a module satisfies this protocol).

    Shapes and conventions are in the module docstring; ``tc.register_kernels`` checks that each
    function exists, is callable and takes these parameters, in this order, by these names.
    """

    def conv2d_forward(self, x: Array, w: Array, stride: Pair, padding: Padding4,
                       dilation: Pair, groups: int) -> Array:
        """``x: (N, C_in, H, W)``, ``w: (C_out, C_in/groups, kH, kW)`` -> ``y: (N, C_out, H_out,
        W_out)``."""
        ...

    def conv2d_backward_input(self, grad_y: Array, w: Array, x_shape: Shape4, stride: Pair,
                              padding: Padding4, dilation: Pair, groups: int) -> Array:
        """``grad_y: (N, C_out, H_out, W_out)`` -> ``grad_x`` of ``x_shape``."""
        ...

    def conv2d_backward_weight(self, x: Array, grad_y: Array, w_shape: Shape4, stride: Pair,
                               padding: Padding4, dilation: Pair, groups: int) -> Array:
        """``x: (N, C_in, H, W)``, ``grad_y: (N, C_out, H_out, W_out)`` -> ``grad_w`` of
        ``w_shape``."""
        ...

    def max_pool2d_forward(self, x: Array, kernel: Pair, stride: Pair, padding: Padding4,
                           dilation: Pair, ceil_mode: bool) -> tuple[Array, Array]:
        """``x: (N, C, H, W)`` -> ``(y, indices)``, both ``(N, C, H_out, W_out)``, indices int64."""
        ...

    def max_pool2d_backward(self, grad_y: Array, indices: Array, x_shape: Shape4) -> Array:
        """``grad_y, indices: (N, C, H_out, W_out)`` -> ``grad_x`` of ``x_shape``."""
        ...

    def avg_pool2d_forward(self, x: Array, kernel: Pair, stride: Pair, padding: Padding4,
                           ceil_mode: bool, count_include_pad: bool) -> Array:
        """``x: (N, C, H, W)`` -> ``y: (N, C, H_out, W_out)``."""
        ...

    def avg_pool2d_backward(self, grad_y: Array, x_shape: Shape4, kernel: Pair, stride: Pair,
                            padding: Padding4, ceil_mode: bool,
                            count_include_pad: bool) -> Array:
        """``grad_y: (N, C, H_out, W_out)`` -> ``grad_x`` of ``x_shape``."""
        ...


class FusedBatchNorm(Protocol):
    """The optional part of a kernel set: ``kernels.batch_norm``, batch normalisation fused into
    few passes over memory (the CPU set's ``kernels/cpu/batch_norm.py``): training forward and
    backward, and the eval-mode forward.

    ``x3, grad_y3: (N, C, P)`` (``P`` = spatial positions), ``weight, bias, mean, inv_std: (C,)``.
    A kernel set without it is complete: ``tinyconv.nn.functional.batch_norm`` then computes the
    same formulas with array operations.
    """

    def forward(self, x3: Array, weight: Array, bias: Array,
                eps: float) -> tuple[Array, Array, Array, Array]:
        """-> ``(y3, mean, var, inv_std)``: ``y3`` like ``x3``, the (biased) batch statistics
        and ``1/√(var + eps)`` per channel."""
        ...

    def backward(self, grad_y3: Array, x3: Array, mean: Array, inv_std: Array,
                 weight: Array) -> tuple[Array, Array, Array]:
        """-> ``(grad_x3, grad_weight, grad_bias)``."""
        ...

    def inference(self, x3: Array, scale: Array, shift: Array) -> Array:
        """Eval mode, with the running statistics folded into two vectors ``(C,)``:
        -> fresh ``y3 = x3 · scale + shift`` per channel, in one pass."""
        ...


class FusedConvEpilogue(Protocol):
    """The optional part ``kernels.conv_epilogue``: what follows a convolution in most CNNs, bias
    and ReLU, in one pass (the CPU set's ``kernels/cpu/fused.py``). Used by
    ``tinyconv.nn.functional.conv2d_relu`` and ``conv2d_relu_max_pool2d``; without it they
    compute the same with array operations.
    """

    def bias_relu(self, y: Array, bias: Array | None) -> Array:
        """``y = max(y + bias, 0)`` per channel, in place; ``y: (N, C, H, W)``, ``bias: (C,)``
        or None. Returns ``y`` (or, where ``y`` cannot be updated in place, the result: callers
        use the returned array)."""
        ...

    def relu_backward(self, grad_out: Array, out: Array) -> tuple[Array, Array]:
        """-> ``(grad_z, grad_bias)``: ``grad_out · (out > 0)`` and its sum per channel."""
        ...


#: The optional parts: ``(attribute of the kernel set, protocol, its functions)``.
OPTIONAL_PARTS = (("batch_norm", FusedBatchNorm, ("forward", "backward", "inference")),
                  ("conv_epilogue", FusedConvEpilogue, ("bias_relu", "relu_backward")))


def _parameters(protocol: type, function: str) -> list[str]:
    """The parameter names ``protocol.function`` declares, without ``self``."""
    return list(inspect.signature(getattr(protocol, function)).parameters)[1:]


#: The seven contract functions, in the order :class:`KernelSet` declares them.
CONTRACT_FUNCTIONS = tuple(name for name, value in vars(KernelSet).items()
                           if inspect.isfunction(value) and not name.startswith("_"))


def _signature_problem(function: object, name: str, expected: list[str]) -> str | None:
    """Why ``function`` cannot stand for ``name(*expected)``, or None when it can.

    The functional layer calls kernels positionally, so the test is: the call binds with exactly
    these positional arguments, and every parameter named in those positions has the contract's
    name (``*args`` is accepted: a wrapper that forwards its arguments). A swapped or missing
    argument is caught here, when the set is registered, not as a wrong gradient later.
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a Python signature: cannot be checked
        return None
    wanted = f"{name}({', '.join(expected)})"
    try:
        signature.bind(*expected)
    except TypeError as error:
        return f"{name}{signature} cannot be called as {wanted}: {error}"
    positional = [p.name for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for position, (got, want) in enumerate(zip(positional, expected, strict=False)):
        if got != want:
            return (f"{name}{signature}: parameter {position + 1} is named {got!r}, the contract "
                    f"names it {want!r}; expected {wanted}")
    return None


def check_kernel_set(name: str, module: object) -> None:
    """Raise ``TypeError`` unless ``module`` satisfies :class:`KernelSet` (and each optional part
    it has, :data:`OPTIONAL_PARTS`): every function present, callable, and
    taking the contract's parameters. The message names the kernel set, the function and what is
    expected."""
    label = f"kernel set {name!r} ({getattr(module, '__name__', type(module).__name__)})"
    missing = [f for f in CONTRACT_FUNCTIONS if not hasattr(module, f)]
    if missing:
        raise TypeError(f"{label} is missing {missing}; the contract needs "
                        f"{list(CONTRACT_FUNCTIONS)}")
    parts = [(KernelSet, module, f, f) for f in CONTRACT_FUNCTIONS]
    for attribute, protocol, functions in OPTIONAL_PARTS:
        part = getattr(module, attribute, None)
        if part is not None:  # optional, but when present it must be the documented part
            parts += [(protocol, part, f, f"{attribute}.{f}") for f in functions]
    for protocol, owner, function, shown in parts:
        value = getattr(owner, function, None)
        if not callable(value):
            raise TypeError(f"{label}: {shown} must be a callable, got {type(value).__name__}")
        problem = _signature_problem(value, shown, _parameters(protocol, function))
        if problem is not None:
            raise TypeError(f"{label}: {problem}")


def optional_batch_norm(kernels: object) -> FusedBatchNorm | None:
    """The kernel set's fused batch norm (:class:`FusedBatchNorm`), or None if it has none."""
    return getattr(kernels, "batch_norm", None)


def optional_conv_epilogue(kernels: object) -> FusedConvEpilogue | None:
    """The kernel set's fused bias + ReLU (:class:`FusedConvEpilogue`), or None if it has none."""
    return getattr(kernels, "conv_epilogue", None)


def conv_output_size(n: int, k: int, stride: int, pad_before: int, pad_after: int,
                     dilation: int = 1) -> int:
    """Length of a convolution's output along one axis.

    ``floor((n + p_before + p_after - d*(k-1) - 1) / s) + 1``: the number of positions at which a
    kernel of extent ``d*(k-1) + 1`` fits inside the padded input when it moves by ``s``.
    Returns 0 or less when the kernel does not fit at all (the caller reports that as an error).
    """
    span = dilation * (k - 1) + 1
    return (n + pad_before + pad_after - span) // stride + 1


def pool_output_size(n: int, k: int, stride: int, pad_before: int, pad_after: int,
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """Length of a pooling output along one axis (PyTorch's rule).

    With ``ceil_mode=False`` this is the convolution formula. With ``ceil_mode=True`` the division
    rounds up, so a last, partial window is kept, but only if it starts inside the input or the
    leading padding: a window lying entirely in the trailing padding would pool nothing.
    """
    span = dilation * (k - 1) + 1
    numerator = n + pad_before + pad_after - span
    if not ceil_mode:
        return numerator // stride + 1
    out = -(-numerator // stride) + 1  # ceil division
    if (out - 1) * stride >= n + pad_before:
        out -= 1
    return out


def _fail(op: str, message: str) -> None:
    raise ValueError(f"{op}: {message}")


def check_pair(op: str, name: str, value: Pair, minimum: int) -> None:
    """A (along H, along W) pair of ints, each >= minimum."""
    if (not isinstance(value, tuple) or len(value) != 2
            or not all(isinstance(v, int) and v >= minimum for v in value)):
        _fail(op, f"{name} must be a pair of ints >= {minimum}, got {value!r}")


def check_padding4(op: str, padding: Padding4) -> None:
    """Explicit per-side padding (top, bottom, left, right), each a non-negative int."""
    if (not isinstance(padding, tuple) or len(padding) != 4
            or not all(isinstance(v, int) and v >= 0 for v in padding)):
        _fail(op, "padding must be 4 non-negative ints (top, bottom, left, right), "
                  f"got {padding!r}")


def check_conv2d(op: str, x_shape: tuple, w_shape: tuple, stride: Pair, padding: Padding4,
                 dilation: Pair, groups: int) -> tuple[int, int, int, int]:
    """Check a conv2d configuration and return the output shape ``(N, C_out, H_out, W_out)``.

    ``x_shape: (N, C_in, H, W)``, ``w_shape: (C_out, C_in // groups, kH, kW)``.
    """
    x_shape, w_shape = tuple(x_shape), tuple(w_shape)
    if len(x_shape) != 4:
        _fail(op, f"input must be 4-D (N, C_in, H, W), got shape {x_shape}")
    if len(w_shape) != 4:
        _fail(op, f"weight must be 4-D (C_out, C_in/groups, kH, kW), got shape {w_shape}")
    check_pair(op, "stride", stride, 1)
    check_pair(op, "dilation", dilation, 1)
    check_padding4(op, padding)
    if not isinstance(groups, int) or groups < 1:
        _fail(op, f"groups must be a positive int, got {groups!r}")
    n, c_in, h, w = x_shape
    c_out, c_per_group, kh, kw = w_shape
    if min(w_shape) < 1:
        _fail(op, f"weight has an empty dimension (weight shape {w_shape})")
    if c_in % groups != 0:
        _fail(op, f"input channels ({c_in}) must be divisible by groups ({groups}) "
                  f"(input shape {x_shape})")
    if c_out % groups != 0:
        _fail(op, f"output channels ({c_out}) must be divisible by groups ({groups}) "
                  f"(weight shape {w_shape})")
    if c_in != c_per_group * groups:
        _fail(op, f"input has {c_in} channels but weight expects {c_per_group * groups} "
                  f"(weight shape {w_shape}, groups={groups})")
    h_out = conv_output_size(h, kh, stride[0], padding[0], padding[1], dilation[0])
    w_out = conv_output_size(w, kw, stride[1], padding[2], padding[3], dilation[1])
    if h_out < 1 or w_out < 1:
        _fail(op, f"the kernel does not fit in the padded input: input {h}x{w} with padding "
                  f"{padding} (top, bottom, left, right), kernel {kh}x{kw} with dilation "
                  f"{dilation} would give an output of {h_out}x{w_out}; the padded input must be "
                  f"at least the dilated kernel size {dilation[0] * (kh - 1) + 1}x"
                  f"{dilation[1] * (kw - 1) + 1}")
    return (n, c_out, h_out, w_out)


def check_conv2d_grad_y(op: str, grad_y_shape: tuple, expected: tuple) -> None:
    """The output gradient of a conv or pool must have the output's shape."""
    if tuple(grad_y_shape) != tuple(expected):
        _fail(op, f"grad_y has shape {tuple(grad_y_shape)} but the output has shape "
                  f"{tuple(expected)}")


def check_pool2d(op: str, x_shape: tuple, kernel: Pair, stride: Pair, padding: Padding4,
                 dilation: Pair, ceil_mode: bool) -> tuple[int, int, int, int]:
    """Check a pooling configuration and return the output shape ``(N, C, H_out, W_out)``.

    As in PyTorch, padding on each side may be at most half the (undilated) window, so that every
    window contains at least one real input element.
    """
    x_shape = tuple(x_shape)
    if len(x_shape) != 4:
        _fail(op, f"input must be 4-D (N, C, H, W), got shape {x_shape}")
    check_pair(op, "kernel_size", kernel, 1)
    check_pair(op, "stride", stride, 1)
    check_pair(op, "dilation", dilation, 1)
    check_padding4(op, padding)
    for axis, k, pads in (("H", kernel[0], padding[:2]), ("W", kernel[1], padding[2:])):
        if max(pads) > k // 2:
            _fail(op, f"padding along {axis} ({max(pads)}) must be at most half the kernel size "
                      f"({k} // 2 = {k // 2})")
    n, c, h, w = x_shape
    h_out = pool_output_size(h, kernel[0], stride[0], padding[0], padding[1], dilation[0],
                             ceil_mode)
    w_out = pool_output_size(w, kernel[1], stride[1], padding[2], padding[3], dilation[1],
                             ceil_mode)
    if h_out < 1 or w_out < 1:
        _fail(op, f"the window does not fit in the padded input: input {h}x{w} with padding "
                  f"{padding}, kernel {kernel}, dilation {dilation} would give an output of "
                  f"{h_out}x{w_out}")
    _check_windows_see_input(op, "H", h, kernel[0], stride[0], padding[0], dilation[0], h_out)
    _check_windows_see_input(op, "W", w, kernel[1], stride[1], padding[2], dilation[1], w_out)
    return (n, c, h_out, w_out)


def _check_windows_see_input(op: str, axis: str, size: int, k: int, stride: int, pad_before: int,
                             dilation: int, out: int) -> None:
    """Every pooling window must contain at least one real input element along ``axis``.

    ``padding <= k // 2`` guarantees this without dilation, but a dilated window that starts in the
    leading padding can step over a short input entirely (input 1 wide, kernel 2, dilation 2,
    padding 1: taps at -1 and 1). Such a window would pool nothing: a max would be -inf with no
    index to route a gradient to. Only windows starting in the leading padding can miss (a window
    starting inside the input has its first tap there, and the output-size rule never starts a
    window past the input), so only those are checked.
    """
    for o in range(out):
        start = o * stride - pad_before
        if start >= 0:
            break
        if not any(0 <= start + i * dilation < size for i in range(k)):
            _fail(op, f"window {o} along {axis} covers no input element: input size {size}, "
                      f"kernel {k}, dilation {dilation} and leading padding {pad_before} put its "
                      f"taps at {[start + i * dilation for i in range(k)]}; use less padding or "
                      f"dilation")


#: The dtypes kernels compute in.
KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_array(op: str, name: str, array: Array) -> None:
    """Kernels compute in float32 or float64 only."""
    if array.dtype not in KERNEL_DTYPES:
        raise TypeError(f"{op}: {name} must be float32 or float64, got {array.dtype}")


def check_same_dtype(op: str, **arrays: Array) -> None:
    """All floating arguments of one kernel call share one dtype (no silent promotion)."""
    for name, a in arrays.items():
        check_float_array(op, name, a)
    # compared as dtype objects (this runs on every kernel call); str() only for the message
    if len({a.dtype for a in arrays.values()}) > 1:
        dtypes = {name: str(a.dtype) for name, a in arrays.items()}
        raise TypeError(f"{op}: arguments must share one dtype, got {dtypes}")


def check_max_pool2d_backward(op: str, grad_y: Array, indices: Array, x_shape: tuple) -> None:
    """Check the arguments of ``max_pool2d_backward`` before any gradient is routed.

    ``grad_y`` and ``indices`` both have the pooled output's shape ``(N, C, H_out, W_out)``,
    ``x_shape`` is the input's ``(N, C, H, W)``, and every index is a flat offset ``h * W + w``
    inside an input plane: an index outside ``[0, H*W)`` would write out of bounds.
    """
    x_shape = tuple(x_shape)
    if len(x_shape) != 4:
        _fail(op, f"x_shape must be 4-D (N, C, H, W), got {x_shape}")
    check_float_array(op, "grad_y", grad_y)
    if str(indices.dtype) != "int64":
        raise TypeError(f"{op}: indices must be int64, got {indices.dtype}")
    if len(grad_y.shape) != 4:
        _fail(op, f"grad_y must be 4-D (N, C, H_out, W_out), got shape {tuple(grad_y.shape)}")
    if tuple(indices.shape) != tuple(grad_y.shape):
        _fail(op, f"indices has shape {tuple(indices.shape)} but grad_y has shape "
                  f"{tuple(grad_y.shape)}; they must match")
    if tuple(grad_y.shape[:2]) != x_shape[:2]:
        _fail(op, f"grad_y has shape {tuple(grad_y.shape)} but the input has shape {x_shape}; "
                  f"batch and channel sizes must match")
    plane = x_shape[2] * x_shape[3]
    if indices.size and (int(indices.min()) < 0 or int(indices.max()) >= plane):
        _fail(op, f"indices must lie in [0, H*W) = [0, {plane}) for input shape {x_shape}, got "
                  f"values in [{int(indices.min())}, {int(indices.max())}]")
