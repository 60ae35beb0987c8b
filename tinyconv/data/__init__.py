"""``tc.data``: data sets, loaders and image transforms, shaped like ``torch.utils.data`` and
``torchvision``.

- Containers: :class:`Dataset`, :class:`TensorDataset`, :class:`Subset`, :class:`ConcatDataset`,
  :func:`random_split`;
- batching: :class:`DataLoader` (``default_collate`` stacks samples into ``(B, ...)`` tensors);
- transforms on single ``(C, H, W)`` images (``tc.data.transforms``; the classes are also here):
  :class:`Compose`, :class:`Normalize`, :class:`Pad`, :class:`RandomCrop`,
  :class:`RandomHorizontalFlip`, :class:`Resize`, :class:`ToTensor`, :class:`Lambda`;
- offline data sets returning :class:`ImageDataset` (float32 ``(N, C, H, W)`` images, int64
  labels, fixed train/test splits): :func:`digits`, :func:`mnist`, :func:`shapes`;
- files: :func:`read_idx` / :func:`write_idx` (MNIST's IDX format), :func:`download_url` (atomic,
  checksummed) and :func:`download_mnist`.

Randomness (shuffling, ``random_split``, random transforms) comes from ``tc.default_generator()``
unless a seed or ``numpy.random.Generator`` is passed, so ``tc.manual_seed`` makes it reproducible.
"""

from tinyconv.data import transforms
from tinyconv.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from tinyconv.data.datasets import (
                                    FASHION_MNIST_CLASSES,
                                    IDX_SOURCES,
                                    MNIST_CLASSES,
                                    SHAPE_CLASSES,
                                    IDXSource,
                                    ImageDataset,
                                    default_root,
                                    digits,
                                    download_mnist,
                                    mnist,
                                    shapes,
)
from tinyconv.data.download import ChecksumError, download_url, file_digest
from tinyconv.data.idx import read_idx, write_idx
from tinyconv.data.loader import DataLoader, default_collate, to_device
from tinyconv.data.transforms import (
                                    Compose,
                                    Lambda,
                                    Normalize,
                                    Pad,
                                    RandomCrop,
                                    RandomHorizontalFlip,
                                    Resize,
                                    ToTensor,
)

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "DataLoader", "default_collate", "to_device",
    "transforms", "Compose", "Lambda", "ToTensor", "Normalize", "Pad", "RandomCrop",
    "RandomHorizontalFlip", "Resize",
    "ImageDataset", "digits", "mnist", "shapes", "SHAPE_CLASSES", "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES", "IDXSource", "IDX_SOURCES", "default_root", "download_mnist",
    "read_idx", "write_idx", "download_url", "file_digest", "ChecksumError",
]
