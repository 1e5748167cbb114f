// Softmax cross-entropy on the CPU (torch.nn.CrossEntropyLoss over (N, C) logits and class
// labels, with class weights and label smoothing), fused with its gradient, the count of
// correct arg-max predictions and the running totals (kernels/cpu/loss_stats.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/loss_stats.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/parallel.hpp"

namespace hnn {

// For sample n with label y, log-probabilities log p = z - logsumexp(z) (the max subtracted
// first, so that large logits cannot overflow), class weights w (all 1 when `class_weights` is
// null) and label smoothing s, as PyTorch defines them:
//   loss_n  = (1 - s) w_y (-log p_y) + (s / C) sum_c w_c (-log p_c)
//   count_n = w_y                     (what the mean divides by: N without weights)
// The batch's loss is sum loss_n / sum count_n (Reduction::mean) or sum loss_n (sum).
// grad_logits (optional) receives its gradient, with W = sum_c w_c:
//   d/dz_k = scale [p_k ((1 - s) w_y + (s / C) W) - (1 - s) w_y [k = y] - (s / C) w_k],
// scale = 1 / sum count_n (mean) or 1 (sum).
// A label outside [0, C) is never used to index: its sample is skipped and recorded in
// `label_error` (LabelError, may be null), which the caller checks (the loss classes check
// labels before calling on the CPU, and read the record at the next synchronisation on a GPU).
// The batch's sums go to `stats` through add_loss_batch (batch_number, max_mean_loss: there).
template <class T>
void cross_entropy(cpu, std::int64_t batch, std::int64_t classes, const T* logits, const std::int32_t* labels,
                   const T* class_weights, T label_smoothing, Reduction reduction, T* grad_logits, double* stats,
                   std::int64_t* label_error, const std::int64_t* batch_number,
                   double max_mean_loss = std::numeric_limits<double>::infinity()) {
  const auto valid = [classes](std::int32_t y) { return y >= 0 && static_cast<std::int64_t>(y) < classes; };
  // Without weights and smoothing, the plain softmax cross-entropy (the arithmetic of every
  // LeNet recipe, kept exactly); otherwise the general form above.
  const bool plain = class_weights == nullptr && label_smoothing == T(0);
  // What the mean divides by, known before any gradient is written: the batch's weights.
  double weight_sum = 0;
  if (class_weights != nullptr) {
    for (std::int64_t n = 0; n < batch; ++n)
      if (valid(labels[n])) weight_sum += static_cast<double>(class_weights[labels[n]]);
  }
  const T scale = reduction == Reduction::sum ? T(1)
                  : class_weights != nullptr  ? static_cast<T>(1.0 / weight_sum)
                                              : static_cast<T>(1.0 / static_cast<double>(batch));
  const T norm = reduction == Reduction::mean ? T(batch) : T(1);  // the plain path's divisor
  T all_weights = T(classes);
  if (class_weights != nullptr) {
    all_weights = 0;
    for (std::int64_t c = 0; c < classes; ++c) all_weights += class_weights[c];
  }
  const T smooth_share = label_smoothing / T(classes);

  // Samples split between the threads once the batch is large enough to pay for a parallel
  // region; each thread's sums are added in thread order, so a thread count gives one answer.
  constexpr int max_threads = 64;
  double thread_loss[max_threads] = {}, thread_count[max_threads] = {}, thread_correct[max_threads] = {};
  std::int64_t thread_bad[max_threads];
  std::fill(thread_bad, thread_bad + max_threads, batch);
#if defined(_OPENMP)
#pragma omp parallel if (batch * classes >= 2048 && num_threads() > 1) num_threads(std::min(num_threads(), max_threads))
#endif
  {
    const int t = thread_index();
    const auto [n0, n1] = detail::thread_range(batch, t, team_size(), 1);
    double my_loss = 0, my_count = 0, my_correct = 0;  // written to the shared arrays once, at the end
    std::int64_t my_bad = batch;
    for (std::int64_t n = n0; n < n1; ++n) {
      const T* z = logits + n * classes;
      const std::int32_t y = labels[n];
      if (!valid(y)) {
        if (my_bad == batch) my_bad = n;
        if (grad_logits != nullptr) std::fill(grad_logits + n * classes, grad_logits + (n + 1) * classes, T(0));
        continue;
      }
      std::int64_t best = 0;
      for (std::int64_t c = 1; c < classes; ++c)
        if (z[c] > z[best]) best = c;
      const T max = z[best];
      T sum = 0;
      for (std::int64_t c = 0; c < classes; ++c) sum += std::exp(z[c] - max);
      my_correct += (best == y) ? 1.0 : 0.0;
      if (plain) {
        const T loss = std::log(sum) + max - z[y];
        my_loss += static_cast<double>(loss);
        my_count += 1;
        if (grad_logits != nullptr) {
          T* g = grad_logits + n * classes;
          const T inv = T(1) / (sum * norm);
          for (std::int64_t c = 0; c < classes; ++c) g[c] = std::exp(z[c] - max) * inv;
          g[y] -= T(1) / norm;
        }
        continue;
      }
      const T log_sum_exp = std::log(sum) + max;
      const T w_y = class_weights != nullptr ? class_weights[y] : T(1);
      T loss = (T(1) - label_smoothing) * w_y * (log_sum_exp - z[y]);
      if (label_smoothing != T(0)) {
        T smooth = 0;
        for (std::int64_t c = 0; c < classes; ++c)
          smooth += (class_weights != nullptr ? class_weights[c] : T(1)) * (log_sum_exp - z[c]);
        loss += smooth_share * smooth;
      }
      my_loss += static_cast<double>(loss);
      my_count += static_cast<double>(w_y);
      if (grad_logits != nullptr) {
        T* g = grad_logits + n * classes;
        const T on_p = scale * ((T(1) - label_smoothing) * w_y + smooth_share * all_weights) / sum;
        for (std::int64_t c = 0; c < classes; ++c) {
          const T w_c = class_weights != nullptr ? class_weights[c] : T(1);
          g[c] = std::exp(z[c] - max) * on_p - scale * smooth_share * w_c;
        }
        g[y] -= scale * (T(1) - label_smoothing) * w_y;
      }
    }
    thread_loss[t] = my_loss;
    thread_count[t] = my_count;
    thread_correct[t] = my_correct;
    thread_bad[t] = my_bad;
  }
  double loss_sum = 0, count = 0, correct = 0;
  std::int64_t first_bad = batch;
  for (int t = 0; t < max_threads; ++t) {
    loss_sum += thread_loss[t];
    count += thread_count[t];
    correct += thread_correct[t];
    first_bad = std::min(first_bad, thread_bad[t]);
  }
  if (first_bad < batch && label_error != nullptr)
    record_bad_label(cpu{}, label_error, first_bad, labels[first_bad], batch_number);
  add_loss_batch(cpu{}, stats, loss_sum, count, correct, static_cast<double>(batch), batch_number, max_mean_loss);
}

}  // namespace hnn
