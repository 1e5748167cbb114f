// The add op: elementwise sums (a residual block's two branches; gradient accumulation).
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
// The sum followed by a ReLU (add_relu) exists on the CPU only: has_add_relu.
#pragma once

#include <type_traits>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/add.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/add.cuh"
#endif

namespace hnn {
// Devices with the fused sum + ReLU kernel; elsewhere the planner runs Residual and ReLU apart.
template <class Device>
struct has_add_relu : std::false_type {};
template <>
struct has_add_relu<cpu> : std::true_type {};
}  // namespace hnn
