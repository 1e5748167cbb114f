// Elementwise sums on the CPU: what a residual block adds its two branches with.
#pragma once

#include <cstdint>

#include "hnn/device.hpp"

namespace hnn {

// out[i] = a[i] + b[i]; out may be a or b.
template <class T>
void add(cpu, std::int64_t n, const T* a, const T* b, T* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace hnn
