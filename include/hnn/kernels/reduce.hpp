// The reduction op of hnn/ops.hpp: sum, max and min over any set of dimensions, and the index
// of the extreme along one dimension (argmax, argmin). mean, logsumexp, softmax and
// log_softmax are built from these and the elementwise op in hnn/ops.hpp. One algorithm per
// device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/reduce.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/reduce.cuh"
#endif
