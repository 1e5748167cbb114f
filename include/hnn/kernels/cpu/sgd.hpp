// The SGD update on the CPU, with PyTorch's semantics for momentum and weight decay:
//   g = grad + weight_decay * param;  v = momentum * v + g;  param -= lr * v
#pragma once

#include <cstdint>

#include "hnn/device.hpp"

namespace hnn {

// velocity may be null when momentum is zero.
template <class T>
void sgd_update(cpu, std::int64_t n, T* param, const T* grad, T* velocity, T lr, T momentum, T weight_decay) {
  for (std::int64_t i = 0; i < n; ++i) {
    T g = grad[i] + weight_decay * param[i];
    if (velocity != nullptr) {
      velocity[i] = momentum * velocity[i] + g;
      g = velocity[i];
    }
    param[i] -= lr * g;
  }
}

}  // namespace hnn
