// The RMSprop update on the CPU, torch.optim.RMSprop's arithmetic (single-tensor path):
//   g = grad + weight_decay * param                     (when weight_decay != 0)
//   square_avg = alpha * square_avg + (1 - alpha) * g * g
//   centered:  grad_avg = lerp(grad_avg, g, 1 - alpha);  avg = sqrt(square_avg - grad_avg^2) + eps
//   else:      avg = sqrt(square_avg) + eps
//   momentum > 0:  buf = momentum * buf + g / avg;  param -= lr * buf
//   else:          param -= lr * g / avg
// square_avg, grad_avg and buf start at zero.
#pragma once

#include <cmath>
#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/adam.hpp"  // lerp, HNN_HOST_DEVICE

namespace hnn {

// The hyperparameters of one parameter group.
template <class T>
struct RmspropHyper {
  T lr, alpha, eps, weight_decay, momentum;
};

// One element. grad_avg is null unless centered, momentum_buffer null unless momentum > 0.
template <class T>
HNN_HOST_DEVICE void rmsprop_element(const RmspropHyper<T>& h, std::int64_t i, T* param, const T* grad, T* square_avg,
                                     T* grad_avg, T* momentum_buffer) {
  const T g = h.weight_decay != T(0) ? grad[i] + h.weight_decay * param[i] : grad[i];
  const T sq = square_avg[i] * h.alpha + (T(1) - h.alpha) * g * g;
  square_avg[i] = sq;
  T variance = sq;
  if (grad_avg != nullptr) {
    const T ga = lerp(grad_avg[i], g, T(1) - h.alpha);
    grad_avg[i] = ga;
    variance = sq - ga * ga;
  }
#if defined(__CUDA_ARCH__)
  const T avg = sqrt(variance) + h.eps;
#else
  const T avg = std::sqrt(variance) + h.eps;
#endif
  if (momentum_buffer != nullptr) {
    const T buf = momentum_buffer[i] * h.momentum + g / avg;
    momentum_buffer[i] = buf;
    param[i] -= h.lr * buf;
  } else {
    param[i] -= h.lr * (g / avg);
  }
}

template <class T>
void rmsprop_update(cpu, std::int64_t n, T* param, const T* grad, T* square_avg, T* grad_avg, T* momentum_buffer,
                    const RmspropHyper<T>& h) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (n > 65536)
#endif
  for (std::int64_t i = 0; i < n; ++i) rmsprop_element(h, i, param, grad, square_avg, grad_avg, momentum_buffer);
}

}  // namespace hnn
