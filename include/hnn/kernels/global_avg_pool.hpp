// The global_avg_pool op: global average pooling, (N, C, H, W) -> (N, C, 1, 1).
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/global_avg_pool.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/global_avg_pool.cuh"
#endif
