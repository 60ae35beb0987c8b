// tinyconv assignment: cuda-kernels
// Assignment 6: the three convolution kernels in CUDA C (see README.md next to this file).
//
// Write the three device functions below: one thread per output element, a grid-stride loop
// (given), the sum of the formula above each function (yours). Grade with `tinyconv grade .`:
// the grader compiles this file for the CPU emulation of tinyconv's "cuda-emu" kernel set (g++;
// no GPU needed), launches your kernels through tinyconv's launchers (kernels/cuda/launch.py,
// "direct" plan) and checks them with the identities. The same file runs on a real GPU with
// tinyconv's "cuda" kernel set. No #include (NVRTC compiles it as is).
//
//     x (N, C_in, H, W), w (C_out, C_in / groups, kH, kW), y and grad_y (N, C_out, H_out, W_out)
//     stride (sH, sW), dilation (dH, dW), padding top/left (bottom/right only shape H_out, W_out)
//
// All arrays are C-contiguous. A tap that falls in the padding contributes zero: skip it.

// The problem's shape, passed by value. It must stay exactly as it is (the launcher fills it).
struct Conv2dShape {
    int n, c_in, h, w;        // input x: (n, c_in, h, w)
    int c_out, h_out, w_out;  // output y: (n, c_out, h_out, w_out)
    int kh, kw;               // weight w: (c_out, c_in / groups, kh, kw)
    int sh, sw;               // stride
    int pad_top, pad_left;    // leading padding
    int dh, dw;               // dilation
    int groups;
};

// y[b, co, oh, ow] = sum over ci < C_in_g, ki < kH, kj < kW of
//     x[b, g*C_in_g + ci, oh*sH - top + ki*dH, ow*sW - left + kj*dW] * w[co, ci, ki, kj]
// with g = co / C_out_g the group of output channel co. One thread per element of y.
template <typename T>
__device__ void conv2d_forward(const T* __restrict__ x, const T* __restrict__ w,
                               T* __restrict__ y, const Conv2dShape s)
{
    const long long total = (long long)s.n * s.c_out * s.h_out * s.w_out;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        T acc = 0;
        // TODO: unflatten i into (b, co, oh, ow), then sum the formula above into acc
        y[i] = acc;
    }
}

// grad_x[b, ci, row, col] = sum over co in ci's group, ki, kj such that
//     oh = (row + top - ki*dH) / sH is an integer in [0, H_out) (and the same along W) of
//     grad_y[b, co, oh, ow] * w[co, ci_g, ki, kj]
// (full_corr(δ dilated by the stride, rot180(w)), cropped, gathered for one element of x).
template <typename T>
__device__ void conv2d_backward_input(const T* __restrict__ grad_y, const T* __restrict__ w,
                                      T* __restrict__ grad_x, const Conv2dShape s)
{
    const long long total = (long long)s.n * s.c_in * s.h * s.w;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        T acc = 0;
        // TODO: unflatten i into (b, ci, row, col), then gather the formula above into acc
        grad_x[i] = acc;
    }
}

// grad_w[co, ci, ki, kj] = sum over b, oh, ow of
//     x[b, g*C_in_g + ci, oh*sH - top + ki*dH, ow*sW - left + kj*dW] * grad_y[b, co, oh, ow]
// (x ⋆ δ, summed over the batch). One thread per element of grad_w.
template <typename T>
__device__ void conv2d_backward_weight(const T* __restrict__ x, const T* __restrict__ grad_y,
                                       T* __restrict__ grad_w, const Conv2dShape s)
{
    const long long total = (long long)s.c_out * (s.c_in / s.groups) * s.kh * s.kw;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        T acc = 0;
        // TODO: unflatten i into (co, ci, ki, kj), then sum the formula above into acc
        grad_w[i] = acc;
    }
}

// ---- entry points (leave them as they are: the launcher looks them up by these names) ----------

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
