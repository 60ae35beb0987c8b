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
# # 04 · Pooling and activations
#
# Between its convolutions, a CNN uses a few operations without (or almost without) weights:
#
# - **pooling** (max, average, global average) shrinks feature maps;
# - **activations** (ReLU, sigmoid, tanh) make the network non-linear;
# - **softmax** turns the last layer's scores into probabilities;
# - **dropout** randomly silences units while training, to fight overfitting.
#
# Each gets a small numeric demonstration, with an `assert` for every claim.

# %%
import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

import tinyconv as tc
import tinyconv.nn.functional as F

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # running as a notebook
    HERE = Path.cwd()
OUT = Path(os.environ.get("TINYCONV_TUTORIAL_OUT", HERE / "_output"))
OUT.mkdir(parents=True, exist_ok=True)
tc.manual_seed(0)


def save_figure(fig, name):
    """Save a figure as a PNG in OUT (and close it, unless a notebook will show it)."""
    path = OUT / name
    fig.savefig(path, dpi=100, bbox_inches="tight")
    if "inline" not in matplotlib.get_backend():
        plt.close(fig)
    print("saved", path)
    return path


# %% [markdown]
# ## 1. Max pooling
#
# Max pooling keeps the largest value of each window. With 2×2 windows and stride 2 (the usual
# choice) the feature map shrinks by 2 along each axis — 4 times fewer values for the next
# layer to process — while the strongest response of each region survives.

# %%
x = tc.tensor([[[[1., 5., 2., 0.],
                 [3., 2., 8., 1.],
                 [0., 7., 4., 4.],
                 [6., 1., 3., 9.]]]])
pool = tc.nn.MaxPool2d(kernel_size=2, stride=2)
y = pool(x)
print(y)
assert y.numpy()[0, 0].tolist() == [[5., 8.], [7., 9.]]

# %% [markdown]
# Pooling brings a little **translation invariance**: if a feature moves by a pixel but stays
# inside the same window, the pooled output does not change at all.

# %%
feature = tc.zeros(1, 1, 4, 4)
feature[0, 0, 0, 0] = 1.0                 # a detection in the top-left corner...
moved = tc.zeros(1, 1, 4, 4)
moved[0, 0, 1, 1] = 1.0                   # ...moved one pixel down and right
assert np.array_equal(pool(feature).numpy(), pool(moved).numpy())

# %% [markdown]
# Pooling sizes follow the convolution formula, `floor((n + 2p − k) / s) + 1`. AlexNet used
# *overlapping* pooling, 3×3 windows with stride 2:

# %%
x = tc.randn(1, 8, 55, 55)
assert F.max_pool2d(x, 3, stride=2).shape == (1, 8, 27, 27)    # (55 - 3) // 2 + 1 = 27
assert F.max_pool2d(x, 2).shape == (1, 8, 27, 27)              # stride defaults to the kernel

# %% [markdown]
# ## 2. Average pooling and global average pooling
#
# Average pooling keeps the mean of each window: smoother, it keeps a little of every value
# (LeNet-5's original subsampling layers averaged).

# %%
x = tc.tensor([[[[1., 5., 2., 0.],
                 [3., 2., 8., 1.],
                 [0., 7., 4., 4.],
                 [6., 1., 3., 9.]]]])
y = F.avg_pool2d(x, 2)
print(y)
assert np.allclose(y.numpy()[0, 0], [[(1 + 5 + 3 + 2) / 4, (2 + 0 + 8 + 1) / 4],
                                     [(0 + 7 + 6 + 1) / 4, (4 + 4 + 3 + 9) / 4]])

# %% [markdown]
# **Global average pooling** averages each whole feature map down to one number: `(N, C, H, W)
# → (N, C, 1, 1)`. GoogLeNet, ResNet and MobileNet end with it instead of flattening a big
# feature map into a huge fully connected layer. Compare the parameters for a 512×7×7 feature
# map and 1,000 classes:

# %%
features = tc.randn(2, 512, 7, 7)
gap = F.global_avg_pool2d(features)
assert gap.shape == (2, 512, 1, 1)
assert np.allclose(gap.numpy()[:, :, 0, 0], features.numpy().mean(axis=(2, 3)), atol=1e-6)

flatten_fc = 512 * 7 * 7 * 1000 + 1000     # Linear(25088, 1000)
gap_fc = 512 * 1000 + 1000                 # Linear(512, 1000) after global average pooling
print(f"flatten + FC: {flatten_fc:,} parameters   GAP + FC: {gap_fc:,} parameters")
assert flatten_fc // gap_fc == 48

# %% [markdown]
# It also makes the network accept any input size: whatever `H × W` is, the average is one
# number per channel. (`tc.nn.AdaptiveAvgPool2d(1)` is the same thing as a layer.)

# %%
assert tc.nn.AdaptiveAvgPool2d(1)(tc.randn(1, 3, 13, 9)).shape == (1, 3, 1, 1)

# %% [markdown]
# ## 3. Activations: why ReLU
#
# Without a non-linearity between them, two convolutions are just one bigger convolution (a
# linear map of a linear map is linear), so depth would add nothing. The classic squashing
# functions, sigmoid and tanh, have a weakness: their slope is tiny for large inputs, and
# backpropagation *multiplies* these slopes layer after layer. **ReLU**, `max(0, x)`, has slope
# exactly 1 for every positive input, is trivial to compute, and made deep networks trainable
# (AlexNet).
#
# Autograd gives us the slopes:

# %%
z = tc.linspace(-6, 6, 121, dtype=tc.float64, requires_grad=True)
curves = {}
for name, fn in [("relu", F.relu), ("sigmoid", F.sigmoid), ("tanh", F.tanh)]:
    z.grad = None
    out = fn(z)
    out.sum().backward()
    curves[name] = (out.detach().numpy(), z.grad.numpy().copy())

relu_slope, sigmoid_slope = curves["relu"][1], curves["sigmoid"][1]
print("largest sigmoid slope:", sigmoid_slope.max(), " sigmoid slope at z=5:", sigmoid_slope[110])
assert np.isclose(sigmoid_slope.max(), 0.25)                       # at z = 0
assert np.all(relu_slope[z.detach().numpy() > 0] == 1.0)
assert np.all(relu_slope[z.detach().numpy() < 0] == 0.0)

# %% [markdown]
# Through 10 sigmoid layers the gradient shrinks by at least `0.25¹⁰ ≈ 10⁻⁶`; through 10 ReLU
# layers (on the active side) it does not shrink at all. That is the **vanishing gradient**.

# %%
a = tc.tensor([0.5], dtype=tc.float64, requires_grad=True)
h = a
for _ in range(10):
    h = F.sigmoid(h)
h.sum().backward()
print("d(10 sigmoids)/da =", a.grad.item())
assert a.grad.item() < 0.25 ** 10 * 10     # vanishingly small

a.grad = None
h = a
for _ in range(10):
    h = F.relu(h)
h.sum().backward()
assert a.grad.item() == 1.0

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
for name, (value, slope) in curves.items():
    axes[0].plot(z.detach().numpy(), value, label=name)
    axes[1].plot(z.detach().numpy(), slope, label=name)
axes[0].set(title="activation", xlabel="z", ylim=(-1.5, 3))
axes[1].set(title="slope (from autograd)", xlabel="z")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend()
save_figure(fig, "04_activations.png")

# %% [markdown]
# ## 4. Softmax, and computing it stably
#
# A classifier's last layer outputs one score (a *logit*) per class. Softmax turns them into
# probabilities — positive, summing to 1, the largest score getting the largest probability:
#
# $$ \mathrm{softmax}(z)_i = \frac{e^{z_i}}{\sum_j e^{z_j}} $$

# %%
logits = tc.tensor([2.0, 1.0, 0.1])
p = F.softmax(logits, dim=0)
print(p)
assert np.isclose(p.sum().item(), 1.0) and p.argmax().item() == 0

# %% [markdown]
# Written naively, `exp` overflows as soon as a logit is large (`e^1000` is infinite in float32
# and float64) and the result is `nan`. Since softmax does not change when the same constant is
# added to every logit (it cancels between numerator and denominator), we subtract the largest
# logit first: the biggest exponent becomes `e^0 = 1` and nothing overflows. `F.softmax` does this.

# %%
big = np.array([1000.0, 1001.0, 1002.0])
with np.errstate(over="ignore", invalid="ignore"):
    naive = np.exp(big) / np.exp(big).sum()
shifted = np.exp(big - big.max()) / np.exp(big - big.max()).sum()
stable = F.softmax(tc.tensor(big), dim=0).numpy()
print("naive:", naive, " shifted:", shifted, " F.softmax:", stable)
assert np.all(np.isnan(naive))
assert np.allclose(stable, shifted)
assert np.allclose(stable, F.softmax(tc.tensor([0.0, 1.0, 2.0], dtype=tc.float64), dim=0).numpy())

# %% [markdown]
# For training we need `log(softmax)`. Taking the log of a probability that rounded to 0 gives
# `−inf`; `F.log_softmax` computes `z − max − log Σ e^(z − max)` directly and stays finite.
# `F.cross_entropy(logits, target)` is `−log_softmax(logits)[target]`, averaged over the batch,
# which is why a network's last layer outputs raw logits and no softmax.

# %%
z = tc.tensor([[0.0, 1000.0]], dtype=tc.float64)   # e^-1000 rounds to 0, even in float64
with np.errstate(divide="ignore"):
    log_of_softmax = np.log(F.softmax(z, dim=1).numpy())
log_softmax = F.log_softmax(z, dim=1).numpy()
print("log(softmax):", log_of_softmax, " log_softmax:", log_softmax)
assert np.isneginf(log_of_softmax[0, 0]) and np.isclose(log_softmax[0, 0], -1000.0)

target = tc.tensor([0])
assert np.isclose(F.cross_entropy(z, target).item(), -log_softmax[0, 0])

# %% [markdown]
# ## 5. Dropout: on while training, off while testing
#
# During training, dropout sets each value to 0 with probability `p` and multiplies the
# survivors by `1 / (1 − p)`. A unit can then never rely on one particular other unit being
# there, which reduces overfitting (AlexNet used `p = 0.5` in its fully connected layers). The
# scaling keeps the **expected** value of every unit unchanged, so at test time dropout can
# simply be switched off — no rescaling needed.

# %%
drop = tc.nn.Dropout(p=0.5)
x = tc.ones(100_000)

drop.train()                       # model.train() sets this for every layer of a model
y = drop(x).numpy()
print(f"training: {np.mean(y == 0):.3f} zeroed, values {np.unique(y).tolist()}, "
      f"mean {y.mean():.3f}")
assert abs(np.mean(y == 0) - 0.5) < 0.01
assert set(np.unique(y)) == {0.0, 2.0}          # survivors scaled by 1 / (1 - 0.5)
assert abs(y.mean() - 1.0) < 0.02               # the expected value is kept

drop.eval()                        # model.eval(): dropout does nothing
assert np.array_equal(drop(x).numpy(), x.numpy())

# %% [markdown]
# In conv layers, neighbouring pixels of a feature map are nearly copies of each other, so
# dropping single pixels barely matters. `Dropout2d` drops **whole feature maps** instead:

# %%
maps = tc.ones(4, 16, 5, 5)
dropped = F.dropout2d(maps, p=0.5, training=True).numpy()
per_map = dropped.reshape(4, 16, 25)
assert np.all(per_map.min(axis=2) == per_map.max(axis=2))    # each map all-zero or all-2
print("feature maps dropped:", int((per_map[:, :, 0] == 0).sum()), "of", 4 * 16)

# %% [markdown]
# Forgetting `model.eval()` before testing is a classic bug: predictions become random and
# accuracy drops. Tutorial 05 switches modes explicitly.
#
# ## What you learned
#
# - Max pooling keeps each window's maximum (small shifts do not matter); average pooling its
#   mean; global average pooling one number per channel, replacing huge dense layers.
# - ReLU's slope is 1 on the positive side, sigmoid's at most 1/4: stacked sigmoids make
#   gradients vanish.
# - Softmax is computed after subtracting the maximum; losses use `log_softmax`/`cross_entropy`
#   on raw logits.
# - Dropout zeroes and rescales in training mode and is the identity in eval mode.
