// Softmax cross-entropy on the GPU; the twin of kernels/cpu/loss.hpp. A thread per sample;
// the batch's loss and correct count are summed per block and added to the device-side
// totals, so nothing is read back until the trainer asks for the epoch's numbers.
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/loss.hpp"  // LossStats: the slots of the totals buffer
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void softmax_cross_entropy_kernel(int batch, int classes, const T* __restrict__ logits,
                                             const int* __restrict__ labels, T* __restrict__ grad, double* stats,
                                             const long long* batch_number) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  double loss = 0, correct = 0;
  bool finite = true;
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
    finite = isfinite(sample_loss);
    loss = static_cast<double>(sample_loss);
    correct = best == label ? 1.0 : 0.0;
    if (grad != nullptr) {
      T* g = grad + n * classes;
      const T inv = T(1) / (sum * T(batch));
      for (int c = 0; c < classes; ++c) g[c] = exp(z[c] - max) * inv;
      g[label] -= T(1) / T(batch);
    }
  }
  // Every writer of this launch writes the same batch number, so the plain store is safe.
  if (!finite && stats[LossStats::first_bad_batch] < 0)
    stats[LossStats::first_bad_batch] = batch_number != nullptr ? static_cast<double>(*batch_number) : 0.0;
  loss = block_sum(loss);
  correct = block_sum(correct);
  if (threadIdx.x == 0) {
    atomicAdd(stats + LossStats::loss_sum, loss);
    atomicAdd(stats + LossStats::correct, correct);
  }
}

}  // namespace cuda_detail

template <class T>
void softmax_cross_entropy(cuda, std::int64_t batch, std::int64_t classes, const T* logits,
                           const std::int32_t* labels, T* grad_logits, double* stats,
                           const std::int64_t* batch_number) {
  const int n = cuda_detail::checked_int(batch, "batch");
  const int c = cuda_detail::checked_int(classes, "classes");
  cuda_detail::checked_int(batch * classes, "logits");
  const unsigned blocks = static_cast<unsigned>((n + cuda_detail::threads_per_block - 1) / cuda_detail::threads_per_block);
  cuda_detail::softmax_cross_entropy_kernel<<<blocks, cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      n, c, logits, labels, grad_logits, stats, reinterpret_cast<const long long*>(batch_number));
  HNN_CUDA_CHECK_LAUNCH("softmax_cross_entropy_kernel");
}

}  // namespace hnn
