// The Adam and AdamW updates on the CPU, with torch.optim.Adam's / AdamW's exact arithmetic
// (single-tensor path, amsgrad off). For step t >= 1 (the count including this update):
//   decoupled (AdamW): param *= 1 - lr * weight_decay          else: g = grad + weight_decay * param
//   m = lerp(m, g, 1 - beta1)           (torch: exp_avg.lerp_(g, 1 - beta1))
//   v = beta2 * v + (1 - beta2) * g * g
//   param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The hyperparameters are doubles, combined in double (as PyTorch does in Python) and rounded
// to T once per step; m and v (exp_avg, exp_avg_sq) start at zero. t is read from device
// memory (*step), so a recorded CUDA graph replays each step's own bias correction.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "hnn/device.hpp"

#ifndef HNN_HOST_DEVICE
#if defined(__CUDACC__)
#define HNN_HOST_DEVICE __host__ __device__
#else
#define HNN_HOST_DEVICE
#endif
#endif

namespace hnn {

// The hyperparameters of one parameter group.
struct AdamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;  // AdamW's decoupled weight decay, else Adam's L2 term in the gradient
};

// The per-step constants of one update, in T.
template <class T>
struct AdamConstants {
  T beta1_weight, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps, weight_decay, decay_factor;
  bool l2;           // weight decay added to the gradient (Adam with weight_decay != 0)
  bool decay_param;  // param *= decay_factor first (AdamW with weight_decay != 0)
};

template <class T>
HNN_HOST_DEVICE AdamConstants<T> adam_constants(const AdamHyper& h, std::int64_t step) {
#if defined(__CUDA_ARCH__)
  const double bias_correction1 = 1 - pow(h.beta1, static_cast<double>(step));
  const double bias_correction2 = 1 - pow(h.beta2, static_cast<double>(step));
  const double bias_correction2_sqrt = sqrt(bias_correction2);
#else
  const double bias_correction1 = 1 - std::pow(h.beta1, static_cast<double>(step));
  const double bias_correction2 = 1 - std::pow(h.beta2, static_cast<double>(step));
  const double bias_correction2_sqrt = std::sqrt(bias_correction2);
#endif
  return {static_cast<T>(1 - h.beta1),
          static_cast<T>(h.beta2),
          static_cast<T>(1 - h.beta2),
          static_cast<T>(h.lr / bias_correction1),
          static_cast<T>(bias_correction2_sqrt),
          static_cast<T>(h.eps),
          static_cast<T>(h.weight_decay),
          static_cast<T>(1 - h.lr * h.weight_decay),
          !h.decoupled && h.weight_decay != 0,
          h.decoupled && h.weight_decay != 0};
}

// torch.lerp's rule: start + w (end - start) for w < 0.5, else end - (end - start)(1 - w).
template <class T>
HNN_HOST_DEVICE T lerp(T start, T end, T weight) {
  return weight < T(0.5) ? start + weight * (end - start) : end - (end - start) * (T(1) - weight);
}

// One element of the update with the step's constants.
template <class T>
HNN_HOST_DEVICE void adam_element(const AdamConstants<T>& k, T& param, T grad, T& m, T& v) {
  T p = param;
  if (k.decay_param) p *= k.decay_factor;
  const T g = k.l2 ? grad + k.weight_decay * p : grad;
  const T mi = lerp(m, g, k.beta1_weight);
  const T vi = v * k.beta2 + k.one_minus_beta2 * g * g;
  m = mi;
  v = vi;
#if defined(__CUDA_ARCH__)
  param = p - k.step_size * (mi / (sqrt(vi) / k.bias_correction2_sqrt + k.eps));
#else
  param = p - k.step_size * (mi / (std::sqrt(vi) / k.bias_correction2_sqrt + k.eps));
#endif
}

template <class T>
void adam_update(cpu, std::int64_t n, T* param, const T* grad, T* m, T* v, const AdamHyper& h, const std::int64_t* step) {
  if (*step < 1) throw std::invalid_argument("hnn adam_update: the step count starts at 1, got " + std::to_string(*step));
  const AdamConstants<T> k = adam_constants<T>(h, *step);
#if defined(_OPENMP)
#pragma omp parallel for simd schedule(static) if (n > 65536)
#endif
  for (std::int64_t i = 0; i < n; ++i) adam_element(k, param[i], grad[i], m[i], v[i]);
}

}  // namespace hnn
