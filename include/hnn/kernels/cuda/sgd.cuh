// The SGD update on the GPU; the twin of kernels/cpu/sgd.hpp.
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void sgd_update_kernel(int n, T* __restrict__ param, const T* __restrict__ grad, T* __restrict__ velocity,
                                  T lr, T momentum, T weight_decay) {
  HNN_GRID_STRIDE_LOOP(i, n) {
    T g = grad[i] + weight_decay * param[i];
    if (velocity != nullptr) {
      velocity[i] = momentum * velocity[i] + g;
      g = velocity[i];
    }
    param[i] -= lr * g;
  }
}

}  // namespace cuda_detail

template <class T>
void sgd_update(cuda, std::int64_t n, T* param, const T* grad, T* velocity, T lr, T momentum, T weight_decay) {
  const int count = cuda_detail::checked_int(n, "parameters");
  cuda_detail::sgd_update_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                   cuda_stream()>>>(count, param, grad, velocity, lr, momentum, weight_decay);
  HNN_CUDA_CHECK_LAUNCH("sgd_update_kernel");
}

}  // namespace hnn
