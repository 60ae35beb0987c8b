// A planted bug for tests/cuda/test_sanitizers.py: max-pool backward with one thread per *output*
// and a plain `+=`. Overlapping windows route several δ to one input element, so two threads
// read-modify-write the same address: a lost update on a GPU. Run one thread at a time, as the
// plain emulation does, it gives the right answer; ThreadSanitizer reports the race.
// (pool2d.cu avoids it with one thread per plane; atomicAdd would too.) grad_x must start at 0.

struct Pool2dShape {
    int n, c, h, w;
    int h_out, w_out;
    int kh, kw;
    int sh, sw;
    int pad_top, pad_bottom, pad_left, pad_right;
    int dh, dw;
    int count_include_pad;
};

template <typename T>
__device__ void max_pool2d_backward_racy(const T* __restrict__ grad_y,
                                         const long long* __restrict__ indices,
                                         T* __restrict__ grad_x, const Pool2dShape s)
{
    const long long out_plane = (long long)s.h_out * s.w_out, in_plane = (long long)s.h * s.w;
    const long long total = (long long)s.n * s.c * out_plane;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x)
        grad_x[i / out_plane * in_plane + indices[i]] += grad_y[i];  // BUG: not atomic
}

extern "C" __global__ void max_pool2d_backward_racy_f32(const float* grad_y,
                                                        const long long* indices, float* grad_x,
                                                        const Pool2dShape s)
{ max_pool2d_backward_racy<float>(grad_y, indices, grad_x, s); }
