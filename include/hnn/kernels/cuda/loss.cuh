// Softmax cross-entropy on the GPU; the twin of kernels/cpu/loss.hpp. A thread per sample;
// the batch's loss and correct count are summed per block and added to the device-side
// totals, so nothing is read back until the trainer asks for the epoch's numbers. The stats
// buffer must hold LossStats::size slots, its scratch slots zero (SoftmaxCrossEntropy::reset).
#pragma once

#include <cstdint>
#include <limits>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/loss.hpp"  // LossStats: the slots of the totals buffer
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void softmax_cross_entropy_kernel(int batch, int classes, const T* __restrict__ logits,
                                             const int* __restrict__ labels, T* __restrict__ grad, double* stats,
                                             const long long* batch_number, double max_mean_loss) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  double loss = 0, correct = 0;
  if (n < batch) {
    const T* z = logits + n * classes;
    const int label = labels[n];
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (z[c] > z[best]) best = c;
    const T max = z[best];
    T sum = 0;
    for (int c = 0; c < classes; ++c) sum += exp(z[c] - max);
    const T sample_loss = log(sum) + max - z[label];
    loss = static_cast<double>(sample_loss);
    correct = best == label ? 1.0 : 0.0;
    if (grad != nullptr) {
      T* g = grad + n * classes;
      const T inv = T(1) / (sum * T(batch));
      for (int c = 0; c < classes; ++c) g[c] = exp(z[c] - max) * inv;
      g[label] -= T(1) / T(batch);
    }
  }
  loss = block_sum(loss);
  correct = block_sum(correct);
  if (threadIdx.x != 0) return;
  atomicAdd(stats + LossStats::loss_sum, loss);
  atomicAdd(stats + LossStats::correct, correct);
  // The batch is judged on its whole sum, as on the CPU: each block adds its part, and the
  // last block to finish reads the total and clears the scratch slots for the next launch
  // (which keeps the kernel replayable in a CUDA graph).
  atomicAdd(stats + LossStats::batch_loss_sum, loss);
  __threadfence();  // this block's part is visible before it counts itself done
  if (atomicAdd(stats + LossStats::blocks_done, 1.0) != static_cast<double>(gridDim.x - 1)) return;
  const double mean = atomicAdd(stats + LossStats::batch_loss_sum, 0.0) / batch;  // an atomic read
  stats[LossStats::batch_loss_sum] = 0;
  stats[LossStats::blocks_done] = 0;
  if ((!isfinite(mean) || mean > max_mean_loss) && stats[LossStats::first_bad_batch] < 0) {
    stats[LossStats::first_bad_batch] = batch_number != nullptr ? static_cast<double>(*batch_number) : 0.0;
    stats[LossStats::bad_batch_loss] = mean;
  }
}

}  // namespace cuda_detail

template <class T>
void softmax_cross_entropy(cuda, std::int64_t batch, std::int64_t classes, const T* logits,
                           const std::int32_t* labels, T* grad_logits, double* stats,
                           const std::int64_t* batch_number,
                           double max_mean_loss = std::numeric_limits<double>::infinity()) {
  const int n = cuda_detail::checked_int(batch, "batch");
  const int c = cuda_detail::checked_int(classes, "classes");
  cuda_detail::checked_int(batch * classes, "logits");
  if (n == 0) return;  // a launch of zero blocks is an error; the CPU twin adds nothing either
  const unsigned blocks = static_cast<unsigned>((n + cuda_detail::threads_per_block - 1) / cuda_detail::threads_per_block);
  cuda_detail::softmax_cross_entropy_kernel<<<blocks, cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      n, c, logits, labels, grad_logits, stats, reinterpret_cast<const long long*>(batch_number), max_mean_loss);
  HNN_CUDA_CHECK_LAUNCH("softmax_cross_entropy_kernel");
}

}  // namespace hnn
