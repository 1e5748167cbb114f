// The cross_entropy op: softmax cross-entropy over class labels (class weights, label
// smoothing, mean or sum) fused with its gradient, the correct-prediction count and the
// running totals. One algorithm per device: the CPU kernel, and its CUDA twin where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/cross_entropy.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/cross_entropy.cuh"
#endif
