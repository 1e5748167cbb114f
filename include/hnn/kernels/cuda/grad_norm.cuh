// Gradient norms and clipping on the GPU; the twins of kernels/cpu/grad_norm.hpp.
#pragma once

#include <cmath>
#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/grad_norm.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void accumulate_grad_norm_kernel(int n, const T* __restrict__ grad, double p, double* accumulated) {
  const bool infinite = isinf(p);
  double mine = 0;
  HNN_GRID_STRIDE_LOOP(i, n) {
    const double a = fabs(static_cast<double>(grad[i]));
    if (infinite) mine = (a > mine || isnan(a)) ? a : mine;
    else mine += p == 2 ? a * a : p == 1 ? a : pow(a, p);
  }
  if (infinite) {
    // Non-negative doubles (and a positive NaN above them all) order as their bit patterns do.
    atomicMax(reinterpret_cast<unsigned long long*>(accumulated), static_cast<unsigned long long>(__double_as_longlong(mine)));
    return;
  }
  mine = block_sum(mine);
  if (threadIdx.x == 0) atomicAdd(accumulated, mine);
}

template <class T>
__global__ void clip_grad_kernel(int n, T* __restrict__ grad, double max_norm, double p, const double* accumulated) {
  const T coefficient = static_cast<T>(clip_coefficient(norm_from_accumulated(*accumulated, p), max_norm));
  HNN_GRID_STRIDE_LOOP(i, n) grad[i] *= coefficient;
}

}  // namespace cuda_detail

template <class T>
void accumulate_grad_norm(cuda, std::int64_t n, const T* grad, double p, double* accumulated) {
  const int count = cuda_detail::checked_int(n, "gradient elements");
  if (count == 0) return;
  cuda_detail::accumulate_grad_norm_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                             cuda_stream()>>>(count, grad, p, accumulated);
  HNN_CUDA_CHECK_LAUNCH("accumulate_grad_norm_kernel");
}

template <class T>
void clip_grad(cuda, std::int64_t n, T* grad, double max_norm, double p, const double* accumulated) {
  const int count = cuda_detail::checked_int(n, "gradient elements");
  if (count == 0) return;
  cuda_detail::clip_grad_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      count, grad, max_norm, p, accumulated);
  HNN_CUDA_CHECK_LAUNCH("clip_grad_kernel");
}

}  // namespace hnn
