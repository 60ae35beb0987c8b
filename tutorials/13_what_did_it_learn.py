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
# # 13 · What did it learn?
#
# Tutorial 06 drew a trained network's filters and feature maps. Those show *what a layer
# computes*, not *why the network decided*. Four classic tools answer the second question,
# each a few lines on top of autograd:
#
# 1. **saliency**: the gradient of a class score with respect to the input pixels;
# 2. **occlusion sensitivity**: hide part of the image and watch the score drop;
# 3. **deconvnet projection** (Zeiler & Fergus, the ZFNet paper): send one strong activation
#    back down to the pixels through unpooling, rectification and transposed convolutions,
#    and see the **hierarchy**: edges in layer 1, strokes and parts in layer 2;
# 4. **class-activation maps** (CAM): where a global-average-pooled network "looks" for a class.
#
# For an interactive view of every layer of a trained network, run `tinyconv show` (see
# `tinyconv show --help`): it draws the filters, each layer's outputs for a test image and the
# receptive fields in a browser page.

# %%
import os
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


# %% [markdown]
# ## 0. A network to look into
#
# Three convolutions, two max-pools, **global average pooling** and one linear layer (the GAP
# makes CAM possible in section 4), trained for five epochs on the bundled MNIST subset.


# %%
class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5, padding=2)      # (N, 8, 28, 28)
        self.conv2 = nn.Conv2d(8, 16, 5, padding=2)     # (N, 16, 14, 14)
        self.conv3 = nn.Conv2d(16, 32, 3, padding=1)    # (N, 32, 7, 7)
        self.fc = nn.Linear(32, 10)

    def maps(self, x):
        """Every intermediate result, for the tools below."""
        a1 = F.relu(self.conv1(x))
        p1 = F.max_pool2d(a1, 2)
        a2 = F.relu(self.conv2(p1))
        p2 = F.max_pool2d(a2, 2)
        a3 = F.relu(self.conv3(p2))
        return {"a1": a1, "p1": p1, "a2": a2, "p2": p2, "a3": a3}

    def forward(self, x):
        return self.fc(self.maps(x)["a3"].mean(dim=(2, 3)))        # GAP, then linear


train = tc.data.mnist(train=True)
test = tc.data.mnist(train=False)
model = SmallNet()
optimizer = tc.optim.Adam(model.parameters(), lr=3e-3)
for _ in range(5):
    for images, labels in tc.data.DataLoader(train, batch_size=32, shuffle=True):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
with tc.no_grad():
    test_images, test_labels = test.tensors
    accuracy = (model(test_images).argmax(dim=1) == test_labels).float().mean().item()
print(f"test accuracy: {accuracy:.1%}")
assert accuracy > 0.85

# pick a few correctly classified test digits of different classes
with tc.no_grad():
    predicted = model(test_images).argmax(dim=1).numpy()
examples = [int(np.flatnonzero((test_labels.numpy() == d) & (predicted == d))[0])
            for d in (0, 3, 7)]

# %% [markdown]
# ## 1. Saliency: which pixels would change the score?
#
# The gradient `∂score_c / ∂x` says how much each pixel's change would move the class score:
# a first-order map of what the decision depends on (Simonyan et al., 2014). It takes one
# backward pass, with the *input* requiring a gradient.


# %%
def saliency(image, label):
    x = image.unsqueeze(0).detach().requires_grad_(True)
    model(x)[0, label].backward()
    return np.abs(x.grad.numpy()[0, 0])


saliency_maps = [saliency(*test[i]) for i in examples]
for i, s in zip(examples, saliency_maps, strict=True):
    ink = test[i][0].numpy()[0] > 0.2
    near_ink = np.zeros_like(ink)                          # the ink and a 2-pixel margin
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near_ink |= np.roll(np.roll(ink, dy, axis=0), dx, axis=1)
    near, far = s[near_ink].mean(), s[~near_ink].mean()
    print(f"digit {int(test[i][1])}: mean saliency {near:.2e} on and around the ink, "
          f"{far:.2e} elsewhere")
    assert near > 1.5 * far                      # concentrated where the digit is


# %% [markdown]
# ## 2. Occlusion sensitivity
#
# Slide a black 8×8 square over the image (stride 2) and record the drop of the correct
# class's probability at each position (Zeiler & Fergus used a grey square). A large drop
# means the hidden part mattered. Black squares on the black background change nothing, so
# those positions show exactly zero: a built-in sanity check.


# %%
def occlusion_map(image, label, patch=8, stride=2):
    """(drop of p(label) per occluder position, which positions covered only background)."""
    positions = range(0, 28 - patch + 1, stride)
    batch, empty = [], []
    for top in positions:
        for left in positions:
            occluded = image.numpy().copy()
            empty.append(not occluded[:, top:top + patch, left:left + patch].any())
            occluded[:, top:top + patch, left:left + patch] = 0.0
            batch.append(occluded)
    with tc.no_grad():
        reference = F.softmax(model(image.unsqueeze(0)), dim=1)[0, label].item()
        probabilities = F.softmax(model(tc.tensor(np.stack(batch))), dim=1)[:, label].numpy()
    side = len(positions)
    return (reference - probabilities).reshape(side, side), np.array(empty).reshape(side, side)


occlusion_maps = []
for i in examples:
    drops, empty = occlusion_map(*test[i])
    occlusion_maps.append(drops)
    assert drops.max() > 0.1                                 # hiding the digit hurts
    assert empty.any() and np.abs(drops[empty]).max() < 1e-6  # hiding background: no change

# %% [markdown]
# ## 3. Deconvnet projections: the hierarchy of features
#
# Zeiler and Fergus asked: which input pattern made *this* unit fire? Their deconvnet takes one
# activation, zeroes every other one in its layer, and walks back down:
#
# - **unpool** with the max-pool's "switches" (the argmax positions recorded on the way up:
#   pooling's backward pass, tutorial 03);
# - **rectify** with a ReLU (the reconstruction should be made of positive signals);
# - **transposed convolution** with the layer's own filters (`F.conv_transpose2d`).
#
# The result lives in pixel space, inside the unit's receptive field.


# %%
def unpool(values, indices, size):
    """Put each pooled value back at its argmax in a (size x size) map, zeros elsewhere."""
    n, c = values.shape[:2]
    flat = np.zeros((n, c, size * size), dtype=values.dtype)
    np.put_along_axis(flat, indices.reshape(n, c, -1), values.reshape(n, c, -1), axis=2)
    return flat.reshape(n, c, size, size)


def project(image, layer, channel):
    """Deconvnet projection of the strongest activation of `channel` in layer 1 or 2."""
    with tc.no_grad():
        maps = model.maps(image.unsqueeze(0))
        _, switches1 = F.max_pool2d(maps["a1"], 2, return_indices=True)
        top = maps[f"a{layer}"].numpy()[0, channel]
        y, x = np.unravel_index(top.argmax(), top.shape)
        signal = np.zeros_like(maps[f"a{layer}"].numpy())
        signal[0, channel, y, x] = top[y, x]                  # keep one activation
        signal = tc.tensor(signal)
        if layer == 2:
            signal = F.conv_transpose2d(F.relu(signal), model.conv2.weight, padding=2)
            signal = tc.tensor(unpool(signal.numpy(), switches1.numpy(), 28))
        pixels = F.conv_transpose2d(F.relu(signal), model.conv1.weight, padding=2)
    return pixels.numpy()[0, 0], (y, x)


def extent(pixels):
    """Height and width of the box holding the non-zero pixels."""
    rows, cols = np.nonzero(np.abs(pixels) > 1e-7)
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


image, label = test[examples[1]]
projections = {1: [], 2: []}
for layer, channels in ((1, range(8)), (2, range(8))):
    for channel in channels:
        pixels, where = project(image, layer, channel)
        if np.abs(pixels).max() > 0:                          # skip a channel that is silent
            projections[layer].append(pixels)
            h, w = extent(pixels)
            # the receptive field: 5 pixels for a conv1 unit, 5 + 1 + 4*2 = 14 for a conv2 unit
            field = 5 if layer == 1 else 14
            assert h <= field and w <= field
extent1 = max(max(extent(p)) for p in projections[1])
extent2 = max(max(extent(p)) for p in projections[2])
print(f"projections span up to {extent1} pixels (layer 1) and {extent2} pixels (layer 2)")
assert extent1 <= 5 < extent2

# %% [markdown]
# Layer-1 units answer to a 5×5 piece of an edge; layer-2 units combine several of them into a
# stroke or a curve up to 14 pixels across. Deeper layers of bigger networks continue the
# pattern (edges → textures and shapes → object parts → objects), which is what Zeiler and
# Fergus's famous figures show for ImageNet.
#
# ## 4. Class-activation maps
#
# With global average pooling and one linear layer, a class score is
# `score_c = Σ_k w_ck · mean(A_k) + b_c = mean(Σ_k w_ck A_k) + b_c`. The map
# `CAM_c = Σ_k w_ck A_k`, on the last conv layer's 7×7 grid, shows where the evidence for class
# `c` sits (Zhou et al., 2016). Check the identity, then draw it upsampled to 28×28.


# %%
def class_activation_map(image, label):
    with tc.no_grad():
        last = model.maps(image.unsqueeze(0))["a3"].numpy()[0]          # (32, 7, 7)
        score = model(image.unsqueeze(0)).numpy()[0, label]
    weights = model.fc.weight.detach().numpy()[label]                  # (32,)
    cam = np.tensordot(weights, last, axes=1)                          # (7, 7)
    assert np.isclose(cam.mean() + model.fc.bias.detach().numpy()[label], score, atol=1e-4)
    return np.kron(cam, np.ones((4, 4)))                               # 7x7 -> 28x28


cams = [class_activation_map(*test[i]) for i in examples]

# %%
fig, axes = plt.subplots(len(examples), 4, figsize=(9, 2.4 * len(examples)))
for row, i in enumerate(examples):
    digit = test[i][0].numpy()[0]
    panels = [(digit, "gray", f"digit {int(test[i][1])}"),
              (saliency_maps[row], "hot", "saliency |dscore/dx|"),
              (occlusion_maps[row], "viridis", "occlusion: drop in p"),
              (cams[row], "jet", "class-activation map")]
    for ax, (data, cmap, title) in zip(axes[row], panels, strict=True):
        if title.startswith("class"):
            ax.imshow(digit, cmap="gray")
            ax.imshow(data, cmap=cmap, alpha=0.5)
        else:
            ax.imshow(data, cmap=cmap)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
save_figure(fig, "13_saliency_occlusion_cam.png")

fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
for row, layer in enumerate((1, 2)):
    for col in range(8):
        ax = axes[row, col]
        ax.axis("off")
        if col < len(projections[layer]):
            ax.imshow(projections[layer][col], cmap="gray")
    axes[row, 0].set_title(f"layer {layer} projections", fontsize=9, loc="left")
save_figure(fig, "13_deconvnet_projections.png")

# %% [markdown]
# ## What you learned
#
# - Saliency is one backward pass to the input; it concentrates on and around the ink.
# - Occlusion needs only forward passes; it measures what hiding a region costs.
# - A deconvnet projection (unpool with switches, ReLU, transposed convolution) shows the
#   pattern one unit responds to, inside its receptive field; deeper units see bigger parts.
# - With GAP + linear, the class score is the mean of a class-activation map.
#
# ## Exercises
#
# 1. Replace the black occluder by a grey one (value 0.5). Which positions change now, and why
#    is there no longer a "free" sanity check?
# 2. Compute saliency for a *wrong* class of the same digit. Where does it point?
# 3. Fill in `answer_3`: the receptive field (in pixels) of one unit of `conv3` in `SmallNet`.
#    The assert grades it with autograd, as tutorial 09 did.

# %%
answer_3 = None            # an int
if answer_3 is None:
    print("exercise 3: not answered yet")
else:
    probe = tc.zeros(1, 1, 28, 28, requires_grad=True)
    model.maps(probe + tc.ones(1, 1, 28, 28))["a3"][0, :, 3, 3].sum().backward()
    rows = np.flatnonzero(np.abs(probe.grad.numpy()[0, 0]).sum(axis=1))
    assert answer_3 >= rows[-1] - rows[0] + 1, "the field is larger than that"
    print("exercise 3: your field covers every pixel autograd found "
          f"({rows[-1] - rows[0] + 1} in this network's current state)")
