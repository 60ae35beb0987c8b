"""Losses: torch-free checks (gradcheck, identities with hand computations, edge values,
errors), then values and gradients against PyTorch over a grid of options."""

import itertools

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.testing import gradcheck

REDUCTIONS = ["none", "mean", "sum"]


def numpy_log_softmax(x, axis=1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def classification_case(layout, seed=0, ignore_index=-100):
    """Scores and class indices (float64 / int64 numpy arrays) for one input layout; when
    ``ignore_index`` is a class, some targets are set to it."""
    rng = np.random.default_rng(seed)
    shape = {"batch": (6, 4), "spatial": (3, 4, 2, 3), "unbatched": (4,)}[layout]
    scores = rng.standard_normal(shape) * 2
    target_shape = () if layout == "unbatched" else shape[:1] + shape[2:]
    target = rng.integers(0, 4, size=target_shape)
    if ignore_index != -100 and target.ndim:
        target.reshape(-1)[::3] = ignore_index
    return scores, np.asarray(target, dtype=np.int64)


CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 3.0])

# ---------------------------------------------------------------------------------------------
# Gradcheck on every loss (float64, finite differences)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout, use_weight, ignore_index, smoothing", [
    ("batch", False, -100, 0.0), ("batch", True, 1, 0.0), ("spatial", True, 2, 0.3),
    ("unbatched", False, -100, 0.1), ("batch", True, -100, 0.2)])
def test_gradcheck_cross_entropy_and_nll_loss(layout, use_weight, ignore_index, smoothing):
    scores, target = classification_case(layout, ignore_index=ignore_index)
    x = tc.tensor(scores, requires_grad=True)
    t = tc.tensor(target)
    w = tc.tensor(CLASS_WEIGHT) if use_weight else None
    assert gradcheck(lambda s: F.cross_entropy(s, t, w, ignore_index=ignore_index,
                                               label_smoothing=smoothing), (x,))
    assert gradcheck(lambda s: F.nll_loss(s, t, w, ignore_index=ignore_index,
                                          reduction="sum"), (x,))


def test_gradcheck_cross_entropy_with_probability_targets():
    rng = np.random.default_rng(3)
    x = tc.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    p = tc.tensor(rng.dirichlet(np.ones(3), size=5), requires_grad=True)
    assert gradcheck(lambda s, q: F.cross_entropy(s, q, label_smoothing=0.2), (x, p))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_mse_and_binary_cross_entropies(reduction):
    rng = np.random.default_rng(4)
    x = tc.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = tc.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    probs = tc.tensor(rng.uniform(0.05, 0.95, (3, 4)), requires_grad=True)
    targets = tc.tensor(rng.uniform(0, 1, (3, 4)), requires_grad=True)
    weight = tc.tensor(rng.uniform(0.5, 2, (4,)))
    pos_weight = tc.tensor(rng.uniform(0.5, 3, (4,)))
    assert gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), (x, y))
    assert gradcheck(lambda p, t: F.binary_cross_entropy(p, t, weight, reduction=reduction),
                     (probs, targets))
    assert gradcheck(lambda z, t: F.binary_cross_entropy_with_logits(
        z, t, weight, reduction=reduction, pos_weight=pos_weight), (x, targets))


def test_bce_with_logits_gradient_at_a_zero_logit_is_the_derivative():
    # softplus(-x) has no kink at 0; composing |x| and max(-x, 0) would give 0 there, not -1/2
    x = tc.zeros(3, dtype=tc.float64, requires_grad=True)
    F.binary_cross_entropy_with_logits(x, tc.ones(3, dtype=tc.float64), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), -0.5)
    assert gradcheck(lambda z: F.binary_cross_entropy_with_logits(z, tc.full((3,), 0.3,
                                                                             dtype=tc.float64)),
                     (x,))


# ---------------------------------------------------------------------------------------------
# Identities with hand computations
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["batch", "spatial", "unbatched"])
def test_cross_entropy_is_minus_log_softmax_at_the_target(layout):
    scores, target = classification_case(layout)
    axis = 0 if layout == "unbatched" else 1
    expected = -np.take_along_axis(numpy_log_softmax(scores, axis),
                                   np.expand_dims(target, axis), axis=axis).squeeze(axis)
    x, t = tc.tensor(scores), tc.tensor(target)
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction="none").numpy(), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(x, t).item(), expected.mean(), rtol=1e-12)
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(x, dim=axis), t, reduction="sum").item(),
                               expected.sum(), rtol=1e-12)


def test_weighted_mean_divides_by_the_weights_of_the_kept_targets():
    scores, target = classification_case("batch", ignore_index=2)
    picked = -np.take_along_axis(numpy_log_softmax(scores), np.where(
        target == 2, 0, target)[:, None], axis=1)[:, 0]
    weights = np.where(target == 2, 0.0, CLASS_WEIGHT[np.where(target == 2, 0, target)])
    loss = F.cross_entropy(tc.tensor(scores), tc.tensor(target), tc.tensor(CLASS_WEIGHT),
                           ignore_index=2)
    np.testing.assert_allclose(loss.item(), (weights * picked).sum() / weights.sum(), rtol=1e-12)
    per_element = F.cross_entropy(tc.tensor(scores), tc.tensor(target), tc.tensor(CLASS_WEIGHT),
                                  ignore_index=2, reduction="none").numpy()
    assert (per_element[target == 2] == 0).all()


def test_label_smoothing_mixes_the_target_with_the_uniform_distribution():
    scores, target = classification_case("batch")
    eps, classes = 0.3, scores.shape[1]
    smoothed = (1 - eps) * np.eye(classes)[target] + eps / classes
    expected = -(smoothed * numpy_log_softmax(scores)).sum(axis=1).mean()
    x, t = tc.tensor(scores), tc.tensor(target)
    np.testing.assert_allclose(F.cross_entropy(x, t, label_smoothing=eps).item(), expected,
                               rtol=1e-12)
    # the same as giving the smoothed distribution as a probability target
    np.testing.assert_allclose(F.cross_entropy(x, tc.tensor(smoothed)).item(), expected,
                               rtol=1e-12)


def test_one_hot_probability_targets_equal_class_indices():
    scores, target = classification_case("spatial")
    one_hot = np.moveaxis(np.eye(4)[target], -1, 1)
    x = tc.tensor(scores)
    for reduction in REDUCTIONS:
        np.testing.assert_allclose(
            F.cross_entropy(x, tc.tensor(one_hot), reduction=reduction).numpy(),
            F.cross_entropy(x, tc.tensor(target), reduction=reduction).numpy(), rtol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    x = tc.tensor([[1e4, -1e4], [0.0, 1e4]], requires_grad=True)
    loss = F.cross_entropy(x, tc.tensor([1, 1]), reduction="none")
    np.testing.assert_allclose(loss.detach().numpy(), [2e4, 0.0])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1, -1], [0, 0]])


def test_all_targets_ignored_gives_nan_mean_and_zero_gradient():
    x = tc.randn(3, 4, dtype=tc.float64, requires_grad=True)
    loss = F.cross_entropy(x, tc.tensor([-100, -100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)


def test_mse_loss_values():
    a, b = tc.tensor([1.0, 2.0, 4.0]), tc.tensor([1.0, 0.0, 1.0])
    np.testing.assert_allclose(F.mse_loss(a, b, reduction="none").numpy(), [0, 4, 9])
    assert F.mse_loss(a, b).item() == pytest.approx(13 / 3)
    assert F.mse_loss(a, b, reduction="sum").item() == pytest.approx(13)


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    p = tc.tensor([0.0, 1.0, 0.0, 1.0], dtype=tc.float64, requires_grad=True)
    t = tc.tensor([1.0, 0.0, 0.0, 1.0], dtype=tc.float64)
    loss = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_array_equal(loss.detach().numpy(), [100, 100, 0, 0])
    loss.sum().backward()
    assert np.isfinite(p.grad.numpy()).all()


def test_bce_with_logits_is_bce_of_the_sigmoid_and_stable():
    rng = np.random.default_rng(5)
    x = tc.tensor(rng.uniform(-6, 6, (4, 3)))
    t = tc.tensor(rng.uniform(0, 1, (4, 3)))
    pos_weight = tc.tensor([1.0, 2.0, 0.5], dtype=tc.float64)
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(x, t).item(),
                               F.binary_cross_entropy(F.sigmoid(x), t).item(), rtol=1e-12)
    s, tn = 1 / (1 + np.exp(-x.numpy())), t.numpy()
    expected = -(pos_weight.numpy() * tn * np.log(s) + (1 - tn) * np.log(1 - s))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(
        x, t, pos_weight=pos_weight, reduction="none").numpy(), expected, rtol=1e-12)
    huge = F.binary_cross_entropy_with_logits(tc.tensor([1e4, -1e4]), tc.tensor([0.0, 1.0]),
                                              reduction="none")
    np.testing.assert_allclose(huge.numpy(), [1e4, 1e4])


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

x23 = tc.randn(2, 3)
ERRORS = [
    (lambda: F.cross_entropy(x23, tc.tensor([0, 3])), IndexError,
     r"cross_entropy: target 3 is out of range for 3 classes"),
    (lambda: F.nll_loss(x23, tc.tensor([-1, 0])), IndexError,
     r"nll_loss: target -1 is out of range for 3 classes"),
    (lambda: F.cross_entropy(x23, tc.tensor([0.0, 1.0])), TypeError,
     r"cross_entropy: target must hold class indices of an integer dtype.*float32"),
    (lambda: F.nll_loss(x23, tc.tensor([0, 1, 2])), ValueError,
     r"nll_loss: target of shape \(3,\) does not fit input of shape \(2, 3\)"),
    (lambda: F.cross_entropy(x23, tc.tensor([0, 1]), weight=tc.ones(4)), ValueError,
     r"cross_entropy: weight must have shape \(3,\)"),
    (lambda: F.cross_entropy(x23, tc.tensor([0, 1]), reduction="avg"), ValueError,
     r"cross_entropy: reduction must be 'none', 'mean' or 'sum', got 'avg'"),
    (lambda: F.cross_entropy(x23, tc.tensor([0, 1]), label_smoothing=1.5), ValueError,
     r"cross_entropy: label_smoothing must be a number in \[0, 1\]"),
    (lambda: F.mse_loss(x23, tc.randn(3, 2)), ValueError,
     r"mse_loss: target of shape \(3, 2\) must have the same shape as input \(2, 3\)"),
    (lambda: F.mse_loss(x23, x23, reduction=None), ValueError, r"mse_loss: reduction must be"),
    (lambda: F.binary_cross_entropy(tc.tensor([0.5, 1.5]), tc.tensor([0.0, 1.0])), ValueError,
     r"binary_cross_entropy: all elements of input must be probabilities in \[0, 1\], got 1.5"),
    (lambda: F.binary_cross_entropy_with_logits(x23, tc.rand(2, 3), pos_weight=tc.ones(2)),
     ValueError, r"pos_weight of shape \(2,\) must broadcast to the input's shape \(2, 3\)"),
    (lambda: F.binary_cross_entropy_with_logits(x23, tc.rand(2, 3, dtype=tc.float64)), TypeError,
     r"binary_cross_entropy_with_logits: .*same dtype"),
    (lambda: F.nll_loss(tc.tensor([1, 2]), tc.tensor(0)), TypeError,
     r"nll_loss: input must be float32 or float64"),
]


@pytest.mark.parametrize("fn, error, match", ERRORS)
def test_errors_name_the_op_and_the_problem(fn, error, match):
    with pytest.raises(error, match=match):
        fn()


def test_loss_modules_use_these_functions():
    scores, target = classification_case("batch")
    x, t = tc.tensor(scores), tc.tensor(target)
    assert tc.nn.CrossEntropyLoss(label_smoothing=0.1)(x, t).item() == \
        F.cross_entropy(x, t, label_smoothing=0.1).item()


# ---------------------------------------------------------------------------------------------
# Against PyTorch
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is only the reference for these values")


def assert_same_value_and_gradients(ours, theirs, pairs):
    """Compare a loss and the gradients of ``pairs`` = [(tinyconv leaf, torch leaf), ...]
    after backpropagating the same random upstream gradient through both."""
    upstream = np.random.default_rng(9).standard_normal(ours.shape)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10,
                               atol=1e-10)
    ours.backward(tc.tensor(upstream))
    theirs.backward(theirs.new_tensor(upstream))
    for mine, reference in pairs:
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-10,
                                   atol=1e-10)


CLASS_GRID = list(itertools.product(["batch", "spatial", "unbatched"], [False, True], [-100, 1],
                                    REDUCTIONS))


@pytest.mark.parametrize("layout, use_weight, ignore_index, reduction", CLASS_GRID)
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_matches_pytorch(torch, layout, use_weight, ignore_index, reduction,
                                       smoothing):
    scores, target = classification_case(layout, ignore_index=ignore_index)
    x = tc.tensor(scores, requires_grad=True)
    xt = torch.tensor(scores, requires_grad=True)
    w, wt = (tc.tensor(CLASS_WEIGHT), torch.tensor(CLASS_WEIGHT)) if use_weight else (None, None)
    ours = F.cross_entropy(x, tc.tensor(target), w, ignore_index=ignore_index,
                           reduction=reduction, label_smoothing=smoothing)
    theirs = torch.nn.functional.cross_entropy(xt, torch.tensor(target), wt,
                                               ignore_index=ignore_index, reduction=reduction,
                                               label_smoothing=smoothing)
    assert_same_value_and_gradients(ours, theirs, [(x, xt)])


@pytest.mark.parametrize("layout, use_weight, ignore_index, reduction", CLASS_GRID)
def test_nll_loss_matches_pytorch(torch, layout, use_weight, ignore_index, reduction):
    scores, target = classification_case(layout, ignore_index=ignore_index)
    x = tc.tensor(scores, requires_grad=True)
    xt = torch.tensor(scores, requires_grad=True)
    w, wt = (tc.tensor(CLASS_WEIGHT), torch.tensor(CLASS_WEIGHT)) if use_weight else (None, None)
    ours = F.nll_loss(x, tc.tensor(target), w, ignore_index=ignore_index, reduction=reduction)
    theirs = torch.nn.functional.nll_loss(xt, torch.tensor(target), wt,
                                          ignore_index=ignore_index, reduction=reduction)
    assert_same_value_and_gradients(ours, theirs, [(x, xt)])


@pytest.mark.parametrize("layout, use_weight, reduction", list(itertools.product(
    ["batch", "spatial", "unbatched"], [False, True], REDUCTIONS)))
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_with_probabilities_matches_pytorch(torch, layout, use_weight, reduction,
                                                          smoothing):
    scores, _ = classification_case(layout)
    rng = np.random.default_rng(7)
    probs = np.moveaxis(rng.dirichlet(np.ones(4), size=np.moveaxis(scores, 0 if layout ==
                        "unbatched" else 1, -1).shape[:-1]), -1, 0 if layout == "unbatched"
                        else 1)
    x, p = tc.tensor(scores, requires_grad=True), tc.tensor(probs, requires_grad=True)
    xt, pt = torch.tensor(scores, requires_grad=True), torch.tensor(probs, requires_grad=True)
    w, wt = (tc.tensor(CLASS_WEIGHT), torch.tensor(CLASS_WEIGHT)) if use_weight else (None, None)
    ours = F.cross_entropy(x, p, w, reduction=reduction, label_smoothing=smoothing)
    theirs = torch.nn.functional.cross_entropy(xt, pt, wt, reduction=reduction,
                                               label_smoothing=smoothing)
    assert_same_value_and_gradients(ours, theirs, [(x, xt), (p, pt)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_pytorch(torch, reduction):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    x, y = tc.tensor(a, requires_grad=True), tc.tensor(b, requires_grad=True)
    xt, yt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    assert_same_value_and_gradients(F.mse_loss(x, y, reduction=reduction),
                                    torch.nn.functional.mse_loss(xt, yt, reduction=reduction),
                                    [(x, xt), (y, yt)])


@pytest.mark.parametrize("use_weight, reduction", list(itertools.product([False, True],
                                                                         REDUCTIONS)))
def test_binary_cross_entropy_matches_pytorch(torch, use_weight, reduction):
    rng = np.random.default_rng(6)
    probs = rng.uniform(0, 1, (3, 4))
    probs[0, :2] = [0.0, 1.0]  # the clamped logs and the bounded gradient denominator
    targets = rng.uniform(0, 1, (3, 4))
    weight = rng.uniform(0.5, 2, (4,))
    p, t = tc.tensor(probs, requires_grad=True), tc.tensor(targets)
    pt, tt = torch.tensor(probs, requires_grad=True), torch.tensor(targets)
    w, wt = (tc.tensor(weight), torch.tensor(weight)) if use_weight else (None, None)
    assert_same_value_and_gradients(
        F.binary_cross_entropy(p, t, w, reduction=reduction),
        torch.nn.functional.binary_cross_entropy(pt, tt, wt, reduction=reduction), [(p, pt)])
    # the target's gradient, where PyTorch's (unclamped logs) and ours agree: p inside (0, 1)
    inside = probs[1:]
    p, t = tc.tensor(inside), tc.tensor(targets[1:], requires_grad=True)
    pt, tt = torch.tensor(inside), torch.tensor(targets[1:], requires_grad=True)
    assert_same_value_and_gradients(
        F.binary_cross_entropy(p, t, w, reduction=reduction),
        torch.nn.functional.binary_cross_entropy(pt, tt, wt, reduction=reduction), [(t, tt)])


@pytest.mark.parametrize("use_weight, use_pos_weight, reduction", list(itertools.product(
    [False, True], [False, True], REDUCTIONS)))
def test_bce_with_logits_matches_pytorch(torch, use_weight, use_pos_weight, reduction):
    rng = np.random.default_rng(8)
    logits = rng.uniform(-5, 5, (3, 4))
    logits[0] = [0.0, 40.0, -40.0, 1e-3]  # a zero logit and saturated ones
    targets = rng.uniform(0, 1, (3, 4))
    weight, pos_weight = rng.uniform(0.5, 2, (3, 1)), rng.uniform(0.5, 3, (4,))
    x, t = tc.tensor(logits, requires_grad=True), tc.tensor(targets, requires_grad=True)
    xt, tt = torch.tensor(logits, requires_grad=True), torch.tensor(targets, requires_grad=True)
    w, wt = (tc.tensor(weight), torch.tensor(weight)) if use_weight else (None, None)
    q, qt = (tc.tensor(pos_weight), torch.tensor(pos_weight)) if use_pos_weight else (None, None)
    assert_same_value_and_gradients(
        F.binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=q),
        torch.nn.functional.binary_cross_entropy_with_logits(xt, tt, wt, reduction=reduction,
                                                             pos_weight=qt),
        [(x, xt), (t, tt)])
