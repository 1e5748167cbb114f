// The tanh op: the hyperbolic tangent, elementwise, forward and backward.
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/tanh.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/tanh.cuh"
#endif
