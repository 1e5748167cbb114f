// Batch normalisation on the CPU with PyTorch's numerics, for BatchNorm2d (NCHW, statistics
// per channel over N, H, W: spatial = H * W) and BatchNorm1d ((N, C): spatial = 1). Element
// (n, c, s) is at (n * channels + c) * spatial + s; each channel's count is batch * spatial.
//
// Training: y = (x - mean) / sqrt(var + eps) * weight + bias with the batch mean and BIASED
// variance; running_mean/var (when not null) become (1 - momentum) * running + momentum * stat
// with the UNBIASED variance (count / (count - 1)) for running_var, as torch.nn.BatchNorm*d.
// save_mean and save_inv_std (per channel, 1 / sqrt(biased var + eps)) are what backward
// needs. Evaluation: the running statistics normalise and are never written.
// weight and bias may be null (affine=False); PyTorch's defaults: momentum 0.1, eps 1e-5.
//
// The per-channel sums run over each sample's contiguous plane of `spatial` values with
// Eigen's vectorised reductions in T (a pairwise tree over the SIMD lanes), and the planes'
// sums are accumulated in double: a plain double loop over every element is a chain of
// dependent adds (tests/bench/NOTES.md).
//
// The threads split the batch, not the channels: each walks its own samples in memory order
// (a sample's channels are contiguous) keeping per-channel partial sums, which are added in
// thread order after a barrier, so a thread count always gives the same bits (and one thread
// the plain sample-order sum). Split by channel, every thread jumped between 256 planes of a
// few KB for each channel, and the batch norms ran far below the memory bandwidth
// (tests/bench/NOTES.md).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/device.hpp"
#include "hnn/parallel.hpp"

namespace hnn {

namespace detail {
template <class T>
using ConstPlane = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using Plane = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;

// Below this many elements a parallel region over channels costs more than it saves.
constexpr std::int64_t batch_norm_parallel_work = 32768;

inline void check_batch_norm_count(std::int64_t batch, std::int64_t spatial) {
  if (batch * spatial < 2)
    throw std::invalid_argument("hnn batch_norm: training needs more than 1 value per channel, got batch " +
                                std::to_string(batch) + " x spatial " + std::to_string(spatial) +
                                " (as in PyTorch; evaluation mode accepts a single sample)");
}
}  // namespace detail

namespace detail {
// y = x * scale + shift over one plane, then max(y, 0) when Relu (the fused BatchNorm + ReLU).
template <bool Relu, class T>
void normalize_plane(const T* input, T* output, std::int64_t spatial, T scale, T shift) {
  if constexpr (Relu)
    Plane<T>(output, spatial) = (ConstPlane<T>(input, spatial) * scale + shift).max(T(0));
  else
    Plane<T>(output, spatial) = ConstPlane<T>(input, spatial) * scale + shift;
}

// Scratch of n values kept by the calling thread and grown only when a call needs more, so
// that a steady training step allocates nothing (tests/unit/test_no_allocation.cpp). `Slot`
// tells apart the buffers one call holds at once.
template <class U, int Slot>
U* reusable_buffer(std::size_t n) {
  static thread_local std::vector<U> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

// Per-channel partial sums in double, `sums` of them per thread (zeroed), and the team that
// fills them: every thread when the tensor is large enough to pay for a parallel region,
// else one.
struct ChannelPartials {
  ChannelPartials(std::int64_t batch, std::int64_t channels, std::int64_t spatial, int sums)
      : channels(channels),
        sums(sums),
        threads(batch * channels * spatial >= batch_norm_parallel_work ? num_threads() : 1),
        values(reusable_buffer<double, 0>(static_cast<std::size_t>(threads * sums * channels))) {
    std::fill(values, values + threads * sums * channels, 0.0);
  }
  // The thread's sum k of channel c.
  double& at(int thread, int k, std::int64_t c) { return values[(thread * sums + k) * channels + c]; }
  // Every thread's sum k of channel c, added in thread order.
  double total(int k, std::int64_t c) const {
    double sum = 0;
    for (int t = 0; t < threads; ++t) sum += values[(t * sums + k) * channels + c];
    return sum;
  }
  std::int64_t channels;
  int sums, threads;
  double* values;
};

// Per-channel values (scales, shifts, means) for one call, in the calling thread's scratch.
template <class T>
T* channel_values(std::int64_t channels, int count) {
  return reusable_buffer<T, 1>(static_cast<std::size_t>(channels * count));
}

// f(c, at) for every plane (n, c), `at` its first element, the samples shared out among the
// enclosing parallel region's threads in memory order; a thread gets the same samples on
// every call with the same batch (a static schedule), so it reads the planes it wrote.
template <class F>
void for_each_plane(std::int64_t batch, std::int64_t channels, std::int64_t spatial, F&& f) {
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
  for (std::int64_t n = 0; n < batch; ++n)
    for (std::int64_t c = 0; c < channels; ++c) f(c, (n * channels + c) * spatial);
}

template <bool Relu, class T>
void batch_norm_forward_training(std::int64_t batch, std::int64_t channels, std::int64_t spatial, const T* input,
                                 const T* weight, const T* bias, T* running_mean, T* running_var, T momentum, T eps,
                                 T* output, T* save_mean, T* save_inv_std) {
  check_batch_norm_count(batch, spatial);
  const std::int64_t count = batch * spatial;
  // One pass over the input for the statistics: each thread sums d = x - k and d^2 with k its
  // first plane's mean (the shifted-data algorithm: k is near the mean, so sum d^2 - (sum d)^2
  // / n loses nothing to cancellation), and the threads' means and squared deviations are
  // merged in thread order (Chan et al.). Two passes (the mean, then the deviations) read
  // 12.8 MB twice for the ResNet's first batch norms.
  ChannelPartials partial(batch, channels, spatial, 4);  // shift k, sum d, sum d^2, count
  T* scale = channel_values<T>(channels, 2);
  T* shift = scale + channels;
#if defined(_OPENMP)
#pragma omp parallel num_threads(partial.threads)
#endif
  {
    const int t = thread_index();
    for_each_plane(batch, channels, spatial, [&](std::int64_t c, std::int64_t at) {
      const ConstPlane<T> x(input + at, spatial);
      if (partial.at(t, 3, c) == 0) partial.at(t, 0, c) = static_cast<double>(static_cast<T>(x.mean()));
      const auto d = x - static_cast<T>(partial.at(t, 0, c));
      partial.at(t, 1, c) += static_cast<double>(d.sum());
      partial.at(t, 2, c) += static_cast<double>(d.square().sum());
      partial.at(t, 3, c) += static_cast<double>(spatial);
    });
#if defined(_OPENMP)
#pragma omp single
#endif
    for (std::int64_t c = 0; c < channels; ++c) {
      double total = 0, mean = 0, squares = 0;  // squared deviations from the mean
      for (int u = 0; u < partial.threads; ++u) {
        const double n = partial.at(u, 3, c);
        if (n == 0) continue;  // a thread without samples
        const double sum_d = partial.at(u, 1, c), thread_mean = partial.at(u, 0, c) + sum_d / n;
        const double thread_squares = partial.at(u, 2, c) - sum_d * sum_d / n, delta = thread_mean - mean;
        mean += delta * n / (total + n);
        squares += thread_squares + delta * delta * total * n / (total + n);
        total += n;
      }
      const double var = squares / static_cast<double>(count);
      save_mean[c] = static_cast<T>(mean);
      const T inv_std = static_cast<T>(1.0 / std::sqrt(var + static_cast<double>(eps)));
      save_inv_std[c] = inv_std;
      if (running_mean != nullptr) running_mean[c] = (T(1) - momentum) * running_mean[c] + momentum * save_mean[c];
      if (running_var != nullptr)
        running_var[c] = (T(1) - momentum) * running_var[c] +
                         momentum * static_cast<T>(squares / static_cast<double>(count - 1));
      // y = x * scale + shift, with scale = weight * inv_std and shift = bias - mean * scale.
      scale[c] = (weight != nullptr ? weight[c] : T(1)) * inv_std;
      shift[c] = (bias != nullptr ? bias[c] : T(0)) - save_mean[c] * scale[c];
    }
    for_each_plane(batch, channels, spatial, [&](std::int64_t c, std::int64_t at) {
      normalize_plane<Relu>(input + at, output + at, spatial, scale[c], shift[c]);
    });
  }
}

template <bool Relu, class T>
void batch_norm_forward_eval(std::int64_t batch, std::int64_t channels, std::int64_t spatial, const T* input,
                             const T* weight, const T* bias, const T* running_mean, const T* running_var, T eps,
                             T* output) {
  T* scale = channel_values<T>(channels, 2);
  T* shift = scale + channels;
  for (std::int64_t c = 0; c < channels; ++c) {
    const T inv_std = T(1) / std::sqrt(running_var[c] + eps);
    scale[c] = (weight != nullptr ? weight[c] : T(1)) * inv_std;
    shift[c] = (bias != nullptr ? bias[c] : T(0)) - running_mean[c] * scale[c];
  }
#if defined(_OPENMP)
#pragma omp parallel if (batch * spatial * channels >= batch_norm_parallel_work)
#endif
  for_each_plane(batch, channels, spatial, [&](std::int64_t c, std::int64_t at) {
    normalize_plane<Relu>(input + at, output + at, spatial, scale[c], shift[c]);
  });
}
}  // namespace detail

template <class T>
void batch_norm_forward_training(cpu, std::int64_t batch, std::int64_t channels, std::int64_t spatial, const T* input,
                                 const T* weight, const T* bias, T* running_mean, T* running_var, T momentum, T eps,
                                 T* output, T* save_mean, T* save_inv_std) {
  detail::batch_norm_forward_training<false>(batch, channels, spatial, input, weight, bias, running_mean, running_var,
                                             momentum, eps, output, save_mean, save_inv_std);
}

template <class T>
void batch_norm_forward_eval(cpu, std::int64_t batch, std::int64_t channels, std::int64_t spatial, const T* input,
                             const T* weight, const T* bias, const T* running_mean, const T* running_var, T eps,
                             T* output) {
  detail::batch_norm_forward_eval<false>(batch, channels, spatial, input, weight, bias, running_mean, running_var, eps,
                                         output);
}

// Batch normalisation in evaluation mode folded into the layer before it, a Conv2d or Linear
// whose output channel c has the `per_channel` weights weight[c * per_channel + k]: with
//   s = gamma / sqrt(running_var + eps),  folded_weight = weight * s,
//   folded_bias = (bias - running_mean) * s + beta
// that layer alone computes what it and the batch norm compute. bias may be null (none);
// gamma and beta null when the batch norm is not affine (1 and 0). Computed in double, each
// value rounded to T once.
template <class T>
void batch_norm_fold(cpu, std::int64_t channels, std::int64_t per_channel, const T* weight, const T* bias,
                     const T* gamma, const T* beta, const T* running_mean, const T* running_var, T eps,
                     T* folded_weight, T* folded_bias) {
  for (std::int64_t c = 0; c < channels; ++c) {
    const double s = (gamma != nullptr ? static_cast<double>(gamma[c]) : 1.0) /
                     std::sqrt(static_cast<double>(running_var[c]) + static_cast<double>(eps));
    for (std::int64_t k = 0; k < per_channel; ++k)
      folded_weight[c * per_channel + k] = static_cast<T>(static_cast<double>(weight[c * per_channel + k]) * s);
    const double b = bias != nullptr ? static_cast<double>(bias[c]) : 0.0;
    folded_bias[c] = static_cast<T>((b - static_cast<double>(running_mean[c])) * s +
                                    (beta != nullptr ? static_cast<double>(beta[c]) : 0.0));
  }
}

namespace detail {
// Relu: the fused BatchNorm + ReLU, whose output (`relu_output`) masks dy: the gradient that
// reaches the batch norm is dy where the stage's output was positive, else 0.
template <bool Relu, class T>
void batch_norm_backward(std::int64_t batch, std::int64_t channels, std::int64_t spatial, const T* input,
                         const T* weight, const T* save_mean, const T* save_inv_std, const T* relu_output,
                         const T* grad_output, T* grad_input, T* grad_weight, T* grad_bias) {
  const std::int64_t count = batch * spatial;
  ChannelPartials partial(batch, channels, spatial, 2);  // sum dy, sum dy * x_hat
  T* scale = channel_values<T>(channels, 3);
  T* mean_dy = scale + channels;
  T* mean_dy_xhat = mean_dy + channels;
#if defined(_OPENMP)
#pragma omp parallel num_threads(partial.threads)
#endif
  {
    const int t = thread_index();
    for_each_plane(batch, channels, spatial, [&](std::int64_t c, std::int64_t at) {
      const T mean = save_mean[c], inv_std = save_inv_std[c];
      if constexpr (Relu) {  // plain loops: Eigen 3.4's select() does not vectorise
        const T* y = relu_output + at;
        const T* d = grad_output + at;
        const T* xs = input + at;
        T plane_dy = 0, plane_dy_xhat = 0;
#if defined(_OPENMP)
#pragma omp simd reduction(+ : plane_dy, plane_dy_xhat)
#endif
        for (std::int64_t k = 0; k < spatial; ++k) {
          const T g = y[k] > T(0) ? d[k] : T(0);  // d is loaded either way, so this vectorises
          plane_dy += g;
          plane_dy_xhat += g * ((xs[k] - mean) * inv_std);
        }
        partial.at(t, 0, c) += static_cast<double>(plane_dy);
        partial.at(t, 1, c) += static_cast<double>(plane_dy_xhat);
      } else {
        const ConstPlane<T> dy(grad_output + at, spatial), x(input + at, spatial);
        partial.at(t, 0, c) += static_cast<double>(dy.sum());
        partial.at(t, 1, c) += static_cast<double>((dy * ((x - mean) * inv_std)).sum());
      }
    });
#if defined(_OPENMP)
#pragma omp single
#endif
    for (std::int64_t c = 0; c < channels; ++c) {
      const double sum_dy = partial.total(0, c), sum_dy_xhat = partial.total(1, c);
      if (grad_bias != nullptr) grad_bias[c] = static_cast<T>(sum_dy);
      if (grad_weight != nullptr) grad_weight[c] = static_cast<T>(sum_dy_xhat);
      scale[c] = (weight != nullptr ? weight[c] : T(1)) * save_inv_std[c];
      mean_dy[c] = static_cast<T>(sum_dy / static_cast<double>(count));
      mean_dy_xhat[c] = static_cast<T>(sum_dy_xhat / static_cast<double>(count));
    }
    if (grad_input != nullptr) {
      for_each_plane(batch, channels, spatial, [&](std::int64_t c, std::int64_t at) {
        const T mean = save_mean[c], inv_std = save_inv_std[c], sc = scale[c], m_dy = mean_dy[c],
                m_dy_xhat = mean_dy_xhat[c];
        if constexpr (Relu) {
          const T* y = relu_output + at;
          const T* d = grad_output + at;
          const T* xs = input + at;
          T* dx = grad_input + at;
#if defined(_OPENMP)
#pragma omp simd
#endif
          for (std::int64_t k = 0; k < spatial; ++k) {
            const T g = y[k] > T(0) ? d[k] : T(0);
            dx[k] = sc * (g - m_dy - ((xs[k] - mean) * inv_std) * m_dy_xhat);
          }
        } else {
          const ConstPlane<T> dy(grad_output + at, spatial), x(input + at, spatial);
          const auto x_hat = (x - mean) * inv_std;
          Plane<T>(grad_input + at, spatial) = sc * (dy - m_dy - x_hat * m_dy_xhat);
        }
      });
    }
  }
}
}  // namespace detail

// The training-mode gradients, from what batch_norm_forward_training saved. With
// x_hat = (x - mean) * inv_std and m = batch * spatial, per channel:
//   grad_bias = sum dy,  grad_weight = sum dy * x_hat,
//   grad_input = weight * inv_std * (dy - grad_bias / m - x_hat * grad_weight / m).
// grad_input, grad_weight and grad_bias may each be null (not wanted); weight null = 1.
template <class T>
void batch_norm_backward(cpu, std::int64_t batch, std::int64_t channels, std::int64_t spatial, const T* input,
                         const T* weight, const T* save_mean, const T* save_inv_std, const T* grad_output,
                         T* grad_input, T* grad_weight, T* grad_bias) {
  detail::batch_norm_backward<false>(batch, channels, spatial, input, weight, save_mean, save_inv_std,
                                     static_cast<const T*>(nullptr), grad_output, grad_input, grad_weight, grad_bias);
}

// BatchNorm followed by ReLU in one pass each way (BatchNormLayer::fuse's stage,
// layers/batch_norm.hpp): output = max(batch_norm(x), 0). The backward takes that output
// to mask dy. The forward is the two layers' arithmetic (the same bits); the backward's sums
// over a masked plane may round differently in the last place.
template <class T>
void batch_norm_relu_forward_training(cpu, std::int64_t batch, std::int64_t channels, std::int64_t spatial,
                                      const T* input, const T* weight, const T* bias, T* running_mean, T* running_var,
                                      T momentum, T eps, T* output, T* save_mean, T* save_inv_std) {
  detail::batch_norm_forward_training<true>(batch, channels, spatial, input, weight, bias, running_mean, running_var,
                                            momentum, eps, output, save_mean, save_inv_std);
}

template <class T>
void batch_norm_relu_forward_eval(cpu, std::int64_t batch, std::int64_t channels, std::int64_t spatial,
                                  const T* input, const T* weight, const T* bias, const T* running_mean,
                                  const T* running_var, T eps, T* output) {
  detail::batch_norm_forward_eval<true>(batch, channels, spatial, input, weight, bias, running_mean, running_var, eps,
                                        output);
}

template <class T>
void batch_norm_relu_backward(cpu, std::int64_t batch, std::int64_t channels, std::int64_t spatial, const T* input,
                              const T* weight, const T* save_mean, const T* save_inv_std, const T* output,
                              const T* grad_output, T* grad_input, T* grad_weight, T* grad_bias) {
  detail::batch_norm_backward<true>(batch, channels, spatial, input, weight, save_mean, save_inv_std, output,
                                    grad_output, grad_input, grad_weight, grad_bias);
}

}  // namespace hnn
