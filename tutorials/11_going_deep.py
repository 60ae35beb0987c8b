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
# # 11 · Going deep
#
# VGG showed that depth helps. Then it stopped helping: He et al. (2016) found that a plain
# 56-layer network had a *higher training error* than a 20-layer one. Not overfitting (that
# would show on the test set only), but a network that the optimiser cannot fit. This tutorial
#
# 1. reproduces this **degradation problem** in seconds: a plain deep network against the same
#    network with **residual connections**, trained briefly, with their curves;
# 2. compares ResNet's **basic** and **bottleneck** blocks;
# 3. takes **batch normalisation** apart: training vs evaluation mode, running statistics;
# 4. builds a **DenseNet** block (concatenation, growth rate);
# 5. and a **squeeze-and-excitation** block (channel attention).

# %%
import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import nn
from tinyconv.models import BasicBlock, Bottleneck, DenseBlock, SEBlock

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


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# %% [markdown]
# ## 1. The degradation problem, reproduced
#
# One network class, two switches: the depth, and whether every pair of 3×3 convolutions is
# bridged by a **shortcut**, `x ← relu(x + conv(relu(conv(x))))`, so that the pair only has to
# learn a *residual* `F(x)` to add to its input. Everything else (width 8, PyTorch's default
# initialisation, no batch norm, Adam, the 8×8 digits) is identical.


# %%
class ConvStack(nn.Module):
    """``depth`` 3×3 convolutions of ``width`` channels, then a linear classifier.

    ``residual=True`` adds an identity shortcut around every pair of convolutions after the
    first one (``depth`` even).
    """

    def __init__(self, depth, width=8, residual=False):
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, padding=1)
        self.convs = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1)
                                    for _ in range(depth - 2)])
        self.head = nn.Linear(width * 8 * 8, 10)
        self.residual = residual

    def forward(self, x):                                      # x: (N, 1, 8, 8)
        x = F.relu(self.stem(x))
        convs = list(self.convs)
        if self.residual:
            for first, second in zip(convs[0::2], convs[1::2], strict=True):
                x = F.relu(x + second(F.relu(first(x))))     # the shortcut
        else:
            for conv in convs:
                x = F.relu(conv(x))
        return self.head(x.flatten(1))


train = tc.data.digits(train=True, size=8)


def train_curve(model, epochs=3):
    """Training loss of every step (Adam, batch 32)."""
    optimizer = tc.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(epochs):
        for images, labels in tc.data.DataLoader(train, batch_size=32, shuffle=True):
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return np.array(losses)


curves, first_layer_gradient = {}, {}
for name, depth, residual in (("plain, 6 layers", 6, False), ("plain, 20 layers", 20, False),
                              ("residual, 20 layers", 20, True)):
    tc.manual_seed(0)
    model = ConvStack(depth, residual=residual)
    images, labels = train.tensors
    F.cross_entropy(model(images[:256]), labels[:256]).backward()   # gradient at the start
    first_layer_gradient[name] = float(np.abs(model.stem.weight.grad.numpy()).mean())
    model.zero_grad()
    curves[name] = train_curve(model)
    print(f"{name:>20}: final training loss {curves[name][-20:].mean():.3f}, "
          f"initial |dL/dW| of the first layer {first_layer_gradient[name]:.1e}")

final = {name: curve[-20:].mean() for name, curve in curves.items()}
assert final["plain, 20 layers"] > final["plain, 6 layers"] + 0.5     # deeper is worse...
assert final["plain, 20 layers"] > 2.0                                # ...on the TRAINING set
assert final["residual, 20 layers"] < final["plain, 20 layers"] - 1.0 # shortcuts fix it

fig, ax = plt.subplots(figsize=(7, 3.5))
for name, curve in curves.items():
    smooth = np.convolve(curve, np.ones(10) / 10, mode="valid")
    ax.plot(smooth, label=name)
ax.axhline(np.log(10), color="gray", linestyle=":", label="chance (ln 10)")
ax.set_xlabel("step")
ax.set_ylabel("training loss (running mean of 10)")
ax.legend()
save_figure(fig, "11_degradation.png")

# %% [markdown]
# The 20-layer plain network stays at the loss of guessing (`ln 10 ≈ 2.30`) while the 6-layer
# one learns: more layers, *worse training* loss. In principle the deep network could copy the
# shallow one and set its extra layers to the identity, but a stack of conv + ReLU layers
# cannot easily learn the identity. The gradient tells why it does not even start: at
# initialisation the first layer of the deep plain network receives a gradient orders of
# magnitude smaller than the residual network's, because every layer scales the signal down a
# little, in both directions.

# %%
assert first_layer_gradient["plain, 20 layers"] < first_layer_gradient["residual, 20 layers"] / 10

# %% [markdown]
# A residual pair only has to learn `F(x) = 0` to pass its input through unchanged, which is
# easy (all weights near zero), and its backward pass always has the `+ x` path: `∂(x + F(x))/∂x
# = 1 + ∂F/∂x`, so the gradient reaches the first layer undiminished. (In the paper both
# networks also had batch norm, which shrinks the effect but does not remove it; section 3
# explains batch norm.)
#
# ## 2. Basic and bottleneck blocks
#
# ResNet-18/34 use the **basic** block, two 3×3 convolutions. ResNet-50 and deeper use the
# **bottleneck** block: a 1×1 convolution reduces 256 channels to 64, a 3×3 works at 64, and a
# 1×1 expands back to 256 (tutorial 10's second use of 1×1). A basic block at 64 channels and a
# bottleneck block at 256 cost about the same, but the bottleneck has four times the channels
# and one more non-linearity.

# %%
basic, bottleneck = BasicBlock(64, 64), Bottleneck(256, 64)
conv_weights = {name: sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
                for name, block in (("basic", basic), ("bottleneck", bottleneck))}
print("3x3/1x1 conv weights:", conv_weights)
assert conv_weights["basic"] == 2 * 9 * 64 * 64 == 73_728
assert conv_weights["bottleneck"] == 256 * 64 + 9 * 64 * 64 + 64 * 256 == 69_632
with tc.no_grad():
    assert bottleneck(tc.randn(1, 256, 8, 8)).shape == (1, 256, 8, 8)
# ResNet-50 = 1 stem conv + (3 + 4 + 6 + 3) bottlenecks x 3 convs + 1 fc = 50 layers
resnet50 = tc.models.resnet50()
blocks = [m for m in resnet50.modules() if isinstance(m, Bottleneck)]
assert len(blocks) == 3 + 4 + 6 + 3 and 1 + 3 * len(blocks) + 1 == 50
del resnet50

# %% [markdown]
# ## 3. Batch normalisation
#
# Batch norm standardises each channel with the statistics of the current batch, then lets the
# network rescale it: `y = γ · (x − μ_B) / √(σ²_B + ε) + β`. In **training** mode μ_B and σ²_B
# come from the batch, and running averages are updated
# (`running ← (1 − momentum) · running + momentum · batch`, the variance with Bessel's
# correction); in **eval** mode the running averages are used, so a prediction does not depend
# on the other images in the batch.

# %%
bn = nn.BatchNorm2d(3)
x = tc.randn(16, 3, 5, 5) * 4 + 7            # mean 7, std 4 in every channel
y = bn(x)                                     # training mode: batch statistics
channel_means = y.detach().numpy().mean(axis=(0, 2, 3))
channel_stds = y.detach().numpy().std(axis=(0, 2, 3))
assert np.allclose(channel_means, 0, atol=1e-5) and np.allclose(channel_stds, 1, atol=1e-3)

batch = x.numpy()
expected_mean = 0.9 * 0 + 0.1 * batch.mean(axis=(0, 2, 3))
expected_var = 0.9 * 1 + 0.1 * batch.var(axis=(0, 2, 3), ddof=1)
assert np.allclose(bn.running_mean.numpy(), expected_mean, atol=1e-5)
assert np.allclose(bn.running_var.numpy(), expected_var, rtol=1e-4)

# %% [markdown]
# After many batches the running statistics approach the data's; in eval mode the layer then
# gives the same result for one image whether it comes alone or in a batch, which training
# mode does not.

# %%
for _ in range(100):
    bn(tc.randn(16, 3, 5, 5) * 4 + 7)
assert np.allclose(bn.running_mean.numpy(), 7, atol=0.3)
assert np.allclose(bn.running_var.numpy(), 16, rtol=0.1)
one_image = x[:1]
bn.eval()
with tc.no_grad():
    alone, in_batch = bn(one_image).numpy(), bn(x).numpy()[:1]
assert np.allclose(alone, in_batch, atol=1e-5)
bn.train()
with tc.no_grad():
    assert not np.allclose(bn(one_image * 1).numpy(), bn(x).numpy()[:1], atol=1e-2)

# %% [markdown]
# Put batch norm after every convolution of the 20-layer plain network of section 1 and it
# trains: batch norm keeps every layer's output at unit scale, so the signal (and the gradient)
# no longer shrink layer after layer.


# %%
class NormalizedStack(ConvStack):
    def __init__(self, depth, width=8):
        super().__init__(depth, width)
        self.norms = nn.ModuleList([nn.BatchNorm2d(width) for _ in range(depth - 2)])

    def forward(self, x):
        x = F.relu(self.stem(x))
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = F.relu(norm(conv(x)))
        return self.head(x.flatten(1))


tc.manual_seed(0)
curves["plain + batch norm, 20 layers"] = train_curve(NormalizedStack(20))
final_bn = curves["plain + batch norm, 20 layers"][-20:].mean()
print(f"plain + batch norm, 20 layers: final training loss {final_bn:.3f}")
assert final_bn < final["plain, 20 layers"] - 1.0

# %% [markdown]
# ## 4. DenseNet: concatenate instead of add
#
# A DenseNet block feeds every layer the **concatenation** of all earlier outputs. Each layer
# adds only `k` new maps (the **growth rate**), so after `L` layers a block that received `C`
# channels returns `C + L·k`. Features are reused rather than recomputed, which is why DenseNet
# gets by with few parameters.

# %%
dense = DenseBlock(num_layers=4, in_channels=16, growth_rate=12, bn_size=4)
with tc.no_grad():
    inputs = tc.randn(2, 16, 8, 8)
    output = dense.eval()(inputs)
assert output.shape == (2, 16 + 4 * 12, 8, 8)
assert np.array_equal(output[:, :16].numpy(), inputs.numpy())     # the input is passed on
layer_inputs = [layer.norm1.num_features for layer in dense.values()]
assert layer_inputs == [16, 28, 40, 52]                           # grows by k = 12 each time

# %% [markdown]
# ## 5. Squeeze-and-excitation: channel attention
#
# An SE block looks at the whole feature map, summarises each channel by its mean ("squeeze"),
# passes the `C` means through a small two-layer network, and multiplies every channel by the
# resulting weight in (0, 1) ("excite"). It adds global context to a convolution, which only
# sees a window, for about `2C²/r` parameters.

# %%
se = SEBlock(32, reduction=4)
features = tc.randn(2, 32, 6, 6)
with tc.no_grad():
    scaled = se(features)
weights = scaled.numpy() / features.numpy()                  # one factor per (image, channel)
assert np.allclose(weights, weights[:, :, :1, :1], atol=1e-4)
assert (weights > 0).all() and (weights < 1).all()
assert n_params(se) == 32 * 8 + 8 + 8 * 32 + 32

# %% [markdown]
# ## What you learned
#
# - Degradation: past some depth a plain network trains *worse*; shortcuts (`x + F(x)`) make
#   the identity easy and keep the gradient alive.
# - A bottleneck block costs what a basic block costs, at four times the channels.
# - Batch norm: batch statistics in training, running ones in eval; it too makes deep plain
#   networks trainable.
# - DenseNet concatenates (channels grow by `k` per layer); SE reweights channels from global
#   means.
#
# ## Exercises
#
# 1. Find the depth at which the plain network of section 1 stops learning in 3 epochs. Does
#    the residual one at that depth?
# 2. Replace `F.relu(x + F(x))` by the "pre-activation" form `x + F(relu(x))` (He et al.,
#    2016b) and compare the curves.
# 3. Fill in `answer_3`: the number of channels a DenseNet-121 block of 6 layers with growth
#    rate 32 returns when it receives 64. The assert grades it (with a real `DenseBlock`).

# %%
answer_3 = None            # an int
if answer_3 is None:
    print("exercise 3: not answered yet")
else:
    block = DenseBlock(num_layers=6, in_channels=64, growth_rate=32, bn_size=4)
    assert answer_3 == block.out_channels, "count again: each layer adds growth_rate maps"
    print("exercise 3: correct")
