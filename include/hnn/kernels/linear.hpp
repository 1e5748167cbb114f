// The linear op: fully connected Y = X W^T + b, W stored (out, in) as in PyTorch.
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/linear.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/linear.cuh"
#endif
