"""The autograd engine: differentiable functions, the graph they build, and backward.

This module sits below the Tensor and imports nothing from it: it works on any object with the
attributes listed in :class:`GraphTensor` (``tinyconv.tensor.Tensor`` is the one in use). Every
differentiable operation is a :class:`Function` with two methods on plain arrays:

- ``forward(*arrays, **params) -> array`` computes the result and saves what backward needs;
- ``backward(grad_output) -> one gradient per input`` applies the chain rule: given
  ``dL/d(output)``, it returns ``dL/d(input_i)`` for every input.

``Function.apply`` runs ``forward``, wraps the result in a tensor (``inputs[0]._wrap``) and, when
a gradient will be needed, records the function as the creator (``_ctx``) of its output tensor.
The graph is therefore the chain of ``_ctx`` links from a result back to the leaves.
:func:`backward` walks it in reverse topological order, so that a node's gradient is complete
(summed over every use) before the node passes it on.

Broadcasting is handled once, here: when an input was broadcast in forward, the gradient that comes
back has the broadcast shape and :func:`sum_to_shape` sums it back to the input's shape. Each
``backward`` can therefore be written as if no broadcasting had happened.

Naming: a Function subclass is named after what it computes plus ``Function`` (``AddFunction``,
``Conv2dFunction``), so it never clashes with the module of the same name (``nn.ReLU``). It lives
next to the public op that calls it: Tensor methods in :mod:`tinyconv.ops`, each
``tc.nn.functional`` op in its ``tinyconv/nn/functional/<area>.py`` file.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeAlias

__all__ = ["Array", "Function", "GraphTensor", "backward", "check_same_device", "enable_grad",
           "is_grad_enabled", "no_grad", "set_grad_enabled", "sum_to_shape"]

# A numpy.ndarray on the CPU, a cupy.ndarray on the GPU: Functions work on either.
Array: TypeAlias = Any

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()``."""
    return _grad_enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Enable or disable graph recording inside a ``with`` block or a decorated function."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        global _grad_enabled
        self._previous.append(_grad_enabled)
        _grad_enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        global _grad_enabled
        _grad_enabled = self._previous.pop()


class no_grad(set_grad_enabled):
    """``with tc.no_grad():`` or ``@tc.no_grad()``: run without recording a graph.

    Use it for evaluation and for updating parameters, where no gradient is wanted.
    """

    def __init__(self, func: Callable | None = None):
        super().__init__(False)
        if func is not None:  # also usable as a bare decorator: @tc.no_grad
            self._func = func
            functools.update_wrapper(self, func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if hasattr(self, "_func"):
            with set_grad_enabled(False):
                return self._func(*args, **kwargs)
        return super().__call__(*args, **kwargs)


class enable_grad(set_grad_enabled):
    """Re-enable graph recording inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)


class GraphTensor(Protocol):
    """What the engine needs from a tensor (``tinyconv.tensor.Tensor`` provides it).

    ``data`` is the array, ``_ctx`` the Function that made it (None for a leaf), ``grad`` the
    accumulated gradient, and ``_wrap(array)`` makes a new tensor on the same device.
    """

    data: Any
    device: Any
    requires_grad: bool
    grad: Any
    _ctx: Function | None
    _retains_grad: bool

    @property
    def xp(self) -> Any: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> Any: ...

    def _wrap(self, array: Any) -> GraphTensor: ...


def check_same_device(op: str, tensors: Iterable[GraphTensor]) -> None:
    """Ops never move data silently: all tensors of one op must share a device.

    Raises a RuntimeError naming ``op`` and the devices found, e.g.
    ``add: expected all tensors on the same device, got ['cpu', 'cuda']``.
    """
    devices = {t.device.type for t in tensors}
    if len(devices) > 1:
        raise RuntimeError(f"{op}: expected all tensors on the same device, got "
                           f"{sorted(devices)}; move them first with .to(device)")


_FREED = object()


class Function:
    """Base class of every differentiable operation.

    Subclasses implement ``forward(*arrays, **params) -> array`` and
    ``backward(grad_output) -> gradient or tuple of gradients`` on arrays (NumPy or CuPy). In
    ``forward`` they call ``self.save_for_backward(...)`` for the arrays backward needs; scalars
    and shapes may be kept as plain attributes. ``self.xp`` is the array module of the inputs.
    ``self.needs_input_grad[i]`` says whether input ``i`` wants a gradient (already in
    ``forward``: all False under ``no_grad``, when nothing is saved), so backward can skip work
    (return ``None`` for that input).
    """

    name = "function"

    def __init__(self) -> None:
        self.inputs: tuple = ()
        self.needs_input_grad: tuple[bool, ...] = ()
        self._saved: Any = ()
        self.xp: Any = None

    # -- saved arrays, freed after backward unless retain_graph -------------------------------
    def save_for_backward(self, *arrays: Any) -> None:
        """Keep ``arrays`` for ``backward`` (read them back with ``self.saved``); nothing is kept
        when no input needs a gradient (``needs_input_grad`` is set before ``forward`` runs)."""
        if any(self.needs_input_grad):
            self._saved = arrays

    @property
    def saved(self) -> tuple:
        """The arrays given to ``save_for_backward`` (an error once they have been freed)."""
        if self._saved is _FREED:
            raise RuntimeError(
                f"{self.name}: trying to backward through the graph a second time: its saved "
                "values were freed after the first backward. Pass retain_graph=True to the first "
                ".backward() call if you need to backpropagate through the same graph again.")
        return self._saved

    def release(self) -> None:
        """Free saved arrays (called after backward unless ``retain_graph=True``)."""
        if self._saved:
            self._saved = _FREED

    # -- running it ------------------------------------------------------------------------
    @classmethod
    def apply(cls, *inputs: GraphTensor, **params: Any) -> GraphTensor:
        """Run forward on the inputs' arrays; record the graph edge if a gradient is needed.

        ``inputs`` are Tensors; ``params`` are non-differentiable settings (axes, shapes, ...).
        """
        return cls.apply_with_ctx(*inputs, **params)[0]

    @classmethod
    def apply_with_ctx(cls, *inputs: GraphTensor,
                       **params: Any) -> tuple[GraphTensor, Function]:
        """Like :meth:`apply`, but also return the Function object (to read extra outputs)."""
        check_same_device(cls.name, inputs)
        ctx = cls()
        ctx.xp = inputs[0].xp
        # known before forward runs, so that forward saves nothing when no gradient will be
        # asked for (under no_grad, or for constants): the inference path keeps no activations
        ctx.needs_input_grad = tuple(_grad_enabled and t.requires_grad for t in inputs)
        output = inputs[0]._wrap(ctx.forward(*(t.data for t in inputs), **params))
        if any(ctx.needs_input_grad):
            ctx.inputs = inputs
            output.requires_grad = True
            output._ctx = ctx
        return output, ctx


def sum_to_shape(grad: Any, shape: tuple) -> Any:
    """Sum a broadcast gradient back to ``shape`` (the inverse of broadcasting).

    Broadcasting copies a value along new leading axes and along axes of size 1, so the value's
    gradient is the sum over those copies.
    """
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def _topological_order(root: GraphTensor) -> list[GraphTensor]:
    """Tensors reachable from ``root`` that need a gradient, each after all of its inputs.

    An explicit stack instead of recursion: a 10,000-op chain must not hit Python's recursion limit.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, inputs_done = stack.pop()
        if inputs_done:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor._ctx is not None:
            for parent in tensor._ctx.inputs:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def backward(root: GraphTensor, grad_root: Any, retain_graph: bool = False) -> None:
    """Backpropagate ``grad_root = dL/d(root)`` to every leaf that requires a gradient.

    Leaves accumulate into ``.grad`` (summing over calls, as in PyTorch). Non-leaf gradients are
    kept only for tensors that called ``retain_grad()``.
    """
    grads = {id(root): grad_root}
    for tensor in reversed(_topological_order(root)):
        grad = grads.pop(id(tensor), None)
        if grad is None:
            continue
        ctx = tensor._ctx
        if ctx is None or tensor._retains_grad:
            # a leaf (or a tensor that asked to keep its gradient): accumulate into .grad.
            # Copy on first store: the same array may be shared with other gradients.
            if tensor.grad is None:
                tensor.grad = tensor._wrap(grad.astype(tensor.dtype, copy=True))
            else:
                tensor.grad = tensor._wrap(tensor.grad.data + grad)
        if ctx is None:
            continue
        input_grads = ctx.backward(grad)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, parent_grad in zip(ctx.inputs, input_grads, strict=False):
            if parent_grad is None or not parent.requires_grad:
                continue
            parent_grad = sum_to_shape(parent_grad, parent.shape)
            if parent_grad.dtype != parent.dtype:
                parent_grad = parent_grad.astype(parent.dtype)
            if id(parent) in grads:  # used more than once: gradients add (multivariate chain rule)
                grads[id(parent)] = grads[id(parent)] + parent_grad
            else:
                grads[id(parent)] = parent_grad
        if not retain_graph:
            ctx.release()
