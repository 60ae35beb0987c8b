"""Transfer learning helpers: reuse a trained network's features, retrain only its head.

The usual recipe (the same as in PyTorch)::

    model = tc.models.resnet18(num_classes=1000)
    model.load_state_dict(tc.load("resnet18_imagenet.tc"))   # features learned on a big data set
    replace_head(model, num_classes=10)                      # a fresh, trainable last layer
    freeze_all_but(model)                                    # everything else: requires_grad=False
    optimizer = tc.optim.SGD(trainable_parameters(model), lr=0.01)

Frozen parameters get no gradient (their ``.grad`` stays None) and the optimizer never sees
them. One subtlety: BatchNorm layers still update their *running statistics* in training mode
even when their γ and β are frozen; call ``freeze_all_but(..., freeze_batchnorm_stats=True)``
(or put those layers in eval mode yourself) to keep them as they were.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from tinyconv import nn
from tinyconv.nn.parameter import Parameter

__all__ = ["find_head", "freeze_all_but", "replace_head", "trainable_parameters"]

# attribute names of the classifying head in this zoo (and in torchvision), most specific first
_HEAD_NAMES = ("fc", "classifier")


def find_head(model: nn.Module) -> str:
    """The dotted name of the model's last Linear layer (its head), e.g. ``"fc"`` for a ResNet,
    ``"classifier.6"`` for AlexNet/VGG, ``"classifier.fc3"`` for LeNet-5."""
    for name in _HEAD_NAMES:
        head = getattr(model, name, None)
        if isinstance(head, nn.Linear):
            return name
        if isinstance(head, nn.Module):
            linears = [n for n, m in head.named_modules() if isinstance(m, nn.Linear)]
            if linears:
                return f"{name}.{linears[-1]}"
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"find_head: {type(model).__name__} has no Linear layer to use as a head")
    return linears[-1]


def _set_submodule(model: nn.Module, dotted: str, module: nn.Module) -> None:
    parent = model
    *path, last = dotted.split(".")
    for part in path:
        parent = getattr(parent, part)
    setattr(parent, last, module)


def replace_head(model: nn.Module, num_classes: int, head: str | None = None) -> nn.Linear:
    """Replace the last Linear layer (``head``, found by :func:`find_head` when None) with a
    freshly initialised ``Linear(in_features, num_classes)`` on the same device and dtype;
    returns the new layer. For a GoogLeNet with auxiliary classifiers, their last layers
    (``aux1.fc2``, ``aux2.fc2``) are replaced too."""
    names = [head or find_head(model)]
    for aux in ("aux1", "aux2"):
        if isinstance(getattr(getattr(model, aux, None), "fc2", None), nn.Linear):
            names.append(f"{aux}.fc2")
    new_heads = []
    for name in names:
        old = model
        for part in name.split("."):
            old = getattr(old, part)
        if not isinstance(old, nn.Linear):
            raise TypeError(f"replace_head: {name!r} is a {type(old).__name__}, not a Linear")
        new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None,
                        device=old.weight.device, dtype=old.weight.dtype)
        _set_submodule(model, name, new)
        new_heads.append(new)
    return new_heads[0]


def freeze_all_but(model: nn.Module, head_names: str | Sequence[str] | None = None,
                   freeze_batchnorm_stats: bool = False) -> list:
    """Set ``requires_grad=False`` on every parameter except those inside the modules named in
    ``head_names`` (dotted names such as ``"fc"`` or ``"classifier.6"``; default: the head found
    by :func:`find_head`). Returns the names of the parameters left trainable.

    With ``freeze_batchnorm_stats=True`` the BatchNorm layers outside the head are put in eval
    mode, so their running statistics stay fixed too (note that a later ``model.train()`` switches
    them back: call this again after it).
    """
    if head_names is None:
        head_names = (find_head(model),)
    elif isinstance(head_names, str):
        head_names = (head_names,)
    known = dict(model.named_modules())
    for name in head_names:
        if name not in known:
            raise ValueError(f"freeze_all_but: {type(model).__name__} has no submodule "
                             f"{name!r}; top-level modules: "
                             f"{[n for n, _ in model.named_children()]}")

    def in_head(dotted: str) -> bool:
        return any(dotted == h or dotted.startswith(h + ".") for h in head_names)

    trainable = []
    for name, param in model.named_parameters():
        keep = in_head(name)
        param.requires_grad_(keep)
        if not keep:
            param.grad = None
        else:
            trainable.append(name)
    if freeze_batchnorm_stats:
        for name, module in model.named_modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and not in_head(name):
                module.eval()
    return trainable


def trainable_parameters(model: nn.Module) -> Iterator[Parameter]:
    """The parameters with ``requires_grad=True`` (what to give the optimizer after freezing)."""
    return (p for p in model.parameters() if p.requires_grad)
