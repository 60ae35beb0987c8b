// conv2d.cu -- the three convolution kernels of the contract, "direct": one thread per output.
//
// Read these next to kernels/reference.py (the same formulas as NumPy loops) and
// kernels/cpu/direct.py (the same as Numba loops). The notation is the reference's:
//
//     x       (N, C_in, H, W)                 the input
//     w       (C_out, C_in / groups, kH, kW)  the weight
//     y       (N, C_out, H_out, W_out)        the output; grad_y (δ) has the same shape
//     stride (sH, sW), dilation (dH, dW), padding top/left (bottom/right only shape H_out, W_out)
//
// Every kernel is written the same way:
//   - a grid-stride loop: thread t handles elements t, t + (all threads), t + 2 (all threads)...
//     so any grid covers any size, and the flat index is 64-bit (no overflow on big tensors);
//   - the flat index is unflattened into coordinates (C order, the last axis fastest);
//   - one sum, written as in the formula above the kernel; a tap that falls in the padding
//     contributes zero and is skipped (no padded copy of x is ever made);
//   - each thread writes only its own element: no atomics, no races, and the same result every
//     run (the backward passes are "gathers": each thread collects what reaches its element).
// All arrays are C-contiguous (the launcher, kernels/cuda/launch.py, makes them so). Each kernel
// is a template instantiated for float and double by the extern "C" entry points at the bottom,
// which the launcher picks by dtype (..._f32 / ..._f64). The sums run in T itself: a float64
// problem is summed in double precision throughout.
//
// No #include: nvcc, NVRTC (CuPy's run-time compiler) and the CPU emulation all compile it.

// The problem's shape, passed by value as one struct. It must match CONV2D_SHAPE in launch.py
// field for field (the emulator checks its size).
struct Conv2dShape {
    int n, c_in, h, w;        // input x: (n, c_in, h, w)
    int c_out, h_out, w_out;  // output y: (n, c_out, h_out, w_out)
    int kh, kw;               // weight w: (c_out, c_in / groups, kh, kw)
    int sh, sw;               // stride
    int pad_top, pad_left;    // leading padding
    int dh, dw;               // dilation
    int groups;
};

// ---- forward -----------------------------------------------------------------------------------
//
//   y[b, co, oh, ow] = sum over ci < C_in_g, ki < kH, kj < kW of
//       x[b, g*C_in_g + ci, oh*sH - top + ki*dH, ow*sW - left + kj*dW] * w[co, ci, ki, kj]
//
// where g = co / C_out_g is the group of output channel co (C_in_g = C_in / groups input
// channels per group, C_out_g = C_out / groups output channels). One thread per element of y.
template <typename T>
__device__ void conv2d_forward(const T* __restrict__ x, const T* __restrict__ w,
                               T* __restrict__ y, const Conv2dShape s)
{
    const int c_in_g = s.c_in / s.groups, c_out_g = s.c_out / s.groups;
    const long long total = (long long)s.n * s.c_out * s.h_out * s.w_out;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        const int ow = (int)(i % s.w_out);
        const int oh = (int)(i / s.w_out % s.h_out);
        const int co = (int)(i / ((long long)s.w_out * s.h_out) % s.c_out);
        const long long b = i / ((long long)s.w_out * s.h_out * s.c_out);
        const int g = co / c_out_g;

        T acc = 0;
        for (int ci = 0; ci < c_in_g; ++ci) {
            const T* x_plane = x + (b * s.c_in + g * c_in_g + ci) * s.h * (long long)s.w;
            const T* w_taps = w + ((long long)co * c_in_g + ci) * s.kh * s.kw;
            for (int ki = 0; ki < s.kh; ++ki) {
                const int row = oh * s.sh - s.pad_top + ki * s.dh;
                if (row < 0 || row >= s.h) continue;  // a padding row: contributes 0
                for (int kj = 0; kj < s.kw; ++kj) {
                    const int col = ow * s.sw - s.pad_left + kj * s.dw;
                    if (col < 0 || col >= s.w) continue;
                    acc += x_plane[(long long)row * s.w + col] * w_taps[ki * s.kw + kj];
                }
            }
        }
        y[i] = acc;
    }
}

// ---- gradient with respect to the input --------------------------------------------------------
//
// Forward, input element (row, col) of channel ci was multiplied by w[co, ci_g, ki, kj] in every
// output (oh, ow) with oh*sH - top + ki*dH = row and ow*sW - left + kj*dW = col. The chain rule
// sends δ back along exactly those edges:
//
//   grad_x[b, ci, row, col] = sum over co in ci's group, ki, kj with
//       oh = (row + top - ki*dH) / sH  an integer in [0, H_out)   (and the same for ow) of
//       δ[b, co, oh, ow] * w[co, ci_g, ki, kj]              (ci = g*C_in_g + ci_g)
//
// This is the reference's full_corr(δ dilated by the stride, rot180(w)) cropped by the padding,
// gathered for one input element: taps whose (row + top - ki*dH) is not a multiple of sH land on
// the zeros the stride put between δ's entries, so they are skipped. One thread per element of x.
template <typename T>
__device__ void conv2d_backward_input(const T* __restrict__ grad_y, const T* __restrict__ w,
                                      T* __restrict__ grad_x, const Conv2dShape s)
{
    const int c_in_g = s.c_in / s.groups, c_out_g = s.c_out / s.groups;
    const long long total = (long long)s.n * s.c_in * s.h * s.w;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        const int col = (int)(i % s.w);
        const int row = (int)(i / s.w % s.h);
        const int ci = (int)(i / ((long long)s.w * s.h) % s.c_in);
        const long long b = i / ((long long)s.w * s.h * s.c_in);
        const int g = ci / c_in_g, ci_g = ci % c_in_g;

        T acc = 0;
        for (int co = g * c_out_g; co < (g + 1) * c_out_g; ++co) {
            const T* dy_plane = grad_y + (b * s.c_out + co) * s.h_out * (long long)s.w_out;
            const T* w_taps = w + ((long long)co * c_in_g + ci_g) * s.kh * s.kw;
            for (int ki = 0; ki < s.kh; ++ki) {
                const int r = row + s.pad_top - ki * s.dh;  // = oh * sH if a window put it here
                if (r < 0 || r % s.sh != 0) continue;
                const int oh = r / s.sh;
                if (oh >= s.h_out) continue;
                for (int kj = 0; kj < s.kw; ++kj) {
                    const int c = col + s.pad_left - kj * s.dw;
                    if (c < 0 || c % s.sw != 0) continue;
                    const int ow = c / s.sw;
                    if (ow >= s.w_out) continue;
                    acc += dy_plane[(long long)oh * s.w_out + ow] * w_taps[ki * s.kw + kj];
                }
            }
        }
        grad_x[i] = acc;
    }
}

// ---- gradient with respect to the weight -------------------------------------------------------
//
//   grad_w[co, ci, ki, kj] = sum over b, oh, ow of
//       x[b, g*C_in_g + ci, oh*sH - top + ki*dH, ow*sW - left + kj*dW] * δ[b, co, oh, ow]
//
// (x ⋆ δ: δ slides over x, the tap offset plays the output position). One thread per weight
// element; each sums over the whole batch, so there are few threads with long sums: the launcher
// sends big layers to im2col + GEMM instead (see choose_plan in launch.py).
template <typename T>
__device__ void conv2d_backward_weight(const T* __restrict__ x, const T* __restrict__ grad_y,
                                       T* __restrict__ grad_w, const Conv2dShape s)
{
    const int c_in_g = s.c_in / s.groups, c_out_g = s.c_out / s.groups;
    const long long total = (long long)s.c_out * c_in_g * s.kh * s.kw;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        const int kj = (int)(i % s.kw);
        const int ki = (int)(i / s.kw % s.kh);
        const int ci = (int)(i / ((long long)s.kw * s.kh) % c_in_g);
        const int co = (int)(i / ((long long)s.kw * s.kh * c_in_g));
        const int g = co / c_out_g;

        T acc = 0;
        for (long long b = 0; b < s.n; ++b) {
            const T* x_plane = x + (b * s.c_in + g * c_in_g + ci) * s.h * (long long)s.w;
            const T* dy_plane = grad_y + (b * s.c_out + co) * s.h_out * (long long)s.w_out;
            for (int oh = 0; oh < s.h_out; ++oh) {
                const int row = oh * s.sh - s.pad_top + ki * s.dh;
                const bool row_inside = row >= 0 && row < s.h;
                for (int ow = 0; ow < s.w_out; ++ow) {
                    const int col = ow * s.sw - s.pad_left + kj * s.dw;
                    const bool inside = row_inside && col >= 0 && col < s.w;
                    // A tap in the padding reads a zero, and that zero is multiplied, not
                    // skipped: 0 * NaN is NaN, so a NaN or inf in δ reaches grad_w as in the
                    // reference and PyTorch (whose padded input holds those zeros).
                    const T x_value = inside ? x_plane[(long long)row * s.w + col] : T(0);
                    acc += x_value * dy_plane[(long long)oh * s.w_out + ow];
                }
            }
        }
        grad_w[i] = acc;
    }
}

// ---- entry points: one per kernel and dtype (extern "C": names the launcher can look up) --------

extern "C" __global__ void conv2d_forward_f32(const float* x, const float* w, float* y,
                                              const Conv2dShape s)
{ conv2d_forward<float>(x, w, y, s); }

extern "C" __global__ void conv2d_forward_f64(const double* x, const double* w, double* y,
                                              const Conv2dShape s)
{ conv2d_forward<double>(x, w, y, s); }

extern "C" __global__ void conv2d_backward_input_f32(const float* grad_y, const float* w,
                                                     float* grad_x, const Conv2dShape s)
{ conv2d_backward_input<float>(grad_y, w, grad_x, s); }

extern "C" __global__ void conv2d_backward_input_f64(const double* grad_y, const double* w,
                                                     double* grad_x, const Conv2dShape s)
{ conv2d_backward_input<double>(grad_y, w, grad_x, s); }

extern "C" __global__ void conv2d_backward_weight_f32(const float* x, const float* grad_y,
                                                      float* grad_w, const Conv2dShape s)
{ conv2d_backward_weight<float>(x, grad_y, grad_w, s); }

extern "C" __global__ void conv2d_backward_weight_f64(const double* x, const double* grad_y,
                                                      double* grad_w, const Conv2dShape s)
{ conv2d_backward_weight<double>(x, grad_y, grad_w, s); }
