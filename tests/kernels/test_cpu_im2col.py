"""The im2col + GEMM plan (``tinyconv.kernels.cpu.im2col``) against the reference, in each of its
ways of running: one sample range per thread or each step split over the threads, chunks of one
sample or of several, the strided (phase-split) im2col/col2im, and the 1×1/stride-1/unpadded
case that skips im2col. Test inputs are tiny, so the size thresholds that keep small calls on one
thread are set to 0 here: otherwise only the serial path would ever run.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tinyconv.kernels import cpu
from tinyconv.kernels.contract import conv_output_size
from tinyconv.kernels.cpu import _runtime, im2col
from tinyconv.kernels.cpu.problem import ConvProblem

from .helpers import batch_cases, check_conv_against_reference, threads_always_split


@contextlib.contextmanager
def chunks_of(kind: str):
    """``"one"``: every chunk is one sample; ``"several"``: the default column-matrix limit."""
    previous = im2col.COLUMN_BYTES_LIMIT
    if kind == "one":
        im2col.COLUMN_BYTES_LIMIT = 1
    try:
        yield
    finally:
        im2col.COLUMN_BYTES_LIMIT = previous


CHUNKS = pytest.mark.parametrize("chunks", ["one", "several"])


def _check_all_three(case):
    with cpu.force_plan("im2col"):
        check_conv_against_reference(case)


@CHUNKS
@given(case=batch_cases())
def test_im2col_on_two_threads_matches_reference(chunks, case):
    with threads_always_split(), chunks_of(chunks):
        _check_all_three(case)


@CHUNKS
@given(case=batch_cases(pointwise=True))
def test_pointwise_without_im2col_matches_reference(chunks, case):
    with threads_always_split(), chunks_of(chunks):
        _check_all_three(case)


@CHUNKS
@given(case=st.one_of(batch_cases(), batch_cases(pointwise=True)))
def test_im2col_on_one_thread_matches_reference(chunks, case):
    previous = _runtime.get_num_threads()
    cpu.set_num_threads(1)
    try:
        with chunks_of(chunks):
            _check_all_three(case)
    finally:
        cpu.set_num_threads(previous)


def test_samples_go_to_threads_from_two_per_thread():
    with threads_always_split():
        _check_sample_split()


def _check_sample_split():
    def geometry(x_shape, w_shape):
        return im2col._Conv(ConvProblem.checked("test", x_shape, w_shape, (1, 1), (0, 0, 0, 0),
                                                (1, 1), 1, np.float32))

    conv = geometry((3, 2, 5, 5), (4, 2, 3, 3))
    assert not conv.by_samples()  # 3 samples, 2 threads: each step is split instead
    conv = geometry((4, 2, 5, 5), (4, 2, 1, 1))
    assert conv.by_samples() and conv.pointwise


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 9), st.integers(1, 9),
       st.integers(0, 2**32 - 1))
def test_col2im_is_the_adjoint_of_im2col(sh, sw, h, w, seed):
    """``<im2col(x), d> == <x, col2im(d)>`` for every stride, padding and edge size: the phase
    split and its interleave cover each pixel exactly once."""
    rng = np.random.default_rng(seed)
    kh, kw, top, left = 3, 2, 1, 0
    h_out = conv_output_size(h, kh, sh, top, 1)
    w_out = conv_output_size(w, kw, sw, left, 0)
    assume(h_out >= 1 and w_out >= 1)  # the kernel fits in the padded input
    x = rng.standard_normal((2, 3, h, w))
    d = rng.standard_normal((3 * kh * kw, 2, h_out, w_out))
    cols = np.empty_like(d)
    im2col.im2col_kernel(x, cols, 0, kh, kw, sh, sw, 1, 1, top, left, 0, 6)
    grad_x = np.full_like(x, np.nan)  # every pixel must be written
    im2col.col2im_kernel(d, grad_x, 0, kh, kw, sh, sw, 1, 1, top, left, 0, 6)
    np.testing.assert_allclose(np.vdot(cols, d), np.vdot(x, grad_x), rtol=1e-10)
