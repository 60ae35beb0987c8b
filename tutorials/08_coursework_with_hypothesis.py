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
# # 08 · For teachers: grading kernels with properties
#
# A good exercise for a CNN course: *write the convolution kernels yourself*, forward and
# backward. Grading them with a handful of fixed examples is weak — a kernel that is wrong only
# when the padding is asymmetric, or only with a stride, slips through. `tinyconv.testing`
# grades with **properties** instead: the identities of convolution's calculus (tutorial 03),
# checked on many configurations drawn at random by
# [hypothesis](https://hypothesis.readthedocs.io). When a check fails, hypothesis **shrinks** the
# failure to the smallest example it can find, which tells the student exactly what is wrong.
#
# In this tutorial we play both roles:
#
# 1. a student writes a kernel module following the **kernel contract** — with a bug;
# 2. the teacher grades it with `tinyconv.testing.identities`, and hypothesis shrinks the bug;
# 3. the student fixes it, registers the module with `tc.register_kernels`, and trains with it;
# 4. the class's way: `tinyconv coursework new` hands the assignment out, `tinyconv grade` grades
#    it in a subprocess and writes the report (and the autograder's JSON).

# %%
import inspect
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
from hypothesis import Phase, given, settings

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.coursework import write_assignment
from tinyconv.kernels import cpu, reference
from tinyconv.kernels.contract import CONTRACT_FUNCTIONS, check_conv2d
from tinyconv.testing import GradcheckError, checks, gradcheck, grading, identities, strategies

# A reproducible profile for this tutorial: the same examples on every run, no example database
# written to disk, no time limit per example (a first call may compile a Numba kernel), and no
# "explain" phase after shrinking (it re-runs the test many times to report which lines only
# failing examples executed: useful, but slow).
settings.register_profile("tutorial", max_examples=25, derandomize=True, deadline=None,
                          database=None, print_blob=False,
                          phases=[p for p in Phase if p != Phase.explain])
settings.load_profile("tutorial")

# %% [markdown]
# ## 1. The contract
#
# A kernel set is any module with these seven functions, on plain NumPy arrays (see
# `kernels/contract.py` for the exact conventions: NCHW layout, padding given per side as
# `(top, bottom, left, right)`, stride and dilation as `(along H, along W)` pairs):

# %%
for name in CONTRACT_FUNCTIONS:
    print(" ", name)

# %% [markdown]
# ## 2. The student's module (first attempt)
#
# The assignment is the three convolution functions; pooling comes from tinyconv's own CPU
# kernels.
# The student writes the forward pass as loops over output positions, the weight gradient as
# "what each tap saw, weighted by δ", and the input gradient as the chain rule read directly:
# every output `(oh, ow)` sends `δ · w` back to the input window it read. The student works on a
# zero-padded copy of the input and crops at the end...


# %%
def student_conv2d_forward(x, w, stride, padding, dilation, groups):
    n, c_out, h_out, w_out = check_conv2d("student", x.shape, w.shape, stride, padding,
                                          dilation, groups)
    (sh, sw), (dh, dw), (top, bottom, left, right) = stride, dilation, padding
    cg, kh, kw = w.shape[1:]
    xp = np.pad(x, [(0, 0), (0, 0), (top, bottom), (left, right)])
    y = np.zeros((n, c_out, h_out, w_out), dtype=x.dtype)
    for co in range(c_out):
        g = co // (c_out // groups)                     # this filter's group
        for oh in range(h_out):
            for ow in range(w_out):
                window = xp[:, g * cg:(g + 1) * cg,
                            oh * sh:oh * sh + dh * (kh - 1) + 1:dh,
                            ow * sw:ow * sw + dw * (kw - 1) + 1:dw]
                y[:, co, oh, ow] = np.sum(window * w[co], axis=(1, 2, 3))
    return y


def student_conv2d_backward_weight(x, grad_y, w_shape, stride, padding, dilation, groups):
    (sh, sw), (dh, dw), (top, bottom, left, right) = stride, dilation, padding
    c_out, cg, kh, kw = w_shape
    h_out, w_out = grad_y.shape[2:]
    xp = np.pad(x, [(0, 0), (0, 0), (top, bottom), (left, right)])
    grad_w = np.zeros(w_shape, dtype=x.dtype)
    for co in range(c_out):
        g = co // (c_out // groups)
        for ki in range(kh):
            for kj in range(kw):
                seen = xp[:, g * cg:(g + 1) * cg,               # what tap (ki, kj) saw
                          ki * dh:ki * dh + (h_out - 1) * sh + 1:sh,
                          kj * dw:kj * dw + (w_out - 1) * sw + 1:sw]
                grad_w[co, :, ki, kj] = np.sum(seen * grad_y[:, co:co + 1], axis=(0, 2, 3))
    return grad_w


def scatter_gradients(grad_y, w, padded_shape, stride, dilation, groups):
    """The chain rule, read directly: each output sends δ · w back to the window it read."""
    (sh, sw), (dh, dw) = stride, dilation
    c_out, cg, kh, kw = w.shape
    grad_xp = np.zeros(padded_shape, dtype=grad_y.dtype)
    for co in range(c_out):
        g = co // (c_out // groups)
        for oh in range(grad_y.shape[2]):
            for ow in range(grad_y.shape[3]):
                delta = grad_y[:, co, oh, ow][:, None, None, None]
                grad_xp[:, g * cg:(g + 1) * cg,
                        oh * sh:oh * sh + dh * (kh - 1) + 1:dh,
                        ow * sw:ow * sw + dw * (kw - 1) + 1:dw] += delta * w[co]
    return grad_xp


def buggy_conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups):
    top, bottom, left, right = padding
    n, c_in, h, width = x_shape
    padded_shape = (n, c_in, top + h + bottom, left + width + right)
    grad_xp = scatter_gradients(grad_y, w, padded_shape, stride, dilation, groups)
    return grad_xp[:, :, :h, :width].copy()      # BUG: the crop should start at (top, left)


def make_module(name, backward_input):
    """Package the student's functions as a kernel module (pooling: tinyconv's CPU kernels)."""
    module = types.ModuleType(name)
    for f in CONTRACT_FUNCTIONS:
        setattr(module, f, getattr(cpu, f))
    module.conv2d_forward = student_conv2d_forward
    module.conv2d_backward_weight = student_conv2d_backward_weight
    module.conv2d_backward_input = backward_input
    return module


buggy = make_module("student_buggy", buggy_conv2d_backward_input)

# %% [markdown]
# The student tests it on the example from the lecture — no padding — and it works. Fixed
# examples are not enough:

# %%
x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
w = np.array([[[[1., 2.], [3., 4.]]]])
g = np.ones((1, 1, 3, 3))
args = ((1, 1), (0, 0, 0, 0), (1, 1), 1)
assert np.allclose(buggy.conv2d_forward(x, w, *args), reference.conv2d_forward(x, w, *args))
assert np.allclose(buggy.conv2d_backward_input(g, w, x.shape, *args),
                   reference.conv2d_backward_input(g, w, x.shape, *args))
print("the lecture's example passes")

# %% [markdown]
# ## 3. Grading with the identities
#
# `grading.run_identity(name, module)` checks one identity on configurations drawn by
# hypothesis (`identities.IDENTITY_NAMES` lists them all; `grading.run_all` runs every one).
# The forward pass and the weight gradient are correct:

# %%
for name in ("conv2d_forward", "weight_gradient", "adjoint_weight"):
    grading.run_identity(name, buggy)
    print(f"{name:>16}: passed  ({identities.IDENTITIES[name].statement})")

# %% [markdown]
# The input gradient is not. Hypothesis tries configurations until one fails, then *shrinks* it:
# it keeps simplifying (smaller sizes, fewer channels, stride 1, zero padding, small numbers)
# for as long as the check still fails. What is left is the essence of the bug.

# %%
try:
    grading.run_identity("input_gradient", buggy)
    failure = None
except AssertionError as error:
    failure = error
assert failure is not None, "the bug was not caught"
message = str(failure)
print(message[:400])
print("\n".join(getattr(failure, "__notes__", []))[:800])

# %% [markdown]
# To look at the shrunk example as data, write the same property as a hypothesis test of our
# own and remember the last failing case: after shrinking, hypothesis replays the minimal
# example last.

# %%
failing_cases = []


@given(strategies.conv2d_cases())
def input_gradient_property(case):
    try:
        checks.check_input_gradient(buggy, case)
    except AssertionError:
        failing_cases.append(case)
        raise


try:
    input_gradient_property()
except AssertionError:
    pass
smallest = failing_cases[-1]
print(smallest.config)
print("x =", smallest.x.tolist(), " w =", smallest.w.tolist(), " δ =", smallest.grad_y.tolist())

# %% [markdown]
# A one-pixel image, a 1×1 kernel, one channel, stride 1, and a single row or column of padding
# on the **top or left**: exactly the case where cropping from `(0, 0)` instead of
# `(top, left)` goes wrong (the student returned the gradient of the padding pixel).
# Any larger example would only hide that.

# %%
cfg = smallest.config
top, bottom, left, right = cfg.padding
assert (cfg.batch, cfg.c_in, cfg.c_out, cfg.groups) == (1, 1, 1, 1)
assert cfg.stride == (1, 1) and cfg.dilation == (1, 1)
assert top + left == 1 and bottom + right == 0                 # one leading pad, nothing else
assert cfg.height * cfg.width <= 2

# %% [markdown]
# The independent oracle agrees: plug the module into tinyconv with `tc.register_kernels`, so
# that `F.conv2d` and its backward pass run the student's code, and run `gradcheck` with
# padding.

# %%
tc.register_kernels("student_buggy", buggy)
xt = tc.randn(1, 1, 4, 4, dtype=tc.float64, requires_grad=True)
wt = tc.randn(1, 1, 3, 3, dtype=tc.float64, requires_grad=True)
with tc.use_kernels("student_buggy"):
    assert gradcheck(lambda x, w: F.conv2d(x, w), (xt, wt))        # no padding: fine
    try:
        gradcheck(lambda x, w: F.conv2d(x, w, padding=1), (xt, wt))
        caught = False
    except GradcheckError as error:
        caught = True
        print(error)
assert caught

# %% [markdown]
# ## 4. The fix, and the full grade
#
# Crop the padding from where it really is: rows `top .. top + H`, columns `left .. left + W`.


# %%
def fixed_conv2d_backward_input(grad_y, w, x_shape, stride, padding, dilation, groups):
    top, bottom, left, right = padding
    n, c_in, h, width = x_shape
    padded_shape = (n, c_in, top + h + bottom, left + width + right)
    grad_xp = scatter_gradients(grad_y, w, padded_shape, stride, dilation, groups)
    return grad_xp[:, :, top:top + h, left:left + width].copy()


fixed = make_module("student_fixed", fixed_conv2d_backward_input)

# %% [markdown]
# The final grade: every identity, plus `matches_reference` (the same outputs as
# `kernels/reference.py` on drawn configurations). `run_all` returns the names that passed and
# raises one `AssertionError` listing every failure otherwise. A course would put this in a
# pytest file, one test per identity (see the docstring of `tinyconv/testing/grading.py`).

# %%
passed = grading.run_all(fixed, reference=reference, max_examples=10)
print(f"{len(passed)} identities passed:", ", ".join(passed))
assert len(passed) == len(identities.IDENTITY_NAMES)

# %% [markdown]
# The buggy module, graded on the convolution identities, fails exactly those that involve the
# input gradient — the report tells the student where to look:

# %%
conv_identities = ("conv2d_forward", "weight_gradient", "input_gradient", "adjoint_input",
                   "adjoint_weight", "linearity_in_input", "matches_reference")
try:
    grading.run_all(buggy, reference=reference, max_examples=10, shrink=False,
                    names=conv_identities)
except AssertionError as error:
    report = str(error)
failed = [name for name in conv_identities if f"- {name} (" in report]
print("failed:", failed)
assert "input_gradient" in failed and "adjoint_input" in failed
assert "conv2d_forward" not in failed and "weight_gradient" not in failed
assert "linearity_in_input" not in failed

# %% [markdown]
# Finally, the student's kernels drive real training: register the module, switch to it, and
# take a few SGD steps on LeNet-5 — the loss goes down, computed entirely by the student's loops.

# %%
tc.register_kernels("student", fixed)
tc.manual_seed(0)
model = tc.models.lenet5()
optimizer = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
images, labels = tc.data.digits(train=True, size=32).tensors
images, labels = images[:64], labels[:64]
losses = []
with tc.use_kernels("student"):
    assert tc.get_kernels_name() == "student"
    for _step in range(8):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
print("losses with the student's kernels:", [round(v, 3) for v in losses])
assert losses[-1] < losses[0]
assert tc.get_kernels_name() == "cpu"

# %% [markdown]
# ## 5. A graded class: `tinyconv coursework` and `tinyconv grade`
#
# Everything above is what the grader does for a whole class, from the command line. tinyconv
# ships seven assignments (conv forward, its two backward passes, pooling, Numba, a new op, CUDA C
# on a CPU emulation, LeNet-5 with your own kernels); `tinyconv coursework new NAME DIR` writes a
# student's file (signatures, docstrings with shapes and identities, `NotImplementedError`
# bodies) and its statement; `tinyconv grade DIR` runs the student's code **in a subprocess**,
# with a time and memory limit per property (a hang or a segfault fails that property, not the
# grader), checks the contract first (names, signatures, shapes, dtypes, inputs left alone, no
# views returned), then each identity, and prints a report; `--json` writes the autograder
# format Gradescope and GitHub Classroom read. The same seed gives the same counterexample.
#
# The student hands in the two backward passes from section 2, the buggy crop included:

# %%
homework = Path(tempfile.mkdtemp()) / "hw2"
student_file, statement = write_assignment("conv-backward", homework)
print(statement.read_text().splitlines()[0])


def hand_in(backward_input) -> None:
    """Write the student's file: the marker line, the imports, and the student's functions."""
    functions = [scatter_gradients, student_conv2d_backward_weight, backward_input]
    source = "\n\n".join(inspect.getsource(f) for f in functions)
    source = (source.replace(f"def {backward_input.__name__}(", "def conv2d_backward_input(")
              .replace("def student_conv2d_backward_weight(", "def conv2d_backward_weight("))
    student_file.write_text("# tinyconv assignment: conv-backward\nimport numpy as np\n\n\n"
                            + source)


def grade(*options: str) -> subprocess.CompletedProcess:
    """``tinyconv grade`` (as the shell would run it), two properties to keep this page quick."""
    command = [sys.executable, "-m", "tinyconv", "grade", str(homework), "--only",
               "input_gradient", "weight_gradient", *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


hand_in(buggy_conv2d_backward_input)
run = grade("--json", str(homework / "results.json"))
print(run.stdout)
assert run.returncode == 1

# %% [markdown]
# The report names the function at fault, shows the smallest failing call with the expected and
# received arrays, where they first differ, and *when* it fails: "wrong only when padding > 0" —
# the grader re-ran the property without padding and it passed. A crop that starts at 0 instead
# of at the padding is exactly that. The JSON file is what an autograder uploads:

# %%
results = json.loads((homework / "results.json").read_text())
print({test["name"]: f"{test['score']}/{test['max_score']}" for test in results["tests"]})
assert "function at fault: conv2d_backward_input" in run.stdout
assert "wrong only when padding > 0" in run.stdout
assert results["tests"][0]["status"] == "failed" and results["tests"][1]["status"] == "passed"

# %% [markdown]
# With the fix handed in, the grade passes and `tinyconv grade` exits with status 0:

# %%
hand_in(fixed_conv2d_backward_input)
run = grade()
print(run.stdout.splitlines()[-1])
assert run.returncode == 0

# %% [markdown]
# ## What you learned
#
# - The kernel contract: seven functions on plain arrays; `tc.register_kernels(name, module)`
#   and `tc.use_kernels(name)` run every conv/pool op with any implementation.
# - `tinyconv.testing.grading` checks a module against the identities of
#   `tinyconv.testing.identities` on hypothesis-drawn configurations: `run_identity` for one,
#   `run_all` for several, `grade` for one structured result per property.
# - Hypothesis shrinks a failure to its essence (here: a 1×1 kernel with one leading pad), and
#   `gradcheck` confirms it independently.
# - For a class: `tinyconv coursework new NAME DIR` hands out an assignment, `tinyconv grade DIR`
#   grades it in a subprocess and explains each failure (`--json` for an autograder).
