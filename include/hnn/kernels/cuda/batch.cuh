// Assembling a training batch on the GPU; the twin of kernels/cpu/batch.hpp. The whole
// dataset lives on the device and the batch number is read from device memory, so a
// recorded step (CUDA graph) gathers the right batch on every replay.
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void gather_batch_kernel(int count, int sample_size, const T* __restrict__ images,
                                    const int* __restrict__ labels, const int* __restrict__ order,
                                    const long long* __restrict__ batch_number, int batch_stride,
                                    T* __restrict__ batch_images, int* __restrict__ batch_labels) {
  const long long first = *batch_number * batch_stride;
  HNN_GRID_STRIDE_LOOP(i, count * sample_size) {
    const int sample = i / sample_size, pixel = i % sample_size;
    const int source = order[first + sample];
    batch_images[i] = images[static_cast<long long>(source) * sample_size + pixel];
    if (pixel == 0) batch_labels[sample] = labels[source];
  }
}

template <class E>
__global__ void gather_rows_kernel(int count, int row_size, const E* __restrict__ rows, const int* __restrict__ order,
                                   long long first, E* __restrict__ out) {
  HNN_GRID_STRIDE_LOOP(i, count * row_size) {
    const int row = i / row_size, column = i % row_size;
    out[i] = rows[static_cast<long long>(order[first + row]) * row_size + column];
  }
}

template <class Int>
__global__ void increment_kernel(Int* value) {
  ++*value;
}

}  // namespace cuda_detail

template <class E>
void gather_rows(cuda, std::int64_t count, std::int64_t row_size, const E* rows, const std::int32_t* order,
                 std::int64_t first, E* out) {
  const int total = cuda_detail::checked_int(count * row_size, "batch elements");
  if (total == 0) return;
  cuda_detail::gather_rows_kernel<<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      static_cast<int>(count), static_cast<int>(row_size), rows, order, static_cast<long long>(first), out);
  HNN_CUDA_CHECK_LAUNCH("gather_rows_kernel");
}

template <class T>
void gather_batch(cuda, std::int64_t count, std::int64_t sample_size, const T* images, const std::int32_t* labels,
                  const std::int32_t* order, const std::int64_t* batch_number, std::int64_t batch_stride,
                  T* batch_images, std::int32_t* batch_labels) {
  const int total = cuda_detail::checked_int(count * sample_size, "batch elements");
  cuda_detail::gather_batch_kernel<<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0,
                                     cuda_stream()>>>(
      static_cast<int>(count), static_cast<int>(sample_size), images, labels, order,
      reinterpret_cast<const long long*>(batch_number), cuda_detail::checked_int(batch_stride, "batch stride"),
      batch_images, batch_labels);
  HNN_CUDA_CHECK_LAUNCH("gather_batch_kernel");
}

inline void advance_batch_number(cuda, std::int64_t* batch_number) {
  cuda_detail::increment_kernel<<<1, 1, 0, cuda_stream()>>>(reinterpret_cast<long long*>(batch_number));
  HNN_CUDA_CHECK_LAUNCH("increment_kernel");
}

}  // namespace hnn
