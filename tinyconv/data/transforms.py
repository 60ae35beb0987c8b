"""Image transforms for single samples, with torchvision's names and arguments.

A transform is a callable ``sample -> sample``. Samples are images ``(C, H, W)`` — NumPy arrays or
tensors; a transform returns the same kind it was given (a tensor stays on its device). The
deterministic transforms (:class:`Normalize`, :class:`Pad`, :class:`Resize`) also accept any leading
dimensions, e.g. a batch ``(N, C, H, W)``; the random ones draw once per call, so give them one
sample at a time (a data set's ``transform`` does that).

Random transforms (:class:`RandomCrop`, :class:`RandomHorizontalFlip`) draw from the library
generator (``tc.manual_seed`` makes them reproducible) unless given ``generator=`` (an int seed or a
``numpy.random.Generator``), an extra that torchvision does not have.

Example::

    augment = Compose([RandomCrop(28, padding=2), RandomHorizontalFlip(),
                       Normalize(mean=[0.1307], std=[0.3081])])
    image = augment(image)   # (1, 28, 28) -> (1, 28, 28)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinyconv.creation import from_numpy, tensor
from tinyconv.data._random import GeneratorLike, current, make_generator
from tinyconv.tensor import Tensor

Size = int | Sequence[int]

__all__ = ["Compose", "Lambda", "ToTensor", "Normalize", "Pad", "RandomCrop",
           "RandomHorizontalFlip", "Resize", "resize", "pad"]


# -- arrays in, arrays out: every transform works on the raw array and re-wraps it ----------------

def _unwrap(name: str, image: Any, min_ndim: int = 2) -> tuple[Any, Callable[[Any], Any]]:
    """``(array, rewrap)``: the image's array (NumPy or CuPy) and a function that turns a result
    array back into the kind of object the caller gave (a tensor on the same device, or an
    array)."""
    if isinstance(image, Tensor):
        array = image.data
        if image.device.type == "cpu":
            def rewrap(result):
                return from_numpy(np.ascontiguousarray(result))
        else:
            def rewrap(result):
                return tensor(result, device=image.device)
    elif isinstance(image, np.ndarray) or hasattr(image, "__cuda_array_interface__"):
        array = image

        def rewrap(result):
            return result
    else:
        raise TypeError(f"{name}: expected an image array or tensor of shape (C, H, W), got "
                        f"{type(image).__name__}")
    if array.ndim < min_ndim:
        raise ValueError(f"{name}: expected an image of shape (C, H, W), got shape "
                         f"{tuple(array.shape)}")
    return array, rewrap


def _array_module(array: Any):
    """NumPy for host arrays, CuPy for device arrays (without importing CuPy otherwise)."""
    if isinstance(array, np.ndarray):
        return np
    import cupy  # only reached for a CuPy array, so CuPy is installed

    return cupy


def _pair(name: str, size: Size) -> tuple[int, int]:
    """``size`` as ``(height, width)``: an int means a square."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    size = tuple(size)
    if len(size) != 2 or not all(isinstance(s, numbers.Integral) and s > 0 for s in size):
        raise ValueError(f"{name}: size must be a positive int or a (height, width) pair of "
                         f"positive ints, got {size!r}")
    return int(size[0]), int(size[1])


def _padding_amounts(name: str, padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """torchvision's padding forms as ``(left, top, right, bottom)``: ``p`` pads every side by
    ``p``; ``(a, b)`` pads left/right by ``a`` and top/bottom by ``b``; ``(l, t, r, b)`` as is."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        amounts = (padding,) * 4
    else:
        padding = tuple(padding)
        if len(padding) == 2:
            amounts = (padding[0], padding[1], padding[0], padding[1])
        elif len(padding) == 4:
            amounts = padding
        else:
            raise ValueError(f"{name}: padding must be an int or a sequence of 2 or 4 ints, got "
                             f"{padding!r}")
    if not all(isinstance(p, numbers.Integral) and p >= 0 for p in amounts):
        raise ValueError(f"{name}: padding amounts must be non-negative ints, got {padding!r}")
    return tuple(int(p) for p in amounts)


_PADDING_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect",
                  "symmetric": "symmetric"}


# -- functional forms --------------------------------------------------------------------------

def pad(array: Any, padding: int | Sequence[int], fill: float = 0,
        padding_mode: str = "constant") -> Any:
    """Pad the last two axes (H, W) of an array of shape ``(..., H, W)``.

    ``padding`` as in :class:`Pad`; ``padding_mode`` is ``"constant"`` (with ``fill``),
    ``"edge"``, ``"reflect"`` (mirror without repeating the edge) or ``"symmetric"`` (with it).
    """
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"pad: padding_mode must be one of {sorted(_PADDING_MODES)}, got "
                         f"{padding_mode!r}")
    left, top, right, bottom = _padding_amounts("pad", padding)
    widths = [(0, 0)] * (array.ndim - 2) + [(top, bottom), (left, right)]
    xp = _array_module(array)
    if padding_mode == "constant":
        return xp.pad(array, widths, mode="constant", constant_values=fill)
    return xp.pad(array, widths, mode=_PADDING_MODES[padding_mode])


def _bilinear_source(out_size: int, in_size: int, xp: Any, dtype: Any):
    """For each output index along one axis: the two input indices it reads and the weight of the
    second one, with ``align_corners=False`` (PyTorch's ``F.interpolate`` for images).

    Pixels are unit squares and their centres are what gets sampled: output pixel ``o`` has its
    centre at input coordinate ``(o + 0.5) * in_size / out_size - 0.5``. Coordinates left of the
    first centre are clamped to it (PyTorch clamps negative coordinates to 0); at the right edge the
    second index is clamped to the last pixel, so borders repeat the edge pixel.
    """
    scale = in_size / out_size
    source = np.maximum((np.arange(out_size) + 0.5) * scale - 0.5, 0.0)
    first = np.minimum(np.floor(source).astype(np.int64), in_size - 1)
    second = np.minimum(first + 1, in_size - 1)
    weight = (source - first).astype(dtype)
    return xp.asarray(first), xp.asarray(second), xp.asarray(weight)


def resize(array: Any, size: Size) -> Any:
    """Bilinear resize of the last two axes of ``(..., H, W)`` to ``size = (height, width)``.

    Same result as ``torch.nn.functional.interpolate(x, size, mode="bilinear",
    align_corners=False)`` (no antialiasing): each output pixel is a weighted average of the 2×2
    input pixels around its centre, computed as two 1-D linear interpolations (rows, then
    columns). Shrinking by a large factor therefore skips pixels instead of averaging them all.
    Integer inputs are converted to float32; float inputs keep their dtype.
    """
    out_h, out_w = _pair("resize", size)
    if array.ndim < 2:
        raise ValueError(f"resize: expected an array of shape (..., H, W), got shape "
                         f"{tuple(array.shape)}")
    xp = _array_module(array)
    if array.dtype.kind != "f":
        array = array.astype(np.float32)
    in_h, in_w = array.shape[-2:]
    top, bottom, row_weight = _bilinear_source(out_h, in_h, xp, array.dtype)
    row_weight = row_weight[:, None]  # broadcast over the columns
    rows = array[..., top, :] * (1 - row_weight) + array[..., bottom, :] * row_weight
    left, right, col_weight = _bilinear_source(out_w, in_w, xp, array.dtype)
    return rows[..., left] * (1 - col_weight) + rows[..., right] * col_weight


# -- transform classes -------------------------------------------------------------------------

class Compose:
    """Apply transforms one after the other: ``Compose([a, b])(x) == b(a(x))``."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, got {t!r}")

    def __call__(self, image: Any) -> Any:
        for t in self.transforms:
            image = t(image)
        return image

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class Lambda:
    """Wrap any function ``image -> image`` as a transform (e.g. ``Lambda(lambda x: 1 - x)``)."""

    def __init__(self, function: Callable[[Any], Any]):
        if not callable(function):
            raise TypeError(f"Lambda: expected a callable, got {type(function).__name__}")
        self.function = function

    def __call__(self, image: Any) -> Any:
        return self.function(image)

    def __repr__(self) -> str:
        return f"Lambda({getattr(self.function, '__name__', self.function)!r})"


class ToTensor:
    """A picture as most image libraries store it, ``(H, W)`` or ``(H, W, C)``, to a float32
    tensor ``(C, H, W)``.

    uint8 pixels (0–255) are scaled to [0, 1], as torchvision's ``ToTensor``; other dtypes keep
    their values. Anything ``numpy.asarray`` accepts (a PIL image, say) works.
    """

    def __call__(self, picture: Any) -> Tensor:
        if isinstance(picture, Tensor):
            raise TypeError("ToTensor: the input is already a tensor (ToTensor converts an "
                            "(H, W[, C]) picture to a (C, H, W) tensor)")
        array = np.asarray(picture)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ValueError(f"ToTensor: expected a picture of shape (H, W) or (H, W, C), got "
                             f"shape {array.shape}")
        scaled = array.astype(np.float32) / 255 if array.dtype == np.uint8 else \
            array.astype(np.float32)
        return from_numpy(np.ascontiguousarray(scaled.transpose(2, 0, 1)))

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """Standardize each channel: ``out[c] = (image[c] - mean[c]) / std[c]``.

    ``mean`` and ``std`` have one value per channel (or a single value for all); the image is
    ``(..., C, H, W)``. Usual values are the training set's statistics, e.g. MNIST
    ``mean=[0.1307], std=[0.3081]``.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError("Normalize: mean and std must be sequences of numbers "
                             "(one per channel)")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std must not contain zeros, got {self.std.tolist()}")

    def __call__(self, image: Any) -> Any:
        array, rewrap = _unwrap("Normalize", image, min_ndim=3)
        channels = array.shape[-3]
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, channels):
                raise ValueError(f"Normalize: {name} has {len(values)} values but the image has "
                                 f"{channels} channels (shape {tuple(array.shape)})")
        xp = _array_module(array)
        dtype = array.dtype if array.dtype.kind == "f" else np.float32
        mean = xp.asarray(self.mean.astype(dtype)).reshape(-1, 1, 1)
        std = xp.asarray(self.std.astype(dtype)).reshape(-1, 1, 1)
        return rewrap((array.astype(dtype, copy=False) - mean) / std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Pad:
    """Pad the image's borders (the last two axes).

    ``padding``: ``p`` pads every side by ``p``; ``(a, b)`` pads left and right by ``a``, top and
    bottom by ``b``; ``(left, top, right, bottom)`` each side separately (torchvision's order).
    ``padding_mode``: ``"constant"`` (value ``fill``), ``"edge"``, ``"reflect"``, ``"symmetric"``.
    A ``(C, H, W)`` image becomes ``(C, top + H + bottom, left + W + right)``.
    """

    def __init__(self, padding: int | Sequence[int], fill: float = 0,
                 padding_mode: str = "constant"):
        _padding_amounts("Pad", padding)  # validate now, not at the first sample
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"Pad: padding_mode must be one of {sorted(_PADDING_MODES)}, got "
                             f"{padding_mode!r}")
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, image: Any) -> Any:
        array, rewrap = _unwrap("Pad", image)
        return rewrap(pad(array, self.padding, self.fill, self.padding_mode))

    def __repr__(self) -> str:
        return f"Pad(padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode!r})"


class RandomCrop:
    """Cut a ``size`` window at a random place (uniform over every position that fits).

    ``padding`` (as in :class:`Pad`) is applied first, so ``RandomCrop(28, padding=4)`` shifts a
    28×28 image by up to 4 pixels in each direction — the classic augmentation.
    ``pad_if_needed`` pads an image smaller than ``size`` up to it (else that is an error).
    A ``(C, H, W)`` image becomes ``(C, size_h, size_w)``.
    """

    def __init__(self, size: Size, padding: None | int | Sequence[int] = None,
                 pad_if_needed: bool = False, fill: float = 0, padding_mode: str = "constant",
                 generator: GeneratorLike = None):
        self.size = _pair("RandomCrop", size)
        self.pad = Pad(padding, fill, padding_mode) if padding is not None else None
        self.pad_if_needed, self.fill, self.padding_mode = pad_if_needed, fill, padding_mode
        self.generator = make_generator("RandomCrop", generator)

    def __call__(self, image: Any) -> Any:
        array, rewrap = _unwrap("RandomCrop", image)
        if self.pad is not None:
            array = pad(array, self.pad.padding, self.fill, self.padding_mode)
        height, width = self.size
        in_h, in_w = array.shape[-2:]
        if self.pad_if_needed and (in_h < height or in_w < width):
            grow_w, grow_h = max(width - in_w, 0), max(height - in_h, 0)
            array = pad(array, (grow_w, grow_h), self.fill, self.padding_mode)  # both sides each
            in_h, in_w = array.shape[-2:]
        if in_h < height or in_w < width:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the (padded) image "
                             f"{(in_h, in_w)}; pass padding= or pad_if_needed=True")
        rng = current(self.generator)
        top = int(rng.integers(0, in_h - height + 1))
        left = int(rng.integers(0, in_w - width + 1))
        return rewrap(array[..., top:top + height, left:left + width].copy())

    def __repr__(self) -> str:
        padding = self.pad.padding if self.pad is not None else None
        return f"RandomCrop(size={self.size}, padding={padding})"


class RandomHorizontalFlip:
    """Mirror the image left-right (reverse the W axis) with probability ``p``."""

    def __init__(self, p: float = 0.5, generator: GeneratorLike = None):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be a probability in [0, 1], got {p}")
        self.p = float(p)
        self.generator = make_generator("RandomHorizontalFlip", generator)

    def __call__(self, image: Any) -> Any:
        array, rewrap = _unwrap("RandomHorizontalFlip", image)
        # draw even when p is 0 or 1, so the stream of draws does not depend on p
        if current(self.generator).random() < self.p:
            return rewrap(array[..., ::-1].copy())
        return image

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Resize:
    """Resize the image (the last two axes) with bilinear interpolation.

    ``size``: ``(height, width)``, or an int: the smaller side becomes ``size`` and the other keeps
    the aspect ratio (``int(size * long / short)``), as torchvision. The interpolation is
    ``F.interpolate(mode="bilinear", align_corners=False)`` *without antialiasing* (see
    :func:`resize`); torchvision's ``Resize`` antialiases when shrinking, so shrunk images differ.
    """

    def __init__(self, size: Size):
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            if size <= 0:
                raise ValueError(f"Resize: size must be positive, got {size}")
            self.size: int | tuple[int, int] = int(size)
        else:
            self.size = _pair("Resize", size)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The ``(height, width)`` an image of ``height × width`` is resized to."""
        if isinstance(self.size, tuple):
            return self.size
        if height <= width:
            return self.size, int(self.size * width / height)
        return int(self.size * height / width), self.size

    def __call__(self, image: Any) -> Any:
        array, rewrap = _unwrap("Resize", image)
        return rewrap(resize(array, self.output_size(*array.shape[-2:])))

    def __repr__(self) -> str:
        return f"Resize(size={self.size})"
