// Conv2d on the CPU: im2col + one Eigen GEMM per sample, samples spread over threads.
//
// Forward, per sample n:   Y_n = W * col(X_n) + b           (out x patch) * (patch x pixels)
// Backward, per sample n:  dW += dY_n * col(X_n)^T,  db += rowsum(dY_n),
//                          dX_n = col2im(W^T * dY_n)
// Each thread owns one patch matrix and one partial dW/db, so threads never write the
// same memory; the partials are summed once at the end. Every buffer lives in a
// caller-owned workspace, so the kernels never allocate.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/conv2d_direct.hpp"
#include "hnn/kernels/geometry.hpp"
#include "hnn/parallel.hpp"

namespace hnn {

namespace detail {

template <class T>
using RowMajorMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstRowMajorMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// Unrolls one sample (C, H, W) into its patch matrix (C*k*k, OH*OW); zero padding.
template <class T>
void im2col(const Conv2dGeometry& g, const T* image, T* patches) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), k = g.kernel;
  for (std::int64_t c = 0; c < g.in_channels; ++c)
    for (std::int64_t kh = 0; kh < k; ++kh)
      for (std::int64_t kw = 0; kw < k; ++kw) {
        T* row = patches + ((c * k + kh) * k + kw) * oh_n * ow_n;
        const T* plane = image + c * g.in_pixels();
        for (std::int64_t oh = 0; oh < oh_n; ++oh) {
          const std::int64_t ih = oh * g.stride - g.padding + kh;
          T* out = row + oh * ow_n;
          if (ih < 0 || ih >= g.in_height) {
            std::fill(out, out + ow_n, T(0));
            continue;
          }
          for (std::int64_t ow = 0; ow < ow_n; ++ow) {
            const std::int64_t iw = ow * g.stride - g.padding + kw;
            out[ow] = (iw >= 0 && iw < g.in_width) ? plane[ih * g.in_width + iw] : T(0);
          }
        }
      }
}

// The adjoint of im2col: adds each patch entry back onto the pixel it came from.
template <class T>
void col2im(const Conv2dGeometry& g, const T* patches, T* image) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), k = g.kernel;
  std::fill(image, image + g.in_channels * g.in_pixels(), T(0));
  for (std::int64_t c = 0; c < g.in_channels; ++c)
    for (std::int64_t kh = 0; kh < k; ++kh)
      for (std::int64_t kw = 0; kw < k; ++kw) {
        const T* row = patches + ((c * k + kh) * k + kw) * oh_n * ow_n;
        T* plane = image + c * g.in_pixels();
        for (std::int64_t oh = 0; oh < oh_n; ++oh) {
          const std::int64_t ih = oh * g.stride - g.padding + kh;
          if (ih < 0 || ih >= g.in_height) continue;
          for (std::int64_t ow = 0; ow < ow_n; ++ow) {
            const std::int64_t iw = ow * g.stride - g.padding + kw;
            if (iw >= 0 && iw < g.in_width) plane[ih * g.in_width + iw] += row[oh * ow_n + ow];
          }
        }
      }
}

}  // namespace detail

// Elements of workspace the CPU conv kernels need for this geometry and thread count.
// Stride-1 convolutions take the direct kernels (conv2d_direct.hpp), the rest im2col.
inline std::int64_t conv2d_workspace_size(cpu, const Conv2dGeometry& g, int threads = num_threads()) {
  if (detail::direct::applicable(g))
    return std::max(detail::direct::Plan<float>(g).per_thread, detail::direct::Plan<double>(g).per_thread) * threads;
  const std::int64_t per_thread = 2 * g.patch_size() * g.out_pixels() + g.weight_count() + g.out_channels;
  return per_thread * threads;
}

template <class T>
void conv2d_forward(cpu, const Conv2dGeometry& g, const T* input, const T* weight, const T* bias, T* output,
                    T* workspace) {
  if (detail::direct::applicable(g)) return detail::direct::forward(g, input, weight, bias, output, workspace);
  const std::int64_t patch = g.patch_size(), pixels = g.out_pixels();
  const std::int64_t per_thread = conv2d_workspace_size(cpu{}, g, 1);
  detail::ConstRowMajorMap<T> w(weight, g.out_channels, patch);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
  for (std::int64_t n = 0; n < g.batch; ++n) {
    T* patches = workspace + thread_index() * per_thread;
    detail::im2col(g, input + n * g.in_channels * g.in_pixels(), patches);
    detail::RowMajorMap<T> y(output + n * g.out_channels * pixels, g.out_channels, pixels);
    y.noalias() = w * detail::ConstRowMajorMap<T>(patches, patch, pixels);
    if (bias != nullptr) y.colwise() += Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(bias, g.out_channels);
  }
}

// Writes (not accumulates) the gradients of the input, weight and bias.
// grad_input may be null when the input needs no gradient (the first layer); bias and
// grad_bias may be null for a convolution without bias (forward and backward skip it).
template <class T>
void conv2d_backward(cpu, const Conv2dGeometry& g, const T* input, const T* weight, const T* grad_output,
                     T* grad_input, T* grad_weight, T* grad_bias, T* workspace) {
  if (detail::direct::applicable(g))
    return detail::direct::backward(g, input, weight, grad_output, grad_input, grad_weight, grad_bias, workspace);
  const std::int64_t patch = g.patch_size(), pixels = g.out_pixels();
  const std::int64_t per_thread = conv2d_workspace_size(cpu{}, g, 1);
  const int threads = num_threads();
  detail::ConstRowMajorMap<T> w(weight, g.out_channels, patch);

#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
  {
    T* patches = workspace + thread_index() * per_thread;
    T* grad_patches = patches + patch * pixels;
    detail::RowMajorMap<T> dw_local(grad_patches + patch * pixels, g.out_channels, patch);
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> db_local(dw_local.data() + g.weight_count(), g.out_channels);
    dw_local.setZero();
    db_local.setZero();
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t n = 0; n < g.batch; ++n) {
      detail::im2col(g, input + n * g.in_channels * g.in_pixels(), patches);
      detail::ConstRowMajorMap<T> cols(patches, patch, pixels);
      detail::ConstRowMajorMap<T> dy(grad_output + n * g.out_channels * pixels, g.out_channels, pixels);
      dw_local.noalias() += dy * cols.transpose();
      db_local += dy.rowwise().sum();
      if (grad_input != nullptr) {
        detail::RowMajorMap<T>(grad_patches, patch, pixels).noalias() = w.transpose() * dy;
        detail::col2im(g, grad_patches, grad_input + n * g.in_channels * g.in_pixels());
      }
    }
  }

  // Sum the per-thread partial gradients.
  std::fill(grad_weight, grad_weight + g.weight_count(), T(0));
  if (grad_bias != nullptr) std::fill(grad_bias, grad_bias + g.out_channels, T(0));
  for (int t = 0; t < threads; ++t) {
    const T* dw_local = workspace + t * per_thread + 2 * patch * pixels;
    const T* db_local = dw_local + g.weight_count();
    for (std::int64_t i = 0; i < g.weight_count(); ++i) grad_weight[i] += dw_local[i];
    for (std::int64_t i = 0; grad_bias != nullptr && i < g.out_channels; ++i) grad_bias[i] += db_local[i];
  }
}

}  // namespace hnn
