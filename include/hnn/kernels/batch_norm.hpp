// The batch_norm op: batch normalization over (N, C, spatial): training statistics, running statistics, backward,
// and the evaluation-mode fold into the Conv2d or Linear before it (batch_norm_fold).
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
// BatchNorm + ReLU fused (batch_norm_relu_*) exists on the CPU only: has_batch_norm_relu.
#pragma once

#include <type_traits>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/batch_norm.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/batch_norm.cuh"
#endif

namespace hnn {
// Devices with the fused BatchNorm + ReLU kernels; elsewhere the planner runs the two layers.
template <class Device>
struct has_batch_norm_relu : std::false_type {};
template <>
struct has_batch_norm_relu<cpu> : std::true_type {};
}  // namespace hnn
