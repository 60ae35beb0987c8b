// y = alpha * x: a kernel with a floating-point scalar parameter, for the launcher's marshalling
// tests (tests/cuda/test_launcher.py). CuPy passes a Python float as a C double: handed to the
// float parameter of scale_f32, its first 4 bytes would be read as the float (0.0 for 2.5).

template <typename T>
__device__ void scale(const T* __restrict__ x, T* __restrict__ y, T alpha, long long n)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x)
        y[i] = alpha * x[i];
}

extern "C" __global__ void scale_f32(const float* x, float* y, float alpha, long long n)
{ scale<float>(x, y, alpha, n); }

extern "C" __global__ void scale_f64(const double* x, double* y, double alpha, long long n)
{ scale<double>(x, y, alpha, n); }
