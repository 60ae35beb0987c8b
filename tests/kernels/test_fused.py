"""The CPU set's fused convolution epilogue (``kernels/cpu/fused.py``, the optional part
``contract.FusedConvEpilogue``) against the unfused composition built from the reference kernels.

Forward: ``bias_relu(conv2d_forward(x, w), b)`` must equal ``max(conv2d_forward(x, w) + b, 0)``
bit for bit (the same additions and comparisons run, only in one pass), and with pooling
``bias_relu(max_pool_2x2(z), b)`` must equal ``max_pool_2x2(max(z + b, 0))``, the order
``nn.Sequential`` would run them in. Backward: ``relu_backward`` must give the ReLU's masked
gradient exactly and the bias gradient up to rounding (its sum runs in another order).
(Autograd on top of these, and the fallback of kernel sets without the part:
``tests/nn/test_fusion.py``.)
"""

from __future__ import annotations

import types

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinyconv.kernels import contract, cpu, reference
from tinyconv.testing.checks import assert_close
from tinyconv.testing.strategies import conv2d_cases, float_arrays
from tinyconv.testing.tensor_strategies import float_dtypes

from .helpers import threads_always_split

epilogue = cpu.conv_epilogue
POOL_2X2 = ((2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)  # max_pool2d_forward's arguments


def _reference_conv(case) -> np.ndarray:
    """The convolution's output ``z: (N, C_out, H_out, W_out)`` from the reference kernels."""
    c = case.config
    return reference.conv2d_forward(case.x, case.w, c.stride, c.padding, c.dilation, c.groups)


def _bias_for(case, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(case.config.c_out).astype(case.x.dtype)


@given(case=conv2d_cases(max_batch=3, max_channels=5, max_size=9), seed=st.integers(0, 2**32 - 1),
       split=st.booleans())
def test_bias_relu_is_the_composition_bit_for_bit(case, seed, split):
    z = _reference_conv(case)
    bias = _bias_for(case, seed)
    expected = np.maximum(z + bias.reshape(1, -1, 1, 1), 0)
    y = z.copy()
    if split:  # tiny arrays run on one thread unless forced: check the split writes every plane
        with threads_always_split():
            out = epilogue.bias_relu(y, bias)
    else:
        out = epilogue.bias_relu(y, bias)
    assert out is y  # in place: the convolution's fresh output is reused, nothing allocated
    np.testing.assert_array_equal(out, expected)


@given(case=conv2d_cases(max_batch=2, max_channels=4, max_size=10, allow_padding=False),
       seed=st.integers(0, 2**32 - 1))
def test_relu_after_the_pooling_is_the_relu_before_it(case, seed):
    """``max(z + b) = max(z) + b`` and ReLU commutes with max: the fused order (pool, then bias
    and ReLU on a quarter of the values) gives the unfused order's values exactly."""
    z = _reference_conv(case)
    if z.shape[2] < 2 or z.shape[3] < 2:  # a 2x2 window must fit
        return
    bias = _bias_for(case, seed)
    unfused, _ = reference.max_pool2d_forward(np.maximum(z + bias.reshape(1, -1, 1, 1), 0),
                                              *POOL_2X2)
    pooled, _ = cpu.max_pool2d_forward(z, *POOL_2X2)
    np.testing.assert_array_equal(epilogue.bias_relu(pooled, bias), unfused)


@given(case=conv2d_cases(max_batch=3, max_channels=5, max_size=9), seed=st.integers(0, 2**32 - 1),
       split=st.booleans())
def test_relu_backward_masks_the_gradient_and_sums_the_bias_gradient(case, seed, split):
    bias = _bias_for(case, seed)
    out = np.maximum(_reference_conv(case) + bias.reshape(1, -1, 1, 1), 0)
    grad_out = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    if split:
        with threads_always_split():
            grad_z, grad_bias = epilogue.relu_backward(grad_out, out)
    else:
        grad_z, grad_bias = epilogue.relu_backward(grad_out, out)
    expected = grad_out * (out > 0)
    np.testing.assert_array_equal(grad_z, expected)
    assert grad_z.dtype == grad_bias.dtype == out.dtype and grad_bias.shape == bias.shape
    assert_close(grad_bias, expected.sum(axis=(0, 2, 3)), what="bias gradient", dtype=out.dtype,
                 bound=np.abs(expected).sum(axis=(0, 2, 3)))


@given(dtype=float_dtypes(), data=st.data())
def test_any_layout_of_the_gradient_and_no_bias(dtype, data):
    """``grad_out`` may arrive as a non-contiguous view (autograd hands on what it got), and a
    convolution without bias is ReLU alone."""
    shape = (2, 3, 4, 5)
    z = data.draw(float_arrays(shape, dtype.name, layouts=("contiguous",)))
    grad_out = data.draw(float_arrays(shape, dtype.name))  # any layout
    out = epilogue.bias_relu(z.copy(), None)
    np.testing.assert_array_equal(out, np.maximum(z, 0))
    grad_z, grad_bias = epilogue.relu_backward(grad_out, out)
    np.testing.assert_array_equal(grad_z, grad_out * (out > 0))
    assert grad_z.flags.c_contiguous and grad_z.dtype == dtype
    masked = grad_out * (out > 0)
    assert_close(grad_bias, masked.sum(axis=(0, 2, 3)), what="bias gradient", dtype=dtype,
                 bound=np.abs(masked).sum(axis=(0, 2, 3)))


def test_nan_stays_nan_and_zero_gets_no_gradient():
    """As ``numpy.maximum`` and PyTorch: NaN passes the ReLU; at exactly 0 the gradient is 0."""
    z = np.array([np.nan, -1.0, 0.0, 2.0], dtype=np.float32).reshape(1, 1, 2, 2)
    out = epilogue.bias_relu(z.copy(), np.zeros(1, np.float32))
    np.testing.assert_array_equal(out, np.maximum(z, 0))  # NaN == NaN for assert_array_equal
    grad_z, grad_bias = epilogue.relu_backward(np.ones_like(out), out)
    np.testing.assert_array_equal(grad_z.ravel(), [0, 0, 0, 1])
    np.testing.assert_array_equal(grad_bias, [1])


def test_the_optional_part_is_found_where_it_exists():
    assert contract.optional_conv_epilogue(cpu) is cpu.conv_epilogue
    assert contract.optional_conv_epilogue(reference) is None
    contract.check_kernel_set("cpu", cpu)  # checks cpu.conv_epilogue against the protocol too


def test_a_conv_epilogue_part_with_a_missing_or_wrong_function_is_rejected():
    module = types.ModuleType("student_kernels")
    for name in contract.CONTRACT_FUNCTIONS:
        setattr(module, name, getattr(reference, name))
    module.conv_epilogue = types.SimpleNamespace(bias_relu=epilogue.bias_relu)
    with pytest.raises(TypeError, match=r"conv_epilogue.relu_backward must be a callable"):
        contract.check_kernel_set("student_kernels", module)
    module.conv_epilogue.relu_backward = lambda grad_out: None
    with pytest.raises(TypeError, match=r"conv_epilogue.relu_backward\(grad_out\) cannot be "
                                        r"called as conv_epilogue.relu_backward\(grad_out, out\)"):
        contract.check_kernel_set("student_kernels", module)
    module.conv_epilogue.relu_backward = epilogue.relu_backward
    contract.check_kernel_set("student_kernels", module)
    assert contract.optional_conv_epilogue(module) is module.conv_epilogue


@pytest.mark.parametrize("layout", ["H and W swapped", "every other row and column"])
def test_a_strided_output_is_updated_in_a_contiguous_copy_that_is_returned(layout):
    """A plan may hand back a strided array that ``reshape`` cannot flatten without copying:
    the kernel works on a contiguous copy and the caller uses what it returns (before this,
    the copy alone was updated and ``y`` came back untouched)."""
    a = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    y = a.transpose(0, 1, 3, 2) if layout == "H and W swapped" else a[:, :, ::2, ::2]
    assert not np.shares_memory(y.reshape(2, 3, -1), y)  # the case this test is about
    bias = np.arange(3, dtype=np.float32) - 1
    expected = np.maximum(y + bias.reshape(1, -1, 1, 1), 0)
    out = epilogue.bias_relu(y, bias)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)
    grad_z, _ = epilogue.relu_backward(np.ones_like(y), y)  # the same layouts into backward
    np.testing.assert_array_equal(grad_z, (y > 0).astype(np.float32))
