"""Containers: modules that hold other modules (Sequential, ModuleList, ModuleDict)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tinyconv.nn import functional as F
from tinyconv.nn.activation import ReLU
from tinyconv.nn.layers import BatchNorm2d, Conv2d, MaxPool2d
from tinyconv.nn.module import Module


class Sequential(Module):
    """Runs its modules in order, each on the previous one's output.

    ``Sequential(conv, relu, pool)`` names them "0", "1", "2";
    ``Sequential(OrderedDict(conv=..., relu=...))`` uses the given names.

    **Fusion.** A run ``Conv2d, ReLU`` of its children, ``Conv2d, ReLU, MaxPool2d(2)`` or
    ``BatchNorm2d, ReLU`` is computed by one fused operation (``F.conv2d_relu``,
    ``F.conv2d_relu_max_pool2d``, ``F.batch_norm_relu``): the same values and gradients, less
    work between the layers. Only exact runs are fused (the plain classes, 2×2 pooling with
    stride 2 and nothing else) and never when one of those children has a forward hook, which
    must see its own output. ``fuse = False`` turns it off.
    """

    def __init__(self, *modules: Any):
        super().__init__()
        self.fuse = True
        if len(modules) == 1 and isinstance(modules[0], (OrderedDict, dict)):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, input: Any) -> Any:
        modules = list(self._modules.values())
        fuse = getattr(self, "fuse", True)  # a Sequential pickled before fusion existed
        i = 0
        while i < len(modules):
            first, run = modules[i], fusable_run(modules, i) if fuse else 0
            if run == 0:
                input = first(input)
                i += 1
                continue
            if isinstance(first, BatchNorm2d):  # BatchNorm2d, ReLU
                input = first.normalize(input, relu=True)
            else:  # Conv2d, ReLU (, MaxPool2d(2))
                fused = F.conv2d_relu_max_pool2d if run == 3 else F.conv2d_relu
                input = fused(input, first.weight, first.bias, first.stride, first.padding,
                              first.dilation, first.groups)
            i += run
        return input

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Module | Sequential:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        return items[_checked_index(index, len(items), "Sequential")][1]

    def __setitem__(self, index: int, module: Module) -> None:
        name = list(self._modules)[_checked_index(index, len(self), "Sequential")]
        setattr(self, name, module)

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


def fusable_run(modules: list[Module], i: int) -> int:
    """How many modules from ``modules[i]`` one fused operation can compute: 3 for ``Conv2d,
    ReLU, MaxPool2d(2)``, 2 for ``Conv2d, ReLU`` and for ``BatchNorm2d, ReLU``, else 0. Exact
    classes only (a subclass may change ``forward``), no forward hooks, and only the pooling the
    fused operation does."""
    def plain(module: Module, cls: type) -> bool:
        return type(module) is cls and not module._forward_hooks

    if not (i + 1 < len(modules) and plain(modules[i + 1], ReLU)):
        return 0
    if plain(modules[i], BatchNorm2d):
        return 2
    if not plain(modules[i], Conv2d):
        return 0
    if i + 2 < len(modules) and plain(modules[i + 2], MaxPool2d):
        pool = modules[i + 2]
        if (pool.kernel_size in (2, (2, 2)) and pool.stride in (2, (2, 2))
                and pool.padding in (0, (0, 0)) and pool.dilation in (1, (1, 1))
                and not pool.ceil_mode and not pool.return_indices):
            return 3
    return 2


def _checked_index(index: int, length: int, owner: str) -> int:
    if not -length <= index < length:
        raise IndexError(f"{owner}: index {index} is out of range for {length} modules")
    return index % length


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain list would hide them)."""

    def __init__(self, modules: Iterable[Module] = ()):
        super().__init__()
        self.extend(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Module | ModuleList:
        values = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(values[index])
        return values[_checked_index(index, len(values), "ModuleList")]

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(str(_checked_index(index, len(self), "ModuleList")), module)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        values = list(self._modules.values())
        values.insert(index, module)
        self._modules.clear()
        self.extend(values)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("ModuleList is a container, not a layer: iterate over it in your own "
                        "forward()")


class ModuleDict(Module):
    """A dict of modules whose parameters are registered, in insertion order."""

    def __init__(self, modules: Mapping[str, Module] | Iterable | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            raise KeyError(f"ModuleDict has no module {key!r}; keys: {list(self._modules)}")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str):  # the key becomes an attribute and a state_dict prefix
            raise TypeError(f"ModuleDict: keys must be strings, got {key!r} "
                            f"({type(key).__name__})")
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def update(self, modules: Mapping[str, Module] | Iterable) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("ModuleDict is a container, not a layer: index it in your own forward()")
