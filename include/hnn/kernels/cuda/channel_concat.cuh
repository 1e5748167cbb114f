// Channel-range copies on the GPU; the twin of kernels/cpu/channel_concat.hpp: a thread per
// element of the piece, (outer, count, inner), mapped to its place in the whole (outer,
// channels, inner).
#pragma once

#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {
// The offset in the whole of element i of the piece; run = count * inner.
__device__ inline int channel_range_offset(int i, int run, int channels, int first, int inner) {
  const int sample = i / run;
  return (sample * channels + first) * inner + (i - sample * run);
}

template <class T>
__global__ void copy_into_channels_kernel(int n, int run, int channels, int first, int inner, const T* piece,
                                          T* whole) {
  HNN_GRID_STRIDE_LOOP(i, n) { whole[channel_range_offset(i, run, channels, first, inner)] = piece[i]; }
}

template <class T>
__global__ void copy_from_channels_kernel(int n, int run, int channels, int first, int inner, const T* whole,
                                          T* piece) {
  HNN_GRID_STRIDE_LOOP(i, n) { piece[i] = whole[channel_range_offset(i, run, channels, first, inner)]; }
}
}  // namespace cuda_detail

template <class T>
void copy_into_channels(cuda, std::int64_t outer, std::int64_t channels, std::int64_t first, std::int64_t count,
                        std::int64_t inner, const T* piece, T* whole) {
  cuda_detail::checked_int(outer * channels * inner, "elements of the concatenated tensor");
  const int n = cuda_detail::checked_int(outer * count * inner, "elements of the piece");
  if (n == 0) return;
  cuda_detail::copy_into_channels_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                           cuda_stream()>>>(n, static_cast<int>(count * inner),
                                                            static_cast<int>(channels), static_cast<int>(first),
                                                            static_cast<int>(inner), piece, whole);
  HNN_CUDA_CHECK_LAUNCH("copy_into_channels_kernel");
}

template <class T>
void copy_from_channels(cuda, std::int64_t outer, std::int64_t channels, std::int64_t first, std::int64_t count,
                        std::int64_t inner, const T* whole, T* piece) {
  cuda_detail::checked_int(outer * channels * inner, "elements of the concatenated tensor");
  const int n = cuda_detail::checked_int(outer * count * inner, "elements of the piece");
  if (n == 0) return;
  cuda_detail::copy_from_channels_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                           cuda_stream()>>>(n, static_cast<int>(count * inner),
                                                            static_cast<int>(channels), static_cast<int>(first),
                                                            static_cast<int>(inner), whole, piece);
  HNN_CUDA_CHECK_LAUNCH("copy_from_channels_kernel");
}

}  // namespace hnn
