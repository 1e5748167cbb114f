// The batched matrix product of hnn/ops.hpp (either operand may be read transposed, so that
// the gradients need no transposed copies). One algorithm per device: Eigen's GEMM on the
// CPU, cuBLAS's strided-batched GEMM where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/matmul.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/matmul.cuh"
#endif
