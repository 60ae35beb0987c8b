"""Test configuration: hypothesis profiles.

- ``ci`` (default): few examples, derandomized (the same examples every run), no deadline, since
  the first example of a test may include Numba compiling a kernel.
- ``thorough``: many more examples, random. Select it with ``TINYCONV_HYPOTHESIS=thorough pytest``.

The ``device`` fixture runs a test once per device: ``"cpu"`` always, ``"cuda"`` (marked ``gpu``)
where CuPy sees a GPU, skipped with the reason otherwise.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from tinyconv.backend import cuda_available

settings.register_profile(
    "ci", max_examples=25, derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "thorough", max_examples=500, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("TINYCONV_HYPOTHESIS", "ci"))


# session scope: the fixture holds a name, no state, and hypothesis tests may use it
@pytest.fixture(scope="session", params=["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU: CuPy is not installed or "
                                                    "cupy.is_available() is False")])])
def device(request: pytest.FixtureRequest) -> str:
    """The device a test runs on: "cpu", then "cuda" where a GPU is usable."""
    return request.param
