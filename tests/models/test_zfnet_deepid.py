"""tc.models.zfnet and tc.models.deepid: the published layer shapes, parameter counts computed
from those shapes, a training step, and clear errors for inputs of the wrong size."""

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import models


def count(model):
    return sum(p.numel() for p in model.parameters())


def conv_params(c_in, c_out, k):
    return c_out * c_in * k * k + c_out


def linear_params(n_in, n_out, bias=True):
    return n_in * n_out + (n_out if bias else 0)


# -- ZFNet ----------------------------------------------------------------------------------------

ZFNET_SHAPES = {          # Fig. 3 of Zeiler & Fergus (2014), on one 3×224×224 image
    "features.0": (1, 96, 110, 110),     # conv1 7×7/2
    "features.2": (1, 96, 55, 55),       # pool1 3×3/2
    "features.3": (1, 96, 55, 55),       # lrn1
    "features.4": (1, 256, 26, 26),      # conv2 5×5/2
    "features.6": (1, 256, 13, 13),      # pool2
    "features.8": (1, 384, 13, 13),      # conv3
    "features.10": (1, 384, 13, 13),     # conv4
    "features.12": (1, 256, 13, 13),     # conv5
    "features.14": (1, 256, 6, 6),       # pool5
    "classifier.1": (1, 4096),           # fc6
    "classifier.4": (1, 4096),           # fc7
    "classifier.6": (1, 1000),           # fc8
}


@pytest.fixture(scope="module")
def zfnet_summary():
    model = models.zfnet()
    summary = tc.summary(model, (3, 224, 224), print_table=False)
    return model, summary


def test_zfnet_layer_shapes_are_the_papers(zfnet_summary):
    _, summary = zfnet_summary
    shapes = {row.name: tuple(row.output_shape) for row in summary.rows}
    for name, expected in ZFNET_SHAPES.items():
        assert shapes[name] == expected, name
    assert isinstance(zfnet_summary[0].features[3], tc.nn.LocalResponseNorm)


def test_zfnet_parameter_count(zfnet_summary):
    model, summary = zfnet_summary
    expected = (conv_params(3, 96, 7) + conv_params(96, 256, 5) + conv_params(256, 384, 3)
                + conv_params(384, 384, 3) + conv_params(384, 256, 3)
                + linear_params(256 * 6 * 6, 4096) + linear_params(4096, 4096)
                + linear_params(4096, 1000))
    assert expected == 62_357_608
    assert count(model) == expected == summary.total_params


def test_zfnet_variants():
    wide = models.zfnet(num_classes=10, channels=(96, 256, 512, 1024, 512), hidden_features=64)
    assert wide.features[12].weight.shape == (512, 1024, 3, 3)
    assert wide.classifier[1].weight.shape == (64, 512 * 6 * 6)
    plain = models.zfnet(num_classes=10, lrn=False, hidden_features=8)
    assert isinstance(plain.features[3], tc.nn.Identity)
    with pytest.raises(ValueError, match="ZFNet: channels must list the filters of the 5"):
        models.zfnet(channels=(96, 256))


def test_zfnet_rejects_other_input_sizes():
    model = models.zfnet(num_classes=3, channels=(4, 4, 4, 4, 4), hidden_features=8)
    with pytest.raises(ValueError, match=r"ZFNet: expected a 224×224 input .*\(1, 3, 200, 200\)"):
        model(tc.zeros(1, 3, 200, 200))


# -- DeepID ---------------------------------------------------------------------------------------

def test_deepid_layer_shapes_are_the_papers():
    model = models.deepid()
    summary = tc.summary(model, (1, 39, 31), print_table=False)
    shapes = {row.name: tuple(row.output_shape) for row in summary.rows}
    assert shapes["features.0"] == (1, 20, 36, 28)        # conv1 4×4
    assert shapes["features.2"] == (1, 20, 18, 14)        # pool1
    assert shapes["features.3"] == (1, 40, 16, 12)        # conv2 3×3
    assert shapes["features.5"] == (1, 40, 8, 6)          # pool2
    assert shapes["features.6"] == (1, 60, 6, 4)          # conv3 3×3
    assert shapes["features.8"] == (1, 60, 3, 2)          # pool3
    assert shapes["conv4.0"] == (1, 80, 2, 1)             # conv4 2×2
    assert shapes["classifier"] == (1, 10_000)


def test_deepid_parameter_count():
    expected = (conv_params(1, 20, 4) + conv_params(20, 40, 3) + conv_params(40, 60, 3)
                + conv_params(60, 80, 2)
                + linear_params(60 * 3 * 2, 160) + linear_params(80 * 2 * 1, 160, bias=False)
                + linear_params(160, 10_000))
    assert expected == 1_741_880
    assert count(models.deepid()) == expected
    square = models.deepid(num_classes=100, in_channels=3, input_size=(31, 31))
    assert count(square) == (conv_params(3, 20, 4) + conv_params(20, 40, 3)
                             + conv_params(40, 60, 3) + conv_params(60, 80, 2)
                             + linear_params(60 * 2 * 2, 160)
                             + linear_params(80, 160, bias=False) + linear_params(160, 100))


def test_deepid_layer_joins_pool3_and_conv4():
    tc.manual_seed(0)
    model = models.deepid(num_classes=5)
    x = tc.randn(2, 1, 39, 31)
    with tc.no_grad():
        features = model.represent(x)
        pool3 = model.features(x)
        conv4 = model.conv4(pool3)
        by_hand = F.relu(F.linear(pool3.flatten(1), model.deepid_from_pool3.weight,
                                  model.deepid_from_pool3.bias)
                         + F.linear(conv4.flatten(1), model.deepid_from_conv4.weight))
    assert features.shape == (2, 160)
    np.testing.assert_allclose(features.numpy(), by_hand.numpy(), rtol=1e-5, atol=1e-6)
    assert features.numpy().min() >= 0


def test_deepid_trains():
    tc.manual_seed(0)
    model = models.deepid(num_classes=4, input_size=(31, 31))
    optimizer = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = tc.randn(8, 1, 31, 31), tc.tensor([0, 1, 2, 3] * 2)
    losses = []
    for _ in range(10):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert model.deepid_from_conv4.weight.grad is not None


def test_deepid_errors():
    with pytest.raises(ValueError, match=r"DeepID: input_size \(20, 31\) is too small"):
        models.deepid(input_size=(20, 31))
    model = models.deepid(num_classes=3)
    with pytest.raises(ValueError, match=r"built for 39×31 patches, got .*\(1, 1, 31, 31\)"):
        model(tc.zeros(1, 1, 31, 31))
