"""tc.summary: totals, the MAC formulas, output shapes against a real forward, side effects."""

from fractions import Fraction

import pytest

import tinyconv as tc
from tinyconv import models, nn
from tinyconv.model_summary import LayerRow, Summary, layer_macs, summary


def test_lenet5_totals_and_macs_by_hand(capsys):
    model = models.lenet5()
    s = summary(model, (1, 32, 32))
    assert isinstance(s, Summary)
    assert s.total_params == sum(p.numel() for p in model.parameters()) == 61_706
    assert s.trainable_params == 61_706 and s.non_trainable_params == 0
    assert sum(row.params for row in s.rows) == s.total_params
    # conv: N·C_out·H_out·W_out·(C_in/groups)·kH·kW; linear: N·in·out
    conv1 = 1 * 6 * 28 * 28 * 1 * 5 * 5      # 117,600
    conv2 = 1 * 16 * 10 * 10 * 6 * 5 * 5    # 240,000
    fcs = 400 * 120 + 120 * 84 + 84 * 10     # 58,920
    assert s.total_macs == conv1 + conv2 + fcs == 416_520
    assert s.total_flops == 2 * s.total_macs
    assert [(row.name, row.macs) for row in s.rows if row.macs] == [
        ("features.conv1", conv1), ("features.conv2", conv2), ("classifier.fc1", 48_000),
        ("classifier.fc2", 10_080), ("classifier.fc3", 840)]
    # memory: bytes of each output, float32
    assert s.rows[0].activation_bytes == 6 * 28 * 28 * 4
    assert s.activation_bytes == sum(row.activation_bytes for row in s.rows)
    assert s.param_bytes == 61_706 * 4 and s.input_bytes == 32 * 32 * 4
    printed = capsys.readouterr().out
    assert "MACs = multiply-adds" in printed and "FLOPs ≈ 2 × MACs" in printed
    assert "features.conv1 (Conv2d)" in printed and "61,706" in printed and "416,520" in printed
    assert printed.strip() == s.table().strip()


def _real_leaf_outputs(model, x):
    """Output shapes of every leaf-module call in a real forward (our own hooks)."""
    shapes = []
    handles = [m.register_forward_hook(lambda m, i, o: shapes.append(o.shape))
               for m in model.modules() if not list(m.children())]
    with tc.no_grad():
        y = model(x)
    for h in handles:
        h.remove()
    return shapes, y


@pytest.mark.parametrize("build, size", [
    (lambda: models.lenet5(input_size=28), (1, 28, 28)),
    (lambda: models.resnet18(num_classes=10, small_input=True), (3, 32, 32)),
    (lambda: models.mobilenet_v2(num_classes=10, small_input=True), (3, 32, 32)),
])
def test_output_shapes_match_a_real_forward(build, size):
    model = build().eval()
    s = summary(model, size, batch_size=3, print_table=False)
    shapes, y = _real_leaf_outputs(model, tc.zeros(3, *size))
    assert [row.output_shape for row in s.rows] == shapes
    assert s.rows[-1].output_shape == y.shape
    assert s.total_params == sum(row.params for row in s.rows) == \
        sum(p.numel() for p in model.parameters())


def test_macs_and_memory_scale_with_the_batch_size():
    model = models.resnet18(num_classes=10, small_input=True)
    one = summary(model, (3, 32, 32), print_table=False)
    four = summary(model, (3, 32, 32), batch_size=4, print_table=False)
    assert four.total_macs == 4 * one.total_macs
    assert four.activation_bytes == 4 * one.activation_bytes
    assert four.total_params == one.total_params
    assert four.rows[0].output_shape == (4, 64, 32, 32)


def test_summary_leaves_modes_and_batchnorm_statistics_alone():
    model = models.resnet18(num_classes=10, small_input=True)
    model.train()
    model.layer1.eval()
    before = model.bn1.running_mean.numpy().copy(), int(model.bn1.num_batches_tracked.item())
    summary(model, (3, 32, 32), print_table=False)
    assert model.training and not model.layer1.training and model.layer2.training
    assert (model.bn1.running_mean.numpy() == before[0]).all()
    assert int(model.bn1.num_batches_tracked.item()) == before[1]
    assert all(not m._forward_hooks for m in model.modules())  # hooks removed


def test_trainable_columns_follow_freezing():
    model = models.resnet18(num_classes=10, small_input=True)
    models.freeze_all_but(model, "fc")
    s = summary(model, (3, 32, 32), print_table=False)
    assert s.trainable_params == 512 * 10 + 10
    assert s.non_trainable_params == s.total_params - 5_130
    by_name = {row.name: row for row in s.rows}
    assert by_name["fc"].trainable is True and by_name["conv1"].trainable is False
    assert by_name["relu"].trainable is None  # no parameters


def test_a_layer_called_twice_gives_two_rows_and_counts_its_parameters_once():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(self.fc(x))

    s = summary(Twice(), (4,), batch_size=2, print_table=False)
    assert [row.name for row in s.rows] == ["fc", "fc"]
    assert [row.params for row in s.rows] == [20, 0]
    assert s.total_params == 20 and s.total_macs == 2 * (2 * 4 * 4)


def test_depthwise_separable_cost_ratio_is_the_mobilenet_papers():
    # standard 3×3 conv M -> N versus depthwise 3×3 (groups=M) + pointwise 1×1:
    # ratio = 1/N + 1/K²
    m, n, k = 32, 64, 3
    standard = summary(nn.Conv2d(m, n, k, padding=1, bias=False), (m, 8, 8), print_table=False)
    separable = summary(models.DepthwiseSeparableConv(m, n), (m, 8, 8), print_table=False)
    assert standard.total_macs == 8 * 8 * n * m * k * k
    ratio = Fraction(separable.total_macs, standard.total_macs)
    assert ratio == Fraction(1, n) + Fraction(1, k * k)


def test_layer_macs_formulas():
    x = tc.zeros(2, 6, 5, 7)
    conv = nn.Conv2d(6, 9, (3, 2), stride=2, groups=3)
    y = conv(x)
    assert layer_macs(conv, (x,), y) == 2 * 9 * y.shape[2] * y.shape[3] * (6 // 3) * 3 * 2
    up = nn.ConvTranspose2d(6, 4, 3, stride=2)
    assert layer_macs(up, (x,), up(x)) == 2 * 6 * 5 * 7 * 4 * 3 * 3
    fc = nn.Linear(7, 3)
    assert layer_macs(fc, (x,), fc(x)) == 2 * 6 * 5 * 7 * 3  # extra leading dimensions count
    pool = nn.MaxPool2d(2)
    assert layer_macs(pool, (x,), pool(x)) == 0


def test_rows_are_data():
    s = summary(models.lenet5(), (1, 32, 32), print_table=False)
    assert all(isinstance(row, LayerRow) for row in s.rows)
    first = s.as_dicts()[0]
    assert first == {"name": "features.conv1", "type": "Conv2d", "output_shape": (1, 6, 28, 28),
                     "params": 156, "trainable_params": 156, "macs": 117_600,
                     "activation_bytes": 6 * 28 * 28 * 4, "trainable": True}
    assert "Summary(LeNet5" in repr(s)


def test_float64_and_bad_arguments():
    model = models.lenet5().double()
    s = summary(model, (1, 32, 32), dtype=tc.float64, print_table=False)
    assert s.rows[0].activation_bytes == 6 * 28 * 28 * 8 and s.dtype == "float64"
    with pytest.raises(ValueError, match="input_size"):
        summary(model, "1x32x32")
    with pytest.raises(ValueError, match="batch_size"):
        summary(model, (1, 32, 32), batch_size=0)
    with pytest.raises(TypeError, match="Module"):
        summary(lambda x: x, (1, 32, 32))


def test_tc_summary_is_the_function():
    s = tc.summary(models.lenet5(), (1, 32, 32), print_table=False)
    assert isinstance(s, Summary) and s.total_macs == 416_520
