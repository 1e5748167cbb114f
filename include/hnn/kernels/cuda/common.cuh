// What every hnn CUDA kernel file shares: launch sizing, 32-bit index checks, block sums.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "hnn/cuda/memory.cuh"

namespace hnn::cuda_detail {

constexpr int threads_per_block = 256;

// Kernels index with 32-bit ints (64-bit division is slow on GPUs); sizes are checked here.
inline int checked_int(std::int64_t n, const char* what) {
  if (n < 0 || n > std::numeric_limits<int>::max())
    throw std::invalid_argument(std::string("hnn CUDA kernel: ") + what + " = " + std::to_string(n) +
                                " does not fit the 32-bit indexing of the CUDA kernels");
  return static_cast<int>(n);
}

// Enough blocks to give each element a thread, capped: the kernels loop when there are more.
inline unsigned blocks_for(std::int64_t n, int threads = threads_per_block) {
  const std::int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 * 8 ? 65535 * 8 : blocks));
}

// Sum of `value` over the block; the result is valid in thread 0. blockDim.x must be a
// multiple of 32 and at most 1024.
template <class T>
__device__ T block_sum(T value) {
  __shared__ T warp_sums[32];
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // warp_sums may still be read by a previous call
  if (lane == 0) warp_sums[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < static_cast<int>(blockDim.x / 32) ? warp_sums[lane] : T(0);
    for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
  }
  return value;
}

}  // namespace hnn::cuda_detail

#define HNN_GRID_STRIDE_LOOP(i, n) \
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += blockDim.x * gridDim.x)
