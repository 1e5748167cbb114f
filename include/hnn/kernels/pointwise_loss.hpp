// The pointwise_loss op: a loss of a prediction and a float target of the same shape, element
// by element (MSE, L1, Huber, smooth L1, logistic), with its gradient and the running totals.
// One algorithm per device: the CPU kernel, and its CUDA twin where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/pointwise_loss.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/pointwise_loss.cuh"
#endif
