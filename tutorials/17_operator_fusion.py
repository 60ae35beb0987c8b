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
# # 17 · Operator fusion: conv, bias, ReLU and pooling as one operation
#
# Almost every network of the zoo repeats one pattern: a convolution, its bias, a ReLU, and
# often a 2×2 max pooling. Written as four operations, each one reads a whole activation from
# memory and writes a new one, and each is one node of the autograd graph that keeps its own
# copy for the backward pass. **Operator fusion** computes such a run as one operation. It
# changes no value: it only removes work around the convolution. This tutorial
#
# 1. counts what the unfused run costs;
# 2. proves, with algebra and with asserts, that the fused operation is the same function
#    (values and gradients);
# 3. shows how `nn.Sequential` fuses for you, and when it must not;
# 4. measures the gain on LeNet-5.
#
# Read along: `tinyconv/nn/functional/fused.py` (the differentiable operation),
# `kernels/cpu/fused.py` (the one-pass kernels), `tinyconv/nn/container.py` (`fusable_run`).

# %%
import time

import numpy as np

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv import nn
from tinyconv.kernels import cpu

tc.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. What the unfused run costs
#
# Take LeNet-5's second layer on a batch of 64: 6 channels of 14×14 in, 16 filters of 5×5, then
# ReLU and 2×2 max pooling. Follow the activations it creates and the graph it records.

# %%
x = tc.tensor(rng.standard_normal((64, 6, 14, 14), dtype=np.float32), requires_grad=True)
w = tc.tensor(rng.standard_normal((16, 6, 5, 5), dtype=np.float32) * 0.1, requires_grad=True)
b = tc.tensor(rng.standard_normal(16, dtype=np.float32) * 0.1, requires_grad=True)

z = F.conv2d(x, w, b)  # the convolution, and the bias added in a second sweep
a = F.relu(z)  # a new array: max(z, 0)
p = F.max_pool2d(a, 2)  # another new array, a quarter of the size
print("activations:", z.shape, a.shape, p.shape)
print("graph:", p._ctx.name, "<-", a._ctx.name, "<-", z._ctx.name)
full = z.numel() * 4  # bytes of one full-size float32 activation
print(f"one full activation: {full / 1024:.0f} KiB; the run writes two of them and reads "
      f"them back ({4 * full / 1024:.0f} KiB of memory traffic besides the convolution)")
assert (p._ctx.name, a._ctx.name, z._ctx.name) == ("max_pool2d", "relu", "conv2d")

# %% [markdown]
# Each sweep is cheap on its own, but on a small network there are many of them, each on one
# thread, and the backward pass adds more: the ReLU's gradient is another full-size array
# (`δ · (z > 0)`), the pooling's another. On a 2-core machine the time between the convolutions
# matters as much as the convolutions.
#
# ## 2. The fused operation is the same function
#
# Two facts let us reorder the run so that it does less:
#
# - **The bias is the same for the four values of a window**, so `max(z + b) = max(z) + b`. In
#   floating point too: rounding `z + b` is monotone, so the largest sum is the rounded sum of
#   the largest `z`.
# - **ReLU is increasing**, so `max(relu(z)) = relu(max(z))`.
#
# So `max_pool(relu(z + b)) = relu(max_pool(z) + b)`: pool the convolution's raw output first,
# then add the bias and apply the ReLU to a quarter of the values. The backward pass needs no
# full-size ReLU mask either: the gradient of a window reaches only its winner, and only where
# the pooled output is positive.

# %%
fused = F.conv2d_relu_max_pool2d(x, w, b)
print("fused graph:", fused._ctx.name, "(one node)")
assert np.array_equal(fused.detach().numpy(), p.detach().numpy())  # bit for bit

grad = tc.tensor(rng.standard_normal(p.shape, dtype=np.float32))
p.backward(grad)
unfused_grads = [t.grad.numpy().copy() for t in (x, w, b)]
for t in (x, w, b):
    t.grad = None
fused.backward(grad)
for name, t, want in zip("xwb", (x, w, b), unfused_grads, strict=True):
    difference = float(np.abs(t.grad.numpy() - want).max())
    print(f"d loss / d{name}: largest difference {difference:.1e}")
    # the bias gradient's sum runs in another order: equal up to float32 rounding
    assert np.allclose(t.grad.numpy(), want, rtol=1e-5, atol=1e-5)

# %% [markdown]
# `F.conv2d_relu` is the same without the pooling. On the CPU the bias and the ReLU are one
# threaded pass over the output (`kernels/cpu/fused.py`), and so are the ReLU's mask and the
# bias gradient in backward. A kernel set without that optional part (the CUDA one) runs the
# same fused operation with array code: fusion is an optional part of the kernel-set protocol,
# `contract.FusedConvEpilogue`.

# %%
relu_only = F.conv2d_relu(x, w, b)
assert np.array_equal(relu_only.detach().numpy(), F.relu(F.conv2d(x, w, b)).detach().numpy())
with tc.use_kernels("reference"):  # no fused epilogue there: the array code
    # (the reference convolution sums in another order than the CPU kernels: equal to rounding)
    assert np.allclose(F.conv2d_relu_max_pool2d(x, w, b).detach().numpy(),
                       fused.detach().numpy(), rtol=1e-5, atol=1e-5)

# %% [markdown]
# ## 3. `nn.Sequential` fuses for you
#
# When `nn.Sequential` meets `Conv2d, ReLU` or `Conv2d, ReLU, MaxPool2d(2)` among its children,
# it calls the fused operation. It is careful: only those exact classes (a subclass may have
# changed `forward`), only 2×2 pooling with stride 2, and never when one of those modules has a
# forward hook, because a hook must see that module's own output. `tc.summary` and
# `tinyconv show` record layers with hooks, so they still see every ReLU and pooling layer.

# %%
model = tc.models.lenet5()
images = tc.tensor(rng.standard_normal((8, 1, 32, 32), dtype=np.float32))
print("LeNet-5 features, last node:", model.features(images)._ctx.name)
assert model.features(images)._ctx.name == "conv2d_relu"  # conv2, ReLU, pool2 in one node

seen = []
handle = model.features.act2.register_forward_hook(lambda m, args, out: seen.append(out.shape))
assert model.features(images)._ctx.name == "max_pool2d"  # the hook turned fusion off here
assert seen == [(8, 16, 10, 10)]
handle.remove()

model.features.fuse = False  # or switch it off yourself
unfused_out = model(images).detach().numpy()
model.features.fuse = True
assert np.array_equal(model(images).detach().numpy(), unfused_out)

# %% [markdown]
# Modern networks put batch norm between the convolution and the ReLU (ResNet, MobileNet, VGG
# with BN), so `BatchNorm2d, ReLU` is fused too (`F.batch_norm_relu`): the ReLU runs in place on
# the normalised values and its mask is applied to the gradient inside batch norm's backward.

# %%
block = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
rgb = tc.tensor(rng.standard_normal((4, 3, 16, 16), dtype=np.float32))
print("Conv2d, BatchNorm2d, ReLU, last node:", block(rgb)._ctx.name)
assert block(rgb)._ctx.name == "batch_norm"  # the ReLU has no node of its own
block.fuse = False
assert block(rgb)._ctx.name == "relu"

# %% [markdown]
# ## 4. What it gains
#
# Time a LeNet-5 training step (batch 64) and an inference pass (batch 256) with and without
# fusion, on the threads tinyconv uses. The numbers depend on the machine and on whatever else
# runs on it, so we print them rather than assert them; `python benchmarks/run.py` measures the
# whole library against PyTorch the same way, and `python benchmarks/fusion.py` compares fused
# and unfused runs layer by layer. On our 2-core machine, fusion made a training step about
# 1.3× faster and an inference pass about 1.3× faster at 2 threads (about 1.1× at 1 thread).

# %%
def median_ms(fn, repeats=15):
    for _ in range(3):  # warm up: compile, fault the memory in
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


model = tc.models.lenet5()
optimizer = tc.optim.SGD(model.parameters(), lr=0.01)
loss_fn = nn.CrossEntropyLoss()
batch = tc.tensor(rng.standard_normal((64, 1, 32, 32), dtype=np.float32))
labels = tc.tensor(rng.integers(0, 10, 64))
big_batch = tc.tensor(rng.standard_normal((256, 1, 32, 32), dtype=np.float32))


def train_step():
    optimizer.zero_grad()
    loss_fn(model(batch), labels).backward()
    optimizer.step()


def inference():
    with tc.no_grad():
        model(big_batch)


print(f"{cpu.get_num_threads()} thread(s)")
timings = {}
for fuse in (False, True):
    model.features.fuse = fuse
    timings[fuse] = (median_ms(train_step), median_ms(inference))
    print(f"fuse={fuse!s:5}: training step {timings[fuse][0]:6.2f} ms, "
          f"inference (batch 256) {timings[fuse][1]:6.2f} ms")
print(f"fused / unfused: training {timings[True][0] / timings[False][0]:.2f}, "
      f"inference {timings[True][1] / timings[False][1]:.2f}")

# %% [markdown]
# ## Exercises
#
# 1. Average pooling is linear, so `avg(z + b) = avg(z) + b` still holds. Can the ReLU move
#    after an *average* pooling too? Find a window where it cannot.
# 2. Which other activations could move after a max pooling? Try `sigmoid` and `tanh`, then
#    `x ↦ x²`.

# %%
# Answer 1: no. ReLU is not linear: avg(relu(z)) keeps the positive values, relu(avg(z)) lets
# the negative ones cancel them.
window = np.array([[4.0, -4.0], [-4.0, -4.0]], np.float32)
avg_of_relu = np.maximum(window, 0).mean()
relu_of_avg = max(window.mean(), 0.0)
print("avg(relu) =", avg_of_relu, " relu(avg) =", relu_of_avg)
assert avg_of_relu == 1.0 and relu_of_avg == 0.0

# %%
# Answer 2: any increasing function commutes with max: sigmoid and tanh do; x² does not (it is
# not increasing over the negative numbers).
z_windows = rng.standard_normal((1000, 4))
for name, fn, commutes in (("sigmoid", lambda v: 1 / (1 + np.exp(-v)), True),
                           ("tanh", np.tanh, True), ("square", np.square, False)):
    same = np.allclose(fn(z_windows).max(axis=1), fn(z_windows.max(axis=1)))
    print(f"{name}: max(f(z)) == f(max(z)) for every window: {same}")
    assert same == commutes
