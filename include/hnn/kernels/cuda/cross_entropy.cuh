// Softmax cross-entropy on the GPU; the twin of kernels/cpu/cross_entropy.hpp (the formulas
// are there). A thread per sample; the batch's sums go to the device-side totals
// (kernels/cuda/loss_stats.cuh), so nothing is read back until the totals are asked for. A
// label outside [0, C) is never used to index: the sample is skipped and recorded in
// `label_error`, which the loss classes read at their next synchronisation. With class weights
// and Reduction::mean the divisor is the batch's weight sum, known only once every block has
// added its part: the gradient is written unscaled and a second kernel divides it.
#pragma once

#include <cstdint>
#include <limits>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/cross_entropy.hpp"  // Reduction, LossStats, LabelError
#include "hnn/kernels/cuda/common.cuh"
#include "hnn/kernels/cuda/loss_stats.cuh"

namespace hnn {

namespace cuda_detail {

template <class T>
__global__ void cross_entropy_kernel(int batch, int classes, const T* __restrict__ logits,
                                     const int* __restrict__ labels, const T* __restrict__ class_weights,
                                     T label_smoothing, bool plain, T norm, T scale,
                                     T* __restrict__ grad, double* stats, long long* label_error,
                                     const long long* batch_number, double max_mean_loss) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  double loss = 0, count = 0, correct = 0;
  if (n < batch) {
    const T* z = logits + static_cast<long long>(n) * classes;
    T* g = grad != nullptr ? grad + static_cast<long long>(n) * classes : nullptr;
    const int y = labels[n];
    if (y < 0 || y >= classes) {
      if (label_error != nullptr) record_bad_label(label_error, n, y, batch_number);
      if (g != nullptr)
        for (int c = 0; c < classes; ++c) g[c] = T(0);
    } else {
      int best = 0;
      for (int c = 1; c < classes; ++c)
        if (z[c] > z[best]) best = c;
      const T max = z[best];
      T sum = 0;
      for (int c = 0; c < classes; ++c) sum += exp(z[c] - max);
      correct = best == y ? 1.0 : 0.0;
      if (plain) {
        loss = static_cast<double>(log(sum) + max - z[y]);
        count = 1;
        if (g != nullptr) {
          const T inv = T(1) / (sum * norm);
          for (int c = 0; c < classes; ++c) g[c] = exp(z[c] - max) * inv;
          g[y] -= T(1) / norm;
        }
      } else {
        const T log_sum_exp = log(sum) + max;
        const T w_y = class_weights != nullptr ? class_weights[y] : T(1);
        const T smooth_share = label_smoothing / T(classes);
        T all_weights = T(classes);  // W = sum_c w_c, summed in the CPU twin's order (C is small)
        if (class_weights != nullptr) {
          all_weights = T(0);
          for (int c = 0; c < classes; ++c) all_weights += class_weights[c];
        }
        T sample_loss = (T(1) - label_smoothing) * w_y * (log_sum_exp - z[y]);
        if (label_smoothing != T(0)) {
          T smooth = 0;
          for (int c = 0; c < classes; ++c) smooth += (class_weights != nullptr ? class_weights[c] : T(1)) * (log_sum_exp - z[c]);
          sample_loss += smooth_share * smooth;
        }
        loss = static_cast<double>(sample_loss);
        count = static_cast<double>(w_y);
        if (g != nullptr) {
          const T on_p = scale * ((T(1) - label_smoothing) * w_y + smooth_share * all_weights) / sum;
          for (int c = 0; c < classes; ++c) {
            const T w_c = class_weights != nullptr ? class_weights[c] : T(1);
            g[c] = exp(z[c] - max) * on_p - scale * smooth_share * w_c;
          }
          g[y] -= scale * (T(1) - label_smoothing) * w_y;
        }
      }
    }
  }
  add_loss_batch(stats, loss, count, correct, static_cast<double>(batch), batch_number, max_mean_loss);
}

// grad *= 1 / (the latest batch's count): the weighted mean's divisor, read from the totals.
template <class T>
__global__ void divide_by_batch_count_kernel(int n, T* __restrict__ grad, const double* stats) {
  const T scale = static_cast<T>(1.0 / stats[LossStats::last_count]);
  HNN_GRID_STRIDE_LOOP(i, n) grad[i] *= scale;
}

}  // namespace cuda_detail

template <class T>
void cross_entropy(cuda, std::int64_t batch, std::int64_t classes, const T* logits, const std::int32_t* labels,
                   const T* class_weights, T label_smoothing, Reduction reduction, T* grad_logits, double* stats,
                   std::int64_t* label_error, const std::int64_t* batch_number,
                   double max_mean_loss = std::numeric_limits<double>::infinity()) {
  const int n = cuda_detail::checked_int(batch, "batch");
  const int c = cuda_detail::checked_int(classes, "classes");
  const int elements = cuda_detail::checked_int(batch * classes, "logits");
  if (n == 0) return;  // a launch of zero blocks is an error; the loss classes refuse empty batches
  const bool plain = class_weights == nullptr && label_smoothing == T(0);
  const bool divide_later = class_weights != nullptr && reduction == Reduction::mean;
  const T norm = reduction == Reduction::mean ? T(batch) : T(1);
  const T scale = reduction == Reduction::mean && class_weights == nullptr ? static_cast<T>(1.0 / static_cast<double>(batch))
                                                                           : T(1);
  const unsigned blocks = static_cast<unsigned>((n + cuda_detail::threads_per_block - 1) / cuda_detail::threads_per_block);
  cuda_detail::cross_entropy_kernel<<<blocks, cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      n, c, logits, labels, class_weights, label_smoothing, plain, norm, scale, grad_logits, stats,
      reinterpret_cast<long long*>(label_error), reinterpret_cast<const long long*>(batch_number), max_mean_loss);
  HNN_CUDA_CHECK_LAUNCH("cross_entropy_kernel");
  if (divide_later && grad_logits != nullptr) {
    cuda_detail::divide_by_batch_count_kernel<<<cuda_detail::blocks_for(elements), cuda_detail::threads_per_block, 0,
                                                cuda_stream()>>>(elements, grad_logits, stats);
    HNN_CUDA_CHECK_LAUNCH("divide_by_batch_count_kernel");
  }
}

}  // namespace hnn
