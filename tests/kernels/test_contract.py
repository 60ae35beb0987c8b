"""The kernel-set protocol (``tinyconv.kernels.contract.KernelSet`` and its optional
``FusedBatchNorm``) and the check ``tc.register_kernels`` runs with it."""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

import tinyconv as tc
from tinyconv import backend
from tinyconv.kernels import contract, cpu, reference


def _copy_of(kernels, name: str = "student_kernels") -> types.ModuleType:
    """A module with the seven functions of ``kernels`` (to break one at a time)."""
    module = types.ModuleType(name)
    for function in contract.CONTRACT_FUNCTIONS:
        setattr(module, function, getattr(kernels, function))
    return module


def test_contract_functions_are_the_protocols_seven_in_order():
    assert contract.CONTRACT_FUNCTIONS == (
        "conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
        "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward")


@pytest.mark.parametrize("kernels", [reference, cpu], ids=["reference", "cpu"])
def test_the_shipped_kernel_sets_satisfy_the_protocol(kernels):
    contract.check_kernel_set("shipped", kernels)
    for function in contract.CONTRACT_FUNCTIONS:  # the same names, in the same order
        declared = list(inspect.signature(getattr(contract.KernelSet, function)).parameters)[1:]
        assert list(inspect.signature(getattr(kernels, function)).parameters) == declared


@pytest.mark.parametrize("name", sorted(backend._KERNEL_SETS))
def test_every_registered_kernel_set_satisfies_the_protocol(name):
    """The built-in sets by name (``cuda`` and ``cuda-emu`` included: their modules import
    without a GPU) and any a test registered."""
    module = backend._KERNEL_SETS[name]
    if isinstance(module, str):
        try:
            module = importlib.import_module(module)
        except ImportError as error:
            pytest.skip(f"{name}: {error}")
    contract.check_kernel_set(name, module)


def test_the_optional_batch_norm_is_found_where_it_exists():
    assert contract.optional_batch_norm(cpu) is cpu.batch_norm
    assert contract.optional_batch_norm(reference) is None
    contract.check_kernel_set("cpu", cpu)  # checks cpu.batch_norm against FusedBatchNorm too


def test_a_module_missing_a_function_is_rejected_with_its_name():
    module = _copy_of(reference)
    del module.max_pool2d_backward
    with pytest.raises(TypeError, match=r"kernel set 'mine' \(student_kernels\) is missing "
                                        r"\['max_pool2d_backward'\]"):
        tc.register_kernels("mine", module)


def test_a_function_with_a_missing_parameter_is_rejected():
    module = _copy_of(reference)
    module.conv2d_backward_input = lambda grad_y, w, x_shape, stride, padding, dilation: None
    with pytest.raises(TypeError, match=r"kernel set 'mine' \(student_kernels\): "
                                        r"conv2d_backward_input\(grad_y, w, x_shape, stride, "
                                        r"padding, dilation\) cannot be called as "
                                        r"conv2d_backward_input\(grad_y, w, x_shape, stride, "
                                        r"padding, dilation, groups\)"):
        contract.check_kernel_set("mine", module)


def test_swapped_parameters_are_rejected_naming_the_position():
    module = _copy_of(reference)

    def conv2d_backward_weight(grad_y, x, w_shape, stride, padding, dilation, groups):
        return None

    module.conv2d_backward_weight = conv2d_backward_weight
    with pytest.raises(TypeError, match="conv2d_backward_weight.*parameter 1 is named 'grad_y', "
                                        "the contract names it 'x'"):
        contract.check_kernel_set("mine", module)


def test_an_extra_required_parameter_is_rejected():
    module = _copy_of(reference)
    module.avg_pool2d_forward = (lambda x, kernel, stride, padding, ceil_mode, count_include_pad,
                                 divisor: None)
    with pytest.raises(TypeError, match="avg_pool2d_forward.*missing a required argument"):
        contract.check_kernel_set("mine", module)


def test_a_non_callable_is_rejected():
    module = _copy_of(reference)
    module.max_pool2d_forward = "not a function"
    with pytest.raises(TypeError, match="max_pool2d_forward must be a callable, got str"):
        contract.check_kernel_set("mine", module)


def test_wrappers_that_forward_their_arguments_are_accepted():
    """A spy or a wrapper taking ``*args`` (and defaults beyond the contract's) can stand in."""
    module = _copy_of(reference)
    module.conv2d_forward = lambda *args, **kwargs: reference.conv2d_forward(*args, **kwargs)
    module.max_pool2d_backward = lambda grad_y, indices, x_shape, check=True: None
    contract.check_kernel_set("mine", module)


def test_a_batch_norm_part_with_the_wrong_signature_is_rejected():
    module = _copy_of(reference)
    module.batch_norm = types.SimpleNamespace(forward=cpu.batch_norm.forward,
                                              backward=lambda grad_y3, x3: None)
    with pytest.raises(TypeError, match=r"batch_norm.backward\(grad_y3, x3\) cannot be called "
                                        r"as batch_norm.backward\(grad_y3, x3, mean, inv_std, "
                                        r"weight\)"):
        tc.register_kernels("mine", module)
    module.batch_norm = types.SimpleNamespace(forward=cpu.batch_norm.forward,
                                              backward=cpu.batch_norm.backward)
    with pytest.raises(TypeError, match=r"batch_norm.inference must be a callable"):
        tc.register_kernels("mine", module)  # the eval-mode pass is part of the optional part
    module.batch_norm.inference = cpu.batch_norm.inference
    tc.register_kernels("mine", module)
    assert contract.optional_batch_norm(module) is module.batch_norm
