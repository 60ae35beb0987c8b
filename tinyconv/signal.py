"""``tc.signal``: 2-D cross-correlation and convolution of single images, as in ``scipy.signal``.

This module is for learning what a convolutional layer computes. ``correlate2d`` and
``convolve2d`` take two 2-D tensors (an image and a kernel), follow ``scipy.signal``'s semantics
exactly (argument order, modes, centring, the swap in ``"valid"`` mode) and are differentiable in
*both* arguments, so you can check the identities of ``docs/identities.md`` by hand.

Cross-correlation and convolution
---------------------------------
For an image ``x`` and a kernel ``k`` of size ``kH x kW``:

- **cross-correlation** slides the kernel over the image as it is::

      (x ⋆ k)[i, j] = Σ_{m, n} x[i + m, j + n] · k[m, n]

- **convolution** slides the kernel *rotated by 180°* (flipped up-down and left-right)::

      (x * k)[i, j] = Σ_{m, n} x[i - m, j - n] · k[m, n]  =  (x ⋆ rot180(k))[i, j]   (full/valid)

Deep-learning libraries call cross-correlation "convolution": ``tc.nn.functional.conv2d`` (and
PyTorch's) does not flip the kernel. Since a learned kernel can learn its own flip, nothing is lost.
Mathematical convolution is commutative (``x * k = k * x`` in "full" mode); cross-correlation is
not (``x ⋆ k = rot180(k ⋆ x)``).

Modes (``n`` is a length of ``in1`` along one axis, ``k`` the length of ``in2``)
-------------------------------------------------------------------------------
- ``"valid"``: only positions where the kernel lies entirely inside the image: ``n - k + 1``
  outputs. If ``in2`` is at least as large as ``in1`` along both axes, the two are swapped (as in
  scipy), giving ``k - n + 1``; if neither contains the other, it is an error.
- ``"full"`` (the default, as in scipy): every position where kernel and image overlap at all,
  i.e. the image is zero-padded by ``k - 1`` on each side: ``n + k - 1`` outputs. The backward pass
  of a convolutional layer is a full convolution (``dL/dx = full_conv(δ, w)``).
- ``"same"``: the centre ``n`` outputs of "full", so the result has ``in1``'s shape. When ``k`` is
  even the centre is ambiguous by one; scipy (and this module) keeps ``full[k//2 : k//2 + n]`` for
  ``correlate2d`` and ``full[(k-1)//2 : (k-1)//2 + n]`` for ``convolve2d``. In padding terms,
  ``correlate2d`` pads ``(k-1)//2`` before and ``k//2`` after (like ``padding="same"`` in
  ``conv2d``), ``convolve2d`` the other way round. So ``convolve2d(x, k, "same")`` equals
  ``correlate2d(x, rot180(k), "same")`` only for odd kernel sizes.

Example::

    >>> import tinyconv as tc
    >>> x = tc.tensor([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]])
    >>> k = tc.tensor([[1., 0.], [0., -1.]])
    >>> tc.signal.correlate2d(x, k, mode="valid")      # x[i, j] - x[i+1, j+1]
    tensor([[-4., -4.],
            [-4., -4.]])
    >>> tc.signal.convolve2d(x, k, mode="valid")       # x[i+1, j+1] - x[i, j]
    tensor([[4., 4.],
            [4., 4.]])
    >>> tc.signal.correlate2d(x, k).shape              # "full": 3 + 2 - 1
    (4, 4)

Everything is computed by ``tc.nn.functional.conv2d`` (batch 1, one channel) after explicit
zero padding with ``tc.pad``, so gradients flow through the same kernels a CNN uses.
"""

from __future__ import annotations

from tinyconv.autograd import check_same_device
from tinyconv.dtypes import is_floating_dtype
from tinyconv.functions import pad as _pad
from tinyconv.nn.functional.conv import conv2d
from tinyconv.tensor import Tensor

__all__ = ["convolve2d", "correlate2d", "rot180"]

MODES = ("full", "valid", "same")


def rot180(t: Tensor) -> Tensor:
    """Rotate the last two axes by 180° (flip up-down and left-right); differentiable.

    ``rot180(t)[..., i, j] = t[..., H-1-i, W-1-j]``. It is its own inverse, and its gradient is
    the rotated gradient.
    """
    if not isinstance(t, Tensor):
        raise TypeError(f"rot180: expected a Tensor, got {type(t).__name__}")
    if t.ndim < 2:
        raise ValueError(f"rot180: expected a tensor with at least 2 dimensions, got shape "
                         f"{t.shape}")
    return t[..., ::-1, ::-1]


def correlate2d(in1: Tensor, in2: Tensor, mode: str = "full") -> Tensor:
    """Cross-correlate two 2-D tensors: ``out[i, j] = Σ_{m,n} in1[i + m, j + n] · in2[m, n]``.

    Same result as ``scipy.signal.correlate2d(in1, in2, mode)`` (with zero boundary):
    ``mode="full"`` (default) gives ``n + k - 1`` per axis, ``"valid"`` ``n - k + 1`` (if ``in2``
    is the larger, the result is ``rot180(correlate2d(in2, in1, "valid"))``, as in scipy),
    ``"same"`` ``n`` (``in1``'s shape). Differentiable in both arguments. See the module docstring.
    """
    op = "correlate2d"
    _check_inputs(op, in1, in2, mode)
    if mode == "valid":
        if _swap_for_valid(op, in1.shape, in2.shape):
            # scipy correlates the other way round and rotates back; both give the same numbers
            # as the definition above read on the positions where the smaller array fits
            return rot180(_correlate(in2, in1, (0, 0, 0, 0)))
        return _correlate(in1, in2, (0, 0, 0, 0))
    return _correlate(in1, in2, _padding(op, mode, in2.shape))


def convolve2d(in1: Tensor, in2: Tensor, mode: str = "full") -> Tensor:
    """Convolve two 2-D tensors: ``out[i, j] = Σ_{m,n} in1[i - m, j - n] · in2[m, n]``.

    Convolution is cross-correlation with the kernel rotated by 180°. Same result as
    ``scipy.signal.convolve2d(in1, in2, mode)``: ``"full"`` (default) gives ``n + k - 1`` per axis
    and is commutative, ``"valid"`` ``n - k + 1`` (the arguments swap if ``in2`` is the larger,
    which changes nothing since convolution commutes), ``"same"`` ``n`` (``in1``'s shape).
    Differentiable in both arguments. See the module docstring.
    """
    op = "convolve2d"
    _check_inputs(op, in1, in2, mode)
    if mode == "valid":
        if _swap_for_valid(op, in1.shape, in2.shape):
            in1, in2 = in2, in1
        return _correlate(in1, rot180(in2), (0, 0, 0, 0))
    return _correlate(in1, rot180(in2), _padding(op, mode, in2.shape))


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _correlate(image: Tensor, kernel: Tensor, padding: tuple[int, int, int, int]) -> Tensor:
    """Valid cross-correlation of ``image`` zero-padded by ``(top, bottom, left, right)``.

    A 2-D image is a batch of one single-channel image for ``conv2d``:
    ``(H, W) -> (1, 1, H, W)``; the kernel is one filter of one channel: ``(1, 1, kH, kW)``.
    """
    top, bottom, left, right = padding
    x = image.reshape(1, 1, *image.shape)
    if any(padding):
        x = _pad(x, (left, right, top, bottom))  # tc.pad lists the last axis first
    y = conv2d(x, kernel.reshape(1, 1, *kernel.shape))
    return y.reshape(*y.shape[2:])


def _padding(op: str, mode: str, kernel_shape: tuple) -> tuple[int, int, int, int]:
    """Zero padding ``(top, bottom, left, right)`` of ``in1`` for "full" and "same"."""
    sides = []
    for k in kernel_shape:
        if mode == "full":  # the kernel may hang over each edge by k - 1
            sides += [k - 1, k - 1]
        elif op == "correlate2d":  # "same": total k - 1, the extra one (even k) after
            sides += [(k - 1) // 2, k // 2]
        else:  # "same" for convolve2d: the rotated kernel shifts the extra one before
            sides += [k // 2, (k - 1) // 2]
    return tuple(sides)


def _swap_for_valid(op: str, shape1: tuple, shape2: tuple) -> bool:
    """scipy's rule for "valid": swap when ``in2`` is the larger; one must contain the other."""
    in1_contains = all(a >= b for a, b in zip(shape1, shape2, strict=True))
    in2_contains = all(b >= a for a, b in zip(shape1, shape2, strict=True))
    if not (in1_contains or in2_contains):
        raise ValueError(f"{op}: for mode 'valid', one input must be at least as large as the "
                         f"other in every dimension, got shapes {shape1} and {shape2}")
    return not in1_contains


def _check_inputs(op: str, in1: Tensor, in2: Tensor, mode: str) -> None:
    """2-D float tensors of one dtype on one device, non-empty, and a known mode."""
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"{op}: mode must be one of {MODES}, got {mode!r}")
    for name, t in (("in1", in1), ("in2", in2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim != 2:
            raise ValueError(f"{op}: {name} must be 2-D, got shape {t.shape}")
        if not is_floating_dtype(t.dtype) or str(t.dtype) == "float16":
            raise TypeError(f"{op}: {name} must be float32 or float64, got {t.dtype}")
        if t.numel() == 0:
            raise ValueError(f"{op}: {name} must not be empty, got shape {t.shape}")
    if in1.dtype != in2.dtype:
        raise TypeError(f"{op}: in1 and in2 must have the same dtype, got {in1.dtype} and "
                        f"{in2.dtype}")
    check_same_device(op, (in1, in2))
