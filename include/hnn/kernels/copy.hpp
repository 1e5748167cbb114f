// The strided copy of hnn/ops.hpp's shape ops: permute and transpose, slicing, cat and stack,
// broadcast_to, and a slice's gradient put back in place. One algorithm per device: the CPU
// kernel, and its CUDA twin where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/copy.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/copy.cuh"
#endif
