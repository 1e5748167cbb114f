// The dropout op: inverted dropout with a mask that is a pure function of (seed, step, index), the same on both devices.
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/dropout.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/dropout.cuh"
#endif
