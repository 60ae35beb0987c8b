"""``tc.summary(model, input_size)``: a per-layer table of output shapes, parameters,
multiply-adds and activation memory — the cost tables of the AlexNet/VGG lectures, computed.

How it works: a forward hook is put on every *leaf* module (a layer with no submodules, plus any
module that owns parameters directly); one forward pass runs under ``tc.no_grad()`` on an input of
zeros, in eval mode (so BatchNorm's running statistics and dropout are untouched; the model's
modes are restored afterwards). Each hook call becomes one row, in execution order: a module that
runs twice (a ReLU reused inside a ResNet block) gives two rows, and its parameters are counted on
the first only, so the rows add up to the model's parameters — those of the layers that run: the
totals count every parameter, including layers the forward pass skips (e.g. GoogLeNet's
auxiliary classifiers, which only run in training mode).

Conventions (the header of the printed table repeats them):

- **MACs** = multiply-accumulate operations (multiply-adds). FLOPs ≈ 2 × MACs (one multiply and
  one add each). Only convolutions and linear layers are counted — they are the bulk of the work:

  - ``Conv2d``: ``N · C_out · H_out · W_out · (C_in / groups) · kH · kW`` (``Conv1d``: the same
    in 1-D);
  - ``ConvTranspose2d``: ``N · C_in · H_in · W_in · (C_out / groups) · kH · kW`` (each input pixel
    is scattered through the kernel);
  - ``Linear``: ``N · in_features · out_features`` (times any extra leading dimensions);
  - biases, pooling, BatchNorm, activations, dropout, flatten, additions: **0** (they cost a few
    operations per element, negligible next to the layers above).

- **Memory** = bytes of the layer's output (``numel × itemsize``): the activations a training
  forward pass would keep for the backward pass. The totals add the input and the parameters
  (gradients and optimizer state would come on top of these during training).

Example::

    >>> import tinyconv as tc
    >>> s = tc.summary(tc.models.lenet5(), (1, 32, 32), print_table=False)
    >>> s.total_params, s.total_macs
    (61706, 416520)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from tinyconv.autograd import no_grad
from tinyconv.creation import zeros
from tinyconv.dtypes import as_dtype
from tinyconv.tensor import Tensor

# tinyconv.nn is imported inside the functions, so that importing this module stays cheap (no
# Numba): ``tinyconv/__init__.py`` may import it eagerly.

__all__ = ["LayerRow", "Summary", "layer_macs", "summary"]

Shape = tuple
HEADER = ("MACs = multiply-adds (conv: N·C_out·H_out·W_out·(C_in/groups)·kH·kW; linear: "
          "N·in·out; pooling, BatchNorm, activations: 0); FLOPs ≈ 2 × MACs. "
          "Memory = bytes of each layer's output (KB = 1024 bytes).")


@dataclass
class LayerRow:
    """One call of one layer.

    Attributes:
        name: dotted path in the model (``"layer1.0.conv1"``), as in ``state_dict`` keys.
        type: class name (``"Conv2d"``).
        output_shape: shape of the output, batch dimension first; a list of shapes when the layer
            returns several tensors.
        params: parameters counted on this row (0 on a repeated call of the same layer).
        trainable_params: how many of them have ``requires_grad=True``.
        macs: multiply-adds of this call (see the module docstring).
        activation_bytes: bytes of the output tensor(s).
    """

    name: str
    type: str
    output_shape: Shape | list[Shape]
    params: int
    trainable_params: int
    macs: int
    activation_bytes: int

    @property
    def trainable(self) -> bool | None:
        """True/False when every/no parameter of the row is trainable; None without parameters
        (a partly frozen layer counts as False)."""
        if self.params == 0:
            return None
        return self.trainable_params == self.params


@dataclass
class Summary:
    """What :func:`summary` measured: the rows, as data, and the totals.

    ``str(summary)`` (or :meth:`table`) is the printed table; :meth:`as_dicts` gives the rows as
    plain dicts (e.g. for a pandas DataFrame).
    """

    model_name: str
    input_shapes: list[Shape]
    dtype: str
    device: str
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_macs: int = 0
    input_bytes: int = 0
    activation_bytes: int = 0
    param_bytes: int = 0

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_flops(self) -> int:
        """≈ 2 × MACs (a multiply and an add each)."""
        return 2 * self.total_macs

    @property
    def total_bytes(self) -> int:
        """Input + activations + parameters: a lower bound on the memory of one forward pass
        that keeps its activations for backward."""
        return self.input_bytes + self.activation_bytes + self.param_bytes

    def as_dicts(self) -> list[dict]:
        return [asdict(row) | {"trainable": row.trainable} for row in self.rows]

    def table(self) -> str:
        """The table: one line per row, then the totals."""
        head = ("Layer (type)", "Output shape", "Params", "Trainable", "MACs", "Memory (KB)")
        body = [(f"{row.name} ({row.type})", _shape_text(row.output_shape), f"{row.params:,}",
                 {None: "-", True: "yes", False: "no"}[row.trainable], f"{row.macs:,}",
                 f"{row.activation_bytes / 1024:,.1f}") for row in self.rows]
        widths = [max(len(line[i]) for line in [head] + body) for i in range(len(head))]

        def fmt(line: Sequence[str]) -> str:
            cells = [line[0].ljust(widths[0]), line[1].ljust(widths[1])]
            cells += [cell.rjust(width) for cell, width in zip(line[2:], widths[2:], strict=True)]
            return "  ".join(cells)

        width = len(fmt(head))
        shapes = ", ".join(_shape_text(s) for s in self.input_shapes)
        lines = [f"{self.model_name}: input {shapes}, {self.dtype}, {self.device}",
                 *_wrap(HEADER, width), "=" * width, fmt(head), "-" * width]
        lines += [fmt(line) for line in body]
        lines += ["=" * width,
                  f"Total params:         {self.total_params:,}",
                  f"Trainable params:     {self.trainable_params:,}",
                  f"Non-trainable params: {self.non_trainable_params:,}",
                  (f"Total MACs:           {self.total_macs:,} ({_si(self.total_macs)}MACs, "
                   f"≈ {_si(self.total_flops)}FLOPs)"),
                  "-" * width,
                  f"Input size:                {_mb(self.input_bytes)}",
                  f"Forward activations:       {_mb(self.activation_bytes)}",
                  f"Parameters size:           {_mb(self.param_bytes)}",
                  f"Estimated total size:      {_mb(self.total_bytes)}",
                  "=" * width]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return (f"Summary({self.model_name}, rows={len(self.rows)}, "
                f"total_params={self.total_params:,}, total_macs={self.total_macs:,})")


def layer_macs(module: Any, inputs: tuple, output: Any) -> int:
    """Multiply-adds of one call of ``module`` (the formulas of the module docstring); 0 for
    layers that are not convolutions or linear layers."""
    # imported on use: tc.summary is in tc's namespace, and `import tinyconv` must not load tc.nn
    from tinyconv.nn.layers import Conv1d, Conv2d, ConvTranspose2d, Linear

    if isinstance(module, ConvTranspose2d):
        x = inputs[0]
        return (_numel(x.shape) * (module.out_channels // module.groups)
                * math.prod(module.kernel_size))
    if isinstance(module, (Conv2d, Conv1d)):
        # numel(output) = N·C_out·H_out·W_out; each output sums (C_in/groups)·kH·kW products
        return (_numel(output.shape) * (module.in_channels // module.groups)
                * math.prod(module.kernel_size))
    if isinstance(module, Linear):
        # numel(output) = N·out_features; each output sums in_features products
        return _numel(output.shape) * module.in_features
    return 0


def summary(model: Any, input_size: Sequence[int] | Sequence[Sequence[int]],
            dtype: Any = "float32", batch_size: int = 1, device: str | None = None,
            print_table: bool = True) -> Summary:
    """Run ``model`` once on zeros and report every layer's output shape, parameters,
    multiply-adds and activation memory.

    Args:
        model: any Module.
        input_size: one input's shape *without* the batch dimension, e.g. ``(3, 224, 224)``; a
            list of such shapes for a model whose forward takes several inputs.
        dtype: dtype of the zero input(s) (float32 by default).
        batch_size: N, prepended to every input shape (MACs and memory grow linearly with it).
        device: where the input is created; by default the model's device (that of its first
            parameter, the CPU for a model without parameters).
        print_table: print the table (the returned :class:`Summary` holds the same data).

    Returns:
        a :class:`Summary`: ``rows`` (one :class:`LayerRow` per layer call), ``total_params``,
        ``trainable_params``, ``total_macs``, ``total_flops``, byte counts, and ``table()``.
    """
    from tinyconv.nn.module import Module  # on use, as in layer_macs

    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be a tinyconv Module, got {type(model).__name__}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"summary: batch_size must be a positive int, got {batch_size!r}")
    if device is None:
        device = next((p.device for p in model.parameters()), "cpu")
    sizes = _input_sizes(input_size)
    shapes = [(batch_size,) + size for size in sizes]
    np_dtype = as_dtype(dtype)

    # the modules to watch: leaves, and any module that owns parameters itself
    watched = [(name, module) for name, module in model.named_modules()
               if not any(True for _ in module.children()) or
               any(p is not None for p in module._parameters.values())]
    rows: list[LayerRow] = []
    counted: set = set()  # ids of parameters already attributed to a row

    def make_hook(name: str):
        def hook(module: Any, inputs: tuple, output: Any) -> None:
            params = trainable = 0
            for param in module.parameters(recurse=False):
                if id(param) in counted:
                    continue
                counted.add(id(param))
                params += param.numel()
                trainable += param.numel() if param.requires_grad else 0
            tensors = _tensors(output)
            rows.append(LayerRow(
                name=name or type(module).__name__,
                type=type(module).__name__,
                output_shape=(tuple(tensors[0].shape) if len(tensors) == 1
                              else [tuple(t.shape) for t in tensors]),
                params=params, trainable_params=trainable,
                macs=int(layer_macs(module, inputs, output)),
                activation_bytes=sum(t.numel() * t.dtype.itemsize for t in tensors)))
        return hook

    modes = {id(m): m.training for m in model.modules()}
    handles = [module.register_forward_hook(make_hook(name)) for name, module in watched]
    inputs = [zeros(shape, dtype=np_dtype, device=device) for shape in shapes]
    try:
        model.eval()
        with no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
        for module in model.modules():
            object.__setattr__(module, "training", modes[id(module)])

    params = list(model.parameters())
    result = Summary(
        model_name=type(model).__name__, input_shapes=shapes, dtype=str(np_dtype),
        device=str(device), rows=rows,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_macs=sum(row.macs for row in rows),
        input_bytes=sum(t.numel() * t.dtype.itemsize for t in inputs),
        activation_bytes=sum(row.activation_bytes for row in rows),
        param_bytes=sum(p.numel() * p.dtype.itemsize for p in params))
    if print_table:
        print(result.table())
    return result


# -- helpers --------------------------------------------------------------------------------

def _input_sizes(input_size: Any) -> list[Shape]:
    """``(3, 224, 224)`` -> ``[(3, 224, 224)]``; ``[(3, 32, 32), (10,)]`` stays a list."""
    def is_shape(value: Any) -> bool:
        return isinstance(value, (tuple, list)) and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)

    if isinstance(input_size, int) and input_size > 0:
        return [(input_size,)]
    if is_shape(input_size) and len(input_size) > 0:
        return [tuple(input_size)]
    if isinstance(input_size, (tuple, list)) and input_size and all(is_shape(s) and len(s) > 0
                                                                    for s in input_size):
        return [tuple(s) for s in input_size]
    raise ValueError(f"summary: input_size must be one shape without the batch dimension, e.g. "
                     f"(3, 224, 224), or a list of such shapes, got {input_size!r}")


def _tensors(output: Any) -> list[Tensor]:
    """The tensors in a layer's output (a tensor, or a tuple/list/namedtuple of them)."""
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    if isinstance(output, dict):
        return [t for item in output.values() for t in _tensors(item)]
    return []


def _numel(shape: Shape) -> int:
    return math.prod(shape)


def _shape_text(shape: Shape | list[Shape]) -> str:
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value} "


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2 ** 20:,.2f} MB"


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > max(width, 60):
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + [line]
