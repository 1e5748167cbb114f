// The channel-concatenation op: one tensor's channels copied into a channel range of a wider
// tensor, and back out (a Concat block's forward joins its branches so; its backward hands each
// branch its range of the output gradient). One algorithm per device: the CPU kernels, and
// their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/channel_concat.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/channel_concat.cuh"
#endif
