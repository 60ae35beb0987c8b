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
# # 12 · Efficient networks: depthwise-separable convolutions and MobileNet
#
# A standard convolution does two jobs at once: it filters space (the `k×k` window) and mixes
# channels (every output channel reads every input channel). MobileNet (Howard et al., 2017)
# splits them:
#
# - a **depthwise** convolution filters each channel on its own (`groups = C`);
# - a **pointwise** (1×1) convolution mixes the channels.
#
# In this tutorial we derive the cost ratio the paper gives, check it against `tc.summary`,
# measure it on tinyconv's kernels (where it holds only partly, and we see why), take apart
# MobileNet v1 and v2, and train a small separable network against a standard one.

# %%
import os
import time
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import nn
from tinyconv.models import DepthwiseSeparableConv, InvertedResidual

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


def conv_macs(summary):
    return sum(row.macs for row in summary.rows if row.type == "Conv2d")


def separable(c_in, c_out, stride=1):
    """Depthwise 3×3 (stride ``stride``), ReLU, pointwise 1×1: MobileNet's pair, without BN."""
    return nn.Sequential(nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in),
                         nn.ReLU(), nn.Conv2d(c_in, c_out, 1))


# %% [markdown]
# ## 1. The cost ratio
#
# For `M` input channels, `N` output channels and a `D_K × D_K` kernel, per output position:
#
# - standard: `D_K² · M · N` multiply-adds;
# - depthwise: `D_K² · M`; pointwise: `M · N`.
#
# The ratio is `(D_K² M + M N) / (D_K² M N) = 1/N + 1/D_K²`: with 3×3 kernels, between 8 and 9
# times cheaper once `N` is large. The course notes' example: 16 channels in, 32 out, 3×3:
# `16·9·32 = 4608` against `16·9 + 16·32 = 656` per position.

# %%
M, N, side = 16, 32, 20
standard = tc.summary(nn.Conv2d(M, N, 3, padding=1), (M, side, side), print_table=False)
split = tc.summary(separable(M, N), (M, side, side), print_table=False)
per_position = (conv_macs(standard) // side**2, conv_macs(split) // side**2)
print("multiply-adds per position: standard {}, separable {}".format(*per_position))
assert per_position == (4608, 656)
assert np.isclose(conv_macs(split) / conv_macs(standard), 1 / N + 1 / 9)

# %% [markdown]
# Depthwise convolution is grouped convolution with one group per channel: output channel `c`
# depends on input channel `c` only. Check it by perturbing one input channel:

# %%
depthwise = nn.Conv2d(4, 4, 3, padding=1, groups=4)
x = tc.randn(1, 4, 6, 6)
nudged = x.numpy().copy()
nudged[0, 2] += 1.0
with tc.no_grad():
    change = np.abs(depthwise(tc.tensor(nudged)).numpy() - depthwise(x).numpy()).sum(axis=(2, 3))
assert change[0, 2] > 0 and np.count_nonzero(change) == 1
assert depthwise.weight.shape == (4, 1, 3, 3)

# %% [markdown]
# ## 2. The ratio on the clock
#
# Time a standard 3×3 convolution and its separable replacement on tinyconv's CPU kernels, at
# three sizes from the middle of MobileNet (batch 8, forward only, the best of three runs).


# %%
def best_time(module, inputs, repeats=3):
    with tc.no_grad():
        module(inputs)                                  # compile and warm up first
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            module(inputs)
            times.append(time.perf_counter() - start)
    return min(times)


measured = {}
for channels, size in ((32, 56), (64, 28), (128, 14)):
    batch = tc.randn(8, channels, size, size)
    t_standard = best_time(nn.Conv2d(channels, channels, 3, padding=1), batch)
    t_separable = best_time(separable(channels, channels), batch)
    counted = 1 / (1 / channels + 1 / 9)
    measured[channels] = (counted, t_standard / t_separable)
    print(f"{channels:>4} channels at {size}x{size}: counted {counted:4.1f}x fewer MACs, "
          f"measured {t_standard / t_separable:4.1f}x faster "
          f"({t_standard * 1e3:.1f} vs {t_separable * 1e3:.1f} ms)")
assert measured[128][1] > 1.5                            # a real speed-up with many channels...
assert measured[32][1] < measured[32][0] / 2             # ...but far below the count with few

# %% [markdown]
# The count promises 7–8×; the clock gives much less with few channels. A depthwise
# convolution does only 9 multiply-adds per output value and reads each input once per output
# channel: it is limited by memory traffic, not arithmetic, and its kernels cannot use the
# matrix-multiply tricks (im2col + BLAS, Winograd) that make dense convolutions fast. With more
# channels the pointwise 1×1 layer dominates, and it *is* a matrix multiplication. MACs are a
# good first estimate of cost, never the last word: measure.
#
# ## 3. MobileNet v1
#
# MobileNet v1 is one standard 3×3 convolution followed by 13 depthwise-separable layers
# (`DepthwiseSeparableConv`: depthwise + BN + ReLU, pointwise + BN + ReLU), global average
# pooling and one linear layer. Compare it, layer by layer, with the same network built from
# standard convolutions:

# %%
mobilenet = tc.models.mobilenet_v1()
summary = tc.summary(mobilenet, (3, 224, 224), print_table=False)
rows = {row.name: row for row in summary.rows}
separable_macs = standard_macs = 0
for name, module in mobilenet.named_modules():
    if isinstance(module, DepthwiseSeparableConv):
        depthwise_row = rows[f"{name}.depthwise.0"]
        pointwise_row = rows[f"{name}.pointwise.0"]
        _, c_out, h, w = pointwise_row.output_shape
        c_in = module.depthwise[0].in_channels
        separable_macs += depthwise_row.macs + pointwise_row.macs
        standard_macs += 9 * c_in * c_out * h * w       # a 3x3 conv from c_in to c_out
print(f"MobileNet v1: {summary.total_params / 1e6:.1f} M parameters, "
      f"{summary.total_macs / 1e6:.0f} M MACs; its 13 separable layers cost "
      f"{separable_macs / 1e6:.0f} M MACs, standard 3x3 convs would cost "
      f"{standard_macs / 1e6:.0f} M ({standard_macs / separable_macs:.1f}x)")
assert summary.total_params == 4_231_976
assert 560e6 < summary.total_macs < 580e6                # the paper's table: 569 M
assert 8 < standard_macs / separable_macs < 9

# %% [markdown]
# Two knobs shrink it further: the **width multiplier** α thins every layer (cost ∝ α²), the
# **resolution multiplier** ρ shrinks the input (cost ∝ ρ²).

# %%
half_width = tc.summary(tc.models.mobilenet_v1(width_mult=0.5), (3, 224, 224),
                        print_table=False)
half_resolution = tc.summary(mobilenet, (3, 112, 112), print_table=False)
print(f"alpha = 0.5: {half_width.total_macs / 1e6:.0f} M MACs; "
      f"rho = 0.5: {half_resolution.total_macs / 1e6:.0f} M MACs")
assert 0.2 < half_width.total_macs / summary.total_macs < 0.3
assert 0.24 < half_resolution.total_macs / summary.total_macs < 0.28
del mobilenet

# %% [markdown]
# ## 4. MobileNet v2: the inverted residual
#
# v2 changes the block: **expand** the channels with a 1×1 (×6), filter depthwise at the wide
# width, **project** back down with a 1×1 that has *no* ReLU (a "linear bottleneck": a ReLU on
# few channels destroys information), and add a **shortcut** when the shapes allow. It is a
# ResNet bottleneck turned inside out: wide in the middle, narrow at the ends.

# %%
block = InvertedResidual(24, 24, stride=1, expand_ratio=6)
expand, depthwise_layer, project = block.conv[0], block.conv[1], block.conv[2]
assert expand[0].out_channels == 144 and depthwise_layer[0].groups == 144
assert isinstance(project, nn.Conv2d) and block.use_res_connect
assert not any(isinstance(m, (nn.ReLU, nn.ReLU6)) for m in block.conv[2:])   # linear output
strided = InvertedResidual(24, 32, stride=2, expand_ratio=6)
with tc.no_grad():
    assert strided.eval()(tc.randn(1, 24, 16, 16)).shape == (1, 32, 8, 8)
assert not strided.use_res_connect

# %% [markdown]
# ## 5. Fewer parameters: what does it cost in accuracy?
#
# Train two small networks on the digits (16×16), identical except that one uses standard 3×3
# convolutions and the other depthwise-separable ones.


# %%
def small_network(block):
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                         block(16, 32, 2), nn.ReLU(),                     # 16 -> 8
                         block(32, 64, 2), nn.ReLU(),                     # 8 -> 4
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def standard_block(c_in, c_out, stride):
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)


train = tc.data.digits(train=True, size=16)
test = tc.data.digits(train=False, size=16)
results = {}
for name, block_builder in (("standard", standard_block), ("separable", separable)):
    tc.manual_seed(0)
    model = small_network(block_builder)
    optimizer = tc.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(8):
        for images, labels in tc.data.DataLoader(train, batch_size=32, shuffle=True):
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with tc.no_grad():
        images, labels = test.tensors
        accuracy = (model(images).argmax(dim=1) == labels).float().mean().item()
    results[name] = (sum(p.numel() for p in model.parameters()), accuracy)
    print(f"{name:>10}: {results[name][0]:>6,} parameters, test accuracy {accuracy:.1%}")
assert results["separable"][0] < results["standard"][0] / 3
assert results["standard"][1] > 0.8 and results["separable"][1] > 0.6

fig, ax = plt.subplots(figsize=(6, 3))
names = list(measured)
ax.plot(names, [measured[c][0] for c in names], "o-", label="counted (fewer MACs)")
ax.plot(names, [measured[c][1] for c in names], "s-", label="measured (faster)")
ax.set_xlabel("channels")
ax.set_ylabel("standard / separable")
ax.set_xscale("log", base=2)
ax.legend()
save_figure(fig, "12_separable_counted_vs_measured.png")

# %% [markdown]
# At this tiny size the separable network gives up accuracy along with five sixths of its
# parameters: with only 16 and 32 channels, its 1×1 layers have few channels to mix. MobileNet
# works at 32 to 1024 channels, where the paper measures about 1 % of ImageNet accuracy lost
# for 8–9× less computation; and the savings can be spent on width (exercise 1 below).
#
# ## What you learned
#
# - Depthwise (`groups = C`) + pointwise (1×1) = depthwise-separable; cost ratio
#   `1/N + 1/D_K²`.
# - MobileNet v1 is 8–9× cheaper than the same network with standard convolutions; width and
#   resolution multipliers scale cost quadratically.
# - v2's inverted residual: expand, depthwise, linear projection, shortcut.
# - Counted MACs and measured time differ, most for memory-bound layers: always measure.
#
# ## Exercises
#
# 1. Widen the separable network of section 5 (more channels per block) until it matches the
#    standard one's accuracy. How many parameters does it have then?
# 2. Repeat section 2 with 5×5 kernels. Does the measured speed-up move towards the count?
# 3. Count the parameters of `InvertedResidual(32, 32, 1, 6)` by hand (weights and the γ, β of
#    each batch norm) and check with `sum(p.numel() ...)`.
# 4. Fill in `answer_4`: the cost ratio separable / standard for 3×3 kernels and 64 output
#    channels, as a fraction (a float). The assert grades it against `tc.summary`.

# %%
answer_4 = None            # a float
if answer_4 is None:
    print("exercise 4: not answered yet")
else:
    reference = (conv_macs(tc.summary(separable(8, 64), (8, 10, 10), print_table=False))
                 / conv_macs(tc.summary(nn.Conv2d(8, 64, 3, padding=1), (8, 10, 10),
                                        print_table=False)))
    assert abs(answer_4 - reference) < 1e-6, "use the formula 1/N + 1/D_K^2"
    print("exercise 4: correct")
