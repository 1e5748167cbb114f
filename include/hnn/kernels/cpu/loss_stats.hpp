// What every loss kernel shares: the running totals it adds each batch to, kept in device
// memory (a small double buffer) so that a GPU epoch runs without reading anything back per
// batch, and the record of the first invalid class label a kernel met, which a GPU cannot
// report by throwing. The CPU half; kernels/cuda/loss_stats.cuh is the device half.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "hnn/device.hpp"

#ifndef HNN_HOST_DEVICE
#if defined(__CUDACC__)
#define HNN_HOST_DEVICE __host__ __device__
#else
#define HNN_HOST_DEVICE
#endif
#endif

namespace hnn {

// How a loss reduces its per-element losses to the batch's loss (torch.nn's `reduction`):
// the mean (divided by the number of elements, or for a class-weighted cross-entropy by the
// sum of the labels' weights) or the sum.
enum class Reduction { mean, sum };

inline const char* reduction_name(Reduction r) { return r == Reduction::mean ? "mean" : "sum"; }

// Slots of the totals buffer.
struct LossStats {
  static constexpr int loss_sum = 0;         // sum of the per-element (weighted) losses of every batch added
  static constexpr int count = 1;            // sum of what each batch's mean divides by
  static constexpr int correct = 2;          // classification: samples whose largest logit is their label
  static constexpr int samples = 3;          // rows (first dimension) added
  static constexpr int first_bad_batch = 4;  // first bad batch (see add_loss_batch), -1 if none
  static constexpr int bad_batch_loss = 5;   // that batch's mean loss (NaN, infinite or too large)
  static constexpr int last_loss_sum = 6;    // the latest batch's loss sum and count: what a loss
  static constexpr int last_count = 7;       //   call reduces to the batch's loss
  static constexpr int batch_loss_sum = 8;   // CUDA scratch: the current batch's sums over its blocks
  static constexpr int batch_count = 9;
  static constexpr int blocks_done = 10;     // CUDA scratch: blocks of the current batch that added theirs
  static constexpr int size = 11;
  // What a reset buffer holds in `slot`.
  static constexpr double initial(int slot) { return slot == first_bad_batch ? -1.0 : 0.0; }
};

// The first invalid class label a kernel met, in two int64 slots: the batch it was in, and
// the smallest index in that batch packed with its label (the packing keeps the pair
// together under one atomic minimum on a GPU).
struct LabelError {
  static constexpr int batch = 0;   // -1: no invalid label; unnumbered: a call without a batch number
  static constexpr int packed = 1;  // (index << 32) | (uint32) label; none when no invalid label
  static constexpr int size = 2;
  static constexpr std::int64_t unnumbered = -2;
  static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::max();
  static constexpr std::int64_t initial(int slot) { return slot == batch ? -1 : none; }

  HNN_HOST_DEVICE static std::int64_t pack(std::int64_t index, std::int32_t label) {
    return static_cast<std::int64_t>((static_cast<std::uint64_t>(index) << 32) |
                                     static_cast<std::uint64_t>(static_cast<std::uint32_t>(label)));
  }
  static std::int64_t index(std::int64_t packed_value) { return packed_value >> 32; }
  static std::int32_t label(std::int64_t packed_value) {
    return static_cast<std::int32_t>(static_cast<std::uint32_t>(static_cast<std::uint64_t>(packed_value) & 0xffffffffu));
  }
};

// Records label `label` at `index` of the batch numbered *batch_number (unnumbered when null)
// unless an earlier batch already holds the record; within one batch the smallest index wins.
inline void record_bad_label(cpu, std::int64_t* error, std::int64_t index, std::int32_t label,
                             const std::int64_t* batch_number) {
  const std::int64_t batch = batch_number != nullptr ? *batch_number : LabelError::unnumbered;
  if (error[LabelError::batch] == -1) error[LabelError::batch] = batch;
  if (error[LabelError::batch] != batch) return;
  const std::int64_t packed = LabelError::pack(index, label);
  if (packed < error[LabelError::packed]) error[LabelError::packed] = packed;
}

// Adds one batch's sums to the totals and judges the batch: it is bad when its mean loss
// (loss_sum / count) is NaN, infinite or above `max_mean_loss`. The first bad batch's number
// (*batch_number, 0 when null) goes to stats[first_bad_batch], its mean to stats[bad_batch_loss].
// A NaN or infinite element makes the sum NaN or infinite, so judging the sum misses none.
inline void add_loss_batch(cpu, double* stats, double loss_sum, double count, double correct, double samples,
                           const std::int64_t* batch_number, double max_mean_loss) {
  stats[LossStats::loss_sum] += loss_sum;
  stats[LossStats::count] += count;
  stats[LossStats::correct] += correct;
  stats[LossStats::samples] += samples;
  stats[LossStats::last_loss_sum] = loss_sum;
  stats[LossStats::last_count] = count;
  const double mean = samples > 0 ? loss_sum / count : 0.0;
  if ((!std::isfinite(mean) || mean > max_mean_loss) && stats[LossStats::first_bad_batch] < 0) {
    stats[LossStats::first_bad_batch] = batch_number != nullptr ? static_cast<double>(*batch_number) : 0.0;
    stats[LossStats::bad_batch_loss] = mean;
  }
}

}  // namespace hnn
