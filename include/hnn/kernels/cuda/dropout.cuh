// Inverted dropout on the GPU; the twin of kernels/cpu/dropout.hpp, whose dropout_keep
// decides every element on both devices (same seed and step: the same mask, bit for bit).
// The step is read from device memory, so a recorded CUDA graph uses the current one.
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/dropout.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void dropout_kernel(int n, const T* __restrict__ x, T* __restrict__ y, std::uint64_t seed,
                               const long long* __restrict__ step, std::uint64_t threshold, T scale) {
  const std::uint64_t stream = dropout_stream(seed, *step);
  HNN_GRID_STRIDE_LOOP(i, n) y[i] = dropout_keep(stream, threshold, i) ? x[i] * scale : T(0);
}

}  // namespace cuda_detail

template <class T>
void dropout_forward(cuda, std::int64_t n, const T* input, T* output, double p, std::uint64_t seed,
                     const std::int64_t* step) {
  const int count = cuda_detail::checked_int(n, "elements");
  cuda_detail::dropout_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      count, input, output, seed, reinterpret_cast<const long long*>(step), dropout_threshold(p),
      dropout_scale<T>(p));
  HNN_CUDA_CHECK_LAUNCH("dropout_kernel");
}

template <class T>
void dropout_backward(cuda, std::int64_t n, const T* grad_output, T* grad_input, double p, std::uint64_t seed,
                      const std::int64_t* step) {
  dropout_forward(cuda{}, n, grad_output, grad_input, p, seed, step);
}

}  // namespace hnn
