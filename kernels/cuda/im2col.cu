// im2col.cu -- the copies that turn a convolution into a matrix product (GEMM).
//
// A convolution's output is a sum of products, like a matrix product, except that the same input
// element takes part in many windows. im2col copies every window into a column of a matrix, so
// the convolution becomes one GEMM that cuBLAS runs near the GPU's peak (through cupy.matmul in
// kernels/cuda/launch.py); col2im is its adjoint, for the input gradient. Compare
// kernels/cpu/im2col.py, the same idea on the CPU.
//
// The column matrix, per sample b, for R = C_in * kH * kW rows and L = H_out * W_out columns:
//
//   cols[b, (c, ki, kj), (oh, ow)] = x[b, c, oh*sH - top + ki*dH, ow*sW - left + kj*dW]
//                                    (0 where that lies in the padding)
//
// stored C-contiguous as (N, C_in, kH, kW, H_out, W_out). Row (c, ki, kj) of group g's block
// (c = g*C_in_g + ci) multiplies w[co, ci, ki, kj], so with the weight seen as
// (groups, C_out_g, C_in_g*kH*kW) and cols as (N, groups, C_in_g*kH*kW, L) the forward pass is
// the batched product  y = w @ cols  of shape (N, groups, C_out_g, L) = (N, C_out, H_out, W_out).
//
// No #include: nvcc, NVRTC and the CPU emulation all compile it. Arrays are C-contiguous.

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

// ---- im2col: one thread per element of cols ------------------------------------------------------
template <typename T>
__device__ void im2col(const T* __restrict__ x, T* __restrict__ cols, const Conv2dShape s)
{
    const long long total = (long long)s.n * s.c_in * s.kh * s.kw * s.h_out * s.w_out;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        // i = ((((b * C_in + c) * kH + ki) * kW + kj) * H_out + oh) * W_out + ow
        long long rest = i;
        const int ow = (int)(rest % s.w_out); rest /= s.w_out;
        const int oh = (int)(rest % s.h_out); rest /= s.h_out;
        const int kj = (int)(rest % s.kw);    rest /= s.kw;
        const int ki = (int)(rest % s.kh);    rest /= s.kh;
        const long long plane = rest;         // b * C_in + c: which (sample, channel) plane
        const int row = oh * s.sh - s.pad_top + ki * s.dh;
        const int col = ow * s.sw - s.pad_left + kj * s.dw;
        const bool inside = row >= 0 && row < s.h && col >= 0 && col < s.w;
        cols[i] = inside ? x[(plane * s.h + row) * s.w + col] : T(0);
    }
}

// ---- col2im: one thread per element of grad_x ---------------------------------------------------
//
// The adjoint of im2col: every column entry that was copied from x[b, c, row, col] sends its
// gradient back there, so
//
//   grad_x[b, c, row, col] = sum over ki, kj with
//       oh = (row + top - ki*dH) / sH  an integer in [0, H_out)  (and the same for ow) of
//       grad_cols[b, (c, ki, kj), (oh, ow)]
//
// A gather (each thread sums what reaches its own element), so no atomics and the same result
// every run. It is conv2d_backward_input's loop without the weight.
template <typename T>
__device__ void col2im(const T* __restrict__ grad_cols, T* __restrict__ grad_x,
                       const Conv2dShape s)
{
    const long long total = (long long)s.n * s.c_in * s.h * s.w;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (long long)blockDim.x * gridDim.x) {
        const int col = (int)(i % s.w);
        const int row = (int)(i / s.w % s.h);
        const long long plane = i / ((long long)s.w * s.h);  // b * C_in + c
        const T* plane_cols = grad_cols + plane * s.kh * s.kw * s.h_out * (long long)s.w_out;

        T acc = 0;
        for (int ki = 0; ki < s.kh; ++ki) {
            const int r = row + s.pad_top - ki * s.dh;
            if (r < 0 || r % s.sh != 0) continue;
            const int oh = r / s.sh;
            if (oh >= s.h_out) continue;
            for (int kj = 0; kj < s.kw; ++kj) {
                const int c = col + s.pad_left - kj * s.dw;
                if (c < 0 || c % s.sw != 0) continue;
                const int ow = c / s.sw;
                if (ow >= s.w_out) continue;
                acc += plane_cols[(((long long)ki * s.kw + kj) * s.h_out + oh) * s.w_out + ow];
            }
        }
        grad_x[i] = acc;
    }
}

extern "C" __global__ void im2col_f32(const float* x, float* cols, const Conv2dShape s)
{ im2col<float>(x, cols, s); }

extern "C" __global__ void im2col_f64(const double* x, double* cols, const Conv2dShape s)
{ im2col<double>(x, cols, s); }

extern "C" __global__ void col2im_f32(const float* grad_cols, float* grad_x, const Conv2dShape s)
{ col2im<float>(grad_cols, grad_x, s); }

extern "C" __global__ void col2im_f64(const double* grad_cols, double* grad_x,
                                      const Conv2dShape s)
{ col2im<double>(grad_cols, grad_x, s); }
