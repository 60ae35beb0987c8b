"""On a real GPU (``pytest -m gpu``; each test skips with the reason where CuPy sees no GPU).

- the property suite of ``test_emulated_kernels.py`` on the ``"cuda"`` kernel set (CuPy arrays,
  NVRTC-compiled kernels, cuBLAS for im2col), every plan, and every ``tinyconv.testing`` identity;
- a LeNet-5 epoch on the GPU (the digits, upscaled to 32×32) that learns;
- a training step on the GPU agreeing with the same step on the CPU;
- the CuPy memory pool not growing over 1,000 training steps (nothing leaks per step).

Written against the public API (``tc.tensor(..., device="cuda")``, ``model.to("cuda")``), so they
also check the Tensor's GPU path.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import testing
from tinyconv.kernels import reference
from tinyconv.kernels.contract import CONTRACT_FUNCTIONS
from tinyconv.kernels.cuda import launch
from tinyconv.testing.strategies import pool2d_cases

from ..kernels.helpers import assert_matches, conv_cases
from .conftest import needs_gpu

pytestmark = [pytest.mark.gpu, needs_gpu]


class KernelsOnGpu:
    """The ``"cuda"`` kernel set behind NumPy in and out: inputs are copied to the GPU, results
    back, so the identities (which build NumPy problems) can check it."""

    __name__ = "cuda-on-gpu"

    def __init__(self):
        import cupy

        import tinyconv.kernels.cuda as cuda_kernels

        self._cupy = cupy
        for name in CONTRACT_FUNCTIONS:
            setattr(self, name, self._wrap(getattr(cuda_kernels, name)))

    def _wrap(self, function):
        cupy = self._cupy

        def on_gpu(*args, **kwargs):
            args = [cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
            kwargs = {k: cupy.asarray(v) if isinstance(v, np.ndarray) else v
                      for k, v in kwargs.items()}
            result = function(*args, **kwargs)
            if isinstance(result, tuple):
                return tuple(cupy.asnumpy(r) for r in result)
            return cupy.asnumpy(result)

        on_gpu.__name__ = function.__name__
        return on_gpu


@pytest.fixture(scope="module")
def gpu_kernels():
    return KernelsOnGpu()


@pytest.mark.parametrize("plan", launch.PLANS)
@given(case=conv_cases())
def test_convolution_on_gpu_matches_reference(gpu_kernels, plan, case):
    x, w, grad_y, options = case.x, case.w, case.grad_y, case.options
    with launch.force_plan(plan):
        y = gpu_kernels.conv2d_forward(x, w, *options)
        grad_x = gpu_kernels.conv2d_backward_input(grad_y, w, x.shape, *options)
        grad_w = gpu_kernels.conv2d_backward_weight(x, grad_y, w.shape, *options)
    assert_matches(y, reference.conv2d_forward(x, w, *options))
    assert_matches(grad_x, reference.conv2d_backward_input(grad_y, w, x.shape, *options))
    assert_matches(grad_w, reference.conv2d_backward_weight(x, grad_y, w.shape, *options))


@given(case=pool2d_cases())
def test_max_pooling_on_gpu_matches_reference(gpu_kernels, case):
    y, indices = gpu_kernels.max_pool2d_forward(case.x, **case.config.max_pool_kwargs)
    expected_y, expected_indices = reference.max_pool2d_forward(case.x,
                                                                **case.config.max_pool_kwargs)
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(indices, expected_indices)
    assert_matches(gpu_kernels.max_pool2d_backward(case.grad_y, indices, case.x.shape),
                   reference.max_pool2d_backward(case.grad_y, indices, case.x.shape))


@given(case=pool2d_cases(allow_dilation=False))
def test_average_pooling_on_gpu_matches_reference(gpu_kernels, case):
    options = case.config.avg_pool_kwargs
    assert_matches(gpu_kernels.avg_pool2d_forward(case.x, **options),
                   reference.avg_pool2d_forward(case.x, **options))
    assert_matches(gpu_kernels.avg_pool2d_backward(case.grad_y, case.x.shape, **options),
                   reference.avg_pool2d_backward(case.grad_y, case.x.shape, **options))


@pytest.mark.parametrize("name", testing.identities.IDENTITY_NAMES)
def test_identity_holds_on_gpu(gpu_kernels, name):
    testing.run_identity(name, gpu_kernels, reference=reference)


# ---- training on the GPU ------------------------------------------------------------------------

def _step(model, optimizer, images, labels) -> float:
    optimizer.zero_grad()
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return float(loss.item())


def test_a_training_step_on_gpu_agrees_with_the_cpu():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 1, 32, 32)).astype(np.float32)
    target = rng.integers(0, 10, 32)
    state = tc.models.lenet5().state_dict()
    results = {}
    for device in ("cpu", "cuda"):
        model = tc.models.lenet5()
        model.load_state_dict(state)
        model.to(device)
        optimizer = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        images = tc.tensor(x, device=device)
        labels = tc.tensor(target, device=device)
        losses = [_step(model, optimizer, images, labels) for _ in range(2)]
        results[device] = losses, {k: v.numpy() for k, v in model.state_dict().items()}
    np.testing.assert_allclose(results["cuda"][0], results["cpu"][0], rtol=1e-4)
    for name, value in results["cpu"][1].items():
        np.testing.assert_allclose(results["cuda"][1][name], value, rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                    reason="the digits data set needs scikit-learn")
def test_a_lenet5_epoch_on_gpu_learns_the_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.kron(digits.images / 16.0, np.ones((4, 4))).astype(np.float32)[:, None]  # 32×32
    labels = digits.target
    model = tc.models.lenet5().to("cuda")
    optimizer = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    order = np.random.default_rng(0).permutation(len(labels))
    losses = []
    for start in range(0, len(order), 64):
        batch = order[start:start + 64]
        losses.append(_step(model, optimizer, tc.tensor(images[batch], device="cuda"),
                            tc.tensor(labels[batch], device="cuda")))
    with tc.no_grad():
        logits = model(tc.tensor(images, device="cuda")).numpy()
    accuracy = float(np.mean(logits.argmax(axis=1) == labels))
    assert np.isfinite(losses).all() and np.mean(losses[-5:]) < np.mean(losses[:5])
    assert accuracy > 0.8, accuracy


def test_memory_pool_does_not_grow_over_1000_steps():
    import cupy

    pool = cupy.get_default_memory_pool()
    rng = np.random.default_rng(1)
    images = tc.tensor(rng.standard_normal((32, 1, 32, 32)).astype(np.float32), device="cuda")
    labels = tc.tensor(rng.integers(0, 10, 32), device="cuda")
    model = tc.models.lenet5().to("cuda")
    optimizer = tc.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for _ in range(10):  # warm up: gradients, momentum buffers, cuBLAS workspaces exist now
        _step(model, optimizer, images, labels)
    cupy.cuda.Device().synchronize()
    used, held = pool.used_bytes(), pool.total_bytes()
    for _ in range(1000):
        _step(model, optimizer, images, labels)
    cupy.cuda.Device().synchronize()
    assert pool.used_bytes() - used <= 1 << 20, (used, pool.used_bytes())
    assert pool.total_bytes() - held <= 16 << 20, (held, pool.total_bytes())
