// The batch op: gathering a training batch from the device-resident dataset by a shuffled order.
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/batch.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/batch.cuh"
#endif
