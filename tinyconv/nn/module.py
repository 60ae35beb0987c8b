"""Module: the base class of every layer and model (PyTorch's ``nn.Module``).

A module owns three kinds of state, registered automatically when assigned as attributes:

- parameters (:class:`Parameter`): learned by the optimizer;
- buffers (tensors from ``register_buffer``): state that is saved but not learned, such as
  BatchNorm's running mean;
- submodules: other modules, which makes a model a tree.

``state_dict()`` flattens the tree into ``{"layer1.0.conv1.weight": tensor, ...}``; names are the
attribute paths. Calling a module runs ``forward`` (and any forward hooks).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator
from typing import Any

from tinyconv.backend import Device, array_module, to_host
from tinyconv.dtypes import as_dtype, is_floating_dtype
from tinyconv.nn.parameter import Parameter
from tinyconv.tensor import Tensor

_hook_ids = itertools.count()  # unique keys, so removing one hook never removes another

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """Returned by ``register_forward_hook``; ``handle.remove()`` takes the hook away."""

    def __init__(self, hooks: dict, key: int):
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


class Module:
    """Base class for layers and models. Subclasses set attributes in ``__init__`` (after calling
    ``super().__init__()``) and implement ``forward``."""

    training: bool

    def __init__(self) -> None:
        # object.__setattr__ because our own __setattr__ needs these dicts to exist already
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration -----------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called "
                                 f"(call super().__init__() first in {type(self).__name__})")
        if isinstance(value, (Parameter, Module)):
            # a name lives in one place only: drop it from wherever it was before
            for store in (self.__dict__, self._parameters, self._buffers, self._modules):
                store.pop(name, None)
            self._non_persistent_buffers.discard(name)
            registry = self._parameters if isinstance(value, Parameter) else self._modules
            registry[name] = value
        elif name in self._parameters or name in self._modules:
            kind = "parameter" if name in self._parameters else "submodule"
            if value is not None:
                needed = "a Parameter" if kind == "parameter" else "a Module"
                raise TypeError(f"cannot assign {type(value).__name__} as {kind} {name!r} "
                                f"({needed} or None is required)")
            (self._parameters if kind == "parameter" else self._modules)[name] = None
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                "(a Tensor or None is required)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails: look in the registries
        for store in ("_parameters", "_buffers", "_modules"):
            registry = self.__dict__.get(store)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got "
                            f"{type(param).__name__}")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register state that is saved in ``state_dict`` (when persistent) but not learned."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got "
                            f"{type(tensor).__name__}")
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self._modules[name] = module

    register_module = add_module

    # -- running ----------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} has no forward(): subclasses of Module must "
                        "define it")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_hook(self, hook: Callable) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after every forward (e.g. to record activations).
        A hook that returns a value replaces the output."""
        key = next(_hook_ids)
        self._forward_hooks[key] = hook
        return RemovableHandle(self._forward_hooks, key)

    # -- walking the tree -------------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo: set | None = None
                      ) -> Iterator[tuple[str, Module]]:
        """Every module in the tree (this one first), each once, with its dotted path."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool):
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue  # a shared parameter is listed once
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True
                         ) -> Iterator[tuple[str, Parameter]]:
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True
                      ) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    # -- modes and gradients ----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active, BatchNorm uses batch statistics); returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) every parameter of this module, e.g. for transfer
        learning: ``model.requires_grad_(False); model.fc.requires_grad_(True)``."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad.data[...] = 0

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and on self; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- moving -----------------------------------------------------------------------------
    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Module:
        """Move/convert every parameter and buffer in place: ``model.to("cuda")``,
        ``model.to(tc.float64)``. Parameters keep their identity (an optimizer built before still
        sees them) and stay leaves; their gradients move with them. Only floating tensors change
        dtype. Returns ``self``."""
        for arg in args:
            if isinstance(arg, (str, Device)):
                device = arg
            else:
                dtype = arg
        dtype = as_dtype(dtype)
        if device is not None:
            array_module(device)  # no GPU: one clear error before anything has moved

        def convert(t: Tensor) -> None:
            target_dtype = dtype if dtype is not None and is_floating_dtype(t.dtype) else None
            moved = t.detach().to(device=device, dtype=target_dtype)
            t.data, t.device = moved.data, moved.device
            if t.grad is not None:
                grad = t.grad.to(device=device, dtype=target_dtype)
                t.grad = grad

        for module in self.modules():
            for value in list(module._parameters.values()) + list(module._buffers.values()):
                if value is not None:
                    convert(value)
        return self

    def float(self) -> Module:
        return self.to(dtype="float32")

    def double(self) -> Module:
        return self.to(dtype="float64")

    def cpu(self) -> Module:
        return self.to(device="cpu")

    def cuda(self) -> Module:
        return self.to(device="cuda")

    # -- saving -----------------------------------------------------------------------------
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """All parameters and persistent buffers by dotted name (tensors share memory with the
        module; ``keep_vars=False`` detaches them from the graph)."""
        state: OrderedDict[str, Tensor] = OrderedDict()
        for module_prefix, module in self.named_modules(prefix.rstrip(".")):
            dotted = f"{module_prefix}." if module_prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    state[dotted + name] = param if keep_vars else param.detach()
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    state[dotted + name] = buffer if keep_vars else buffer.detach()
        return state

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's tensors, in place.

        Every shape and dtype is checked first (nothing is copied if one is wrong); with
        ``strict=True`` missing and unexpected keys are errors too.
        """
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if not (hasattr(value, "shape") and hasattr(value, "dtype")):
                problems.append(f"{key} is a {type(value).__name__} in the checkpoint, not a "
                                "tensor or an array")
                continue
            shape = tuple(value.shape)
            if shape != target.shape:
                problems.append(f"size mismatch for {key}: the checkpoint has shape {shape}, "
                                f"the model has shape {target.shape}")
            elif str(value.dtype) != str(target.dtype):
                problems.append(f"dtype mismatch for {key}: the checkpoint has {value.dtype}, "
                                f"the model has {target.dtype}")
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n  "
                               + "\n  ".join(problems))
        for key, target in own.items():
            if key in state_dict:
                value = state_dict[key]
                value = value.data if isinstance(value, Tensor) else value
                # a checkpoint's arrays go to the module's device (GPU -> CPU through the host)
                if target.device.type == "cpu":
                    value = to_host(value)
                target.data[...] = target.xp.asarray(value)
        return IncompatibleKeys(missing, unexpected)

    # -- printing ---------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The arguments shown inside ``Name(...)`` when printing; layers override it."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {child_repr}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = "\n  ".join(([extra] if extra else []) + lines)
        return f"{type(self).__name__}(\n  {body}\n)"

    def __dir__(self):
        return list(super().__dir__()) + list(self._parameters) + list(self._buffers) + \
            list(self._modules)
