// pool2d.cu -- max and average pooling, forward and backward.
//
// Read these next to kernels/reference.py (max_pool2d_*, avg_pool2d_*) and kernels/cpu/pool.py.
// x: (N, C, H, W), y and grad_y (δ): (N, C, H_out, W_out). Window (oh, ow) has its corner at row
// oh*sH - top, column ow*sW - left of the unpadded input (negative inside the leading padding).
// Every kernel: a grid-stride loop with 64-bit indices, one thread per element it writes, no
// atomics (the same result every run). Arrays are C-contiguous (the launcher makes them so).
//
// No #include: nvcc, NVRTC and the CPU emulation all compile it.

// Must match POOL2D_SHAPE in launch.py field for field (the emulator checks its size).
struct Pool2dShape {
    int n, c, h, w;              // input x: (n, c, h, w)
    int h_out, w_out;            // output y: (n, c, h_out, w_out)
    int kh, kw;                  // window
    int sh, sw;                  // stride
    int pad_top, pad_bottom, pad_left, pad_right;
    int dh, dw;                  // dilation (max pooling only; 1 for average pooling)
    int count_include_pad;       // average pooling: 1 = padding counts in the divisor
};

// ---- max pooling, forward ----------------------------------------------------------------------
//
//   y[b, c, oh, ow]       = max over ki, kj of x[b, c, oh*sH - top + ki*dH, ow*sW - left + kj*dW]
//   indices[b, c, oh, ow] = row * W + col of that maximum (a flat offset into its plane)
//
// Padding never wins (it acts as -inf): only real elements compete. Ties go to the first element
// in row-major window order (a later one must be strictly greater), a NaN always takes over (NaN
// propagates), exactly as in the reference and in PyTorch. One thread per output element.
template <typename T>
__device__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ y,
                                   long long* __restrict__ indices, const Pool2dShape s)
{
    const long long total = (long long)s.n * s.c * s.h_out * s.w_out;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        const int ow = (int)(i % s.w_out);
        const int oh = (int)(i / s.w_out % s.h_out);
        const long long plane = i / ((long long)s.w_out * s.h_out);  // b * C + c
        const T* x_plane = x + plane * s.h * (long long)s.w;

        T best = 0;
        long long best_index = -1;  // no real element seen yet
        for (int ki = 0; ki < s.kh; ++ki) {
            const int row = oh * s.sh - s.pad_top + ki * s.dh;
            if (row < 0 || row >= s.h) continue;  // padding (or past the input in ceil_mode)
            for (int kj = 0; kj < s.kw; ++kj) {
                const int col = ow * s.sw - s.pad_left + kj * s.dw;
                if (col < 0 || col >= s.w) continue;
                const T value = x_plane[(long long)row * s.w + col];
                if (best_index < 0 || value > best || isnan(value)) {
                    best = value;
                    best_index = (long long)row * s.w + col;
                }
            }
        }
        // The contract's check_pool2d guarantees that every window holds a real element.
        y[i] = best;
        indices[i] = best_index;
    }
}

// ---- max pooling, backward ---------------------------------------------------------------------
//
//   grad_x[b, c, indices[b, c, oh, ow]] += δ[b, c, oh, ow]     for every (oh, ow)
//
// Overlapping windows can send several δ to one element, so one thread per *output* would need
// atomicAdd (and float sums in a different order each run). The gather that avoids it (one thread
// per input element, looping over the windows that contain it) needs the window geometry, which
// the contract's max_pool2d_backward(grad_y, indices, x_shape) does not receive. So: one thread
// per (b, c) plane, which owns its whole plane of grad_x: it zeroes it, then replays the plane's
// outputs in order. No atomics, no races, and the same order of additions as the reference.
// (Parallelism is N*C threads, each doing H_out*W_out cheap additions.)
template <typename T>
__device__ void max_pool2d_backward(const T* __restrict__ grad_y,
                                    const long long* __restrict__ indices,
                                    T* __restrict__ grad_x, const Pool2dShape s)
{
    const long long planes = (long long)s.n * s.c;
    const long long in_plane = (long long)s.h * s.w, out_plane = (long long)s.h_out * s.w_out;
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < planes;
         p += (long long)blockDim.x * gridDim.x) {
        T* gx = grad_x + p * in_plane;
        for (long long j = 0; j < in_plane; ++j) gx[j] = 0;
        for (long long o = p * out_plane; o < (p + 1) * out_plane; ++o)
            gx[indices[o]] += grad_y[o];
    }
}

// ---- average pooling: one axis of a window -----------------------------------------------------
//
// PyTorch's rule (the reference's _avg_pool_window): a window starting at `start` covers
// [start, start + k). Its real elements are [first, stop); its length clipped to the padded
// extent [-pad_before, size + pad_after) is `padded` (a ceil_mode window hanging past the padding
// never counts that part, not even with count_include_pad).
struct Window {
    int first, stop, padded;
};

__device__ inline Window avg_pool_window(int start, int k, int size, int pad_after)
{
    const int end_in_padding = min(start + k, size + pad_after);
    Window win;
    win.first = max(start, 0);
    win.stop = min(end_in_padding, size);
    win.padded = end_in_padding - start;
    return win;
}

// The divisor of window (oh, ow): its area within the padded input with count_include_pad,
// else the number of real elements in it.
__device__ inline int avg_pool_divisor(int oh, int ow, const Pool2dShape s)
{
    const Window rows = avg_pool_window(oh * s.sh - s.pad_top, s.kh, s.h, s.pad_bottom);
    const Window cols = avg_pool_window(ow * s.sw - s.pad_left, s.kw, s.w, s.pad_right);
    if (s.count_include_pad) return rows.padded * cols.padded;
    return (rows.stop - rows.first) * (cols.stop - cols.first);
}

// ---- average pooling, forward ------------------------------------------------------------------
//
//   y[b, c, oh, ow] = (sum of the window's real elements) / divisor(oh, ow)
//
// (padding adds zeros to the sum). One thread per output element.
template <typename T>
__device__ void avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ y,
                                   const Pool2dShape s)
{
    const long long total = (long long)s.n * s.c * s.h_out * s.w_out;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        const int ow = (int)(i % s.w_out);
        const int oh = (int)(i / s.w_out % s.h_out);
        const T* x_plane = x + i / ((long long)s.w_out * s.h_out) * s.h * (long long)s.w;
        const Window rows = avg_pool_window(oh * s.sh - s.pad_top, s.kh, s.h, s.pad_bottom);
        const Window cols = avg_pool_window(ow * s.sw - s.pad_left, s.kw, s.w, s.pad_right);

        T acc = 0;
        for (int row = rows.first; row < rows.stop; ++row)
            for (int col = cols.first; col < cols.stop; ++col)
                acc += x_plane[(long long)row * s.w + col];
        y[i] = acc / (T)avg_pool_divisor(oh, ow, s);
    }
}

// ---- average pooling, backward -----------------------------------------------------------------
//
//   grad_x[b, c, row, col] = sum over the windows (oh, ow) that contain (row, col) of
//                            δ[b, c, oh, ow] / divisor(oh, ow)
//
// A gather: window oh contains row when oh*sH - top <= row < oh*sH - top + kH, i.e. for oh from
// ceil((row + top - kH + 1) / sH) to floor((row + top) / sH), within [0, H_out) (the same along
// the columns). One thread per input element.
template <typename T>
__device__ void avg_pool2d_backward(const T* __restrict__ grad_y, T* __restrict__ grad_x,
                                    const Pool2dShape s)
{
    const long long total = (long long)s.n * s.c * s.h * s.w;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        const int col = (int)(i % s.w);
        const int row = (int)(i / s.w % s.h);
        const T* dy_plane = grad_y + i / ((long long)s.w * s.h) * s.h_out * (long long)s.w_out;
        // first window reaching this row: the smallest oh with oh*sH - top + kH > row
        const int lowest_row = row + s.pad_top - s.kh + 1, lowest_col = col + s.pad_left - s.kw + 1;
        const int oh_first = lowest_row > 0 ? (lowest_row + s.sh - 1) / s.sh : 0;
        const int ow_first = lowest_col > 0 ? (lowest_col + s.sw - 1) / s.sw : 0;
        const int oh_last = min((row + s.pad_top) / s.sh, s.h_out - 1);
        const int ow_last = min((col + s.pad_left) / s.sw, s.w_out - 1);

        T acc = 0;
        for (int oh = oh_first; oh <= oh_last; ++oh)
            for (int ow = ow_first; ow <= ow_last; ++ow)
                acc += dy_plane[(long long)oh * s.w_out + ow] / (T)avg_pool_divisor(oh, ow, s);
        grad_x[i] = acc;
    }
}

// ---- entry points --------------------------------------------------------------------------------

extern "C" __global__ void max_pool2d_forward_f32(const float* x, float* y, long long* indices,
                                                  const Pool2dShape s)
{ max_pool2d_forward<float>(x, y, indices, s); }

extern "C" __global__ void max_pool2d_forward_f64(const double* x, double* y, long long* indices,
                                                  const Pool2dShape s)
{ max_pool2d_forward<double>(x, y, indices, s); }

extern "C" __global__ void max_pool2d_backward_f32(const float* grad_y, const long long* indices,
                                                   float* grad_x, const Pool2dShape s)
{ max_pool2d_backward<float>(grad_y, indices, grad_x, s); }

extern "C" __global__ void max_pool2d_backward_f64(const double* grad_y,
                                                   const long long* indices, double* grad_x,
                                                   const Pool2dShape s)
{ max_pool2d_backward<double>(grad_y, indices, grad_x, s); }

extern "C" __global__ void avg_pool2d_forward_f32(const float* x, float* y, const Pool2dShape s)
{ avg_pool2d_forward<float>(x, y, s); }

extern "C" __global__ void avg_pool2d_forward_f64(const double* x, double* y, const Pool2dShape s)
{ avg_pool2d_forward<double>(x, y, s); }

extern "C" __global__ void avg_pool2d_backward_f32(const float* grad_y, float* grad_x,
                                                   const Pool2dShape s)
{ avg_pool2d_backward<float>(grad_y, grad_x, s); }

extern "C" __global__ void avg_pool2d_backward_f64(const double* grad_y, double* grad_x,
                                                   const Pool2dShape s)
{ avg_pool2d_backward<double>(grad_y, grad_x, s); }
