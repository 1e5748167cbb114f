// The rmsprop op: the RMSprop update (torch.optim.RMSprop: alpha, eps, weight decay,
// momentum, centered). One algorithm per device: the CPU kernel, and its CUDA twin where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/rmsprop.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/rmsprop.cuh"
#endif
