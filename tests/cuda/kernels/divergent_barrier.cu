// A __syncthreads() that thread 0 never reaches (it returns first): undefined behaviour on a GPU
// (a hang or garbage), reported by the emulator as a KernelError (tests/cuda/test_launcher.py).

extern "C" __global__ void divergent_barrier_f32(float* y)
{
    __shared__ float slot[32];
    if (threadIdx.x == 0) return;  // BUG: leaves the others waiting at the barrier below
    slot[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    y[threadIdx.x] = slot[31 - threadIdx.x];
}
