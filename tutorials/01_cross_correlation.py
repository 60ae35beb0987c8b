# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · What is a cross-correlation?
#
# Every "convolutional" layer in a deep-learning library computes one small operation over and
# over: put a little grid of numbers (the **kernel**, or **filter**) on top of a patch of the
# image, multiply the numbers that lie on top of each other, and add the products up. Slide the
# kernel one step and repeat. The grid of sums you get is the output, often called a
# **feature map**.
#
# In this tutorial you will
#
# 1. compute a cross-correlation by hand, with two loops, and check it against
#    `tc.signal.correlate2d` and `scipy.signal.correlate2d`;
# 2. see that *convolution* in the mathematical sense is the same thing with the kernel turned
#    by 180°, and that deep-learning "convolution" is really cross-correlation;
# 3. learn the three border modes (`valid`, `full`, `same`) and the output-size formula with
#    padding, stride and dilation;
# 4. detect edges in an image with hand-made filters.
#
# Every claim in the text is followed by an `assert` that checks it, so if the library ever
# changes behaviour, this script stops with an error instead of quietly teaching something false.

# %%
import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import scipy.signal

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.kernels.contract import conv_output_size

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # running as a notebook
    HERE = Path.cwd()
OUT = Path(os.environ.get("TINYCONV_TUTORIAL_OUT", HERE / "_output"))
OUT.mkdir(parents=True, exist_ok=True)


def save_figure(fig, name):
    """Save a figure as a PNG in OUT (and close it, unless a notebook will show it)."""
    path = OUT / name
    fig.savefig(path, dpi=100, bbox_inches="tight")
    if "inline" not in matplotlib.get_backend():
        plt.close(fig)
    print("saved", path)
    return path


# %% [markdown]
# ## 1. One output value, by hand
#
# Take a 4×4 image and a 2×2 kernel. The output value at position `(i, j)` looks at the 2×2
# patch whose top-left corner is `(i, j)`:
#
# $$ y[i, j] = \sum_{m}\sum_{n} x[i + m,\, j + n] \cdot k[m, n] $$
#
# The kernel never moves outside the image here, so there are `4 - 2 + 1 = 3` positions along
# each axis, and the output is 3×3.

# %%
x = np.array([[4., 2., 0., 1.],
              [0., 1., 3., 1.],
              [2., 0., 1., 0.],
              [1., 1., 0., 2.]])
k = np.array([[1., 0.],
              [0., -1.]])

patch = x[0:2, 0:2]               # the top-left 2x2 patch
first = np.sum(patch * k)         # multiply on top of each other, add up
print(patch, "\n*\n", k, "\n-> y[0, 0] =", first)
assert first == 4 * 1 + 2 * 0 + 0 * 0 + 1 * (-1) == 3

# %% [markdown]
# Now all positions, with two loops. This is the whole idea; everything else in this course is
# bookkeeping around these few lines.


# %%
def correlate_by_hand(image, kernel):
    """Valid 2-D cross-correlation: the kernel stays entirely inside the image."""
    kh, kw = kernel.shape
    out_h, out_w = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            out[i, j] = np.sum(image[i:i + kh, j:j + kw] * kernel)
    return out


by_hand = correlate_by_hand(x, k)
print(by_hand)

# %% [markdown]
# The same numbers three ways: our loops, `tc.signal.correlate2d` (a differentiable tinyconv
# function that follows `scipy.signal`'s rules), and SciPy itself.

# %%
by_tinyconv = tc.signal.correlate2d(tc.tensor(x), tc.tensor(k), mode="valid")
by_scipy = scipy.signal.correlate2d(x, k, mode="valid")

assert by_hand.shape == (3, 3)
assert np.allclose(by_tinyconv.numpy(), by_hand)
assert np.allclose(by_scipy, by_hand)

# %% [markdown]
# `tc.signal.correlate2d` is not a separate implementation: it reshapes the image to a batch of
# one single-channel image, `(1, 1, H, W)`, and calls `tc.nn.functional.conv2d` — the very
# function a CNN layer uses. So a "convolutional layer" with one input channel and one filter
# computes exactly the cross-correlation above:

# %%
layer_out = F.conv2d(tc.tensor(x).reshape(1, 1, 4, 4), tc.tensor(k).reshape(1, 1, 2, 2))
print(layer_out.shape)
assert layer_out.shape == (1, 1, 3, 3)
assert np.allclose(layer_out.numpy()[0, 0], by_hand)

# %% [markdown]
# The loops that `conv2d` ends up running are in `kernels/reference.py`, function
# `conv2d_forward`: the same `window * w` then `sum`, with extra loops over the batch and the
# channels. Open it now and find the line `y[b, co, oh, ow] = np.sum(window * w[co])`.
#
# ## 2. Convolution is correlation with the kernel turned by 180°
#
# In signal processing, **convolution** walks the kernel *backwards*:
#
# $$ (x * k)[i, j] = \sum_{m, n} x[i - m,\, j - n] \cdot k[m, n] $$
#
# Reading the kernel backwards along both axes is the same as reading a kernel that has been
# flipped up-down and left-right, i.e. rotated by 180°. So
# `convolve(x, k) == correlate(x, rot180(k))`.

# %%
k_rot = tc.signal.rot180(tc.tensor(k))
print(k_rot)
assert np.array_equal(k_rot.numpy(), k[::-1, ::-1])

conv = tc.signal.convolve2d(tc.tensor(x), tc.tensor(k), mode="valid")
corr_rot = tc.signal.correlate2d(tc.tensor(x), k_rot, mode="valid")
assert np.allclose(conv.numpy(), corr_rot.numpy())
assert np.allclose(conv.numpy(), scipy.signal.convolve2d(x, k, mode="valid"))

# %% [markdown]
# For a symmetric kernel (one that equals its own rotation) the two operations agree. For our
# `k` they do not, since `rot180(k) = -k`:

# %%
print("correlation:\n", by_hand)
print("convolution:\n", conv.numpy())
assert np.allclose(conv.numpy(), -by_hand)

# %% [markdown]
# **Why do deep-learning libraries compute correlation and still call it convolution?** Because
# the kernel is *learned*. If the best filter for a task is some `k`, a network computing
# correlation simply learns `rot180(k)` instead. Skipping the flip saves work and nothing is
# lost. The flip will come back, though, in tutorial 03: the gradient of a layer with respect
# to its input is a true convolution.
#
# One property that only true convolution has: it is **commutative** in "full" mode,
# `x * k = k * x`. Correlation is not.

# %%
a, b = tc.tensor(x), tc.tensor(k)
assert np.allclose(tc.signal.convolve2d(a, b).numpy(), tc.signal.convolve2d(b, a).numpy())
assert not np.allclose(tc.signal.correlate2d(a, b).numpy(), tc.signal.correlate2d(b, a).numpy())

# %% [markdown]
# ## 3. The borders: `valid`, `full` and `same`
#
# Along one axis, with an image of length `n` and a kernel of length `k`:
#
# | mode | where the kernel may sit | output length |
# |---|---|---|
# | `valid` | entirely inside the image | `n - k + 1` |
# | `full` | anywhere it overlaps the image by at least one element | `n + k - 1` |
# | `same` | centred on each pixel | `n` |
#
# `full` and `same` let the kernel hang over the edge; the missing pixels count as zero. In
# other words, they are `valid` applied to a **zero-padded** image: `full` pads `k - 1` zeros
# on each side, `same` pads `k - 1` in total, split as evenly as possible.

# %%
image = tc.randn(7, 9, dtype=tc.float64)
kernel = tc.randn(3, 4, dtype=tc.float64)
for mode in ("valid", "full", "same"):
    out = tc.signal.correlate2d(image, kernel, mode=mode)
    print(f"{mode:>5}: {tuple(out.shape)}")
    assert np.allclose(out.numpy(), scipy.signal.correlate2d(image.numpy(), kernel.numpy(), mode))

assert tc.signal.correlate2d(image, kernel, "valid").shape == (7 - 3 + 1, 9 - 4 + 1)
assert tc.signal.correlate2d(image, kernel, "full").shape == (7 + 3 - 1, 9 + 4 - 1)
assert tc.signal.correlate2d(image, kernel, "same").shape == (7, 9)

# %% [markdown]
# "full" really is "valid after padding by k − 1": pad the image by hand with `tc.pad` (whose
# padding list starts with the *last* axis, as in PyTorch: left, right, top, bottom) and compare.

# %%
padded = tc.pad(image, (4 - 1, 4 - 1, 3 - 1, 3 - 1))
assert padded.shape == (7 + 2 * 2, 9 + 2 * 3)
assert np.allclose(tc.signal.correlate2d(padded, kernel, "valid").numpy(),
                   tc.signal.correlate2d(image, kernel, "full").numpy())

# %% [markdown]
# ## 4. The output-size formula
#
# A convolutional layer adds three knobs to the sliding window:
#
# - **padding** `p`: zeros added on each side (so `p = k // 2` with an odd `k` keeps the size:
#   that is "same");
# - **stride** `s`: how far the window jumps between outputs (`s = 2` halves the size);
# - **dilation** `d`: the kernel's taps are `d` pixels apart, so a 3×3 kernel with `d = 2`
#   covers a 5×5 area with only 9 weights.
#
# A kernel of `k` taps with dilation `d` spans `d(k − 1) + 1` pixels. It fits in the padded
# input `n + 2p` at `n + 2p − span` starting positions beyond the first, and we only keep every
# `s`-th of them, so
#
# $$ n_{out} = \left\lfloor \frac{n + 2p - d(k - 1) - 1}{s} \right\rfloor + 1 $$
#
# The library writes this formula once, in `kernels/contract.py::conv_output_size`. Let us check
# it against what `conv2d` actually returns, for a few settings.


# %%
def output_size(n, k, p=0, s=1, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


inp = tc.randn(1, 1, 11, 11)
print(" k  p  s  d -> out")
for k_, p, s, d in [(3, 0, 1, 1), (3, 1, 1, 1), (5, 2, 1, 1), (3, 1, 2, 1), (4, 0, 3, 1),
                    (3, 0, 1, 2), (3, 2, 2, 2)]:
    y = F.conv2d(inp, tc.randn(1, 1, k_, k_), padding=p, stride=s, dilation=d)
    print(f"{k_:2d} {p:2d} {s:2d} {d:2d} -> {y.shape[-1]}")
    assert y.shape[-1] == output_size(11, k_, p, s, d)
    assert y.shape[-1] == conv_output_size(11, k_, s, p, p, d)

# %% [markdown]
# Notice the floor: with `n = 11, k = 4, s = 3` the windows start at 0, 3, 6 and the next one,
# at 9, would need columns 9..12 — past the end — so it is dropped and the last two columns are
# never read.
#
# ## 5. Filters that find edges
#
# Why would sliding a tiny grid over an image be useful? Because a well-chosen kernel answers a
# local question at every pixel. The **Sobel** kernels ask "how much brighter is the right side
# than the left?" (`sobel_x`) and "the bottom than the top?" (`sobel_y`). On a flat region the
# answer is 0; on an edge it is large.

# %%
sobel_x = np.array([[-1., 0., 1.],
                    [-2., 0., 2.],
                    [-1., 0., 1.]])
sobel_y = sobel_x.T.copy()
laplacian = np.array([[0., 1., 0.],
                      [1., -4., 1.],
                      [0., 1., 0.]])

# A 24x24 image: a bright square on a dark background.
square = np.zeros((24, 24))
square[6:18, 8:16] = 1.0
sq = tc.tensor(square)
gx = tc.signal.correlate2d(sq, tc.tensor(sobel_x), mode="same").numpy()
gy = tc.signal.correlate2d(sq, tc.tensor(sobel_y), mode="same").numpy()

# %% [markdown]
# `sobel_x` lights up on the square's **left and right** sides and is zero on its top and bottom
# sides (away from the corners); `sobel_y` does the opposite. Inside the square and in the
# background, where nothing changes, both are zero: a filter only reacts to its pattern.

# %%
middle_rows, middle_cols = slice(9, 15), slice(10, 14)   # away from the corners
left_edge = np.abs(gx[middle_rows, 7:9]).sum()           # columns on both sides of x = 8
top_edge = np.abs(gx[5:7, middle_cols]).sum()
print("|gx| on the left edge:", left_edge, " on the top edge:", top_edge)
assert left_edge > 0 and top_edge == 0
assert np.abs(gy[middle_rows, 7:9]).sum() == 0 and np.abs(gy[5:7, middle_cols]).sum() > 0
assert np.all(gx[10:14, 10:14] == 0) and np.all(gx[0:3, :] == 0)   # flat regions
assert gx[12, 7] > 0 and gx[12, 16] < 0   # dark -> bright is positive, bright -> dark negative

# %% [markdown]
# Now a real handwritten digit, from the digits bundled with scikit-learn (enlarged to 32×32 by
# `tc.data.digits(size=32)`). The gradient magnitude `sqrt(gx² + gy²)` outlines the strokes.

# %%
digits = tc.data.digits(train=True, size=32)
digit, label = digits[0]
img = digit[0].double()                       # (32, 32), float64
filters = {"sobel_x": sobel_x, "sobel_y": sobel_y, "laplacian": laplacian}
responses = {name: tc.signal.correlate2d(img, tc.tensor(f), mode="same").numpy()
             for name, f in filters.items()}
magnitude = np.hypot(responses["sobel_x"], responses["sobel_y"])

fig, axes = plt.subplots(1, 5, figsize=(15, 3.2))
panels = [("digit " + str(int(label)), img.numpy())] + list(responses.items()) + \
         [("|gradient|", magnitude)]
for ax, (title, picture) in zip(axes, panels, strict=False):
    ax.imshow(picture, cmap="gray")
    ax.set_title(title)
    ax.axis("off")
save_figure(fig, "01_edges.png")

# %% [markdown]
# The strokes are where the magnitude is large: the strongest edge responses sit on pixels that
# are neither empty background nor the middle of a thick stroke.

# %%
background = img.numpy() < 0.05
assert magnitude[background].mean() < magnitude[~background].mean()

# %% [markdown]
# ## What you learned
#
# - A cross-correlation slides a kernel over an image, multiplying and summing; a CNN layer does
#   exactly that (`tc.nn.functional.conv2d` = `tc.signal.correlate2d` on one channel).
# - Convolution = correlation with the kernel rotated by 180°; CNNs skip the rotation because
#   the kernel is learned anyway.
# - `valid` / `full` / `same` are correlations of zero-padded images; the output size is
#   `floor((n + 2p − d(k − 1) − 1) / s) + 1`.
# - Hand-made kernels detect edges. A CNN **learns** its kernels instead — tutorial 02 builds
#   the layer that holds them.
