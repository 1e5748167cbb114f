// The SGD update on the GPU; the twin of kernels/cpu/sgd.hpp (the rule is there). The step
// count is read from device memory, so a recorded graph replays the buffer's first step once.
#pragma once

#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/sgd.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void sgd_update_kernel(int n, T* __restrict__ param, const T* __restrict__ grad,
                                  T* __restrict__ momentum_buffer, SgdHyper<T> h, const long long* step,
                                  long long first_step) {
  const bool first = *step == first_step;
  HNN_GRID_STRIDE_LOOP(i, n) {
    T g = grad[i] + h.weight_decay * param[i];
    if (momentum_buffer != nullptr) {
      T buf;
      if (first) buf = g;
      else if (h.dampening != T(0)) buf = h.momentum * momentum_buffer[i] + (T(1) - h.dampening) * g;
      else buf = h.momentum * momentum_buffer[i] + g;
      momentum_buffer[i] = buf;
      g = h.nesterov ? g + h.momentum * buf : buf;
    }
    param[i] -= h.lr * g;
  }
}

}  // namespace cuda_detail

template <class T>
void sgd_update(cuda, std::int64_t n, T* param, const T* grad, T* momentum_buffer, const SgdHyper<T>& h,
                const std::int64_t* step, std::int64_t first_step) {
  const int count = cuda_detail::checked_int(n, "parameters");
  if (count == 0) return;
  cuda_detail::sgd_update_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                   cuda_stream()>>>(count, param, grad, momentum_buffer, h,
                                                    reinterpret_cast<const long long*>(step),
                                                    static_cast<long long>(first_step));
  HNN_CUDA_CHECK_LAUNCH("sgd_update_kernel");
}

}  // namespace hnn
