// Global average pooling on the GPU; the twin of kernels/cpu/global_avg_pool.hpp.
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

// One block per plane (blocks loop when there are more planes than blocks).
template <class T>
__global__ void global_avg_pool_forward_kernel(int planes, int pixels, const T* __restrict__ x, T* __restrict__ y) {
  for (int p = blockIdx.x; p < planes; p += gridDim.x) {
    const T* in = x + static_cast<long long>(p) * pixels;
    T sum = 0;
    for (int i = threadIdx.x; i < pixels; i += blockDim.x) sum += in[i];
    sum = block_sum(sum);
    if (threadIdx.x == 0) y[p] = sum / T(pixels);
  }
}

template <class T>
__global__ void global_avg_pool_backward_kernel(int planes, int pixels, const T* __restrict__ dy,
                                                T* __restrict__ dx) {
  HNN_GRID_STRIDE_LOOP(i, planes * pixels) dx[i] = dy[i / pixels] / T(pixels);
}

}  // namespace cuda_detail

template <class T>
void global_avg_pool_forward(cuda, std::int64_t planes, std::int64_t pixels, const T* input, T* output) {
  using namespace cuda_detail;
  const int p = checked_int(planes, "planes"), n = checked_int(pixels, "pixels per plane");
  checked_int(planes * pixels, "global_avg_pool input elements");
  global_avg_pool_forward_kernel<<<blocks_for(planes, 1), threads_per_block, 0, cuda_stream()>>>(p, n, input, output);
  HNN_CUDA_CHECK_LAUNCH("global_avg_pool_forward_kernel");
}

template <class T>
void global_avg_pool_backward(cuda, std::int64_t planes, std::int64_t pixels, const T* grad_output, T* grad_input) {
  using namespace cuda_detail;
  const int p = checked_int(planes, "planes"), n = checked_int(pixels, "pixels per plane");
  const int total = checked_int(planes * pixels, "global_avg_pool input elements");
  global_avg_pool_backward_kernel<<<blocks_for(total), threads_per_block, 0, cuda_stream()>>>(p, n, grad_output,
                                                                                             grad_input);
  HNN_CUDA_CHECK_LAUNCH("global_avg_pool_backward_kernel");
}

}  // namespace hnn
