"""LeNet-5 trains on the CPU through the CUDA kernels: ``tc.use_kernels("cuda-emu")``.

A few SGD steps with the emulated CUDA kernels give the same losses and parameters as with the
reference kernels (up to float32 rounding), for both LeNet flavours (ReLU + max pooling, tanh +
average pooling), and the loss goes down.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.kernels.cuda.runtime import emulated_runtime

from .conftest import needs_cxx

pytestmark = needs_cxx


def _train(kernel_set: str, state: dict, x: np.ndarray, target: np.ndarray, steps: int,
           **lenet_options) -> tuple[list[float], dict]:
    model = tc.models.lenet5(**lenet_options)
    model.load_state_dict(state)
    optimizer = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images, labels = tc.tensor(x), tc.tensor(target)
    losses = []
    with tc.use_kernels(kernel_set):
        for _ in range(steps):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.item()))
    return losses, {name: value.numpy().copy() for name, value in model.state_dict().items()}


@pytest.mark.parametrize("lenet_options", [{}, {"activation": "tanh", "pooling": "avg"}],
                         ids=["relu-max", "tanh-avg"])
def test_lenet5_training_steps_match_the_reference_kernels(lenet_options):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 1, 32, 32)).astype(np.float32)
    target = rng.integers(0, 10, 4)
    state = tc.models.lenet5(**lenet_options).state_dict()
    pooling = "max" if not lenet_options else "avg"
    kernel = emulated_runtime().get_function(f"{pooling}_pool2d_forward_f32")
    kernel.last_launch = None

    emulated_losses, emulated_state = _train("cuda-emu", state, x, target, 3, **lenet_options)
    assert kernel.last_launch is not None  # the pooling really ran in the emulated .cu kernel
    reference_losses, reference_state = _train("reference", state, x, target, 3, **lenet_options)

    np.testing.assert_allclose(emulated_losses, reference_losses, rtol=1e-4)
    assert emulated_losses[-1] < emulated_losses[0]  # it learns
    for name, value in reference_state.items():
        np.testing.assert_allclose(emulated_state[name], value, rtol=1e-4, atol=1e-5,
                                   err_msg=name)
