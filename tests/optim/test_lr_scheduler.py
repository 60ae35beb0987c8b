"""Tests of tc.optim.lr_scheduler: the LR sequences against PyTorch's schedulers, and
hand-computed sequences that need no torch."""

import math

import numpy as np
import pytest

import tinyconv as tc
from tinyconv.optim.lr_scheduler import CosineAnnealingLR, ReduceLROnPlateau, StepLR

EPOCHS = 25
GROUP_LRS = (0.1, 0.03)  # two parameter groups with their own learning rates


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is the reference for these comparisons "
                                               "(not a tinyconv dependency)")


def tc_optimizer(group_lrs=GROUP_LRS):
    return tc.optim.SGD([{"params": [tc.nn.Parameter(tc.zeros(2))], "lr": lr}
                         for lr in group_lrs], lr=1.0)


def torch_optimizer(torch, group_lrs=GROUP_LRS):
    return torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)], "lr": lr}
                            for lr in group_lrs], lr=1.0)


def lr_sequence(optimizer, scheduler, epochs=EPOCHS, metrics=None):
    """The learning rates of every group at construction and after each ``scheduler.step``."""
    sequence = [[group["lr"] for group in optimizer.param_groups]]
    for epoch in range(epochs):
        optimizer.step()  # PyTorch expects optimizer.step() before scheduler.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[epoch])
        sequence.append([group["lr"] for group in optimizer.param_groups])
        assert scheduler.get_last_lr() == sequence[-1]
    return np.array(sequence)


# -- against PyTorch ------------------------------------------------------------------------------

@pytest.mark.parametrize("step_size", [1, 3, 7])
@pytest.mark.parametrize("gamma", [0.1, 0.5])
def test_step_lr_matches_torch(torch, step_size, gamma):
    ours_optimizer, theirs_optimizer = tc_optimizer(), torch_optimizer(torch)
    ours = lr_sequence(ours_optimizer, StepLR(ours_optimizer, step_size, gamma))
    theirs = lr_sequence(theirs_optimizer,
                         torch.optim.lr_scheduler.StepLR(theirs_optimizer, step_size, gamma))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("T_max", [1, 4, 10])
@pytest.mark.parametrize("eta_min", [0.0, 0.005])
def test_cosine_annealing_matches_torch_including_after_t_max(torch, T_max, eta_min):
    ours_optimizer, theirs_optimizer = tc_optimizer(), torch_optimizer(torch)
    ours = lr_sequence(ours_optimizer, CosineAnnealingLR(ours_optimizer, T_max, eta_min))
    theirs = lr_sequence(theirs_optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(
        theirs_optimizer, T_max, eta_min))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


PLATEAU_METRICS = [5.0, 4.0, 4.0, 3.9999, 4.2, 4.1, 3.0, 3.0, 3.0, 3.0, 3.0, 2.9, 3.5, 3.5,
                   1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.99995, 1.0, 1.0, 1.0, 1.0,
                   1.0, 1.0, 1.0, 1.0, 1.0]
PLATEAU_OPTIONS = [
    dict(),
    dict(patience=1),
    dict(patience=0, factor=0.5, cooldown=2),
    dict(patience=1, threshold=0.1, threshold_mode="abs"),
    dict(patience=1, threshold=0.0, threshold_mode="rel"),
    dict(patience=1, min_lr=0.02),
    dict(patience=0, min_lr=[0.05, 0.001], factor=0.5),
    dict(mode="max", patience=1),
    dict(mode="max", patience=0, threshold=0.5, threshold_mode="abs", cooldown=1),
    dict(patience=0, factor=0.9, eps=0.005),  # the 0.03 group never changes by > eps
]


@pytest.mark.parametrize("options", PLATEAU_OPTIONS, ids=str)
def test_reduce_lr_on_plateau_matches_torch(torch, options):
    ours_optimizer, theirs_optimizer = tc_optimizer(), torch_optimizer(torch)
    ours = lr_sequence(ours_optimizer, ReduceLROnPlateau(ours_optimizer, **options),
                       epochs=len(PLATEAU_METRICS), metrics=PLATEAU_METRICS)
    theirs = lr_sequence(theirs_optimizer, torch.optim.lr_scheduler.ReduceLROnPlateau(
        theirs_optimizer, **options), epochs=len(PLATEAU_METRICS), metrics=PLATEAU_METRICS)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
    assert not np.array_equal(ours[0], ours[-1])  # the schedule did reduce


# -- hand computations ----------------------------------------------------------------------------

def test_step_lr_by_hand():
    optimizer = tc_optimizer((1.0,))
    scheduler = StepLR(optimizer, step_size=3, gamma=0.5)
    assert scheduler.last_epoch == 0
    assert scheduler.base_lrs == [1.0] and optimizer.param_groups[0]["initial_lr"] == 1.0
    expected = [1.0 * 0.5 ** (epoch // 3) for epoch in range(10)]
    np.testing.assert_allclose(lr_sequence(optimizer, scheduler, epochs=9)[:, 0], expected,
                               rtol=1e-15)
    assert scheduler.last_epoch == 9


def test_cosine_annealing_by_hand():
    base_lr, eta_min, T_max = 0.2, 0.01, 8
    optimizer = tc_optimizer((base_lr,))
    lrs = lr_sequence(optimizer, CosineAnnealingLR(optimizer, T_max, eta_min), epochs=16)[:, 0]
    assert lrs[0] == pytest.approx(base_lr)
    assert lrs[T_max // 2] == pytest.approx((base_lr + eta_min) / 2)  # half-way: the mean
    assert lrs[T_max] == pytest.approx(eta_min)
    assert lrs[2 * T_max] == pytest.approx(base_lr)  # the cosine comes back up
    assert np.all(np.diff(lrs[:T_max + 1]) < 0)
    expected_epoch_3 = eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * 3 / T_max)) / 2
    assert lrs[3] == pytest.approx(expected_epoch_3, rel=1e-14)


def test_reduce_lr_on_plateau_by_hand():
    optimizer = tc_optimizer((1.0,))
    scheduler = ReduceLROnPlateau(optimizer, patience=2, factor=0.5, cooldown=1, min_lr=0.2)
    # metric:   improves, then flat. Bad epochs 1, 2, 3 > patience -> halve at epoch 4;
    # one cooldown epoch (5), then bad epochs 6, 7, 8 -> halve at epoch 8; then min_lr = 0.2
    metrics = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    lrs = lr_sequence(optimizer, scheduler, epochs=len(metrics), metrics=metrics)[1:, 0]
    np.testing.assert_allclose(lrs, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25,
                                     0.2])
    assert scheduler.best == 1.0 and scheduler.last_epoch == len(metrics)


def test_reduce_lr_on_plateau_improvements_reset_patience():
    optimizer = tc_optimizer((1.0,))
    scheduler = ReduceLROnPlateau(optimizer, mode="max", patience=1)
    for accuracy in [0.5, 0.4, 0.6, 0.5, 0.7, 0.6]:  # never two bad epochs in a row
        scheduler.step(accuracy)
    assert optimizer.param_groups[0]["lr"] == 1.0
    scheduler.step(0.6)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_reduce_lr_on_plateau_accepts_a_tensor_metric():
    optimizer = tc_optimizer((1.0,))
    scheduler = ReduceLROnPlateau(optimizer, patience=0)
    scheduler.step(tc.tensor(2.0))
    scheduler.step(tc.tensor(3.0))
    assert scheduler.get_last_lr() == [pytest.approx(0.1)]


@pytest.mark.parametrize("make_scheduler", [
    lambda optimizer: StepLR(optimizer, step_size=2, gamma=0.3),
    lambda optimizer: CosineAnnealingLR(optimizer, T_max=5, eta_min=0.001),
], ids=["StepLR", "CosineAnnealingLR"])
def test_epoch_scheduler_state_dict_resumes(make_scheduler):
    optimizer = tc_optimizer()
    scheduler = make_scheduler(optimizer)
    uninterrupted = lr_sequence(optimizer, scheduler, epochs=12)

    optimizer = tc_optimizer()
    scheduler = make_scheduler(optimizer)
    first_half = lr_sequence(optimizer, scheduler, epochs=6)
    saved_optimizer, saved_scheduler = optimizer.state_dict(), scheduler.state_dict()
    assert "optimizer" not in saved_scheduler and saved_scheduler["last_epoch"] == 6

    optimizer = tc_optimizer()  # build both, then load both (the usual checkpoint order)
    scheduler = make_scheduler(optimizer)
    optimizer.load_state_dict(saved_optimizer)
    scheduler.load_state_dict(saved_scheduler)
    second_half = lr_sequence(optimizer, scheduler, epochs=6)
    np.testing.assert_allclose(np.concatenate([first_half, second_half[1:]]), uninterrupted,
                               rtol=1e-15)


def test_plateau_state_dict_resumes():
    metrics = PLATEAU_METRICS
    optimizer = tc_optimizer()
    uninterrupted = lr_sequence(optimizer, ReduceLROnPlateau(optimizer, patience=1),
                                epochs=len(metrics), metrics=metrics)
    optimizer = tc_optimizer()
    scheduler = ReduceLROnPlateau(optimizer, patience=1)
    first_half = lr_sequence(optimizer, scheduler, epochs=10, metrics=metrics[:10])
    saved_optimizer, saved_scheduler = optimizer.state_dict(), scheduler.state_dict()

    optimizer = tc_optimizer()
    optimizer.load_state_dict(saved_optimizer)
    scheduler = ReduceLROnPlateau(optimizer, patience=50)  # settings come from the state dict
    scheduler.load_state_dict(saved_scheduler)
    second_half = lr_sequence(optimizer, scheduler, epochs=len(metrics) - 10,
                              metrics=metrics[10:])
    np.testing.assert_array_equal(np.concatenate([first_half, second_half[1:]]), uninterrupted)


def test_resuming_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(tc_optimizer(), step_size=2, last_epoch=5)


def test_a_second_scheduler_keeps_the_recorded_initial_lr():
    optimizer = tc_optimizer((1.0,))
    first = StepLR(optimizer, step_size=1, gamma=0.5)
    first.step()
    second = CosineAnnealingLR(optimizer, T_max=10)
    assert second.base_lrs == [1.0]


@pytest.mark.parametrize("make_scheduler, message", [
    (lambda optimizer: StepLR(optimizer, step_size=0), "step_size must be a positive int"),
    (lambda optimizer: CosineAnnealingLR(optimizer, T_max=0), "T_max must be a positive int"),
    (lambda optimizer: ReduceLROnPlateau(optimizer, factor=1.0), "Factor should be < 1.0"),
    (lambda optimizer: ReduceLROnPlateau(optimizer, mode="lowest"), "mode lowest is unknown"),
    (lambda optimizer: ReduceLROnPlateau(optimizer, threshold_mode="x"), "threshold mode x"),
    (lambda optimizer: ReduceLROnPlateau(optimizer, min_lr=[0.1]), "expected 2 min_lrs, got 1"),
])
def test_scheduler_validation(make_scheduler, message):
    with pytest.raises(ValueError, match=message):
        make_scheduler(tc_optimizer())


def test_scheduler_needs_an_optimizer():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        StepLR([0.1], step_size=1)
