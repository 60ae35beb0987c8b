"""Batch normalisation fused into two passes per channel in training, one in eval (CPU, Numba).

Not one of the seven contract functions (students write conv and pool kernels, not this): it is
the optional part of the kernel-set protocol, ``contract.FusedBatchNorm``.
``tinyconv.nn.functional.batch_norm`` uses it when ``contract.optional_batch_norm`` finds it on
the active kernel set (this module, for ``"cpu"``), and otherwise computes the same formulas
with array-module operations (NumPy/CuPy), the readable version to compare with:
``BatchNormFunction`` in ``tinyconv/nn/functional/normalization.py`` derives the backward pass.

Why fuse: written with whole-array operations, the training forward pass sweeps memory about a
dozen times (mean, subtract, square, mean, scale, multiply, add, each a full read and/or write
of an activation), and the backward pass about fifteen; a ResNet's activations do not fit in the
cache, so every sweep costs memory bandwidth. Here each channel is one parallel job: its values
(``N·P`` of them, a few hundred KiB at most for the networks this library trains) are read once
from memory and again from the cache, and the result is written once.

Shapes: ``x3, grad_y3: (N, C, P)`` (``P`` = the spatial positions, 1 for ``(N, C)`` inputs),
``weight, bias: (C,)``. Sums are accumulated in float64: with tens of thousands of values per
channel, a float32 running sum would lose digits that NumPy's pairwise summation keeps.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from . import settings
from ._runtime import run_jobs, threaded_version_of

__all__ = ["backward", "forward", "inference"]


@njit(parallel=True, cache=True, fastmath=True)
def _forward_kernel(x3, weight, bias, eps, y3, mean, var, inv_std):
    n, c, p = x3.shape
    count = n * p
    for ch in prange(c):
        total = 0.0  # float64 on purpose (see the module docstring)
        for b in range(n):
            row = x3[b, ch]
            for i in range(p):
                total += row[i]
        mu = total / count
        squares = 0.0  # the second pass, over values now in cache: Σ (x - μ)², no cancellation
        for b in range(n):
            row = x3[b, ch]
            for i in range(p):
                d = row[i] - mu
                squares += d * d
        sigma2 = squares / count  # biased, for normalising
        s = 1.0 / np.sqrt(sigma2 + eps)
        # y = γ (x - μ) s + β = x · (γ s) + (β - μ γ s): one multiply-add per value
        scale = x3.dtype.type(weight[ch] * s)
        shift = x3.dtype.type(bias[ch] - mu * weight[ch] * s)
        for b in range(n):
            row = x3[b, ch]
            out = y3[b, ch]
            for i in range(p):
                out[i] = row[i] * scale + shift
        mean[ch] = mu
        var[ch] = sigma2
        inv_std[ch] = s


def forward(x3: np.ndarray, weight: np.ndarray, bias: np.ndarray,
            eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``y = γ · (x - μ) / √(σ² + ε) + β`` with the batch statistics of each channel.

    Returns ``(y3, mean, var, inv_std)``: ``y3`` like ``x3``; ``mean``, ``var`` (biased) and
    ``inv_std = 1/√(σ² + ε)`` of shape ``(C,)`` in ``x3``'s dtype.
    """
    settings.ensure_applied()
    x3 = np.ascontiguousarray(x3)
    c = x3.shape[1]
    y3 = np.empty_like(x3)
    mean, var, inv_std = (np.empty(c, dtype=np.float64) for _ in range(3))
    _forward_kernel(x3, weight, bias, float(eps), y3, mean, var, inv_std)
    dtype = x3.dtype
    return y3, mean.astype(dtype), var.astype(dtype), inv_std.astype(dtype)


@njit(parallel=True, cache=True, fastmath=True)
def _backward_kernel(grad_y3, x3, mean, inv_std, weight, grad_x3, grad_weight, grad_bias):
    n, c, p = x3.shape
    count = n * p
    for ch in prange(c):
        mu, s = mean[ch], inv_std[ch]
        sum_grad = 0.0  # Σ δ        (= dL/dβ)
        sum_grad_x_hat = 0.0  # Σ δ x̂  (= dL/dγ)
        for b in range(n):
            g_row, x_row = grad_y3[b, ch], x3[b, ch]
            for i in range(p):
                sum_grad += g_row[i]
                sum_grad_x_hat += g_row[i] * ((x_row[i] - mu) * s)
        grad_bias[ch] = sum_grad
        grad_weight[ch] = sum_grad_x_hat
        # dL/dx = γ s (δ - mean(δ) - x̂ · mean(δ x̂)), with x̂ = (x - μ) s recomputed
        k = weight[ch] * s
        mean_grad = sum_grad / count
        mean_grad_x_hat = sum_grad_x_hat / count
        for b in range(n):
            g_row, x_row, out = grad_y3[b, ch], x3[b, ch], grad_x3[b, ch]
            for i in range(p):
                x_hat = (x_row[i] - mu) * s
                out[i] = k * (g_row[i] - mean_grad - x_hat * mean_grad_x_hat)


def backward(grad_y3: np.ndarray, x3: np.ndarray, mean: np.ndarray, inv_std: np.ndarray,
             weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training-mode gradients: returns ``(grad_x3, grad_weight, grad_bias)``.

    ``mean`` and ``inv_std`` are what :func:`forward` returned for ``x3``.
    """
    settings.ensure_applied()
    c = x3.shape[1]
    grad_x3 = np.empty_like(x3)
    grad_weight = np.empty(c, dtype=np.float64)
    grad_bias = np.empty(c, dtype=np.float64)
    _backward_kernel(np.ascontiguousarray(grad_y3), x3, mean, inv_std, weight, grad_x3,
                     grad_weight, grad_bias)
    return grad_x3, grad_weight.astype(x3.dtype), grad_bias.astype(x3.dtype)


@njit(cache=True, nogil=True, fastmath=True)
def _scale_shift_planes(x3, scale, shift, y3, job_lo, job_hi):
    """``y3[b, ch] = x3[b, ch] · scale[ch] + shift[ch]`` for the planes ``job = b·C + ch`` in
    ``[job_lo, job_hi)``."""
    c = x3.shape[1]
    for job in range(job_lo, job_hi):
        b = job // c
        ch = job % c
        row, out = x3[b, ch], y3[b, ch]
        a, s = scale[ch], shift[ch]
        for i in range(row.size):
            out[i] = row[i] * a + s


@threaded_version_of(_scale_shift_planes)
@njit(parallel=True, nogil=True, cache=True)
def _scale_shift_planes_threaded(bounds, *args):
    """:func:`_scale_shift_planes`, one block of jobs per thread (``run_jobs``)."""
    for t in prange(bounds.size - 1):
        _scale_shift_planes(*args, bounds[t], bounds[t + 1])


def inference(x3: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Eval mode: ``y3 = x3 · scale + shift`` per channel, one pass (``scale = γ/√(σ² + ε)``,
    ``shift = β - μ · scale`` with the running statistics). ``x3: (N, C, P)``, ``scale, shift:
    (C,)`` in ``x3``'s dtype -> fresh ``y3``."""
    settings.ensure_applied()
    x3 = np.ascontiguousarray(x3)
    y3 = np.empty_like(x3)
    n, c = x3.shape[:2]
    run_jobs(_scale_shift_planes, n * c, 2.0 * x3.size, x3, scale.astype(x3.dtype, copy=False),
             shift.astype(x3.dtype, copy=False), y3)
    return y3
