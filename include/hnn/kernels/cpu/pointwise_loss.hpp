// Elementwise losses on the CPU: a prediction x and a float target y of the same shape, each
// element's loss and its derivative d loss / dx, summed into the running totals
// (kernels/cpu/loss_stats.hpp). The element rules are small structs shared with the CUDA twin.
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

// torch.nn.MSELoss: (x - y)^2.
template <class T>
struct SquaredError {
  HNN_HOST_DEVICE T loss(T x, T y, std::int64_t) const { return (x - y) * (x - y); }
  HNN_HOST_DEVICE T derivative(T x, T y, std::int64_t) const { return T(2) * (x - y); }
};

// torch.nn.L1Loss: |x - y|; the derivative is sign(x - y), 0 where x = y (PyTorch's choice).
template <class T>
struct AbsoluteError {
  HNN_HOST_DEVICE T loss(T x, T y, std::int64_t) const { return x > y ? x - y : y - x; }
  HNN_HOST_DEVICE T derivative(T x, T y, std::int64_t) const { return x > y ? T(1) : x < y ? T(-1) : T(0); }
};

// torch.nn.HuberLoss(delta): d = x - y; d^2 / 2 where |d| < delta, else delta (|d| - delta / 2).
template <class T>
struct HuberError {
  T delta;
  HNN_HOST_DEVICE T loss(T x, T y, std::int64_t) const {
    const T d = x - y, a = d < T(0) ? -d : d;
    return a < delta ? T(0.5) * d * d : delta * (a - T(0.5) * delta);
  }
  HNN_HOST_DEVICE T derivative(T x, T y, std::int64_t) const {
    const T d = x - y;
    return d < -delta ? -delta : d > delta ? delta : d;
  }
};

// torch.nn.SmoothL1Loss(beta): d^2 / (2 beta) where |d| < beta, else |d| - beta / 2; with
// beta = 0 it is L1 (PyTorch's special case, whose derivative at d = 0 is 0, not 0 / 0).
template <class T>
struct SmoothL1Error {
  T beta;
  HNN_HOST_DEVICE T loss(T x, T y, std::int64_t) const {
    const T d = x - y, a = d < T(0) ? -d : d;
    return a < beta ? T(0.5) * d * d / beta : a - T(0.5) * beta;
  }
  HNN_HOST_DEVICE T derivative(T x, T y, std::int64_t) const {
    const T d = x - y;
    if (d < -beta) return T(-1);
    if (d > beta) return T(1);
    return beta > T(0) ? d / beta : T(0);
  }
};

// torch.nn.BCEWithLogitsLoss: the logit x of the probability sigmoid(x) of the target y in
// [0, 1], with an optional weight p_j of the positive term for class j = element % classes:
//   loss = (1 - y) x - (1 + (p_j - 1) y) log sigmoid(x),   log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)),
// finite for every finite x. The derivative, (1 - y) sigmoid(x) - p_j y sigmoid(-x), is that
// form (which is sigmoid(x) - y when p = 1) so that nothing cancels for y in {0, 1}.
template <class T>
struct LogisticError {
  const T* pos_weight = nullptr;  // null: every p_j = 1
  std::int64_t classes = 1;       // the length of pos_weight
  HNN_HOST_DEVICE T positive_weight(std::int64_t i) const { return pos_weight != nullptr ? pos_weight[i % classes] : T(1); }
  HNN_HOST_DEVICE static T exp_of(T x) {
#if defined(__CUDA_ARCH__)
    return exp(x);  // CUDA's overloads for float and double
#else
    return std::exp(x);
#endif
  }
  HNN_HOST_DEVICE static T log1p_of(T x) {
#if defined(__CUDA_ARCH__)
    return log1p(x);
#else
    return std::log1p(x);
#endif
  }
  HNN_HOST_DEVICE static T sigmoid(T x) {
    if (x >= T(0)) return T(1) / (T(1) + exp_of(-x));
    const T e = exp_of(x);
    return e / (T(1) + e);
  }
  HNN_HOST_DEVICE T loss(T x, T y, std::int64_t i) const {
    const T log_sigmoid = (x < T(0) ? x : T(0)) - log1p_of(exp_of(x < T(0) ? x : -x));
    return (T(1) - y) * x - (T(1) + (positive_weight(i) - T(1)) * y) * log_sigmoid;
  }
  HNN_HOST_DEVICE T derivative(T x, T y, std::int64_t i) const {
    return (T(1) - y) * sigmoid(x) - positive_weight(i) * y * sigmoid(-x);
  }
};

// Adds the batch's losses (rule `rule` per element, n elements in `samples` rows) to the
// totals, its count being n, and writes grad = derivative * grad_scale (grad optional;
// grad_scale 1 / n for a mean, 1 for a sum). Threads take contiguous element ranges and their
// sums are added in thread order, so a thread count gives one answer.
template <class T, class Rule>
void pointwise_loss(cpu, const Rule& rule, std::int64_t n, std::int64_t samples, const T* prediction,
                    const T* target, T grad_scale, T* grad, double* stats, const std::int64_t* batch_number,
                    double max_mean_loss = std::numeric_limits<double>::infinity()) {
  constexpr int max_threads = 64;
  double thread_loss[max_threads] = {};
#if defined(_OPENMP)
#pragma omp parallel if (n >= 32768 && num_threads() > 1) num_threads(std::min(num_threads(), max_threads))
#endif
  {
    const int t = thread_index();
    const auto [begin, end] = detail::thread_range(n, t, team_size());
    double my_loss = 0;
    for (std::int64_t i = begin; i < end; ++i) {
      my_loss += static_cast<double>(rule.loss(prediction[i], target[i], i));
      if (grad != nullptr) grad[i] = rule.derivative(prediction[i], target[i], i) * grad_scale;
    }
    thread_loss[t] = my_loss;
  }
  double loss_sum = 0;
  for (int t = 0; t < max_threads; ++t) loss_sum += thread_loss[t];
  add_loss_batch(cpu{}, stats, loss_sum, static_cast<double>(n), 0.0, static_cast<double>(samples), batch_number,
                 max_mean_loss);
}

}  // namespace hnn
