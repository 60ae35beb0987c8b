"""Data types: NumPy's dtype objects under PyTorch's names.

``tc.float32`` *is* ``np.dtype("float32")``, so ``t.dtype == tc.float32`` and
``t.dtype == np.float32`` both hold, and CuPy (which uses NumPy's dtypes) needs no translation.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

__all__ = ["float16", "float32", "float64", "int32", "int64", "uint8", "bool", "as_dtype",
           "is_floating_dtype"]

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
uint8 = np.dtype("uint8")
bool = np.dtype("bool")  # noqa: A001 - tc.bool, as torch.bool (shadows the builtin in this module)

FLOAT_DTYPES = (float16, float32, float64)

# The spellings PyTorch accepts as strings, plus NumPy's own names.
_DTYPE_NAMES = {"float": float32, "float32": float32, "float64": float64, "double": float64,
                "float16": float16, "half": float16, "int64": int64, "long": int64,
                "int32": int32, "int": int32, "uint8": uint8, "bool": bool}


def as_dtype(dtype: Any) -> np.dtype | None:
    """``tc.float32``, ``np.float32`` or ``"float32"`` as a NumPy dtype (None stays None)."""
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in _DTYPE_NAMES:
        return _DTYPE_NAMES[dtype]
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"unknown dtype {dtype!r}; use tc.float32, tc.float64, tc.int64 or "
                        "tc.bool") from None


def is_floating_dtype(dtype: Any) -> builtins.bool:
    """True for float16, float32 and float64 (the dtypes that can carry a gradient)."""
    return np.dtype(dtype) in FLOAT_DTYPES

