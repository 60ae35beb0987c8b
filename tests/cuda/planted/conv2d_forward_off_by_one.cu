// A planted bug for tests/cuda/test_sanitizers.py: conv2d.cu's forward kernel with the grid-stride
// loop's bound written `i <= total`. The thread that gets i == total reads past the end of the
// input's last plane and writes one element past the end of y. The results of every real output
// are still right, so comparing with the reference cannot see it; AddressSanitizer can.

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
__device__ void conv2d_forward(const T* __restrict__ x, const T* __restrict__ w,
                               T* __restrict__ y, const Conv2dShape s)
{
    const int c_in_g = s.c_in / s.groups, c_out_g = s.c_out / s.groups;
    const long long total = (long long)s.n * s.c_out * s.h_out * s.w_out;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i <= total;  // BUG
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
                if (row < 0 || row >= s.h) continue;
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

extern "C" __global__ void conv2d_forward_f32(const float* x, const float* w, float* y,
                                              const Conv2dShape s)
{ conv2d_forward<float>(x, w, y, s); }

extern "C" __global__ void conv2d_forward_f64(const double* x, const double* w, double* y,
                                              const Conv2dShape s)
{ conv2d_forward<double>(x, w, y, s); }
