// Global average pooling on the CPU (PyTorch's AdaptiveAvgPool2d(1)): (N, C, H, W) ->
// (N, C, 1, 1), each output the mean of one plane. `planes` = N * C, `pixels` = H * W.
#pragma once

#include <cstdint>

#include "hnn/device.hpp"

namespace hnn {

namespace detail {
// Planes below which a parallel region costs more than it saves.
constexpr std::int64_t global_avg_pool_parallel_work = 65536;
}  // namespace detail

template <class T>
void global_avg_pool_forward(cpu, std::int64_t planes, std::int64_t pixels, const T* input, T* output) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (planes * pixels >= detail::global_avg_pool_parallel_work)
#endif
  for (std::int64_t p = 0; p < planes; ++p) {
    const T* in = input + p * pixels;
    T sum = 0;
    for (std::int64_t i = 0; i < pixels; ++i) sum += in[i];
    output[p] = sum / T(pixels);
  }
}

// Every pixel of plane p receives grad_output[p] / pixels.
template <class T>
void global_avg_pool_backward(cpu, std::int64_t planes, std::int64_t pixels, const T* grad_output, T* grad_input) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) if (planes * pixels >= detail::global_avg_pool_parallel_work)
#endif
  for (std::int64_t p = 0; p < planes; ++p) {
    const T share = grad_output[p] / T(pixels);
    T* din = grad_input + p * pixels;
    for (std::int64_t i = 0; i < pixels; ++i) din[i] = share;
  }
}

}  // namespace hnn
