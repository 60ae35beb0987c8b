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
# # 02 · The convolutional layer
#
# Tutorial 01 slid one kernel over one image. A convolutional layer, `tc.nn.Conv2d`, does the
# same with a *batch* of images that each have several *channels*, and with several kernels at
# once. Here we take the layer apart:
#
# 1. why it has so few parameters (local connectivity and weight sharing);
# 2. padding and stride;
# 3. several input channels and several filters;
# 4. the 1×1 convolution, which is a fully connected layer applied at every pixel;
# 5. groups, depthwise and depthwise-separable convolutions, and what they save;
# 6. the kernels that do the work: `kernels/reference.py` next to `kernels/cpu/`.
#
# Layout reminder (the same as PyTorch): images are `(N, C, H, W)` — batch, channels, height,
# width — and a layer's weight is `(C_out, C_in / groups, kH, kW)`.

# %%
import time

import numpy as np

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.kernels import cpu, reference
from tinyconv.kernels.cpu import dispatch

tc.manual_seed(0)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# %% [markdown]
# ## 1. Local connectivity and weight sharing
#
# Suppose a 32×32 grey image should become 6 feature maps of 28×28 (LeNet-5's first layer).
#
# - A **fully connected** layer would connect every one of the 6·28·28 = 4,704 outputs to every
#   one of the 1,024 input pixels, each connection with its own weight.
# - A **convolutional** layer connects each output only to a 5×5 patch (*local connectivity*:
#   nearby pixels are what matters for edges and strokes), and all outputs of one feature map
#   use the *same* 25 weights (*weight sharing*: a stroke detector useful in the top-left corner
#   is useful everywhere).

# %%
conv = tc.nn.Conv2d(1, 6, kernel_size=5)
dense = tc.nn.Linear(32 * 32, 6 * 28 * 28)

print("conv weight", conv.weight.shape, "bias", conv.bias.shape)
print(f"conv parameters:  {n_params(conv):>10,}")
print(f"dense parameters: {n_params(dense):>10,}")
assert n_params(conv) == 6 * (1 * 5 * 5) + 6 == 156
assert n_params(dense) == 1024 * 4704 + 4704
assert conv(tc.randn(2, 1, 32, 32)).shape == (2, 6, 28, 28)

# %% [markdown]
# 156 against almost five million: the convolution needs ~31,000 times fewer weights, so it
# needs far less data to learn them and overfits less.
#
# Weight sharing has a second consequence: **translation equivariance**. Move the input and
# the feature map moves the same way, because the same filter is applied everywhere.

# %%
image = tc.zeros(1, 1, 32, 32)
image[0, 0, 8:12, 6:9] = 1.0                                 # a small blob
shifted = tc.zeros(1, 1, 32, 32)
shifted[0, 0, 8 + 5:12 + 5, 6 + 7:9 + 7] = 1.0               # the same blob, 5 down, 7 right

with tc.no_grad():
    y, y_shifted = conv(image).numpy(), conv(shifted).numpy()
# the shifted output equals the original output moved by (5, 7)
assert np.allclose(y_shifted[..., 5:, 7:], y[..., :-5, :-7], atol=1e-6)

# %% [markdown]
# ## 2. Padding and stride
#
# Without padding, each 5×5 layer eats 4 pixels off the height and width. Padding the border
# with `p = (k − 1) / 2` zeros keeps the size (`padding="same"` computes it for you). A stride
# of 2 moves the window two pixels at a time, halving the output — which is the same as
# computing the stride-1 output and keeping every second value (but twice cheaper per axis).

# %%
x = tc.randn(2, 3, 16, 16)
w = tc.randn(4, 3, 3, 3)
y_valid = F.conv2d(x, w)
y_same = F.conv2d(x, w, padding=1)
y_same2 = F.conv2d(x, w, padding="same")
y_stride2 = F.conv2d(x, w, padding=1, stride=2)
for name, t in [("no padding", y_valid), ("padding=1", y_same), ("stride=2", y_stride2)]:
    print(f"{name:>11}: {tuple(t.shape)}")

assert y_valid.shape == (2, 4, 14, 14) and y_same.shape == (2, 4, 16, 16)
assert np.allclose(y_same.numpy(), y_same2.numpy())
assert y_stride2.shape == (2, 4, 8, 8)
assert np.allclose(y_stride2.numpy(), y_same.numpy()[..., ::2, ::2], atol=1e-5)

# %% [markdown]
# ## 3. Several input channels, several filters
#
# A colour image has 3 channels, and after the first layer an image has as many channels as
# that layer had filters. A filter therefore is not a 2-D grid but a **stack** of grids, one per
# input channel: its weight `w[co]` has shape `(C_in, kH, kW)`. Output channel `co` is the
# *sum over input channels* of the 2-D correlations, plus one bias:
#
# $$ y[co] = b[co] + \sum_{ci} x[ci] \star w[co, ci] $$
#
# Let us rebuild a `Conv2d(3, 4, 3)` output with nothing but `tc.signal.correlate2d`.

# %%
layer = tc.nn.Conv2d(3, 4, kernel_size=3).double()
x = tc.randn(1, 3, 6, 7, dtype=tc.float64)
with tc.no_grad():
    y = layer(x)
    for co in range(4):
        by_hand = layer.bias[co]
        for ci in range(3):
            by_hand = by_hand + tc.signal.correlate2d(x[0, ci], layer.weight[co, ci], "valid")
        assert np.allclose(by_hand.numpy(), y[0, co].numpy())
print("weight", layer.weight.shape, "->", "output", y.shape)
assert n_params(layer) == 4 * (3 * 3 * 3) + 4

# %% [markdown]
# Each filter is one feature detector; `C_out` filters give `C_out` feature maps. The parameter
# count is `C_out · (C_in · kH · kW) + C_out`: it grows with both channel counts and with the
# kernel area, but **not** with the image size.
#
# ## 4. A 1×1 convolution is a Linear layer at every pixel
#
# With a 1×1 kernel there is no neighbourhood at all: each output pixel is a weighted sum of the
# `C_in` values *at the same pixel*. That is a matrix `(C_out, C_in)` applied to the channel
# vector of every pixel — exactly what `Linear(C_in, C_out)` does to the last axis of a tensor.
# 1×1 convolutions are used to mix channels and to change their number cheaply (GoogLeNet's
# bottlenecks, ResNet-50's blocks, MobileNet's pointwise layers).

# %%
pointwise = tc.nn.Conv2d(8, 5, kernel_size=1)
linear = tc.nn.Linear(8, 5)
with tc.no_grad():
    linear.weight.copy_(pointwise.weight.reshape(5, 8))    # same numbers, (C_out, C_in)
    linear.bias.copy_(pointwise.bias)
    x = tc.randn(2, 8, 6, 6)
    y_conv = pointwise(x)                                          # (N, 5, H, W)
    y_linear = linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)   # channels last, and back
assert np.allclose(y_conv.numpy(), y_linear.numpy(), atol=1e-5)
print("1x1 conv == Linear at every pixel:", y_conv.shape)

# %% [markdown]
# ## 5. Groups, depthwise and depthwise-separable convolutions
#
# `groups=g` splits the input channels into `g` groups and the filters into `g` groups; group `i`
# of the filters only sees group `i` of the inputs. It is `g` independent convolutions side by
# side, so the weight has `C_in / g` input channels per filter and `g` times fewer parameters.

# %%
grouped = tc.nn.Conv2d(4, 6, kernel_size=3, groups=2, bias=False)
print("grouped weight:", grouped.weight.shape)       # (6, 4/2, 3, 3)
x = tc.randn(1, 4, 8, 8)
with tc.no_grad():
    y = grouped(x)
    first = F.conv2d(x[:, :2], grouped.weight[:3])    # inputs 0-1 -> outputs 0-2
    second = F.conv2d(x[:, 2:], grouped.weight[3:])   # inputs 2-3 -> outputs 3-5
assert np.allclose(y.numpy(), tc.cat([first, second], dim=1).numpy(), atol=1e-5)

# %% [markdown]
# With `groups = C_in` every input channel gets its own filter(s): a **depthwise**
# convolution. It filters space but never mixes channels. Follow it with a 1×1 convolution,
# which mixes channels but never looks at neighbours, and you have a **depthwise-separable**
# convolution, MobileNet's building block. It replaces one `k×k` convolution from `M` to `N`
# channels.
#
# Cost of one output pixel, in multiply-adds: a standard convolution needs `k²·M·N`; the
# separable one `k²·M` (depthwise) + `M·N` (pointwise). The ratio is
#
# $$ \frac{k^2 M + M N}{k^2 M N} = \frac{1}{N} + \frac{1}{k^2} $$
#
# — with `k = 3` about 8 to 9 times cheaper. Let us measure real layers with `tc.summary`,
# which counts the multiply-adds (MACs) of every layer as it runs.

# %%
M, N, k, size = 32, 64, 3, 16
standard = tc.nn.Conv2d(M, N, k, padding=1, bias=False)
separable = tc.nn.Sequential(
    tc.nn.Conv2d(M, M, k, padding=1, groups=M, bias=False),   # depthwise: one 3x3 per channel
    tc.nn.Conv2d(M, N, 1, bias=False),                        # pointwise: mix the channels
)
s_standard = tc.summary(standard, (M, size, size), print_table=False)
s_separable = tc.summary(separable, (M, size, size), print_table=False)
print(s_separable)

ratio = s_separable.total_macs / s_standard.total_macs
print(f"MACs: standard {s_standard.total_macs:,}  separable {s_separable.total_macs:,}  "
      f"ratio {ratio:.4f}  formula 1/N + 1/k^2 = {1 / N + 1 / k**2:.4f}")
assert s_standard.total_macs == size * size * k * k * M * N
assert np.isclose(ratio, 1 / N + 1 / k**2)
assert np.isclose(s_separable.total_params / s_standard.total_params, 1 / N + 1 / k**2)

# %% [markdown]
# The same ratio holds for the parameters, since each weight is used once per output pixel.
# The separable block is *not* the same function as the standard convolution — it is a cheaper
# family of functions, which turns out to be nearly as good in practice.
#
# ## 6. Reading the kernels
#
# Every convolution above ended in one function of the **kernel contract**,
# `conv2d_forward(x, w, stride, padding, dilation, groups)`, called with plain NumPy arrays.
# Open `kernels/reference.py` and read `conv2d_forward`: four loops (batch, output channel,
# output row, output column), a `window` cut out of the zero-padded input, and
# `np.sum(window * w[co])`. That is the readable specification. The functions in
# `kernels/cpu/` compute the same numbers fast with Numba:
#
# - `kernels/cpu/conv.py` — the `loops` plan: the reference's loops, compiled (line by line the
#   same);
# - `kernels/cpu/direct.py` — loops reordered so the innermost one runs along an output row;
# - `kernels/cpu/im2col.py` — copy every window into a column of a matrix, then one big matrix
#   product (BLAS);
# - `kernels/cpu/unrolled.py` — for stride 1 and 3×3 or 5×5 kernels, the direct idea with all k²
#   taps written out (generated by `gen_unrolled.py`), so one pass over a plane applies them all
#   (`unrolled_plan.py`), or over every sample at once with the batch in the SIMD lanes
#   (`batch_lanes.py`);
# - `kernels/cpu/winograd.py` — dense 3×3 layers with 2.25× fewer multiplications;
# - `kernels/cpu/dispatch.py` — picks a plan per call from one table (`HEURISTIC`,
#   `choose_plan`).
#
# Every plan is an object with the same four methods: `supports(problem, step)`, `forward`,
# `backward_input` and `backward_weight`, where `problem` (`kernels/cpu/problem.py`) describes
# one checked call: shapes, stride, padding `(top, bottom, left, right)`, dilation, groups.
# Forcing a plan puts it first wherever it `supports` the call; elsewhere the table decides
# (Winograd knows only 3×3 kernels, so on this 5×5 layer it hands the call on).

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 6, 14, 14)).astype(np.float32)
w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32)
args = ((1, 1), (0, 0, 0, 0), (1, 1), 1)   # stride, padding, dilation, groups

y_ref = reference.conv2d_forward(x, w, *args)
for plan in sorted(dispatch.PLANS):  # every plan, forced in turn
    with dispatch.force_plan(plan):
        y_plan = cpu.conv2d_forward(x, w, *args)
        ran = cpu.plan_name(x.shape, w.shape, *args)  # what the forced call really used
    print(f"forced {plan:>11} -> ran {ran:>11}: max |difference| from reference = "
          f"{np.abs(y_plan - y_ref).max():.2e}")
    assert np.allclose(y_plan, y_ref, atol=1e-4)

# %% [markdown]
# Which plan does the heuristic choose? It depends on how many products each output sums,
# `R = C_in/groups · kH · kW`, and on whether an unrolled kernel exists for the call:
# a 3×3 or 5×5 kernel with stride 1 and `R` below 100 (LeNet's first layer, depthwise layers)
# → `unrolled`; other small `R` → `direct`; many products (LeNet's second layer, dense
# VGG/ResNet layers, where BLAS's register blocking wins) → `im2col`, except that a dense 3×3
# stride-1 layer with at least 12 input channels and enough output (at least 128 tiles of 2×2)
# → `winograd` (`kernels/cpu/winograd.py`): it computes each 2×2 output tile with 16
# multiplications instead of 36, as 16 matrix products. A 5×5 stride-1 layer with `R` from 100
# to 400 and a batch of at least 8 (LeNet's second layer in training) → `batch_lanes`
# (`kernels/cpu/batch_lanes.py`): the unrolled taps with the samples in the SIMD lanes, so the
# batch size matters too.

# %%
for name, batch, w_shape, stride, groups, expected in [
        ("LeNet conv1", 1, (6, 1, 5, 5), 1, 1, "unrolled"),
        ("LeNet conv2", 1, (16, 6, 5, 5), 1, 1, "im2col"),
        ("LeNet conv2", 64, (16, 6, 5, 5), 1, 1, "batch_lanes"),
        ("depthwise 3x3", 1, (32, 1, 3, 3), 1, 32, "unrolled"),
        ("depthwise 3x3 /2", 1, (32, 1, 3, 3), 2, 32, "direct"),
        ("VGG-style 3x3", 1, (64, 64, 3, 3), 1, 1, "winograd")]:
    x_shape = (batch, w_shape[1] * groups, 32, 32)
    plan = cpu.plan_name(x_shape, w_shape, (stride, stride), (1, 1, 1, 1), (1, 1), groups)
    print(f"{name:>16}, batch {batch:2d}: reduction {w_shape[1] * w_shape[2] * w_shape[3]:4d}"
          f" -> {plan}")
    assert plan == expected

# %% [markdown]
# You can also run a whole layer on the readable loops: `tc.use_kernels("reference")` switches
# the kernel set inside a `with` block. Same numbers, much slower — which is why the compiled
# kernels exist.

# %%
layer = tc.nn.Conv2d(6, 16, kernel_size=5)
x = tc.randn(2, 6, 14, 14)
with tc.no_grad():
    layer(x)                      # first call: Numba may load or compile the kernel
    start = time.perf_counter()
    y_fast = layer(x)
    fast = time.perf_counter() - start
    with tc.use_kernels("reference"):
        start = time.perf_counter()
        y_slow = layer(x)
        slow = time.perf_counter() - start
print(f"numba kernels: {fast * 1e3:.2f} ms   reference loops: {slow * 1e3:.1f} ms")
assert np.allclose(y_fast.numpy(), y_slow.numpy(), atol=1e-4)
assert tc.get_kernels_name() == "cpu"     # restored after the block

# %% [markdown]
# ## What you learned
#
# - A conv layer is local and shares its weights: parameters `C_out·(C_in/g·kH·kW) + C_out`,
#   independent of the image size; shifting the input shifts the output.
# - Padding keeps the size, stride subsamples; each output channel sums correlations over all
#   input channels (of its group).
# - 1×1 conv = Linear over channels at every pixel; depthwise-separable = grouped conv
#   (`groups = C`) + 1×1, costing `1/N + 1/k²` of a standard convolution.
# - `kernels/reference.py::conv2d_forward` is the specification; `kernels/cpu/` computes the same.
#
# Next, tutorial 03: how the layer learns — the backward pass.
