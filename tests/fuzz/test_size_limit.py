"""The size limit: results larger than the configured limit are refused before allocation."""

import pytest

import tinyconv as tc
import tinyconv.nn.functional as F
from tinyconv.nn.functional._args import max_result_bytes, size_limit


def test_default_limit_is_the_machines_memory(monkeypatch):
    monkeypatch.delenv("TINYCONV_MAX_RESULT_GIB", raising=False)
    import os

    assert max_result_bytes() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_size_limit_refuses_with_the_op_shape_and_size():
    x, w = tc.randn(1, 3, 8, 8), tc.randn(4, 3, 3, 3)
    with size_limit(1e-6):  # about 1 KiB: the (1, 4, 6, 6) float32 output needs 576 bytes
        assert F.conv2d(x, w).shape == (1, 4, 6, 6)
        with pytest.raises(MemoryError, match=r"conv2d: the output of shape \(1, 4, 26, 26\) "
                                              r"\(float32\) would need 0\.0 GiB, more than the "
                                              r"limit of 0\.0 GiB"):
            F.conv2d(x, w, padding=10)
        with pytest.raises(MemoryError, match="Linear: the weight of shape"):
            tc.nn.Linear(100, 100)
    assert F.conv2d(x, w, padding=10).shape == (1, 4, 26, 26)  # the limit is gone again


def test_environment_variable_sets_the_limit(monkeypatch):
    monkeypatch.setenv("TINYCONV_MAX_RESULT_GIB", "0.5")
    assert max_result_bytes() == 2 ** 29
    monkeypatch.setenv("TINYCONV_MAX_RESULT_GIB", "lots")
    with pytest.raises(ValueError, match="TINYCONV_MAX_RESULT_GIB must be a number of GiB"):
        max_result_bytes()


def test_size_limit_must_be_positive():
    with pytest.raises(ValueError, match="size_limit: max_gib must be a finite number > 0"):
        with size_limit(0):
            pass
