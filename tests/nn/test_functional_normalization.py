"""batch_norm and layer_norm: torch-free checks (gradcheck of the hand-written backward,
normalised statistics, the running-statistics formula, errors), then PyTorch on a grid."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.testing import gradcheck

SHAPES = {"(N,C)": (6, 3), "(N,C,L)": (4, 3, 5), "(N,C,H,W)": (2, 3, 4, 3)}
REDUCE_AXES = {"(N,C)": (0,), "(N,C,L)": (0, 2), "(N,C,H,W)": (0, 2, 3)}


def case(layout, seed=0):
    """float64 input (shifted and scaled per channel, so normalising does something), affine
    parameters and running statistics as numpy arrays."""
    rng = np.random.default_rng(seed)
    shape = SHAPES[layout]
    channel = (1, -1) + (1,) * (len(shape) - 2)
    x = rng.standard_normal(shape) * np.array([0.5, 2.0, 3.0]).reshape(channel) + \
        np.array([1.0, -2.0, 0.5]).reshape(channel)
    return {"x": x, "weight": rng.uniform(0.5, 2, 3), "bias": rng.standard_normal(3),
            "running_mean": rng.standard_normal(3), "running_var": rng.uniform(0.5, 2, 3)}


# "cpu" trains through the fused passes of kernels/cpu/batch_norm.py, "reference" through the
# array-module code of BatchNormFunction: both must pass every check.
KERNEL_SETS = ["cpu", "reference"]


@pytest.fixture(params=KERNEL_SETS)
def kernels(request):
    with tc.use_kernels(request.param):
        yield request.param


@pytest.mark.parametrize("layout, training, affine", list(itertools.product(
    SHAPES, [True, False], [True, False])))
def test_gradcheck_batch_norm(layout, training, affine, kernels):
    c = case(layout)
    x = tc.tensor(c["x"], requires_grad=True)
    params = ((tc.tensor(c["weight"], requires_grad=True),
               tc.tensor(c["bias"], requires_grad=True)) if affine else ())

    def fn(x, *affine_params):
        # fresh running statistics on every call, so the in-place update cannot leak between
        # the finite-difference evaluations
        return F.batch_norm(x, tc.tensor(c["running_mean"]), tc.tensor(c["running_var"]),
                            *affine_params, training=training)

    assert gradcheck(fn, (x,) + params)


@pytest.mark.parametrize("layout", SHAPES)
def test_training_output_has_zero_mean_and_unit_variance_per_channel(layout, kernels):
    c = case(layout)
    y = F.batch_norm(tc.tensor(c["x"]), None, None, training=True, eps=0.0).numpy()
    axes = REDUCE_AXES[layout]
    np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=axes), 1.0, rtol=1e-12)
    # then weight and bias set the standard deviation and the mean
    y = F.batch_norm(tc.tensor(c["x"]), None, None, tc.tensor(c["weight"]),
                     tc.tensor(c["bias"]), training=True, eps=0.0).numpy()
    np.testing.assert_allclose(y.mean(axis=axes), c["bias"], atol=1e-12)
    np.testing.assert_allclose(y.std(axis=axes), c["weight"], rtol=1e-12)


@pytest.mark.parametrize("layout, momentum", list(itertools.product(SHAPES, [0.1, 0.5, 1.0])))
def test_running_statistics_follow_the_momentum_formula(layout, momentum, kernels):
    c = case(layout)
    running_mean, running_var = tc.tensor(c["running_mean"]), tc.tensor(c["running_var"])
    F.batch_norm(tc.tensor(c["x"]), running_mean, running_var, training=True,
                 momentum=momentum)
    axes = REDUCE_AXES[layout]
    np.testing.assert_allclose(running_mean.numpy(), (1 - momentum) * c["running_mean"] +
                               momentum * c["x"].mean(axis=axes), rtol=1e-12)
    unbiased = c["x"].var(axis=axes, ddof=1)  # Bessel's correction for the running estimate
    np.testing.assert_allclose(running_var.numpy(), (1 - momentum) * c["running_var"] +
                               momentum * unbiased, rtol=1e-12)


def test_running_statistics_update_in_place_and_record_no_graph():
    c = case("(N,C,H,W)")
    running_mean = tc.tensor(c["running_mean"])
    storage = running_mean.data
    x = tc.tensor(c["x"], requires_grad=True)
    F.batch_norm(x, running_mean, tc.tensor(c["running_var"]), training=True)
    assert running_mean.data is storage and not running_mean.requires_grad


@pytest.mark.parametrize("layout", SHAPES)
def test_eval_mode_uses_the_running_statistics_and_leaves_them_alone(layout):
    c = case(layout)
    running_mean, running_var = tc.tensor(c["running_mean"]), tc.tensor(c["running_var"])
    y = F.batch_norm(tc.tensor(c["x"]), running_mean, running_var, tc.tensor(c["weight"]),
                     tc.tensor(c["bias"]), training=False, eps=1e-3)
    channel = (1, -1) + (1,) * (len(SHAPES[layout]) - 2)
    expected = (c["x"] - c["running_mean"].reshape(channel)) / np.sqrt(
        c["running_var"].reshape(channel) + 1e-3) * c["weight"].reshape(channel) + \
        c["bias"].reshape(channel)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(running_mean.numpy(), c["running_mean"])
    np.testing.assert_array_equal(running_var.numpy(), c["running_var"])


@given(shape=st.sampled_from([(5, 3), (4, 2, 7), (3, 4, 5, 6), (2, 16, 9, 9)]),
       dtype=st.sampled_from(["float32", "float64"]), transposed=st.booleans(),
       training=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_fused_cpu_passes_match_the_array_module_code(shape, dtype, transposed, training, seed):
    """Training and eval mode, values and all three gradients, on the two paths; float32 to its
    rounding. ``transposed``: a non-contiguous input (the fused path copies it first)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3 + 1
    if transposed:
        x = np.ascontiguousarray(x.T).T
    weight, bias = rng.uniform(0.5, 2, shape[1]), rng.standard_normal(shape[1])
    grad_y = rng.standard_normal(shape)
    rng_stats = (rng.standard_normal(shape[1]), rng.uniform(0.5, 2, shape[1]))
    results = {}
    for kernels in KERNEL_SETS:
        with tc.use_kernels(kernels):
            tensors = [tc.tensor(a, dtype=dtype, requires_grad=True) for a in (x, weight, bias)]
            running = [tc.tensor(rng_stats[0], dtype=dtype), tc.tensor(rng_stats[1], dtype=dtype)]
            y = F.batch_norm(tensors[0], *running, tensors[1], tensors[2], training=training)
            y.backward(tc.tensor(grad_y, dtype=dtype))
            results[kernels] = [y.detach().numpy()] + [t.grad.numpy() for t in tensors] + \
                [r.numpy() for r in running]
    rtol = 1e-4 if dtype == "float32" else 1e-10
    for fused, plain in zip(results["cpu"], results["reference"], strict=False):
        assert fused.dtype == plain.dtype == np.dtype(dtype)
        scale = max(1.0, float(np.abs(plain).max()))
        np.testing.assert_allclose(fused, plain, rtol=rtol, atol=rtol * scale)


def test_float32_input_with_batchnorm_module():
    bn = tc.nn.BatchNorm2d(3)
    x = tc.randn(4, 3, 5, 5) * 3 + 1
    y = bn(x)
    assert y.dtype == tc.float32
    np.testing.assert_allclose(y.detach().numpy().mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.numpy().mean(axis=(0, 2, 3)),
                               rtol=1e-5)


ERRORS = [
    (lambda: F.batch_norm(tc.randn(1, 3), None, None, training=True), ValueError,
     r"batch_norm: expected more than 1 value per channel when training, .*\(1, 3\)"),
    (lambda: F.batch_norm(tc.randn(4, 3), None, None, training=False), ValueError,
     r"batch_norm: running_mean and running_var must be given in evaluation mode"),
    (lambda: F.batch_norm(tc.randn(4, 3), tc.zeros(2), tc.ones(3)), ValueError,
     r"batch_norm: running_mean must have shape \(3,\) .* got \(2,\)"),
    (lambda: F.batch_norm(tc.randn(4, 3), None, None, tc.ones(4), training=True), ValueError,
     r"batch_norm: weight must have shape \(3,\)"),
    (lambda: F.batch_norm(tc.randn(4), None, None, training=True), ValueError,
     r"batch_norm: expected an input of shape \(N, C\)"),
    (lambda: F.batch_norm(tc.randn(4, 3, dtype=tc.float64), None, None, tc.ones(3),
                          training=True), TypeError, r"batch_norm: .*same dtype"),
    (lambda: F.layer_norm(tc.randn(2, 3), (2, 3, 4)), ValueError,
     r"layer_norm: normalized_shape \(2, 3, 4\) must be a non-empty tail"),
    (lambda: F.layer_norm(tc.randn(2, 3), 3, tc.ones(4)), ValueError,
     r"layer_norm: weight must have shape normalized_shape = \(3,\)"),
]


@pytest.mark.parametrize("fn, error, match", ERRORS)
def test_errors_name_the_op_and_the_problem(fn, error, match):
    with pytest.raises(error, match=match):
        fn()


@pytest.mark.parametrize("normalized_shape", [(4,), (3, 4)])
def test_layer_norm_normalises_each_sample_and_passes_gradcheck(normalized_shape):
    rng = np.random.default_rng(1)
    x = tc.tensor(rng.standard_normal((2, 3, 4)) * 3 + 1, requires_grad=True)
    weight = tc.tensor(rng.uniform(0.5, 2, normalized_shape), requires_grad=True)
    bias = tc.tensor(rng.standard_normal(normalized_shape), requires_grad=True)
    axes = tuple(range(3 - len(normalized_shape), 3))
    y = F.layer_norm(x, normalized_shape, eps=0.0).detach().numpy()
    np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=axes), 1.0, rtol=1e-12)
    assert gradcheck(lambda a, w, b: F.layer_norm(a, normalized_shape, w, b), (x, weight, bias))


# ---------------------------------------------------------------------------------------------
# Against PyTorch
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is only the reference for these values")


# evaluation mode needs running statistics: no (training=False, track=False) cases
BATCH_NORM_GRID = [(layout, training, affine, track) for layout, training, affine, track in
                   itertools.product(SHAPES, [True, False], [True, False], [True, False])
                   if training or track]


@pytest.mark.parametrize("layout, training, affine, track", BATCH_NORM_GRID)
@pytest.mark.parametrize("momentum", [0.1, 0.7])
def test_batch_norm_matches_pytorch(torch, layout, training, affine, track, momentum):
    c = case(layout)
    upstream = np.random.default_rng(2).standard_normal(c["x"].shape)
    ours = {k: tc.tensor(v, requires_grad=k in ("x", "weight", "bias")) for k, v in c.items()}
    theirs = {k: torch.tensor(v, requires_grad=k in ("x", "weight", "bias"))
              for k, v in c.items()}
    outputs = []
    for lib, t, functional in ((tc, ours, F), (torch, theirs, torch.nn.functional)):
        y = functional.batch_norm(t["x"], t["running_mean"] if track else None,
                                  t["running_var"] if track else None,
                                  t["weight"] if affine else None, t["bias"] if affine else None,
                                  training, momentum, 1e-4)
        y.backward(lib.tensor(upstream))
        outputs.append(y)
    np.testing.assert_allclose(outputs[0].detach().numpy(), outputs[1].detach().numpy(),
                               rtol=1e-10, atol=1e-10)
    names = ["x"] + (["weight", "bias"] if affine else [])
    for name in names:
        np.testing.assert_allclose(ours[name].grad.numpy(), theirs[name].grad.numpy(),
                                   rtol=1e-10, atol=1e-10, err_msg=f"gradient of {name}")
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(ours[name].numpy(), theirs[name].numpy(), rtol=1e-10,
                                   atol=1e-10, err_msg=name)


@pytest.mark.parametrize("normalized_shape, affine", list(itertools.product([(4,), (3, 4)],
                                                                          [True, False])))
def test_layer_norm_matches_pytorch(torch, normalized_shape, affine):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4)) * 2
    w, b = rng.uniform(0.5, 2, normalized_shape), rng.standard_normal(normalized_shape)
    upstream = rng.standard_normal(x.shape)
    grads, values = [], []
    for lib, functional in ((tc, F), (torch, torch.nn.functional)):
        leaves = [lib.tensor(v, requires_grad=True) for v in (x, w, b)]
        y = functional.layer_norm(leaves[0], normalized_shape,
                                  *(leaves[1:] if affine else ()), eps=1e-5)
        y.backward(lib.tensor(upstream))
        values.append(y.detach().numpy())
        grads.append([leaf.grad.numpy() for leaf in leaves[:3 if affine else 1]])
    np.testing.assert_allclose(values[0], values[1], rtol=1e-10, atol=1e-10)
    for mine, reference in zip(*grads, strict=False):
        np.testing.assert_allclose(mine, reference, rtol=1e-10, atol=1e-10)
