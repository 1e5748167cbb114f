// Tanh on the CPU. Its backward needs only the output: d tanh(x) / dx = 1 - tanh(x)^2.
#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/activation.hpp"

namespace hnn {

// Vectorised by Eigen's packet tanh (a rational approximation for float, within a few ulps;
// std::tanh per element for double), in blocks split between the threads when n is large.
template <class T>
void tanh_forward(cpu, const T* input, T* output, std::int64_t n) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  detail::elementwise(n, [&](std::int64_t b, std::int64_t e) {
    Eigen::Map<Array>(output + b, e - b) = Eigen::Map<const Array>(input + b, e - b).tanh();
  });
}

template <class T>
void tanh_backward(cpu, const T* output, const T* grad_output, T* grad_input, std::int64_t n) {
  detail::elementwise(n, [&](std::int64_t b, std::int64_t e) {
#if defined(_OPENMP)
#pragma omp simd
#endif
    for (std::int64_t i = b; i < e; ++i) grad_input[i] = grad_output[i] * (T(1) - output[i] * output[i]);
  });
}

}  // namespace hnn
