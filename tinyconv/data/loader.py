"""``DataLoader``: iterate over a data set in (shuffled) mini-batches of tensors.

An epoch is one pass ``for inputs, targets in loader:``. Each batch is built in two steps:

1. *which samples*: ``range(len(dataset))``, or a permutation of it when ``shuffle=True``, cut into
   chunks of ``batch_size`` (the last chunk shorter, or dropped with ``drop_last=True``);
2. *collation*: the samples of a chunk become one tensor per field, stacked along a new first
   dimension (:func:`default_collate`), e.g. ``B`` samples ``((C, H, W) image, () label)`` give
   ``((B, C, H, W) images, (B,) labels)``.

Step 2 has a fast path: a :class:`~tinyconv.data.TensorDataset` (or a :class:`~tinyconv.data.Subset`
of one) already holds its samples as rows of big tensors, so the loader indexes those tensors
once per batch instead of making ``B`` small tensors and stacking them. Both paths give the same
values; ``collate_fn`` turns the fast path off.

With ``device="cuda"`` each finished batch is copied to the GPU once (:func:`to_device`), so a
training loop gets batches on the model's device without a ``.to`` per tensor.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from tinyconv.backend import Device, array_module
from tinyconv.creation import from_numpy, tensor
from tinyconv.data._random import GeneratorLike, current, make_generator
from tinyconv.data.dataset import Dataset, Subset
from tinyconv.functions import stack
from tinyconv.tensor import Tensor


def default_collate(samples: Sequence[Any]) -> Any:
    """Join a list of samples into one batch, field by field (as ``torch``'s ``default_collate``).

    - tensors of equal shape ``S`` -> one tensor ``(B, *S)`` (on their device);
    - NumPy arrays -> a CPU tensor ``(B, *S)``; NumPy / Python numbers -> a ``(B,)`` tensor
      (Python ints become int64 and Python floats float32, as :func:`tinyconv.tensor` does);
    - tuples / lists -> the same structure with each field collated; dicts -> key by key;
    - strings (and anything else) -> a list of the values.
    """
    if len(samples) == 0:
        raise ValueError("default_collate: cannot collate an empty list of samples")
    first = samples[0]
    if isinstance(first, Tensor):
        shapes = {tuple(s.shape) for s in samples}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: samples must have equal shapes to be stacked into a"
                             f" batch, got shapes {sorted(shapes)}; resize them or pass collate_fn")
        return stack(list(samples))
    if isinstance(first, np.ndarray):
        return from_numpy(np.stack(samples))
    if isinstance(first, (bool, np.bool_)):
        return tensor(np.array(samples, dtype=bool))
    if isinstance(first, (numbers.Number, np.generic)) and not isinstance(first, complex):
        return tensor(np.array(samples) if isinstance(first, np.generic) else list(samples))
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("default_collate: every sample must have the same number of fields")
        fields = [default_collate(list(field)) for field in zip(*samples, strict=True)]
        if hasattr(first, "_fields"):  # a namedtuple takes its fields as separate arguments
            return type(first)(*fields)
        return type(first)(fields)
    return list(samples)


def to_device(batch: Any, device: str | Device) -> Any:
    """``batch`` with every tensor in it moved to ``device`` (one copy each; the structure of
    tuples, lists, namedtuples and dicts is kept; other values are returned as they are)."""
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)):
        moved = [to_device(value, device) for value in batch]
        if hasattr(batch, "_fields"):  # a namedtuple takes its fields as separate arguments
            return type(batch)(*moved)
        return type(batch)(moved)
    return batch


def _batch_fetcher(dataset: Dataset) -> Callable[[np.ndarray], Any] | None:
    """A function ``indices -> batch`` that skips per-sample work, or ``None`` if there is none.

    Data sets with a ``get_batch(indices)`` method have one; a :class:`Subset` of such a data set
    maps its indices to the underlying ones first (so ``random_split`` keeps the fast path).
    """
    if isinstance(dataset, Subset):
        inner = _batch_fetcher(dataset.dataset)
        if inner is None:
            return None
        return lambda indices: inner(dataset.indices[indices])
    return getattr(dataset, "get_batch", None)


class DataLoader:
    """Iterate over ``dataset`` in mini-batches.

    Args:
        dataset: a map-style data set (``len`` and ``[i]``).
        batch_size: samples per batch (the last batch may be smaller, see ``drop_last``).
        shuffle: visit the samples in a new random order every epoch (every ``iter(loader)``).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        generator: where shuffling draws from: ``None`` -> the library generator at the start of
            each epoch (so ``tc.manual_seed(s)`` before building the loader, or before the epoch,
            makes the order reproducible); an ``int`` seed -> a private generator created once
            here, so epoch ``k`` has the same order in every run; or a ``numpy.random.Generator``.
        collate_fn: a function ``list of samples -> batch``; default :func:`default_collate`.
            Giving one turns off the TensorDataset fast path.
        device: where the batches go (``"cpu"``, ``"cuda"``); ``None`` leaves them where the
            data set's tensors are. Each batch is collated first, then copied once.

    ``len(loader)`` is the number of batches per epoch: ``ceil(N / batch_size)``, or
    ``floor(N / batch_size)`` with ``drop_last=True``.

    Example::

        loader = tc.data.DataLoader(tc.data.digits(train=True), batch_size=64, shuffle=True)
        for images, labels in loader:   # (64, 1, 8, 8) float32, (64,) int64
            ...
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, generator: GeneratorLike = None,
                 collate_fn: Callable[[list], Any] | None = None,
                 device: str | Device | None = None):
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__, got "
                            f"{type(dataset).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError("DataLoader: collate_fn must be callable")
        # checked (and, for "cuda", that a GPU is usable) before any epoch starts
        self.device = Device(device) if device is not None else None
        if self.device is not None:
            array_module(self.device)
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = make_generator("DataLoader", generator)
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self._fetch_batch = None if collate_fn is not None else _batch_fetcher(dataset)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _sample_order(self) -> np.ndarray:
        """The order of the samples for one epoch (drawn anew each epoch when shuffling)."""
        n = len(self.dataset)
        if self.shuffle:
            return current(self.generator).permutation(n)
        return np.arange(n)

    def __iter__(self) -> Iterator[Any]:
        # The order is drawn when the epoch starts, not when the loader is built, so a loader
        # made once gives a different shuffle each epoch.
        order = self._sample_order()
        for b in range(len(self)):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            if self._fetch_batch is not None:
                batch = self._fetch_batch(indices)
            else:
                batch = self.collate_fn([self.dataset[int(i)] for i in indices])
            yield batch if self.device is None else to_device(batch, self.device)

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)} samples, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, {len(self)} batches"
                + (f", device='{self.device}')" if self.device is not None else ")"))
