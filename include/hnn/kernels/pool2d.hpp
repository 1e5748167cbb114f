// The pool2d op: average and max pooling over NCHW.
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/pool2d.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/pool2d.cuh"
#endif
