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
# # 06 · Looking inside a network
#
# A trained CNN is not a black box: every number in it can be counted, printed and drawn. In
# this tutorial we
#
# 1. count, layer by layer, the **parameters**, the **multiply-adds** (MACs; FLOPs ≈ 2 × MACs)
#    and the **activation memory** of LeNet-5 with `tc.summary`;
# 2. do the same counts for AlexNet and VGG-16 on 224×224 images, and see where their cost sits;
# 3. train LeNet-5 briefly and **draw** its first-layer filters and the feature maps one digit
#    produces, captured with **forward hooks**.
#
# Figures go to the folder in `TINYCONV_TUTORIAL_OUT` (default `tutorials/_output/`).

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
# ## 1. LeNet-5, counted
#
# `tc.summary(model, input_size)` runs one forward pass on zeros with a hook on every layer and
# records what each layer produced. `input_size` leaves out the batch dimension.

# %%
lenet = tc.models.lenet5()
s = tc.summary(lenet, (1, 32, 32))
rows = {row.name: row for row in s.rows}

# %% [markdown]
# Check a few lines by hand.
#
# - `conv1` has 6 filters of 1×5×5 plus 6 biases: **156** parameters. It produces 6×28×28
#   outputs, each a sum of 25 products: 6·28·28·25 = **117,600** MACs. Its output, 4,704 float32
#   numbers of 4 bytes, takes **18.4 KB**.
# - `fc1` connects 400 inputs to 120 outputs: 400·120 + 120 = **48,120** parameters but only
#   48,000 MACs — each weight is used **once** per image, while each conv weight is used at every
#   one of the 784 output positions.

# %%
conv1, fc1 = rows["features.conv1"], rows["classifier.fc1"]
assert (conv1.params, conv1.macs, conv1.output_shape) == (156, 6 * 28 * 28 * 25, (1, 6, 28, 28))
assert conv1.activation_bytes == 6 * 28 * 28 * 4
assert (fc1.params, fc1.macs) == (400 * 120 + 120, 400 * 120)
assert s.total_params == 61_706 and s.total_flops == 2 * s.total_macs


# %% [markdown]
# That contrast is the general rule, and it is worth seeing as fractions:


# %%
def shares(summary):
    """(share of parameters in conv layers, share of MACs in conv layers)."""
    conv = [r for r in summary.rows if r.type == "Conv2d"]
    return (sum(r.params for r in conv) / summary.total_params,
            sum(r.macs for r in conv) / summary.total_macs)


param_share, mac_share = shares(s)
print(f"LeNet-5: conv layers hold {param_share:.0%} of the parameters "
      f"but do {mac_share:.0%} of the multiply-adds")
assert param_share < 0.05 and mac_share > 0.8

# %% [markdown]
# ## 2. AlexNet and VGG-16 (counts only)
#
# The same table for the ImageNet networks of 2012 and 2014, on one 224×224 colour image. These
# models are big (VGG-16 has 138 million parameters, over half a gigabyte in float32), so
# building them takes a few seconds; we only count, we do not train. (`print_table=False`
# keeps the output short; print `str(summary)` to see every layer.)

# %%
big = {}
for name in ("alexnet", "vgg16"):
    model = getattr(tc.models, name)()
    big[name] = tc.summary(model, (3, 224, 224), print_table=False)
    del model                                           # free the memory of the weights
for name, summary in big.items():
    p_share, m_share = shares(summary)
    print(f"{name:>8}: {summary.total_params / 1e6:6.1f} M parameters, "
          f"{summary.total_macs / 1e9:5.2f} GMACs ({summary.total_flops / 1e9:5.1f} GFLOPs), "
          f"activations {summary.activation_bytes / 2**20:6.1f} MB; "
          f"conv layers: {p_share:.0%} of parameters, {m_share:.0%} of MACs")

assert big["alexnet"].total_params == 61_100_840
assert big["vgg16"].total_params == 138_357_544
assert round(big["alexnet"].total_macs / 1e6) == 714       # ~0.7 GMACs
assert round(big["vgg16"].total_macs / 1e9, 1) == 15.5     # ~15.5 GMACs: 20x AlexNet

# %% [markdown]
# Three lessons from these numbers, the same that the AlexNet/VGG papers' cost tables teach:
#
# - **Parameters live in the fully connected layers.** AlexNet's first FC layer alone maps
#   256·6·6 = 9,216 values to 4,096: 37.7 M parameters, 62 % of the network.
# - **Computation lives in the convolutions**, because each conv weight is reused at every
#   output position.
# - **Memory lives in the early layers**, where the feature maps are still large: VGG-16's first
#   two conv layers output 64×224×224 values each.

# %%
alex_fc1 = next(r for r in big["alexnet"].rows if r.type == "Linear")
assert alex_fc1.params == 9216 * 4096 + 4096
assert alex_fc1.params / big["alexnet"].total_params > 0.6

vgg_rows = big["vgg16"].rows
largest = max(vgg_rows, key=lambda r: r.activation_bytes)
print("largest VGG-16 activation:", largest.name, largest.output_shape,
      f"{largest.activation_bytes / 2**20:.1f} MB")
assert largest.output_shape == (1, 64, 224, 224)
for summary in big.values():
    p_share, m_share = shares(summary)
    assert p_share < 0.15 and m_share > 0.9

# %% [markdown]
# ## 3. What LeNet-5 learns
#
# Train LeNet-5 for two quick epochs on the digits (tutorial 05 explains the loop) so that its
# filters have something to show.

# %%
train = tc.data.digits(train=True, size=32)
test = tc.data.digits(train=False, size=32)
tc.manual_seed(0)
model = tc.models.lenet5()
optimizer = tc.optim.Adam(model.parameters(), lr=2e-3)
initial_filters = model.features.conv1.weight.detach().numpy().copy()
for _ in range(2):
    model.train()
    for images, labels in tc.data.DataLoader(train, batch_size=32, shuffle=True):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
model.eval()
with tc.no_grad():
    images, labels = test.tensors
    accuracy = (model(images).argmax(dim=1) == labels).float().mean().item()
print(f"test accuracy after 2 epochs: {accuracy:.1%}")
assert accuracy > 0.8
assert not np.allclose(model.features.conv1.weight.detach().numpy(), initial_filters)

# %% [markdown]
# ### The first-layer filters
#
# `conv1.weight` has shape `(6, 1, 5, 5)`: six 5×5 grids. Drawn as images (bright = positive
# weight, dark = negative), each is the pattern that filter responds to most — the learned
# cousins of the Sobel kernels of tutorial 01.

# %%
filters = model.features.conv1.weight.detach().numpy()[:, 0]
fig, axes = plt.subplots(1, 6, figsize=(12, 2.4))
for i, ax in enumerate(axes):
    limit = np.abs(filters[i]).max()
    ax.imshow(filters[i], cmap="gray", vmin=-limit, vmax=limit)
    ax.set_title(f"filter {i}")
    ax.axis("off")
save_figure(fig, "06_conv1_filters.png")

# %% [markdown]
# ### Feature maps, with forward hooks
#
# A **forward hook** is a function that a module calls after its forward pass with
# `(module, inputs, output)`. It lets us read intermediate results without changing the model.
# `register_forward_hook` returns a handle; `handle.remove()` takes the hook off again.

# %%
captured = {}


def keep_output(name):
    def hook(module, inputs, output):
        captured[name] = output.detach().numpy()
    return hook


layers = {"conv1": model.features.conv1, "act1": model.features.act1,
          "pool1": model.features.pool1, "act2": model.features.act2}
handles = [layer.register_forward_hook(keep_output(name)) for name, layer in layers.items()]
digit, label = test[3]
with tc.no_grad():
    logits = model(digit.unsqueeze(0))
for handle in handles:
    handle.remove()

for name, array in captured.items():
    print(f"{name:>6}: {array.shape}")
assert captured["conv1"].shape == (1, 6, 28, 28) and captured["pool1"].shape == (1, 6, 14, 14)
assert captured["act2"].shape == (1, 16, 10, 10)
assert captured["act1"].min() >= 0                                  # after ReLU
assert np.allclose(captured["act1"], np.maximum(captured["conv1"], 0))

# %% [markdown]
# Once removed, the hooks no longer fire:

# %%
feature_maps = dict(captured)     # keep what the hooks saw, for the figure below
captured.clear()
with tc.no_grad():
    model(digit.unsqueeze(0))
assert captured == {}

# %% [markdown]
# Draw the digit, the six ReLU feature maps of the first layer, and the sixteen of the second.
# Early maps still look like the digit, each emphasising different strokes and edges; the
# second layer's smaller maps respond to combinations of those.

# %%
fig = plt.figure(figsize=(16, 6))
grid = fig.add_gridspec(3, 8)
ax = fig.add_subplot(grid[0, 0])                      # row 0: the digit, then conv1's 6 maps
ax.imshow(digit[0].numpy(), cmap="gray")
ax.set_title(f"digit {int(label)} (predicted {int(logits.argmax().item())})", fontsize=9)
ax.axis("off")
for i in range(6):
    ax = fig.add_subplot(grid[0, 2 + i])
    ax.imshow(feature_maps["act1"][0, i], cmap="viridis")
    ax.set_title(f"layer 1, map {i}", fontsize=8)
    ax.axis("off")
for i in range(16):                                   # rows 1-2: conv2's 16 maps (10x10)
    ax = fig.add_subplot(grid[1 + i // 8, i % 8])
    ax.imshow(feature_maps["act2"][0, i], cmap="viridis")
    ax.set_title(f"layer 2, map {i}", fontsize=8)
    ax.axis("off")
save_figure(fig, "06_feature_maps.png")

# %% [markdown]
# ## What you learned
#
# - `tc.summary` counts parameters, MACs (FLOPs ≈ 2 × MACs) and activation memory per layer;
#   the formulas are simple enough to check by hand.
# - Fully connected layers hold most parameters, convolutions do most of the arithmetic, and the
#   early, large feature maps take most of the memory.
# - Filters are weights you can draw; forward hooks let you read any layer's output.
#
# To poke at a trained network instead of reading PNGs, run `tinyconv train --live` (watch the
# filters and activations change while it learns), then `tinyconv show`: draw a digit and every
# layer responds, and hovering over a feature-map pixel lights up its receptive field in the
# input — the size-and-stride arithmetic above, made visible (see the README's "See inside").
#
# Tutorial 07 tours the architectures that came after AlexNet and VGG, and reuses a trained
# network for a new task.
