// Elementwise losses on the GPU; the twin of kernels/cpu/pointwise_loss.hpp, with the same
// element rules (SquaredError, AbsoluteError, HuberError, SmoothL1Error, LogisticError).
#pragma once

#include <cstdint>
#include <limits>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/pointwise_loss.hpp"
#include "hnn/kernels/cuda/common.cuh"
#include "hnn/kernels/cuda/loss_stats.cuh"

namespace hnn {

namespace cuda_detail {

template <class T, class Rule>
__global__ void pointwise_loss_kernel(Rule rule, int n, int samples, const T* __restrict__ prediction,
                                      const T* __restrict__ target, T grad_scale, T* __restrict__ grad, double* stats,
                                      const long long* batch_number, double max_mean_loss) {
  double loss = 0;
  HNN_GRID_STRIDE_LOOP(i, n) {
    loss += static_cast<double>(rule.loss(prediction[i], target[i], i));
    if (grad != nullptr) grad[i] = rule.derivative(prediction[i], target[i], i) * grad_scale;
  }
  // Each element counts once towards the mean, whichever thread took it.
  const double count = static_cast<double>(blockIdx.x == 0 && threadIdx.x == 0 ? n : 0);
  add_loss_batch(stats, loss, count, 0.0, static_cast<double>(samples), batch_number, max_mean_loss);
}

}  // namespace cuda_detail

template <class T, class Rule>
void pointwise_loss(cuda, const Rule& rule, std::int64_t n, std::int64_t samples, const T* prediction,
                    const T* target, T grad_scale, T* grad, double* stats, const std::int64_t* batch_number,
                    double max_mean_loss = std::numeric_limits<double>::infinity()) {
  const int count = cuda_detail::checked_int(n, "loss elements");
  const int rows = cuda_detail::checked_int(samples, "samples");
  if (count == 0) return;  // the loss classes refuse empty batches
  cuda_detail::pointwise_loss_kernel<<<cuda_detail::blocks_for(count), cuda_detail::threads_per_block, 0,
                                       cuda_stream()>>>(rule, count, rows, prediction, target, grad_scale, grad, stats,
                                                        reinterpret_cast<const long long*>(batch_number),
                                                        max_mean_loss);
  HNN_CUDA_CHECK_LAUNCH("pointwise_loss_kernel");
}

}  // namespace hnn
