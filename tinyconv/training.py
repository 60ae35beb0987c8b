"""The training loop behind ``tinyconv train``, usable from Python too.

One epoch is the loop every tutorial teaches::

    for images, labels in loader:
        loss = cross_entropy(model(images), labels)   # forward
        optimizer.zero_grad()
        loss.backward()                                # backward: gradients of every parameter
        optimizer.step()                               # update

:func:`fit` adds what a person expects around it: progress bars, per-epoch loss and accuracy,
a checkpoint after every epoch (so Ctrl-C or a crash loses at most one epoch, and ``--resume``
continues exactly where it stopped), and a PNG of the learning curves.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import tinyconv as tc

OPTIMIZERS = {  # name -> (class name in tc.optim, default learning rate)
    "sgd": ("SGD", 0.05),
    "adam": ("Adam", 3e-3),
    "adamw": ("AdamW", 1e-3),
    "rmsprop": ("RMSprop", 1e-3),
    "adagrad": ("Adagrad", 1e-2),
    "adadelta": ("Adadelta", 1.0),
}
DATASETS = ("digits", "mnist", "fashion-mnist", "shapes")
DEVICES = ("cpu", "cuda")
SCHEDULES = ("cosine", "constant")
CHECKPOINT_KEYS = ("model", "optimizer", "config", "epoch", "history", "generator")

# Per model, the optimizer and learning rate it trains with when none is given, where Adam at
# its OPTIMIZERS rate does not learn on the default data set (measured on digits, batch 32: the
# table in the README's training section); every other model: "adam" at OPTIMIZERS' rate.
MODEL_OPTIMIZERS: dict[str, tuple[str, float]] = {"alexnet": ("adam", 1e-4)}
# Per model, builder options for training from scratch on small data: the VGGs without batch
# normalisation stay at chance for the first epoch on digits (Adam 3e-3, SGD 0.01 measured), so
# the CLI builds their batch-normalised variant (the VGG paper itself needed a shallower net to
# initialise the deeper ones).
MODEL_BUILD_OPTIONS: dict[str, dict[str, Any]] = {"vgg11": {"batch_norm": True},
                                                  "vgg16": {"batch_norm": True}}
# Models re-initialised with He (Kaiming) normal weights for ReLU before training: with
# PyTorch's default initialisation AlexNet's activations shrink ~0.6x per layer (std 0.016 after
# conv5 on digits), and it stayed at chance after one epoch with every optimizer tried.
MODEL_HE_INIT = frozenset({"alexnet", "zfnet"})
# What to expect from a model, printed when it is trained (the models slow to start learning).
MODEL_NOTES: dict[str, str] = {
    name: f"{name} starts slowly on small data even with batch normalisation ({acc} test "
          f"accuracy after one epoch on digits, against 92 % for resnet18): train it for more "
          f"epochs (--epochs), or pick resnet18 or mobilenet_v2 for a quick run"
    for name, acc in (("vgg11", "22 %"), ("vgg16", "23 %"))
}
MODEL_NOTES["alexnet"] = ("alexnet (no batch normalisation) barely starts in one epoch on digits "
                          "(15 % test after one epoch at Adam 1e-4; chance at 3e-3, 1e-3 and SGD "
                          "0.01): train it for more epochs (--epochs), or pick resnet18 or "
                          "mobilenet_v2 for a quick run")
# Models whose layers fix the input size (the others adapt: small_input, adaptive pooling): the
# data sets are resized to it. Any other image size is the data set's own (32x32 for digits).
MODEL_IMAGE_SIZES: dict[str, int] = {"zfnet": 224}


def model_builders() -> list[str]:
    """The names in ``tc.models`` that build a whole model: the functions whose first parameter
    is ``num_classes`` (not the classes, blocks or transfer-learning helpers)."""
    names = []
    for name in tc.models.__all__:
        builder = getattr(tc.models, name)
        if inspect.isfunction(builder):
            parameters = list(inspect.signature(builder).parameters)
            if parameters and parameters[0] == "num_classes":
                names.append(name)
    return sorted(names)


@dataclasses.dataclass
class TrainConfig:
    """Everything that decides a training run (saved in every checkpoint)."""

    model: str = "lenet5"
    dataset: str = "digits"
    epochs: int = 10
    batch_size: int = 32
    lr: float | None = None  # None: the model's rate (MODEL_OPTIMIZERS), else the optimizer's
    optimizer: str | None = None  # None: the model's (MODEL_OPTIMIZERS), else "adam"
    device: str = "cpu"
    seed: int = 0
    out: str = "runs/lenet5-digits"
    schedule: str = "cosine"  # learning rate per epoch: "cosine" (anneal to 0) or "constant"
    data_root: str | None = None  # folder with MNIST/Fashion-MNIST IDX files
    progress: bool | None = None  # None: show progress bars only on a terminal

    def __post_init__(self):
        if self.optimizer is None:
            self.optimizer = MODEL_OPTIMIZERS.get(self.model, ("adam", None))[0]

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        optimizer, rate = MODEL_OPTIMIZERS.get(self.model, (None, None))
        return rate if optimizer == self.optimizer else OPTIMIZERS[self.optimizer][1]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def check_config(config: TrainConfig) -> None:
    """Every field of ``config`` valid, or a ValueError naming the option (as the command line
    spells it) and what would be valid: before anything is loaded, built or trained."""
    from tinyconv.nn.functional._args import check_int, check_number

    def choice(option: str, value: Any, choices: Sequence[str]) -> None:
        if value not in choices:
            raise ValueError(f"unknown {option} {value!r}; choose from {', '.join(choices)}")

    choice("model", config.model, model_builders())
    choice("dataset", config.dataset, DATASETS)
    choice("optimizer", config.optimizer, list(OPTIMIZERS))
    choice("device", config.device, DEVICES)
    choice("schedule", config.schedule, SCHEDULES)
    for option, value in (("--epochs", config.epochs), ("--batch-size", config.batch_size)):
        try:
            check_int("tinyconv train", option, value, minimum=1)
        except TypeError as error:
            raise ValueError(str(error)) from None
    if config.lr is not None:
        try:  # lr = inf trains on NaN losses; lr = 0 or below never learns
            check_number("tinyconv train", "--lr", config.lr, low=0, low_open=True)
        except TypeError as error:
            raise ValueError(str(error)) from None
    if config.device == "cuda" and not tc.cuda_available():
        raise ValueError("--device cuda: no CUDA GPU is usable here (install tinyconv[gpu] on a "
                         "machine with an NVIDIA GPU, or train with --device cpu)")


def load_datasets(config: TrainConfig):
    """``(train, test, image_shape, class_names)`` for the configured data set.

    ``digits`` are resized to 32×32, the input size of LeNet-5; MNIST-like sets stay 28×28 unless
    the model is LeNet-5, which is padded to 32×32 as in the original paper. A model of
    :data:`MODEL_IMAGE_SIZES` gets its images resized to its size.
    """
    name = config.dataset
    wants_32 = config.model == "lenet5"
    fixed_size = MODEL_IMAGE_SIZES.get(config.model)
    if name == "digits":  # standardised with the training split's mean and std
        # 1,438 training images are few: random shifts of up to 1/16 of the image (edge pixels
        # repeated, i.e. background) show the network each digit in slightly different places
        size = fixed_size or 32
        shift = tc.data.RandomCrop(size, padding=size // 16, padding_mode="edge")
        train = tc.data.digits(train=True, size=size, normalize=True, transform=shift)
        test = tc.data.digits(train=False, size=size, normalize=True)
    elif name in ("mnist", "fashion-mnist"):
        kwargs: dict[str, Any] = {"fashion": name == "fashion-mnist"}
        if config.data_root is not None:
            kwargs.update(root=config.data_root, source="idx")
        elif name == "fashion-mnist":
            raise ValueError("fashion-mnist needs --data-root: a folder with its IDX files "
                             "(nothing on PyPI bundles Fashion-MNIST)")
        train = tc.data.mnist(train=True, **kwargs)
        test = tc.data.mnist(train=False, **kwargs)
        if wants_32:  # LeNet-5 read 32x32 images: MNIST's 28x28 digits with a 2-pixel border
            train, test = (tc.data.TensorDataset(tc.pad(ds.tensors[0], (2, 2, 2, 2)),
                                                 ds.tensors[1]) for ds in (train, test))
        if fixed_size is not None:
            train, test = (tc.data.TensorDataset(
                tc.tensor(tc.data.transforms.resize(ds.tensors[0].numpy(), fixed_size)),
                ds.tensors[1]) for ds in (train, test))
    elif name == "shapes":
        size = fixed_size or (32 if wants_32 else 28)
        train = tc.data.shapes(train=True, size=size)
        test = tc.data.shapes(train=False, size=size)
    else:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    image_shape = tuple(train[0][0].shape)
    classes = getattr(train, "classes", None) or [str(i) for i in range(_num_classes(train))]
    return train, test, image_shape, classes


def _num_classes(dataset) -> int:
    labels = dataset.tensors[1] if hasattr(dataset, "tensors") else \
        tc.tensor([int(dataset[i][1]) for i in range(len(dataset))])
    return int(labels.max().item()) + 1


def build_model(config: TrainConfig, image_shape: tuple, num_classes: int) -> tc.nn.Module:
    """A model from ``tc.models`` sized for the data (channels, classes, small inputs)."""
    if config.model not in model_builders():
        raise ValueError(f"unknown model {config.model!r}; choose from "
                         f"{', '.join(model_builders())}")
    builder = getattr(tc.models, config.model)
    channels, height, _ = image_shape
    kwargs: dict[str, Any] = {"num_classes": num_classes, "in_channels": channels}
    parameters = inspect.signature(builder).parameters
    if "small_input" in parameters:  # the ImageNet-sized models with a CIFAR-sized variant
        kwargs["small_input"] = True
    if "input_size" in parameters:  # built for one size: the data's (an int if it takes one)
        default = parameters["input_size"].default
        kwargs["input_size"] = height if isinstance(default, int) else tuple(image_shape[1:])
    kwargs.update(MODEL_BUILD_OPTIONS.get(config.model, {}))
    model = builder(**kwargs)
    if config.model in MODEL_HE_INIT:
        from tinyconv.models._init import init_relu_network_

        init_relu_network_(model, conv_mode="fan_in")
    return model


def build_optimizer(config: TrainConfig, parameters) -> tc.optim.Optimizer:
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {config.optimizer!r}; choose from "
                         f"{', '.join(OPTIMIZERS)}")
    class_name, _ = OPTIMIZERS[config.optimizer]
    kwargs = {"momentum": 0.9} if config.optimizer == "sgd" else {}
    return getattr(tc.optim, class_name)(parameters, lr=config.learning_rate, **kwargs)


def build_scheduler(config: TrainConfig, optimizer, epochs_done: int = 0):
    """Cosine annealing lowers the learning rate smoothly to 0 over the run: big steps early,
    small ones at the end, so the last epochs settle instead of bouncing around a minimum.

    ``epochs_done`` > 0 (a resumed run) places the schedule at that epoch of a run of
    ``config.epochs``: resuming a finished 3-epoch run with 6 epochs continues the 6-epoch cosine
    from epoch 3, as if the run had been planned that long (the optimizer's groups must hold their
    ``initial_lr``, which a loaded optimizer state does)."""
    if config.schedule == "cosine":
        return tc.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs,
                                                       last_epoch=epochs_done - 1)
    if config.schedule == "constant":
        return None
    raise ValueError(f"unknown schedule {config.schedule!r}; choose 'cosine' or 'constant'")


def _progress(iterable, total: int, description: str, enabled: bool | None):
    """A tqdm bar on stderr when it is a terminal (or when asked), the bare iterable otherwise."""
    if enabled is False:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is in the tutorials extra; training works without it
        return iterable
    return tqdm(iterable, total=total, desc=description, leave=False, unit="batch",
                disable=None if enabled is None else not enabled, file=sys.stderr)


def train_one_epoch(model, loader, optimizer, description: str = "",
                    progress: bool | None = None, callbacks: Sequence[Any] = ()
                    ) -> tuple[float, float]:
    """One pass over ``loader``; returns (mean loss, accuracy) over the samples seen.
    Each callback's ``on_batch_end(model, loss)`` (if it has one) runs after every step."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = _progress(loader, len(loader), description, progress)
    for images, labels in bar:
        logits = model(images)
        loss = tc.nn.functional.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        loss_value = loss.item()
        if not math.isfinite(loss_value):  # the step would spread NaN into every weight
            raise FloatingPointError(
                f"training diverged: the loss became {loss_value} after {seen} images of this "
                f"epoch; lower the learning rate (--lr, now "
                f"{optimizer.param_groups[0]['lr']:g})")
        optimizer.step()
        batch = labels.shape[0]
        total_loss += loss_value * batch
        correct += int((logits.argmax(dim=1) == labels).sum().item())
        seen += batch
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{total_loss / seen:.4f}")
        _notify(callbacks, "on_batch_end", model, loss_value)
    return total_loss / seen, correct / seen


@tc.no_grad()
def recalibrate_batch_norm(model, dataset, batches: int = 20, batch_size: int = 32) -> None:
    """Recompute every BatchNorm layer's running statistics for the model's current weights.

    During an epoch the running averages mix statistics of many older versions of the weights;
    early in training, when the weights move fast, they can be far from what the final weights
    produce, and a network that is right in training mode is at chance in eval mode (MobileNet
    after one epoch on digits: 60 % with batch statistics, 10 % with running ones). Averaging
    the batch statistics of ``batches`` batches of training images, with the weights frozen,
    fixes that ("precise BN", Wu & Johnson 2021). The random generator is restored afterwards,
    so the data order and augmentation of the next epochs do not change.
    """
    layers = [m for m in model.modules()
              if isinstance(m, tc.nn.layers._BatchNorm) and m.track_running_stats]
    if not layers:
        return
    generator = tc.default_generator().bit_generator
    saved_state, momenta = generator.state, [layer.momentum for layer in layers]
    was_training = model.training
    model.train()
    try:
        for layer in layers:
            layer.reset_running_stats()
            layer.momentum = None  # None: the plain average over the batches seen
        loader = tc.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
        for index, (images, _) in enumerate(loader):
            if index == batches:
                break
            model(images.to(next(model.parameters()).device))
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
        generator.state = saved_state
        model.train(was_training)


@tc.no_grad()
def evaluate(model, loader) -> tuple[float, float]:
    """(mean loss, accuracy) of ``model`` in eval mode on every sample of ``loader``."""
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        logits = model(images)
        total_loss += tc.nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == labels).sum().item())
        seen += labels.shape[0]
    return total_loss / seen, correct / seen


def save_checkpoint(path: Path, model, optimizer, scheduler, config: TrainConfig, epoch: int,
                    history: dict) -> None:
    """Everything needed to resume: weights, optimizer state, epoch, curves and the random
    generator's state (so a resumed run shuffles exactly as an uninterrupted one)."""
    tc.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict() if scheduler is not None else None,
             "config": dataclasses.asdict(config), "epoch": epoch, "history": history,
             "generator": json.dumps(tc.default_generator().bit_generator.state)}, path)


def plot_history(history: dict, path: Path) -> Path | None:
    """Loss and accuracy per epoch, side by side, as a PNG (None if matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    epochs = range(1, len(history["train_loss"]) + 1)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, history["train_loss"], "o-", label="train")
    left.plot(epochs, history["test_loss"], "o-", label="test")
    left.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    right.plot(epochs, [100 * a for a in history["train_acc"]], "o-", label="train")
    right.plot(epochs, [100 * a for a in history["test_acc"]], "o-", label="test")
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    for axes in (left, right):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _notify(callbacks: Sequence[Any], event: str, *args: Any) -> None:
    """Call ``event`` on every callback that defines it (callbacks pick the events they need)."""
    for callback in callbacks:
        method = getattr(callback, event, None)
        if method is not None:
            method(*args)


def fit(config: TrainConfig, resume: str | None = None,
        log: Callable[[str], None] = print, callbacks: Sequence[Any] = ()) -> dict:
    """Train as configured; returns the history ``{"train_loss": [...], "test_acc": [...], ...}``.

    Writes ``<out>/checkpoint.npz`` after every epoch and ``<out>/curves.png`` at the end.
    Ctrl-C stops after saving what the last finished epoch produced, and re-raises.

    ``callbacks``: objects watching the run (e.g. ``tinyconv.show.LiveTraining``, the page of
    ``tinyconv train --live``); each may define ``on_train_begin(model, test_set, classes,
    history)``, ``on_batch_end(model, loss)``, ``on_epoch_end(model, epoch, history)`` (after the
    checkpoint is saved) and ``on_train_end(model, history)``. A callback whose ``stop_training``
    is true after an epoch ends the run there, its checkpoint saved.
    """
    state = load_checkpoint(resume) if resume else None
    first_epoch = 0
    if state is not None:  # the checkpoint's configuration wins, except for the epoch count
        known = {field.name for field in dataclasses.fields(TrainConfig)}
        saved = {key: value for key, value in state["config"].items() if key in known}
        config = TrainConfig(**{**saved, "epochs": config.epochs, "out": config.out,
                                "progress": config.progress})
        first_epoch = int(state["epoch"])
    check_config(config)
    if first_epoch >= config.epochs:
        raise ValueError(f"nothing left to train: {resume} already holds "
                         f"{_plural(first_epoch, 'epoch')} and --epochs is {config.epochs}; "
                         f"pass --epochs {first_epoch + 1} or more to train further")
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.npz"
    # a save killed halfway leaves its temporary file behind (the checkpoint itself is replaced
    # atomically, so it is always whole): clear them before writing new ones
    for stray in out.glob(f".{checkpoint.name}.*.tmp"):
        stray.unlink(missing_ok=True)
    tc.manual_seed(config.seed)
    train_set, test_set, image_shape, classes = load_datasets(config)
    model = build_model(config, image_shape, len(classes)).to(config.device)
    optimizer = build_optimizer(config, model.parameters())
    history = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = state["history"]
        tc.default_generator().bit_generator.state = json.loads(state["generator"])
        log(f"resumed from {resume} after {_plural(first_epoch, 'epoch')}")
    # built after the optimizer's state is loaded, for the whole run (see build_scheduler)
    scheduler = build_scheduler(config, optimizer, epochs_done=first_epoch)
    # the loaders copy each batch to the model's device once (no copies inside the loop)
    train_loader = tc.data.DataLoader(train_set, batch_size=config.batch_size, shuffle=True,
                                      device=config.device)
    test_loader = tc.data.DataLoader(test_set, batch_size=256, device=config.device)
    parameters = sum(p.numel() for p in model.parameters())
    log(f"training {config.model} ({parameters:,} parameters) on {config.dataset} "
        f"({len(train_set)} train / {len(test_set)} test images of shape {image_shape}) with "
        f"{config.optimizer} lr={config.learning_rate:g}, batch {config.batch_size}, "
        f"{_plural(config.epochs, 'epoch')}, seed {config.seed}")
    saved_epoch = None  # the last epoch this run wrote a checkpoint for
    if config.model in MODEL_NOTES:
        log(f"note: {MODEL_NOTES[config.model]}")
    _notify(callbacks, "on_train_begin", model, test_set, classes, history)
    try:
        for epoch in range(first_epoch, config.epochs):
            started = time.perf_counter()
            train_loss, train_acc = train_one_epoch(
                model, train_loader, optimizer, f"epoch {epoch + 1}/{config.epochs}",
                config.progress, callbacks)
            if scheduler is not None:
                scheduler.step()
            recalibrate_batch_norm(model, train_set, batch_size=config.batch_size)
            test_loss, test_acc = evaluate(model, test_loader)
            for key, value in (("train_loss", train_loss), ("train_acc", train_acc),
                               ("test_loss", test_loss), ("test_acc", test_acc)):
                history[key].append(value)
            save_checkpoint(checkpoint, model, optimizer, scheduler, config, epoch + 1, history)
            saved_epoch = epoch + 1
            log(f"epoch {epoch + 1:>3}/{config.epochs}  loss {train_loss:.4f}  "
                f"train acc {100 * train_acc:6.2f}%  test loss {test_loss:.4f}  "
                f"test acc {100 * test_acc:6.2f}%  ({time.perf_counter() - started:.1f} s)")
            _notify(callbacks, "on_epoch_end", model, epoch + 1, history)
            if any(getattr(callback, "stop_training", False) for callback in callbacks):
                log(f"stopped on request after epoch {epoch + 1} (checkpoint saved)")
                break
    except KeyboardInterrupt:
        if saved_epoch is not None:
            log(f"\ninterrupted: the checkpoint of epoch {saved_epoch} is in {checkpoint} "
                f"(continue with --resume {checkpoint})")
        elif resume:
            log(f"\ninterrupted before an epoch finished: nothing new was saved; {resume} "
                f"still holds {_plural(first_epoch, 'epoch')}")
        else:
            log(f"\ninterrupted during epoch {first_epoch + 1}: no epoch finished, so no "
                f"checkpoint was written")
        raise
    finally:
        _notify(callbacks, "on_train_end", model, history)
        if history["train_loss"]:
            curves = plot_history(history, out / "curves.png")
            if curves is not None:
                log(f"learning curves: {curves}")
    if saved_epoch is not None:
        log(f"checkpoint: {checkpoint}")
    return history


def load_checkpoint(path: str | Path, what: str = "--resume") -> dict:
    """A checkpoint written by :func:`fit`, or a clear error: a missing file, anything
    ``tc.load`` cannot read (``tc.LoadError`` names the path and the problem), or a readable file
    that is not a training checkpoint. ``what`` names the caller in the messages."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path}: no such file (checkpoints are written to "
                                f"<out>/checkpoint.npz)")
    state = tc.load(path)
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise ValueError(f"{what} {path}: not a checkpoint written by tinyconv train (it has "
                         f"no {', '.join(missing)})")
    return state

