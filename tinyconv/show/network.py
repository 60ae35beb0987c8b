"""What the page shows, computed: a network's layers, their outputs for one image, its filters
and each layer's receptive field, as JSON-ready dicts.

:class:`Network` wraps a trained model and its test images. :meth:`Network.describe` is what
does not depend on the image (layers with their parameters, MACs and memory from
:func:`tc.summary <tinyconv.summary>`, filters, receptive-field geometry, a strip of test
images); :meth:`Network.run` runs the model on one image and returns every layer's output.

Arrays travel as ``{"shape": [...], "data": base64 of little-endian float32}``: exact (a test
compares them with the model's own forward to the last bit), and four times smaller than JSON
numbers. The browser decodes them into a ``Float32Array``.

**Receptive fields.** For a layer with kernel ``k``, stride ``s``, padding ``p`` and dilation
``d`` (per axis), pixel ``i`` of its output sees input pixels ``start + i·jump`` to
``start + i·jump + size − 1`` of the *image*, where, from the layer's input geometry
``(jump₀, start₀, size₀)`` (the image itself is ``(1, 0, 1)``)::

    jump  = jump₀ · s
    start = start₀ − p · jump₀
    size  = size₀ + d · (k − 1) · jump₀

— the size-and-stride arithmetic of the tutorials, applied layer after layer (two stacked 3×3
convolutions see 5×5). The geometry follows tensors through the forward pass: each layer's
output gets the geometry of the tensor it was called on. A tensor made outside any layer (the
sum in a residual block) has no geometry of its own; it takes that of the latest layer output
with the same height and width, which in ResNet-style blocks is the longer branch, the one
that sees more.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import tinyconv as tc

__all__ = ["Geometry", "Network", "encode_array"]

MAX_MAPS = 32  # feature maps sent per layer column (the first ones; the page says how many)
MAX_FEATURES = 1024  # values sent per fully connected column
MAX_FILTERS = 32  # filters drawn per conv layer ...
MAX_FILTER_INPUTS = 8  # ... and input channels per filter
STRIP_PER_CLASS = 2  # test images per class in the page's strip
# layers that do not change any value in eval mode: no column of their own
PASS_THROUGH = ("Flatten", "Dropout", "Dropout2d", "Identity")


def encode_array(array: np.ndarray) -> dict:
    """``{"shape": [...], "data": base64 of the float32 values, little-endian, C order}``."""
    values = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(values.shape), "data": base64.b64encode(values.tobytes()).decode()}


@dataclass(frozen=True)
class Geometry:
    """Where a feature map's pixels look in the input image, per axis ``(y, x)``: output pixel
    ``i`` sees image pixels ``start + i·jump`` … ``start + i·jump + size − 1``."""

    jump: tuple[float, float]
    start: tuple[float, float]
    size: tuple[float, float]

    def as_dict(self) -> dict:
        return {"jump": list(self.jump), "start": list(self.start), "size": list(self.size)}


IMAGE_GEOMETRY = Geometry(jump=(1, 1), start=(0, 0), size=(1, 1))


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _window_geometry(module: Any, before: Geometry) -> Geometry | None:
    """The output geometry of a sliding-window layer (conv or pooling), or None for other
    layers."""
    from tinyconv.nn.layers import AvgPool2d, Conv2d, MaxPool2d

    if not isinstance(module, (Conv2d, MaxPool2d, AvgPool2d)):
        return None
    kernel, stride = _pair(module.kernel_size), _pair(module.stride)
    dilation = _pair(getattr(module, "dilation", 1))
    padding = module.padding
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":  # the total d·(k−1) split with the smaller half first, as PyTorch
        padding = tuple(d * (k - 1) // 2 for d, k in zip(dilation, kernel, strict=True))
    padding = _pair(padding)
    return Geometry(
        jump=tuple(j * s for j, s in zip(before.jump, stride, strict=True)),
        start=tuple(st - p * j
                    for st, p, j in zip(before.start, padding, before.jump, strict=True)),
        size=tuple(sz + d * (k - 1) * j
                   for sz, d, k, j in zip(before.size, dilation, kernel, before.jump, strict=True)))


def _output_geometry(module: Any, before: Geometry | None, in_shape: tuple, out_shape: tuple,
                     image_hw: tuple[int, int]) -> Geometry | None:
    """The geometry of ``module``'s 4-D output, from that of its input (None: unknown)."""
    if before is None or len(in_shape) != 4 or len(out_shape) != 4:
        return None
    window = _window_geometry(module, before)
    if window is not None:
        return window
    if tuple(out_shape[2:]) == tuple(in_shape[2:]):  # elementwise, batch norm, 1×1 stride 1, ...
        return before
    if tuple(out_shape[2:]) == (1, 1):  # global pooling: every pixel of the image
        return Geometry(jump=(0, 0), start=(0, 0), size=tuple(float(n) for n in image_hw))
    return None


@dataclass
class _Call:
    """One call of one leaf layer, recorded during a forward pass."""

    name: str
    module: Any
    output: Any
    geometry: Geometry | None


class Network:
    """A trained model with its data set, ready to be drawn.

    Args:
        model: any tinyconv Module taking ``(N, C, H, W)`` images.
        test_images: float32 ``(N, C, H, W)``, as the model was trained to see them (e.g.
            standardized); the strip and ``run(test_index=...)`` use them.
        test_labels: int ``(N,)``.
        classes: the class names.
        title: free-form facts shown in the page's header (model, data set, checkpoint...).
    """

    def __init__(self, model: Any, test_images: np.ndarray, test_labels: np.ndarray,
                 classes: Sequence[str], title: dict | None = None):
        test_images = np.asarray(test_images, dtype=np.float32)
        if test_images.ndim != 4 or len(test_images) == 0:
            raise ValueError(f"Network: test_images must be a non-empty (N, C, H, W) array, got "
                             f"shape {test_images.shape}")
        self.model = model
        self.test_images = test_images
        self.test_labels = np.asarray(test_labels, dtype=np.int64)
        self.classes = [str(c) for c in classes]
        self.title = dict(title or {})
        self.image_shape = tuple(int(n) for n in test_images.shape[1:])
        # the pixel values of background and ink: a drawing in [0, 1] is mapped onto them, so
        # that it looks to the network like the images it was trained on (e.g. standardized)
        self.pixel_range = (float(test_images.min()), float(test_images.max()))

    # -- the image-independent part -------------------------------------------------------------

    def to_pixels(self, drawing: np.ndarray) -> np.ndarray:
        """A drawing with values in [0, 1] (0 background, 1 ink) -> the model's pixel values."""
        low, high = self.pixel_range
        return (low + np.asarray(drawing, dtype=np.float32) * (high - low)).astype(np.float32)

    def to_unit(self, image: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_pixels`: an image in the model's pixel values -> [0, 1]."""
        low, high = self.pixel_range
        return ((np.asarray(image, dtype=np.float32) - low) / max(high - low, 1e-12)).clip(0, 1)

    def strip(self) -> list[dict]:
        """Up to ``STRIP_PER_CLASS`` test images of each class: ``{"index", "label", "image"}``
        (the image in [0, 1], for display)."""
        chosen = []
        for label in range(len(self.classes)):
            indices = np.flatnonzero(self.test_labels == label)[:STRIP_PER_CLASS]
            chosen.extend(int(i) for i in indices)
        return [{"index": i, "label": int(self.test_labels[i]),
                 "image": encode_array(self.to_unit(self.test_images[i]))} for i in sorted(chosen)]

    def ink_fraction(self) -> float:
        """How much of the frame a test image's ink spans (median of the larger side of the box
        around pixels above half brightness, over the image size): the page scales a drawing's
        box to it, as MNIST centred its digits in 20 of 28 pixels."""
        unit = self.to_unit(self.test_images[:500]).max(axis=1)  # (N, H, W), any channel
        sides = []
        for image in unit:
            rows, cols = np.nonzero(image > 0.5)
            if len(rows):
                sides.append(max(np.ptp(rows) + 1, np.ptp(cols) + 1) / max(image.shape))
        return float(np.median(sides)) if sides else 0.8

    def describe(self) -> dict:
        """Everything the page draws that does not depend on the input image."""
        summary = tc.summary(self.model, self.image_shape, print_table=False)
        calls, _ = self._trace(self.test_images[0])
        rows = summary.rows
        if [r.name for r in rows] != [c.name for c in calls]:  # both hook the same leaves
            raise RuntimeError("show: tc.summary and the page's trace saw different layers")
        layers, skipped = [], []
        for row, call in zip(rows, calls, strict=True):
            if row.type in PASS_THROUGH:
                skipped.append(row.name)
                continue
            layers.append({"name": row.name, "type": row.type,
                           "output_shape": _shape_list(row.output_shape), "params": row.params,
                           "macs": row.macs, "activation_bytes": row.activation_bytes,
                           "receptive_field": call.geometry.as_dict() if call.geometry else None,
                           "note": _undrawable(call.output)})
        return {
            "title": self.title, "classes": self.classes, "image_shape": list(self.image_shape),
            "pixel_range": list(self.pixel_range), "ink_fraction": self.ink_fraction(),
            "layers": layers, "skipped": skipped, "filters": self.filters(),
            "totals": {"params": summary.total_params, "macs": summary.total_macs,
                       "activation_bytes": summary.activation_bytes,
                       "param_bytes": summary.param_bytes},
            "strip": self.strip(),
            "limits": {"maps": MAX_MAPS, "features": MAX_FEATURES, "filters": MAX_FILTERS,
                       "filter_inputs": MAX_FILTER_INPUTS}}

    def filters(self, first_only: bool = False) -> list[dict]:
        """Each 2-D convolution's weights ``(C_out, C_in/groups, kH, kW)``, the first
        ``MAX_FILTERS × MAX_FILTER_INPUTS`` slices (only the first layer's if ``first_only``)."""
        from tinyconv.nn.layers import Conv2d

        result = []
        for name, module in self.model.named_modules():
            if isinstance(module, Conv2d):
                weight = _host(module.weight)
                result.append({"name": name, "shape": list(weight.shape),
                               "weights": encode_array(
                                   weight[:MAX_FILTERS, :MAX_FILTER_INPUTS])})
                if first_only:
                    break
        return result

    # -- one image ------------------------------------------------------------------------------

    def check_drawing(self, pixels: Any) -> np.ndarray:
        """A drawing as sent by the page -> ``(C, H, W)`` float32 in [0, 1], or ValueError saying
        what a valid one is. Accepts ``H`` rows of ``W`` numbers (copied to every channel) or
        ``C`` such grids."""
        channels, height, width = self.image_shape
        expected = (f"{height} rows of {width} numbers in [0, 1] (the model's input is "
                    f"{channels}×{height}×{width})")
        if not isinstance(pixels, list) or not pixels:
            raise ValueError(f"pixels: expected {expected}, got {type(pixels).__name__}")
        try:
            array = np.array(pixels, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"pixels: expected {expected}; the rows are ragged or hold "
                             f"something other than numbers") from None
        if array.shape == (height, width):
            array = np.broadcast_to(array, (channels, height, width))
        if array.shape != (channels, height, width):
            raise ValueError(f"pixels: expected {expected}, got an array of shape "
                             f"{list(array.shape)}")
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ValueError(f"pixels: every value must be a finite number in [0, 1], got values "
                             f"from {array.min()} to {array.max()}")
        return array.astype(np.float32)

    def run(self, image: np.ndarray) -> dict:
        """Run the model on one ``(C, H, W)`` image (in the model's pixel values): every drawn
        layer's output (batch dimension dropped), the softmax probabilities and the prediction."""
        calls, logits = self._trace(image)
        layers = []
        for call in calls:
            if type(call.module).__name__ in PASS_THROUGH:
                continue
            note = _undrawable(call.output)
            layers.append({"name": call.name, "note": note,
                           "output": None if note else _sent_part(_host(call.output)[0])})
        result = {"input": encode_array(self.to_unit(image)), "layers": layers}
        if isinstance(logits, tc.Tensor) and logits.ndim == 2 and logits.shape[0] == 1:
            scores = _host(logits)[0].astype(np.float64)
            probabilities = np.exp(scores - scores.max())
            probabilities /= probabilities.sum()
            result.update(logits=scores.tolist(), probabilities=probabilities.tolist(),
                          predicted=int(probabilities.argmax()))
        else:
            result["note"] = "the model's output is not one row of class scores: no softmax"
        return result

    def check_test_index(self, index: Any) -> int:
        """``index`` if it names a test image, else ValueError saying which would."""
        if not isinstance(index, int) or isinstance(index, bool) or \
                not 0 <= index < len(self.test_images):
            raise ValueError(f"test_index: expected an int from 0 to {len(self.test_images) - 1}"
                             f", got {index!r}")
        return index

    def run_test_image(self, index: int) -> dict:
        """:meth:`run` on test image ``index``, with its label."""
        self.check_test_index(index)
        return self.run(self.test_images[index]) | {"label": int(self.test_labels[index]),
                                                    "test_index": index}

    def _trace(self, image: np.ndarray) -> tuple[list[_Call], Any]:
        """One forward pass in eval mode without gradients, recording every leaf layer's call
        (the same leaves, in the same order, as ``tc.summary``) and its receptive field."""
        model = self.model
        watched = [(name, module) for name, module in model.named_modules()
                   if not any(True for _ in module.children()) or
                   any(p is not None for p in module._parameters.values())]
        x = tc.tensor(np.asarray(image, dtype=np.float32)[None]).to(_device_of(model))
        image_hw = tuple(x.shape[2:])
        geometry_of: dict[int, Geometry | None] = {id(x): IMAGE_GEOMETRY}
        by_size: list[tuple[tuple, Geometry]] = [(image_hw, IMAGE_GEOMETRY)]
        alive: list[Any] = [x]  # keeps every output alive, so that no id() is reused
        calls: list[_Call] = []

        def make_hook(name: str):
            def hook(module: Any, inputs: tuple, output: Any) -> None:
                first = inputs[0] if inputs else None
                geometry = None
                if isinstance(first, tc.Tensor) and isinstance(output, tc.Tensor):
                    before = geometry_of.get(id(first))
                    if before is None and first.ndim == 4:  # made outside a layer: see docstring
                        before = next((g for hw, g in reversed(by_size)
                                       if hw == tuple(first.shape[2:])), None)
                    geometry = _output_geometry(module, before, tuple(first.shape),
                                                tuple(output.shape), image_hw)
                    geometry_of[id(output)] = geometry
                    if geometry is not None:
                        by_size.append((tuple(output.shape[2:]), geometry))
                alive.append(output)
                calls.append(_Call(name or type(module).__name__, module, output, geometry))
            return hook

        modes = {id(m): m.training for m in model.modules()}
        handles = [module.register_forward_hook(make_hook(name)) for name, module in watched]
        try:
            model.eval()
            with tc.no_grad():
                logits = model(x)
        finally:
            for handle in handles:
                handle.remove()
            for module in model.modules():
                object.__setattr__(module, "training", modes[id(module)])
        return calls, logits


def _host(tensor: Any) -> np.ndarray:
    """A tensor's values as a NumPy array on the host (copied from a GPU; a live run may train
    on one)."""
    return tensor.detach().cpu().numpy()


def _device_of(model: Any) -> Any:
    """Where the model's parameters live (the CPU for a model without any)."""
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else "cpu"


def _undrawable(output: Any) -> str | None:
    """Why a layer's output cannot be drawn as maps or a vector (None when it can)."""
    if not isinstance(output, tc.Tensor):
        kind = type(output).__name__
        return f"not drawn: this layer returns a {kind}, not one tensor"
    if output.ndim not in (2, 4):
        return (f"not drawn: output of shape {tuple(output.shape)}; the page draws feature maps "
                f"(N, C, H, W) and vectors (N, F)")
    return None


def _sent_part(array: np.ndarray) -> dict:
    """The part of one image's layer output the page receives: the first ``MAX_MAPS`` maps of
    ``(C, H, W)``, the first ``MAX_FEATURES`` values of ``(F,)``."""
    if array.ndim == 3:
        return encode_array(array[:MAX_MAPS])
    return encode_array(array[:MAX_FEATURES])


def _shape_list(shape: Any) -> list:
    if isinstance(shape, list):
        return [list(s) for s in shape]
    return list(shape)


def model_from_checkpoint(path: str) -> tuple[Any, Network]:
    """``(TrainConfig, Network)`` rebuilt from a checkpoint written by ``tinyconv train``: the
    model of its configuration with its weights, and the test split of its data set."""
    import dataclasses

    from tinyconv.training import TrainConfig, build_model, load_checkpoint, load_datasets

    state = load_checkpoint(path, what="tinyconv show")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in dict(state["config"]).items() if k in known})
    config.device = "cpu"  # the page runs one image at a time: the CPU is enough, and everywhere
    _, test_set, image_shape, classes = load_datasets(config)
    model = build_model(config, image_shape, len(classes))
    model.load_state_dict(state["model"])
    model.eval()
    images, labels = test_set.tensors
    epoch = state.get("epoch")
    history = state.get("history") or {}
    accuracy = history.get("test_acc", [None])[-1] if history.get("test_acc") else None
    title = {"model": config.model, "dataset": config.dataset, "checkpoint": str(path),
             "epochs": epoch,
             "test_accuracy": None if accuracy is None else float(accuracy)}
    return config, Network(model, images.cpu().numpy(), labels.cpu().numpy(), classes, title)

