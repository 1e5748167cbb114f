// The grad_norm op: the total p-norm of gradients accumulated in device memory, and the
// scaling that clips them to a maximum norm (torch.nn.utils.clip_grad_norm_).
// One algorithm per device: the CPU kernels, and their CUDA twins where nvcc compiles.
#pragma once

#include "hnn/kernels/cpu/grad_norm.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/grad_norm.cuh"
#endif
