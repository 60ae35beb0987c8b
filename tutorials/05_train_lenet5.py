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
# # 05 · Training LeNet-5
#
# Everything so far was one layer at a time. Now we put them together and **train** a whole
# network: LeNet-5 (LeCun et al., 1998), the network that read the digits on cheques, on the
# handwritten digits bundled with scikit-learn. You will write the training loop yourself —
# it is five lines — then evaluate, save and reload the model, and finally let
# `tinyconv.training.fit` run the same loop with progress bars, checkpoints and learning curves.

# %%
import os
import time
from pathlib import Path

import numpy as np

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.training import TrainConfig, fit

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # running as a notebook
    HERE = Path.cwd()
OUT = Path(os.environ.get("TINYCONV_TUTORIAL_OUT", HERE / "_output"))
OUT.mkdir(parents=True, exist_ok=True)
tc.manual_seed(0)          # the same initial weights and the same shuffling on every run

# %% [markdown]
# ## 1. The data
#
# `tc.data.digits` gives 1,797 grey images of the digits 0–9 (8×8 pixels, scaled to [0, 1]),
# split once and for all into 1,438 training and 359 test images. LeNet-5 reads 32×32 images,
# so we ask for them enlarged (`size=32`, bilinear interpolation). The **test** images are never
# used for training: they tell us how well the network does on digits it has not seen.
#
# 1,438 images is very little, and a network with 61,706 weights can simply memorise them. A
# cheap remedy is **data augmentation**: every time a training image is read, `RandomCrop(32,
# padding=2)` pads it by 2 pixels and cuts out a random 32×32 window, i.e. shifts the digit by
# up to 2 pixels. The network sees a slightly different copy each epoch and must learn what a
# digit looks like, not where its pixels are. (The test images are not augmented.)

# %%
train_set = tc.data.digits(train=True, size=32, transform=tc.data.RandomCrop(32, padding=2))
test_set = tc.data.digits(train=False, size=32)
image, label = train_set[0]
print(len(train_set), "training images,", len(test_set), "test images; one image:",
      image.shape, "label", int(label))
assert (len(train_set), len(test_set)) == (1438, 359) and image.shape == (1, 32, 32)

# %% [markdown]
# A `DataLoader` cuts the training set into **mini-batches** of 32 images, in a new random order
# every epoch (one **epoch** = one pass over the training set). Each batch is a pair of tensors
# `(images (32, 1, 32, 32), labels (32,))`.

# %%
train_loader = tc.data.DataLoader(train_set, batch_size=32, shuffle=True)
images, labels = next(iter(train_loader))
print("batch:", images.shape, labels.shape, labels.dtype)
assert images.shape == (32, 1, 32, 32) and labels.shape == (32,)
assert len(train_loader) == -(-1438 // 32)      # 45 batches, the last one smaller

# %% [markdown]
# ## 2. The model
#
# `tc.models.lenet5()` is conv(6 filters 5×5) → ReLU → 2×2 max-pool → conv(16 filters 5×5) →
# ReLU → 2×2 max-pool → three fully connected layers (400 → 120 → 84 → 10). Its output is ten
# **logits**, one score per digit; the prediction is the digit with the largest score.

# %%
model = tc.models.lenet5()
print(model)
n_parameters = sum(p.numel() for p in model.parameters())
assert n_parameters == 61_706
assert model(images).shape == (32, 10)

# %% [markdown]
# ## 3. The training loop, by hand
#
# For every batch:
#
# 1. **forward**: compute the logits and the loss — cross-entropy, `−log softmax(logits)[label]`,
#    averaged over the batch (tutorial 04);
# 2. **zero_grad**: gradients *accumulate* in `.grad` (that is what lets several losses share a
#    backward pass), so clear the previous batch's;
# 3. **backward**: autograd computes `∂loss/∂p` for every parameter `p` (tutorial 03);
# 4. **step**: the optimizer moves every parameter a little against its gradient.
#
# We use SGD with momentum (`p ← p − lr · v`, where `v` is a running sum of recent gradients)
# and let a **cosine schedule** lower the learning rate smoothly to 0 over the 10 epochs: big
# steps early to make progress, small steps at the end to settle.
#
# `model.train()` and `model.eval()` switch layers that behave differently while training
# (dropout, batch norm). LeNet-5 has none, but the habit matters (tutorial 04).


# %%
@tc.no_grad()   # no graph is needed to evaluate: faster, less memory
def evaluate(model, dataset):
    """Accuracy (fraction of correct predictions) on a whole data set."""
    model.eval()
    images, labels = dataset.tensors
    predictions = model(images).argmax(dim=1)
    return (predictions == labels).float().mean().item()


EPOCHS = 10
optimizer = tc.optim.SGD(model.parameters(), lr=0.03, momentum=0.9)
scheduler = tc.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)
print(f"before training: test accuracy {evaluate(model, test_set):.1%} (chance is 10%)")

history = []
for epoch in range(EPOCHS):
    started = time.perf_counter()
    model.train()
    total_loss = 0.0
    for images, labels in train_loader:
        logits = model(images)                     # 1. forward
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()                      # 2. clear old gradients
        loss.backward()                            # 3. backward
        optimizer.step()                           # 4. update
        total_loss += loss.item() * len(labels)
    scheduler.step()                               # once per epoch: lower the learning rate
    accuracy = evaluate(model, test_set)
    history.append((total_loss / len(train_set), accuracy))
    print(f"epoch {epoch + 1}: train loss {history[-1][0]:.4f}  test accuracy {accuracy:.1%}  "
          f"({time.perf_counter() - started:.1f} s)")

# %% [markdown]
# The loss went down and the test accuracy up: with only 1,438 training images, LeNet-5
# recognises over 95 % of digits it has never seen. (Without the augmentation it stops around
# 96 % while its training loss falls to almost 0: memorising. Try it.)

# %%
final_accuracy = history[-1][1]
assert history[-1][0] < history[0][0] / 3          # the training loss fell a lot
assert final_accuracy >= 0.95, final_accuracy

# %% [markdown]
# Which digits does it confuse? A **confusion matrix** counts, for each true digit (row), how
# often each digit was predicted (column). The diagonal holds the correct answers.

# %%
with tc.no_grad():
    model.eval()
    predicted = model(test_set.tensors[0]).argmax(dim=1).numpy()
truth = test_set.labels
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (truth, predicted), 1)
print(confusion)
assert confusion.sum() == 359 and np.trace(confusion) == round(final_accuracy * 359)

# %% [markdown]
# ## 4. Saving and loading
#
# A trained model is its `state_dict()`: an ordered dict from parameter names
# (`features.conv1.weight`, ...) to tensors. `tc.save` writes it to a NumPy `.npz` file (no
# pickle, so loading a file cannot run code), `tc.load` reads it back, and
# `load_state_dict` copies the values into a freshly built model of the same architecture.

# %%
path = OUT / "lenet5_digits.npz"
tc.save(model.state_dict(), path)

restored = tc.models.lenet5()
print("a fresh model:", f"{evaluate(restored, test_set):.1%}")
restored.load_state_dict(tc.load(path))
print("after loading:", f"{evaluate(restored, test_set):.1%}")

assert evaluate(restored, test_set) == final_accuracy
pairs = zip(model.state_dict().items(), restored.state_dict().items(), strict=True)
for (name, a), (_, b) in pairs:
    assert np.array_equal(a.numpy(), b.numpy()), name

# %% [markdown]
# To resume *training* later you would also save `optimizer.state_dict()` (the momentum buffers)
# and the epoch number — which is exactly what `fit` does below.
#
# ## 5. The same with `tinyconv.training.fit`
#
# The loop above is what `tinyconv.training.fit` runs (read `train_one_epoch` in
# `tinyconv/training.py`), plus what you want around it in practice: a progress bar on a
# terminal, a checkpoint after every epoch (`checkpoint.npz`: model, optimizer, epoch, history),
# and a plot of the learning curves (`curves.png`). The command line `tinyconv train` calls it.
# Its default optimizer is Adam; we run 3 epochs here to keep the tutorial short
# (`tinyconv train` runs 10).

# %%
config = TrainConfig(model="lenet5", dataset="digits", epochs=3, batch_size=32,
                     optimizer="adam", seed=0, out=str(OUT / "fit_lenet5"), progress=False)
fit_history = fit(config)

# %%
print({key: [round(v, 3) for v in values] for key, values in fit_history.items()})
assert len(fit_history["test_acc"]) == 3
assert fit_history["test_acc"][-1] > 0.85
assert (OUT / "fit_lenet5" / "checkpoint.npz").exists()
assert (OUT / "fit_lenet5" / "curves.png").exists()

checkpoint = tc.load(OUT / "fit_lenet5" / "checkpoint.npz")
print("checkpoint holds:", sorted(checkpoint))
assert checkpoint["epoch"] == 3 and "model" in checkpoint and "optimizer" in checkpoint

# %% [markdown]
# `fit(config, resume=".../checkpoint.npz")` (or `tinyconv train --resume ...`) continues from
# the last finished epoch with the same shuffling, as if training had never stopped.
#
# ## What you learned
#
# - The training loop: forward, loss, `zero_grad`, `backward`, `step` — per batch; `train()` and
#   `eval()` modes; accuracy on held-out test data.
# - LeNet-5 reaches ≥ 95 % on the digits in 10 epochs of SGD with momentum, a cosine schedule
#   and random shifts as data augmentation.
# - `tc.save(model.state_dict(), path)` and `model.load_state_dict(tc.load(path))`.
# - `tinyconv.training.fit` wraps the same loop with checkpoints and learning curves.
