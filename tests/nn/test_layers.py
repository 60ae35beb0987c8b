"""Layer modules against PyTorch's with the same weights; and torch-free behaviour checks."""

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is only the reference for these values")


def _copy_weights(ours, theirs, torch):
    """Load our module's state into the torch module (same names, same layouts)."""
    state = {key: torch.tensor(np.array(value.data)) for key, value in ours.state_dict().items()}
    theirs.load_state_dict(state)


LAYERS = [
    ("Conv2d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, groups=2),
     (2, 4, 9, 9)),
    ("Conv2d", dict(in_channels=3, out_channels=4, kernel_size=(3, 2), padding="same",
                    dilation=2), (2, 3, 8, 7)),
    ("Conv1d", dict(in_channels=3, out_channels=5, kernel_size=3, stride=2, padding=1),
     (2, 3, 11)),
    ("ConvTranspose2d", dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1,
                             output_padding=1, groups=2), (2, 4, 5, 5)),
    ("Linear", dict(in_features=7, out_features=3), (4, 2, 7)),
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 3, 8, 8)),
    ("AvgPool2d", dict(kernel_size=2, count_include_pad=False, padding=1), (2, 3, 7, 7)),
    ("AdaptiveAvgPool2d", dict(output_size=(3, 2)), (2, 3, 7, 5)),
    ("AdaptiveMaxPool2d", dict(output_size=3), (2, 3, 7, 8)),
    ("LeakyReLU", dict(negative_slope=0.2), (3, 4)),
    ("Softmax", dict(dim=1), (3, 4)),
    ("LogSoftmax", dict(dim=-1), (3, 4)),
    ("Flatten", dict(start_dim=1), (2, 3, 4, 5)),
]


@pytest.mark.parametrize("name, kwargs, shape", LAYERS,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LAYERS)])
def test_layer_matches_torch(torch, name, kwargs, shape):
    tc.manual_seed(0)
    ours = getattr(nn, name)(**kwargs).double()
    theirs = getattr(torch.nn, name)(**kwargs).double()
    _copy_weights(ours, theirs, torch)
    x = np.random.default_rng(1).standard_normal(shape)
    x_ours, x_theirs = tc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    np.testing.assert_allclose(y_ours.data, y_theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(2).standard_normal(y_theirs.shape)
    y_ours.backward(tc.tensor(g))
    y_theirs.backward(torch.tensor(g))
    np.testing.assert_allclose(x_ours.grad.data, x_theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (key, p_ours), (_, p_theirs) in zip(ours.named_parameters(), theirs.named_parameters(),
                                            strict=True):
        np.testing.assert_allclose(p_ours.grad.data, p_theirs.grad.numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=key)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("layer, shape", [("BatchNorm2d", (4, 3, 5, 5)),
                                          ("BatchNorm1d", (6, 3))])
def test_batch_norm_layer_tracks_running_statistics_like_torch(torch, layer, shape, momentum):
    ours = getattr(nn, layer)(3, momentum=momentum).double()
    theirs = getattr(torch.nn, layer)(3, momentum=momentum).double()
    rng = np.random.default_rng(0)
    for _ in range(3):  # three training steps, then evaluation
        x = rng.standard_normal(shape) * 2 + 1
        np.testing.assert_allclose(ours(tc.tensor(x)).data,
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].data, value.numpy(), rtol=1e-12,
                                   err_msg=key)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours(tc.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)


def test_batch_norm_eval_uses_running_statistics_and_leaves_them_alone():
    layer = nn.BatchNorm2d(2)
    layer.running_mean.data[...] = [1.0, -1.0]
    layer.running_var.data[...] = [4.0, 1.0]
    layer.eval()
    x = tc.ones(3, 2, 2, 2)
    y = layer(x).detach().numpy()
    np.testing.assert_allclose(y[:, 0], (1 - 1) / np.sqrt(4 + 1e-5), atol=1e-6)
    np.testing.assert_allclose(y[:, 1], (1 + 1) / np.sqrt(1 + 1e-5), rtol=1e-5)
    assert layer.num_batches_tracked.item() == 0


def test_dropout_layer_is_identity_in_eval_and_scales_in_training():
    tc.manual_seed(0)
    layer = nn.Dropout(0.25)
    x = tc.ones(1000)
    y = layer(x).numpy()
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.75], rtol=1e-6)  # kept ones scaled
    assert 0.2 < (y == 0).mean() < 0.3
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())


def test_batch_norm_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="BatchNorm2d: input has 3 channels but the layer was "
                                         "built for num_features=2"):
        nn.BatchNorm2d(2)(tc.ones(2, 3, 4, 4))
