"""``Optimizer``: the base class of every optimizer (PyTorch's ``torch.optim.Optimizer``).

An optimizer holds

- ``param_groups``: a list of dicts, each with the key ``"params"`` (a list of tensors) and the
  hyper-parameters for those tensors (``"lr"``, ``"momentum"``...). Hyper-parameters missing from a
  group are taken from ``defaults``, so ``SGD([{"params": head, "lr": 0.1}, {"params": body}],
  lr=0.01)`` trains the head ten times faster than the body;
- ``state``: a dict from each parameter to that parameter's running quantities (a momentum buffer,
  Adam's moment estimates...), created the first time the parameter is updated.

``step()`` walks over every parameter that has a gradient and calls the subclass's
``_update_parameter(param, grad, state, group)``, where the update rule is written out as maths on
plain arrays. Parameters whose ``.grad`` is None (unused in the loss, or frozen) are skipped.

``state_dict()`` follows PyTorch's layout: parameters are referred to by their position (counting
through the groups in order), and the state arrays are NumPy arrays::

    {"state": {0: {"step": 3, "exp_avg": ndarray, ...}, 1: {...}},
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1]}]}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from tinyconv.autograd import enable_grad, no_grad
from tinyconv.backend import to_host
from tinyconv.dtypes import is_floating_dtype
from tinyconv.nn.functional._args import check_number
from tinyconv.tensor import Tensor

ParamsArgument = Iterable[Tensor] | Iterable[dict]

# hyper-parameters that must be finite real numbers, in any optimizer that has them
_NUMERIC_HYPERPARAMETERS = frozenset({"lr", "momentum", "dampening", "weight_decay", "eps",
                                      "alpha", "rho", "lr_decay", "initial_accumulator_value"})


class Optimizer:
    """Base class: keeps the parameter groups and per-parameter state; subclasses write the rule.

    Subclasses implement ``_update_parameter(param, grad, state, group)`` and may override
    ``_check_hyperparameters(settings)`` to reject bad values (it runs on the defaults and on every
    parameter group, including groups added later with ``add_param_group``).
    """

    def __init__(self, params: ParamsArgument, defaults: dict):
        self.defaults = dict(defaults)
        self._check_numbers(self.defaults)
        self._check_hyperparameters(self.defaults)
        self.state: dict = {}  # parameter -> dict of its running quantities
        self.param_groups: list[dict] = []

        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a single Tensor (wrap it in a list: "
                            "[tensor])")
        if isinstance(params, dict):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a dict (wrap one group in a list: "
                            "[{'params': ...}])")
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or "
                            f"dicts (e.g. model.parameters()), got {type(params).__name__}"
                            ) from None
        if len(groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for index, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {index}")
            for key in sorted(key for key in group if key != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)

    # -- parameter groups -------------------------------------------------------------------
    def _check_hyperparameters(self, settings: dict) -> None:
        """Raise ValueError for a bad hyper-parameter value (subclasses override)."""

    def _check_numbers(self, settings: dict) -> None:
        """Every numeric hyper-parameter is a finite real number (``betas`` a pair of them),
        before the subclass checks its range: ``lr=inf`` or ``lr="0.1"`` would otherwise fail
        far from the mistake, or silently train on NaN."""
        name = type(self).__name__
        for key in _NUMERIC_HYPERPARAMETERS.intersection(settings):
            check_number(name, key, settings[key])
        if "betas" in settings:
            betas = settings["betas"]
            if not isinstance(betas, (tuple, list)) or len(betas) != 2:
                raise TypeError(f"{name}: betas must be a pair of numbers in [0, 1), got "
                                f"{betas!r}")
            for index, beta in enumerate(betas):  # the range is the subclass's check
                check_number(name, f"betas[{index}]", beta)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones come from the
        optimizer's defaults). Useful to unfreeze layers while training, as in fine-tuning."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' key with the tensors to optimize")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs; "
                            "use a list instead")
        else:
            params = list(params)

        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(param).__name__}")
            if not param.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (one computed from others); "
                                 "optimize the leaf tensors it was computed from, or .detach() "
                                 "it and call .requires_grad_()")
            if not is_floating_dtype(param.dtype):
                raise TypeError(f"optimizer can only optimize floating-point tensors, but one of "
                                f"the params has dtype {param.dtype}")

        ids_in_group = [id(param) for param in params]
        if len(set(ids_in_group)) != len(ids_in_group):
            raise ValueError("a parameter group contains the same parameter more than once; "
                             "each parameter must appear exactly once")
        ids_already_present = {id(param) for group in self.param_groups
                               for param in group["params"]}
        if ids_already_present.intersection(ids_in_group):
            raise ValueError("some parameters appear in more than one parameter group")

        group = {key: value for key, value in param_group.items() if key != "params"}
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        self._check_numbers(group)
        self._check_hyperparameters(group)
        group["params"] = params
        self.param_groups.append(group)

    # -- the training-loop API --------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of the last backward pass (they accumulate otherwise).

        ``set_to_none=True`` (the default, as in PyTorch) sets ``p.grad = None``, so the parameter
        is skipped by ``step`` until a new backward gives it a gradient; ``False`` fills the
        existing gradient with zeros instead.
        """
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if set_to_none:
                    param.grad = None
                else:
                    param.grad.data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, once; returns ``closure()`` if given.

        ``closure`` re-evaluates the model and returns the loss (it should call ``zero_grad``
        and ``backward`` itself); it runs with gradient recording enabled.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for index, param in enumerate(group["params"]):
                    if param.grad is None:
                        continue
                    grad = param.grad.data
                    if tuple(grad.shape) != param.shape:
                        raise RuntimeError(
                            f"{type(self).__name__}.step: parameter {index} of its group has "
                            f"shape {param.shape} but its gradient has shape "
                            f"{tuple(grad.shape)}; they must be equal")
                    state = self.state.setdefault(param, {})
                    self._update_parameter(param, grad, state, group)
        return loss

    def _update_parameter(self, param: Tensor, grad: Any, state: dict, group: dict) -> None:
        """Apply one update to ``param.data`` in place. ``grad`` is the gradient array,
        ``state`` this parameter's running quantities (empty on the first update), ``group``
        its hyper-parameters."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update_parameter")

    # -- saving and resuming ----------------------------------------------------------------
    def state_dict(self) -> dict:
        """The optimizer's state in PyTorch's layout (see the module docstring); arrays are
        NumPy copies, so the result can be saved with ``tc.save`` and does not change as
        training continues."""
        index_of: dict[int, int] = {}
        packed_groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = []
            for param in group["params"]:
                index_of.setdefault(id(param), len(index_of))
                packed["params"].append(index_of[id(param)])
            packed_groups.append(packed)

        packed_state = {}
        for param, param_state in self.state.items():
            if id(param) not in index_of:  # state of a parameter no longer optimized
                continue
            packed_state[index_of[id(param)]] = {
                key: _host_copy(value) for key, value in param_state.items()}
        return {"state": packed_state, "param_groups": packed_groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned (for an optimizer built over the same
        parameters, in the same groups). Hyper-parameters come from the saved groups; arrays are
        copied onto each parameter's device with its dtype."""
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            keys = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict)
            raise ValueError(f"load_state_dict: expected a dict with the keys 'state' and "
                             f"'param_groups' (from Optimizer.state_dict()), got {keys}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)}) than the optimizer "
                             f"({len(self.param_groups)})")
        for index, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"loaded state dict contains a parameter group that doesn't "
                                 f"match the size of optimizer's group: group {index} has "
                                 f"{len(saved['params'])} parameters in the state dict but "
                                 f"{len(group['params'])} in the optimizer")

        param_of_index = {}
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            for saved_index, param in zip(saved["params"], group["params"], strict=True):
                param_of_index[saved_index] = param

        new_state: dict = {}
        for saved_index, saved_param_state in state_dict["state"].items():
            if saved_index not in param_of_index:
                raise ValueError(f"load_state_dict: the state refers to parameter "
                                 f"{saved_index}, which is in no saved parameter group")
            param = param_of_index[saved_index]
            new_state[param] = {key: _to_parameter_device(value, param, key)
                                for key, value in saved_param_state.items()}

        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            restored = {key: value for key, value in saved.items() if key != "params"}
            restored["params"] = group["params"]
            new_groups.append(restored)

        self.state = new_state
        self.param_groups = new_groups


def _host_copy(value: Any) -> Any:
    """A NumPy copy of an array (CPU or GPU) or a tensor's data; other values unchanged."""
    if isinstance(value, Tensor):
        value = value.data
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return np.array(to_host(value), copy=True)
    return value


def _to_parameter_device(value: Any, param: Tensor, key: str) -> Any:
    """A saved state entry as an array on ``param``'s device (a copy, with ``param``'s dtype
    when floating point, like PyTorch); numbers and None are returned unchanged."""
    if isinstance(value, Tensor):
        value = value.data
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        return value
    array = param.xp.array(to_host(value), copy=True)
    if array.ndim == 0:  # a scalar saved as an array, such as PyTorch's 'step'
        return array.item()
    if tuple(array.shape) != param.shape:
        raise ValueError(f"load_state_dict: state {key!r} has shape {tuple(array.shape)} but "
                         f"its parameter has shape {param.shape}; was the state dict saved "
                         f"for the same model?")
    if is_floating_dtype(array.dtype):
        array = array.astype(param.dtype, copy=False)
    return array
