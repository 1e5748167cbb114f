// Tanh on the GPU; the twin of kernels/cpu/tanh.hpp.
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void tanh_forward_kernel(const T* __restrict__ x, T* __restrict__ y, int n) {
  HNN_GRID_STRIDE_LOOP(i, n) y[i] = tanh(x[i]);
}
template <class T>
__global__ void tanh_backward_kernel(const T* __restrict__ y, const T* __restrict__ dy, T* __restrict__ dx, int n) {
  HNN_GRID_STRIDE_LOOP(i, n) dx[i] = dy[i] * (T(1) - y[i] * y[i]);
}

}  // namespace cuda_detail

template <class T>
void tanh_forward(cuda, const T* input, T* output, std::int64_t n) {
  const int count = cuda_detail::checked_int(n, "elements");
  cuda_detail::tanh_forward_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                     cuda_stream()>>>(input, output, count);
  HNN_CUDA_CHECK_LAUNCH("tanh_forward_kernel");
}

template <class T>
void tanh_backward(cuda, const T* output, const T* grad_output, T* grad_input, std::int64_t n) {
  const int count = cuda_detail::checked_int(n, "elements");
  cuda_detail::tanh_backward_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                      cuda_stream()>>>(output, grad_output, grad_input, count);
  HNN_CUDA_CHECK_LAUNCH("tanh_backward_kernel");
}

}  // namespace hnn
