// Elementwise activations on the CPU. Sigmoid's backward needs only its output;
// ReLU's needs only its input.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"

namespace hnn {

namespace detail {
// Runs body(begin, end) over [0, n): split between the threads when n is large, else on the
// calling thread (a parallel region costs more than a small elementwise op).
template <class Body>
void elementwise(std::int64_t n, Body&& body) {
#if defined(_OPENMP)
  if (n > 65536 && num_threads() > 1) {
#pragma omp parallel
    {
      const auto [begin, end] = thread_range(n, thread_index(), team_size());
      body(begin, end);
    }
    return;
  }
#endif
  body(std::int64_t{0}, n);
}
}  // namespace detail

// Vectorised: 1 / (1 + exp(-x)) with Eigen's packet exp and, for float on x86, a refined
// reciprocal estimate (kernels/cpu/vectorize.hpp), within a few ulps: std::exp per element
// made this the slowest op of a LeNet-5 step (tests/bench/NOTES.md).
template <class T>
void sigmoid_forward(cpu, const T* input, T* output, std::int64_t n) {
  detail::elementwise(n, [&](std::int64_t b, std::int64_t e) { detail::logistic(input + b, output + b, e - b); });
}

template <class T>
void sigmoid_backward(cpu, const T* output, const T* grad_output, T* grad_input, std::int64_t n) {
  detail::elementwise(n, [&](std::int64_t b, std::int64_t e) {
#if defined(_OPENMP)
#pragma omp simd
#endif
    for (std::int64_t i = b; i < e; ++i) grad_input[i] = grad_output[i] * output[i] * (T(1) - output[i]);
  });
}

template <class T>
void relu_forward(cpu, const T* input, T* output, std::int64_t n) {
  detail::elementwise(n, [&](std::int64_t b, std::int64_t e) {
#if defined(_OPENMP)
#pragma omp simd
#endif
    for (std::int64_t i = b; i < e; ++i) output[i] = input[i] > T(0) ? input[i] : T(0);
  });
}

// The gradient is loaded whether or not it is kept: a conditional load keeps the compiler
// from vectorising the select (tests/bench/NOTES.md).
template <class T>
void relu_backward(cpu, const T* input, const T* grad_output, T* grad_input, std::int64_t n) {
  detail::elementwise(n, [&](std::int64_t b, std::int64_t e) {
#if defined(_OPENMP)
#pragma omp simd
#endif
    for (std::int64_t i = b; i < e; ++i) {
      const T g = grad_output[i];
      grad_input[i] = input[i] > T(0) ? g : T(0);
    }
  });
}

}  // namespace hnn
