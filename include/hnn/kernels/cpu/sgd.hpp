// The SGD update on the CPU, torch.optim.SGD's arithmetic (maximize off):
//   g = grad + weight_decay * param                        (when weight_decay != 0)
//   buf = g on the buffer's first step, else momentum * buf + (1 - dampening) * g
//   g = g + momentum * buf (nesterov) or buf               (when momentum != 0)
//   param -= lr * g
// The buffer's first step is the one where the optimizer's step count (*step, in device memory
// so that a recorded CUDA graph replays correctly) equals `first_step`.
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

// The hyperparameters of one parameter group.
template <class T>
struct SgdHyper {
  T lr, momentum, dampening, weight_decay;
  bool nesterov;
};

// momentum_buffer may be null when momentum is zero. Large tensors (LeNet-5's Linear(400,
// 120) weight) are split between the threads. One loop per case rather than a branch per
// element, so that each vectorises.
template <class T>
void sgd_update(cpu, std::int64_t n, T* param, const T* grad, T* momentum_buffer, const SgdHyper<T>& h,
                const std::int64_t* step, std::int64_t first_step) {
  const bool first = *step == first_step;
  const T lr = h.lr, momentum = h.momentum, keep = T(1) - h.dampening, weight_decay = h.weight_decay;
#if defined(_OPENMP)
#pragma omp parallel if (n >= detail::sgd_parallel_elements)
#endif
  {
    const auto [begin, end] = detail::thread_range(n, thread_index(), team_size());
    if (momentum_buffer == nullptr) {
      for (std::int64_t i = begin; i < end; ++i) param[i] -= lr * (grad[i] + weight_decay * param[i]);
    } else if (first) {
      for (std::int64_t i = begin; i < end; ++i) {
        const T g = grad[i] + weight_decay * param[i];
        momentum_buffer[i] = g;
        param[i] -= lr * (h.nesterov ? g + momentum * g : g);
      }
    } else if (h.nesterov) {
      for (std::int64_t i = begin; i < end; ++i) {
        const T g = grad[i] + weight_decay * param[i];
        momentum_buffer[i] = momentum * momentum_buffer[i] + keep * g;
        param[i] -= lr * (g + momentum * momentum_buffer[i]);
      }
    } else if (h.dampening != T(0)) {
      for (std::int64_t i = begin; i < end; ++i) {
        momentum_buffer[i] = momentum * momentum_buffer[i] + keep * (grad[i] + weight_decay * param[i]);
        param[i] -= lr * momentum_buffer[i];
      }
    } else {  // the common case, written as hnn always has (the same rounding as its earlier releases)
      for (std::int64_t i = begin; i < end; ++i) {
        momentum_buffer[i] = momentum * momentum_buffer[i] + (grad[i] + weight_decay * param[i]);
        param[i] -= lr * momentum_buffer[i];
      }
    }
  }
}

}  // namespace hnn
