// Elementwise activations on the CPU. Sigmoid's backward needs only its output;
// ReLU's needs only its input.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"

namespace hnn {

// Eigen's vectorised logistic: for float a rational approximation within a few ulps of
// 1 / (1 + exp(-x)) (std::exp per element was the slowest op of a LeNet-5 step).
template <class T>
void sigmoid_forward(cpu, const T* input, T* output, std::int64_t n) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
#if defined(_OPENMP)
#pragma omp parallel if (n > 65536)
#endif
  {
    const auto [begin, end] = detail::thread_range(n, thread_index(), detail::team_size());
    Eigen::Map<Array>(output + begin, end - begin) = Eigen::Map<const Array>(input + begin, end - begin).logistic();
  }
}

template <class T>
void sigmoid_backward(cpu, const T* output, const T* grad_output, T* grad_input, std::int64_t n) {
#if defined(_OPENMP)
#pragma omp parallel for simd schedule(static) if (n > 65536)
#endif
  for (std::int64_t i = 0; i < n; ++i) grad_input[i] = grad_output[i] * output[i] * (T(1) - output[i]);
}

template <class T>
void relu_forward(cpu, const T* input, T* output, std::int64_t n) {
#if defined(_OPENMP)
#pragma omp parallel for simd schedule(static) if (n > 65536)
#endif
  for (std::int64_t i = 0; i < n; ++i) output[i] = input[i] > T(0) ? input[i] : T(0);
}

template <class T>
void relu_backward(cpu, const T* input, const T* grad_output, T* grad_input, std::int64_t n) {
#if defined(_OPENMP)
#pragma omp parallel for simd schedule(static) if (n > 65536)
#endif
  for (std::int64_t i = 0; i < n; ++i) grad_input[i] = input[i] > T(0) ? grad_output[i] : T(0);
}

}  // namespace hnn
