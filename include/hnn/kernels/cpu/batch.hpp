// Assembling a training batch on the CPU from a shuffled order of the whole dataset.
//
// The batch number is read from memory (`*batch_number`) rather than passed by value,
// so that the same sequence of calls can be recorded once and replayed every step
// (the CUDA trainer captures it into a graph; the CPU trainer just calls it).
#pragma once

#include <algorithm>
#include <cstdint>

#include "hnn/device.hpp"

namespace hnn {

// Copies rows order[first .. first + count) of `rows` (row_size elements each) into `out`, one
// after the other: a batch's inputs or its targets, gathered from a dataset resident on the
// device (data/resident_loader.hpp).
template <class E>
void gather_rows(cpu, std::int64_t count, std::int64_t row_size, const E* rows, const std::int32_t* order,
                 std::int64_t first, E* out) {
  for (std::int64_t i = 0; i < count; ++i) {
    const E* src = rows + static_cast<std::int64_t>(order[first + i]) * row_size;
    std::copy(src, src + row_size, out + i * row_size);
  }
}

// Copies samples order[b*stride .. b*stride+count) into the batch buffers, b = *batch_number.
template <class T>
void gather_batch(cpu, std::int64_t count, std::int64_t sample_size, const T* images, const std::int32_t* labels,
                  const std::int32_t* order, const std::int64_t* batch_number, std::int64_t batch_stride,
                  T* batch_images, std::int32_t* batch_labels) {
  const std::int32_t* picked = order + *batch_number * batch_stride;
  for (std::int64_t i = 0; i < count; ++i) {
    const T* src = images + static_cast<std::int64_t>(picked[i]) * sample_size;
    std::copy(src, src + sample_size, batch_images + i * sample_size);
    batch_labels[i] = labels[picked[i]];
  }
}

inline void advance_batch_number(cpu, std::int64_t* batch_number) { ++*batch_number; }

}  // namespace hnn
