"""Tests of tc.optim's optimizers.

Two independent oracles:

- PyTorch (when installed): the same loss, the same starting point, 20 steps of tinyconv's and
  torch's optimizer, over a grid of every option; the float64 trajectories must agree to ~1e-10.
- Hand computations from the update formulas, which need no torch: each would fail on its own
  if a rule were wrong (missing bias correction, coupled instead of decoupled decay...).
"""

import itertools
import math

import numpy as np
import pytest

import tinyconv as tc

STEPS = 20
OPTIMIZER_NAMES = ["SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "RMSprop"]

RNG = np.random.default_rng(1234)
INPUTS = RNG.standard_normal((6, 4))
TARGETS = RNG.standard_normal(6)
CURVATURE = np.array([1.0, 3.0, 0.5])
START_WEIGHT = RNG.standard_normal(4)
START_BIAS = RNG.standard_normal(3)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is the reference for these comparisons "
                                               "(not a tinyconv dependency)")


def least_squares_loss(weight, bias, as_tensor):
    """0.5‖Aw − y‖² + Σ k_i (c_i − 1)² + (Σc)(Σw): a coupled quadratic, written with operators
    only, so it runs on tinyconv and torch tensors alike."""
    residual = as_tensor(INPUTS) @ weight - as_tensor(TARGETS)
    return (0.5 * (residual * residual).sum() + (as_tensor(CURVATURE) * (bias - 1.0) ** 2).sum()
            + bias.sum() * weight.sum())


def tc_parameters():
    return [tc.nn.Parameter(tc.tensor(START_WEIGHT.copy())),
            tc.nn.Parameter(tc.tensor(START_BIAS.copy()))]


def trajectory(optimizer, parameters, as_tensor, steps=STEPS):
    """The parameters after each of ``steps`` optimizer steps on the least-squares loss."""
    weight, bias = parameters
    points = []
    for _ in range(steps):
        optimizer.zero_grad()
        least_squares_loss(weight, bias, as_tensor).backward()
        optimizer.step()
        points.append(np.concatenate([weight.detach().numpy(), bias.detach().numpy()]))
    return np.array(points)


def tc_trajectory(name, options, steps=STEPS):
    parameters = tc_parameters()
    optimizer = getattr(tc.optim, name)(parameters, **options)
    return trajectory(optimizer, parameters, tc.tensor, steps)


def torch_trajectory(torch, name, options, steps=STEPS):
    parameters = [torch.tensor(START_WEIGHT.copy(), requires_grad=True),
                  torch.tensor(START_BIAS.copy(), requires_grad=True)]
    optimizer = getattr(torch.optim, name)(parameters, **options)
    return trajectory(optimizer, parameters, torch.tensor, steps)


def option_grid(**choices):
    """Every combination of the given option values, as a list of keyword dicts."""
    names = list(choices)
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*choices.values())]


def sgd_options_are_valid(options):
    return not options["nesterov"] or (options["momentum"] > 0 and options["dampening"] == 0)


OPTION_GRIDS = {
    "SGD": [options for options in option_grid(
        lr=[0.02], momentum=[0.0, 0.9], dampening=[0.0, 0.4], nesterov=[False, True],
        weight_decay=[0.0, 0.1], maximize=[False, True]) if sgd_options_are_valid(options)],
    "Adam": option_grid(lr=[0.05], betas=[(0.9, 0.999), (0.5, 0.9)], weight_decay=[0.0, 0.1],
                        amsgrad=[False, True], maximize=[False, True]),
    "AdamW": option_grid(lr=[0.05], betas=[(0.9, 0.999), (0.5, 0.9)], weight_decay=[0.0, 0.3],
                         amsgrad=[False, True], maximize=[False, True]),
    "Adagrad": option_grid(lr=[0.1], lr_decay=[0.0, 0.05], weight_decay=[0.0, 0.1],
                           initial_accumulator_value=[0.0, 0.3], maximize=[False, True]),
    "Adadelta": option_grid(lr=[1.0, 0.5], rho=[0.9, 0.5], weight_decay=[0.0, 0.1],
                            maximize=[False, True]),
    "RMSprop": option_grid(lr=[0.01], alpha=[0.99, 0.9], weight_decay=[0.0, 0.1],
                           momentum=[0.0, 0.6], centered=[False, True], maximize=[False, True]),
}


def case_id(name, options):
    return name + "".join(f"-{key}={value}" for key, value in options.items())


GRID_CASES = [pytest.param(name, options, id=case_id(name, options))
              for name, grid in OPTION_GRIDS.items() for options in grid]


# -- against PyTorch ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, options", GRID_CASES)
def test_trajectory_matches_torch(torch, name, options):
    ours = tc_trajectory(name, options)
    theirs = torch_trajectory(torch, name, options)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)
    assert not np.allclose(ours[-1], ours[0])  # the parameters did move


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_defaults_match_torch(torch, name):
    np.testing.assert_allclose(tc_trajectory(name, {}), torch_trajectory(torch, name, {}),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_param_groups_with_their_own_settings_match_torch(torch, name):
    def groups(weight, bias):
        return [{"params": [weight], "lr": 0.2, "weight_decay": 0.05}, {"params": [bias]}]

    ours_params = tc_parameters()
    ours = trajectory(getattr(tc.optim, name)(groups(*ours_params), lr=0.03), ours_params,
                      tc.tensor)
    theirs_params = [torch.tensor(START_WEIGHT.copy(), requires_grad=True),
                     torch.tensor(START_BIAS.copy(), requires_grad=True)]
    theirs = trajectory(getattr(torch.optim, name)(groups(*theirs_params), lr=0.03),
                        theirs_params, torch.tensor)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


# -- hand computations: SGD -----------------------------------------------------------------------

def set_gradient(param, values):
    param.grad = tc.tensor(np.asarray(values, dtype=param.dtype), device=param.device)


def test_sgd_plain_step_is_theta_minus_lr_times_grad():
    param = tc.nn.Parameter(tc.tensor([1.0, -2.0, 3.0], dtype=tc.float64))
    optimizer = tc.optim.SGD([param], lr=0.1)
    set_gradient(param, [0.5, 1.0, -2.0])
    optimizer.step()
    np.testing.assert_allclose(param.detach().numpy(), [0.95, -2.1, 3.2], rtol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_two_steps_by_hand(nesterov):
    lr, mu, tau = 0.1, 0.9, 0.0 if nesterov else 0.25
    theta0 = np.array([1.0, -2.0])
    g1, g2 = np.array([0.5, 1.0]), np.array([-1.0, 3.0])
    param = tc.nn.Parameter(tc.tensor(theta0.copy()))
    optimizer = tc.optim.SGD([param], lr=lr, momentum=mu, dampening=tau, nesterov=nesterov)

    set_gradient(param, g1)
    optimizer.step()
    b1 = g1                                          # the first buffer is the gradient itself
    theta1 = theta0 - lr * (g1 + mu * b1 if nesterov else b1)
    np.testing.assert_allclose(param.detach().numpy(), theta1, rtol=1e-15)

    set_gradient(param, g2)
    optimizer.step()
    b2 = mu * b1 + (1 - tau) * g2
    theta2 = theta1 - lr * (g2 + mu * b2 if nesterov else b2)
    np.testing.assert_allclose(param.detach().numpy(), theta2, rtol=1e-15)
    np.testing.assert_allclose(optimizer.state[param]["momentum_buffer"], b2, rtol=1e-15)


def test_sgd_weight_decay_adds_lambda_theta_and_maximize_flips_the_gradient():
    theta0, grad = np.array([2.0, -1.0]), np.array([0.5, 0.5])
    param = tc.nn.Parameter(tc.tensor(theta0.copy()))
    optimizer = tc.optim.SGD([param], lr=0.1, weight_decay=0.2, maximize=True)
    set_gradient(param, grad)
    optimizer.step()
    np.testing.assert_allclose(param.detach().numpy(), theta0 - 0.1 * (-grad + 0.2 * theta0),
                               rtol=1e-15)


# -- hand computations: Adam and AdamW ------------------------------------------------------------

@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_first_step_moves_each_parameter_by_lr_times_sign_of_grad(name, amsgrad):
    theta0 = np.array([1.0, -2.0, 0.5, 3.0])
    grad = np.array([1e-3, -50.0, 2.0, -0.02])  # very different magnitudes
    param = tc.nn.Parameter(tc.tensor(theta0.copy()))
    optimizer = getattr(tc.optim, name)([param], lr=0.01, amsgrad=amsgrad, weight_decay=0.0)
    set_gradient(param, grad)
    optimizer.step()
    np.testing.assert_allclose(param.detach().numpy() - theta0, -0.01 * np.sign(grad),
                               rtol=1e-4)


def test_adam_with_a_constant_gradient_moves_lr_every_step():
    """With g constant, the bias-corrected moments are exactly m̂ = g and v̂ = g² at every step;
    without the corrections the steps would start near lr·(1−β₁)/√(1−β₂) ≈ 3.2·lr."""
    theta0, grad = np.array([0.0, 0.0]), np.array([0.3, -4.0])
    param = tc.nn.Parameter(tc.tensor(theta0.copy()))
    optimizer = tc.optim.Adam([param], lr=0.05)
    for step in range(1, 6):
        set_gradient(param, grad)
        optimizer.step()
        np.testing.assert_allclose(param.detach().numpy(), -0.05 * step * np.sign(grad),
                                   rtol=1e-6)
    assert optimizer.state[param]["step"] == 5


def test_adamw_decays_weights_directly_and_adam_through_the_gradient():
    """With a zero loss gradient, AdamW only shrinks: θ ← θ(1 − γλ). Adam's L2 term λθ instead
    becomes the gradient, so its first step is γ·sign(θ), whatever λ is."""
    theta0, lr, decay = np.array([2.0, -0.5]), 0.1, 0.01
    decoupled = tc.nn.Parameter(tc.tensor(theta0.copy()))
    coupled = tc.nn.Parameter(tc.tensor(theta0.copy()))
    adamw = tc.optim.AdamW([decoupled], lr=lr, weight_decay=decay)
    adam = tc.optim.Adam([coupled], lr=lr, weight_decay=decay)
    for step in range(1, 4):
        set_gradient(decoupled, [0.0, 0.0])
        adamw.step()
        np.testing.assert_allclose(decoupled.detach().numpy(), theta0 * (1 - lr * decay) ** step,
                                   rtol=1e-15)
    set_gradient(coupled, [0.0, 0.0])
    adam.step()
    np.testing.assert_allclose(coupled.detach().numpy(), theta0 - lr * np.sign(theta0), rtol=1e-6)


def test_amsgrad_keeps_the_largest_second_moment():
    param = tc.nn.Parameter(tc.tensor([0.0], dtype=tc.float64))
    optimizer = tc.optim.Adam([param], lr=0.1, betas=(0.0, 0.5), amsgrad=True)
    for grad in [4.0, 0.1, 0.1]:
        set_gradient(param, [grad])
        optimizer.step()
    state = optimizer.state[param]
    # v: 0.5·16 = 8, then 0.5·8 + 0.5·0.01 = 4.005, then 2.0075; the max stays 8
    np.testing.assert_allclose(state["exp_avg_sq"], [2.0075], rtol=1e-12)
    np.testing.assert_allclose(state["max_exp_avg_sq"], [8.0], rtol=1e-12)


# -- hand computations: Adagrad, Adadelta, RMSprop ------------------------------------------------

def test_adagrad_three_steps_by_hand():
    lr, lr_decay, s0, eps = 0.5, 0.1, 0.25, 1e-10
    grads = [np.array([1.0, -2.0]), np.array([0.5, 0.5]), np.array([-3.0, 1.0])]
    theta = np.array([1.0, 1.0])
    param = tc.nn.Parameter(tc.tensor(theta.copy()))
    optimizer = tc.optim.Adagrad([param], lr=lr, lr_decay=lr_decay,
                                 initial_accumulator_value=s0)
    squared_sum = np.full(2, s0)
    for t, grad in enumerate(grads, start=1):
        set_gradient(param, grad)
        optimizer.step()
        squared_sum = squared_sum + grad ** 2
        theta = theta - lr / (1 + (t - 1) * lr_decay) * grad / (np.sqrt(squared_sum) + eps)
        np.testing.assert_allclose(param.detach().numpy(), theta, rtol=1e-14)


def test_adadelta_first_step_is_sqrt_eps_over_rms_of_gradient():
    rho, eps, lr = 0.9, 1e-6, 1.0
    grad = np.array([2.0, -0.01])
    param = tc.nn.Parameter(tc.tensor([0.0, 0.0], dtype=tc.float64))
    optimizer = tc.optim.Adadelta([param], lr=lr, rho=rho, eps=eps)
    set_gradient(param, grad)
    optimizer.step()
    square_avg = (1 - rho) * grad ** 2
    delta = np.sqrt(eps) / np.sqrt(square_avg + eps) * grad
    np.testing.assert_allclose(param.detach().numpy(), -lr * delta, rtol=1e-14)
    np.testing.assert_allclose(optimizer.state[param]["acc_delta"], (1 - rho) * delta ** 2,
                               rtol=1e-14)


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_first_step_by_hand(centered):
    """First step: v = (1−α)g²; centered subtracts ḡ² = (1−α)²g², leaving α(1−α)g²."""
    lr, alpha = 0.01, 0.99
    grad = np.array([3.0, -0.2])
    param = tc.nn.Parameter(tc.tensor([0.0, 0.0], dtype=tc.float64))
    optimizer = tc.optim.RMSprop([param], lr=lr, alpha=alpha, centered=centered, eps=0.0)
    set_gradient(param, grad)
    optimizer.step()
    variance_factor = alpha * (1 - alpha) if centered else 1 - alpha
    np.testing.assert_allclose(param.detach().numpy(),
                               -lr * np.sign(grad) / math.sqrt(variance_factor), rtol=1e-12)


def test_rmsprop_momentum_accumulates_scaled_gradients():
    lr, alpha, mu = 0.01, 0.5, 0.9
    grad = np.array([1.0])
    param = tc.nn.Parameter(tc.tensor([0.0], dtype=tc.float64))
    optimizer = tc.optim.RMSprop([param], lr=lr, alpha=alpha, momentum=mu, eps=0.0)
    set_gradient(param, grad)
    optimizer.step()
    set_gradient(param, grad)
    optimizer.step()
    b1 = 1 / math.sqrt(1 - alpha)                               # v₁ = 0.5
    b2 = mu * b1 + 1 / math.sqrt(alpha * (1 - alpha) + (1 - alpha))  # v₂ = 0.25 + 0.5
    np.testing.assert_allclose(param.detach().numpy(), [-lr * b1 - lr * b2], rtol=1e-14)


# -- the Optimizer machinery ----------------------------------------------------------------------

STATEFUL_OPTIONS = {
    "SGD": dict(lr=0.02, momentum=0.9, nesterov=True),
    "Adam": dict(lr=0.05, amsgrad=True),
    "AdamW": dict(lr=0.05),
    "Adagrad": dict(lr=0.1, lr_decay=0.01),
    "Adadelta": dict(rho=0.8),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True),
}


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_state_dict_round_trip_resumes_the_identical_trajectory(name, tmp_path):
    options = STATEFUL_OPTIONS[name]
    uninterrupted = tc_trajectory(name, options, steps=2 * 10)

    parameters = tc_parameters()
    first = getattr(tc.optim, name)(parameters, **options)
    first_half = trajectory(first, parameters, tc.tensor, steps=10)
    tc.save(first.state_dict(), tmp_path / "optimizer.npz")  # through a file, as a checkpoint
    model_state = [p.detach().numpy().copy() for p in parameters]

    resumed_parameters = [tc.nn.Parameter(tc.tensor(array)) for array in model_state]
    resumed = getattr(tc.optim, name)(resumed_parameters, lr=123.0)  # lr comes from the file
    resumed.load_state_dict(tc.load(tmp_path / "optimizer.npz"))
    second_half = trajectory(resumed, resumed_parameters, tc.tensor, steps=10)

    np.testing.assert_array_equal(np.concatenate([first_half, second_half]), uninterrupted)


def test_state_dict_layout_follows_pytorch():
    weight, bias, scale = tc_parameters() + [tc.nn.Parameter(tc.tensor([1.0]))]
    optimizer = tc.optim.Adam([{"params": [weight, bias]}, {"params": [scale], "lr": 0.5}])
    for param in (weight, scale):  # bias gets no gradient, so no state
        set_gradient(param, np.ones(param.shape))
    optimizer.step()
    state_dict = optimizer.state_dict()

    assert set(state_dict) == {"state", "param_groups"}
    assert [group["params"] for group in state_dict["param_groups"]] == [[0, 1], [2]]
    assert state_dict["param_groups"][1]["lr"] == 0.5
    assert state_dict["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(state_dict["state"]) == {0, 2}
    assert set(state_dict["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert state_dict["state"][0]["step"] == 1
    assert isinstance(state_dict["state"][0]["exp_avg"], np.ndarray)
    # a snapshot: later steps do not change it
    saved = state_dict["state"][0]["exp_avg"].copy()
    set_gradient(weight, np.ones(weight.shape))
    optimizer.step()
    np.testing.assert_array_equal(state_dict["state"][0]["exp_avg"], saved)


def test_load_state_dict_restores_hyperparameters_and_casts_state_to_the_parameter():
    source = tc.nn.Parameter(tc.tensor([1.0, 2.0], dtype=tc.float64))
    optimizer = tc.optim.SGD([source], lr=0.3, momentum=0.9)
    set_gradient(source, [1.0, 1.0])
    optimizer.step()

    target = tc.nn.Parameter(tc.tensor([1.0, 2.0], dtype=tc.float32))
    restored = tc.optim.SGD([target], lr=0.01)
    restored.load_state_dict(optimizer.state_dict())
    assert restored.param_groups[0]["lr"] == 0.3
    assert restored.param_groups[0]["momentum"] == 0.9
    assert restored.param_groups[0]["params"][0] is target
    assert restored.state[target]["momentum_buffer"].dtype == np.float32


def test_load_state_dict_rejects_mismatched_groups():
    weight, bias = tc_parameters()
    saved = tc.optim.SGD([weight, bias], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        tc.optim.SGD([{"params": [weight]}, {"params": [bias]}], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        tc.optim.SGD([weight], lr=0.1).load_state_dict(saved)


def test_load_state_dict_rejects_state_of_the_wrong_shape():
    weight, bias = tc_parameters()
    optimizer = tc.optim.Adam([weight, bias])
    set_gradient(weight, np.ones(4))
    optimizer.step()
    other = tc.optim.Adam([tc.nn.Parameter(tc.zeros(5, dtype=tc.float64)), bias])
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(optimizer.state_dict())


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    weight, bias = tc_parameters()
    optimizer = tc.optim.SGD([weight, bias], lr=0.1)
    least_squares_loss(weight, bias, tc.tensor).backward()
    gradient_object = weight.grad
    optimizer.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert weight.grad is None and bias.grad is None
    else:
        assert weight.grad is gradient_object
        np.testing.assert_array_equal(weight.grad.numpy(), np.zeros(4))
        np.testing.assert_array_equal(bias.grad.numpy(), np.zeros(3))


def test_zero_grad_then_step_leaves_parameters_unchanged():
    weight, bias = tc_parameters()
    optimizer = tc.optim.Adam([weight, bias], lr=0.1)
    least_squares_loss(weight, bias, tc.tensor).backward()
    optimizer.zero_grad()
    optimizer.step()
    np.testing.assert_array_equal(weight.detach().numpy(), START_WEIGHT)
    assert optimizer.state == {}


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_parameters_without_grad_are_skipped(name):
    weight, bias = tc_parameters()
    frozen = tc.nn.Parameter(tc.tensor([5.0, 6.0], dtype=tc.float64))
    optimizer = getattr(tc.optim, name)([weight, frozen, bias], **STATEFUL_OPTIONS[name])
    least_squares_loss(weight, bias, tc.tensor).backward()
    optimizer.step()
    np.testing.assert_array_equal(frozen.detach().numpy(), [5.0, 6.0])
    assert frozen not in optimizer.state
    assert not np.array_equal(weight.detach().numpy(), START_WEIGHT)


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_float32_parameters_stay_float32_on_their_device(name, device):
    param = tc.nn.Parameter(tc.tensor([1.0, -2.0], device=device))
    assert param.dtype == np.float32
    optimizer = getattr(tc.optim, name)([param], **STATEFUL_OPTIONS[name])
    for _ in range(3):
        set_gradient(param, [0.5, -0.25])
        optimizer.step()
    assert param.dtype == np.float32 and param.device == device
    arrays = [v for v in optimizer.state[param].values() if getattr(v, "ndim", 0) > 0]
    assert arrays, "every optimizer here keeps at least one state array"
    for value in arrays:
        assert value.dtype == np.float32 and isinstance(value, np.ndarray) == (device == "cpu")


def test_step_with_closure_returns_the_loss_and_uses_its_gradients():
    weight, bias = tc_parameters()
    optimizer = tc.optim.SGD([weight, bias], lr=0.01)

    def closure():
        optimizer.zero_grad()
        loss = least_squares_loss(weight, bias, tc.tensor)
        loss.backward()
        return loss

    with tc.no_grad():  # the closure still records a graph
        loss = optimizer.step(closure)
    assert float(loss) == pytest.approx(float(least_squares_loss(
        tc.tensor(START_WEIGHT), tc.tensor(START_BIAS), tc.tensor)))
    assert not np.array_equal(weight.detach().numpy(), START_WEIGHT)


def test_step_updates_the_parameter_data_in_place():
    weight, bias = tc_parameters()
    optimizer = tc.optim.SGD([weight, bias], lr=0.01, momentum=0.9)
    least_squares_loss(weight, bias, tc.tensor).backward()
    data_before = weight.data
    optimizer.step()
    assert weight.is_leaf and weight.requires_grad
    assert weight.data is data_before  # updated in place


def test_param_groups_get_defaults_and_add_param_group_works():
    weight, bias = tc_parameters()
    optimizer = tc.optim.SGD([{"params": [weight], "lr": 0.5}], lr=0.1, momentum=0.9)
    optimizer.add_param_group({"params": bias, "momentum": 0.0})
    first, second = optimizer.param_groups
    assert first["lr"] == 0.5 and first["momentum"] == 0.9
    assert second["lr"] == 0.1 and second["momentum"] == 0.0 and second["params"] == [bias]

    set_gradient(weight, np.ones(4))
    set_gradient(bias, np.ones(3))
    optimizer.step()
    np.testing.assert_allclose(weight.detach().numpy(), START_WEIGHT - 0.5, rtol=1e-15)
    np.testing.assert_allclose(bias.detach().numpy(), START_BIAS - 0.1, rtol=1e-15)


def test_a_parameter_in_two_groups_is_an_error():
    weight, bias = tc_parameters()
    with pytest.raises(ValueError, match="more than one parameter group"):
        tc.optim.SGD([{"params": [weight, bias]}, {"params": [bias]}], lr=0.1)
    optimizer = tc.optim.SGD([weight], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optimizer.add_param_group({"params": [weight]})
    with pytest.raises(ValueError, match="more than once"):
        tc.optim.SGD([weight, weight], lr=0.1)


def test_bad_params_arguments():
    weight, _ = tc_parameters()
    with pytest.raises(ValueError, match="empty parameter list"):
        tc.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        tc.optim.SGD(weight, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        tc.optim.SGD([weight, np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        tc.optim.SGD([{"params": {weight}}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        tc.optim.SGD([weight * 2], lr=0.1)


@pytest.mark.parametrize("name, options, message", [
    ("SGD", dict(lr=-1), "Invalid learning rate: -1"),
    ("SGD", dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    ("SGD", dict(lr=0.1, weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero damp"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum"),
    ("Adam", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("Adam", dict(eps=-1e-8), "Invalid epsilon value"),
    ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("AdamW", dict(weight_decay=-0.01), "Invalid weight_decay value: -0.01"),
    ("Adagrad", dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    ("Adagrad", dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value value"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
    ("RMSprop", dict(alpha=-0.5), "Invalid alpha value: -0.5"),
    ("RMSprop", dict(momentum=-1), "Invalid momentum value: -1"),
])
def test_invalid_hyperparameters_are_rejected(name, options, message):
    weight, _ = tc_parameters()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        getattr(tc.optim, name)([weight], **options)


def test_invalid_hyperparameters_in_a_group_are_rejected():
    weight, bias = tc_parameters()
    with pytest.raises(ValueError, match="Invalid learning rate: -0.5"):
        tc.optim.Adam([{"params": [weight]}, {"params": [bias], "lr": -0.5}])


def test_repr_lists_the_groups():
    weight, _ = tc_parameters()
    text = repr(tc.optim.SGD([weight], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text
