// The loss op: softmax cross-entropy fused with its gradient and the running batch statistics.
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/loss.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/loss.cuh"
#endif
