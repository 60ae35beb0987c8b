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
# # 15 · Beyond images: convolution in one dimension
#
# Nothing in a convolution needs two dimensions. The course notes introduce it on a *signal*:
# a sensor sends `x_t` at every time `t`, the information fades by a factor each step, and what
# arrives at time `t` is the sum of the current value and the faded earlier ones, a 1-D
# convolution. Speech (a waveform, or a spectrogram's frames), text (a sequence of one-hot
# characters or word vectors) and time series are all 1-D inputs. In this tutorial we
#
# 1. compute the notes' delayed-accumulation example with `F.conv1d`;
# 2. check the **same identities** as in 2-D (tutorial 03), now including the **bias
#    gradient** `∂L/∂b = Σ δ`, in one dimension;
# 3. detect a word in a text with a hand-made 1-D filter over one-hot characters;
# 4. train a 1-D CNN to recognise "spoken words" (synthetic tone patterns) anywhere in a noisy
#    signal, and see why the same filter works at every position;
# 5. combine several trained networks into an **ensemble**.

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
# ## 1. A fading signal
#
# With decay factor ½, what arrives at time `t` is `y_t = x_t + ½ x_{t−1} + ¼ x_{t−2}` (older
# values are negligible): a convolution with the filter `w = (1, ½, ¼)`. `F.conv1d`, like every
# deep-learning library, computes a *cross-correlation*, so we give it the filter reversed
# (tutorial 01); zero padding of 2 on the left handles the start of the signal.

# %%
x = np.array([1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 1.0])
w = np.array([1.0, 0.5, 0.25])
y = F.conv1d(tc.tensor(np.pad(x, (2, 0)).reshape(1, 1, -1)),
             tc.tensor(w[::-1].copy().reshape(1, 1, 3))).numpy().ravel()
print("received:", y)
assert np.allclose(y, np.convolve(x, w)[:len(x)])
assert np.allclose(y[:4], [1.0, 0.5, 0.25, 2.0])             # a pulse and its echo

# %% [markdown]
# The notes' other classic filters work on signals too: a normalised **Gaussian** smooths (it
# averages neighbours with weights that fall off with distance, so independent noise partly
# cancels), and a **difference** filter `(−1, 1)` finds edges, the places where the signal
# jumps.

# %%
noise_rng = np.random.default_rng(3)
clean = np.where(np.arange(200) < 100, 0.0, 1.0)                  # a step
noisy = clean + noise_rng.normal(scale=0.3, size=clean.size)
taps = np.arange(-6, 7)
gaussian = np.exp(-taps**2 / (2 * 2.0**2))
gaussian /= gaussian.sum()                                         # weights sum to 1
smoothed = F.conv1d(tc.tensor(noisy.reshape(1, 1, -1)),
                    tc.tensor(gaussian.reshape(1, 1, -1)), padding=6).numpy().ravel()
interior = slice(10, 190)
error_before = np.abs(noisy - clean)[interior].mean()
error_after = np.abs(smoothed - clean)[interior].mean()
print(f"mean error to the clean step: {error_before:.3f} noisy, {error_after:.3f} smoothed")
assert error_after < error_before / 2
edges = F.conv1d(tc.tensor(smoothed.reshape(1, 1, -1)),
                 tc.tensor(np.array([-1.0, 1.0]).reshape(1, 1, 2))).numpy().ravel()
assert abs(int(np.argmax(edges[interior])) + 10 - 99) <= 3          # the jump, found

# %% [markdown]
# A 1-D convolution *is* a 2-D one on an image of height 1 (that is how tinyconv computes it):

# %%
signal = tc.randn(2, 3, 20)
weight = tc.randn(4, 3, 5)
with tc.no_grad():
    one_d = F.conv1d(signal, weight, stride=2, padding=1)
    two_d = F.conv2d(signal.unsqueeze(2), weight.unsqueeze(2), stride=(1, 2), padding=(0, 1))
assert np.allclose(one_d.numpy(), two_d.numpy()[:, :, 0], atol=1e-5)

# %% [markdown]
# ## 2. The identities, in one dimension
#
# For `y = x ⋆ w + b` (valid cross-correlation, one channel) and upstream gradient
# `δ = ∂L/∂y`:
#
# - `∂L/∂w = x ⋆ δ`: correlate the input with δ;
# - `∂L/∂x = full_corr(δ, reversed w)`: the "wide" convolution of δ with `w`;
# - `∂L/∂b = Σ_t δ_t`: the bias is added at every position, so its gradient sums δ over them
#   (and over the batch, and in 2-D over height and width);
# - with stride `s`, the same with δ dilated by `s` (s − 1 zeros between its entries).
#
# Check each against autograd, with NumPy's `correlate`/`convolve` as the independent oracle.

# %%
rng = np.random.default_rng(0)
x_np, w_np, b_np = rng.normal(size=12), rng.normal(size=4), 0.3
delta = rng.normal(size=12 - 4 + 1)
x_t = tc.tensor(x_np.reshape(1, 1, -1), requires_grad=True)
w_t = tc.tensor(w_np.reshape(1, 1, -1), requires_grad=True)
b_t = tc.tensor([b_np], dtype=tc.float64, requires_grad=True)
out = F.conv1d(x_t, w_t, b_t)
(out * tc.tensor(delta.reshape(1, 1, -1))).sum().backward()

assert np.allclose(out.detach().numpy().ravel(), np.correlate(x_np, w_np, "valid") + b_np)
assert np.allclose(w_t.grad.numpy().ravel(), np.correlate(x_np, delta, "valid"))
assert np.allclose(x_t.grad.numpy().ravel(), np.convolve(delta, w_np, "full"))
assert np.allclose(b_t.grad.numpy(), delta.sum())                    # ∂L/∂b = Σ δ

# %% [markdown]
# With stride 2, the input gradient is the same wide convolution of δ with s − 1 = 1 zero
# inserted between its entries:

# %%
x_t = tc.tensor(x_np.reshape(1, 1, -1), requires_grad=True)
strided = F.conv1d(x_t, tc.tensor(w_np.reshape(1, 1, -1)), stride=2)      # length 5
delta2 = rng.normal(size=strided.shape[-1])
(strided * tc.tensor(delta2.reshape(1, 1, -1))).sum().backward()
dilated = np.zeros(2 * len(delta2) - 1)
dilated[::2] = delta2
expected = np.convolve(dilated, w_np, "full")
assert np.allclose(x_t.grad.numpy().ravel()[:len(expected)], expected)
assert np.allclose(x_t.grad.numpy().ravel()[len(expected):], 0)   # the last input is unused

# %% [markdown]
# ## 3. Text: a filter that finds a word
#
# Encode a text as one channel per letter (a one-hot vector per character): a `(26, length)`
# array. A 1-D filter of width 3 over those 26 channels is a **trigram detector**: give it
# weight 1 for "c" at offset 0, "a" at 1 and "t" at 2, and its output is 3 exactly where "cat"
# starts, and at most 2 elsewhere. Text CNNs learn thousands of such filters.

# %%
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def one_hot_text(text):
    codes = np.zeros((len(ALPHABET), len(text)), dtype=np.float32)
    for position, letter in enumerate(text):
        if letter in ALPHABET:
            codes[ALPHABET.index(letter), position] = 1.0
    return tc.tensor(codes).unsqueeze(0)                           # (1, 26, length)


detector = np.zeros((1, 26, 3), dtype=np.float32)
for offset, letter in enumerate("cat"):
    detector[0, ALPHABET.index(letter), offset] = 1.0
text = "the cat sat on a mat with a cap and a scat of cats"
response = F.conv1d(one_hot_text(text), tc.tensor(detector)).numpy().ravel()
found = [int(i) for i in np.flatnonzero(response == 3)]
print("'cat' starts at", found, [text[i:i + 3] for i in found])
assert found == [i for i in range(len(text) - 2) if text[i:i + 3] == "cat"]
assert response.max() == 3 and np.sort(response)[-len(found) - 1] <= 2

# %% [markdown]
# ## 4. Speech-like signals: a word anywhere in the noise
#
# Three "words" are three short tone patterns (a rising chirp, a falling chirp, two beeps),
# each 40 samples long, placed at a random position in 200 samples of noise. A 1-D CNN learns
# to tell them apart. Because the same filters slide over every position and a **global max
# pool** keeps only the strongest response, it does not matter *where* the word is: weight
# sharing gives translation invariance, in time as in space.

# %%
LENGTH, WORD = 200, 40
t = np.arange(WORD) / WORD
WORDS = {"rising": np.sin(2 * np.pi * (2 + 6 * t) * t * 2),
         "falling": np.sin(2 * np.pi * (8 - 6 * t) * t * 2),
         "beep-beep": np.sin(2 * np.pi * 6 * t) * (np.abs(t - 0.5) > 0.15)}


def make_signals(count, rng):
    labels = rng.integers(0, len(WORDS), size=count)
    signals = rng.normal(scale=0.8, size=(count, 1, LENGTH)).astype(np.float32)
    for i, label in enumerate(labels):
        start = rng.integers(0, LENGTH - WORD)
        signals[i, 0, start:start + WORD] += list(WORDS.values())[label]
    return tc.tensor(signals), tc.tensor(labels)


train_x, train_y = make_signals(600, np.random.default_rng(1))
test_x, test_y = make_signals(300, np.random.default_rng(2))


class WordSpotter(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(1, 8, 9, padding=4), nn.ReLU(), nn.MaxPool1d(2),
                                      nn.Conv1d(8, 16, 9, padding=4), nn.ReLU())
        self.classify = nn.Linear(16, len(WORDS))

    def forward(self, x):                                  # x: (N, 1, 200)
        return self.classify(self.features(x).amax(dim=2))  # global max pool over time


def train_spotter(seed):
    tc.manual_seed(seed)
    model = WordSpotter()
    optimizer = tc.optim.Adam(model.parameters(), lr=5e-3)
    dataset = tc.data.TensorDataset(train_x, train_y)
    for _ in range(6):
        for signals, labels in tc.data.DataLoader(dataset, batch_size=32, shuffle=True):
            loss = F.cross_entropy(model(signals), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


model = train_spotter(0)
with tc.no_grad():
    accuracy = (model(test_x).argmax(dim=1) == test_y).float().mean().item()
print(f"test accuracy: {accuracy:.1%}")
assert accuracy > 0.75

# %% [markdown]
# Translation invariance, checked: the same word at two different places in a quiet signal.
# Before the pooling, the feature maps are the same maps shifted by the same amount
# (**equivariance**: 80 samples, 40 after the max-pool of 2); the global max then forgets where
# the word was. (We compare away from the signal's two ends, where the zero padding makes the
# maps differ.)

# %%
quiet = np.zeros((2, 1, LENGTH), dtype=np.float32)
quiet[0, 0, 40:80] = WORDS["rising"]
quiet[1, 0, 120:160] = WORDS["rising"]                  # the same word, 80 samples later
with tc.no_grad():
    maps = model.features(tc.tensor(quiet)).numpy()     # (2, 16, 100) after one pool of 2
first, second = maps[0][:, 10:50], maps[1][:, 50:90]    # the same stretch around each word
assert np.allclose(first, second, atol=1e-5)
assert np.allclose(first.max(axis=1), second.max(axis=1), atol=1e-5)

fig, axes = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
axes[0].plot(test_x[0, 0].numpy(), linewidth=0.8)
axes[0].set_title(f"a test signal: the word '{list(WORDS)[int(test_y[0])]}' in noise",
                  fontsize=9)
with tc.no_grad():
    feature_maps = model.features(test_x[:1]).numpy()[0]
axes[1].imshow(feature_maps, aspect="auto", cmap="viridis",
               extent=(0, LENGTH, feature_maps.shape[0], 0))
axes[1].set_title("the 16 feature maps of the second convolution (time runs left to right)",
                  fontsize=9)
axes[1].set_xlabel("time step")
save_figure(fig, "15_word_spotting.png")

# %% [markdown]
# ## 5. Ensembles
#
# Train the same network several times from different random initialisations and average
# their predicted probabilities: an **ensemble**. The members make partly different mistakes,
# so the average is more reliable than a typical member; the ImageNet winners of 2014–2017
# were all ensembles. One part of this is guaranteed: because `−log` is convex, the
# cross-entropy of the averaged probabilities is never higher than the members' average
# cross-entropy (Jensen's inequality).

# %%
members = [model] + [train_spotter(seed) for seed in (1, 2)]
with tc.no_grad():
    probabilities = [F.softmax(member(test_x), dim=1).numpy() for member in members]
truth = test_y.numpy()


def cross_entropy(p):
    return float(-np.log(p[np.arange(len(truth)), truth] + 1e-12).mean())


member_losses = [cross_entropy(p) for p in probabilities]
member_accuracies = [float((p.argmax(axis=1) == truth).mean()) for p in probabilities]
ensemble = np.mean(probabilities, axis=0)
print(f"members: accuracy {[f'{a:.1%}' for a in member_accuracies]}, "
      f"loss {[round(v, 3) for v in member_losses]}")
print(f"ensemble: accuracy {(ensemble.argmax(axis=1) == truth).mean():.1%}, "
      f"loss {cross_entropy(ensemble):.3f}")
assert cross_entropy(ensemble) <= np.mean(member_losses) + 1e-9
assert (ensemble.argmax(axis=1) == truth).mean() >= min(member_accuracies)

# %% [markdown]
# ## What you learned
#
# - A 1-D convolution is a 2-D one of height 1; it models delayed, fading accumulation.
# - The identities hold unchanged in 1-D, and the bias gradient is `Σ δ`.
# - On one-hot text a width-3 filter is a trigram detector; on signals, conv + global max pool
#   spots a pattern wherever it occurs (equivariance, then invariance).
# - An ensemble averages probabilities; its cross-entropy is at most the members' average.
#
# ## Exercises
#
# 1. Make the detector of section 3 find "ca" followed by any letter. What weights does the
#    third position need?
# 2. Remove the global max pool (flatten the maps into the linear layer instead) and train on
#    words placed only in the first half, test on words in the second half. What happens?
# 3. Fill in `answer_3`: the bias gradient of `F.conv1d` for a batch of 4 signals with 2 output
#    channels and an output length of 10 when δ is all ones (an array of shape (2,)). The
#    assert grades it with autograd.

# %%
answer_3 = None            # e.g. np.array([..., ...])
if answer_3 is None:
    print("exercise 3: not answered yet")
else:
    bias = tc.zeros(2, requires_grad=True)
    F.conv1d(tc.randn(4, 1, 12), tc.randn(2, 1, 3), bias).sum().backward()
    assert np.allclose(answer_3, bias.grad.numpy()), "sum δ over the batch and the positions"
    print("exercise 3: correct")
