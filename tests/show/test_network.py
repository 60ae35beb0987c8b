"""What the page shows, computed (tinyconv.show.network): layers, values, receptive fields."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn
from tinyconv.show.network import MAX_MAPS, Network
from tinyconv.show.page import build_static_page, export_html


def decode(array: dict) -> np.ndarray:
    values = np.frombuffer(base64.b64decode(array["data"]), dtype="<f4")
    return values.reshape(array["shape"])


def test_layers_match_the_summary_and_lenets_receptive_fields(network):
    described = network.describe()
    summary = tc.summary(network.model, (1, 32, 32), print_table=False)
    rows = [r for r in summary.rows if r.type != "Flatten"]
    assert [layer["name"] for layer in described["layers"]] == [r.name for r in rows]
    for layer, row in zip(described["layers"], rows, strict=True):
        assert (layer["type"], layer["params"], layer["macs"], layer["activation_bytes"]) == \
            (row.type, row.params, row.macs, row.activation_bytes)
        assert tuple(layer["output_shape"]) == row.output_shape
    assert described["skipped"] == ["flatten"]
    assert described["totals"]["params"] == 61_706
    fields = {layer["name"]: layer["receptive_field"] for layer in described["layers"]}
    # 5×5 conv; 2×2 pool adds 1 pixel; 5×5 conv at jump 2 adds 8; 2×2 pool at jump 2 adds 2
    expected = {"features.conv1": (1, 5), "features.act1": (1, 5), "features.pool1": (2, 6),
                "features.conv2": (2, 14), "features.pool2": (4, 16)}
    for name, (jump, size) in expected.items():
        assert fields[name] == {"jump": [jump, jump], "start": [0, 0], "size": [size, size]}
    assert fields["classifier.fc1"] is None
    filters = {f["name"]: decode(f["weights"]) for f in described["filters"]}
    assert np.array_equal(filters["features.conv2"],
                          network.model.features.conv2.weight.detach().numpy())
    assert len(described["strip"]) == 20  # two test images of each digit


def test_every_output_equals_the_models_own_forward(network):
    index = 7
    result = network.run_test_image(index)
    model = network.model
    x = tc.tensor(network.test_images[index][None])
    expected = {}
    with tc.no_grad():
        for name, layer in model.features.named_children():
            x = layer(x)
            expected[f"features.{name}"] = x.numpy()[0]
        x = model.flatten(x)
        for name, layer in model.classifier.named_children():
            x = layer(x)
            expected[f"classifier.{name}"] = x.numpy()[0]
    assert [layer["name"] for layer in result["layers"]] == list(expected)
    for layer in result["layers"]:
        assert layer["note"] is None
        assert np.array_equal(decode(layer["output"]), expected[layer["name"]]), layer["name"]
    logits = x.numpy()[0].astype(np.float64)
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(result["probabilities"], softmax, rtol=1e-12)
    assert result["predicted"] == int(np.argmax(logits))
    assert result["label"] == int(network.test_labels[index])
    np.testing.assert_allclose(decode(result["input"]), network.to_unit(network.test_images[index]))


def test_run_restores_training_mode(network):
    network.model.train()
    network.run_test_image(0)
    assert network.model.training and network.model.features.conv1.training
    network.model.eval()


def test_drawings_map_onto_the_training_pixel_values(network):
    low, high = network.pixel_range
    np.testing.assert_allclose(network.to_pixels(np.array([0.0, 1.0])), [low, high], rtol=1e-6)
    image = network.test_images[3]
    np.testing.assert_allclose(network.to_pixels(network.to_unit(image)), image, atol=1e-5)


@pytest.mark.parametrize("pixels, message", [
    ([[0.5]], r"got an array of shape \[1, 1\]"),
    ("abc", "got str"),
    ([[0.5] * 32] * 31 + [[0.5] * 31], "ragged"),
    ([[2.0] * 32] * 32, r"in \[0, 1\]"),
    ([[float("nan")] * 32] * 32, "finite"),
    ([[[0.1] * 32] * 32] * 3, r"shape \[3, 32, 32\]"),
])
def test_bad_drawings_are_rejected_with_the_valid_shape(network, pixels, message):
    with pytest.raises(ValueError, match=message) as error:
        network.check_drawing(pixels)
    assert "[0, 1]" in str(error.value)  # every message says what a valid drawing is


def test_test_index_is_checked(network):
    for bad in (-1, len(network.test_images), "3", True, 1.5):
        with pytest.raises(ValueError, match="test_index: expected an int from 0 to 358"):
            network.run_test_image(bad)


def _brute_force_field(model, shape, layer_index, i, j):
    """The input pixels output pixel (i, j) of the layer depends on: where the gradient of that
    pixel (of channel 0) is non-zero, with positive weights and average pooling so that no path
    cancels (then every pixel of the receptive field gets a positive gradient)."""
    x = tc.ones(shape, requires_grad=True)
    y = x
    for k, layer in enumerate(model):
        y = layer(y)
        if k == layer_index:
            break
    y[0, 0, i, j].backward()
    rows, cols = np.nonzero(x.grad.numpy()[0, 0])
    return rows.min(), rows.max(), cols.min(), cols.max()


@pytest.mark.parametrize("layers", [
    [nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.AvgPool2d(2), nn.Conv2d(2, 2, 3, dilation=2)],
    [nn.Conv2d(1, 2, 5, padding="same"), nn.ReLU(), nn.Conv2d(2, 2, 3, stride=3),
     nn.AvgPool2d(3, stride=1, padding=1)],
    [nn.Conv2d(1, 2, (3, 5), stride=(1, 2)), nn.Conv2d(2, 2, 3), nn.Conv2d(2, 1, 1)],
])
def test_receptive_fields_match_the_gradients_support(layers):
    model = nn.Sequential(*layers)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.weight.data[...] = 1.0 + np.arange(module.weight.numel()).reshape(
                module.weight.shape) % 3
            module.bias.data[...] = 1.0
    shape = (1, 1, 23, 23)
    network = Network(model, np.ones(shape[1:])[None], np.zeros(1), ["only"])
    with tc.use_kernels("reference"):  # tiny sizes: NumPy loops, no Numba compilation
        check_fields(model, shape, network.describe()["layers"])


def check_fields(model, shape, described):
    for index, layer in enumerate(described):
        field = layer["receptive_field"]
        _, _, height, width = layer["output_shape"]
        for i, j in {(0, 0), (height - 1, width - 1), (height // 2, width // 3)}:
            top, bottom, left, right = _brute_force_field(model, shape, index, i, j)
            y0 = field["start"][0] + i * field["jump"][0]
            x0 = field["start"][1] + j * field["jump"][1]
            clip = lambda v, n: min(n - 1, max(0, v))  # noqa: E731 - a one-line helper
            assert (top, bottom) == (clip(y0, 23), clip(y0 + field["size"][0] - 1, 23)), \
                (layer["name"], i, j, field)
            assert (left, right) == (clip(x0, 23), clip(x0 + field["size"][1] - 1, 23))


def test_resnet_and_layers_it_cannot_draw_degrade_to_a_message():
    class Rows(nn.Module):
        """(N, C, H, W) -> (N, C·H, W): a 3-D output the page cannot draw."""

        def forward(self, x):
            return x.reshape(x.shape[0], -1, x.shape[3])

    model = nn.Sequential(nn.Conv2d(1, 3, 3), Rows(), nn.Flatten(), nn.Linear(3 * 6 * 6, 4))
    network = Network(model, np.random.default_rng(0).random((5, 1, 8, 8)), np.arange(5) % 4,
                      list("abcd"))
    layers = {layer["name"]: layer for layer in network.describe()["layers"]}
    assert "not drawn: output of shape (1, 18, 6)" in layers["1"]["note"]
    result = network.run_test_image(0)
    drawn = {layer["name"]: layer for layer in result["layers"]}
    assert drawn["1"]["output"] is None and drawn["1"]["note"].startswith("not drawn")
    assert decode(drawn["0"]["output"]).shape == (3, 6, 6)

    resnet = tc.models.resnet18(num_classes=10, in_channels=1, small_input=True)
    network = Network(resnet, np.zeros((1, 1, 16, 16), np.float32), np.zeros(1), list("0123456789"))
    layers = network.describe()["layers"]
    fields = {layer["name"]: layer["receptive_field"] for layer in layers}
    assert fields["conv1"]["size"] == [3, 3]
    # after the first block's residual sum: two more 3×3 convs on the main branch
    assert fields["layer1.0.relu"] is not None and fields["layer1.1.conv1"]["size"][0] >= 7
    result = network.run(network.test_images[0])
    maps = {layer["name"]: layer["output"] for layer in result["layers"] if layer["output"]}
    assert decode(maps["layer4.1.conv2"]).shape[0] == MAX_MAPS  # 512 maps, the first 32 sent
    assert len(result["probabilities"]) == 10


def test_export_is_one_self_contained_page(network, tmp_path):
    path = export_html(network, tmp_path / "page.html", test_index=5)
    html = path.read_text()
    assert "window.TINYCONV_DATA = " in html
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", html)  # nothing to fetch
    assert "static/show" not in html  # the script and style sheet are inlined
    data = html.split("window.TINYCONV_DATA = ", 1)[1].split(";</script>", 1)[0]
    payload = json.loads(data)
    assert payload["result"]["test_index"] == 5
    assert len(payload["result"]["layers"]) == len(payload["model"]["layers"])


def test_inline_data_cannot_end_its_script_element():
    html = build_static_page({"title": "</script><script>alert(1)</script>"}, {})
    assert "alert" in html and "<script>alert" not in html
    assert html.count("</script>") == 2  # the data's element and the code's
    data = html.split("window.TINYCONV_DATA = ", 1)[1].split(";</script>", 1)[0]
    assert json.loads(data)["model"]["title"] == "</script><script>alert(1)</script>"


def test_a_conv_weight_change_shows_in_the_filters(network):
    before = decode(network.filters(first_only=True)[0]["weights"])
    assert before.shape == (6, 1, 5, 5)
    conv = network.model.features.conv1
    saved = conv.weight.detach().numpy().copy()
    try:
        conv.weight.data[...] = 0.25
        assert np.all(decode(network.filters(first_only=True)[0]["weights"]) == 0.25)
    finally:
        conv.weight.data[...] = saved


def test_softmax_missing_for_models_without_class_scores():
    model = nn.Sequential(nn.Conv2d(1, 2, 3))
    network = Network(model, np.ones((1, 1, 6, 6)), np.zeros(1), ["x"])
    result = network.run(network.test_images[0])
    assert "probabilities" not in result and "no softmax" in result["note"]


def test_ink_fraction_measures_how_much_of_the_frame_the_ink_spans():
    images = np.zeros((3, 1, 20, 20), np.float32)
    images[0, 0, 5:15, 5:15] = 1  # 10 of 20 pixels
    images[1, 0, 2:12, 8:10] = 1  # a bar: its longer side counts
    images[2, 0, 0:16, 0:3] = 1
    network = Network(nn.Sequential(nn.Flatten()), images, np.zeros(3), ["x"])
    assert network.ink_fraction() == pytest.approx(0.5)  # the median of 0.5, 0.5 and 0.8
