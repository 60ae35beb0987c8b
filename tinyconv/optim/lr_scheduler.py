"""Learning-rate schedulers (PyTorch's ``torch.optim.lr_scheduler``).

A scheduler changes ``group["lr"]`` in its optimizer's parameter groups. Call ``scheduler.step()``
once per epoch, after the epoch's ``optimizer.step()`` calls::

    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(...)
        scheduler.step()          # lr: 0.1 for epochs 0-29, 0.01 for 30-59, ...

Epoch-based schedulers (:class:`StepLR`, :class:`CosineAnnealingLR`) count epochs in
``last_epoch``. At construction they record each group's starting learning rate as
``group["initial_lr"]`` (kept in ``base_lrs``) and take a first step to epoch 0, as PyTorch does.
:class:`ReduceLROnPlateau` instead watches a metric passed to ``step(metric)``.
"""

from __future__ import annotations

import math

from tinyconv.nn.functional._args import check_int, check_number
from tinyconv.optim.optimizer import Optimizer


def _check_optimizer(optimizer: object) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer; pass the optimizer "
                        f"whose learning rate should be scheduled")


class LRScheduler:
    """Base class of the epoch-based schedulers: subclasses implement ``get_lr()``, the learning
    rate of every parameter group at epoch ``self.last_epoch``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        _check_optimizer(optimizer)
        check_int(type(self).__name__, "last_epoch", last_epoch, minimum=-1)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:  # resuming: the optimizer's groups must already know where they started
            for index, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{index}] "
                                   f"when resuming an optimizer (last_epoch={last_epoch})")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()  # move to epoch last_epoch + 1 (epoch 0 for a fresh scheduler)

    def get_lr(self) -> list[float]:
        """The learning rate of every parameter group at epoch ``self.last_epoch``."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_lr")

    def step(self) -> None:
        """Advance one epoch and write the new learning rates into the optimizer."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()`` (one per parameter group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Everything but the optimizer (save the optimizer's own ``state_dict`` beside it)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs::

        lr(epoch) = base_lr · gamma ** (epoch // step_size)

    Like PyTorch, it multiplies the *current* ``group["lr"]`` by ``gamma`` at each multiple of
    ``step_size``, so a learning rate changed by hand stays changed.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        if not isinstance(step_size, int) or isinstance(step_size, bool) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive int (epochs between decays), "
                             f"got {step_size!r}")
        check_number("StepLR", "gamma", gamma, low=0, low_open=True)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class CosineAnnealingLR(LRScheduler):
    r"""Follow half a cosine from the base learning rate down to ``eta_min`` over ``T_max``
    epochs::

        lr(epoch) = eta_min + (base_lr − eta_min) · (1 + cos(π · epoch / T_max)) / 2

    After ``T_max`` epochs the cosine keeps going, so the rate climbs back up (period 2·T_max),
    as in PyTorch. (PyTorch computes the same values recursively from the previous rate; this
    closed form gives them up to float rounding.)
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        if not isinstance(T_max, int) or isinstance(T_max, bool) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive int (epochs of the "
                             f"half cosine), got {T_max!r}")
        check_number("CosineAnnealingLR", "eta_min", eta_min, low=0)
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        progress = math.pi * self.last_epoch / self.T_max
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(progress)) / 2
                for base_lr in self.base_lrs]


class ReduceLROnPlateau:
    """Multiply the learning rate by ``factor`` when a metric has stopped improving.

    Call ``scheduler.step(metric)`` after each evaluation (validation loss with ``mode="min"``,
    accuracy with ``mode="max"``). The metric *improves* when it beats the best value so far by
    more than ``threshold``: relatively (``best · (1 − threshold)`` in min mode, ``best · (1 +
    threshold)`` in max mode) or absolutely (``best ∓ threshold``). After more than ``patience``
    epochs without improvement, each group's rate becomes ``max(lr · factor, min_lr)`` (changes
    smaller than ``eps`` are skipped), then ``cooldown`` epochs pass before counting bad epochs
    again.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | list[float] = 0, eps: float = 1e-8):
        _check_optimizer(optimizer)
        name = "ReduceLROnPlateau"
        if isinstance(factor, (int, float)) and factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")  # PyTorch's message
        check_number(name, "factor", factor, low=0, high=1, high_open=True)
        check_int(name, "patience", patience, minimum=0)
        check_int(name, "cooldown", cooldown, minimum=0)
        check_number(name, "threshold", threshold, low=0)
        check_number(name, "eps", eps, low=0)
        for index, value in enumerate(min_lr if isinstance(min_lr, (list, tuple)) else [min_lr]):
            check_number(name, "min_lr" if not isinstance(min_lr, (list, tuple))
                         else f"min_lr[{index}]", value, low=0)
        if mode not in ("min", "max"):
            raise ValueError(f"mode {mode} is unknown! (expected 'min' or 'max')")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {threshold_mode} is unknown! "
                             f"(expected 'rel' or 'abs')")
        self.optimizer = optimizer
        self.factor = factor
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs, "
                                 f"got {len(min_lr)}")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self._reset()

    def _reset(self) -> None:
        """Forget the best value and the counters."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` by more than the threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return current < best * (1 - self.threshold)
        if self.mode == "min":
            return current < best - self.threshold
        if self.threshold_mode == "rel":
            return current > best * (1 + self.threshold)
        return current > best + self.threshold

    def step(self, metrics: float) -> None:
        """Record this epoch's metric and reduce the learning rates if it has plateaued."""
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: metrics must be a number (e.g. the "
                            f"validation loss), got {metrics!r}") from None
        self.last_epoch += 1

        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1

        if self.in_cooldown:  # just reduced: give the new rate time before judging it
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0

        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def get_last_lr(self) -> list[float]:
        """The learning rates after the last ``step()`` (one per parameter group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)
