"""tc.onnx.export: the file passes onnx's checker, and onnxruntime computes what tinyconv's forward
computes (float32 tolerance) for LeNet-5, ResNet-18, MobileNet-v2, DenseNet/Inception blocks and
every translated layer setting."""

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn

onnx = pytest.importorskip("onnx", reason="pip install onnx (the interop extra)")
ort = pytest.importorskip("onnxruntime", reason="pip install onnxruntime (the interop extra)")


def _randomise_batch_norms(model):
    """Real-looking running statistics, so that exporting them wrongly would show."""
    rng = np.random.default_rng(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
            n = module.num_features
            module.running_mean.data[...] = rng.normal(0, 0.2, n)
            module.running_var.data[...] = rng.uniform(0.5, 2.0, n)
            module.weight.data[...] = rng.uniform(0.5, 1.5, n)
            module.bias.data[...] = rng.normal(0, 0.2, n)
    return model


def _assert_runs_the_same(model, x, tmp_path, batches=(3,)):
    model.eval()
    path = tmp_path / "model.onnx"
    exported = tc.onnx.export(model, x, path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for batch in (x.shape[0], *batches):  # the batch dimension is free
        inputs = x.numpy() if batch == x.shape[0] else \
            rng.standard_normal((batch, *x.shape[1:])).astype(np.float32)
        (got,) = session.run(None, {"input": inputs})
        with tc.no_grad():
            expected = model(tc.tensor(inputs)).numpy()
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)
    return exported


def test_lenet5(tmp_path):
    tc.manual_seed(0)
    exported = _assert_runs_the_same(tc.models.lenet5(), tc.randn(2, 1, 32, 32), tmp_path)
    assert [node.op_type for node in exported.graph.node] == [
        "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten",
        "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Identity"]
    names = {initializer.name for initializer in exported.graph.initializer}
    assert names == set(tc.models.lenet5().state_dict())  # weights keep their state-dict names


def test_resnet18(tmp_path):
    tc.manual_seed(0)
    model = _randomise_batch_norms(tc.models.resnet18(num_classes=10))
    exported = _assert_runs_the_same(model, tc.randn(2, 3, 32, 32), tmp_path)
    ops = [node.op_type for node in exported.graph.node]
    assert ops.count("Add") == 8 and ops.count("BatchNormalization") == 20  # 8 blocks, 3 shortcuts


def test_mobilenet_v2(tmp_path):
    tc.manual_seed(0)
    model = _randomise_batch_norms(tc.models.mobilenet_v2(num_classes=10, small_input=True))
    model.classifier[1].weight.data[...] *= 100  # the builder's std 0.01 makes tiny logits
    exported = _assert_runs_the_same(model, tc.randn(1, 3, 32, 32), tmp_path)
    assert [node.op_type for node in exported.graph.node].count("Add") == 10  # residual blocks


def test_densenet_and_inception_blocks_concatenate(tmp_path):
    tc.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        tc.models.DenseBlock(num_layers=2, in_channels=16, growth_rate=8, bn_size=2),
        tc.models.Inception(32, 8, 4, 8, 2, 4, 4),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 5))
    exported = _assert_runs_the_same(_randomise_batch_norms(model), tc.randn(2, 3, 8, 8),
                                     tmp_path)
    assert [node.op_type for node in exported.graph.node].count("Concat") == 4


class SqueezeExcite(nn.Module):
    """Operations between layers: mean-free squeeze, reshape, multiply, subtract, divide."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding="same", dilation=2, groups=2)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4, 4)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        y = self.conv(x)
        w = self.gate(self.fc(self.flatten(self.pool(y))))
        return (y * w.reshape(x.shape[0], 4, 1, 1) - x) / 2.0


def test_operations_between_layers(tmp_path):
    tc.manual_seed(0)
    exported = _assert_runs_the_same(SqueezeExcite(), tc.randn(2, 4, 7, 7), tmp_path)
    ops = {node.op_type for node in exported.graph.node}
    assert {"Reshape", "Mul", "Sub", "Div"} <= ops


def test_every_translated_layer_setting(tmp_path):
    tc.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 6, (3, 5), stride=(2, 1), padding=(1, 2), bias=False),
        nn.BatchNorm2d(6), nn.LeakyReLU(0.1),
        nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1),
        nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
        nn.Tanh(), nn.MaxPool2d(2, stride=1, padding=1, dilation=2), nn.ReLU6(),
        nn.AdaptiveMaxPool2d((2, 2)), nn.Dropout(0.5), nn.Identity(), nn.Flatten(),
        nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Softmax(dim=1))
    _assert_runs_the_same(_randomise_batch_norms(model), tc.randn(2, 2, 10, 11), tmp_path)


def test_linear_on_more_than_two_dimensions_and_log_softmax(tmp_path):
    tc.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 3), nn.LogSoftmax(dim=-1))
    _assert_runs_the_same(model, tc.randn(2, 4, 5), tmp_path, batches=(1,))


class UsesExp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x).exp()


def test_unsupported_operations_are_named_and_the_model_is_left_as_it_was(tmp_path):
    model = UsesExp().train()
    with pytest.raises(NotImplementedError, match=r"Exp .*forward of 'model'.*supported layers"):
        tc.onnx.export(model, tc.randn(2, 3), tmp_path / "m.onnx")
    assert model.training and not (tmp_path / "m.onnx").exists()
    assert type(model).__call__ is nn.Module.__call__
    model(tc.randn(2, 3)).sum().backward()  # the recording hooks are gone: training still works
    assert model.fc.weight.grad is not None


def test_bad_arguments():
    with pytest.raises(TypeError, match="example_input must be a tinyconv Tensor"):
        tc.onnx.export(tc.models.lenet5(), np.zeros((1, 1, 32, 32), np.float32))
    with pytest.raises(TypeError, match="model must be a tinyconv nn.Module"):
        tc.onnx.export(lambda x: x, tc.zeros(1, 1, 32, 32))
