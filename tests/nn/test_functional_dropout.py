"""dropout and dropout2d: the statistics of inverted dropout, the mask shared by forward and
backward, reproducibility under tc.manual_seed, and errors. (Random masks cannot be compared
with PyTorch's, so the deterministic cases are compared with it at the end.)"""

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.testing import gradcheck


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_zeroes_about_p_and_keeps_the_expected_value(p):
    tc.manual_seed(0)
    n = 200_000
    y = F.dropout(tc.ones(n, dtype=tc.float64), p=p).numpy()
    zero_fraction = (y == 0).mean()
    # binomial standard deviation of the fraction is sqrt(p(1-p)/n) < 0.0012: allow 5 of them
    assert abs(zero_fraction - p) < 0.006
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p))  # survivors are scaled by 1/(1-p)
    assert abs(y.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / n)


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_dropout2d_drops_whole_channels(p):
    tc.manual_seed(1)
    x = tc.rand(40, 50, 3, 4) + 0.5  # no zeros of its own
    y = F.dropout2d(x, p=p).numpy()
    dropped = (y == 0).all(axis=(2, 3))
    kept = (y != 0).all(axis=(2, 3))
    assert (dropped | kept).all()  # each feature map is either gone or whole
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / (1 - p), rtol=1e-6)
    assert abs(dropped.mean() - p) < 0.05


def test_dropout2d_unbatched_input_drops_channels():
    tc.manual_seed(2)
    y = F.dropout2d(tc.ones(200, 2, 2), p=0.5).numpy()
    assert ((y == 0).all(axis=(1, 2)) | (y == 2).all(axis=(1, 2))).all()


@pytest.mark.parametrize("drop", [F.dropout, F.dropout2d])
def test_gradient_uses_the_forward_mask(drop):
    tc.manual_seed(3)
    x = tc.rand(4, 5, 3, 3, dtype=tc.float64, requires_grad=True)
    y = drop(x, p=0.4)
    y.sum().backward()
    # y = x * m, so dy/dx = m = y / x elementwise
    np.testing.assert_allclose(x.grad.numpy(), y.detach().numpy() / x.detach().numpy(),
                               rtol=1e-12)


@pytest.mark.parametrize("drop", [F.dropout, F.dropout2d])
def test_gradcheck_with_a_fixed_mask(drop):
    x = tc.randn(2, 3, 2, 2, dtype=tc.float64, requires_grad=True)

    def with_fixed_mask(x):  # reseeding makes every evaluation draw the same mask
        tc.manual_seed(4)
        return drop(x, p=0.3)

    assert gradcheck(with_fixed_mask, (x,))


@pytest.mark.parametrize("drop", [F.dropout, F.dropout2d])
def test_masks_are_reproducible_with_manual_seed(drop):
    x = tc.randn(3, 4, 5, 5)
    tc.manual_seed(7)
    first = drop(x, 0.5).numpy()
    second = drop(x, 0.5).numpy()
    tc.manual_seed(7)
    again = drop(x, 0.5).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("drop", [F.dropout, F.dropout2d])
def test_eval_mode_and_p_zero_are_the_identity_and_p_one_gives_zeros(drop):
    x = tc.randn(2, 3, 4, 4, requires_grad=True)
    assert drop(x, 0.5, training=False) is x
    assert drop(x, 0.0) is x
    y = drop(x, 1.0)
    assert (y.detach().numpy() == 0).all() and np.isfinite(y.detach().numpy()).all()
    y.sum().backward()
    assert (x.grad.numpy() == 0).all()


def test_dtype_is_kept():
    assert F.dropout(tc.randn(10), 0.5).dtype == tc.float32
    assert F.dropout2d(tc.randn(2, 3, 4, 4, dtype=tc.float64), 0.5).dtype == tc.float64


ERRORS = [
    (lambda: F.dropout(tc.randn(3), p=1.5), ValueError,
     r"dropout: dropout probability has to be between 0 and 1, but got 1.5"),
    (lambda: F.dropout2d(tc.randn(2, 3, 4, 4), p=-0.1), ValueError,
     r"dropout2d: dropout probability has to be between 0 and 1, but got -0.1"),
    (lambda: F.dropout2d(tc.randn(3, 4), p=0.5), ValueError,
     r"dropout2d: expected a 4-D input \(N, C, H, W\) or a 3-D unbatched input"),
    (lambda: F.dropout(tc.tensor([1, 2, 3]), p=0.5), TypeError,
     r"dropout: input must be a floating point tensor, got dtype int64"),
    (lambda: F.dropout(tc.randn(3), 0.5, training="yes"), TypeError,
     r"dropout: training must be True or False"),
]


@pytest.mark.parametrize("fn, error, match", ERRORS)
def test_errors_name_the_op_and_the_problem(fn, error, match):
    with pytest.raises(error, match=match):
        fn()


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is only the reference for these values")


@pytest.mark.parametrize("p, training", [(0.5, False), (0.0, True), (1.0, True)])
def test_deterministic_cases_match_pytorch(torch, p, training):
    values = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    for ours, theirs in ((F.dropout, torch.nn.functional.dropout),
                         (F.dropout2d, torch.nn.functional.dropout2d)):
        np.testing.assert_array_equal(ours(tc.tensor(values), p, training).numpy(),
                                      theirs(torch.tensor(values), p, training).numpy())
