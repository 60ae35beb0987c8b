"""ONNX export of a model's inference graph: ``tc.onnx.export(model, example_input, path)``.

ONNX is a file format for computation graphs that every inference engine reads (onnxruntime,
TensorRT, OpenVINO, CoreML converters, the browser's onnxruntime-web...): nodes such as
``Conv``, ``BatchNormalization``, ``Relu``, ``Add``, with the weights stored beside them as
"initializers". Exporting is the graduation path: a model trained here runs anywhere.

**How the graph is found: a recording pass.** We run the model once on ``example_input`` and
watch it, in two ways at once:

- every call of a *layer* this module knows (``Conv2d``, ``BatchNorm2d``, ``Linear``, the
  pools, the activations, ``Flatten``, ``Dropout``...) becomes one ONNX node, written from the
  layer's settings (kernel size, stride, padding...). A layer is recorded as a whole, so that
  BatchNorm is one ``BatchNormalization`` node and not the dozen array operations it computes;
- every tensor operation run *between* layers, in a model's own ``forward`` (ResNet's
  ``out + shortcut``, DenseNet's ``cat``, a squeeze-excitation's ``x * w``), is caught where all
  tensor operations pass: :meth:`tinyconv.autograd.Function.apply_with_ctx`. ``Add``, ``Mul``,
  ``Concat``, ``Reshape``... are written for those.

Why not the alternatives? Walking the module tree alone cannot know how a ``forward`` combines
its children (the order, the skip connections); reading the autograd graph alone would give
BatchNorm as many small nodes and needs gradients switched on. Recording the calls gives the
graph as the model really ran, with the layers kept whole, like ``torch.onnx.export``'s tracer.
Like any tracer it records the path taken on *this* input: Python ``if``s on tensor values are
frozen (tinyconv's models have none in eval mode).

The model is exported in eval mode (running statistics for BatchNorm, no dropout). The batch
dimension is left symbolic (``"N"``), so the file accepts any batch size. The ``onnx`` package
builds and checks the file (``pip install onnx``); ``onnxruntime`` runs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from tinyconv import autograd, nn
from tinyconv.backend import to_host
from tinyconv.tensor import Tensor

__all__ = ["OPSET_VERSION", "SUPPORTED_LAYERS", "export"]

OPSET_VERSION = 17

_INSTALL = "pip install onnx (or pip install 'tinyconv[interop]')"


def _pair(value: Any, dims: int = 2) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (tuple, list)) else [int(value)] * dims


class _Recorder:
    """Collects nodes and initializers while the model runs; names every tensor it meets."""

    def __init__(self, model: nn.Module, helper: Any, numpy_helper: Any):
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.initializers: dict[str, Any] = {}
        self.names: dict[int, str] = {}   # id(tensor) -> ONNX value name
        self.alive: list[Tensor] = []     # keeps recorded tensors alive, so their ids stay unique
        self.module_names = {id(m): name or "model" for name, m in model.named_modules()}
        self.parameter_names = {id(t): name for name, t in model.state_dict(keep_vars=True).items()}
        self.count = 0
        self.in_layer = 0                 # > 0 while a recorded layer runs
        self.scope = ["model"]            # the module whose forward is running (error messages)

    # -- naming ---------------------------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def name_output(self, tensor: Tensor, name: str) -> str:
        self.names[id(tensor)] = name
        self.alive.append(tensor)
        return name

    def value(self, tensor: Any, what: str = "constant") -> str:
        """The ONNX name of ``tensor``: a recorded value, a parameter, or a new constant."""
        if isinstance(tensor, Tensor) and id(tensor) in self.names:
            return self.names[id(tensor)]
        array = to_host(tensor.data) if isinstance(tensor, Tensor) else np.asarray(tensor)
        name = self.parameter_names.get(id(tensor)) if isinstance(tensor, Tensor) else None
        name = name or self.fresh(what)
        if name not in self.initializers:
            # (np.asarray, not np.ascontiguousarray, which turns a 0-d scalar into shape (1,))
            self.initializers[name] = self.numpy_helper.from_array(np.asarray(array, order="C"),
                                                                   name)
        if isinstance(tensor, Tensor):
            self.name_output(tensor, name)
        return name

    def constant(self, values: Any, dtype: Any, hint: str) -> str:
        name = self.fresh(hint)
        self.initializers[name] = self.numpy_helper.from_array(np.asarray(values, dtype), name)
        return name

    def node(self, op_type: str, inputs: list[str], output: Tensor | str, name: str,
             **attributes: Any) -> None:
        """Append a node; ``output`` is the tensor it computes (or an intermediate's name)."""
        out_name = output if isinstance(output, str) else \
            self.name_output(output, self.fresh(f"{name}.out"))
        self.nodes.append(self.helper.make_node(op_type, inputs, [out_name],
                                                name=self.fresh(name or op_type), **attributes))

    def alias(self, output: Tensor, input: Tensor) -> None:
        """A layer that is the identity at inference (Dropout, Identity): no node."""
        self.name_output(output, self.value(input))

    def unsupported(self, what: str) -> Exception:
        return NotImplementedError(
            f"onnx.export: {what} (in the forward of {self.scope[-1]!r}) has no ONNX translation "
            f"here; supported layers: {', '.join(sorted(c.__name__ for c in SUPPORTED_LAYERS))}; "
            f"between layers: "
            f"{', '.join(sorted(_GLUE))}")


# -- layers -> ONNX nodes --------------------------------------------------------------------

def _conv(r: _Recorder, m: nn.Module, x: Tensor, y: Tensor, name: str) -> None:
    if m.padding_mode != "zeros":
        raise r.unsupported(f"{type(m).__name__} with padding_mode={m.padding_mode!r}")
    dims = len(m.kernel_size)
    kernel, stride, dilation = list(m.kernel_size), _pair(m.stride, dims), \
        _pair(m.dilation, dims)
    if isinstance(m.padding, str):  # "valid", or "same" (stride 1: the odd pixel goes at the end)
        total = [0] * dims if m.padding == "valid" else \
            [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        begin = [t // 2 for t in total]
        pads = begin + [t - b for t, b in zip(total, begin, strict=True)]
    else:
        pads = _pair(m.padding, dims) * 2
    inputs = [r.value(x), r.value(m.weight)] + ([r.value(m.bias)] if m.bias is not None else [])
    attributes = dict(kernel_shape=kernel, strides=stride, pads=pads, dilations=dilation,
                      group=int(m.groups))
    if isinstance(m, nn.ConvTranspose2d):
        attributes["output_padding"] = _pair(m.output_padding, dims)
        r.node("ConvTranspose", inputs, y, name, **attributes)
    else:
        r.node("Conv", inputs, y, name, **attributes)


def _linear(r: _Recorder, m: nn.Module, x: Tensor, y: Tensor, name: str) -> None:
    weight = r.value(m.weight)
    if x.ndim == 2:  # y = x W^T + b in one node
        inputs = [r.value(x), weight] + ([r.value(m.bias)] if m.bias is not None else [])
        r.node("Gemm", inputs, y, name, transB=1)
        return
    weight_t = to_host(m.weight.data).T  # MatMul wants (in_features, out_features)
    transposed = r.constant(weight_t, weight_t.dtype, f"{name}.weight_t")
    if m.bias is None:
        r.node("MatMul", [r.value(x), transposed], y, name)
        return
    product = r.fresh(f"{name}.matmul")
    r.node("MatMul", [r.value(x), transposed], product, name)
    r.node("Add", [product, r.value(m.bias)], y, name)


def _batch_norm(r: _Recorder, m: nn.Module, x: Tensor, y: Tensor, name: str) -> None:
    if m.running_mean is None:
        raise r.unsupported(f"{type(m).__name__} with track_running_stats=False (it normalises "
                            "with each batch's own statistics, also at inference)")
    dtype = to_host(m.running_mean.data).dtype
    scale = r.value(m.weight) if m.weight is not None else \
        r.constant(np.ones(m.num_features), dtype, f"{name}.scale")
    shift = r.value(m.bias) if m.bias is not None else \
        r.constant(np.zeros(m.num_features), dtype, f"{name}.shift")
    r.node("BatchNormalization",
           [r.value(x), scale, shift, r.value(m.running_mean), r.value(m.running_var)],
           y, name, epsilon=float(m.eps))


def _pool_attributes(m: nn.Module) -> dict:
    stride = m.stride if m.stride is not None else m.kernel_size
    return dict(kernel_shape=_pair(m.kernel_size), strides=_pair(stride),
                pads=_pair(m.padding) * 2, ceil_mode=int(bool(m.ceil_mode)))


def _max_pool(r: _Recorder, m: nn.Module, x: Tensor, y: Tensor, name: str) -> None:
    if m.return_indices:
        raise r.unsupported("MaxPool2d with return_indices=True")
    r.node("MaxPool", [r.value(x)], y, name, dilations=_pair(m.dilation), **_pool_attributes(m))


def _avg_pool(r: _Recorder, m: nn.Module, x: Tensor, y: Tensor, name: str) -> None:
    if getattr(m, "divisor_override", None) is not None:
        raise r.unsupported("AvgPool2d with divisor_override")
    r.node("AveragePool", [r.value(x)], y, name, count_include_pad=int(m.count_include_pad),
           **_pool_attributes(m))


def _adaptive_pool(r: _Recorder, m: nn.Module, x: Tensor, y: Tensor, name: str) -> None:
    average = isinstance(m, nn.AdaptiveAvgPool2d)
    if tuple(y.shape[2:]) == (1, 1):
        r.node("GlobalAveragePool" if average else "GlobalMaxPool", [r.value(x)], y, name)
        return
    sizes_in, sizes_out = x.shape[2:], y.shape[2:]
    if any(i % o for i, o in zip(sizes_in, sizes_out, strict=True)):
        raise r.unsupported(f"{type(m).__name__} from {tuple(sizes_in)} to {tuple(sizes_out)} "
                            "(ONNX has adaptive pooling only when the sizes divide)")
    kernel = [i // o for i, o in zip(sizes_in, sizes_out, strict=True)]
    r.node("AveragePool" if average else "MaxPool", [r.value(x)], y, name,
           kernel_shape=kernel, strides=kernel)


def _flatten(r: _Recorder, m: nn.Module, x: Tensor, y: Tensor, name: str) -> None:
    if m.start_dim == 1 and m.end_dim in (-1, x.ndim - 1):
        r.node("Flatten", [r.value(x)], y, name, axis=1)
    else:
        _reshape(r, x, y, name)


def _reshape(r: _Recorder, x: Tensor, y: Tensor, name: str) -> None:
    """Reshape to ``y``'s shape, keeping the batch dimension free when it is kept."""
    target = list(y.shape)
    if target and x.ndim and target[0] == x.shape[0]:
        target[0] = -1 if int(np.prod(target[1:])) else target[0]
    r.node("Reshape", [r.value(x), r.constant(target, np.int64, f"{name}.shape")], y, name)


def _activation(op_type: str, **attributes: Callable) -> Callable:
    def write(r: _Recorder, m: nn.Module, x: Tensor, y: Tensor, name: str) -> None:
        r.node(op_type, [r.value(x)], y, name,
               **{key: get(m) for key, get in attributes.items()})
    return write


def _relu6(r: _Recorder, m: nn.Module, x: Tensor, y: Tensor, name: str) -> None:
    dtype = to_host(x.data).dtype
    r.node("Clip", [r.value(x), r.constant(0, dtype, f"{name}.min"),
                    r.constant(6, dtype, f"{name}.max")], y, name)


def _identity(r: _Recorder, m: nn.Module, x: Tensor, y: Tensor, name: str) -> None:
    r.alias(y, x)


SUPPORTED_LAYERS: dict[type, Callable] = {
    nn.Conv2d: _conv, nn.Conv1d: _conv, nn.ConvTranspose2d: _conv,
    nn.Linear: _linear,
    nn.BatchNorm2d: _batch_norm, nn.BatchNorm1d: _batch_norm,
    nn.MaxPool2d: _max_pool, nn.AvgPool2d: _avg_pool,
    nn.AdaptiveAvgPool2d: _adaptive_pool, nn.AdaptiveMaxPool2d: _adaptive_pool,
    nn.Flatten: _flatten,
    nn.ReLU: _activation("Relu"), nn.ReLU6: _relu6, nn.Sigmoid: _activation("Sigmoid"),
    nn.Tanh: _activation("Tanh"),
    nn.LeakyReLU: _activation("LeakyRelu", alpha=lambda m: float(m.negative_slope)),
    nn.Softmax: _activation("Softmax", axis=lambda m: -1 if m.dim is None else int(m.dim)),
    nn.LogSoftmax: _activation("LogSoftmax",
                               axis=lambda m: -1 if m.dim is None else int(m.dim)),
    nn.Dropout: _identity, nn.Dropout2d: _identity, nn.Identity: _identity,
}
# pooling subclasses for 1-D inputs are not translated (their kernel sizes are 1-D)
_NOT_TRANSLATED = (nn.MaxPool1d, nn.AvgPool1d)


def _layer_writer(module: nn.Module) -> Callable | None:
    if isinstance(module, _NOT_TRANSLATED):
        return None
    for cls in type(module).__mro__:
        if cls in SUPPORTED_LAYERS:
            return SUPPORTED_LAYERS[cls]
    return None


# -- operations between layers -> ONNX nodes --------------------------------------------------

def _glue_elementwise(op_type: str) -> Callable:
    def write(r: _Recorder, inputs: tuple, params: dict, output: Tensor) -> None:
        r.node(op_type, [r.value(t) for t in inputs], output, r.fresh(op_type.lower()))
    return write


def _glue_concat(r: _Recorder, inputs: tuple, params: dict, output: Tensor) -> None:
    axis = params.get("axis", params.get("dim"))
    if axis is None:  # the one axis whose size changed
        changed = [d for d in range(output.ndim) if output.shape[d] != inputs[0].shape[d]]
        axis = changed[0] if changed else 0
    r.node("Concat", [r.value(t) for t in inputs], output, r.fresh("concat"), axis=int(axis))


def _glue_reshape(r: _Recorder, inputs: tuple, params: dict, output: Tensor) -> None:
    _reshape(r, inputs[0], output, r.fresh("reshape"))


_GLUE: dict[str, Callable] = {
    "Add": _glue_elementwise("Add"), "Sub": _glue_elementwise("Sub"),
    "Mul": _glue_elementwise("Mul"), "Div": _glue_elementwise("Div"),
    "ReLU": _glue_elementwise("Relu"), "Sigmoid": _glue_elementwise("Sigmoid"),
    "Tanh": _glue_elementwise("Tanh"), "Cat": _glue_concat, "Reshape": _glue_reshape,
}


def _glue_writer(function_class: type) -> tuple[str, Callable | None]:
    name = function_class.__name__.removesuffix("Function")
    return name, _GLUE.get(name)


# -- the recording pass ----------------------------------------------------------------------

def _trace(model: nn.Module, example: Tensor, recorder: _Recorder) -> Any:
    """Run ``model(example)`` with ``Module.__call__`` and ``Function.apply_with_ctx`` wrapped
    so that they report to ``recorder``, and ``nn.Sequential``'s fusion off; all restored
    afterwards, whatever happens."""
    original_call = nn.Module.__call__
    original_apply = autograd.Function.apply_with_ctx.__func__

    def recording_call(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
        writer = _layer_writer(module)
        if recorder.in_layer or writer is None:  # a container: look inside
            recorder.scope.append(recorder.module_names.get(id(module), type(module).__name__))
            try:
                return original_call(module, *args, **kwargs)
            finally:
                recorder.scope.pop()
        recorder.in_layer += 1
        try:
            output = original_call(module, *args, **kwargs)
        finally:
            recorder.in_layer -= 1
        if len(args) != 1 or kwargs or not isinstance(args[0], Tensor) or \
                not isinstance(output, Tensor):
            raise recorder.unsupported(f"a {type(module).__name__} called with "
                                       f"{len(args)} arguments or returning a non-tensor")
        name = recorder.module_names.get(id(module), type(module).__name__)
        writer(recorder, module, args[0], output, name)
        return output

    def recording_apply(cls: type, *inputs: Any, **params: Any) -> Any:
        output, ctx = original_apply(cls, *inputs, **params)
        if not recorder.in_layer:
            op, writer = _glue_writer(cls)
            if writer is None:
                raise recorder.unsupported(f"the tensor operation {op}")
            writer(recorder, inputs, params, output)
        return output, ctx

    # every layer must be called on its own to be recorded: no fused Conv2d, ReLU runs
    sequentials = [m for m in model.modules() if isinstance(m, nn.Sequential)]
    fusing = [getattr(m, "fuse", True) for m in sequentials]
    nn.Module.__call__ = recording_call
    autograd.Function.apply_with_ctx = classmethod(recording_apply)
    try:
        for m in sequentials:
            m.fuse = False
        with autograd.no_grad():
            return model(example)
    finally:
        nn.Module.__call__ = original_call
        autograd.Function.apply_with_ctx = classmethod(original_apply)
        for m, fuse in zip(sequentials, fusing, strict=True):
            m.fuse = fuse


def export(model: nn.Module, example_input: Tensor, path: str | os.PathLike | None = None,
           input_names: tuple[str, ...] = ("input",),
           output_names: tuple[str, ...] = ("output",), dynamic_batch: bool = True,
           opset_version: int = OPSET_VERSION) -> Any:
    """Write ``model``'s inference graph to ``path`` as ONNX (and return the ``onnx`` model).

    Args:
        model: a tinyconv model made of the layers in :data:`SUPPORTED_LAYERS`, combined in its
            ``forward`` with ``+``, ``-``, ``*``, ``/``, ``tc.cat`` and reshapes.
        example_input: one input, e.g. ``tc.randn(1, 3, 224, 224)``: its shape (but for the batch
            size, when ``dynamic_batch``) is fixed in the file.
        path: where to write the ``.onnx`` file (None: only return the model).
        dynamic_batch: name the first dimension ``"N"`` so that any batch size runs.

    The model runs in eval mode during the export and gets its previous mode back.

    >>> import tinyconv as tc
    >>> model = tc.models.lenet5()
    >>> onnx_model = tc.onnx.export(model, tc.zeros(1, 1, 32, 32), "lenet5.onnx")  # doctest: +SKIP
    """
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError as error:
        raise ModuleNotFoundError(f"onnx.export needs the onnx package: {_INSTALL}") from error
    if not isinstance(model, nn.Module):
        raise TypeError(f"onnx.export: model must be a tinyconv nn.Module, got "
                        f"{type(model).__name__}")
    if not isinstance(example_input, Tensor):
        raise TypeError(f"onnx.export: example_input must be a tinyconv Tensor (e.g. "
                        f"tc.randn(1, 3, 32, 32)), got {type(example_input).__name__}")
    modes = {id(m): m.training for m in model.modules()}
    model.eval()
    recorder = _Recorder(model, helper, numpy_helper)
    try:
        input_name = recorder.name_output(example_input, input_names[0])
        output = _trace(model, example_input, recorder)
    finally:
        for m in model.modules():
            object.__setattr__(m, "training", modes[id(m)])
    outputs = list(output) if isinstance(output, (tuple, list)) else [output]
    if not all(isinstance(t, Tensor) for t in outputs):
        raise TypeError("onnx.export: the model must return a tensor or a tuple of tensors")

    def value_info(name: str, tensor: Tensor) -> Any:
        shape: list = list(tensor.shape)
        if dynamic_batch and shape:
            shape[0] = "N"
        elem_type = helper.np_dtype_to_tensor_dtype(np.dtype(tensor.dtype))
        return helper.make_tensor_value_info(name, elem_type, shape)

    graph_outputs = []
    for index, tensor in enumerate(outputs):
        wanted = output_names[index] if index < len(output_names) else f"output_{index}"
        # an Identity node gives the output its public name (runtimes remove it)
        recorder.nodes.append(helper.make_node("Identity", [recorder.value(tensor)], [wanted],
                                               name=f"{wanted}.identity"))
        graph_outputs.append(value_info(wanted, tensor))
    graph = helper.make_graph(recorder.nodes, type(model).__name__,
                              [value_info(input_name, example_input)], graph_outputs,
                              initializer=list(recorder.initializers.values()))
    onnx_model = helper.make_model(graph, producer_name="tinyconv",
                                   opset_imports=[helper.make_opsetid("", opset_version)])
    onnx_model.ir_version = min(onnx_model.ir_version, 8)  # readable by older runtimes too
    onnx.checker.check_model(onnx_model, full_check=True)
    if path is not None:
        onnx.save(onnx_model, os.fspath(path))
    return onnx_model
