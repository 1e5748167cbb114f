// The activation op: Sigmoid and ReLU, elementwise, forward and backward.
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/activation.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/activation.cuh"
#endif
