"""Devices: the same ops, layers, optimizers and training step on every device (the ``device``
fixture: "cpu" here, "cuda" where a GPU is usable), DLPack, the one conversion point
``Tensor.to``, clear errors for mixed devices and for a missing GPU, and what ``tc.tensor``
accepts (issue 12)."""

from __future__ import annotations

import builtins
import sys

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import backend, nn
from tinyconv.nn import functional as F

RNG = np.random.default_rng(7)


def host(t: tc.Tensor) -> np.ndarray:
    """A tensor's values on the host, through the one conversion point."""
    return t.detach().cpu().numpy()


def fake_cuda(shape=(2, 3)) -> tc.Tensor:
    """A tensor that claims to live on the GPU: only the device checks look at it."""
    return tc.Tensor._from_array(np.ones(shape, np.float32), tc.Device("cuda"))


# -- the same results on every device ----------------------------------------------------------


def test_tensors_are_made_on_the_device(device):
    for t in (tc.zeros(2, 3, device=device), tc.randn(2, 3, device=device),
              tc.tensor([[1.0, 2.0]], device=device), tc.arange(4, device=device),
              tc.full((2,), 1.5, device=device), tc.eye(3, device=device)):
        assert t.device == device
        assert isinstance(t.data, np.ndarray) == (device == "cpu")


def test_random_draws_do_not_depend_on_the_device(device):
    tc.manual_seed(3)
    on_device = host(tc.randn(4, 5, device=device))
    tc.manual_seed(3)
    np.testing.assert_array_equal(on_device, tc.randn(4, 5).numpy())


def test_elementwise_ops_reductions_and_their_gradients(device):
    a_np, b_np = RNG.normal(size=(3, 4)), RNG.normal(size=(4,))
    a = tc.tensor(a_np, device=device, requires_grad=True)
    b = tc.tensor(b_np, device=device, requires_grad=True)
    y = ((a * b).exp() + a.tanh() - b.sigmoid() / 2).clamp(-3, 3) ** 2
    loss = y.sum() + a.amax(dim=1).mean() + a.var()
    loss.backward()
    assert a.grad.device == device and b.grad.device == device
    # the same computation on the CPU is the reference
    a_ref = tc.tensor(a_np, requires_grad=True)
    b_ref = tc.tensor(b_np, requires_grad=True)
    y_ref = ((a_ref * b_ref).exp() + a_ref.tanh() - b_ref.sigmoid() / 2).clamp(-3, 3) ** 2
    (y_ref.sum() + a_ref.amax(dim=1).mean() + a_ref.var()).backward()
    np.testing.assert_allclose(host(loss), host(y_ref.sum() + a_ref.amax(dim=1).mean()
                                                 + a_ref.var()), rtol=1e-12)
    np.testing.assert_allclose(host(a.grad), a_ref.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(b.grad), b_ref.grad.numpy(), rtol=1e-12)


def test_matmul_indexing_and_joining(device):
    x_np = RNG.normal(size=(2, 3, 4))
    x = tc.tensor(x_np, device=device, requires_grad=True)
    w = tc.ones(4, 5, dtype=tc.float64, device=device, requires_grad=True)
    picked = x[:, [0, 0, 2]]  # a repeated index: its gradient adds up
    joined = tc.cat([picked, x[:, 1:]], dim=1)
    out = tc.stack([joined @ w, tc.where(joined @ w > 0, joined @ w, 0.0)]).sum()
    out.backward()
    expected = np.zeros_like(x_np)
    mask = (np.concatenate([x_np[:, [0, 0, 2]], x_np[:, 1:]], axis=1) @ np.ones((4, 5)) > 0)
    row_grads = 5 + mask.sum(axis=2)  # d/dx of both stacked terms, per joined row
    np.add.at(expected, (slice(None), [0, 0, 2]), row_grads[:, :3, None] * np.ones(4))
    expected[:, 1:] += row_grads[:, 3:, None]
    np.testing.assert_allclose(host(x.grad), expected, rtol=1e-12)
    assert x.grad.device == device and w.grad.device == device


def test_comparisons_and_argmax_stay_on_the_device(device):
    x = tc.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], device=device)
    assert (x > 2).device == device and x.argmax(dim=1).device == device
    np.testing.assert_array_equal(host(x.argmax(dim=1)), [1, 0])
    values, indices = x.max(dim=0)
    np.testing.assert_array_equal(host(values), [7.0, 5.0, 3.0])
    assert indices.device == device and x.tolist() == [[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]


def _small_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5))


def test_a_layer_stack_forward_and_backward(device):
    tc.manual_seed(0)
    reference = _small_cnn().double()
    model = _small_cnn().double()
    model.load_state_dict(reference.state_dict())
    model.to(device)
    assert all(p.device == device and p.is_leaf for p in model.parameters())
    x_np = RNG.normal(size=(3, 2, 6, 6))
    out = model(tc.tensor(x_np, device=device))
    (out * out).sum().backward()
    out_ref = reference(tc.tensor(x_np))
    (out_ref * out_ref).sum().backward()
    np.testing.assert_allclose(host(out), host(out_ref), rtol=1e-10, atol=1e-12)
    for p, p_ref in zip(model.parameters(), reference.parameters(), strict=True):
        assert p.grad.device == device
        np.testing.assert_allclose(host(p.grad), p_ref.grad.numpy(), rtol=1e-9, atol=1e-12)
    running = dict(model.named_buffers())["1.running_mean"]
    assert running.device == device
    np.testing.assert_allclose(host(running), dict(reference.named_buffers())["1.running_mean"]
                               .numpy(), rtol=1e-12)


@pytest.mark.parametrize("make_optimizer", [
    lambda params: tc.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3),
    lambda params: tc.optim.Adam(params, lr=0.01, amsgrad=True),
    lambda params: tc.optim.RMSprop(params, lr=0.01, momentum=0.5),
], ids=["sgd", "adam", "rmsprop"])
def test_optimizer_steps_agree_across_devices(device, make_optimizer):
    start = RNG.normal(size=(3, 2))
    results = []
    for where in ("cpu", device):
        weight = nn.Parameter(tc.tensor(start, device=where))
        optimizer = make_optimizer([weight])
        for _ in range(3):
            optimizer.zero_grad()
            ((weight * weight).sum() + weight.abs().sum()).backward()
            optimizer.step()
        arrays = [v for state in optimizer.state.values() for v in state.values()
                  if getattr(v, "ndim", 0) > 0]
        assert weight.device == where and arrays
        assert all(isinstance(v, np.ndarray) == (where == "cpu") for v in arrays)
        results.append(host(weight))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)


def test_a_lenet5_training_step(device):
    tc.manual_seed(1)
    model = tc.models.LeNet5().to(device)
    optimizer = tc.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images, labels = tc.randn(8, 1, 32, 32), tc.randint(0, 10, (8,))
    loader = tc.data.DataLoader(tc.data.TensorDataset(images, labels), batch_size=8,
                                device=device)
    losses = []
    for _ in range(3):
        for x, y in loader:
            assert x.device == device and y.device == device
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    assert losses[-1] < losses[0]
    state = model.state_dict()
    assert all(t.device == device for t in state.values())


def test_the_cuda_emu_kernel_set_trains_lenet5_like_the_reference_kernels():
    """The CUDA kernels, run on the CPU through the emulation, give the reference kernels' step."""
    results = []
    for kernels in ("reference", "cuda-emu"):
        tc.manual_seed(2)
        model = tc.models.LeNet5()
        optimizer = tc.optim.SGD(model.parameters(), lr=0.1)
        x, y = tc.randn(2, 1, 32, 32), tc.tensor([3, 7])
        with tc.use_kernels(kernels):
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        results.append((loss.item(), [p.detach().numpy().copy() for p in model.parameters()]))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-5)
    for emulated, cpu in zip(results[1][1], results[0][1], strict=True):
        np.testing.assert_allclose(emulated, cpu, rtol=1e-4, atol=1e-5)


# -- moving between devices ----------------------------------------------------------------------


def test_to_is_differentiable_and_returns_self_when_nothing_changes(device):
    x = tc.tensor([1.0, -2.0, 3.0], requires_grad=True)
    assert x.to("cpu") is x and x.to(tc.float32) is x
    moved = x.to(device)
    assert moved.device == device
    (moved * moved).sum().backward()  # the gradient comes back to the CPU leaf
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -4.0, 6.0])


def test_to_device_and_dtype_together(device):
    x = tc.tensor([1, 2, 3])
    y = x.to(device, tc.float64)
    assert y.device == device and y.dtype == tc.float64
    assert x.cpu() is x and tc.tensor([1.0]).to(y).dtype == tc.float64
    copied = x.to(x.device, copy=True, non_blocking=True)
    assert copied is not x and copied.tolist() == x.tolist()


def test_dataloader_device_and_to_device(device):
    data = tc.data.TensorDataset(tc.arange(10).float().reshape(5, 2), tc.arange(5))
    batches = list(tc.data.DataLoader(data, batch_size=2, device=device))
    assert len(batches) == 3 and all(t.device == device for batch in batches for t in batch)
    nested = tc.data.to_device({"x": (tc.ones(2), [tc.zeros(1), "label"]), "n": 3}, device)
    assert nested["x"][0].device == device and nested["x"][1][0].device == device
    assert nested["x"][1][1] == "label" and nested["n"] == 3
    assert "device" in repr(tc.data.DataLoader(data, device="cpu"))


def test_module_to_keeps_parameters_and_gradients(device):
    layer = nn.Linear(3, 2)
    weight = layer.weight
    layer(tc.ones(1, 3)).sum().backward()
    layer.to(device)
    assert layer.weight is weight and weight.is_leaf and weight.requires_grad
    assert weight.grad is not None and weight.grad.device == device


# -- DLPack --------------------------------------------------------------------------------------


def test_dlpack_with_torch_shares_memory_both_ways():
    torch = pytest.importorskip("torch")
    ours = tc.tensor([[1.0, 2.0], [3.0, 4.0]])
    theirs = torch.from_dlpack(ours)
    theirs[0, 0] = 10.0  # one buffer: the change shows on our side
    assert ours.tolist() == [[10.0, 2.0], [3.0, 4.0]] and theirs.dtype == torch.float32
    source = torch.arange(6, dtype=torch.float64).reshape(2, 3)
    back = tc.from_dlpack(source)
    source[1, 2] = -1.0
    assert back.dtype == tc.float64 and back.shape == (2, 3) and back.device == "cpu"
    assert back.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, -1.0]]
    assert tc.from_dlpack(torch.tensor([1, 2])).dtype == tc.int64


def test_dlpack_device_and_numpy_arrays():
    assert tc.ones(2).__dlpack_device__() == (1, 0)  # DLPack's kDLCPU
    array = np.arange(4.0)
    view = tc.from_dlpack(array)
    array[0] = 9.0
    assert view.tolist() == [9.0, 1.0, 2.0, 3.0]


def test_dlpack_refuses_a_tensor_that_requires_grad_and_foreign_objects():
    with pytest.raises(RuntimeError, match="requires grad; use tensor.detach"):
        tc.ones(2, requires_grad=True).__dlpack__()
    with pytest.raises(TypeError, match="from_dlpack: expected an object with __dlpack__"):
        tc.from_dlpack([1, 2, 3])


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("call, op", [
    (lambda: tc.ones(2, 3) + fake_cuda(), "add"),
    (lambda: tc.ones(3, 2) @ fake_cuda(), "matmul"),
    (lambda: tc.cat([tc.ones(2, 3), fake_cuda()]), "cat"),
    (lambda: tc.where(tc.ones(2, 3) > 0, tc.ones(2, 3), fake_cuda()), "where"),
    (lambda: tc.ones(2, 3).copy_(fake_cuda()), "copy_"),
    (lambda: tc.ones(2, 3, requires_grad=True).backward(fake_cuda()), "backward"),
    (lambda: F.linear(tc.ones(2, 3), fake_cuda((4, 3))), "linear"),
], ids=["add", "matmul", "cat", "where", "copy_", "backward", "linear"])
def test_mixing_devices_is_an_error_naming_both(call, op):
    with pytest.raises(RuntimeError, match=rf"{op}: .*same device.*'cpu', 'cuda'"):
        call()


def test_a_cuda_tensor_is_not_silently_copied_to_numpy():
    with pytest.raises(TypeError,
                       match=r"numpy: can't convert a tensor on device 'cuda'.*\.cpu\(\)"):
        fake_cuda().numpy()
    with pytest.raises(TypeError, match="__array__"):
        np.asarray(fake_cuda())


@pytest.mark.skipif(tc.cuda.is_available(), reason="checks the message where no GPU is usable")
def test_without_a_gpu_cuda_is_one_clear_error():
    for call in (lambda: tc.zeros(2, device="cuda"), lambda: tc.ones(2).to("cuda"),
                 lambda: tc.tensor([1.0], device="cuda"), lambda: nn.Linear(2, 2).cuda(),
                 lambda: tc.data.DataLoader(tc.data.TensorDataset(tc.ones(2)), device="cuda"),
                 tc.cuda.synchronize):
        with pytest.raises(RuntimeError, match="no CUDA GPU is visible|needs CuPy"):
            call()
    assert tc.cuda.device_count() == 0


def test_without_cupy_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` now raises ImportError
    with pytest.raises(RuntimeError, match=r'needs CuPy.*pip install "tinyconv\[gpu\]".*'
                                           r'"tinyconv\[gpu-cuda12\]"'):
        tc.zeros(2, device="cuda")
    assert not tc.cuda.is_available() and tc.cuda.device_count() == 0


def test_tc_cuda_answers_like_torch_cuda():
    assert tc.cuda.is_available() == tc.cuda_available()
    assert isinstance(tc.cuda.device_count(), int)


# -- what tc.tensor accepts (issue 12) -------------------------------------------------------------


def test_tensor_from_a_range_as_in_pytorch():
    assert tc.tensor(range(4)).tolist() == [0, 1, 2, 3] and tc.tensor(range(4)).dtype == tc.int64
    assert tc.tensor(range(1, 6, 2), dtype=tc.float64).tolist() == [1.0, 3.0, 5.0]
    assert tc.tensor(range(0)).shape == (0,)


def test_tensor_from_another_librarys_array_keeps_its_dtype():
    torch = pytest.importorskip("torch")
    t = tc.tensor(torch.ones(2, 3, dtype=torch.float64))
    assert t.dtype == tc.float64 and t.shape == (2, 3) and t.device == "cpu"
    assert tc.tensor(torch.arange(3)).tolist() == [0, 1, 2]


@pytest.mark.parametrize("data, received", [
    ("abc", "str"), (None, "NoneType"), ({1: 2}, "dict"), ({1, 2}, "set"), (object(), "object"),
    (b"\x00", "bytes"),
])
@pytest.mark.parametrize("requested", ["cpu", "cuda"])  # the data is checked before the device
def test_tensor_from_unsupported_data_is_a_type_error(data, received, requested):
    with pytest.raises(TypeError, match=rf"tensor: cannot make a tensor from {received} .*"
                                        r"expected a number, a \(nested\) list"):
        tc.tensor(data, device=requested)


@pytest.mark.parametrize("data, error, message", [
    (["a", "b"], TypeError, r"tensor: cannot make a tensor from data of dtype <U1"),
    ([1.0, None], TypeError, r"tensor: cannot make a tensor from data of dtype object"),
    ([[1, 2], [3]], ValueError, r"tensor: the nested lists do not form a rectangular array"),
    (1 + 2j, TypeError, r"tensor: cannot make a tensor from data of dtype complex128"),
])
def test_tensor_from_bad_elements_names_the_problem(data, error, message):
    with pytest.raises(error, match=message):
        tc.tensor(data)


def test_builtins_are_not_shadowed_for_users():
    """``from tinyconv import *`` brings tc.sum/tc.max..., never tinyconv's own imports."""
    namespace: dict = {}
    exec("from tinyconv import *", namespace)
    assert "np" not in namespace and "builtins" not in namespace
    assert namespace["sum"] is tc.sum and builtins.sum([1, 2]) == 3
