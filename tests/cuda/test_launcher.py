"""The launchers (``kernels/cuda/launch.py``) and the emulator's checks of what reaches a kernel.

What a GPU never checks, caught here on the CPU: a wrong dtype, a non-contiguous array, a Python
float handed to a ``float`` parameter, a struct of the wrong size, an invalid launch, a barrier not
every thread reaches; and what the launchers must get right: empty batches, grid sizes past the
block cap, arrays on the wrong device, lazy compilation and the build cache.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import testing
from tinyconv.backend import cuda_available
from tinyconv.kernels import reference
from tinyconv.kernels.contract import check_kernel_set
from tinyconv.kernels.cuda import emulator, launch
from tinyconv.kernels.cuda.runtime import SOURCES, EmulatedRuntime

from ..kernels.helpers import assert_matches
from .conftest import needs_cxx

pytestmark = needs_cxx

HERE = Path(__file__).resolve().parent
OPTIONS = ((1, 1), (1, 1, 1, 1), (1, 1), 1)  # stride, padding, dilation, groups


@pytest.fixture(scope="module")
def runtime():
    """The emulated runtime with the test kernels (scale, divergent_barrier) added."""
    return EmulatedRuntime((*SOURCES, HERE / "kernels" / "scale.cu",
                            HERE / "kernels" / "divergent_barrier.cu"))


def _conv_arguments(dtype=np.float32):
    x = np.ones((1, 1, 4, 4), dtype)
    w = np.ones((1, 1, 3, 3), dtype)
    y = np.empty((1, 1, 2, 2), dtype)
    shape = np.zeros(1, launch.CONV2D_SHAPE)
    return x, w, y, shape


# ---- the contract's checks and dtype dispatch ---------------------------------------------------

def test_both_kernel_sets_satisfy_the_contract(emulated):
    import tinyconv.kernels.cuda as cuda_kernels

    check_kernel_set("cuda", cuda_kernels)
    check_kernel_set("cuda-emu", emulated)
    with tc.use_kernels("cuda-emu"):
        assert tc.backend.kernels_for("cpu") is emulated


def test_wrong_dtypes_and_shapes_are_refused_before_any_launch(emulated):
    x, w = np.ones((1, 3, 5, 5), np.float32), np.ones((2, 3, 3, 3), np.float64)
    with pytest.raises(TypeError, match="conv2d_forward: arguments must share one dtype"):
        emulated.conv2d_forward(x, w, *OPTIONS)
    with pytest.raises(TypeError, match="max_pool2d_forward: x must be float32 or float64"):
        emulated.max_pool2d_forward(x.astype(np.int32), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1),
                                    False)
    with pytest.raises(ValueError, match="input has 3 channels but weight expects 4"):
        emulated.conv2d_forward(x, np.ones((2, 4, 3, 3), np.float32), *OPTIONS)


@pytest.mark.parametrize("dtype, entry_point", [(np.float32, "conv2d_forward_f32"),
                                                (np.float64, "conv2d_forward_f64")])
def test_dtype_picks_the_entry_point(runtime, dtype, entry_point):
    kernel = runtime.get_function(entry_point)
    kernel.last_launch = None
    x, w = np.ones((1, 1, 5, 5), dtype), np.ones((1, 1, 3, 3), dtype)
    with launch.force_plan("direct"):
        y = launch.conv2d_forward(runtime, x, w, *OPTIONS)
    assert y.dtype == dtype and kernel.last_launch is not None


def test_the_emulator_refuses_what_the_gpu_would_misread(runtime):
    kernel = runtime.get_function("conv2d_forward_f32")
    x, w, y, shape = _conv_arguments()
    with pytest.raises(TypeError, match=r"argument 1 \(P:f:const\) points to float32, got a "
                                        r"float64 array"):
        kernel((1,), (32,), (x, w.astype(np.float64), y, shape))
    with pytest.raises(TypeError, match="not C-contiguous"):
        kernel((1,), (32,), (np.ones((1, 1, 4, 8), np.float32)[..., ::2], w, y, shape))
    with pytest.raises(TypeError, match="a 64-byte struct, got int64"):
        kernel((1,), (32,), (x, w, y, 1))
    with pytest.raises(TypeError, match="read-only"):
        y.flags.writeable = False
        kernel((1,), (32,), (x, w, y, shape))
    with pytest.raises(TypeError, match="takes 4 arguments"):
        kernel((1,), (32,), (x, w, y))


def test_non_contiguous_inputs_are_copied_by_the_launcher(emulated):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 14))[..., ::2]  # a strided view
    w = np.asfortranarray(rng.standard_normal((4, 3, 3, 3)))
    for plan in launch.PLANS:
        with launch.force_plan(plan):
            assert_matches(emulated.conv2d_forward(x, w, *OPTIONS),
                           reference.conv2d_forward(x, w, *OPTIONS), x, w)


# ---- launch configurations ----------------------------------------------------------------------

def test_empty_batch_launches_nothing(emulated, runtime):
    x = np.zeros((0, 2, 5, 5), np.float32)
    w = np.ones((4, 2, 3, 3), np.float32)
    grad_y = np.zeros((0, 4, 5, 5), np.float32)
    for plan in launch.PLANS:
        with launch.force_plan(plan):
            assert emulated.conv2d_forward(x, w, *OPTIONS).shape == (0, 4, 5, 5)
            assert emulated.conv2d_backward_input(grad_y, w, x.shape, *OPTIONS).shape == x.shape
            grad_w = emulated.conv2d_backward_weight(x, grad_y, w.shape, *OPTIONS)
            np.testing.assert_array_equal(grad_w, np.zeros(w.shape))  # a sum over no samples
    y, indices = emulated.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)
    assert y.shape == indices.shape == (0, 2, 2, 2) and indices.dtype == np.int64
    assert emulated.max_pool2d_backward(y, indices, x.shape).shape == x.shape
    y = emulated.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), False, True)
    assert emulated.avg_pool2d_backward(y, x.shape, (2, 2), (2, 2), (0, 0, 0, 0), False,
                                        True).shape == x.shape
    # and the emulator, like the driver, refuses the launch the launcher avoided
    kernel = runtime.get_function("conv2d_forward_f32")
    with pytest.raises(emulator.LaunchError, match="a grid or block dimension is 0"):
        kernel((0,), (256,), _conv_arguments())


def test_grid_size_for_a_large_output(runtime):
    x = np.ones((1, 1, 600, 600), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    kernel = runtime.get_function("conv2d_forward_f32")
    with launch.force_plan("direct"):
        y = launch.conv2d_forward(runtime, x, w, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    assert kernel.last_launch == ((-(-y.size // launch.THREADS), 1, 1), (launch.THREADS, 1, 1))
    np.testing.assert_array_equal(y, 9.0)


def test_grid_stride_loops_cover_outputs_beyond_the_block_cap(runtime, monkeypatch):
    """With at most 2 blocks of 256 threads, every thread handles many elements: every kernel's
    grid-stride loop must still cover the whole output, in every plan."""
    monkeypatch.setattr(launch, "MAX_BLOCKS", 2)
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (2, 4, 21, 23)).astype(np.float64)
    w = rng.integers(-3, 4, (6, 2, 3, 3)).astype(np.float64)
    options = ((1, 2), (1, 0, 2, 1), (2, 1), 2)
    y_expected = reference.conv2d_forward(x, w, *options)
    grad_y = rng.integers(-3, 4, y_expected.shape).astype(np.float64)
    for plan in launch.PLANS:
        with launch.force_plan(plan):
            assert_matches(launch.conv2d_forward(runtime, x, w, *options), y_expected)
            assert_matches(launch.conv2d_backward_input(runtime, grad_y, w, x.shape, *options),
                           reference.conv2d_backward_input(grad_y, w, x.shape, *options))
            assert_matches(launch.conv2d_backward_weight(runtime, x, grad_y, w.shape, *options),
                           reference.conv2d_backward_weight(x, grad_y, w.shape, *options))
    assert runtime.get_function("conv2d_forward_f64").last_launch[0] == (2, 1, 1)
    y, indices = launch.max_pool2d_forward(runtime, x, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1),
                                           False)
    expected_y, expected_indices = reference.max_pool2d_forward(x, (3, 3), (1, 1), (1, 1, 1, 1),
                                                                (1, 1), False)
    np.testing.assert_array_equal(indices, expected_indices)
    assert_matches(launch.max_pool2d_backward(runtime, y, indices, x.shape),
                   reference.max_pool2d_backward(expected_y, expected_indices, x.shape))
    pool = ((3, 2), (2, 1), (1, 0, 1, 1), True, False)
    y = launch.avg_pool2d_forward(runtime, x, *pool)
    assert_matches(y, reference.avg_pool2d_forward(x, *pool))
    assert_matches(launch.avg_pool2d_backward(runtime, y, x.shape, *pool),
                   reference.avg_pool2d_backward(y, x.shape, *pool))


def test_invalid_launches_are_refused(runtime):
    kernel = runtime.get_function("conv2d_forward_f32")
    with pytest.raises(emulator.LaunchError, match="block dimension is too large"):
        kernel((1,), (2048,), _conv_arguments())
    with pytest.raises(emulator.LaunchError, match="more than 1024 threads per block"):
        kernel((1,), (64, 32), _conv_arguments())
    with pytest.raises(emulator.LaunchError, match="grid dimension is too large"):
        kernel((1, 70000), (32,), _conv_arguments())


# ---- scalars ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_launcher_converts_a_python_float_to_the_kernels_dtype(runtime, dtype):
    x = np.arange(1000, dtype=dtype)
    y = np.empty_like(x)
    launch.launch_grid_stride(runtime, "scale", dtype, x.size, x, y, 2.5, x.size)
    np.testing.assert_array_equal(y, 2.5 * x)
    arguments = launch.kernel_arguments(dtype, (2.5, 7, True))
    assert [type(a) for a in arguments] == [np.dtype(dtype).type, np.int64, np.bool_]


def test_a_python_float_reaching_a_float_parameter_is_caught(runtime):
    x = np.arange(8, dtype=np.float32)
    y = np.full_like(x, -1.0)
    kernel = runtime.get_function("scale_f32")
    with pytest.raises(TypeError, match=r"argument 2 \(f\): the kernel reads a float32 \(4 "
                                        r"bytes\), got float64 \(8 bytes\)"):
        kernel((1,), (32,), (x, y, 2.5, np.int64(x.size)))
    # What CuPy would do: pass the double's 8 bytes, of which the kernel reads the first 4; for
    # 2.5 (0x4004000000000000) those are zeros, so alpha is 0.0 and y comes out all zeros.
    faithful = emulator.EmulatedModule(HERE / "kernels" / "scale.cu", strict=False)
    faithful.get_function("scale_f32")((1,), (32,), (x, y, 2.5, x.size))
    np.testing.assert_array_equal(y, 0.0)


# ---- devices, undefined behaviour, compilation --------------------------------------------------

def test_arrays_on_the_wrong_device_are_refused():
    pytest.importorskip("cupy")
    from tinyconv.kernels.cuda.runtime import CupyRuntime

    runtime = CupyRuntime()  # compiles nothing and needs no GPU until a kernel is asked for
    x, w = np.ones((1, 1, 5, 5), np.float32), np.ones((1, 1, 3, 3), np.float32)
    with pytest.raises(TypeError, match=r"conv2d_forward: x is a numpy.ndarray, but the 'cuda' "
                                        r"kernel set computes on cupy.ndarray arrays"):
        launch.conv2d_forward(runtime, x, w, *OPTIONS)


@pytest.mark.skipif(cuda_available(), reason="checks the message given where no GPU is usable")
def test_the_cuda_kernel_set_without_a_gpu_says_what_to_do():
    import tinyconv.kernels.cuda as cuda_kernels

    with pytest.raises(RuntimeError, match="cuda-emu"):
        cuda_kernels.conv2d_forward(np.ones((1, 1, 5, 5), np.float32),
                                    np.ones((1, 1, 3, 3), np.float32), *OPTIONS)


def test_a_barrier_not_every_thread_reaches_is_reported(runtime):
    with pytest.raises(emulator.KernelError, match="ended while 31 wait at __syncthreads"):
        runtime.get_function("divergent_barrier_f32")((1,), (32,), (np.zeros(32, np.float32),))


def test_nothing_is_compiled_or_imported_at_import_time():
    code = ("import sys, tinyconv, tinyconv.kernels.cuda, tinyconv.kernels.cuda.emulated\n"
            "from tinyconv.kernels.cuda import runtime\n"
            "assert 'cupy' not in sys.modules, 'cupy imported'\n"
            "assert not runtime._runtimes, 'a runtime was created'\n"
            "runtime.EmulatedRuntime()  # and creating one builds nothing yet\n"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_builds_are_cached_by_content_outside_the_source_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source = tmp_path / "scale.cu"
    source.write_text((HERE / "kernels" / "scale.cu").read_text())
    first = emulator.build(source)
    assert first.parent == tmp_path / "tinyconv" / "cuda-emu"
    assert emulator.build(source) == first  # the same content: the cached library
    source.write_text(source.read_text() + "\n// changed\n")
    second = emulator.build(source)
    assert second != first and second.exists()
    assert [p.suffix for p in first.parent.iterdir()] == [".so", ".so"]  # no leftovers


# ---- the plan heuristic --------------------------------------------------------------------------

def test_the_heuristic_picks_the_documented_plans(monkeypatch):
    none, unit = (0, 0, 0, 0), (1, 1)
    assert launch.plan_name((64, 1, 32, 32), (6, 1, 5, 5), unit, none, unit, 1) == "direct"  # R 25
    assert launch.plan_name((64, 6, 14, 14), (16, 6, 5, 5), unit, none, unit, 1) == "im2col"
    assert launch.plan_name((8, 4, 9, 9), (8, 1, 3, 3), unit, none, unit, 4) == "direct"  # groups
    assert launch.plan_name((8, 2, 9, 9), (8, 2, 1, 1), unit, none, unit, 1) == "im2col"  # 1×1
    # one thread per weight would leave a GPU idle: few weights, weight gradient by im2col
    assert launch.plan_name((64, 1, 32, 32), (6, 1, 5, 5), unit, none, unit, 1,
                            step="backward_weight") == "im2col"
    assert launch.plan_name((2, 21, 9, 9), (1024, 21, 1, 3), unit, none, unit, 1,
                            step="backward_weight") == "direct"  # 64,512 weights, R = 63
    monkeypatch.setattr(launch, "IM2COL_MAX_BYTES", 1000)  # a column buffer too large: direct
    assert launch.plan_name((64, 6, 14, 14), (16, 6, 5, 5), unit, none, unit, 1) == "direct"
    with pytest.raises(ValueError, match="unknown plan 'fast'"), launch.force_plan("fast"):
        pass


def test_a_forced_tiled_plan_leaves_problems_it_cannot_hold_to_the_direct_kernel(emulated):
    assert launch.tiled_applies((2, 3, 8, 8), (3, 2, 3, 3), (1, 1), (1, 1))
    assert not launch.tiled_applies((2, 3, 8, 8), (3, 2, 3, 3), (4, 1), (1, 1))  # 63-row patch
    assert not launch.tiled_applies((2, 3, 8, 8), (3, 2, 9, 9), (1, 1), (1, 1))  # 81 taps
    assert not launch.tiled_applies((70000, 3, 8, 8), (3, 2, 3, 3), (1, 1), (1, 1))  # grid z
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 12, 12))
    w = rng.standard_normal((3, 2, 9, 9))
    with launch.force_plan("tiled"):
        y = emulated.conv2d_forward(x, w, *OPTIONS)
    assert_matches(y, reference.conv2d_forward(x, w, *OPTIONS), x, w)


def test_the_gpu_benchmark_exits_cleanly_without_a_gpu():
    if cuda_available():
        pytest.skip("a GPU is present: run benchmarks/gpu.py itself")
    script = HERE.parents[1] / "benchmarks" / "gpu.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "skipped:" in result.stdout


def test_without_a_compiler_the_emulation_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(emulator.shutil, "which", lambda name: None)
    emulator._compiler.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"install g\+\+"):
            emulator.build(HERE / "kernels" / "scale.cu")
    finally:
        emulator._compiler.cache_clear()


def test_a_students_cu_file_is_graded_and_trained_with(monkeypatch):
    """A student's .cu file replaces the built-in conv2d_forward kernels; the kernel set bound to
    that runtime satisfies the contract, tinyconv.testing finds the planted mistake (dilation
    ignored), and the set can be registered and used like any other."""
    monkeypatch.setattr(tc.backend, "_KERNEL_SETS", dict(tc.backend._KERNEL_SETS))  # restored
    student = EmulatedRuntime((*SOURCES, HERE / "kernels" / "student_conv2d_forward.cu"))
    mine = launch.RuntimeKernelSet(student, name="student")
    check_kernel_set("student", mine)
    with launch.force_plan("direct"):
        with pytest.raises(AssertionError):
            testing.run_identity("conv2d_forward", mine, reference=reference)
        tc.register_kernels("student", mine)
        with tc.use_kernels("student"):  # without dilation the mistake does not show
            y = tc.nn.functional.conv2d(tc.ones(1, 1, 4, 4), tc.ones(1, 1, 3, 3))
        np.testing.assert_array_equal(y.numpy(), 9.0)


def test_a_runtime_factory_is_called_on_the_first_kernel_call_only():
    """The "cuda" set is bound to ``cupy_runtime`` this way: importing it needs no GPU."""
    from tinyconv.kernels.cuda.launch import RuntimeKernelSet
    from tinyconv.kernels.cuda.runtime import emulated_runtime

    calls = []

    def factory():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("no GPU")  # the first try fails: nothing is kept
        return emulated_runtime()

    kernels = RuntimeKernelSet(factory, name="lazy")
    assert calls == [] and kernels.__name__ == "lazy"
    x = np.ones((1, 1, 4, 4), np.float32)
    with pytest.raises(RuntimeError, match="no GPU"):
        kernels.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)
    y, _ = kernels.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)
    kernels.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False)
    assert y.shape == (1, 1, 2, 2) and len(calls) == 2  # made once it worked, then kept
