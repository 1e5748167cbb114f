// The SGD update on the CPU, with PyTorch's semantics for momentum and weight decay:
//   g = grad + weight_decay * param;  v = momentum * v + g;  param -= lr * v
#pragma once

#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/parallel.hpp"

namespace hnn {

namespace detail {
// Parameters below which the update runs on the calling thread (a parallel region costs more).
constexpr std::int64_t sgd_parallel_elements = 16384;
}  // namespace detail

// velocity may be null when momentum is zero. Large tensors (LeNet-5's Linear(400, 120)
// weight) are split between the threads: their gradients were summed on both cores.
// Two loops rather than a branch per element, so that each vectorises.
template <class T>
void sgd_update(cpu, std::int64_t n, T* param, const T* grad, T* velocity, T lr, T momentum, T weight_decay) {
#if defined(_OPENMP)
#pragma omp parallel if (n >= detail::sgd_parallel_elements)
#endif
  {
    const auto [begin, end] = detail::thread_range(n, thread_index(), team_size());
    if (velocity == nullptr) {
      for (std::int64_t i = begin; i < end; ++i) param[i] -= lr * (grad[i] + weight_decay * param[i]);
    } else {
      for (std::int64_t i = begin; i < end; ++i) {
        velocity[i] = momentum * velocity[i] + (grad[i] + weight_decay * param[i]);
        param[i] -= lr * velocity[i];
      }
    }
  }
}

}  // namespace hnn
