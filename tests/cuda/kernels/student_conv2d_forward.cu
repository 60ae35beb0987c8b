// A student's conv2d forward kernel with a classic mistake: the dilation is ignored (taps at
// ki, not ki*dH). Graded by tinyconv.testing in tests/cuda/test_launcher.py, which must fail it.

struct Conv2dShape {
    int n, c_in, h, w;
    int c_out, h_out, w_out;
    int kh, kw;
    int sh, sw;
    int pad_top, pad_left;
    int dh, dw;
    int groups;
};

template <typename T>
__device__ void conv2d_forward(const T* x, const T* w, T* y, const Conv2dShape s)
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
        for (int ci = 0; ci < c_in_g; ++ci)
            for (int ki = 0; ki < s.kh; ++ki)
                for (int kj = 0; kj < s.kw; ++kj) {
                    const int row = oh * s.sh - s.pad_top + ki;   // BUG: + ki * s.dh
                    const int col = ow * s.sw - s.pad_left + kj;  // BUG: + kj * s.dw
                    if (row < 0 || row >= s.h || col < 0 || col >= s.w) continue;
                    acc += x[((b * s.c_in + g * c_in_g + ci) * s.h + row) * s.w + col]
                           * w[(((long long)co * c_in_g + ci) * s.kh + ki) * s.kw + kj];
                }
        y[i] = acc;
    }
}

extern "C" __global__ void conv2d_forward_f32(const float* x, const float* w, float* y,
                                              const Conv2dShape s)
{ conv2d_forward<float>(x, w, y, s); }

extern "C" __global__ void conv2d_forward_f64(const double* x, const double* w, double* y,
                                              const Conv2dShape s)
{ conv2d_forward<double>(x, w, y, s); }
