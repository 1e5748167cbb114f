// Batch normalisation on the GPU; the twin of kernels/cpu/batch_norm.hpp (same layout,
// same arguments, same definitions). Training kernels run one block per channel: the block
// reduces the channel's sums (two passes: mean, then squared deviations) and then writes
// its elements. Few channels over many pixels leave most of the GPU idle; that is fine for
// the small networks hnn trains and can be split into partial sums when it is not.
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/batch_norm.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

// Element j (0 <= j < batch * spatial) of channel c.
__device__ inline int batch_norm_index(int j, int c, int channels, int spatial) {
  return ((j / spatial) * channels + c) * spatial + j % spatial;
}

template <class T>
__global__ void batch_norm_forward_training_kernel(int batch, int channels, int spatial, const T* __restrict__ x,
                                                   const T* __restrict__ weight, const T* __restrict__ bias,
                                                   T* __restrict__ running_mean, T* __restrict__ running_var,
                                                   T momentum, T eps, T* __restrict__ y, T* __restrict__ save_mean,
                                                   T* __restrict__ save_inv_std) {
  __shared__ T broadcast[2];
  const int count = batch * spatial;
  for (int c = blockIdx.x; c < channels; c += gridDim.x) {
    T sum = 0;
    for (int j = threadIdx.x; j < count; j += blockDim.x) sum += x[batch_norm_index(j, c, channels, spatial)];
    sum = block_sum(sum);
    if (threadIdx.x == 0) broadcast[0] = sum / T(count);
    __syncthreads();
    const T mean = broadcast[0];
    T squares = 0;
    for (int j = threadIdx.x; j < count; j += blockDim.x) {
      const T d = x[batch_norm_index(j, c, channels, spatial)] - mean;
      squares += d * d;
    }
    squares = block_sum(squares);
    if (threadIdx.x == 0) {
      const T inv_std = T(1) / sqrt(squares / T(count) + eps);
      broadcast[1] = inv_std;
      save_mean[c] = mean;
      save_inv_std[c] = inv_std;
      if (running_mean != nullptr) running_mean[c] = (T(1) - momentum) * running_mean[c] + momentum * mean;
      if (running_var != nullptr)
        running_var[c] = (T(1) - momentum) * running_var[c] + momentum * (squares / T(count - 1));
    }
    __syncthreads();
    const T scale = (weight != nullptr ? weight[c] : T(1)) * broadcast[1];
    const T shift = (bias != nullptr ? bias[c] : T(0)) - mean * scale;
    for (int j = threadIdx.x; j < count; j += blockDim.x) {
      const int i = batch_norm_index(j, c, channels, spatial);
      y[i] = x[i] * scale + shift;
    }
    __syncthreads();  // broadcast is rewritten by the next channel
  }
}

template <class T>
__global__ void batch_norm_forward_eval_kernel(int total, int channels, int spatial, const T* __restrict__ x,
                                               const T* __restrict__ weight, const T* __restrict__ bias,
                                               const T* __restrict__ running_mean,
                                               const T* __restrict__ running_var, T eps, T* __restrict__ y) {
  HNN_GRID_STRIDE_LOOP(i, total) {
    const int c = (i / spatial) % channels;
    const T scale = (weight != nullptr ? weight[c] : T(1)) / sqrt(running_var[c] + eps);
    const T shift = (bias != nullptr ? bias[c] : T(0)) - running_mean[c] * scale;
    y[i] = x[i] * scale + shift;
  }
}

template <class T>
__global__ void batch_norm_backward_kernel(int batch, int channels, int spatial, const T* __restrict__ x,
                                           const T* __restrict__ weight, const T* __restrict__ save_mean,
                                           const T* __restrict__ save_inv_std, const T* __restrict__ dy,
                                           T* __restrict__ dx, T* __restrict__ grad_weight,
                                           T* __restrict__ grad_bias) {
  __shared__ T broadcast[2];
  const int count = batch * spatial;
  for (int c = blockIdx.x; c < channels; c += gridDim.x) {
    const T mean = save_mean[c], inv_std = save_inv_std[c];
    T sum_dy = 0, sum_dy_xhat = 0;
    for (int j = threadIdx.x; j < count; j += blockDim.x) {
      const int i = batch_norm_index(j, c, channels, spatial);
      sum_dy += dy[i];
      sum_dy_xhat += dy[i] * ((x[i] - mean) * inv_std);
    }
    sum_dy = block_sum(sum_dy);
    sum_dy_xhat = block_sum(sum_dy_xhat);
    if (threadIdx.x == 0) {
      if (grad_bias != nullptr) grad_bias[c] = sum_dy;
      if (grad_weight != nullptr) grad_weight[c] = sum_dy_xhat;
      broadcast[0] = sum_dy / T(count);
      broadcast[1] = sum_dy_xhat / T(count);
    }
    __syncthreads();
    if (dx != nullptr) {
      const T scale = (weight != nullptr ? weight[c] : T(1)) * inv_std;
      const T mean_dy = broadcast[0], mean_dy_xhat = broadcast[1];
      for (int j = threadIdx.x; j < count; j += blockDim.x) {
        const int i = batch_norm_index(j, c, channels, spatial);
        dx[i] = scale * (dy[i] - mean_dy - (x[i] - mean) * inv_std * mean_dy_xhat);
      }
    }
    __syncthreads();
  }
}

// One thread per folded weight; the first per_channel of them also write the channel's bias.
template <class T>
__global__ void batch_norm_fold_kernel(int total, int per_channel, const T* __restrict__ weight,
                                       const T* __restrict__ bias, const T* __restrict__ gamma,
                                       const T* __restrict__ beta, const T* __restrict__ running_mean,
                                       const T* __restrict__ running_var, T eps, T* __restrict__ folded_weight,
                                       T* __restrict__ folded_bias) {
  HNN_GRID_STRIDE_LOOP(i, total) {
    const int c = i / per_channel;
    const double s = (gamma != nullptr ? static_cast<double>(gamma[c]) : 1.0) /
                     sqrt(static_cast<double>(running_var[c]) + static_cast<double>(eps));
    folded_weight[i] = static_cast<T>(static_cast<double>(weight[i]) * s);
    if (i % per_channel == 0) {
      const double b = bias != nullptr ? static_cast<double>(bias[c]) : 0.0;
      folded_bias[c] = static_cast<T>((b - static_cast<double>(running_mean[c])) * s +
                                      (beta != nullptr ? static_cast<double>(beta[c]) : 0.0));
    }
  }
}

inline int batch_norm_elements(std::int64_t batch, std::int64_t channels, std::int64_t spatial) {
  checked_int(batch, "batch");
  checked_int(channels, "channels");
  checked_int(spatial, "spatial");
  return checked_int(batch * channels * spatial, "batch_norm elements");
}

}  // namespace cuda_detail

template <class T>
void batch_norm_forward_training(cuda, std::int64_t batch, std::int64_t channels, std::int64_t spatial,
                                 const T* input, const T* weight, const T* bias, T* running_mean, T* running_var,
                                 T momentum, T eps, T* output, T* save_mean, T* save_inv_std) {
  using namespace cuda_detail;
  detail::check_batch_norm_count(batch, spatial);
  batch_norm_elements(batch, channels, spatial);
  batch_norm_forward_training_kernel<<<blocks_for(channels, 1), threads_per_block, 0, cuda_stream()>>>(
      static_cast<int>(batch), static_cast<int>(channels), static_cast<int>(spatial), input, weight, bias,
      running_mean, running_var, momentum, eps, output, save_mean, save_inv_std);
  HNN_CUDA_CHECK_LAUNCH("batch_norm_forward_training_kernel");
}

template <class T>
void batch_norm_forward_eval(cuda, std::int64_t batch, std::int64_t channels, std::int64_t spatial, const T* input,
                             const T* weight, const T* bias, const T* running_mean, const T* running_var, T eps,
                             T* output) {
  using namespace cuda_detail;
  const int total = batch_norm_elements(batch, channels, spatial);
  batch_norm_forward_eval_kernel<<<blocks_for(total), threads_per_block, 0, cuda_stream()>>>(
      total, static_cast<int>(channels), static_cast<int>(spatial), input, weight, bias, running_mean, running_var,
      eps, output);
  HNN_CUDA_CHECK_LAUNCH("batch_norm_forward_eval_kernel");
}

template <class T>
void batch_norm_backward(cuda, std::int64_t batch, std::int64_t channels, std::int64_t spatial, const T* input,
                         const T* weight, const T* save_mean, const T* save_inv_std, const T* grad_output,
                         T* grad_input, T* grad_weight, T* grad_bias) {
  using namespace cuda_detail;
  batch_norm_elements(batch, channels, spatial);
  batch_norm_backward_kernel<<<blocks_for(channels, 1), threads_per_block, 0, cuda_stream()>>>(
      static_cast<int>(batch), static_cast<int>(channels), static_cast<int>(spatial), input, weight, save_mean,
      save_inv_std, grad_output, grad_input, grad_weight, grad_bias);
  HNN_CUDA_CHECK_LAUNCH("batch_norm_backward_kernel");
}

template <class T>
void batch_norm_fold(cuda, std::int64_t channels, std::int64_t per_channel, const T* weight, const T* bias,
                     const T* gamma, const T* beta, const T* running_mean, const T* running_var, T eps,
                     T* folded_weight, T* folded_bias) {
  using namespace cuda_detail;
  checked_int(channels, "channels");
  const int per = checked_int(per_channel, "weights per channel");
  const int total = checked_int(channels * per_channel, "folded weights");
  batch_norm_fold_kernel<<<blocks_for(total), threads_per_block, 0, cuda_stream()>>>(
      total, per, weight, bias, gamma, beta, running_mean, running_var, eps, folded_weight, folded_bias);
  HNN_CUDA_CHECK_LAUNCH("batch_norm_fold_kernel");
}

}  // namespace hnn
