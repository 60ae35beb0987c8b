"""convnetjs JSON both ways; the exported file is loaded by convnetjs itself in Node and must
predict the same classes (and probabilities) as tinyconv, with the layer sizes convnetjs's own
constructors compute.

Node tests need ``node`` and the npm package ``convnetjs`` (``.ci/install-extras`` installs it
into ``~/.cache/tinyconv-node``; ``TINYCONV_NODE_MODULES`` may point at another node_modules).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn
from tinyconv.interop import convnetjs

NODE_MODULES = Path(os.environ.get("TINYCONV_NODE_MODULES",
                                   Path.home() / ".cache" / "tinyconv-node" / "node_modules"))
needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_MODULES / "convnetjs").is_dir(),
    reason=f"needs node and the npm package convnetjs in {NODE_MODULES} "
           "(run .ci/install-extras)")

# Loads the network, rebuilds it from layer definitions with convnetjs's own constructors (to
# get the sizes convnetjs computes), and predicts every input.
NODE_SCRIPT = r"""
const convnetjs = require("convnetjs");
const fs = require("fs");
const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const inputs = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const net = new convnetjs.Net();
net.fromJSON(spec);
const copied = {input: ["out_sx", "out_sy", "out_depth"], conv: ["sx", "sy", "stride", "pad"],
                pool: ["sx", "sy", "stride", "pad"], fc: []};
const make = {input: "InputLayer", conv: "ConvLayer", pool: "PoolLayer", fc: "FullyConnLayer",
              relu: "ReluLayer", sigmoid: "SigmoidLayer", tanh: "TanhLayer",
              softmax: "SoftmaxLayer"};
const rebuilt = [];  // makeLayers without its desugaring (which would add an fc layer)
spec.layers.forEach(function (l, i) {
  const d = {filters: l.out_depth, num_neurons: l.out_depth};
  (copied[l.layer_type] || []).forEach(function (key) { d[key] = l[key]; });
  if (i > 0) {
    const p = rebuilt[i - 1];
    d.in_sx = p.out_sx; d.in_sy = p.out_sy; d.in_depth = p.out_depth;
  }
  rebuilt.push(new convnetjs[make[l.layer_type]](d));
});
const sizes = rebuilt.map(l => [l.out_depth, l.out_sy, l.out_sx]);
const out = inputs.map(function (x) {
  const vol = new convnetjs.Vol(x.sx, x.sy, x.depth, 0.0);
  for (let i = 0; i < x.w.length; i++) vol.w[i] = x.w[i];
  const probabilities = Array.from(net.forward(vol).w);
  return {probabilities: probabilities, prediction: net.getPrediction()};
});
console.log(JSON.stringify({sizes: sizes, outputs: out}));
"""


def _run_convnetjs(tmp_path, spec, images):
    """Predict ``images`` (N, C, H, W) with convnetjs in Node."""
    (tmp_path / "net.json").write_text(json.dumps(spec))
    volumes = [{"sx": int(x.shape[2]), "sy": int(x.shape[1]), "depth": int(x.shape[0]),
                "w": x.transpose(1, 2, 0).ravel().tolist()} for x in images]  # depth-last
    (tmp_path / "inputs.json").write_text(json.dumps(volumes))
    (tmp_path / "predict.js").write_text(NODE_SCRIPT)
    result = subprocess.run(["node", str(tmp_path / "predict.js"), str(tmp_path / "net.json"),
                             str(tmp_path / "inputs.json")], capture_output=True, text=True,
                            env={**os.environ, "NODE_PATH": str(NODE_MODULES)}, timeout=120,
                            check=True)
    return json.loads(result.stdout)


def _digits_net():
    """A small convnet trained for a few steps on scikit-learn's digits (so that it predicts
    several classes, as a random network may not)."""
    tc.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(24, 10))
    images, labels = _digits(200)
    optimizer = tc.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(25):  # about 90 % training accuracy
        loss = nn.functional.cross_entropy(model(tc.tensor(images)), tc.tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def _odd_net():
    """Rectangular kernels and images, stride 2, padded pooling, tanh and sigmoid."""
    tc.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(3, 5, (3, 2), stride=2, padding=1), nn.Tanh(),
        nn.MaxPool2d((2, 3), stride=1, padding=1),
        nn.Flatten(), nn.Linear(5 * 6 * 4, 7), nn.Sigmoid(), nn.Linear(7, 4), nn.Softmax(dim=1))
    model[4].weight.data[...] *= 3  # spread the logits: the classes differ between inputs
    model[6].weight.data[...] *= 10
    return model


def _digits(count=40):
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images[-count:].astype(np.float32) / 16.0
    return images[:, None], digits.target[-count:]  # (count, 1, 8, 8)


def _probabilities(model, images):
    with tc.no_grad():
        return tc.nn.functional.softmax(model.eval()(tc.tensor(images)), dim=1).numpy() \
            if not isinstance(list(model.children())[-1], nn.Softmax) else \
            model.eval()(tc.tensor(images)).numpy()


@needs_node
@pytest.mark.parametrize("make, images", [
    (_digits_net, lambda: _digits(40)[0]),
    (_odd_net, lambda: np.random.default_rng(0).standard_normal((12, 3, 9, 7))
     .astype(np.float32)),
], ids=["digits", "rectangular"])
def test_convnetjs_in_node_predicts_what_tinyconv_predicts(tmp_path, make, images):
    model, images = make(), images()
    input_size = images.shape[1:]
    spec = convnetjs.to_json(model, input_size)
    result = _run_convnetjs(tmp_path, spec, images)
    # the sizes written in the JSON are the ones convnetjs's constructors compute
    assert result["sizes"] == [[layer["out_depth"], layer["out_sy"], layer["out_sx"]]
                               for layer in spec["layers"]]
    expected = _probabilities(model, images)
    got = np.array([output["probabilities"] for output in result["outputs"]])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    predictions = [output["prediction"] for output in result["outputs"]]
    assert predictions == expected.argmax(axis=1).tolist()
    assert len(set(predictions)) > 1  # a test that a constant network could not pass


@needs_node
def test_a_network_convnetjs_wrote_loads_in_tinyconv(tmp_path):
    # convnetjs builds and serialises a network itself (Float64Arrays become {"0": ...} objects)
    script = r"""
const convnetjs = require("convnetjs");
const net = new convnetjs.Net();
net.makeLayers([{type: "input", out_sx: 6, out_sy: 5, out_depth: 2},
                {type: "conv", sx: 3, filters: 3, stride: 1, pad: 1, activation: "relu"},
                {type: "pool", sx: 2, stride: 2},
                {type: "fc", num_neurons: 6, activation: "tanh", drop_prob: 0.25},
                {type: "softmax", num_classes: 3}]);
const x = new convnetjs.Vol(6, 5, 2);
console.log(JSON.stringify({net: net.toJSON(), x: Array.from(x.w),
                            p: Array.from(net.forward(x).w)}));
"""
    (tmp_path / "make.js").write_text(script)
    result = subprocess.run(["node", str(tmp_path / "make.js")], capture_output=True, text=True,
                            env={**os.environ, "NODE_PATH": str(NODE_MODULES)}, timeout=120,
                            check=True)
    made = json.loads(result.stdout)
    assert isinstance(made["net"]["layers"][1]["filters"][0]["w"], dict)  # the JS quirk
    (tmp_path / "from_js.json").write_text(json.dumps(made["net"]))
    model = tc.load(tmp_path / "from_js.json")
    assert isinstance(model, nn.Sequential)
    x = np.array(made["x"], dtype=np.float32).reshape(5, 6, 2).transpose(2, 0, 1)[None]
    with tc.no_grad():
        got = model(tc.tensor(x)).numpy()[0]
    np.testing.assert_allclose(got, made["p"], rtol=1e-4, atol=1e-6)


def test_round_trip_without_node(tmp_path):
    model = _odd_net()
    convnetjs.save(model, tmp_path / "odd.json", (3, 9, 7))
    loaded = tc.load(tmp_path / "odd.json")
    x = np.random.default_rng(2).standard_normal((3, 3, 9, 7)).astype(np.float32)
    np.testing.assert_allclose(_probabilities(loaded, x), _probabilities(model, x), rtol=1e-5,
                               atol=1e-7)
    assert [type(m).__name__ for m in loaded] == [
        "Conv2d", "Tanh", "MaxPool2d", "Flatten", "Linear", "Sigmoid", "Linear", "Softmax"]


def test_lenet5_exports(tmp_path):
    spec = convnetjs.to_json(tc.models.lenet5(), (1, 32, 32))
    assert [layer["layer_type"] for layer in spec["layers"]] == [
        "input", "conv", "relu", "pool", "conv", "relu", "pool", "fc", "relu", "fc", "relu",
        "fc", "softmax"]


@pytest.mark.parametrize("model, message", [
    (nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), "groups=1"),
    (nn.Sequential(nn.Conv2d(2, 2, 3, stride=(1, 2))), "one stride"),
    (nn.Sequential(nn.AvgPool2d(2)), "AvgPool2d has no convnetjs layer"),
    (nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), "no ceil mode"),
    (tc.models.resnet18(num_classes=2), "not a sequential network"),
])
def test_what_convnetjs_cannot_express_is_refused(model, message):
    with pytest.raises(ValueError, match=message):
        convnetjs.to_json(model, (2, 8, 8) if message != "not a sequential network"
                          else (3, 32, 32))


@pytest.mark.parametrize("edit, message", [
    (lambda spec: spec["layers"][1].update(out_sx=99), r"says its output .* but computes"),
    (lambda spec: spec["layers"][1]["filters"].pop(), "should have 5 filters"),
    (lambda spec: spec["layers"][1]["filters"][0]["w"].pop(), "should hold 18 numbers"),
    (lambda spec: spec["layers"][2].update(layer_type="lrn"), "'lrn'.*no tinyconv equivalent"),
    (lambda spec: spec["layers"].pop(0), "not a convnetjs network"),
])
def test_bad_json_is_one_load_error(tmp_path, edit, message):
    spec = convnetjs.to_json(_odd_net(), (3, 9, 7))
    edit(spec)
    (tmp_path / "bad.json").write_text(json.dumps(spec))
    with pytest.raises(tc.LoadError, match=message):
        tc.load(tmp_path / "bad.json")


def test_truncated_json(tmp_path):
    convnetjs.save(_odd_net(), tmp_path / "net.json", (3, 9, 7))
    text = (tmp_path / "net.json").read_text()
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with pytest.raises(tc.LoadError, match="not valid JSON"):
        tc.load(tmp_path / "cut.json")
