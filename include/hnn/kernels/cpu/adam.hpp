// The Adam and AdamW updates on the CPU, with torch.optim.Adam's / AdamW's exact arithmetic
// (single-tensor path, amsgrad off). For step t >= 1 (the count including this update):
//   decoupled (AdamW): param *= 1 - lr * weight_decay          else: g = grad + weight_decay * param
//   m += (1 - beta1) * (g - m)          (torch: exp_avg.lerp_(g, 1 - beta1))
//   v = beta2 * v + (1 - beta2) * g * g
//   param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The hyperparameters are doubles, combined in double on the host (as PyTorch does in Python)
// and rounded to T once; m and v (exp_avg, exp_avg_sq) start at zero.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "hnn/device.hpp"

namespace hnn {

// The per-step constants of one update, in T.
template <class T>
struct AdamConstants {
  T one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps, weight_decay, decay_factor;
  bool l2;  // weight decay added to the gradient (Adam with weight_decay != 0)
};

template <class T>
AdamConstants<T> adam_constants(double lr, double beta1, double beta2, double eps, double weight_decay,
                                bool decoupled, std::int64_t step) {
  if (step < 1) throw std::invalid_argument("hnn adam_update: step counts from 1, got " + std::to_string(step));
  const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step));
  return {static_cast<T>(1 - beta1),
          static_cast<T>(beta2),
          static_cast<T>(1 - beta2),
          static_cast<T>(lr / bias_correction1),
          static_cast<T>(std::sqrt(bias_correction2)),
          static_cast<T>(eps),
          static_cast<T>(weight_decay),
          static_cast<T>(1 - lr * weight_decay),
          !decoupled && weight_decay != 0};
}

template <class T>
void adam_update(cpu, std::int64_t n, T* param, const T* grad, T* m, T* v, double lr, double beta1, double beta2,
                 double eps, double weight_decay, bool decoupled, std::int64_t step) {
  const AdamConstants<T> k = adam_constants<T>(lr, beta1, beta2, eps, weight_decay, decoupled, step);
  const bool decay_param = decoupled && weight_decay != 0;
#if defined(_OPENMP)
#pragma omp parallel for simd schedule(static) if (n > 65536)
#endif
  for (std::int64_t i = 0; i < n; ++i) {
    T p = param[i];
    if (decay_param) p *= k.decay_factor;
    const T g = k.l2 ? grad[i] + k.weight_decay * p : grad[i];
    const T mi = m[i] + k.one_minus_beta1 * (g - m[i]);
    const T vi = v[i] * k.beta2 + k.one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - k.step_size * (mi / (std::sqrt(vi) / k.bias_correction2_sqrt + k.eps));
  }
}

}  // namespace hnn
