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
# # 10 · 1×1 convolutions and Inception
#
# A 1×1 convolution looks useless on a grey image (it multiplies every pixel by one number),
# but on a feature map with many channels it is a small fully connected layer applied at every
# pixel ("network in network"). The course notes give it three uses; we measure each:
#
# 1. **scaling the channels** up or down without touching height and width;
# 2. **cutting the cost** of a big convolution by shrinking its input channels first (a
#    "bottleneck"), counted with `tc.summary` and timed on tinyconv's kernels;
# 3. **adding non-linearity** at no change of shape.
#
# Then we put them together the way GoogLeNet's **Inception block** does, and do its cost
# arithmetic, with and without the 1×1 reductions.

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
    """Multiply-adds of the convolution rows of a summary."""
    return sum(row.macs for row in summary.rows if row.type == "Conv2d")


# %% [markdown]
# ## 0. A 1×1 convolution is a Linear layer at every pixel
#
# At each pixel, a 1×1 convolution from `C_in` to `C_out` channels takes the `C_in` numbers of
# that pixel (one per channel) and returns `W · v + b`: exactly `nn.Linear(C_in, C_out)`
# applied to every pixel's channel vector.

# %%
x = tc.randn(2, 32, 6, 6)
pointwise = nn.Conv2d(32, 8, kernel_size=1)
as_linear = F.linear(x.permute(0, 2, 3, 1),                     # (N, H, W, C_in)
                     pointwise.weight.reshape(8, 32), pointwise.bias).permute(0, 3, 1, 2)
with tc.no_grad():
    assert np.allclose(pointwise(x).numpy(), as_linear.detach().numpy(), atol=1e-5)

# %% [markdown]
# On a single-channel image it is only a scaling: with weight 2 the output is the image times 2
# (the notes' 6×6×1 example).

# %%
image = tc.arange(36, dtype=tc.float32).reshape(1, 1, 6, 6)
with tc.no_grad():
    doubled = F.conv2d(image, tc.full((1, 1, 1, 1), 2.0))
assert np.array_equal(doubled.numpy(), 2 * image.numpy())

# %% [markdown]
# ## 1. Scaling the channels
#
# Pooling shrinks height and width; a 1×1 convolution shrinks (or grows) the **channels**.
# The notes' example: a 28×28×192 feature map compressed to 28×28×32 by 32 filters of size
# 1×1×192.

# %%
squeeze = nn.Conv2d(192, 32, kernel_size=1)
feature_map = tc.randn(1, 192, 28, 28)
with tc.no_grad():
    assert squeeze(feature_map).shape == (1, 32, 28, 28)
assert sum(p.numel() for p in squeeze.parameters()) == 192 * 32 + 32
grow = nn.Conv2d(128, 192, kernel_size=1)                 # the other way: 64×64×128 -> ×192
with tc.no_grad():
    assert grow(tc.randn(1, 128, 64, 64)).shape == (1, 192, 64, 64)

# %% [markdown]
# ## 2. Cutting the cost: the bottleneck
#
# Take a 5×5 convolution from 192 to 32 channels on 28×28 maps. Every one of the
# 28·28·32 outputs is a sum of 5·5·192 products: **120 million** multiply-adds. Now first
# reduce to 16 channels with a 1×1 convolution (28·28·16·192 = 2.4 M), then do the 5×5 from 16
# channels (28·28·32·5·5·16 = 10.0 M): **12.4 M**, about a tenth.

# %%
direct = nn.Conv2d(192, 32, kernel_size=5, padding=2)
bottleneck = nn.Sequential(nn.Conv2d(192, 16, kernel_size=1), nn.ReLU(),
                           nn.Conv2d(16, 32, kernel_size=5, padding=2))
cost_direct = tc.summary(direct, (192, 28, 28), print_table=False)
cost_bottleneck = tc.summary(bottleneck, (192, 28, 28), print_table=False)
print(f"direct 5x5:     {cost_direct.total_params:>8,} parameters, "
      f"{conv_macs(cost_direct) / 1e6:6.1f} M MACs")
print(f"1x1 then 5x5:   {cost_bottleneck.total_params:>8,} parameters, "
      f"{conv_macs(cost_bottleneck) / 1e6:6.1f} M MACs")
assert conv_macs(cost_direct) == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400
assert conv_macs(cost_bottleneck) == 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16
assert conv_macs(cost_direct) / conv_macs(cost_bottleneck) > 9.5

# %% [markdown]
# Counts are a promise; the clock checks it. Time both on tinyconv's CPU kernels (a batch of 8,
# forward pass only, the best of a few runs so that other programs on the machine disturb the
# result as little as possible).


# %%
def best_time(module, inputs, repeats=3):
    with tc.no_grad():
        module(inputs)                                   # first call: compile, warm caches
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            module(inputs)
            times.append(time.perf_counter() - start)
    return min(times)


batch = tc.randn(8, 192, 28, 28)
t_direct, t_bottleneck = best_time(direct, batch), best_time(bottleneck, batch)
print(f"direct {t_direct * 1e3:.1f} ms, bottleneck {t_bottleneck * 1e3:.1f} ms: "
      f"{t_direct / t_bottleneck:.1f}x faster")
assert t_direct / t_bottleneck > 2

# %% [markdown]
# The clock agrees in order of magnitude, not digit for digit: counted multiply-adds ignore
# memory traffic, fixed costs per call and which kernel plan tinyconv's dispatcher picks for
# each shape (a big 5×5 layer with 192 input channels and a small 16-channel one are served by
# different plans). Counted and measured cost meet again in tutorial 12.
#
# ## 3. Adding non-linearity
#
# Even at an unchanged shape, a 1×1 convolution followed by a ReLU adds a non-linear step. Any
# stack of 1×1 convolutions *without* a non-linearity is one linear map per pixel, so it cannot
# compute, say, the absolute value of a channel. With a ReLU in between, two 1×1 layers do it
# exactly: `|v| = relu(v) + relu(−v)`.

# %%
lift = nn.Conv2d(1, 2, kernel_size=1, bias=False)          # v -> (v, -v)
merge = nn.Conv2d(2, 1, kernel_size=1, bias=False)         # (a, b) -> a + b
with tc.no_grad():
    lift.weight.copy_(tc.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
    merge.weight.fill_(1.0)
    v = tc.randn(1, 1, 5, 5)
    assert np.allclose(merge(F.relu(lift(v))).numpy(), np.abs(v.numpy()), atol=1e-6)

# %% [markdown]
# And no linear map can: the best least-squares fit of `|v|` by `a·v + b` leaves a large error.

# %%
values = v.numpy().ravel()
design = np.stack([values, np.ones_like(values)], axis=1)
coefficients, *_ = np.linalg.lstsq(design, np.abs(values), rcond=None)
linear_error = np.abs(design @ coefficients - np.abs(values)).max()
print(f"best linear fit of |v|: max error {linear_error:.3f}")
assert linear_error > 0.1

# %% [markdown]
# ## 4. The Inception block
#
# GoogLeNet does not choose between 1×1, 3×3, 5×5 convolutions and pooling: it runs all four
# side by side and concatenates the results along the channels. Run naively, that is
# expensive, because the 3×3 and 5×5 branches see all input channels and the pooling branch
# passes all of them on, so the block's output only grows. The fix is 1×1 reductions before
# the 3×3 and 5×5 convolutions and after the pooling.
#
# Block "3a" of the paper, on 28×28×192 inputs: 64 1×1 filters; 96 reduced, then 128 3×3; 16
# reduced, then 32 5×5; 32 projections after the 3×3 max pool.


# %%
class InceptionBlock(nn.Module):
    """The paper's Inception block (5×5 in branch 3); ``reduce=False`` gives the naive one."""

    def __init__(self, c_in, c1, c3_reduce, c3, c5_reduce, c5, pool_proj, reduce=True):
        super().__init__()
        if not reduce:          # no 1x1 reductions: the big convs see all input channels
            c3_reduce, c5_reduce = c_in, c_in
        self.branch1 = nn.Conv2d(c_in, c1, 1)
        self.branch3 = nn.Sequential(*([nn.Conv2d(c_in, c3_reduce, 1), nn.ReLU()] if reduce
                                       else []), nn.Conv2d(c3_reduce, c3, 3, padding=1))
        self.branch5 = nn.Sequential(*([nn.Conv2d(c_in, c5_reduce, 1), nn.ReLU()] if reduce
                                       else []), nn.Conv2d(c5_reduce, c5, 5, padding=2))
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.project = nn.Conv2d(c_in, pool_proj, 1) if reduce else nn.Identity()

    def forward(self, x):
        return tc.cat([self.branch1(x), self.branch3(x), self.branch5(x),
                       self.project(self.pool(x))], dim=1)


blocks = {"naive": InceptionBlock(192, 64, 96, 128, 16, 32, 32, reduce=False),
          "with 1x1 reductions": InceptionBlock(192, 64, 96, 128, 16, 32, 32)}
costs = {}
for name, block in blocks.items():
    summary = tc.summary(block, (192, 28, 28), print_table=False)
    with tc.no_grad():
        channels = block(tc.zeros(1, 192, 28, 28)).shape[1]
    costs[name] = (conv_macs(summary), summary.total_params, channels)
    print(f"{name:>20}: {channels} output channels, {summary.total_params:>9,} parameters, "
          f"{conv_macs(summary) / 1e6:6.1f} M MACs")

naive_macs = 28 * 28 * (64 * 192 + 128 * 9 * 192 + 32 * 25 * 192)
reduced_macs = 28 * 28 * (64 * 192 + 96 * 192 + 128 * 9 * 96 + 16 * 192 + 32 * 25 * 16
                          + 32 * 192)
assert costs["naive"][0] == naive_macs and costs["with 1x1 reductions"][0] == reduced_macs
assert costs["naive"][2] == 64 + 128 + 32 + 192           # the pool branch passes 192 through
assert costs["with 1x1 reductions"][2] == 256             # as in the paper's table
assert naive_macs > 2.3 * reduced_macs

# %%
fig, ax = plt.subplots(figsize=(7, 2.8))
labels = ["5x5 direct", "1x1 + 5x5", "Inception naive", "Inception 1x1-reduced"]
millions = [conv_macs(cost_direct) / 1e6, conv_macs(cost_bottleneck) / 1e6,
            costs["naive"][0] / 1e6, costs["with 1x1 reductions"][0] / 1e6]
ax.barh(labels, millions, color=["tab:red", "tab:green", "tab:red", "tab:green"])
ax.set_xlabel("million multiply-adds per 28x28 image")
ax.invert_yaxis()
save_figure(fig, "10_bottleneck_costs.png")

# %% [markdown]
# The reductions cut the cost by 2.4× *and* keep the output at 256 channels instead of 416, so
# the next block is cheaper too: stacked naively, the channels (and the cost) would grow at
# every block.
#
# Two more GoogLeNet ideas are visible in `tc.models.googlenet`: **global average pooling**
# replaces AlexNet's huge fully connected layers (the last 1024 maps are averaged to 1024
# numbers, then one Linear layer), and **auxiliary classifiers**, two small heads in the middle
# of the network that add a loss during training so that gradient reaches the early layers
# (batch norm later made them unnecessary). They add 6.4 M parameters used only in training.

# %%
plain = sum(p.numel() for p in tc.models.googlenet().parameters())
with_aux = sum(p.numel() for p in tc.models.googlenet(aux_logits=True).parameters())
print(f"GoogLeNet: {plain:,} parameters, {with_aux:,} with the auxiliary classifiers")
assert plain == 6_624_904 and with_aux - plain == 6_379_984
alexnet_fc = sum(p.numel() for p in tc.models.alexnet().classifier.parameters())
assert plain < alexnet_fc / 8      # all of GoogLeNet < 1/8 of AlexNet's classifier alone

# %% [markdown]
# GoogLeNet also starts differently: its **stem** (a 7×7/2 convolution, a max pool, a 1×1 and a
# 3×3 convolution, another max pool) brings a 224×224 image down to 28×28 very quickly, while
# VGG-16 spends its first seven convolutions at full and half resolution. Count the
# multiply-adds each spends to reach 28×28 maps:

# %%
stem_rows = tc.summary(tc.models.googlenet(), (3, 224, 224), print_table=False).rows
stem_macs = 0
for row in stem_rows:
    if row.name.startswith("inception3a"):
        break                                   # the stem ends where the first block starts
    stem_macs += row.macs if row.type == "Conv2d" else 0
vgg_stages = nn.Sequential(
    nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1), nn.MaxPool2d(2),
    nn.Conv2d(64, 128, 3, padding=1), nn.Conv2d(128, 128, 3, padding=1), nn.MaxPool2d(2),
    nn.Conv2d(128, 256, 3, padding=1), nn.Conv2d(256, 256, 3, padding=1),
    nn.Conv2d(256, 256, 3, padding=1), nn.MaxPool2d(2))          # VGG-16 up to 28x28
vgg_macs = conv_macs(tc.summary(vgg_stages, (3, 224, 224), print_table=False))
print(f"to reach 28x28: GoogLeNet's stem {stem_macs / 1e6:.0f} M MACs, "
      f"VGG-16 {vgg_macs / 1e6:.0f} M MACs ({vgg_macs / stem_macs:.0f}x)")
assert vgg_macs > 15 * stem_macs

# %% [markdown]
# ## What you learned
#
# - A 1×1 convolution is a Linear layer shared by all pixels.
# - Its three uses: change the number of channels; cut the cost of a following big convolution
#   by about `C_in / C_reduced`; add a ReLU's worth of non-linearity without changing shapes.
# - Counted savings are larger than measured ones for small layers.
# - Inception runs 1×1, 3×3, 5×5 and pooling side by side; the 1×1 reductions make it affordable.
#
# ## Exercises
#
# 1. Redo section 2 with a 3×3 instead of a 5×5 convolution. Is the bottleneck still worth it
#    at a reduction to 16 channels? At 64?
# 2. Write the MACs of the naive block "3b" (256 inputs; 128, 128→192, 32→96, 64) and check
#    them with `InceptionBlock(..., reduce=False)` and `tc.summary`.
# 3. Fill in `answer_3`: the number of channels a 1×1 reduction before the 5×5 of section 2 may
#    keep at most so that the two layers together cost no more than a quarter of the direct
#    5×5. The assert grades it.

# %%
answer_3 = None            # an int: the largest number of reduced channels


def bottleneck_macs(reduced):
    return 28 * 28 * (reduced * 192 + 32 * 25 * reduced)


if answer_3 is None:
    print("exercise 3: not answered yet")
else:
    assert bottleneck_macs(answer_3) <= conv_macs(cost_direct) / 4, "too many channels"
    assert bottleneck_macs(answer_3 + 1) > conv_macs(cost_direct) / 4, "you can keep more"
    print("exercise 3: correct")
