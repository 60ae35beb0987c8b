"""tc.models: published parameter counts, torchvision-compatible names, a training step on every
small-input variant, transfer-learning helpers, and (when torch is installed) equality with
equivalent torch models built from the same state_dict."""

import gc
import itertools

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import models, nn


def count(model):
    return sum(p.numel() for p in model.parameters())


# -- published parameter counts (each big model is built once) ---------------------------------

# builder, kwargs, expected count, state_dict keys that torchvision's model also has
PUBLISHED = [
    ("lenet5", {}, 61_706, ["features.conv1.weight", "classifier.fc3.bias"]),
    ("alexnet", {}, 61_100_840, ["features.0.weight", "features.10.bias", "classifier.1.weight",
                                 "classifier.6.weight"]),
    # init_weights=False only skips VGG's second random fill of 130 M weights (torchvision's
    # re-initialisation), to save time: the architecture, and the count, are the default one
    ("vgg11", {"init_weights": False}, 132_863_336,
     ["features.0.weight", "features.18.weight", "classifier.6.bias"]),
    ("vgg16", {"init_weights": False}, 138_357_544, ["features.28.weight", "classifier.0.weight"]),
    ("resnet18", {}, 11_689_512, ["conv1.weight", "bn1.running_var", "layer1.0.conv2.weight",
                                  "layer2.0.downsample.0.weight", "layer2.0.downsample.1.bias",
                                  "layer4.1.bn2.weight", "fc.weight"]),
    ("resnet34", {}, 21_797_672, ["layer3.5.conv2.weight", "layer4.0.downsample.0.weight"]),
    ("resnet50", {}, 25_557_032, ["layer1.0.conv3.weight", "layer1.0.downsample.0.weight",
                                  "layer4.2.bn3.bias", "fc.weight"]),
    ("googlenet", {}, 6_624_904, ["conv1.conv.weight", "conv1.bn.running_mean",
                                  "inception3a.branch2.1.conv.weight",
                                  "inception5b.branch4.1.bn.bias", "fc.weight"]),
    ("googlenet", {"aux_logits": True}, 13_004_888, ["aux1.conv.conv.weight", "aux1.fc1.weight",
                                                     "aux2.fc2.bias"]),
    ("mobilenet_v1", {}, 4_231_976, ["features.0.0.weight", "features.13.pointwise.0.weight",
                                     "classifier.weight"]),
    ("mobilenet_v2", {}, 3_504_872, ["features.0.0.weight", "features.1.conv.0.0.weight",
                                     "features.1.conv.1.weight", "features.2.conv.0.0.weight",
                                     "features.17.conv.3.running_var", "features.18.1.weight",
                                     "classifier.1.weight"]),
    ("se_resnet18", {}, 11_778_592, ["layer1.0.se.fc1.weight", "layer4.1.se.fc2.bias"]),
    ("densenet121", {}, 7_978_856, ["features.conv0.weight", "features.norm0.weight",
                                    "features.denseblock1.denselayer1.norm1.weight",
                                    "features.denseblock4.denselayer16.conv2.weight",
                                    "features.transition3.conv.weight", "features.norm5.bias",
                                    "classifier.weight"]),
]


@pytest.mark.parametrize("name, kwargs, expected, keys", PUBLISHED,
                         ids=[f"{p[0]}{'-aux' if 'aux_logits' in p[1] else ''}" for p in PUBLISHED])
def test_default_builders_have_the_published_parameter_count(name, kwargs, expected, keys):
    model = getattr(models, name)(**kwargs)
    assert count(model) == expected
    state = model.state_dict()
    missing = [key for key in keys if key not in state]
    assert not missing, f"{name}: torchvision keys not found: {missing}"
    del model, state
    gc.collect()  # the VGGs hold half a gigabyte each


def test_se_resnet50_matches_the_papers_count():
    # Hu et al. report 28.09 M parameters for SE-ResNet-50 (r = 16)
    assert count(models.se_resnet50()) == 28_088_024


def test_se_block_parameter_formula_and_reduction_ratio():
    for channels, reduction in [(64, 16), (512, 16), (256, 8)]:
        block = models.SEBlock(channels, reduction)
        hidden = channels // reduction
        assert count(block) == 2 * channels * hidden + hidden + channels
    plain = count(models.resnet18())
    for reduction, expected in [(16, 89_080), (8, None)]:
        # two SE blocks per stage of ResNet-18, at 64, 128, 256 and 512 channels
        formula = sum(2 * (2 * c * (c // reduction) + c // reduction + c)
                      for c in (64, 128, 256, 512))
        added = count(models.se_resnet18(reduction=reduction)) - plain
        assert added == formula
        assert expected is None or added == expected


def test_lenet5_layers_are_the_classic_ones():
    model = models.lenet5()
    f, c = model.features, model.classifier
    assert (f.conv1.in_channels, f.conv1.out_channels, f.conv1.kernel_size) == (1, 6, (5, 5))
    assert (f.conv2.in_channels, f.conv2.out_channels, f.conv2.kernel_size) == (6, 16, (5, 5))
    assert [(layer.in_features, layer.out_features) for layer in (c.fc1, c.fc2, c.fc3)] == \
        [(400, 120), (120, 84), (84, 10)]
    # the parameter count does not depend on the activation or the pooling chosen
    assert count(models.lenet5(activation="tanh", pooling="avg")) == 61_706
    with pytest.raises(ValueError, match="input_size"):
        models.lenet5(input_size=64)


def test_vgg_accepts_configurations_and_batch_norm():
    small = models.vgg([8, "M", 16, "M"], num_classes=3, small_input=True, hidden_features=32)
    # convs 3*8*9+8 and 8*16*9+16; classifier 16->32->32->3
    assert count(small) == (3 * 8 * 9 + 8) + (8 * 16 * 9 + 16) + (16 * 32 + 32) + \
        (32 * 32 + 32) + (32 * 3 + 3)
    assert sum(isinstance(m, nn.BatchNorm2d)
               for m in models.vgg("vgg11", small_input=True, batch_norm=True).modules()) == 8
    with pytest.raises(ValueError, match="unknown configuration"):
        models.vgg("Z")


def test_mobilenets_use_depthwise_convolutions():
    v1 = models.mobilenet_v1(small_input=True, num_classes=10)
    depthwise = [m for m in v1.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 13
    assert all(m.groups == m.in_channels == m.out_channels for m in depthwise)
    v2 = models.mobilenet_v2(small_input=True, num_classes=10)
    blocks = [m for m in v2.modules() if isinstance(m, models.InvertedResidual)]
    assert len(blocks) == 17
    assert sum(b.use_res_connect for b in blocks) == 10  # stride 1 and equal channel counts


def test_resnet_projection_shortcut_only_where_the_shape_changes():
    model = models.resnet18(small_input=True)
    with_projection = [name for name, m in model.named_modules()
                       if isinstance(m, models.BasicBlock) and m.downsample is not None]
    assert with_projection == ["layer2.0", "layer3.0", "layer4.0"]
    model50 = models.resnet50(small_input=True)
    assert model50.layer1[0].downsample is not None  # 64 -> 256 channels at stride 1


# -- small-input variants: forward, backward, one SGD step --------------------------------------

SMALL = [
    ("lenet5", {"input_size": 32}, (1, 32, 32)),
    ("lenet5", {"input_size": 28, "activation": "tanh", "pooling": "avg"}, (1, 28, 28)),
    ("alexnet", {"small_input": True}, (3, 32, 32)),
    ("vgg11", {"small_input": True}, (3, 32, 32)),
    ("vgg16", {"small_input": True, "batch_norm": True}, (3, 32, 32)),
    ("resnet18", {"small_input": True}, (3, 32, 32)),
    ("resnet34", {"small_input": True}, (1, 28, 28)),  # greyscale: in_channels=1
    ("resnet50", {"small_input": True}, (3, 32, 32)),
    ("googlenet", {"small_input": True}, (3, 32, 32)),
    ("mobilenet_v1", {"small_input": True}, (3, 32, 32)),
    ("mobilenet_v2", {"small_input": True}, (3, 32, 32)),
    ("se_resnet18", {"small_input": True}, (3, 32, 32)),
    ("densenet121", {"small_input": True}, (3, 32, 32)),
]


def sgd_step(model, lr):
    with tc.no_grad():
        for p in model.parameters():
            if p.grad is not None:
                p.sub_(p.grad, alpha=lr)


@pytest.mark.parametrize("name, kwargs, shape", SMALL,
                         ids=[f"{s[0]}-{s[2][1]}" for s in SMALL])
def test_small_input_variant_trains_one_step(name, kwargs, shape):
    tc.manual_seed(0)
    num_classes = 7
    model = getattr(models, name)(num_classes=num_classes, in_channels=shape[0], **kwargs)
    x = tc.randn(2, *shape)
    target = tc.tensor([1, 4])
    logits = model(x)
    assert logits.shape == (2, num_classes)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    params = dict(model.named_parameters())
    no_grad = [n for n, p in params.items() if p.grad is None]
    assert not no_grad, f"parameters without a gradient: {no_grad[:5]}"
    assert all(p.grad.shape == p.shape for p in params.values())
    assert all(np.isfinite(p.grad.numpy()).all() for p in params.values())
    before = {n: p.detach().numpy().copy() for n, p in params.items()}
    sgd_step(model, lr=0.01)
    changed = sum(not np.array_equal(before[n], p.detach().numpy()) for n, p in params.items())
    assert changed > 0.9 * len(params)  # a few BN β/γ may get an exactly-zero gradient


def test_googlenet_aux_logits_in_training_only():
    model = models.googlenet(num_classes=5, small_input=True, aux_logits=True)
    x = tc.randn(2, 3, 16, 16)  # small, to keep the test fast: the aux heads then see 4×4
    out = model(x)
    assert isinstance(out, models.GoogLeNetOutputs)
    assert [t.shape for t in out] == [(2, 5)] * 3
    loss = F.cross_entropy(out.logits, tc.tensor([0, 1])) + \
        0.3 * (F.cross_entropy(out.aux_logits1, tc.tensor([0, 1])) +
               F.cross_entropy(out.aux_logits2, tc.tensor([0, 1])))
    loss.backward()
    assert model.aux1.fc2.weight.grad is not None and model.aux2.fc2.weight.grad is not None
    model.eval()
    with tc.no_grad():
        assert model(x).shape == (2, 5)


def test_lenet5_loss_decreases_on_a_fixed_batch():
    tc.manual_seed(1)
    model = models.lenet5()
    x = tc.randn(8, 1, 32, 32)
    target = tc.tensor([0, 1, 2, 3, 4, 5, 6, 7])
    losses = []
    for _ in range(6):
        model.zero_grad()
        loss = F.cross_entropy(model(x), target)
        loss.backward()
        sgd_step(model, lr=0.05)
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(b < a for a, b in itertools.pairwise(losses)), losses


def test_resnet_zero_init_residual_starts_each_block_as_identity():
    model = models.resnet18(small_input=True, zero_init_residual=True)
    assert all((b.bn2.weight.detach().numpy() == 0).all() for b in model.modules()
               if isinstance(b, models.BasicBlock))


# -- transfer learning ----------------------------------------------------------------------------

def test_find_head_names():
    assert models.find_head(models.lenet5()) == "classifier.fc3"
    assert models.find_head(models.resnet18(small_input=True)) == "fc"
    assert models.find_head(models.vgg11(small_input=True)) == "classifier.6"
    assert models.find_head(models.mobilenet_v2(small_input=True)) == "classifier.1"
    assert models.find_head(models.densenet121(small_input=True)) == "classifier"


def test_replace_head_and_freeze_all_but():
    tc.manual_seed(2)
    model = models.resnet18(num_classes=10, small_input=True)
    new_head = models.replace_head(model, num_classes=3)
    assert model.fc is new_head and (new_head.in_features, new_head.out_features) == (512, 3)
    trainable = models.freeze_all_but(model, head_names=("fc",), freeze_batchnorm_stats=True)
    assert trainable == ["fc.weight", "fc.bias"]
    assert [n for n, p in model.named_parameters() if p.requires_grad] == trainable
    assert list(models.trainable_parameters(model)) == [model.fc.weight, model.fc.bias]

    frozen = {n: p.detach().numpy().copy() for n, p in model.named_parameters()
              if not p.requires_grad}
    running = model.bn1.running_mean.numpy().copy()
    x = tc.randn(2, 3, 32, 32)
    loss = F.cross_entropy(model(x), tc.tensor([0, 2]))
    loss.backward()
    sgd_step(model, lr=0.1)
    for name, param in model.named_parameters():
        if name in frozen:
            assert param.grad is None, name
            np.testing.assert_array_equal(param.detach().numpy(), frozen[name])
        else:
            assert param.grad is not None
    np.testing.assert_array_equal(model.bn1.running_mean.numpy(), running)  # stats kept


def test_freeze_all_but_default_head_and_errors():
    model = models.lenet5()
    assert models.freeze_all_but(model) == ["classifier.fc3.weight", "classifier.fc3.bias"]
    with pytest.raises(ValueError, match="no submodule 'head'"):
        models.freeze_all_but(model, head_names="head")


def test_replace_head_of_googlenet_also_replaces_the_auxiliary_heads():
    model = models.googlenet(num_classes=10, aux_logits=True, small_input=True)
    models.replace_head(model, 4)
    assert model.fc.out_features == model.aux1.fc2.out_features == \
        model.aux2.fc2.out_features == 4


# -- the same numbers as torch, from the same state_dict ---------------------------------------

def _torch():
    return pytest.importorskip("torch", reason="torch is not installed: the cross-check against "
                                               "PyTorch is skipped")


def _randomise_batchnorm(model):
    rng = np.random.default_rng(3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data[...] = rng.uniform(0.5, 1.5, c)
            m.bias.data[...] = rng.normal(0, 0.1, c)
            m.running_mean.data[...] = rng.normal(0, 0.1, c)
            m.running_var.data[...] = rng.uniform(0.5, 1.5, c)


def _load_into_torch(torch, torch_model, model):
    state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in model.state_dict().items()}
    torch_model.load_state_dict(state, strict=True)  # same keys, same shapes


def _torch_lenet(torch):
    tnn = torch.nn
    from collections import OrderedDict
    net = tnn.Module()
    net.features = tnn.Sequential(OrderedDict(
        conv1=tnn.Conv2d(1, 6, 5), act1=tnn.ReLU(), pool1=tnn.MaxPool2d(2),
        conv2=tnn.Conv2d(6, 16, 5), act2=tnn.ReLU(), pool2=tnn.MaxPool2d(2)))
    net.classifier = tnn.Sequential(OrderedDict(
        fc1=tnn.Linear(400, 120), act3=tnn.ReLU(), fc2=tnn.Linear(120, 84), act4=tnn.ReLU(),
        fc3=tnn.Linear(84, 10)))
    net.forward = lambda x: net.classifier(torch.flatten(net.features(x), 1))
    return net


def _torch_resnet18_small(torch, num_classes):
    tnn = torch.nn

    class Block(tnn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(cout)
            self.relu = tnn.ReLU()
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False),
                                                 tnn.BatchNorm2d(cout))

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU()
            widths = [64, 128, 256, 512]
            for i, w in enumerate(widths):
                cin = 64 if i == 0 else widths[i - 1]
                setattr(self, f"layer{i + 1}",
                        tnn.Sequential(Block(cin, w, 1 if i == 0 else 2), Block(w, w, 1)))
            self.fc = tnn.Linear(512, num_classes)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(x.mean(dim=(2, 3)))

    return Net()


def _compare_with_torch(torch, model, torch_model, x_np, check_grad_of):
    _load_into_torch(torch, torch_model, model)
    model.double()
    torch_model.double()
    for train in (False, True):
        model.train(train)
        torch_model.train(train)
        x, tx = tc.tensor(x_np), torch.from_numpy(x_np)
        ours, theirs = model(x), torch_model(tx)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-8,
                                   atol=1e-9)
        if train:
            ours.sum().backward()
            theirs.sum().backward()
            ours_grad = dict(model.named_parameters())[check_grad_of].grad.numpy()
            theirs_grad = dict(torch_model.named_parameters())[check_grad_of].grad.numpy()
            np.testing.assert_allclose(ours_grad, theirs_grad, rtol=1e-7, atol=1e-9)


def test_lenet5_equals_torch_from_the_same_state_dict():
    torch = _torch()
    model = models.lenet5()
    x = np.random.default_rng(0).normal(size=(3, 1, 32, 32))
    _compare_with_torch(torch, model, _torch_lenet(torch), x, "features.conv1.weight")


def test_resnet18_small_equals_torch_from_the_same_state_dict():
    torch = _torch()
    model = models.resnet18(num_classes=10, small_input=True)
    _randomise_batchnorm(model)
    x = np.random.default_rng(0).normal(size=(2, 3, 16, 16))
    _compare_with_torch(torch, model, _torch_resnet18_small(torch, 10), x, "conv1.weight")
