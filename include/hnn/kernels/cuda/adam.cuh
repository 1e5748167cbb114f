// The Adam and AdamW updates on the GPU; the twin of kernels/cpu/adam.hpp (the same
// constants, computed on the host; the step is passed by value, so a recorded CUDA graph
// would replay one step's bias correction: record the optimiser step outside a graph).
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/adam.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void adam_update_kernel(int n, T* __restrict__ param, const T* __restrict__ grad, T* __restrict__ m,
                                   T* __restrict__ v, AdamConstants<T> k, bool decay_param) {
  HNN_GRID_STRIDE_LOOP(i, n) {
    T p = param[i];
    if (decay_param) p *= k.decay_factor;
    const T g = k.l2 ? grad[i] + k.weight_decay * p : grad[i];
    const T mi = m[i] + k.one_minus_beta1 * (g - m[i]);
    const T vi = v[i] * k.beta2 + k.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - k.step_size * (mi / (sqrt(vi) / k.bias_correction2_sqrt + k.eps));
  }
}

}  // namespace cuda_detail

template <class T>
void adam_update(cuda, std::int64_t n, T* param, const T* grad, T* m, T* v, double lr, double beta1, double beta2,
                 double eps, double weight_decay, bool decoupled, std::int64_t step) {
  const int count = cuda_detail::checked_int(n, "parameters");
  const AdamConstants<T> k = adam_constants<T>(lr, beta1, beta2, eps, weight_decay, decoupled, step);
  cuda_detail::adam_update_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                    cuda_stream()>>>(count, param, grad, m, v, k, decoupled && weight_decay != 0);
  HNN_CUDA_CHECK_LAUNCH("adam_update_kernel");
}

}  // namespace hnn
