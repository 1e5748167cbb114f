// Softmax cross-entropy on the CPU, fused with its gradient and the batch statistics.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/parallel.hpp"

namespace hnn {

// Slots of the small double buffer the loss kernels accumulate into. Keeping the
// sums on the device lets a GPU epoch run without reading anything back per batch.
struct LossStats {
  static constexpr int loss_sum = 0;         // sum of per-sample losses
  static constexpr int correct = 1;          // samples whose arg-max logit is the label
  static constexpr int first_bad_batch = 2;  // first bad batch (see softmax_cross_entropy), -1 if none
  static constexpr int bad_batch_loss = 3;   // that batch's mean loss (NaN, infinite or too large)
  static constexpr int batch_loss_sum = 4;   // CUDA scratch: the current batch's loss, summed over blocks
  static constexpr int blocks_done = 5;      // CUDA scratch: blocks of the current batch that have added theirs
  static constexpr int size = 6;
};

// For each sample: loss = logsumexp(z) - z[label], computed with the max subtracted so
// that large logits cannot overflow. grad_logits (optional) receives the gradient of the
// MEAN loss over the batch: (softmax(z) - onehot(label)) / batch. A batch is bad when its
// mean loss is NaN, infinite or above `max_mean_loss`; the first bad one's `batch_number`
// (0 when null) goes to stats[first_bad_batch] and its mean loss to stats[bad_batch_loss].
template <class T>
void softmax_cross_entropy(cpu, std::int64_t batch, std::int64_t classes, const T* logits,
                           const std::int32_t* labels, T* grad_logits, double* stats,
                           const std::int64_t* batch_number,
                           double max_mean_loss = std::numeric_limits<double>::infinity()) {
  // Samples split between the threads once the batch is large enough to pay for a parallel
  // region; each thread's sums are added in thread order, so a thread count gives one answer.
  constexpr int max_threads = 64;
  double thread_loss[max_threads] = {}, thread_correct[max_threads] = {};
#if defined(_OPENMP)
#pragma omp parallel if (batch * classes >= 2048 && num_threads() > 1) num_threads(std::min(num_threads(), max_threads))
#endif
  {
    const int t = thread_index();
    const auto [n0, n1] = detail::thread_range(batch, t, team_size(), 1);
    double my_loss = 0, my_correct = 0;  // written to the shared arrays once, at the end
    for (std::int64_t n = n0; n < n1; ++n) {
      const T* z = logits + n * classes;
      std::int64_t best = 0;
      for (std::int64_t c = 1; c < classes; ++c)
        if (z[c] > z[best]) best = c;
      const T max = z[best];
      T sum = 0;
      for (std::int64_t c = 0; c < classes; ++c) sum += std::exp(z[c] - max);
      const T loss = std::log(sum) + max - z[labels[n]];
      my_loss += static_cast<double>(loss);
      my_correct += (best == labels[n]) ? 1.0 : 0.0;
      if (grad_logits != nullptr) {
        T* g = grad_logits + n * classes;
        const T inv = T(1) / (sum * T(batch));
        for (std::int64_t c = 0; c < classes; ++c) g[c] = std::exp(z[c] - max) * inv;
        g[labels[n]] -= T(1) / T(batch);
      }
    }
    thread_loss[t] = my_loss;
    thread_correct[t] = my_correct;
  }
  double loss_sum = 0, correct = 0;
  for (int t = 0; t < max_threads; ++t) {
    loss_sum += thread_loss[t];
    correct += thread_correct[t];
  }
  stats[LossStats::loss_sum] += loss_sum;
  stats[LossStats::correct] += correct;
  // Judged on the batch's sum, as the CUDA twin must: a NaN or infinite sample loss makes
  // the sum NaN or infinite (sample losses are never negative, so nothing cancels).
  const double mean = batch > 0 ? loss_sum / static_cast<double>(batch) : 0.0;
  if ((!std::isfinite(mean) || mean > max_mean_loss) && stats[LossStats::first_bad_batch] < 0) {
    stats[LossStats::first_bad_batch] = batch_number ? static_cast<double>(*batch_number) : 0.0;
    stats[LossStats::bad_batch_loss] = mean;
  }
}

}  // namespace hnn
