// Reductions on the GPU; the twins of kernels/cpu/reduce.hpp. The coalesced loop is split
// into the kept dimensions (one output each) and the reduced ones; a long reduction gets a
// block per output (threads stride over the reduced elements, then a block reduction), a
// short one a thread per output.
#pragma once

#include <cstdint>
#include <limits>

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"
#include "hnn/kernels/cuda/elementwise.cuh"
#include "hnn/kernels/strided.hpp"

namespace hnn {

namespace cuda_detail {

template <class T>
__device__ inline T reduce_combine(ReduceOp op, T a, T b) {
  switch (op) {
    case ReduceOp::sum: return a + b;
    case ReduceOp::max: return max_propagating_nan(a, b);
    case ReduceOp::min: return min_propagating_nan(a, b);
  }
  return a;
}

template <class T>
__device__ inline T reduce_identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return T(0);
    case ReduceOp::max: return -std::numeric_limits<T>::infinity();
    case ReduceOp::min: return std::numeric_limits<T>::infinity();
  }
  return T(0);
}

// The loop's kept and reduced dimensions as two loops over the input (one operand each).
struct SplitReduction {
  StridedLoop<1> kept, reduced;
};

inline SplitReduction split_reduction(const StridedLoop<2>& loop) {
  SplitReduction s;
  for (int d = 0; d < loop.rank; ++d) {
    StridedLoop<1>& part = loop.stride[0][d] == 0 ? s.reduced : s.kept;
    part.size[part.rank] = loop.size[d];
    part.stride[0][part.rank] = loop.stride[1][d];
    ++part.rank;
  }
  return s;
}

template <class T>
__global__ void reduce_block_kernel(ReduceOp op, SplitReduction split, std::int64_t outputs, std::int64_t per_output,
                                    const T* __restrict__ in, T* __restrict__ out) {
  __shared__ T partial[32];
  for (std::int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    std::int64_t base[1];
    split.kept.offsets(o, base);
    T value = reduce_identity<T>(op);
    for (std::int64_t j = threadIdx.x; j < per_output; j += blockDim.x) {
      std::int64_t offset[1];
      split.reduced.offsets(j, offset);
      value = reduce_combine(op, value, in[base[0] + offset[0]]);
    }
    for (int step = 16; step > 0; step /= 2) value = reduce_combine(op, value, __shfl_down_sync(0xffffffffu, value, step));
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    __syncthreads();  // partial may still be read by the previous output's last step
    if (lane == 0) partial[warp] = value;
    __syncthreads();
    if (warp == 0) {
      value = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : reduce_identity<T>(op);
      for (int step = 16; step > 0; step /= 2)
        value = reduce_combine(op, value, __shfl_down_sync(0xffffffffu, value, step));
      if (lane == 0) out[o] = value;
    }
  }
}

template <class T>
__global__ void reduce_thread_kernel(ReduceOp op, SplitReduction split, std::int64_t outputs, std::int64_t per_output,
                                     const T* __restrict__ in, T* __restrict__ out) {
  HNN_GRID_STRIDE_LOOP_64(o, outputs) {
    std::int64_t base[1];
    split.kept.offsets(o, base);
    T value = reduce_identity<T>(op);
    for (std::int64_t j = 0; j < per_output; ++j) {
      std::int64_t offset[1];
      split.reduced.offsets(j, offset);
      value = reduce_combine(op, value, in[base[0] + offset[0]]);
    }
    out[o] = value;
  }
}

template <class T>
__global__ void arg_reduce_kernel(bool largest, std::int64_t outer, std::int64_t size, std::int64_t inner,
                                  const T* __restrict__ in, std::int64_t* __restrict__ out) {
  HNN_GRID_STRIDE_LOOP_64(index, outer * inner) {
    const std::int64_t o = index / inner, i = index % inner;
    const T* x = in + o * size * inner + i;
    T best = x[0];
    std::int64_t at = 0;
    for (std::int64_t j = 1; j < size && best == best; ++j) {
      const T v = x[j * inner];
      if (v != v || (largest ? v > best : v < best)) {
        best = v;
        at = j;
      }
    }
    out[index] = at;
  }
}

}  // namespace cuda_detail

template <class T>
void reduce(cuda, ReduceOp op, const StridedLoop<2>& loop, std::int64_t out_count, const T* in, T* out) {
  if (out_count == 0) return;
  const std::int64_t n = loop.numel();
  const std::int64_t per_output = n / out_count;  // 0 for an empty input: every output is the identity
  const cuda_detail::SplitReduction split = cuda_detail::split_reduction(loop);
  if (per_output >= 256) {
    const unsigned blocks = static_cast<unsigned>(out_count < 65535 * 8 ? out_count : 65535 * 8);
    cuda_detail::reduce_block_kernel<<<blocks, cuda_detail::threads_per_block, 0, cuda_stream()>>>(
        op, split, out_count, per_output, in, out);
    HNN_CUDA_CHECK_LAUNCH("reduce_block_kernel");
  } else {
    cuda_detail::reduce_thread_kernel<<<cuda_detail::blocks_for(out_count), cuda_detail::threads_per_block, 0,
                                        cuda_stream()>>>(op, split, out_count, per_output, in, out);
    HNN_CUDA_CHECK_LAUNCH("reduce_thread_kernel");
  }
}

template <class T>
void arg_reduce(cuda, bool largest, std::int64_t outer, std::int64_t size, std::int64_t inner, const T* in,
                std::int64_t* out) {
  if (outer * inner == 0) return;
  cuda_detail::arg_reduce_kernel<<<cuda_detail::blocks_for(outer * inner), cuda_detail::threads_per_block, 0,
                                   cuda_stream()>>>(largest, outer, size, inner, in, out);
  HNN_CUDA_CHECK_LAUNCH("arg_reduce_kernel");
}

}  // namespace hnn
