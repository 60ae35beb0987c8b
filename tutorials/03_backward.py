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
# # 03 · The backward pass of a convolution
#
# A network learns by gradient descent: for every weight it needs `∂L/∂W`, how much the loss
# `L` changes when that weight changes. Backpropagation computes these layer by layer, from the
# loss back to the input. Each layer receives `δ = ∂L/∂Y`, the gradient with respect to its
# output, and must produce two things:
#
# - `∂L/∂W`, to update its own weights;
# - `∂L/∂X`, which becomes the `δ` of the layer below.
#
# For a convolution `Y = X ⋆ W` both turn out to be convolutions again:
#
# $$ \frac{\partial L}{\partial W} = X \star \delta \qquad
#    \frac{\partial L}{\partial X} = \mathrm{full\_corr}(\delta,\ \mathrm{rot180}(W))
#    = \mathrm{full\_conv}(\delta, W) $$
#
# We verify both with `tc.signal` against autograd, then add stride and padding, use finite
# differences (`gradcheck`) as an independent judge, and finish with pooling.

# %%
import types

import numpy as np

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.kernels import reference
from tinyconv.signal import convolve2d, correlate2d, rot180
from tinyconv.testing import GradcheckError, gradcheck

tc.manual_seed(0)


def close(a, b):
    return np.allclose(np.asarray(a), np.asarray(b), atol=1e-10)


# %% [markdown]
# ## 1. A loss whose δ we choose
#
# To look at the backward pass of one layer in isolation, take `L = Σ Y ⊙ G` for a fixed random
# array `G`. Then `∂L/∂Y = G` exactly, so `δ` is whatever we picked. We work in float64 so
# that the comparisons are exact up to rounding.

# %%
X = tc.randn(5, 6, dtype=tc.float64, requires_grad=True)
W = tc.randn(3, 3, dtype=tc.float64, requires_grad=True)
Y = correlate2d(X, W, mode="valid")           # (3, 4)
delta = tc.randn(*Y.shape, dtype=tc.float64)  # our chosen ∂L/∂Y
L = (Y * delta).sum()
L.backward()
print("Y", Y.shape, " X.grad", X.grad.shape, " W.grad", W.grad.shape)

# %% [markdown]
# ## 2. The weight gradient: `∂L/∂W = X ⋆ δ`
#
# Weight `W[m, n]` was multiplied by `X[i + m, j + n]` for every output `(i, j)`, so
#
# $$ \frac{\partial L}{\partial W[m,n]} = \sum_{i,j} \delta[i,j]\, X[i+m,\, j+n] $$
#
# which is the definition of a valid cross-correlation of `X` with `δ` used as the kernel. The
# output has `6 - 4 + 1 = 3` columns and `5 - 3 + 1 = 3` rows: the shape of `W`, as it must.

# %%
grad_W = correlate2d(X.detach(), delta, mode="valid")
assert grad_W.shape == W.shape
assert close(grad_W, W.grad)

# %% [markdown]
# ## 3. The input gradient: a full convolution with `W`
#
# Input pixel `X[p, q]` was used by every output whose window covered it, with the weight
# `W[p − i, q − j]`. Hence
#
# $$ \frac{\partial L}{\partial X[p,q]} = \sum_{i,j} \delta[i,j]\, W[p-i,\, q-j] $$
#
# The indices of `W` run *backwards* as `(i, j)` grows: a true **convolution**, i.e. a
# correlation with the rotated kernel. It must cover every input pixel, including the border
# pixels that only a few windows touched, so it is the **full** version (δ padded by `k − 1`).

# %%
grad_X = correlate2d(delta, rot180(W.detach()), mode="full")
assert grad_X.shape == X.shape            # 3 + 3 - 1 = 5 rows, 4 + 3 - 1 = 6 columns
assert close(grad_X, X.grad)
assert close(convolve2d(delta, W.detach(), mode="full"), X.grad)   # same thing, said as conv

# %% [markdown]
# This is where the 180° rotation of tutorial 01 comes back: the forward pass of a CNN skips
# it, the backward pass cannot.
#
# ## 4. With a stride: dilate δ
#
# With stride `s`, output `(i, j)` reads the window at `(s·i, s·j)`. Put `δ[i, j]` back at the
# position of its window by inserting `s − 1` zeros between neighbouring entries (**dilating**
# δ), and both formulas hold again, unchanged.


# %%
def dilate(a, s):
    """Put s - 1 zeros between neighbouring entries of a 2-D array."""
    a = np.asarray(a)
    out = np.zeros(((a.shape[0] - 1) * s + 1, (a.shape[1] - 1) * s + 1))
    out[::s, ::s] = a
    return tc.tensor(out)


X = tc.randn(1, 1, 7, 9, dtype=tc.float64, requires_grad=True)
W = tc.randn(1, 1, 3, 3, dtype=tc.float64, requires_grad=True)
Y = F.conv2d(X, W, stride=2)                  # (1, 1, 3, 4)
delta = tc.randn(*Y.shape, dtype=tc.float64)
(Y * delta).sum().backward()

d = dilate(delta[0, 0], 2)                    # (5, 7): δ with zeros in between
x2, w2 = X.detach()[0, 0], W.detach()[0, 0]
assert close(correlate2d(x2, d, mode="valid"), W.grad[0, 0])
assert close(correlate2d(d, rot180(w2), mode="full"), X.grad[0, 0])
print("stride 2: Y", Y.shape, " dilated δ", d.shape)

# %% [markdown]
# (Here `(7 − 3)` and `(9 − 3)` are multiples of the stride, so the windows reach the last row
# and column. When they do not, the last rows are never read: their gradient is 0, and the
# full correlation is zero-padded at the end to the input's size.)
#
# ## 5. With padding: crop
#
# Padding adds zeros around `X` before correlating. The formulas give the gradient with respect
# to the *padded* input; the zeros are not anybody's parameters, so we simply **crop** `p` rows
# and columns from each side.

# %%
X = tc.randn(1, 1, 6, 6, dtype=tc.float64, requires_grad=True)
W = tc.randn(1, 1, 3, 3, dtype=tc.float64, requires_grad=True)
Y = F.conv2d(X, W, padding=1)                 # (1, 1, 6, 6)
delta = tc.randn(*Y.shape, dtype=tc.float64)
(Y * delta).sum().backward()

x_padded = tc.pad(X.detach()[0, 0], (1, 1, 1, 1))
grad_padded = correlate2d(delta[0, 0], rot180(W.detach()[0, 0]), mode="full")   # (8, 8)
assert close(grad_padded[1:-1, 1:-1], X.grad[0, 0])
assert close(correlate2d(x_padded, delta[0, 0], mode="valid"), W.grad[0, 0])

# %% [markdown]
# ## 6. The same steps in the kernels
#
# Open `kernels/reference.py` and read `conv2d_backward_input`: its docstring and comments are
# these steps, numbered — dilate δ by the stride, pad it fully, rotate the kernel, correlate,
# crop the padding. With channels, input channel `ci` sums over the output channels that read
# it (the weight is used "transposed"). `conv2d_backward_weight` is the correlation of `X` with
# δ, summed over the batch. `tinyconv/nn/functional/conv.py::Conv2dFunction.backward` calls
# exactly these two functions. Check them on a general case, against autograd:

# %%
x = tc.randn(2, 4, 9, 8, dtype=tc.float64, requires_grad=True)
w = tc.randn(6, 2, 3, 2, dtype=tc.float64, requires_grad=True)   # groups=2: 4/2 inputs each
options = {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": 2}
y = F.conv2d(x, w, **options)
delta = tc.randn(*y.shape, dtype=tc.float64)
(y * delta).sum().backward()

# contract form: padding per side (top, bottom, left, right)
args = ((2, 1), (1, 1, 0, 0), (1, 2), 2)
gx = reference.conv2d_backward_input(delta.numpy(), w.detach().numpy(), x.shape, *args)
gw = reference.conv2d_backward_weight(x.detach().numpy(), delta.numpy(), w.shape, *args)
assert close(gx, x.grad) and close(gw, w.grad)

# %% [markdown]
# ## 7. An independent judge: `gradcheck`
#
# Everything above compared one formula with another piece of the same library. A bug shared by
# both would go unnoticed. **Finite differences** need no formula at all: nudge one input
# element by ±ε, re-run the forward pass, and measure
#
# $$\frac{\partial L}{\partial x_i}\approx\frac{L(x+\epsilon e_i)-L(x-\epsilon e_i)}{2\epsilon}$$
#
# `tc.testing.gradcheck` does this for every element (float64 is required: in float32 the
# rounding error swamps the tiny differences).

# %%
x = tc.randn(1, 2, 6, 5, dtype=tc.float64, requires_grad=True)
w = tc.randn(3, 2, 3, 3, dtype=tc.float64, requires_grad=True)
b = tc.randn(3, dtype=tc.float64, requires_grad=True)
assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), (x, w, b))
print("gradcheck passed for conv2d with stride 2 and padding 1")

# %% [markdown]
# Does the judge catch a wrong backward pass? Build a kernel set whose `conv2d_backward_input`
# "forgets" to rotate the kernel (we hand the reference an already rotated weight, which undoes
# its rotation), switch to it with `tc.use_kernels`, and run gradcheck again.

# %%
broken = types.ModuleType("forgot_to_rotate")
for name in ("conv2d_forward", "conv2d_backward_weight", "max_pool2d_forward",
             "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"):
    setattr(broken, name, getattr(reference, name))
broken.conv2d_backward_input = lambda grad_y, w, *rest: reference.conv2d_backward_input(
    grad_y, np.ascontiguousarray(w[:, :, ::-1, ::-1]), *rest)
tc.register_kernels("forgot_to_rotate", broken)

with tc.use_kernels("forgot_to_rotate"):
    try:
        gradcheck(lambda x, w: F.conv2d(x, w), (x, w))
        caught = None
    except GradcheckError as error:
        caught = error
print(caught)
assert caught is not None and "input 0" in str(caught)   # the input gradient is the wrong one

# %% [markdown]
# ## 8. Pooling backward is upsampling
#
# A pooling layer has no weights, but it must still pass δ down.
#
# - **Max pooling** outputs the largest element of each window. Locally that is `y = x[winner]`:
#   the derivative is 1 for the winner and 0 for the others. So δ is **routed to the argmax**.
# - **Average pooling** outputs `(1/k²) Σ window`: every element gets `δ / k²`. δ is **spread
#   evenly** — for non-overlapping windows that is nearest-neighbour upsampling divided by `k²`.

# %%
x = tc.tensor([[[[1., 5., 2., 0.],
                 [3., 2., 8., 1.],
                 [0., 7., 4., 4.],
                 [6., 1., 3., 9.]]]], dtype=tc.float64, requires_grad=True)
delta = tc.tensor([[[[10., 20.],
                     [30., 40.]]]], dtype=tc.float64)

y_max = F.max_pool2d(x, 2)
(y_max * delta).sum().backward()
print("max pool:", y_max.detach().numpy()[0, 0].tolist())
print("grad:\n", x.grad.numpy()[0, 0])
expected = np.zeros((4, 4))
expected[0, 1], expected[1, 2], expected[2, 1], expected[3, 3] = 10, 20, 30, 40  # the winners
assert close(x.grad[0, 0], expected)

# %%
x.grad = None
y_avg = F.avg_pool2d(x, 2)
(y_avg * delta).sum().backward()
upsampled = np.kron(delta.numpy()[0, 0], np.ones((2, 2))) / 4   # each δ copied to its 2x2 block
print("avg pool grad:\n", x.grad.numpy()[0, 0])
assert close(x.grad[0, 0], upsampled)

# %% [markdown]
# In `kernels/reference.py`, `max_pool2d_backward` is one line in four loops,
# `grad_x[..., indices[...]] += grad_y[...]` (the forward pass remembered each winner's
# position), and `avg_pool2d_backward` adds `grad_y / divisor` to a whole window. The `+=`
# matters when windows overlap (stride < kernel): an element that wins two windows receives
# both gradients. Gradcheck agrees (ties aside, max pooling is differentiable):

# %%
x = tc.randn(1, 1, 7, 7, dtype=tc.float64, requires_grad=True)
assert gradcheck(lambda x: F.max_pool2d(x, 3, stride=2), (x,))
assert gradcheck(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), (x,))

# %% [markdown]
# ## What you learned
#
# - `∂L/∂W = X ⋆ δ` and `∂L/∂X = full_corr(δ, rot180(W))`: the backward pass of a convolution
#   is two more convolutions, so the same fast kernels serve training.
# - Stride: dilate δ by `s`. Padding: crop `p` from the input gradient.
# - Finite differences (`gradcheck`, float64) are an independent oracle that catches a missing
#   rotation.
# - Pooling backward routes δ to the argmax (max) or spreads `δ/k²` (average): upsampling.
