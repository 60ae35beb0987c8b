"""Data sets: anything with ``__len__`` and ``__getitem__``, as in ``torch.utils.data``.

- :class:`Dataset`: the base class (a "map-style" data set: sample ``i`` is ``dataset[i]``);
- :class:`TensorDataset`: samples are rows of equally long tensors (images ``(N, C, H, W)`` and
  labels ``(N,)``, say); it can also hand out a whole batch at once
  (:meth:`TensorDataset.get_batch`), which :class:`~tinyconv.data.DataLoader` uses instead of
  stacking samples one by one;
- :class:`Subset` and :func:`random_split`: views of a data set through a list of indices;
- :class:`ConcatDataset`: several data sets one after the other.
"""

from __future__ import annotations

import bisect
import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tinyconv.creation import from_numpy
from tinyconv.data._random import GeneratorLike, current, make_generator
from tinyconv.tensor import Tensor


class Dataset:
    """Base class of map-style data sets: subclasses define ``__getitem__(i)`` and ``__len__()``.

    ``dataset[i]`` returns one sample, usually a tuple ``(input, target)``; ``len(dataset)`` is the
    number of samples. ``a + b`` concatenates two data sets (a :class:`ConcatDataset`).
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


def _check_index(owner: str, index: Any, length: int) -> int:
    """``index`` as a non-negative int below ``length`` (negative indices count from the end)."""
    if isinstance(index, Tensor):
        index = index.item()
    if not isinstance(index, numbers.Integral) or isinstance(index, bool):
        raise TypeError(f"{owner}: index must be an int, got {type(index).__name__}")
    if not -length <= index < length:
        raise IndexError(f"{owner}: index {index} is out of range for {length} samples")
    return int(index) % length


class TensorDataset(Dataset):
    """Samples are the rows of tensors that share their first dimension.

    ``TensorDataset(images, labels)`` with images ``(N, C, H, W)`` and labels ``(N,)`` gives
    ``dataset[i] == (images[i], labels[i])``: a ``(C, H, W)`` tensor and a 0-d tensor.
    NumPy arrays are accepted too and wrapped without a copy (:func:`tinyconv.from_numpy`).

    Attributes:
        tensors: the tuple of tensors, as given.
    """

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, e.g. "
                             "TensorDataset(images, labels)")
        tensors = tuple(from_numpy(t) if isinstance(t, np.ndarray) else t for t in tensors)
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {i} must be a Tensor (or a NumPy array),"
                                f" got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-dimensional; every tensor needs "
                                 f"a first dimension that indexes the samples")
        sizes = [t.shape[0] for t in tensors]
        if len(set(sizes)) > 1:
            shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
            raise ValueError(f"TensorDataset: all tensors must have the same size in the first "
                             f"dimension (the number of samples), got shapes {shapes}")
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: int) -> tuple:
        index = _check_index(type(self).__name__, index, len(self))
        return tuple(t[index] for t in self.tensors)

    def get_batch(self, indices: Sequence[int]) -> tuple:
        """The samples at ``indices``, already batched: one tensor per tensor of the data set,
        each with first dimension ``len(indices)``.

        One fancy-indexing copy per tensor instead of ``len(indices)`` small tensors stacked
        together: this is the DataLoader's fast path (the values are the same either way).
        """
        indices = np.asarray(indices, dtype=np.int64)
        return tuple(t[t.xp.asarray(indices)] for t in self.tensors)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in self.tensors)
        return f"{type(self).__name__}({len(self)} samples: {shapes})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order:
    ``subset[i] = dataset[indices[i]]``.

    Attributes:
        dataset: the underlying data set.
        indices: the selected indices, a 1-D int64 NumPy array.
    """

    def __init__(self, dataset: Dataset, indices: Iterable[int]):
        if isinstance(indices, Tensor):
            indices = indices.numpy()
        indices = np.asarray(list(indices) if not isinstance(indices, np.ndarray) else indices)
        if indices.size == 0:
            indices = indices.astype(np.int64)
        if indices.ndim != 1 or indices.dtype.kind not in "iu":
            raise TypeError(f"Subset: indices must be a 1-D sequence of ints, got an array of "
                            f"shape {indices.shape} and dtype {indices.dtype}")
        n = len(dataset)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise IndexError(f"Subset: indices must lie in [0, {n}) for a data set of {n} samples,"
                             f" got values from {indices.min()} to {indices.max()}")
        self.dataset = dataset
        self.indices = indices.astype(np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Any:
        index = _check_index("Subset", index, len(self))
        return self.dataset[int(self.indices[index])]

    def __repr__(self) -> str:
        return (f"Subset({len(self)} of {len(self.dataset)} samples of "
                f"{type(self.dataset).__name__})")


class ConcatDataset(Dataset):
    """Several data sets one after the other: the samples of ``datasets[0]``, then of ``[1]``..."""

    def __init__(self, datasets: Iterable[Dataset]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one data set")
        # cumulative_sizes[k] = number of samples in datasets[0..k]
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        index = _check_index("ConcatDataset", index, len(self))
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return self.datasets[which][index - start]


def _split_lengths(lengths: Sequence[float], total: int) -> list[int]:
    """Turn ``lengths`` (counts summing to ``total``, or fractions summing to 1) into counts.

    Fractions follow PyTorch: each part gets ``floor(fraction * total)`` samples and the samples
    left over go one each to the parts in order, so ``[0.5, 0.5]`` of 5 is ``[3, 2]``.
    """
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths must not be empty")
    if all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in lengths):
        if any(x < 0 for x in lengths) or sum(lengths) != total:
            raise ValueError(f"random_split: lengths {lengths} must be non-negative and sum to the "
                             f"data set's length {total}")
        return [int(x) for x in lengths]
    if all(isinstance(x, numbers.Real) and 0 <= x <= 1 for x in lengths) and \
            math.isclose(sum(lengths), 1.0, abs_tol=1e-6):
        counts = [int(math.floor(total * x)) for x in lengths]
        for i in range(total - sum(counts)):
            counts[i % len(counts)] += 1
        return counts
    raise ValueError(f"random_split: lengths must be ints summing to {total} or fractions in [0, 1]"
                     f" summing to 1, got {lengths}")


def random_split(dataset: Dataset, lengths: Sequence[float],
                 generator: GeneratorLike = None) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping :class:`Subset` s of the given lengths.

    ``lengths`` are counts that sum to ``len(dataset)`` or fractions that sum to 1
    (``random_split(ds, [0.8, 0.2], generator=0)``). The permutation is drawn from ``generator``:
    ``None`` for the library generator (reproducible under ``tc.manual_seed``), an int seed, or a
    ``numpy.random.Generator``.
    """
    counts = _split_lengths(lengths, len(dataset))
    rng = current(make_generator("random_split", generator))
    order = rng.permutation(len(dataset))
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, order[start:stop])
            for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]

