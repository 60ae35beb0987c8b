"""The identities of ``tinyconv.testing.identities`` hold for both kernel sets of the project.

Each identity is run by ``grading.run_identity``, i.e. under ``@given`` with the identity's own
argument strategy, on ``tinyconv.kernels.reference`` (NumPy loops) and ``tinyconv.kernels.cpu``
(Numba). The grading profile is ``quick``, or ``thorough`` with ``TINYCONV_HYPOTHESIS=thorough``.
The rest of the file checks the pieces the identities stand on: the oracle helpers against
SciPy, the output-size formulas against the contract, and the strategies' guarantees.
"""

import os

import numpy as np
import pytest
import scipy.signal
from hypothesis import given
from hypothesis import strategies as st

from tinyconv.kernels import contract, cpu, reference
from tinyconv.kernels.reference import rot180
from tinyconv.testing import checks, grading, identities
from tinyconv.testing.oracles import (
    conv_output_length,
    dilate,
    full_convolve2d,
    full_correlate2d,
    pool_output_length,
    valid_correlate2d,
)
from tinyconv.testing.strategies import (
    LAYOUTS,
    conv2d_cases,
    conv2d_configs,
    float_arrays,
    pool2d_cases,
    pool2d_configs,
    with_layout,
)

KERNEL_SETS = {"reference": reference, "cpu": cpu}
PROFILE = "thorough" if os.environ.get("TINYCONV_HYPOTHESIS") == "thorough" else "quick"

# Comparing the reference with itself could not fail: the identities that compare with a
# reference run on cpu only.
RUNS = [(impl, name) for impl in KERNEL_SETS for name in identities.IDENTITY_NAMES
        if not (impl == "reference" and identities.IDENTITIES[name].needs_reference)]


@pytest.mark.parametrize("impl, name", RUNS, ids=[f"{impl}-{name}" for impl, name in RUNS])
def test_identity_holds(impl, name):
    grading.run_identity(name, KERNEL_SETS[impl], reference=reference, profile=PROFILE,
                         max_examples=25)


def test_run_all_passes_on_the_cpu_kernels():
    passed = grading.run_all(cpu, reference=reference, max_examples=5)
    assert passed == list(identities.IDENTITY_NAMES)


# ---- the oracle helpers -------------------------------------------------------------------------

@st.composite
def image_and_kernel(draw):
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, h)), draw(st.integers(1, w))
    return draw(float_arrays((h, w), "float64")), draw(float_arrays((kh, kw), "float64"))


@given(image_and_kernel())
def test_correlation_helpers_match_scipy(arrays):
    image, kernel = arrays
    np.testing.assert_allclose(valid_correlate2d(image, kernel),
                               scipy.signal.correlate2d(image, kernel, mode="valid"), atol=1e-12)
    np.testing.assert_allclose(full_correlate2d(image, kernel),
                               scipy.signal.correlate2d(image, kernel, mode="full"), atol=1e-12)
    np.testing.assert_allclose(full_convolve2d(image, kernel),
                               scipy.signal.convolve2d(image, kernel, mode="full"), atol=1e-12)


def test_dilate_and_rot180():
    a = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(dilate(a, (2, 3)), [[1, 0, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4]])
    np.testing.assert_array_equal(rot180(a), [[4, 3], [2, 1]])


@given(st.integers(1, 30), st.integers(1, 6), st.integers(1, 4), st.integers(0, 3),
       st.integers(0, 3), st.integers(1, 3), st.booleans())
def test_output_length_formulas_match_the_contract(n, k, s, p_before, p_after, d, ceil_mode):
    assert conv_output_length(n, k, s, p_before, p_after, d) == contract.conv_output_size(
        n, k, s, p_before, p_after, d)
    assert (pool_output_length(n, k, s, p_before, p_after, d, ceil_mode)
            == contract.pool_output_size(n, k, s, p_before, p_after, d, ceil_mode))


def test_assert_close_reports_where_and_how_much():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    actual = np.array([[1.0, 2.0], [3.5, 4.0]])
    with pytest.raises(AssertionError,
                       match=r"1 of 4 entries wrong; largest error 0.5 at index \(1, 0\)"):
        checks.assert_close(actual, expected, what="demo")
    with pytest.raises(AssertionError, match="got shape"):
        checks.assert_close(np.zeros(3), np.zeros(4), what="demo")
    checks.assert_close(np.float32(1.0) + np.float32(1e-7), 1.0, bound=1.0, dtype="float32",
                            what="within rounding")


# ---- the strategies -----------------------------------------------------------------------------

@given(conv2d_configs())
def test_conv_configs_are_valid(config):
    assert contract.check_conv2d("test", config.x_shape, config.w_shape,
                                 **config.conv_kwargs) == config.y_shape


@given(conv2d_configs(max_batch=1, max_channels=2, max_size=5, max_kernel=2, max_stride=1,
                      allow_groups=False, allow_padding=False, allow_dilation=False,
                      dtypes=("float64",)))
def test_conv_config_bounds_are_respected(config):
    assert config.batch == 1 and config.c_in <= 2 and config.c_out <= 2 and config.groups == 1
    assert max(config.height, config.width) <= 5 and max(config.kernel) <= 2
    assert config.stride == config.dilation == (1, 1) and config.padding == (0, 0, 0, 0)
    assert config.dtype == "float64"


@given(conv2d_configs(depthwise=True))
def test_depthwise_configs(config):
    assert config.groups == config.c_in == config.c_out


@given(conv2d_configs(kernel_sizes=((3, 3), (5, 5)), max_stride=1, allow_dilation=False))
def test_kernel_sizes_draws_only_those_kernels(config):
    assert config.kernel in ((3, 3), (5, 5))
    assert contract.check_conv2d("test", config.x_shape, config.w_shape,
                                 *config.options) == config.y_shape


@given(conv2d_cases())
def test_options_are_the_contract_arguments_in_order(case):
    kwargs = case.config.conv_kwargs
    assert case.options == (kwargs["stride"], kwargs["padding"], kwargs["dilation"],
                            kwargs["groups"])


@given(pool2d_configs())
def test_pool_configs_are_valid(config):
    y_shape = contract.check_pool2d("test", config.x_shape, config.kernel, config.stride,
                                    config.padding, config.dilation, config.ceil_mode)
    assert y_shape == config.y_shape
    kernel_per_side = np.repeat(config.kernel, 2)
    assert all(p <= k // 2 for p, k in zip(config.padding, kernel_per_side, strict=True))


@given(pool2d_configs(non_overlapping=True))
def test_non_overlapping_pool_configs(config):
    assert config.stride[0] >= config.kernel[0] and config.stride[1] >= config.kernel[1]
    assert config.padding == (0, 0, 0, 0) and config.dilation == (1, 1)


@given(pool2d_cases())
def test_pool_cases_have_matching_shapes(case):
    assert case.x.shape == case.config.x_shape and case.grad_y.shape == case.config.y_shape
    assert case.x.dtype == case.grad_y.dtype == np.dtype(case.config.dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_keep_the_values(layout):
    values = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    laid_out = with_layout(values, layout)
    np.testing.assert_array_equal(laid_out, values)
    assert laid_out.flags.c_contiguous == (layout == "contiguous")
    assert not np.shares_memory(laid_out, values)


@given(float_arrays((3, 4), "float32", integer_valued=True, max_abs=2))
def test_integer_valued_arrays(a):
    assert a.dtype == np.float32 and a.shape == (3, 4)
    assert np.all(a == np.round(a)) and np.all(np.abs(a) <= 2)


@given(float_arrays((2, 3), "float64", positive=True))
def test_positive_arrays(a):
    assert np.all(a >= 1)
