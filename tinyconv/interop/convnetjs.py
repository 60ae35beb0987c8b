"""convnetjs's JSON (Karpathy's JavaScript library): ``Net.toJSON()`` / ``Net.fromJSON()``.

A convnetjs network is a list of layers, each a JSON object with a ``layer_type``: ``input``,
``conv``, ``pool`` (max only), ``fc``, ``relu``, ``sigmoid``, ``tanh``, ``dropout``, ``softmax``.
Translating from tinyconv needs care in four places:

- **Layout.** A convnetjs volume ``Vol(sx, sy, depth)`` is width ``sx``, height ``sy`` and
  channels ``depth``, stored *depth-last*: value ``(x, y, d)`` is ``w[(sx*y + x)*depth + d]``,
  i.e. a ``(H, W, C)`` array flattened. tinyconv (like PyTorch) is ``(C, H, W)``. So an input
  image is ``x.transpose(1, 2, 0).ravel()``, and a conv filter ``W[o]`` of shape
  ``(C_in, kH, kW)`` becomes ``W[o].transpose(1, 2, 0).ravel()``.
- **Flattening.** convnetjs has no flatten layer: an ``fc`` layer reads its input volume in that
  depth-last order. After ``nn.Flatten`` tinyconv's order is ``(C, H, W)``, so each row of a
  ``Linear`` weight is permuted the same way as a filter.
- **Sizes.** ``conv`` and ``pool`` have one ``stride`` and one ``pad`` for both axes and compute
  ``out = floor((in + 2*pad - k) / stride + 1)``, PyTorch's rule without dilation or ceil mode.
  A padded ``pool`` ignores the padding (as PyTorch's max pooling does). The JSON stores every
  layer's ``out_sx``/``out_sy``/``out_depth``, and ``fromJSON`` trusts them, so we compute them
  exactly (the tests compare them with what convnetjs's own constructors compute).
- **Prediction-time quirks.** ``dropout`` multiplies by ``drop_prob`` at prediction (not by
  ``1 - p``): we never export a Dropout (it is the identity at inference) and import convnetjs's
  as a :class:`ConvnetjsDropoutScale`. Max pooling starts from -99999, not -inf.

``save(model, path, input_size)`` writes the JSON (with a final ``softmax`` layer, which convnetjs
networks end with); ``tc.load(path)`` gives back an ``nn.Sequential``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from tinyconv import nn
from tinyconv.backend import to_host
from tinyconv.serialization import LoadError, _atomic_write
from tinyconv.tensor import Tensor

__all__ = ["ConvnetjsDropoutScale", "from_json", "load", "save", "to_json"]


class ConvnetjsDropoutScale(nn.Module):
    """convnetjs's dropout layer at prediction time: multiplies by ``drop_prob``."""

    def __init__(self, drop_prob: float):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, input: Tensor) -> Tensor:
        return input * self.drop_prob

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


def _pair(value: Any) -> tuple[int, int]:
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else \
        (int(value), int(value))


def _vol(array: np.ndarray, sx: int, sy: int, depth: int) -> dict:
    return {"sx": sx, "sy": sy, "depth": depth, "w": [float(v) for v in array.ravel()]}


def _output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """convnetjs's ``Math.floor((in + pad * 2 - k) / stride + 1)``."""
    return (size + 2 * pad - kernel) // stride + 1


def _chain_of_layers(model: nn.Module, input_size: tuple[int, int, int]) -> list[nn.Module]:
    """The leaf layers ``model`` runs, in order, checked to form a chain (each one's input is
    the previous one's output): convnetjs networks are sequential."""
    calls: list[tuple[nn.Module, Any, Any]] = []
    handles = [m.register_forward_hook(lambda m, inputs, output: calls.append((m, inputs, output)))
               for m in model.modules() if not list(m.children())]
    training = {id(m): m.training for m in model.modules()}
    model.eval()
    try:
        x = Tensor(np.zeros((1, *input_size), np.float32))
        from tinyconv.autograd import no_grad

        with no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for m in model.modules():
            object.__setattr__(m, "training", training[id(m)])
    previous = x
    for module, inputs, output in calls:
        if len(inputs) != 1 or inputs[0] is not previous:
            raise ValueError(f"convnetjs.save: {type(model).__name__} is not a sequential "
                             f"network (the input of {type(module).__name__} is not the output "
                             "of the layer before it); convnetjs networks are a chain of layers")
        previous = output
    return [module for module, _, _ in calls]


def to_json(model: nn.Module, input_size: tuple[int, int, int], add_softmax: bool = True) -> dict:
    """The ``Net.toJSON()`` object of a sequential ``model`` for inputs ``(C, H, W)``.

    Layers: Conv2d (groups 1, no dilation, one stride and one padding for both axes), MaxPool2d
    (likewise, no ceil mode), Linear, ReLU, Sigmoid, Tanh, Flatten, Softmax at the end; Dropout
    and Identity are left out (the identity at inference). ``add_softmax`` appends a softmax if
    the model ends with logits.
    """
    depth, sy, sx = (int(n) for n in input_size)
    layers: list[dict] = [{"layer_type": "input", "out_sx": sx, "out_sy": sy,
                           "out_depth": depth}]
    shape = (depth, sy, sx)  # the current volume, as (C, H, W)

    def simple(layer_type: str) -> dict:
        return {"layer_type": layer_type, "out_sx": shape[2], "out_sy": shape[1],
                "out_depth": shape[0]}

    for module in _chain_of_layers(model, (depth, sy, sx)):
        kind = type(module).__name__
        if isinstance(module, (nn.Dropout, nn.Identity, nn.Flatten)):
            continue  # fc layers flatten by themselves
        if isinstance(module, nn.Conv2d):
            stride, padding = _pair(module.stride), module.padding
            if isinstance(padding, str):
                raise ValueError(f"convnetjs.save: Conv2d padding={padding!r}; give numbers")
            padding = _pair(padding)
            if module.groups != 1 or _pair(module.dilation) != (1, 1) or \
                    stride[0] != stride[1] or padding[0] != padding[1] or \
                    module.padding_mode != "zeros":
                raise ValueError(f"convnetjs.save: convnetjs convolutions have groups=1, no "
                                 f"dilation and one stride and zero padding for both axes; got "
                                 f"{module!r}")
            weight = to_host(module.weight.data).astype(np.float64)
            out_channels, in_channels, kh, kw = weight.shape
            bias = to_host(module.bias.data) if module.bias is not None else \
                np.zeros(out_channels)
            shape = (out_channels, _output_size(shape[1], kh, stride[0], padding[0]),
                     _output_size(shape[2], kw, stride[0], padding[0]))
            layers.append({**simple("conv"), "sx": kw, "sy": kh, "stride": stride[0],
                           "in_depth": in_channels, "pad": padding[0], "l1_decay_mul": 0.0,
                           "l2_decay_mul": 1.0,
                           "filters": [_vol(f.transpose(1, 2, 0), kw, kh, in_channels)
                                       for f in weight],
                           "biases": _vol(bias, 1, 1, out_channels)})
        elif isinstance(module, nn.MaxPool2d) and not isinstance(module, nn.MaxPool1d):
            (kh, kw), stride = _pair(module.kernel_size), _pair(module.stride or
                                                                module.kernel_size)
            padding = _pair(module.padding)
            if module.ceil_mode or _pair(module.dilation) != (1, 1) or \
                    stride[0] != stride[1] or padding[0] != padding[1]:
                raise ValueError(f"convnetjs.save: convnetjs pooling has no ceil mode or "
                                 f"dilation and one stride and padding; got {module!r}")
            shape = (shape[0], _output_size(shape[1], kh, stride[0], padding[0]),
                     _output_size(shape[2], kw, stride[0], padding[0]))
            layers.append({**simple("pool"), "sx": kw, "sy": kh, "stride": stride[0],
                           "in_depth": shape[0], "pad": padding[0]})
        elif isinstance(module, nn.Linear):
            weight = to_host(module.weight.data).astype(np.float64)
            num_inputs = int(np.prod(shape))
            if weight.shape[1] != num_inputs:
                raise ValueError(f"convnetjs.save: Linear expects {weight.shape[1]} inputs but "
                                 f"the volume before it is {shape}")
            # tinyconv flattens (C, H, W); convnetjs reads (H, W, C): permute every row
            rows = weight.reshape(-1, *shape).transpose(0, 2, 3, 1).reshape(len(weight), -1)
            bias = to_host(module.bias.data) if module.bias is not None else \
                np.zeros(len(weight))
            shape = (len(weight), 1, 1)
            layers.append({**simple("fc"), "num_inputs": num_inputs, "l1_decay_mul": 0.0,
                           "l2_decay_mul": 1.0,
                           "filters": [_vol(row, 1, 1, num_inputs) for row in rows],
                           "biases": _vol(bias, 1, 1, shape[0])})
        elif isinstance(module, (nn.ReLU, nn.Sigmoid, nn.Tanh)) and \
                not isinstance(module, nn.ReLU6):
            layers.append(simple({"ReLU": "relu", "Sigmoid": "sigmoid",
                                  "Tanh": "tanh"}[kind]))
        elif isinstance(module, nn.Softmax) and not isinstance(module, nn.LogSoftmax):
            layers.append({**simple("softmax"), "num_inputs": int(np.prod(shape))})
        else:
            raise ValueError(f"convnetjs.save: {kind} has no convnetjs layer (convnetjs has "
                             "conv, max pool, fc, relu, sigmoid, tanh and softmax)")
    if add_softmax and layers[-1]["layer_type"] != "softmax":
        n = int(np.prod(shape))
        layers.append({"layer_type": "softmax", "out_sx": 1, "out_sy": 1, "out_depth": n,
                       "num_inputs": n})
    return {"layers": layers}


def save(model: nn.Module, path: str | os.PathLike, input_size: tuple[int, int, int],
         add_softmax: bool = True) -> None:
    """Write ``model`` as convnetjs JSON (see :func:`to_json`), atomically.

    In JavaScript: ``net = new convnetjs.Net(); net.fromJSON(JSON.parse(text))``.
    """
    text = json.dumps(to_json(model, input_size, add_softmax))
    _atomic_write(path, lambda file: file.write(text.encode()))


# -- reading ---------------------------------------------------------------------------------

def _weights(path: Any, vol: Any, sx: int, sy: int, depth: int, what: str) -> np.ndarray:
    """A Vol's values as a ``(sy, sx, depth)`` array. ``w`` is a list, or an object keyed by
    index, which is what ``JSON.stringify`` makes of the Float64Array convnetjs stores."""
    if not isinstance(vol, dict) or (vol.get("sx"), vol.get("sy"), vol.get("depth")) != \
            (sx, sy, depth):
        found = {k: vol.get(k) for k in ("sx", "sy", "depth")} if isinstance(vol, dict) else vol
        raise LoadError(path, f"{what} should be a volume of sx={sx}, sy={sy}, depth={depth}; "
                        f"found {found}")
    values = vol.get("w")
    count = sx * sy * depth
    if isinstance(values, dict):
        values = [values.get(str(i)) for i in range(count)]
    if not isinstance(values, list) or len(values) != count or \
            not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise LoadError(path, f"{what} should hold {count} numbers")
    return np.array(values, dtype=np.float64).reshape(sy, sx, depth)


def from_json(spec: Any, path: Any = "<json>", dtype: Any = np.float32) -> nn.Sequential:
    """An ``nn.Sequential`` computing what convnetjs's network ``spec`` computes."""
    if not isinstance(spec, dict) or not isinstance(spec.get("layers"), list) or \
            not spec["layers"] or not isinstance(spec["layers"][0], dict) or \
            spec["layers"][0].get("layer_type") != "input":
        raise LoadError(path, "not a convnetjs network (a JSON object whose \"layers\" list "
                        "starts with an input layer)")
    first = spec["layers"][0]
    try:
        shape = tuple(int(first[k]) for k in ("out_depth", "out_sy", "out_sx"))
    except (KeyError, TypeError, ValueError):
        raise LoadError(path, f"the input layer has no valid size: {first}") from None
    modules: list[nn.Module] = []
    flat = False  # whether a Flatten has been added (before the first fc layer)

    def number(layer: dict, key: str, index: int, default: Any = None) -> int:
        value = layer.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise LoadError(path, f"layer {index} ({layer.get('layer_type')}) has {key}="
                            f"{value!r}, not a non-negative integer")
        return value

    for index, layer in enumerate(spec["layers"][1:], 1):
        if not isinstance(layer, dict):
            raise LoadError(path, f"layer {index} is not a JSON object")
        kind = layer.get("layer_type")
        if kind == "conv":
            sx, sy = number(layer, "sx", index), number(layer, "sy", index)
            stride, pad = number(layer, "stride", index), number(layer, "pad", index, 0)
            out_depth = number(layer, "out_depth", index)
            filters = layer.get("filters")
            if not isinstance(filters, list) or len(filters) != out_depth or stride < 1:
                raise LoadError(path, f"layer {index} (conv) should have {out_depth} filters "
                                "and a stride of at least 1")
            weight = np.stack([_weights(path, f, sx, sy, shape[0], f"layer {index} filter {i}")
                               for i, f in enumerate(filters)]).transpose(0, 3, 1, 2)
            conv = nn.Conv2d(shape[0], out_depth, (sy, sx), stride=stride, padding=pad)
            conv.weight.data[...] = weight
            conv.bias.data[...] = _weights(path, layer.get("biases"), 1, 1, out_depth,
                                           f"layer {index} biases").ravel()
            modules.append(conv)
            shape = (out_depth, _output_size(shape[1], sy, stride, pad),
                     _output_size(shape[2], sx, stride, pad))
        elif kind == "pool":
            sx, sy = number(layer, "sx", index), number(layer, "sy", index)
            stride, pad = number(layer, "stride", index), number(layer, "pad", index, 0)
            if stride < 1:
                raise LoadError(path, f"layer {index} (pool) has stride {stride}")
            modules.append(nn.MaxPool2d((sy, sx), stride=stride, padding=pad))
            shape = (shape[0], _output_size(shape[1], sy, stride, pad),
                     _output_size(shape[2], sx, stride, pad))
        elif kind == "fc":
            out_depth, num_inputs = number(layer, "out_depth", index), int(np.prod(shape))
            filters = layer.get("filters")
            if not isinstance(filters, list) or len(filters) != out_depth:
                raise LoadError(path, f"layer {index} (fc) should have {out_depth} filters")
            rows = np.stack([_weights(path, f, 1, 1, num_inputs, f"layer {index} filter {i}")
                             for i, f in enumerate(filters)])
            # convnetjs reads the volume as (H, W, C); tinyconv's Flatten gives (C, H, W)
            rows = rows.reshape(out_depth, shape[1], shape[2], shape[0]).transpose(0, 3, 1, 2)
            if not flat:
                modules.append(nn.Flatten())
                flat = True
            linear = nn.Linear(num_inputs, out_depth)
            linear.weight.data[...] = rows.reshape(out_depth, num_inputs)
            linear.bias.data[...] = _weights(path, layer.get("biases"), 1, 1, out_depth,
                                             f"layer {index} biases").ravel()
            modules.append(linear)
            shape = (out_depth, 1, 1)
        elif kind in ("relu", "sigmoid", "tanh"):
            modules.append({"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[kind]())
        elif kind == "softmax":
            if not flat:
                modules.append(nn.Flatten())
                flat = True
            modules.append(nn.Softmax(dim=1))
        elif kind == "dropout":
            modules.append(ConvnetjsDropoutScale(layer.get("drop_prob", 0.5)))
        else:
            raise LoadError(path, f"layer {index} has layer_type {kind!r}, which has no "
                            "tinyconv equivalent (supported: input, conv, pool, fc, relu, "
                            "sigmoid, tanh, dropout, softmax)")
        if min(shape) < 1:
            raise LoadError(path, f"layer {index} ({kind}) leaves an empty volume {shape}")
        stored = tuple(layer.get(k) for k in ("out_depth", "out_sy", "out_sx"))
        if kind in ("conv", "pool", "fc") and stored != shape:
            raise LoadError(path, f"layer {index} ({kind}) says its output is (depth, sy, sx) = "
                            f"{stored} but computes {shape}")
    return nn.Sequential(*modules).to(dtype=dtype).eval()


def load(path: str | os.PathLike, device: Any = "cpu") -> nn.Sequential:
    """Read a convnetjs JSON file as an ``nn.Sequential`` (``tc.load`` calls this)."""
    with open(path, "rb") as file:
        text = file.read()
    try:
        spec = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LoadError(path, f"not valid JSON (truncated?): {error}") from None
    return from_json(spec, os.fspath(path)).to(device=device)
