"""PyTorch checkpoints without PyTorch: files written by torch.save load into tc.models, files
written by tinyconv load in torch.load(weights_only=True), and a hostile pickle runs nothing.

torchvision cannot be installed beside the CPU torch here, so the torchvision-shaped twins below
are written with plain ``torch.nn`` modules, with torchvision's attribute names: AlexNet, VGG-11
(with batch norm), ResNet-18/34/50, GoogLeNet, MobileNet-v2 and DenseNet-121 (compared on
outputs), plus LeNet-5 (tinyconv's own naming). The fully connected layers of AlexNet and VGG are
narrowed (``hidden_features``) to keep the files small: the names are torchvision's, only a
width differs.
"""

import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import tinyconv as tc
from tinyconv.interop.pytorch import LEGACY_MAGIC_NUMBER, read_pth

torch = pytest.importorskip("torch", reason="the PyTorch oracle is not installed")
tnn = torch.nn


# -- torchvision-shaped twins, in plain torch.nn ------------------------------------------------

class TorchBasicBlock(tnn.Module):
    expansion = 1

    def __init__(self, in_channels, channels, stride):
        super().__init__()
        self.conv1 = tnn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(channels)
        self.relu = tnn.ReLU()
        self.conv2 = tnn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = tnn.Sequential(
                tnn.Conv2d(in_channels, channels, 1, stride, bias=False), tnn.BatchNorm2d(channels))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + shortcut)


class TorchBottleneck(tnn.Module):
    """torchvision's ResNet-v1.5 bottleneck: 1×1 reduce, 3×3 (with the stride), 1×1 expand ×4."""

    expansion = 4

    def __init__(self, in_channels, channels, stride):
        super().__init__()
        self.conv1 = tnn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(channels)
        self.conv2 = tnn.Conv2d(channels, channels, 3, stride, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(channels)
        self.conv3 = tnn.Conv2d(channels, channels * 4, 1, bias=False)
        self.bn3 = tnn.BatchNorm2d(channels * 4)
        self.relu = tnn.ReLU()
        self.downsample = None
        if stride != 1 or in_channels != channels * 4:
            self.downsample = tnn.Sequential(
                tnn.Conv2d(in_channels, channels * 4, 1, stride, bias=False),
                tnn.BatchNorm2d(channels * 4))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + shortcut)


class TorchResNet(tnn.Module):
    def __init__(self, block, blocks_per_stage, num_classes):
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU()
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        channels = 64
        stages = zip((64, 128, 256, 512), (1, 2, 2, 2), blocks_per_stage, strict=True)
        for index, (width, stride, count) in enumerate(stages, 1):
            blocks = []
            for i in range(count):
                blocks.append(block(channels, width, stride if i == 0 else 1))
                channels = width * block.expansion
            setattr(self, f"layer{index}", tnn.Sequential(*blocks))
        self.avgpool = tnn.AdaptiveAvgPool2d(1)
        self.fc = tnn.Linear(channels, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TorchAlexNet(tnn.Module):
    """torchvision's AlexNet: features 0..12, avgpool to 6×6, classifier 0..6."""

    def __init__(self, num_classes, hidden):
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(3, 64, 11, 4, 2), tnn.ReLU(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(64, 192, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(384, 256, 3, padding=1), tnn.ReLU(),
            tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 2))
        self.avgpool = tnn.AdaptiveAvgPool2d(6)
        self.classifier = tnn.Sequential(
            tnn.Dropout(), tnn.Linear(256 * 36, hidden), tnn.ReLU(),
            tnn.Dropout(), tnn.Linear(hidden, hidden), tnn.ReLU(), tnn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TorchVGG11BN(tnn.Module):
    """torchvision's vgg11_bn: conv, BN, ReLU per layer ('M': 2×2 max-pool), avgpool to 7×7."""

    def __init__(self, num_classes, hidden):
        super().__init__()
        layers, channels = [], 3
        for item in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
            if item == "M":
                layers.append(tnn.MaxPool2d(2, 2))
            else:
                layers += [tnn.Conv2d(channels, item, 3, padding=1), tnn.BatchNorm2d(item),
                           tnn.ReLU()]
                channels = item
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d(7)
        self.classifier = tnn.Sequential(
            tnn.Linear(512 * 49, hidden), tnn.ReLU(), tnn.Dropout(),
            tnn.Linear(hidden, hidden), tnn.ReLU(), tnn.Dropout(), tnn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class TorchBasicConv2d(tnn.Module):
    """torchvision's GoogLeNet convolution: conv (no bias), BN with eps 0.001, ReLU."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = tnn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = tnn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class TorchInception(tnn.Module):
    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = TorchBasicConv2d(in_channels, ch1x1, 1)
        self.branch2 = tnn.Sequential(TorchBasicConv2d(in_channels, ch3x3red, 1),
                                      TorchBasicConv2d(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = tnn.Sequential(TorchBasicConv2d(in_channels, ch5x5red, 1),
                                      TorchBasicConv2d(ch5x5red, ch5x5, 3, padding=1))
        self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1, ceil_mode=True),
                                      TorchBasicConv2d(in_channels, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class TorchGoogLeNet(tnn.Module):
    """torchvision's GoogLeNet without the auxiliary classifiers (``aux_logits=False``)."""

    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = TorchBasicConv2d(3, 64, 7, 2, 3)
        self.maxpool1 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = TorchBasicConv2d(64, 64, 1)
        self.conv3 = TorchBasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception3a = TorchInception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = TorchInception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = tnn.MaxPool2d(3, 2, ceil_mode=True)
        self.inception4a = TorchInception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = TorchInception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = TorchInception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = TorchInception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = TorchInception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = tnn.MaxPool2d(2, 2, ceil_mode=True)
        self.inception5a = TorchInception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = TorchInception(832, 384, 192, 384, 48, 128, 128)
        self.avgpool = tnn.AdaptiveAvgPool2d(1)
        self.dropout = tnn.Dropout(0.2)
        self.fc = tnn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4d(self.inception4c(self.inception4b(self.inception4a(x))))
        x = self.inception5b(self.inception5a(self.maxpool4(self.inception4e(x))))
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def conv_bn_relu6(in_channels, out_channels, kernel_size, stride=1, groups=1):
    """torchvision's Conv2dNormActivation: a Sequential named 0 (conv), 1 (BN), 2 (ReLU6)."""
    return tnn.Sequential(tnn.Conv2d(in_channels, out_channels, kernel_size, stride,
                                     (kernel_size - 1) // 2, groups=groups, bias=False),
                          tnn.BatchNorm2d(out_channels), tnn.ReLU6())


class TorchInvertedResidual(tnn.Module):
    def __init__(self, in_channels, out_channels, stride, expand_ratio):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = [conv_bn_relu6(in_channels, hidden, 1)] if expand_ratio != 1 else []
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
                   tnn.Conv2d(hidden, out_channels, 1, bias=False), tnn.BatchNorm2d(out_channels)]
        self.conv = tnn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class TorchMobileNetV2(tnn.Module):
    def __init__(self, num_classes):
        super().__init__()
        layers, channels = [conv_bn_relu6(3, 32, 3, 2)], 32
        for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
            for i in range(n):
                layers.append(TorchInvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        layers.append(conv_bn_relu6(channels, 1280, 1))
        self.features = tnn.Sequential(*layers)
        self.classifier = tnn.Sequential(tnn.Dropout(0.2), tnn.Linear(1280, num_classes))

    def forward(self, x):
        x = tnn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class TorchDenseLayer(tnn.Module):
    def __init__(self, in_channels, growth_rate=32, bn_size=4):
        super().__init__()
        self.norm1 = tnn.BatchNorm2d(in_channels)
        self.relu1 = tnn.ReLU()
        self.conv1 = tnn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = tnn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = tnn.ReLU()
        self.conv2 = tnn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, features):
        x = torch.cat(features, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class TorchDenseBlock(tnn.ModuleDict):
    def __init__(self, num_layers, in_channels, growth_rate=32):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            TorchDenseLayer(in_channels + i * growth_rate))

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class TorchDenseNet121(tnn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.features = tnn.Sequential(OrderedDict([
            ("conv0", tnn.Conv2d(3, 64, 7, 2, 3, bias=False)), ("norm0", tnn.BatchNorm2d(64)),
            ("relu0", tnn.ReLU()), ("pool0", tnn.MaxPool2d(3, 2, 1))]))
        channels = 64
        for i, num_layers in enumerate((6, 12, 24, 16)):
            self.features.add_module(f"denseblock{i + 1}", TorchDenseBlock(num_layers, channels))
            channels += num_layers * 32
            if i != 3:
                self.features.add_module(f"transition{i + 1}", tnn.Sequential(OrderedDict([
                    ("norm", tnn.BatchNorm2d(channels)), ("relu", tnn.ReLU()),
                    ("conv", tnn.Conv2d(channels, channels // 2, 1, bias=False)),
                    ("pool", tnn.AvgPool2d(2, 2))])))
                channels //= 2
        self.features.add_module("norm5", tnn.BatchNorm2d(channels))
        self.classifier = tnn.Linear(channels, num_classes)

    def forward(self, x):
        x = tnn.functional.adaptive_avg_pool2d(torch.relu(self.features(x)), 1)
        return self.classifier(torch.flatten(x, 1))


class TorchLeNet5(tnn.Module):
    def __init__(self):
        super().__init__()
        self.features = tnn.Sequential(OrderedDict([
            ("conv1", tnn.Conv2d(1, 6, 5)), ("act1", tnn.ReLU()), ("pool1", tnn.MaxPool2d(2)),
            ("conv2", tnn.Conv2d(6, 16, 5)), ("act2", tnn.ReLU()), ("pool2", tnn.MaxPool2d(2))]))
        self.classifier = tnn.Sequential(OrderedDict([
            ("fc1", tnn.Linear(400, 120)), ("act3", tnn.ReLU()), ("fc2", tnn.Linear(120, 84)),
            ("act4", tnn.ReLU()), ("fc3", tnn.Linear(84, 10))]))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def _randomise_batch_norm_statistics(model):
    """Fresh BN layers have mean 0 / var 1; give them real statistics so loading them matters."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, tnn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1, generator=generator)
                module.running_var.uniform_(0.5, 1.5, generator=generator)
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0, 0.1, generator=generator)
                module.num_batches_tracked.fill_(7)


TWINS = {  # name: (torch twin, tinyconv builder, input shape, tolerance)
    "lenet5": (lambda: TorchLeNet5(), lambda: tc.models.lenet5(), (2, 1, 32, 32), 1e-5),
    # 95×95: AlexNet's last feature map is 2×2, so the 6×6 adaptive pool's bins overlap
    "alexnet": (lambda: TorchAlexNet(10, hidden=64),
                lambda: tc.models.alexnet(num_classes=10, hidden_features=64),
                (2, 3, 95, 95), 1e-4),
    "vgg11_bn": (lambda: TorchVGG11BN(10, hidden=64),
                 lambda: tc.models.vgg11(num_classes=10, batch_norm=True, hidden_features=64),
                 (2, 3, 32, 32), 1e-4),
    "resnet18": (lambda: TorchResNet(TorchBasicBlock, (2, 2, 2, 2), 10),
                 lambda: tc.models.resnet18(num_classes=10), (2, 3, 32, 32), 1e-4),
    "resnet34": (lambda: TorchResNet(TorchBasicBlock, (3, 4, 6, 3), 10),
                 lambda: tc.models.resnet34(num_classes=10), (1, 3, 32, 32), 1e-4),
    "resnet50": (lambda: TorchResNet(TorchBottleneck, (3, 4, 6, 3), 10),
                 lambda: tc.models.resnet50(num_classes=10), (1, 3, 32, 32), 1e-4),
    # 64×64: every ceil-mode pool of the stem and between the stages rounds up
    "googlenet": (lambda: TorchGoogLeNet(10), lambda: tc.models.googlenet(num_classes=10),
                  (1, 3, 64, 64), 1e-4),
    "mobilenet_v2": (lambda: TorchMobileNetV2(10), lambda: tc.models.mobilenet_v2(num_classes=10),
                     (2, 3, 32, 32), 1e-4),
    "densenet121": (lambda: TorchDenseNet121(10), lambda: tc.models.densenet121(num_classes=10),
                    (1, 3, 32, 32), 1e-4),
}


@pytest.mark.parametrize("torch_model, tinyconv_model, shape, tolerance", TWINS.values(),
                         ids=TWINS.keys())
def test_torch_saved_weights_give_torch_outputs_in_tinyconv(tmp_path, torch_model, tinyconv_model,
                                                            shape, tolerance):
    torch.manual_seed(0)
    reference = torch_model().eval()
    _randomise_batch_norm_statistics(reference)
    torch.save(reference.state_dict(), tmp_path / "weights.pth")
    model = tinyconv_model().eval()
    model.load_state_dict(tc.load(tmp_path / "weights.pth"))  # strict: every name matches
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    with tc.no_grad():
        got = model(tc.tensor(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


def test_tinyconv_pth_files_load_in_torch_with_weights_only(tmp_path):
    tc.manual_seed(0)
    model = tc.models.resnet18(num_classes=10).eval()
    tc.save(model.state_dict(), tmp_path / "resnet18.pth")
    reference = TorchResNet(TorchBasicBlock, (2, 2, 2, 2), 10).eval()
    reference.load_state_dict(torch.load(tmp_path / "resnet18.pth", weights_only=True))
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    with tc.no_grad():
        np.testing.assert_allclose(model(tc.tensor(x)).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_pth_round_trip_keeps_nesting_dtypes_and_zero_dim_tensors(tmp_path):
    state = {"model": OrderedDict([("w", tc.randn(2, 3)), ("steps", tc.tensor(5))]),
             "half": tc.ones(3, dtype=tc.float16), "flags": tc.tensor([True, False]),
             "epoch": 3, "lr": 0.1, "name": "run", "history": [1.5, None], "pair": (1, 2)}
    tc.save(state, tmp_path / "ckpt.pt")
    for loaded in (tc.load(tmp_path / "ckpt.pt"),
                   torch.load(tmp_path / "ckpt.pt", weights_only=True)):
        assert loaded["epoch"] == 3 and loaded["name"] == "run" and loaded["pair"] == (1, 2)
        assert loaded["history"] == [1.5, None] and list(loaded["model"]) == ["w", "steps"]
        assert tuple(loaded["model"]["steps"].shape) == ()
        np.testing.assert_array_equal(np.asarray(loaded["model"]["w"].numpy()),
                                      state["model"]["w"].numpy())
    loaded = tc.load(tmp_path / "ckpt.pt")
    assert loaded["half"].dtype == tc.float16 and loaded["flags"].dtype == tc.bool
    assert loaded["model"]["steps"].dtype == tc.int64


def test_views_and_shared_storages_from_torch(tmp_path):
    base = torch.arange(12.0).reshape(3, 4)
    torch.save({"t": base.t(), "col": base[:, 1], "same": base}, tmp_path / "views.pth")
    loaded = tc.load(tmp_path / "views.pth")
    np.testing.assert_array_equal(loaded["t"].numpy(), base.t().numpy())
    np.testing.assert_array_equal(loaded["col"].numpy(), base[:, 1].numpy())
    np.testing.assert_array_equal(loaded["same"].numpy(), base.numpy())


def test_bfloat16_is_widened_to_float32(tmp_path):
    values = torch.tensor([1.5, -2.0, 3.25])
    torch.save({"b": values.to(torch.bfloat16)}, tmp_path / "bf16.pth")
    loaded = tc.load(tmp_path / "bf16.pth")["b"]
    assert loaded.dtype == tc.float32
    np.testing.assert_array_equal(loaded.numpy(), values.numpy())


def test_legacy_format_of_pytorch_before_1_6(tmp_path):
    state = OrderedDict([("w", torch.randn(2, 3)), ("n", torch.tensor(4)),
                         ("view", torch.arange(6.0)[2:])])
    torch.save(state, tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    loaded = tc.load(tmp_path / "old.pth")
    for key, value in state.items():
        np.testing.assert_array_equal(loaded[key].numpy(), value.numpy())


# -- hostile and damaged files ---------------------------------------------------------------

class RunsAShellCommand:
    """What an attacker pickles: unpickling it calls os.system(command)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _evil_zip(path, payload):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"weight": payload}, protocol=2))
        archive.writestr("evil/version", "3\n")


def _evil_legacy(path, payload):
    with open(path, "wb") as file:
        for part in (LEGACY_MAGIC_NUMBER, 1001, {"little_endian": True},
                     {"weight": payload}, []):
            pickle.dump(part, file, protocol=2)


@pytest.mark.parametrize("write", [_evil_zip, _evil_legacy], ids=["zip", "legacy"])
def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path, write):
    marker = tmp_path / "pwned"
    write(tmp_path / "evil.pth", RunsAShellCommand(f"touch {marker}"))
    with pytest.raises(tc.LoadError, match=r"posix\.system|os\.system") as raised:
        tc.load(tmp_path / "evil.pth")
    assert "refuses to call it" in str(raised.value) and str(tmp_path / "evil.pth") in \
        str(raised.value)
    assert not marker.exists()


def test_a_pickled_model_object_is_refused_with_advice(tmp_path):
    torch.save(tnn.Linear(2, 2), tmp_path / "whole_model.pth")
    with pytest.raises(tc.LoadError, match=r"torch\.nn\..*state_dict\(\)"):
        tc.load(tmp_path / "whole_model.pth")


def test_a_plain_pickle_is_not_unpickled(tmp_path):
    (tmp_path / "x.pkl").write_bytes(pickle.dumps(RunsAShellCommand("true"), protocol=2))
    with pytest.raises(tc.LoadError, match="not a PyTorch checkpoint"):
        tc.load(tmp_path / "x.pkl")


def _rewrite_entry(source, target, name_end, change):
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            new.writestr(info.filename, change(data) if info.filename.endswith(name_end)
                         else data)


def test_a_storage_claiming_a_trillion_elements_is_refused_before_allocating(tmp_path):
    torch.save({"w": torch.ones(3)}, tmp_path / "good.pth")
    # the pickle's persistent id ends "cpu", numel=3 (BININT1 3), TUPLE: make numel 10**12
    huge = pickle.LONG1 + bytes([6]) + (10**12).to_bytes(6, "little")  # signed
    _rewrite_entry(tmp_path / "good.pth", tmp_path / "huge.pth", "data.pkl",
                   lambda data: data.replace(b"cpuq\x06K\x03t", b"cpuq\x06" + huge + b"t"))
    with pytest.raises(tc.LoadError, match=r"storage 0 claims 4,000,000,000,000 bytes"):
        tc.load(tmp_path / "huge.pth")


def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path):
    torch.save({"w": torch.ones(3)}, tmp_path / "good.pth")
    # size (3,) -> (5,): the tensor would read past the 3 stored floats
    _rewrite_entry(tmp_path / "good.pth", tmp_path / "long.pth", "data.pkl",
                   lambda data: data.replace(b"K\x00K\x03\x85", b"K\x00K\x05\x85"))
    with pytest.raises(tc.LoadError, match="reaches element 4 of a storage that has only 3"):
        tc.load(tmp_path / "long.pth")


@pytest.mark.parametrize("cut", [0.5, 0.97])
def test_truncated_pth_files(tmp_path, cut):
    torch.save({"w": torch.ones(100)}, tmp_path / "good.pth")
    data = (tmp_path / "good.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(tc.LoadError, match="truncated or corrupt"):
        tc.load(tmp_path / "cut.pth")


def test_truncated_legacy_file(tmp_path):
    torch.save({"w": torch.ones(100)}, tmp_path / "old.pth",
               _use_new_zipfile_serialization=False)
    data = (tmp_path / "old.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[:-40])
    with pytest.raises(tc.LoadError, match="truncated"):
        tc.load(tmp_path / "cut.pth")
    count_offset = len(data) - 400 - 8  # the 8-byte element count before the 100 floats
    assert struct.unpack("<q", data[count_offset:count_offset + 8]) == (100,)
    (tmp_path / "lying.pth").write_bytes(data[:count_offset] + struct.pack("<q", 10**12) +
                                         data[count_offset + 8:])
    with pytest.raises(tc.LoadError, match="has 1000000000000 elements, the pickle said 100"):
        tc.load(tmp_path / "lying.pth")


def test_wrong_names_and_shapes_are_named_and_nothing_is_half_loaded(tmp_path):
    model = tc.models.lenet5()
    before = {key: value.numpy().copy() for key, value in model.state_dict().items()}
    reference = TorchLeNet5()
    reference.classifier.fc3 = tnn.Linear(84, 7)  # a 7-class head
    torch.save(reference.state_dict(), tmp_path / "seven.pth")
    with pytest.raises(RuntimeError, match=r"classifier\.fc3\.weight.*\(7, 84\).*\(10, 84\)"):
        model.load_state_dict(tc.load(tmp_path / "seven.pth"))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), before[key], err_msg=key)


def test_read_pth_gives_numpy_arrays(tmp_path):
    torch.save({"w": torch.ones(2, dtype=torch.float64)}, tmp_path / "w.pth")
    loaded = read_pth(tmp_path / "w.pth")
    assert isinstance(loaded["w"], np.ndarray) and loaded["w"].dtype == np.float64
