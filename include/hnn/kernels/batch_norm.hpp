// The batch_norm op: batch normalization over (N, C, spatial): training statistics, running statistics, backward.
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/batch_norm.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/batch_norm.cuh"
#endif
