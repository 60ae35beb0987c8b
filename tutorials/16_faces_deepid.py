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
# # 16 · Faces: DeepID
#
# DeepID (Sun, Wang & Tang, CVPR 2014) learned a face representation by training a small
# ConvNet to tell **10,000 people** apart, then threw the classifier away and kept the 160
# numbers of its last hidden layer: the "DeepID" of a face. Two photos are of the same person
# when their DeepIDs are close. With it the authors reached 97.45 % on the LFW face-verification
# benchmark. `tc.models.deepid` builds the network with the paper's layer shapes.
#
# Offline we have no 10,000 identities. scikit-image bundles a small subset of LFW
# (`skimage.data.lfw_subset()`): 100 faces and 100 **non-faces** (patches of the same photos
# without a face), 25×25 grey pixels, without names. So we train the DeepID network on the task
# this data supports, **face or not**, and then use its 160-number layer exactly as DeepID does:
# as a representation in which images of the same kind are close. In this tutorial we
#
# 1. look at the data, and at the DeepID network's layers and its multi-scale DeepID layer;
# 2. train it (a minute's worth of steps on a laptop, far less here);
# 3. verify pairs with the DeepID features (cosine similarity), and draw them in 2-D.

# %%
import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from skimage import data as skimage_data

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.data.transforms import resize

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
# ## 1. The data
#
# 200 images; the first 100 are faces (label 1), the other 100 are not (label 0). DeepID reads
# 31×31 square patches (or 39×31 rectangles), so we enlarge the 25×25 images bilinearly, and we
# keep a quarter of each class for testing.

# %%
images = skimage_data.lfw_subset().astype(np.float32)          # (200, 25, 25) in [0, 1]
labels = np.array([1] * 100 + [0] * 100)
assert images.shape == (200, 25, 25)
patches = resize(images[:, None], (31, 31))                     # (200, 1, 31, 31)
patches = (patches - patches.mean()) / patches.std()            # standardised
order = np.random.default_rng(0).permutation(100)
test_index = np.concatenate([order[:25], 100 + order[:25]])
train_index = np.concatenate([order[25:], 100 + order[25:]])
train_x, train_y = tc.tensor(patches[train_index]), tc.tensor(labels[train_index])
test_x, test_y = tc.tensor(patches[test_index]), tc.tensor(labels[test_index])
print(f"{len(train_index)} training and {len(test_index)} test patches of {patches.shape[1:]}")

fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
for row, start in enumerate((0, 100)):
    for col in range(8):
        axes[row, col].imshow(images[start + col], cmap="gray")
        axes[row, col].axis("off")
    axes[row, 0].set_title("faces" if start == 0 else "non-faces", fontsize=9, loc="left")
save_figure(fig, "16_lfw_subset.png")

# %% [markdown]
# ## 2. The network
#
# Four convolutions (20, 40, 60, 80 filters) with max pooling after the first three, and then
# the **DeepID layer** of 160 units, connected to *both* the third pooling layer and the fourth
# convolution: `deepid = ReLU(W₃ · pool3 + W₄ · conv4 + b)`. pool3 still sees small regions
# (local features), conv4 sees most of the face (global features); the representation mixes
# the two scales. The paper's last two convolutions share weights only locally; the builder's
# docstring explains the simplification to ordinary convolutions.

# %%
model = tc.models.deepid(num_classes=2, input_size=(31, 31))
summary = tc.summary(model, (1, 31, 31))
rows = {row.name: row for row in summary.rows}
assert rows["features.8"].output_shape == (1, 60, 2, 2)         # pool3
assert rows["conv4.0"].output_shape == (1, 80, 1, 1)            # conv4
assert model.deepid_from_pool3.in_features == 60 * 2 * 2
assert model.deepid_from_conv4.in_features == 80
with tc.no_grad():
    assert model.represent(test_x[:3]).shape == (3, 160)
# the paper's own shapes, on 39x31 patches for 10,000 people (see tc.models.deepid)
assert sum(p.numel() for p in tc.models.deepid().parameters()) == 1_741_880

# %% [markdown]
# ## 3. Training
#
# Cross-entropy over the two classes, Adam, 40 epochs of the 150 training patches with small
# random shifts (2 pixels) as augmentation.

# %%
optimizer = tc.optim.Adam(model.parameters(), lr=1e-3)
rng = np.random.default_rng(0)
for _ in range(40):
    model.train()
    shuffled = rng.permutation(len(train_index))
    for start in range(0, len(shuffled), 16):
        batch = shuffled[start:start + 16]
        shifted = np.roll(patches[train_index][batch], rng.integers(-2, 3, size=2),
                          axis=(2, 3))
        loss = F.cross_entropy(model(tc.tensor(shifted)), train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
model.eval()
with tc.no_grad():
    accuracy = (model(test_x).argmax(dim=1) == test_y).float().mean().item()
print(f"face / non-face test accuracy: {accuracy:.0%}")
assert accuracy > 0.85

# %% [markdown]
# ## 4. Verification with DeepID features
#
# DeepID compares two images by their 160-number representations. Take the **cosine
# similarity** of every pair of test images: pairs of the same kind (face–face, non-face–
# non-face) should be more similar than mixed pairs, and a threshold on the similarity decides
# "same / different", the way face verification decides "same person / different people".

# %%
with tc.no_grad():
    features = model.represent(test_x).numpy()
unit = features / (np.linalg.norm(features, axis=1, keepdims=True) + 1e-12)
similarity = unit @ unit.T
truth = test_y.numpy()
same = truth[:, None] == truth[None, :]
upper = np.triu(np.ones_like(same), k=1).astype(bool)            # each pair once
same_scores, different_scores = similarity[same & upper], similarity[~same & upper]
print(f"mean cosine similarity: same kind {same_scores.mean():.2f}, "
      f"different kinds {different_scores.mean():.2f}")
assert same_scores.mean() > different_scores.mean() + 0.2

# the best single threshold, and how often it decides a pair right
thresholds = np.linspace(-1, 1, 201)
pair_accuracy = [((similarity[upper] > t) == same[upper]).mean() for t in thresholds]
best = int(np.argmax(pair_accuracy))
print(f"verification: threshold {thresholds[best]:.2f} decides "
      f"{pair_accuracy[best]:.0%} of the {upper.sum()} pairs right")
assert pair_accuracy[best] > 0.8

# %% [markdown]
# Draw the 160-dimensional features in 2-D with their two principal components: the two kinds
# form two groups, which is what makes a simple threshold work.

# %%
centred = features - features.mean(axis=0)
_, _, components = np.linalg.svd(centred, full_matrices=False)
projected = centred @ components[:2].T
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for value, name, colour in ((1, "faces", "tab:blue"), (0, "non-faces", "tab:orange")):
    axes[0].scatter(*projected[truth == value].T, label=name, color=colour, s=18)
axes[0].set_title("DeepID features of the test patches (first two principal components)",
                  fontsize=9)
axes[0].legend()
axes[1].hist(same_scores, bins=30, alpha=0.6, label="same kind")
axes[1].hist(different_scores, bins=30, alpha=0.6, label="different kinds")
axes[1].axvline(thresholds[best], color="k", linestyle=":", label="threshold")
axes[1].set_title("cosine similarity of pairs", fontsize=9)
axes[1].legend()
save_figure(fig, "16_deepid_features.png")

# %% [markdown]
# ## What you learned
#
# - DeepID: four convolutions and a 160-unit layer fed by pool3 *and* conv4 (two scales);
#   trained as a classifier, used as a representation.
# - Verification compares representations (cosine similarity and a threshold) instead of
#   classifying: it works for classes never seen in training, which is the point for faces.
# - With offline data we could only check the machinery on face / non-face; the same code with
#   identity labels (e.g. `sklearn.datasets.fetch_lfw_people`, a download) is DeepID proper.
#
# ## Exercises
#
# 1. Train without the conv4 half of the DeepID layer (set `model.deepid_from_conv4`'s weight
#    to zero and freeze it). Does verification get worse?
# 2. Resize to the paper's 39×31 rectangles instead of 31×31 squares (`input_size=(39, 31)`)
#    and compare.
# 3. Fill in `answer_3`: the number of inputs of the DeepID layer from pool3 for 39×31 patches
#    (channels × height × width). The assert grades it with the model.

# %%
answer_3 = None            # an int
if answer_3 is None:
    print("exercise 3: not answered yet")
else:
    assert answer_3 == tc.models.deepid(input_size=(39, 31)).deepid_from_pool3.in_features
    print("exercise 3: correct")
