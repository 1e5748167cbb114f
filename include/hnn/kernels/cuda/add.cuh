// Elementwise sums on the GPU; the twin of kernels/cpu/add.hpp.
#pragma once

#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {
template <class T>
__global__ void add_kernel(int n, const T* a, const T* b, T* out) {
  HNN_GRID_STRIDE_LOOP(i, n) { out[i] = a[i] + b[i]; }
}
template <class T>
__global__ void add_scaled_kernel(int n, const T* a, const T* b, T scale, T* out) {
  HNN_GRID_STRIDE_LOOP(i, n) { out[i] = (a[i] + b[i]) * scale; }
}
}  // namespace cuda_detail

template <class T>
void add(cuda, std::int64_t n, const T* a, const T* b, T* out) {
  const int count = cuda_detail::checked_int(n, "elements");
  if (count == 0) return;
  cuda_detail::add_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      count, a, b, out);
  HNN_CUDA_CHECK_LAUNCH("add_kernel");
}

template <class T>
void add_scaled(cuda, std::int64_t n, const T* a, const T* b, T scale, T* out) {
  const int count = cuda_detail::checked_int(n, "elements");
  if (count == 0) return;
  cuda_detail::add_scaled_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                   cuda_stream()>>>(count, a, b, scale, out);
  HNN_CUDA_CHECK_LAUNCH("add_scaled_kernel");
}

}  // namespace hnn
