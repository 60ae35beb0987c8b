// A planted bug for tests/cuda/test_sanitizers.py: conv2d_tiled.cu without its second
// __syncthreads(). A thread that finishes its window starts copying the next channel's patch
// while slower threads of its block still read the current one: a shared-memory race. The plain
// emulation gives wrong numbers (the fibers do run in that order); ThreadSanitizer names the race.

#define TILE 16
#define MAX_PATCH 48
#define MAX_TAPS 64

// Must match CONV2D_SHAPE in launch.py field for field (the same struct as in conv2d.cu).
struct Conv2dShape {
    int n, c_in, h, w;        // input x: (n, c_in, h, w)
    int c_out, h_out, w_out;  // output y: (n, c_out, h_out, w_out)
    int kh, kw;               // weight w: (c_out, c_in / groups, kh, kw)
    int sh, sw;               // stride
    int pad_top, pad_left;    // leading padding
    int dh, dw;               // dilation
    int groups;
};

template <typename T>
__device__ void conv2d_forward_tiled(const T* __restrict__ x, const T* __restrict__ w,
                                     T* __restrict__ y, const Conv2dShape s)
{
    __shared__ T patch[MAX_PATCH * MAX_PATCH];
    __shared__ T taps[MAX_TAPS];

    const int tiles_w = (s.w_out + TILE - 1) / TILE;
    const int tile_row = blockIdx.x / tiles_w, tile_col = blockIdx.x % tiles_w;
    const int co = blockIdx.y;
    const long long b = blockIdx.z;
    const int oh = tile_row * TILE + threadIdx.y, ow = tile_col * TILE + threadIdx.x;
    // Edge tiles hang over the output: those threads still help copy and still reach every
    // barrier (a barrier skipped by some threads of a block is undefined behaviour).
    const bool has_output = oh < s.h_out && ow < s.w_out;

    const int c_in_g = s.c_in / s.groups, c_out_g = s.c_out / s.groups;
    const int g = co / c_out_g;
    // The patch: input rows row0 .. row0 + patch_h - 1, columns col0 .. col0 + patch_w - 1.
    const int patch_h = (TILE - 1) * s.sh + s.dh * (s.kh - 1) + 1;
    const int patch_w = (TILE - 1) * s.sw + s.dw * (s.kw - 1) + 1;
    const int row0 = tile_row * TILE * s.sh - s.pad_top;
    const int col0 = tile_col * TILE * s.sw - s.pad_left;
    const int me = threadIdx.y * TILE + threadIdx.x;  // this thread's rank in the block

    T acc = 0;
    for (int ci = 0; ci < c_in_g; ++ci) {
        const T* x_plane = x + (b * s.c_in + g * c_in_g + ci) * s.h * (long long)s.w;
        // 1. Copy the patch (zeros in the padding) and the taps, all threads together.
        for (int p = me; p < patch_h * patch_w; p += TILE * TILE) {
            const int row = row0 + p / patch_w, col = col0 + p % patch_w;
            const bool inside = row >= 0 && row < s.h && col >= 0 && col < s.w;
            patch[p] = inside ? x_plane[(long long)row * s.w + col] : T(0);
        }
        for (int p = me; p < s.kh * s.kw; p += TILE * TILE)
            taps[p] = w[((long long)co * c_in_g + ci) * s.kh * s.kw + p];
        __syncthreads();  // 2. the patch is complete
        // 3. Each thread sums its window, read from shared memory.
        if (has_output)
            for (int ki = 0; ki < s.kh; ++ki)
                for (int kj = 0; kj < s.kw; ++kj)
                    acc += patch[(threadIdx.y * s.sh + ki * s.dh) * patch_w
                                 + threadIdx.x * s.sw + kj * s.dw] * taps[ki * s.kw + kj];
        // BUG: no __syncthreads() here
    }
    if (has_output)
        y[((b * s.c_out + co) * s.h_out + oh) * (long long)s.w_out + ow] = acc;
}

extern "C" __global__ void conv2d_forward_tiled_f32(const float* x, const float* w, float* y,
                                                    const Conv2dShape s)
{ conv2d_forward_tiled<float>(x, w, y, s); }

extern "C" __global__ void conv2d_forward_tiled_f64(const double* x, const double* w, double* y,
                                                    const Conv2dShape s)
{ conv2d_forward_tiled<double>(x, w, y, s); }
