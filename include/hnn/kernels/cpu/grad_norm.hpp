// Gradient norms and clipping on the CPU, torch.nn.utils.clip_grad_norm_'s arithmetic:
//   total = (sum over every gradient element of |g|^p)^(1/p), or max |g| for p = infinity
//   coefficient = min(1, max_norm / (total + 1e-6));  every g *= coefficient
// The sum (or maximum) is accumulated into one double in device memory, tensor by tensor, and
// the scaling reads it there: nothing is read back between the two, so a GPU can replay both.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/parallel.hpp"

#ifndef HNN_HOST_DEVICE
#if defined(__CUDACC__)
#define HNN_HOST_DEVICE __host__ __device__
#else
#define HNN_HOST_DEVICE
#endif
#endif

namespace hnn {

// The total norm from the accumulated sum of |g|^p (or the maximum |g| for p = infinity).
HNN_HOST_DEVICE inline double norm_from_accumulated(double accumulated, double p) {
#if defined(__CUDA_ARCH__)
  if (isinf(p)) return accumulated;
  return p == 2 ? sqrt(accumulated) : pow(accumulated, 1 / p);
#else
  if (std::isinf(p)) return accumulated;
  return p == 2 ? std::sqrt(accumulated) : std::pow(accumulated, 1 / p);
#endif
}

// The factor clip_grad_norm_ multiplies every gradient by, in double.
HNN_HOST_DEVICE inline double clip_coefficient(double total_norm, double max_norm) {
  const double coefficient = max_norm / (total_norm + 1e-6);
  return coefficient < 1 ? coefficient : 1.0;  // a NaN total gives NaN, as PyTorch's clamp does
}

// *accumulated += sum |g_i|^p over n values (p finite), or = max(*accumulated, max |g_i|).
template <class T>
void accumulate_grad_norm(cpu, std::int64_t n, const T* grad, double p, double* accumulated) {
  constexpr int max_threads = 64;
  double part[max_threads] = {};
  const bool infinite = std::isinf(p);
#if defined(_OPENMP)
#pragma omp parallel if (n >= 65536 && num_threads() > 1) num_threads(std::min(num_threads(), max_threads))
#endif
  {
    const int t = thread_index();
    const auto [begin, end] = detail::thread_range(n, t, team_size());
    double mine = 0;
    for (std::int64_t i = begin; i < end; ++i) {
      const double a = std::abs(static_cast<double>(grad[i]));
      if (infinite) mine = (a > mine || std::isnan(a)) ? a : mine;
      else mine += p == 2 ? a * a : p == 1 ? a : std::pow(a, p);
    }
    part[t] = mine;
  }
  for (int t = 0; t < max_threads; ++t) {
    if (infinite) *accumulated = (part[t] > *accumulated || std::isnan(part[t])) ? part[t] : *accumulated;
    else *accumulated += part[t];
  }
}

// grad *= clip_coefficient(total, max_norm) (rounded to T), total from *accumulated.
template <class T>
void clip_grad(cpu, std::int64_t n, T* grad, double max_norm, double p, const double* accumulated) {
  const T coefficient = static_cast<T>(clip_coefficient(norm_from_accumulated(*accumulated, p), max_norm));
  for (std::int64_t i = 0; i < n; ++i) grad[i] *= coefficient;
}

}  // namespace hnn
