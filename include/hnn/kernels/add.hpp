// The add op: elementwise sums (a residual block's two branches).
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/add.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/add.cuh"
#endif
