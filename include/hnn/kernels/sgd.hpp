// The sgd op: the SGD update with PyTorch's momentum and weight decay.
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/sgd.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/sgd.cuh"
#endif
