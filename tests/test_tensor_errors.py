"""Bad input: every mistake raises a clear ValueError/TypeError/RuntimeError/IndexError that names
the op and what was wrong (the shapes, the dtypes or the devices), before any computation."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinyconv as tc


def fake_cuda(shape=(2, 3), dtype=np.float32):
    """A tensor that claims to live on the GPU: only the device checks look at it."""
    return tc.Tensor._from_array(np.ones(shape, dtype=dtype), tc.Device("cuda"))


S = re.escape  # shapes in messages are Python tuples: escape the parentheses

# (id, callable, exception type, regex the message must match)
BAD_INPUT = [
    # -- shapes ---------------------------------------------------------------------------
    ("add_shapes", lambda: tc.ones(2, 3) + tc.ones(4), ValueError,
     rf"add: shapes {S('(2, 3)')} and {S('(4,)')} cannot be broadcast"),
    ("mul_shapes", lambda: tc.ones(3, 1) * tc.ones(2, 2), ValueError,
     rf"mul: shapes {S('(3, 1)')} and {S('(2, 2)')} cannot be broadcast"),
    ("sub_shapes", lambda: tc.ones(2) - tc.ones(3), ValueError, r"sub: shapes"),
    ("div_shapes", lambda: tc.ones(2) / tc.ones(3), ValueError, r"div: shapes"),
    ("pow_shapes", lambda: tc.ones(2) ** tc.ones(3), ValueError, r"pow: shapes"),
    ("maximum_shapes", lambda: tc.ones(2).maximum(tc.ones(3)), ValueError,
     rf"maximum: shapes {S('(2,)')} and {S('(3,)')}"),
    ("compare_shapes", lambda: tc.ones(2) < tc.ones(3), ValueError, r"lt: shapes"),
    ("where_shapes", lambda: tc.where(tc.ones(2) > 0, tc.ones(3), tc.ones(3)), ValueError,
     rf"where: shapes {S('(2,)')} and {S('(3,)')}"),
    ("matmul_inner", lambda: tc.ones(2, 3) @ tc.ones(4, 5), ValueError,
     rf"matmul: shapes {S('(2, 3)')} and {S('(4, 5)')} cannot be multiplied"),
    ("matmul_vector", lambda: tc.ones(3) @ tc.ones(4), ValueError,
     rf"matmul: shapes {S('(3,)')} and {S('(4,)')}"),
    ("matmul_batch", lambda: tc.ones(2, 3, 4) @ tc.ones(5, 4, 2), ValueError,
     rf"matmul: shapes {S('(2,)')} and {S('(5,)')} cannot be broadcast"),
    ("matmul_0d", lambda: tc.tensor(2.0) @ tc.ones(3), ValueError,
     r"matmul: both arguments need at least 1 dimension.*\(\)"),
    ("reshape", lambda: tc.ones(2, 3).reshape(4, 2), ValueError,
     rf"reshape: shape {S('(4, 2)')} is invalid for input of size 6 \(shape {S('(2, 3)')}\)"),
    ("reshape_two_minus_one", lambda: tc.ones(6).reshape(-1, -1), ValueError, r"reshape"),
    ("view", lambda: tc.ones(5).view(2, -1), ValueError, r"reshape: shape \(2, -1\)"),
    ("permute", lambda: tc.ones(2, 3).permute(0, 0), ValueError,
     rf"permute: dims {S('(0, 0)')} are not a permutation.*{S('(2, 3)')}"),
    ("expand", lambda: tc.ones(2, 3).expand(4, 3), ValueError,
     rf"expand: the expanded size 4 must match the existing size 2.*{S('(2, 3)')}"),
    ("expand_fewer_dims", lambda: tc.ones(2, 3).expand(3), ValueError, r"expand: the number"),
    ("cat_shapes", lambda: tc.cat([tc.ones(2, 3), tc.ones(2, 4)], dim=0), ValueError,
     rf"cat: tensor 1 has shape {S('(2, 4)')} but tensor 0 has shape {S('(2, 3)')}"),
    ("cat_ndim", lambda: tc.cat([tc.ones(2, 3), tc.ones(3)]), ValueError, r"cat: tensor 1"),
    ("cat_empty", lambda: tc.cat([]), ValueError, r"cat: expected a non-empty list"),
    ("stack_shapes", lambda: tc.stack([tc.ones(2), tc.ones(3)]), ValueError,
     rf"stack: tensor 1 has shape {S('(3,)')} but tensor 0 has shape {S('(2,)')}"),
    ("split_sections", lambda: tc.split(tc.ones(5), [2, 2]), ValueError,
     r"split: sections \[2, 2\] sum to 4 but dimension 0 has size 5"),
    ("split_size", lambda: tc.split(tc.ones(5), 0), ValueError, r"split: split_size must be"),
    ("pad_odd", lambda: tc.pad(tc.ones(2, 3), (1, 2, 3)), ValueError,
     rf"pad: padding length must be even.*{S('(2, 3)')}"),
    ("pad_too_long", lambda: tc.pad(tc.ones(3), (1, 1, 1, 1)), ValueError, r"pad: padding"),
    ("pad_negative", lambda: tc.pad(tc.ones(3), (-1, 1)), ValueError, r"pad: padding sizes"),
    ("pad_mode", lambda: tc.pad(tc.ones(3), (1, 1), mode="reflect"), ValueError,
     r"pad: only mode='constant'"),
    ("dim_range", lambda: tc.ones(2, 3).sum(dim=2), IndexError,
     r"sum: dimension 2 is out of range for a tensor with 2 dimensions"),
    ("dim_range_negative", lambda: tc.ones(2, 3).mean(dim=-3), IndexError, r"mean: dimension -3"),
    ("dim_repeated", lambda: tc.ones(2, 3).sum(dim=(1, -1)), ValueError,
     rf"sum: dim {S('(1, -1)')} names a dimension more than once.*{S('(2, 3)')}"),
    ("transpose_dim", lambda: tc.ones(2).transpose(0, 1), IndexError, r"transpose: dimension 1"),
    ("unsqueeze_dim", lambda: tc.ones(2).unsqueeze(3), IndexError, r"unsqueeze: dimension 3"),
    ("argmax_dim", lambda: tc.ones(2).argmax(1), IndexError, r"argmax: dimension 1"),
    ("max_dim", lambda: tc.ones(2).max(1), IndexError, r"max: dimension 1"),
    ("max_empty", lambda: tc.ones(0).max(), RuntimeError,
     rf"max: cannot reduce an empty tensor of shape {S('(0,)')}"),
    ("amax_empty", lambda: tc.ones(2, 0).amax(), RuntimeError, r"amax: cannot reduce an empty"),
    ("item_many", lambda: tc.ones(2, 2).item(), ValueError,
     rf"item: only a tensor with one element.*{S('(2, 2)')}"),
    ("bool_many", lambda: bool(tc.ones(2)), RuntimeError, r"truth value of a tensor with 2"),
    ("sizes_type", lambda: tc.zeros(2.5), TypeError, r"sizes must be ints"),
    # -- backward -------------------------------------------------------------------------
    ("backward_non_scalar", lambda: (tc.ones(2, 3, requires_grad=True) * 2).backward(),
     RuntimeError, rf"backward: grad can be implicitly created only for scalar outputs; this "
                   rf"tensor has shape {S('(2, 3)')}"),
    ("backward_gradient_shape",
     lambda: (tc.ones(2, 3, requires_grad=True) * 2).backward(tc.ones(3, 2)), RuntimeError,
     rf"backward: gradient has shape {S('(3, 2)')} but the tensor has shape {S('(2, 3)')}"),
    ("backward_no_grad", lambda: tc.ones(1).backward(), RuntimeError,
     r"backward: this tensor does not require grad"),
    # -- dtypes ---------------------------------------------------------------------------
    ("matmul_dtypes", lambda: tc.ones(2, 3) @ tc.ones(3, 2, dtype=tc.float64), TypeError,
     r"matmul: expected both tensors to have the same dtype, got float32 and float64"),
    ("mean_int", lambda: tc.arange(4).mean(), TypeError,
     r"mean: input dtype should be floating point, got int64"),
    ("where_condition", lambda: tc.where(tc.ones(2), tc.ones(2), tc.ones(2)), TypeError,
     r"where: condition must be a bool tensor"),
    ("unknown_dtype", lambda: tc.ones(2, dtype="float8"), TypeError, r"unknown dtype 'float8'"),
    ("string_data", lambda: tc.tensor(["a", "b"]), TypeError, r"tensor: cannot make a tensor"),
    ("rand_int_dtype", lambda: tc.randn(2, dtype=tc.int64), TypeError,
     r"randn: dtype must be floating point, got int64"),
    ("operand_type", lambda: tc.ones(2) + "x", TypeError, r"add: unsupported operand type str"),
    ("requires_grad_int", lambda: tc.tensor([1, 2], requires_grad=True), RuntimeError,
     r"requires_grad_: only tensors of floating point dtype can require gradients, got int64"),
    ("clamp_no_bounds", lambda: tc.ones(2).clamp(), ValueError,
     r"clamp: at least one of min and max"),
    ("randint_range", lambda: tc.randint(5, 5, (2,)), ValueError,
     r"randint: high \(5\) must be greater than low \(5\)"),
    ("arange_step", lambda: tc.arange(0, 5, 0), ValueError, r"arange: step must be nonzero"),
    ("dim_type", lambda: tc.ones(2).sum(dim=0.5), TypeError, r"sum: dim must be an int"),
    ("device_name", lambda: tc.ones(2, device="tpu"), ValueError, r"unknown device 'tpu'"),
    # -- arguments checked before any array is made ------------------------------------------
    ("negative_size", lambda: tc.zeros(2, -1), ValueError,
     rf"zeros: sizes must be non-negative, got {S('(2, -1)')}"),
    ("float_size", lambda: tc.randn(2.5), TypeError, r"randn: sizes must be ints"),
    ("fill_value", lambda: tc.full((2,), "a"), TypeError, r"full: fill_value must be a number"),
    ("eye_count", lambda: tc.eye(-1), ValueError, r"eye: n must be non-negative, got -1"),
    ("seed_type", lambda: tc.manual_seed("a"), TypeError, r"manual_seed: seed must be an int"),
    ("clamp_bound", lambda: tc.ones(2).clamp(0, "a"), TypeError,
     r"clamp: max must be a number or None, got 'a'"),
    ("function_input", lambda: tc.exp([1.0]), TypeError,
     r"exp: input must be a Tensor, got list \(convert it with tc.tensor"),
    ("like_input", lambda: tc.zeros_like(None), TypeError,
     r"zeros_like: input must be a Tensor, got NoneType"),
    ("repeat_counts", lambda: tc.ones(2, 3).repeat(2), ValueError,
     r"repeat: expected at least 2 non-negative counts"),
    ("chunk_count", lambda: tc.ones(4).chunk(0), ValueError, r"chunk: chunks must be a positive"),
    # -- devices (only the device check runs: no GPU needed) --------------------------------
    ("device_add", lambda: tc.ones(2, 3) + fake_cuda(), RuntimeError,
     r"add: expected all tensors on the same device, got \['cpu', 'cuda'\]"),
    ("device_add_reversed", lambda: fake_cuda() * tc.ones(2, 3), RuntimeError,
     r"mul: expected all tensors on the same device"),
    ("device_matmul", lambda: tc.ones(3, 2) @ fake_cuda((2, 3)), RuntimeError,
     r"matmul: expected all tensors on the same device, got \['cpu', 'cuda'\]"),
    ("device_cat", lambda: tc.cat([tc.ones(2, 3), fake_cuda()]), RuntimeError,
     r"cat: expected all tensors on the same device"),
    ("device_where", lambda: tc.where(tc.ones(2, 3) > 0, fake_cuda(), tc.ones(2, 3)),
     RuntimeError, r"where: expected all tensors on the same device"),
    ("device_compare", lambda: tc.ones(2, 3) == fake_cuda(), RuntimeError,
     r"eq: expected all tensors on the same device"),
    ("device_maximum", lambda: tc.ones(2, 3).maximum(fake_cuda()), RuntimeError,
     r"maximum: expected all tensors on the same device"),
]


@pytest.mark.parametrize("call, error, message", [b[1:] for b in BAD_INPUT],
                         ids=[b[0] for b in BAD_INPUT])
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_device_mismatch_happens_before_any_graph_is_recorded():
    a = tc.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="same device"):
        a * fake_cuda()
    assert a.grad is None and a.is_leaf


def test_errors_are_raised_before_the_graph_changes():
    """A failed op leaves its inputs as they were (no half-built graph, no gradient)."""
    a = tc.ones(2, 3, requires_grad=True)
    with pytest.raises(ValueError):
        a @ tc.ones(4, 2)
    (a * 2).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full((2, 3), 2.0))
