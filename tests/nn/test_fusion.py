"""Fused convolution + ReLU (+ 2×2 max pooling): ``F.conv2d_relu``, ``F.conv2d_relu_max_pool2d``
and their use by ``nn.Sequential``.

The fused operations must be the unfused composition: the same forward values, bit for bit (the
same convolution kernel runs, and ``max(z + b) = max(z) + b`` holds exactly in floating point),
and the same gradients (the bias gradient up to rounding: its sum runs in another order). Both
paths are checked: the CPU set's fused epilogue (``kernels/cpu/fused.py``) and the array code a
kernel set without that optional part gets (the reference set here, CUDA on a GPU).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.kernels.contract import optional_conv_epilogue
from tinyconv.nn.container import fusable_run
from tinyconv.testing.strategies import conv2d_cases

KERNEL_SETS = ("cpu", "reference")


def test_only_the_cpu_set_has_the_fused_epilogue():
    from tinyconv.kernels import cpu, reference
    assert optional_conv_epilogue(cpu) is cpu.conv_epilogue
    assert optional_conv_epilogue(reference) is None  # it takes the array code


def _run(kernels, fused, case, bias, grad_seed, padding, pool):
    """Forward value and the three gradients of the fused or the unfused composition."""
    config = case.config
    with tc.use_kernels(kernels):
        x = tc.tensor(case.x, requires_grad=True)
        w = tc.tensor(case.w, requires_grad=True)
        b = tc.tensor(bias, requires_grad=True)
        args = (config.stride, padding, config.dilation, config.groups)
        if fused:
            op = F.conv2d_relu_max_pool2d if pool else F.conv2d_relu
            out = op(x, w, b, *args)
        else:
            out = F.relu(F.conv2d(x, w, b, *args))
            if pool:
                out = F.max_pool2d(out, 2)
        grad = np.random.default_rng(grad_seed).standard_normal(out.shape).astype(case.x.dtype)
        out.backward(tc.tensor(grad))
        return [out.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()]


@given(case=conv2d_cases(max_batch=3, max_channels=4, max_size=10, allow_padding=False),
       padding=st.integers(0, 1), pool=st.booleans(), kernels=st.sampled_from(KERNEL_SETS),
       seed=st.integers(0, 2**32 - 1))
def test_fused_equals_the_composition(case, padding, pool, kernels, seed):
    config = case.config
    bias = np.random.default_rng(seed).standard_normal(config.c_out).astype(case.x.dtype)
    if pool:  # the fused pooling needs a whole 2x2 window
        h_out = (config.height + 2 * padding - config.dilation[0] * (config.kernel[0] - 1)
                 - 1) // config.stride[0] + 1
        w_out = (config.width + 2 * padding - config.dilation[1] * (config.kernel[1] - 1)
                 - 1) // config.stride[1] + 1
        pool = h_out >= 2 and w_out >= 2
    fused = _run(kernels, True, case, bias, seed, padding, pool)
    plain = _run(kernels, False, case, bias, seed, padding, pool)
    np.testing.assert_array_equal(fused[0], plain[0])
    tol = 1e-5 if case.x.dtype == np.float32 else 1e-12
    for got, want in zip(fused[1:], plain[1:], strict=True):
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def test_nan_stays_nan_and_negative_zero_is_cut():
    x = tc.tensor(np.array([[[[np.nan, -1.0], [2.0, 0.5]]]], np.float32))
    w = tc.ones(1, 1, 1, 1)
    for kernels in KERNEL_SETS:
        with tc.use_kernels(kernels):
            out = F.conv2d_relu(x, w).numpy()[0, 0]
            assert np.isnan(out[0, 0]) and out[0, 1] == 0 and out[1, 0] == 2
            assert np.isnan(F.conv2d_relu_max_pool2d(x, w).numpy()).all()  # NaN wins a max


def test_unbatched_input_and_padding_same():
    x, w, b = tc.randn(3, 8, 8), tc.randn(4, 3, 3, 3), tc.randn(4)
    out = F.conv2d_relu(x, w, b, padding="same")
    assert out.shape == (4, 8, 8)
    np.testing.assert_array_equal(out.numpy(), F.relu(F.conv2d(x, w, b, padding="same")).numpy())
    assert F.conv2d_relu_max_pool2d(x, w, b, padding=1).shape == (4, 4, 4)


def test_no_grad_keeps_no_graph():
    x, w = tc.randn(2, 3, 8, 8, requires_grad=True), tc.randn(4, 3, 3, 3, requires_grad=True)
    with tc.no_grad():
        out = F.conv2d_relu_max_pool2d(x, w)
    assert not out.requires_grad and out._ctx is None


@given(shape=st.sampled_from([(4, 3, 5, 5), (2, 2, 3, 3), (3, 4)]), training=st.booleans(),
       kernels=st.sampled_from(KERNEL_SETS), dtype=st.sampled_from(["float32", "float64"]),
       seed=st.integers(0, 2**32 - 1))
def test_batch_norm_relu_equals_the_composition(shape, training, kernels, dtype, seed):
    """Values, the three gradients and the running statistics, in training and eval mode."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape), rng.uniform(0.5, 2, shape[1]),
              rng.standard_normal(shape[1])]
    stats = [rng.standard_normal(shape[1]), rng.uniform(0.5, 2, shape[1])]
    grad = rng.standard_normal(shape)
    results = []
    for fused in (True, False):
        with tc.use_kernels(kernels):
            x, w, b = (tc.tensor(a, dtype=dtype, requires_grad=True) for a in arrays)
            running = [tc.tensor(a, dtype=dtype) for a in stats]
            if fused:
                out = F.batch_norm_relu(x, *running, w, b, training=training)
            else:
                out = F.relu(F.batch_norm(x, *running, w, b, training=training))
            out.backward(tc.tensor(grad, dtype=dtype))
            results.append([out.detach().numpy(), x.grad.numpy(), w.grad.numpy(),
                            b.grad.numpy()] + [r.numpy() for r in running])
    np.testing.assert_array_equal(results[0][0], results[1][0])
    tol = 1e-5 if dtype == "float32" else 1e-12
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_a_mobilenet_style_block_runs_fused_in_train_and_eval_mode():
    tc.manual_seed(0)
    model = tc.nn.Sequential(tc.nn.Conv2d(3, 8, 3, padding=1, bias=False), tc.nn.BatchNorm2d(8),
                             tc.nn.ReLU(), tc.nn.Conv2d(8, 8, 3, padding=1, groups=8),
                             tc.nn.BatchNorm2d(8), tc.nn.ReLU())
    x = tc.randn(4, 3, 8, 8)
    for train in (True, False):
        model.train(train)
        outputs = []
        for fuse in (True, False):
            model.fuse = fuse
            outputs.append(model(x).detach().numpy())
        assert model(x)._ctx.name == "relu"  # fuse is False now: the ReLU module ran
        model.fuse = True
        assert model(x)._ctx.name == "batch_norm"  # the fused node (the BatchNormFunction)
        np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# nn.Sequential
# ------------------------------------------------------------------------------------------------


def _last_op(model, x) -> str:
    """The name of the Function that produced ``model(x)``."""
    return model(x)._ctx.name


def test_lenet5_features_run_fused_and_fuse_false_turns_it_off():
    tc.manual_seed(0)
    model = tc.models.lenet5()
    x = tc.randn(4, 1, 32, 32)
    assert _last_op(model.features, x) == "conv2d_relu"  # conv2, act2, pool2 as one op
    model.features.fuse = False
    assert _last_op(model.features, x) == "max_pool2d"  # the modules one by one
    # (the same values and gradients either way: test_fused_and_unfused_agree_on_every_device)


@pytest.mark.parametrize("model, runs", [
    (lambda: tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.ReLU(), tc.nn.MaxPool2d(2)), [3]),
    (lambda: tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.ReLU()), [2]),
    (lambda: tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.ReLU(), tc.nn.MaxPool2d(3, 2)), [2]),
    (lambda: tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.ReLU(),
                              tc.nn.MaxPool2d(2, ceil_mode=True)), [2]),
    (lambda: tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.ReLU6(), tc.nn.MaxPool2d(2)), [0]),
    (lambda: tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.BatchNorm2d(2), tc.nn.ReLU()), [0]),
    (lambda: tc.nn.Sequential(tc.nn.BatchNorm2d(2), tc.nn.ReLU(), tc.nn.MaxPool2d(2)), [2]),
    (lambda: tc.nn.Sequential(tc.nn.BatchNorm1d(2), tc.nn.ReLU()), [0]),
    (lambda: tc.nn.Sequential(tc.nn.ReLU(), tc.nn.Conv2d(1, 2, 3)), [0]),
    (lambda: tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3)), [0]),
])
def test_which_runs_of_modules_are_fused(model, runs):
    modules = list(model())
    assert [fusable_run(modules, 0)] == runs


def test_a_subclass_or_a_hook_turns_fusion_off():
    class MyReLU(tc.nn.ReLU):
        def forward(self, input):
            return super().forward(input) * 2

    model = tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), MyReLU(), tc.nn.MaxPool2d(2))
    assert fusable_run(list(model), 0) == 0
    model = tc.nn.Sequential(tc.nn.Conv2d(1, 2, 3), tc.nn.ReLU(), tc.nn.MaxPool2d(2))
    seen = []
    handle = model[1].register_forward_hook(lambda module, args, out: seen.append(out.shape))
    x = tc.randn(2, 1, 8, 8)
    assert fusable_run(list(model), 0) == 0
    model(x)
    assert seen == [(2, 2, 6, 6)]  # the hook saw the ReLU's own output
    handle.remove()
    assert fusable_run(list(model), 0) == 3


def test_tc_summary_still_sees_every_layer_of_a_fused_model():
    """``tc.summary`` records each layer with a forward hook: the hooks turn fusion off, so the
    ReLU and pooling rows are still there, with their own output shapes."""
    report = tc.summary(tc.models.lenet5(), (1, 32, 32), print_table=False)
    kinds = [row.type for row in report.rows]
    assert kinds.count("ReLU") == 4 and kinds.count("MaxPool2d") == 2


def _lenet5_features_fused_and_not(device: str) -> list[list[np.ndarray]]:
    """LeNet-5's output and parameter gradients on ``device``, with ``nn.Sequential``'s fusion on
    and off (``[fused, unfused]``, each ``[output, grad of each parameter...]``)."""
    tc.manual_seed(0)
    model = tc.models.lenet5().to(device)
    x = tc.tensor(np.random.default_rng(0).standard_normal((3, 1, 32, 32)).astype(np.float32),
                  device=device)
    results = []
    for fuse in (True, False):
        model.features.fuse = fuse
        model.zero_grad()
        y = model(x)
        y.sum().backward()
        results.append([y.detach().cpu().numpy()]
                       + [p.grad.cpu().numpy().copy() for p in model.parameters()])
    return results


def _assert_same_model_results(fused, plain):
    np.testing.assert_array_equal(fused[0], plain[0])
    for got, want in zip(fused[1:], plain[1:], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(want).max()))


def test_the_emulated_cuda_set_has_no_epilogue_and_fuses_through_the_array_code():
    """The CUDA kernel set (here its CPU emulation) lacks the optional ``conv_epilogue``: the
    fused operations must fall back to the array code and still agree with the composition."""
    if shutil.which("g++") is None:
        pytest.skip("the CUDA emulation needs g++ (a C++17 compiler)")
    from tinyconv.kernels.cuda import emulated
    assert optional_conv_epilogue(emulated) is None
    with tc.use_kernels("cuda-emu"):
        _assert_same_model_results(*_lenet5_features_fused_and_not("cpu"))


def test_fused_and_unfused_agree_on_every_device(device):
    """On a GPU (``pytest -m gpu``) the fused operations run the array code on CuPy arrays."""
    _assert_same_model_results(*_lenet5_features_fused_and_not(device))
