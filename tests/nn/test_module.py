"""nn.Module: registration, traversal, state_dict, modes, freezing, moving, printing."""

from collections import OrderedDict

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import nn


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
        self.scale = nn.Parameter(tc.ones(1))
        self.register_buffer("calls", tc.zeros(1))
        self.register_buffer("scratch", tc.zeros(1), persistent=False)
        self.note = "plain attribute"

    def forward(self, x):
        return self.head(self.bn(self.conv(x))) * self.scale


def test_parameters_buffers_and_modules_are_registered_in_order():
    model = TwoLayer()
    assert [name for name, _ in model.named_parameters()] == [
        "scale", "conv.weight", "conv.bias", "bn.weight", "bn.bias", "head.1.weight",
        "head.1.bias"]
    assert [name for name, _ in model.named_buffers()] == [
        "calls", "scratch", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert [name for name, _ in model.named_children()] == ["conv", "bn", "head"]
    assert [name for name, _ in model.named_modules()] == [
        "", "conv", "bn", "head", "head.0", "head.1"]
    assert model.note == "plain attribute"


def test_state_dict_skips_non_persistent_buffers_and_shares_memory():
    model = TwoLayer()
    state = model.state_dict()
    assert "scratch" not in state and "calls" in state and "bn.num_batches_tracked" in state
    assert np.shares_memory(state["conv.weight"].data, model.conv.weight.data)
    assert not state["conv.weight"].requires_grad  # detached


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="'TwoLayer' object has no attribute 'nope'"):
        TwoLayer().nope  # noqa: B018 - the attribute access is the test


def test_assigning_a_plain_tensor_over_a_parameter_is_refused():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'weight'"):
        model.weight = tc.zeros(2, 2)


def test_setattr_before_init_is_a_clear_error():
    class Forgot(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()


def test_shared_parameters_are_listed_once():
    layer = nn.Linear(2, 2)
    model = nn.Sequential(layer, layer)
    assert len(list(model.parameters())) == 2


def test_load_state_dict_copies_in_place_and_checks_everything():
    tc.manual_seed(0)
    source, target = TwoLayer(), TwoLayer()
    weight_before = target.conv.weight
    target.load_state_dict(source.state_dict())
    assert target.conv.weight is weight_before  # same Parameter object: optimizers stay valid
    np.testing.assert_array_equal(target.conv.weight.data, source.conv.weight.data)

    state = source.state_dict()
    del state["bn.bias"]
    state["extra"] = tc.zeros(1)
    with pytest.raises(RuntimeError, match=r"missing keys: \['bn.bias'\]") as error:
        target.load_state_dict(state)
    assert "unexpected keys: ['extra']" in str(error.value)
    result = target.load_state_dict(state, strict=False)
    assert result.missing_keys == ["bn.bias"] and result.unexpected_keys == ["extra"]

    state = source.state_dict()
    state["conv.weight"] = tc.zeros(2, 1, 5, 5)
    with pytest.raises(RuntimeError, match=r"size mismatch for conv.weight: the checkpoint has "
                                           r"shape \(2, 1, 5, 5\)"):
        target.load_state_dict(state)
    state = source.state_dict()
    state["conv.bias"] = state["conv.bias"].double()
    with pytest.raises(RuntimeError, match="dtype mismatch for conv.bias"):
        target.load_state_dict(state)


def test_failed_load_changes_nothing():
    tc.manual_seed(0)
    source, target = TwoLayer(), TwoLayer()
    before = {k: v.data.copy() for k, v in target.state_dict().items()}
    state = source.state_dict()
    state["head.1.bias"] = tc.zeros(7)
    with pytest.raises(RuntimeError):
        target.load_state_dict(state)
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value.data, before[key], err_msg=key)


def test_train_eval_propagate_to_every_submodule():
    model = TwoLayer()
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_freezing_all_but_the_head_for_transfer_learning():
    model = TwoLayer()
    model.requires_grad_(False)
    model.head.requires_grad_(True)
    x = tc.randn(2, 1, 6, 6)
    model(x).sum().backward()
    assert model.conv.weight.grad is None and model.bn.weight.grad is None
    assert model.head[1].weight.grad is not None


def test_zero_grad_and_to_double_keep_parameter_identity():
    model = TwoLayer()
    model(tc.randn(2, 1, 6, 6)).sum().backward()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    weight = model.conv.weight
    model.double()
    assert model.conv.weight is weight and weight.dtype == tc.float64
    assert model.bn.num_batches_tracked.dtype == tc.int64  # integers keep their dtype
    assert model(tc.randn(2, 1, 6, 6, dtype=tc.float64)).dtype == tc.float64


def test_forward_hooks_see_outputs_and_can_be_removed():
    model = TwoLayer()
    seen = []
    handle = model.conv.register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    model(tc.randn(2, 1, 6, 6))
    handle.remove()
    model(tc.randn(2, 1, 6, 6))
    assert seen == [(2, 2, 4, 4)]


def test_apply_visits_children_then_self():
    visited = []
    TwoLayer().apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Conv2d", "BatchNorm2d", "Flatten", "Linear", "Sequential", "TwoLayer"]


def test_repr_is_a_tree_with_layer_arguments():
    text = repr(TwoLayer())
    assert "(conv): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))" in text
    assert "(1): Linear(in_features=32, out_features=3, bias=True)" in text


def test_containers():
    layers = [nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and seq[-1] is layers[2] and isinstance(seq[:2], nn.Sequential)
    named = nn.Sequential(OrderedDict(first=layers[0], act=layers[1]))
    assert [n for n, _ in named.named_children()] == ["first", "act"]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    blocks = nn.ModuleList([nn.Linear(1, 1)])
    blocks.append(nn.Linear(1, 1))
    assert len(list(nn.Sequential(*blocks).parameters())) == 4
    heads = nn.ModuleDict({"a": nn.Linear(1, 1)})
    heads["b"] = nn.Linear(1, 2)
    assert list(heads.keys()) == ["a", "b"] and "b" in heads
    with pytest.raises(KeyError, match="no module 'c'"):
        heads["c"]


@pytest.mark.parametrize("layer, fan_in", [(lambda: nn.Conv2d(8, 16, 3), 72),
                                           (lambda: nn.Linear(50, 20), 50),
                                           (lambda: nn.ConvTranspose2d(4, 6, 3), 54)])
def test_default_init_is_pytorchs_uniform_bound(layer, fan_in):
    """kaiming_uniform_(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases."""
    module = layer()
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(module.bias.data).max() <= bound
    weights = np.abs(module.weight.data)
    assert weights.max() <= bound
    assert weights.max() > 0.9 * bound  # hundreds of draws reach near the bound, not a narrower one


def test_conv_layer_validation_names_the_layer():
    with pytest.raises(ValueError, match="Conv2d: in_channels .3. and out_channels .4. must both "
                                         "be divisible by groups .2."):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Dropout: dropout probability"):
        nn.Dropout(1.5)
