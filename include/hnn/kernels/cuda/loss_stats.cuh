// The device half of kernels/cpu/loss_stats.hpp: how a loss kernel's blocks add a batch to
// the running totals and record an invalid label, with no read-back and nothing passed by
// value that changes between steps (a recorded CUDA graph replays them).
#pragma once

#include <cstdint>

#include "hnn/kernels/cpu/loss_stats.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn::cuda_detail {

// The twin of record_bad_label(cpu, ...): the first batch to record claims the record, and
// within it the smallest index (packed with its label) wins.
__device__ inline void record_bad_label(long long* error, int index, int label, const long long* batch_number) {
  const long long batch = batch_number != nullptr ? *batch_number : LabelError::unnumbered;
  const unsigned long long old = atomicCAS(reinterpret_cast<unsigned long long*>(error + LabelError::batch),
                                           static_cast<unsigned long long>(-1LL), static_cast<unsigned long long>(batch));
  if (static_cast<long long>(old) != -1LL && static_cast<long long>(old) != batch) return;
  atomicMin(error + LabelError::packed, static_cast<long long>(LabelError::pack(index, label)));
}

// Every thread of every block of the launch calls this with its own sums. Block sums go to
// the totals; the last block to finish reads the batch's whole sums, keeps them as the latest
// batch, judges the batch as add_loss_batch(cpu, ...) does and clears the scratch slots for
// the next launch. `samples` is the launch's row count (the same in every thread).
__device__ inline void add_loss_batch(double* stats, double loss, double count, double correct, double samples,
                                      const long long* batch_number, double max_mean_loss) {
  loss = block_sum(loss);
  count = block_sum(count);
  correct = block_sum(correct);
  if (threadIdx.x != 0) return;
  atomicAdd(stats + LossStats::loss_sum, loss);
  atomicAdd(stats + LossStats::count, count);
  atomicAdd(stats + LossStats::correct, correct);
  atomicAdd(stats + LossStats::batch_loss_sum, loss);
  atomicAdd(stats + LossStats::batch_count, count);
  __threadfence();  // this block's part is visible before it counts itself done
  if (atomicAdd(stats + LossStats::blocks_done, 1.0) != static_cast<double>(gridDim.x - 1)) return;
  const double batch_loss = atomicAdd(stats + LossStats::batch_loss_sum, 0.0);  // atomic reads
  const double batch_count = atomicAdd(stats + LossStats::batch_count, 0.0);
  stats[LossStats::batch_loss_sum] = 0;
  stats[LossStats::batch_count] = 0;
  stats[LossStats::blocks_done] = 0;
  stats[LossStats::samples] += samples;
  stats[LossStats::last_loss_sum] = batch_loss;
  stats[LossStats::last_count] = batch_count;
  const double mean = samples > 0 ? batch_loss / batch_count : 0.0;
  if ((!isfinite(mean) || mean > max_mean_loss) && stats[LossStats::first_bad_batch] < 0) {
    stats[LossStats::first_bad_batch] = batch_number != nullptr ? static_cast<double>(*batch_number) : 0.0;
    stats[LossStats::bad_batch_loss] = mean;
  }
}

}  // namespace hnn::cuda_detail
