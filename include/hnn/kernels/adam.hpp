// The adam op: the Adam and AdamW updates, PyTorch's rule with bias correction.
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/adam.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/adam.cuh"
#endif
