"""Every transform against a direct NumPy computation; Resize against scipy and PyTorch."""

import numpy as np
import pytest

import tinyconv as tc
from tinyconv.data import (
    Compose,
    Lambda,
    Normalize,
    Pad,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    ToTensor,
)
from tinyconv.data.transforms import resize


@pytest.fixture
def image():
    return np.random.default_rng(0).random((3, 5, 7)).astype(np.float32)


def test_normalize_matches_numpy(image):
    mean, std = [0.1, 0.2, 0.3], [0.5, 2.0, 4.0]
    expected = (image - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    out = Normalize(mean, std)(image)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)  # float32 rounding
    # one value for every channel; a tensor in gives a tensor out
    out_t = Normalize([0.5], [0.25])(tc.from_numpy(image))
    assert isinstance(out_t, tc.Tensor)
    np.testing.assert_allclose(out_t.numpy(), (image - 0.5) / 0.25, rtol=1e-6)


def test_normalize_errors(image):
    with pytest.raises(ValueError, match="2 values but the image has 3 channels"):
        Normalize([0, 0], [1, 1])(image)
    with pytest.raises(ValueError, match="zeros"):
        Normalize([0], [0])


@pytest.mark.parametrize("padding, widths", [
    (2, ((2, 2), (2, 2))),                      # every side
    ((1, 3), ((3, 3), (1, 1))),                 # (left/right, top/bottom)
    ((1, 2, 3, 4), ((2, 4), (1, 3))),           # (left, top, right, bottom)
])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_pad_matches_numpy(image, padding, widths, mode):
    out = Pad(padding, fill=0.5, padding_mode=mode)(image)
    numpy_widths = ((0, 0),) + widths
    expected = np.pad(image, numpy_widths, mode=mode, **(
        {"constant_values": 0.5} if mode == "constant" else {}))
    np.testing.assert_array_equal(out, expected)


def test_pad_errors():
    with pytest.raises(ValueError, match="2 or 4"):
        Pad((1, 2, 3))
    with pytest.raises(ValueError, match="padding_mode"):
        Pad(1, padding_mode="wrap")


def test_random_crop_matches_the_window_at_the_drawn_position(image):
    crop = RandomCrop((4, 5), padding=1, generator=11)
    replica = np.random.default_rng(11)   # the same draws, made by hand
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)))
    positions = set()
    for _ in range(60):
        out = crop(image)
        top = int(replica.integers(0, padded.shape[1] - 4 + 1))
        left = int(replica.integers(0, padded.shape[2] - 5 + 1))
        np.testing.assert_array_equal(out, padded[:, top:top + 4, left:left + 5])
        positions.add((top, left))
    assert len(positions) == 4 * 5  # every one of the (7-4+1) x (9-5+1) positions appears


def test_random_crop_size_and_errors(image):
    assert RandomCrop(5, generator=0)(image).shape == (3, 5, 5)
    with pytest.raises(ValueError, match="larger than the"):
        RandomCrop(6)(image)
    grown = RandomCrop(8, pad_if_needed=True, generator=0)(image)
    assert grown.shape == (3, 8, 8)


def test_random_crop_follows_manual_seed(image):
    crop = RandomCrop(3)
    tc.manual_seed(4)
    first = [crop(image) for _ in range(5)]
    tc.manual_seed(4)
    again = [crop(image) for _ in range(5)]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_random_horizontal_flip(image):
    np.testing.assert_array_equal(RandomHorizontalFlip(p=1.0)(image), image[:, :, ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(p=0.0)(image), image)
    flip = RandomHorizontalFlip(p=0.5, generator=2)
    replica = np.random.default_rng(2)
    flips = 0
    for _ in range(40):
        out = flip(image)
        flipped = replica.random() < 0.5
        flips += flipped
        np.testing.assert_array_equal(out, image[:, :, ::-1] if flipped else image)
    assert 0 < flips < 40
    out_t = RandomHorizontalFlip(p=1.0)(tc.from_numpy(image))
    assert isinstance(out_t, tc.Tensor)
    np.testing.assert_array_equal(out_t.numpy(), image[:, :, ::-1])


def test_to_tensor():
    picture = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)  # (H, W, C)
    out = ToTensor()(picture)
    assert isinstance(out, tc.Tensor) and out.shape == (3, 2, 4) and out.dtype == tc.float32
    np.testing.assert_allclose(out.numpy(), picture.transpose(2, 0, 1) / 255, rtol=1e-6)
    grey = ToTensor()(np.ones((2, 4), dtype=np.float64) * 7)
    assert grey.shape == (1, 2, 4) and float(grey.numpy().max()) == 7


def test_compose_and_lambda_apply_in_order(image):
    pipeline = Compose([Lambda(lambda x: x * 2), Pad(1), Normalize([1.0], [2.0])])
    expected = (np.pad(image * 2, ((0, 0), (1, 1), (1, 1))) - 1.0) / 2.0
    np.testing.assert_allclose(pipeline(image), expected, rtol=1e-6)


# -- Resize: bilinear, align_corners=False --------------------------------------------------

def bilinear_by_loops(array, out_h, out_w):
    """The textbook definition, one output pixel at a time (PyTorch's align_corners=False)."""
    in_h, in_w = array.shape
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        y = max((i + 0.5) * in_h / out_h - 0.5, 0.0)
        y0 = min(int(np.floor(y)), in_h - 1)
        y1, wy = min(y0 + 1, in_h - 1), y - y0
        for j in range(out_w):
            x = max((j + 0.5) * in_w / out_w - 0.5, 0.0)
            x0 = min(int(np.floor(x)), in_w - 1)
            x1, wx = min(x0 + 1, in_w - 1), x - x0
            out[i, j] = ((1 - wy) * ((1 - wx) * array[y0, x0] + wx * array[y0, x1])
                         + wy * ((1 - wx) * array[y1, x0] + wx * array[y1, x1]))
    return out


@pytest.mark.parametrize("in_shape, out_shape", [((8, 8), (28, 28)), ((8, 8), (32, 32)),
                                                  ((5, 7), (3, 4)), ((6, 6), (6, 6)),
                                                  ((4, 9), (10, 2))])
def test_resize_matches_loops_and_scipy(in_shape, out_shape):
    ndimage = pytest.importorskip("scipy.ndimage", reason="scipy is a test dependency")
    array = np.random.default_rng(1).random(in_shape)
    out = resize(array, out_shape)
    np.testing.assert_allclose(out, bilinear_by_loops(array, *out_shape), atol=1e-12)
    # scipy's linear zoom on a pixel grid with edge replication is the same interpolation
    zoom = ndimage.zoom(array, np.divide(out_shape, in_shape), order=1, mode="nearest",
                        grid_mode=True)
    assert zoom.shape == out_shape
    np.testing.assert_allclose(out, zoom, atol=1e-12)


@pytest.mark.parametrize("size", [(28, 28), (32, 32), (3, 5), (17, 9)])
def test_resize_matches_torch_interpolate(size):
    torch = pytest.importorskip("torch", reason="PyTorch is an optional oracle, not a dependency")
    images = np.random.default_rng(2).random((2, 3, 8, 11)).astype(np.float32)
    expected = torch.nn.functional.interpolate(torch.from_numpy(images), size=size,
                                               mode="bilinear", align_corners=False).numpy()
    out = Resize(size)(tc.from_numpy(images))
    assert isinstance(out, tc.Tensor) and out.dtype == tc.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_resize_int_keeps_aspect_ratio_and_constant_images():
    array = np.full((1, 10, 20), 0.25, dtype=np.float32)
    out = Resize(5)(array)
    assert out.shape == (1, 5, 10)
    np.testing.assert_allclose(out, 0.25)  # interpolation of a constant is that constant
    assert Resize(4)(np.zeros((1, 12, 6), np.float32)).shape == (1, 8, 4)
    assert resize(np.zeros((4, 4), np.uint8), 8).dtype == np.float32
