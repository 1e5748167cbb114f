// The SGD update on the CPU, with PyTorch's semantics for momentum and weight decay:
//   g = grad + weight_decay * param;  v = momentum * v + g;  param -= lr * v
#pragma once

#include <cstdint>

#include "hnn/device.hpp"

namespace hnn {

// velocity may be null when momentum is zero.
// Two loops rather than a branch per element, so that each vectorises.
template <class T>
void sgd_update(cpu, std::int64_t n, T* param, const T* grad, T* velocity, T lr, T momentum, T weight_decay) {
  if (velocity == nullptr) {
    for (std::int64_t i = 0; i < n; ++i) param[i] -= lr * (grad[i] + weight_decay * param[i]);
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    velocity[i] = momentum * velocity[i] + (grad[i] + weight_decay * param[i]);
    param[i] -= lr * velocity[i];
  }
}

}  // namespace hnn
