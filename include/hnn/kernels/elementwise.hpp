// The elementwise op of hnn/ops.hpp: unary ops, binary ops and `where` with NumPy broadcasting
// (op codes and index arithmetic in kernels/strided.hpp), and the scaled double-to-T
// conversion of a loss value. One algorithm per device: the CPU kernels (Eigen array
// expressions), and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/elementwise.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/elementwise.cuh"
#endif
