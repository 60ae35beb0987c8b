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
# # 07 · Architectures, and reusing a trained network
#
# After LeNet-5 (1998) and AlexNet (2012), each famous CNN added one idea. `tc.models` has them
# all, written to be read next to their papers. In this tutorial we
#
# 1. build the small (32×32-input) variant of each and count its parameters;
# 2. take each block apart and check numerically what it adds: VGG's stacked 3×3 convolutions,
#    GoogLeNet's Inception branches, ResNet's shortcuts (basic vs bottleneck), squeeze-and-
#    excitation, DenseNet's concatenation, MobileNet's depthwise-separable convolutions;
# 3. do **transfer learning**: train LeNet-5 on the digits, then reuse its frozen features to
#    classify generated shapes by training only a new head.

# %%
import os
from pathlib import Path

import numpy as np

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.models import freeze_all_but, replace_head, trainable_parameters

try:
    HERE = Path(__file__).resolve().parent
except NameError:  # in a notebook
    HERE = Path.cwd()
OUT = Path(os.environ.get("TINYCONV_TUTORIAL_OUT", HERE / "_output"))
OUT.mkdir(parents=True, exist_ok=True)
tc.manual_seed(0)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# %% [markdown]
# ## 1. The zoo
#
# Every builder takes `num_classes` and `in_channels`; `small_input=True` adapts the ImageNet
# networks to 32×32 images (a 3×3 stride-1 first layer and no early pooling, as for CIFAR-10).
# With default arguments the parameter counts equal torchvision's (the table in
# `tinyconv/models/__init__.py`); here are the small ten-class variants.

# %%
builders = ["alexnet", "vgg11", "googlenet", "resnet18", "se_resnet18", "densenet121",
            "mobilenet_v1", "mobilenet_v2"]
counts = {"lenet5": n_params(tc.models.lenet5())}
for name in builders:
    kwargs = {} if name.startswith("mobilenet") else {"small_input": True}
    counts[name] = n_params(getattr(tc.models, name)(num_classes=10, **kwargs))
for name, count in counts.items():
    print(f"{name:>13}: {count:>12,} parameters")
assert counts["lenet5"] == 61_706
assert counts["resnet18"] == 11_173_962                      # as in its docstring
assert counts["mobilenet_v2"] < counts["mobilenet_v1"] < counts["densenet121"] < counts["resnet18"]

# %% [markdown]
# (MobileNets have no `small_input` switch: they are built for efficiency at any size.) Parameter
# counts alone say little about accuracy: DenseNet-121, with fewer parameters than ResNet-18, is
# the more accurate on ImageNet. What matters is *how* the parameters are arranged — the blocks.
#
# ## 2. VGG: two 3×3 convolutions see a 5×5 field
#
# VGG uses only 3×3 convolutions. Stacking two gives each output the same **receptive field**
# (the input region it depends on) as one 5×5 convolution, with fewer weights (2·9 = 18 against
# 25 per channel pair) and an extra ReLU in between. We find the receptive field with autograd:
# the gradient of one output pixel is non-zero exactly on the input pixels it depends on.

# %%
stack = tc.nn.Sequential(tc.nn.Conv2d(1, 1, 3, bias=False), tc.nn.Conv2d(1, 1, 3, bias=False))
with tc.no_grad():
    for layer in stack:
        layer.weight.fill_(1.0)             # no accidental zeros
x = tc.zeros(1, 1, 11, 11, requires_grad=True)
y = stack(x)                                # (1, 1, 7, 7)
y[0, 0, 3, 3].backward()                    # one output pixel
field = x.grad.numpy()[0, 0] != 0
rows, cols = np.nonzero(field)
print("receptive field:", rows.max() - rows.min() + 1, "x", cols.max() - cols.min() + 1)
assert field.sum() == 25 and (rows.max() - rows.min(), cols.max() - cols.min()) == (4, 4)

C = 64
assert n_params(tc.nn.Conv2d(C, C, 3, bias=False)) * 2 == 18 * C * C < 25 * C * C

# %% [markdown]
# ## 3. GoogLeNet: parallel branches, concatenated
#
# An Inception block runs four branches side by side on the same input — a 1×1 convolution, a
# 3×3, a "5×5" (a 3×3 in torchvision's version), and a max-pool — and stacks their outputs along
# the channels. The network does not have to choose a filter size; it uses all of them. The 1×1
# convolutions *before* the larger ones reduce the channels first, which keeps the cost down.
# Here is the paper's block "3a" (192 channels in, 64 + 128 + 32 + 32 = 256 out):

# %%
block = tc.models.Inception(192, ch1x1=64, ch3x3red=96, ch3x3=128, ch5x5red=16, ch5x5=32,
                            pool_proj=32)
x = tc.randn(1, 192, 8, 8)
block.eval()
with tc.no_grad():
    y = block(x)
    branch1 = block.branch1(x)
print("Inception 3a:", tuple(x.shape), "->", tuple(y.shape))
assert y.shape == (1, 256, 8, 8) and block.out_channels == 256
assert np.allclose(y.numpy()[:, :64], branch1.numpy())     # the first 64 channels: branch 1

direct_3x3 = 192 * 128 * 9                                  # a 3x3 conv straight from 192 channels
reduced_3x3 = 192 * 96 + 96 * 128 * 9                       # 1x1 down to 96, then the 3x3
print(f"3x3 branch weights: direct {direct_3x3:,}, with 1x1 reduction {reduced_3x3:,}")
assert reduced_3x3 < 0.6 * direct_3x3

# %% [markdown]
# ## 4. ResNet: shortcuts, basic and bottleneck blocks
#
# A residual block computes `relu(F(x) + x)`: the layers learn only a *correction* `F(x)` to
# their input. If a block is not useful, driving `F` to zero turns it into (almost) the identity
# — easy — whereas a plain stack of layers must learn the identity with its weights — hard. That
# is why 50, 100 or 150 layers train. Check it: zero the last BatchNorm's scale, so `F(x) = 0`.

# %%
basic = tc.models.BasicBlock(64, 64)
basic.eval()
with tc.no_grad():
    basic.bn2.weight.zero_()              # γ = 0 and β = 0: the residual branch outputs 0
    basic.bn2.bias.zero_()
    x = tc.randn(1, 64, 8, 8)
    assert np.allclose(basic(x).numpy(), F.relu(x).numpy())

# %% [markdown]
# ResNet-18/34 use the **basic** block (two 3×3 convolutions). ResNet-50 and deeper use the
# **bottleneck**: 1×1 down to a quarter of the channels, the 3×3 on those, 1×1 back up. On 256
# channels that is more than 16 times fewer weights than two full 3×3 convolutions:

# %%
two_3x3 = tc.models.BasicBlock(256, 256)
bottleneck = tc.models.Bottleneck(256, 64)           # 256 -> 64 -> 64 -> 256 (= 64 * 4)


def convs(block):
    """Number of convolution weights in a block (BatchNorm parameters left out)."""
    return sum(m.weight.numel() for m in block.modules() if isinstance(m, tc.nn.Conv2d))


print(f"conv weights: basic {convs(two_3x3):,}  bottleneck {convs(bottleneck):,}")
assert convs(two_3x3) == 2 * 9 * 256 * 256
assert convs(bottleneck) == 256 * 64 + 9 * 64 * 64 + 64 * 256
assert convs(two_3x3) > 16 * convs(bottleneck)

# %% [markdown]
# ## 5. Squeeze-and-excitation: a weight per channel
#
# An SE block **squeezes** each channel to one number (global average pooling), passes the
# vector through a tiny two-layer network and a sigmoid, and multiplies each channel by the
# result: the network learns to turn feature maps up or down depending on the whole image. It
# costs few parameters. Every channel map is scaled by a single factor in (0, 1):

# %%
se = tc.models.SEBlock(64, reduction=16)
x = tc.rand(2, 64, 6, 6) + 0.1
with tc.no_grad():
    scale = (se(x) / x).numpy()                            # (2, 64, 6, 6)
per_channel = scale.reshape(2, 64, 36)
assert np.allclose(per_channel, per_channel[:, :, :1], atol=1e-5)   # constant over each map
assert per_channel.min() > 0 and per_channel.max() < 1
assert n_params(se) == 64 * 4 + 4 + 4 * 64 + 64

# %% [markdown]
# ## 6. DenseNet: concatenate instead of add
#
# Inside a dense block each layer receives the **concatenation** of the block input and of
# every earlier layer's output, and adds `growth_rate` new maps. Features are reused rather than
# recomputed, so each layer can be thin. The block's output keeps its input untouched in its
# first channels:

# %%
dense = tc.models.DenseBlock(num_layers=4, in_channels=16, growth_rate=12, bn_size=4)
dense.eval()
x = tc.randn(1, 16, 8, 8)
with tc.no_grad():
    y = dense(x)
print("dense block:", tuple(x.shape), "->", tuple(y.shape))
assert y.shape == (1, 16 + 4 * 12, 8, 8)
assert np.array_equal(y.numpy()[:, :16], x.numpy())
assert dense.denselayer4.conv1.in_channels == 16 + 3 * 12       # sees everything before it

# %% [markdown]
# ## 7. MobileNet: depthwise-separable convolutions
#
# Tutorial 02 measured it: a 3×3 depthwise convolution followed by a 1×1 pointwise one costs
# `1/N + 1/9` of a full 3×3 convolution. MobileNet v1 is 13 such pairs. Counting the real
# layer's convolution weights (its BatchNorms add a few parameters more):

# %%
M, N = 128, 256
separable = tc.models.DepthwiseSeparableConv(M, N)
full = tc.nn.Conv2d(M, N, 3, padding=1, bias=False)
ratio = convs(separable) / convs(full)
print(f"separable/full conv weights: {ratio:.4f}  (1/N + 1/9 = {1 / N + 1 / 9:.4f})")
assert np.isclose(ratio, 1 / N + 1 / 9)
with tc.no_grad():
    separable.eval()
    assert separable(tc.randn(1, M, 8, 8)).shape == (1, N, 8, 8)

# %% [markdown]
# ## 8. Transfer learning: reuse features, train a new head
#
# Training a large network needs a large data set. But the early layers of a trained CNN compute
# edges, strokes and blobs — features that are useful for other images too. **Transfer
# learning** keeps those layers **frozen** (`requires_grad=False`: no gradient, no update) and
# trains only a new last layer, the **head**, on the new task. With few images and little time
# this works far better than training from scratch.
#
# Our "large data set" is the digits; our new task is classifying generated shapes (lines,
# edges, squares, circles: `tc.data.shapes`), with only 600 training images. First, pre-train
# LeNet-5 on the digits for two epochs.


# %%
def train(model, dataset, epochs, parameters, lr=2e-3):
    optimizer = tc.optim.Adam(parameters, lr=lr)
    for _ in range(epochs):
        model.train()
        for images, labels in tc.data.DataLoader(dataset, batch_size=32, shuffle=True):
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


@tc.no_grad()
def accuracy(model, dataset):
    model.eval()
    images, labels = dataset.tensors
    return (model(images).argmax(dim=1) == labels).float().mean().item()


digits_train = tc.data.digits(train=True, size=32)
digits_test = tc.data.digits(train=False, size=32)
tc.manual_seed(0)
pretrained = tc.models.lenet5(num_classes=10)
train(pretrained, digits_train, 2, pretrained.parameters())
print(f"pre-trained on digits: {accuracy(pretrained, digits_test):.1%}")
assert accuracy(pretrained, digits_test) > 0.8

# %% [markdown]
# Pre-trained weights usually come as a file that someone else wrote. Let us play both parts:
# save the weights the way PyTorch users share them, as a `.pth` file (`tc.save` picks the format
# from the suffix; PyTorch reads it back with `torch.load(path, weights_only=True)`), then start
# from the file alone, as a new user would. `tc.load` reads `.pth` files without PyTorch, with an
# unpickler that rebuilds tensors and refuses anything else (a pickle can run any code), and
# `load_state_dict` checks every name and shape before copying anything. A `.pth` written by
# PyTorch for a model with the same layer names loads the same way.

# %%
checkpoint = OUT / "lenet5_digits.pth"
tc.save(pretrained.state_dict(), checkpoint)
print(f"{checkpoint.name}: {checkpoint.stat().st_size:,} bytes")

pretrained = tc.models.lenet5(num_classes=10)  # fresh random weights...
pretrained.load_state_dict(tc.load(checkpoint))  # ...replaced by the file's
print(f"reloaded from {checkpoint.name}: {accuracy(pretrained, digits_test):.1%}")
assert accuracy(pretrained, digits_test) > 0.8

# %% [markdown]
# Now the new task. `replace_head` swaps the last Linear layer (`classifier.fc3`, 84 → 10) for a
# fresh one with 5 outputs; `freeze_all_but` sets `requires_grad=False` on everything else and
# returns the names of the parameters left trainable. The optimizer gets only those.

# %%
shapes_train = tc.data.shapes(train=True, n=600, size=32)
shapes_test = tc.data.shapes(train=False, n=300, size=32)
print("classes:", shapes_train.classes)

replace_head(pretrained, num_classes=5)
trainable = freeze_all_but(pretrained)
print("trainable:", trainable)
assert trainable == ["classifier.fc3.weight", "classifier.fc3.bias"]

frozen_before = {name: p.detach().numpy().copy() for name, p in pretrained.named_parameters()}
train(pretrained, shapes_train, 10, trainable_parameters(pretrained), lr=1e-2)
transfer_accuracy = accuracy(pretrained, shapes_test)
print(f"shapes, head trained on digit features: {transfer_accuracy:.1%} (chance 20%)")

# %% [markdown]
# The frozen weights did not move — not by a single bit — and received no gradient; only the
# head changed.

# %%
for name, p in pretrained.named_parameters():
    unchanged = np.array_equal(p.detach().numpy(), frozen_before[name])
    if name.startswith("classifier.fc3"):
        assert not unchanged and p.requires_grad
    else:
        assert unchanged and not p.requires_grad and p.grad is None, name

# %% [markdown]
# Is it the *learned* features that help, or would any frozen network do? Train the same head on
# a randomly initialised, frozen LeNet-5 in the same way:

# %%
tc.manual_seed(1)
random_features = tc.models.lenet5(num_classes=5)
freeze_all_but(random_features)
train(random_features, shapes_train, 10, trainable_parameters(random_features), lr=1e-2)
random_accuracy = accuracy(random_features, shapes_test)
print(f"shapes, head trained on random features: {random_accuracy:.1%}")
assert transfer_accuracy > 0.75
assert transfer_accuracy > random_accuracy + 0.1

# %% [markdown]
# Features learned on handwritten digits transfer to shapes the network never saw. With real
# pre-trained weights (say torchvision's ResNet-18 file: `tc.models.resnet18()` has the same
# layer names, so `model.load_state_dict(tc.load("resnet18-f37072fd.pth"))` fills it) the
# recipe is the same; unfreeze more layers with a small learning rate (**fine-tuning**) when you
# have more data. `tc.summary` shows frozen parameters in its "Trainable" column:

# %%
s = tc.summary(pretrained, (1, 32, 32), print_table=False)
print(f"trainable {s.trainable_params:,} of {s.total_params:,} parameters")
assert s.trainable_params == 84 * 5 + 5

# %% [markdown]
# ## What you learned
#
# - VGG: stacked 3×3 = 5×5 field with fewer weights; Inception: parallel branches concatenated,
#   1×1 reductions; ResNet: `relu(F(x) + x)`, identity when `F = 0`, bottlenecks for depth;
#   SE: one learned scale per channel; DenseNet: concatenation, growth rate; MobileNet:
#   depthwise-separable at `1/N + 1/9` of the cost.
# - Transfer learning: start from a checkpoint file (`tc.save` / `tc.load` speak `.pth` and
#   `.safetensors` too), `replace_head`, `freeze_all_but`, an optimizer over
#   `trainable_parameters` — frozen weights stay bit-for-bit unchanged.
