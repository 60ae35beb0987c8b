"""tinyconv's kernels: convolution and pooling on plain arrays (installed as ``tinyconv.kernels``).

- ``tinyconv.kernels.reference``: plain NumPy loops, the readable specification of every kernel.
- ``tinyconv.kernels.cpu``: Numba kernels (``njit(parallel=True, cache=True)``), the CPU default.
- ``tinyconv.kernels.cuda``: CUDA C kernels (``*.cu``) launched through CuPy, the GPU default; the
  same ``.cu`` files also run on the CPU through an emulation harness (kernel set ``"cuda-emu"``),
  so they are tested on machines without a GPU.
- ``tinyconv.kernels.contract``: what a kernel set is (the typed ``KernelSet`` protocol, and its
  optional ``FusedBatchNorm`` part), the shared output-size formulas and argument checks.

Kernel modules are imported lazily by ``tinyconv.backend`` so that ``import tinyconv`` does not pay
for Numba compilation it may never need.
"""
