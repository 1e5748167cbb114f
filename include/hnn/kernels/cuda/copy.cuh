// Strided copies on the GPU; the twin of kernels/cpu/copy.hpp: a thread per element, each
// index decomposed through the StridedLoop (kernels/strided.hpp).
#pragma once

#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"
#include "hnn/kernels/cuda/elementwise.cuh"
#include "hnn/kernels/strided.hpp"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void copy_strided_kernel(StridedLoop<2> loop, std::int64_t n, T* dst, const T* src) {
  HNN_GRID_STRIDE_LOOP_64(i, n) {
    std::int64_t offsets[2];
    loop.offsets(i, offsets);
    dst[offsets[0]] = src[offsets[1]];
  }
}

}  // namespace cuda_detail

template <class T>
void copy_strided(cuda, const StridedLoop<2>& loop, T* dst, const T* src) {
  const std::int64_t n = loop.numel();
  if (n == 0) return;
  cuda_detail::copy_strided_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      loop, n, dst, src);
  HNN_CUDA_CHECK_LAUNCH("copy_strided_kernel");
}

}  // namespace hnn
