"""Finite-difference gradient checking: the independent oracle for every backward rule."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinyconv.autograd import no_grad
from tinyconv.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when an analytic gradient disagrees with the numeric one."""


def _scalar_output(fn: Callable, inputs: Sequence[Tensor], weights: Sequence[np.ndarray]) -> Any:
    """L = Σ_k <outputs_k, weights_k>: a fixed random projection turns any output into a scalar,
    so one backward pass checks every output element at once."""
    outputs = fn(*inputs)
    if isinstance(outputs, Tensor):
        outputs = (outputs,)
    total = None
    for out, weight in zip(outputs, weights, strict=True):
        term = (out * Tensor(weight, dtype=out.dtype)).sum()
        total = term if total is None else total + term
    return total


def gradcheck(fn: Callable, inputs: Sequence[Tensor] | Tensor, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Compare autograd's gradients of ``fn(*inputs)`` with central differences.

    For every element ``x_i`` of every input with ``requires_grad``, the numeric derivative is
    ``(L(x + eps·e_i) - L(x - eps·e_i)) / (2·eps)``, where ``L`` is the sum of the outputs weighted
    by fixed random numbers. Inputs must be float64 (float32 rounding swamps the differences).

    Returns ``True`` or raises :class:`GradcheckError` naming the worst element, with its analytic
    and numeric values.
    """
    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = tuple(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; gradcheck needs float64 "
                            "inputs (use .double())")

    with no_grad():
        outputs = fn(*inputs)
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(out.shape) for out in outputs]

    # analytic gradients: one backward pass
    for i in checked:
        inputs[i].grad = None
    _scalar_output(fn, inputs, weights).backward()
    analytic = {i: (np.zeros(inputs[i].shape) if inputs[i].grad is None
                    else np.asarray(inputs[i].grad.data, dtype=np.float64)) for i in checked}

    # numeric gradients: two evaluations per element
    worst = None
    with no_grad():
        for i in checked:
            flat = inputs[i].data.reshape(-1)  # a view: editing it edits the input
            if not np.shares_memory(flat, inputs[i].data):
                raise ValueError(f"gradcheck: input {i} must be contiguous")
            numeric = np.zeros(flat.size)
            for j in range(flat.size):
                original = flat[j]
                flat[j] = original + eps
                plus = _scalar_output(fn, inputs, weights).item()
                flat[j] = original - eps
                minus = _scalar_output(fn, inputs, weights).item()
                flat[j] = original
                numeric[j] = (plus - minus) / (2 * eps)
            got = analytic[i].reshape(-1)
            error = np.abs(got - numeric) - (atol + rtol * np.abs(numeric))
            # a nan on either side is a failure, not a pass: nan > 0 is False, so without this
            # a backward that returns nan would slip through
            error[np.isnan(error)] = np.inf
            if error.size and (worst is None or error.max() > worst[0]):
                j = int(error.argmax())
                worst = (error.max(), i, j, got[j], numeric[j])
            inputs[i].grad = None
    if worst is not None and worst[0] > 0:
        _, i, j, got_j, numeric_j = worst
        index = np.unravel_index(j, inputs[i].shape)
        raise GradcheckError(
            f"gradcheck: gradient of input {i} at index {tuple(int(k) for k in index)} is "
            f"{got_j:.8g} by autograd but {numeric_j:.8g} by central differences "
            f"(|difference| = {abs(got_j - numeric_j):.3g} > atol {atol} + rtol {rtol} * "
            f"|numeric|)")
    return True
