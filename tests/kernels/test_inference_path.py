"""The inference path through the convolution layers: under ``tc.no_grad()`` (or for constants)
conv2d, batch norm, ReLU, pooling and their fused forms keep no arrays for backward, and the values
are the same as with the gradient graph recorded (same kernels, same plans)."""

from __future__ import annotations

import numpy as np
import pytest

import tinyconv as tc
from tinyconv.autograd import Function


def _conv_block(fuse: bool) -> tc.nn.Sequential:
    """A small conv/batch-norm/ReLU/pool/linear network; with ``fuse`` Sequential fuses its runs."""
    nn = tc.nn
    layers = (nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
              nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.AvgPool2d(2), nn.Flatten(),
              nn.Linear(64, 4))  # 12x12 -> 12x12 -> 8x8 -> 4x4 -> 2x2, 16 channels
    model = nn.Sequential(*layers)
    model.fuse = fuse
    return model


@pytest.fixture
def saved_arrays(monkeypatch):
    """Every ``save_for_backward`` call as ``(function name, number of arrays kept)``."""
    calls = []
    original = Function.save_for_backward

    def recording(self, *arrays):
        original(self, *arrays)
        calls.append((self.name, len(self._saved)))

    monkeypatch.setattr(Function, "save_for_backward", recording)
    return calls


@pytest.mark.parametrize("fuse", [False, True])
@pytest.mark.parametrize("train_mode", [False, True])
def test_no_grad_saves_nothing_and_gives_the_same_values(saved_arrays, fuse, train_mode):
    tc.manual_seed(0)
    model = _conv_block(fuse)
    model.train(train_mode)
    x = tc.tensor(np.random.default_rng(1).standard_normal((4, 3, 12, 12), dtype=np.float32))

    recorded = model(x)  # parameters need gradients: the graph keeps what backward needs
    assert any(kept > 0 for _, kept in saved_arrays)
    saved_arrays.clear()

    with tc.no_grad():
        inferred = model(x)
    assert saved_arrays and all(kept == 0 for _, kept in saved_arrays), saved_arrays
    assert not inferred.requires_grad
    # in train mode batch norm uses the batch's statistics: the same batch, the same values
    np.testing.assert_array_equal(inferred.numpy(), recorded.detach().numpy())


def test_constant_inputs_save_nothing(saved_arrays):
    """No tensor needs a gradient (not under no_grad): conv2d keeps nothing either."""
    rng = np.random.default_rng(2)
    x = tc.tensor(rng.standard_normal((2, 3, 9, 9), dtype=np.float32))
    w = tc.tensor(rng.standard_normal((5, 3, 3, 3), dtype=np.float32))
    y = tc.nn.functional.conv2d(x, w, padding=1)
    assert saved_arrays == [("conv2d", 0)]
    assert not y.requires_grad
