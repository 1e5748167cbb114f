// Elementwise sums on the CPU: what a residual block adds its two branches with, the sum
// followed by a ReLU in the same pass (the planner's fused Residual + ReLU stage), and a
// scaled sum (gradient accumulation).
#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/activation.hpp"

namespace hnn {

// out[i] = a[i] + b[i]; out may be a or b.
template <class T>
void add(cpu, std::int64_t n, const T* a, const T* b, T* out) {
  using Vector = Eigen::Array<T, Eigen::Dynamic, 1>;
  detail::elementwise(n, [&](std::int64_t begin, std::int64_t end) {
    Eigen::Map<Vector>(out + begin, end - begin) =
        Eigen::Map<const Vector>(a + begin, end - begin) + Eigen::Map<const Vector>(b + begin, end - begin);
  });
}

// out[i] = (a[i] + b[i]) * scale; out may be a or b (gradient accumulation's mean).
template <class T>
void add_scaled(cpu, std::int64_t n, const T* a, const T* b, T scale, T* out) {
  using Vector = Eigen::Array<T, Eigen::Dynamic, 1>;
  detail::elementwise(n, [&](std::int64_t begin, std::int64_t end) {
    Eigen::Map<Vector>(out + begin, end - begin) =
        (Eigen::Map<const Vector>(a + begin, end - begin) + Eigen::Map<const Vector>(b + begin, end - begin)) * scale;
  });
}

// out[i] = max(a[i] + b[i], 0), with relu_forward's select: the bits of add() then relu_forward().
template <class T>
void add_relu(cpu, std::int64_t n, const T* a, const T* b, T* out) {
  detail::elementwise(n, [&](std::int64_t begin, std::int64_t end) {
#if defined(_OPENMP)
#pragma omp simd
#endif
    for (std::int64_t i = begin; i < end; ++i) {
      const T sum = a[i] + b[i];
      out[i] = sum > T(0) ? sum : T(0);
    }
  });
}

}  // namespace hnn
