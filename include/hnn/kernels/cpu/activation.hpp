// Elementwise activations on the CPU. Sigmoid's backward needs only its output;
// ReLU's needs only its input.
#pragma once

#include <cmath>
#include <cstdint>

#include "hnn/device.hpp"

namespace hnn {

template <class T>
void sigmoid_forward(cpu, const T* input, T* output, std::int64_t n) {
#if defined(_OPENMP)
#pragma omp parallel for simd schedule(static) if (n > 65536)
#endif
  for (std::int64_t i = 0; i < n; ++i) output[i] = T(1) / (T(1) + std::exp(-input[i]));
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
