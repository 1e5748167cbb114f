// Elementwise activations on the GPU; the twins of kernels/cpu/activation.hpp.
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__device__ inline T sigmoid(T x) {
  return T(1) / (T(1) + exp(-x));
}
template <>
__device__ inline float sigmoid(float x) {
  return 1.0f / (1.0f + __expf(-x));
}

template <class T>
__global__ void sigmoid_forward_kernel(const T* x, T* y, int n) {
  HNN_GRID_STRIDE_LOOP(i, n) y[i] = sigmoid(x[i]);
}
template <class T>
__global__ void sigmoid_backward_kernel(const T* y, const T* dy, T* dx, int n) {
  HNN_GRID_STRIDE_LOOP(i, n) dx[i] = dy[i] * y[i] * (T(1) - y[i]);
}
template <class T>
__global__ void relu_forward_kernel(const T* x, T* y, int n) {
  HNN_GRID_STRIDE_LOOP(i, n) y[i] = x[i] > T(0) ? x[i] : T(0);
}
template <class T>
__global__ void relu_backward_kernel(const T* x, const T* dy, T* dx, int n) {
  HNN_GRID_STRIDE_LOOP(i, n) dx[i] = x[i] > T(0) ? dy[i] : T(0);
}

}  // namespace cuda_detail

template <class T>
void sigmoid_forward(cuda, const T* input, T* output, std::int64_t n) {
  const int count = cuda_detail::checked_int(n, "elements");
  cuda_detail::sigmoid_forward_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                        cuda_stream()>>>(input, output, count);
  HNN_CUDA_CHECK_LAUNCH("sigmoid_forward_kernel");
}

template <class T>
void sigmoid_backward(cuda, const T* output, const T* grad_output, T* grad_input, std::int64_t n) {
  const int count = cuda_detail::checked_int(n, "elements");
  cuda_detail::sigmoid_backward_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                         cuda_stream()>>>(output, grad_output, grad_input, count);
  HNN_CUDA_CHECK_LAUNCH("sigmoid_backward_kernel");
}

template <class T>
void relu_forward(cuda, const T* input, T* output, std::int64_t n) {
  const int count = cuda_detail::checked_int(n, "elements");
  cuda_detail::relu_forward_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                     cuda_stream()>>>(input, output, count);
  HNN_CUDA_CHECK_LAUNCH("relu_forward_kernel");
}

template <class T>
void relu_backward(cuda, const T* input, const T* grad_output, T* grad_input, std::int64_t n) {
  const int count = cuda_detail::checked_int(n, "elements");
  cuda_detail::relu_backward_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                      cuda_stream()>>>(input, grad_output, grad_input, count);
  HNN_CUDA_CHECK_LAUNCH("relu_backward_kernel");
}

}  // namespace hnn
