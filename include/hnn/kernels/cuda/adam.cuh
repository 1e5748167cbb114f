// The Adam and AdamW updates on the GPU; the twin of kernels/cpu/adam.hpp. Each thread derives
// the step's constants from the step count in device memory, so a recorded CUDA graph replays
// every step's own bias correction.
#pragma once

#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/adam.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void adam_update_kernel(int n, T* __restrict__ param, const T* __restrict__ grad, T* __restrict__ m,
                                   T* __restrict__ v, AdamHyper h, const long long* step) {
  const AdamConstants<T> k = adam_constants<T>(h, *step);
  HNN_GRID_STRIDE_LOOP(i, n) {
    T p = param[i], mi = m[i], vi = v[i];
    adam_element(k, p, grad[i], mi, vi);
    param[i] = p;
    m[i] = mi;
    v[i] = vi;
  }
}

}  // namespace cuda_detail

template <class T>
void adam_update(cuda, std::int64_t n, T* param, const T* grad, T* m, T* v, const AdamHyper& h,
                 const std::int64_t* step) {
  const int count = cuda_detail::checked_int(n, "parameters");
  if (count == 0) return;
  cuda_detail::adam_update_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                    cuda_stream()>>>(count, param, grad, m, v, h,
                                                     reinterpret_cast<const long long*>(step));
  HNN_CUDA_CHECK_LAUNCH("adam_update_kernel");
}

}  // namespace hnn
