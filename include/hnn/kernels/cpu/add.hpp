// Elementwise sums on the CPU: what a residual block adds its two branches with.
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

}  // namespace hnn
