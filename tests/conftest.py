"""Test configuration: hypothesis profiles.

- ``ci`` (default): few examples, derandomized (the same examples every run), no deadline, since
  the first example of a test may include Numba compiling a kernel.
- ``thorough``: many more examples, random. Select it with ``TINYCONV_HYPOTHESIS=thorough pytest``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "thorough", max_examples=500, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("TINYCONV_HYPOTHESIS", "ci"))
