// The RMSprop update on the GPU; the twin of kernels/cpu/rmsprop.hpp (the rule is there).
#pragma once

#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/rmsprop.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void rmsprop_update_kernel(int n, T* __restrict__ param, const T* __restrict__ grad, T* square_avg,
                                      T* grad_avg, T* momentum_buffer, RmspropHyper<T> h) {
  HNN_GRID_STRIDE_LOOP(i, n) rmsprop_element(h, i, param, grad, square_avg, grad_avg, momentum_buffer);
}

}  // namespace cuda_detail

template <class T>
void rmsprop_update(cuda, std::int64_t n, T* param, const T* grad, T* square_avg, T* grad_avg, T* momentum_buffer,
                    const RmspropHyper<T>& h) {
  const int count = cuda_detail::checked_int(n, "parameters");
  if (count == 0) return;
  cuda_detail::rmsprop_update_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                       cuda_stream()>>>(count, param, grad, square_avg, grad_avg, momentum_buffer, h);
  HNN_CUDA_CHECK_LAUNCH("rmsprop_update_kernel");
}

}  // namespace hnn
