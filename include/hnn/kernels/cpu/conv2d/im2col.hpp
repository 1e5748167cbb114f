// Conv2dAlgorithm::im2col on the CPU: im2col + one Eigen GEMM per sample, samples spread over
// threads; the algorithm for any stride, padding and kernel size.
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

#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/kernels/geometry.hpp"
#include "hnn/parallel.hpp"

namespace hnn {
namespace detail {
namespace im2col {

template <class T>
using RowMajorMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstRowMajorMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// The output columns [begin, end) whose input column ow * stride - padding + kw lies inside
// the image: the rest read padding. Computed once per row of taps, so the loops below have
// no per-element bounds test.
inline void valid_columns(const Conv2dGeometry& g, std::int64_t kw, std::int64_t& begin, std::int64_t& end) {
  const std::int64_t ow_n = g.out_width(), shift = kw - g.padding;  // iw = ow * stride + shift
  begin = shift >= 0 ? 0 : std::min(ow_n, (-shift + g.stride - 1) / g.stride);
  end = g.in_width - shift <= 0 ? 0 : std::min(ow_n, (g.in_width - shift + g.stride - 1) / g.stride);
  end = std::max(begin, end);
}

// Unrolls one sample (C, H, W) into its patch matrix (C*k*k, OH*OW); zero padding.
template <class T>
void unroll(const Conv2dGeometry& g, const T* image, T* patches) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), k = g.kernel, s = g.stride;
  for (std::int64_t c = 0; c < g.in_channels; ++c)
    for (std::int64_t kh = 0; kh < k; ++kh)
      for (std::int64_t kw = 0; kw < k; ++kw) {
        std::int64_t begin, end;
        valid_columns(g, kw, begin, end);
        const std::int64_t shift = kw - g.padding;
        T* row = patches + ((c * k + kh) * k + kw) * oh_n * ow_n;
        const T* plane = image + c * g.in_pixels();
        for (std::int64_t oh = 0; oh < oh_n; ++oh) {
          const std::int64_t ih = oh * s - g.padding + kh;
          T* out = row + oh * ow_n;
          if (ih < 0 || ih >= g.in_height) {
            std::fill(out, out + ow_n, T(0));
            continue;
          }
          std::fill(out, out + begin, T(0));
          const T* in = plane + ih * g.in_width;  // column ow reads in[ow * s + shift]
          if (s == 1) {
            std::copy(in + begin + shift, in + end + shift, out + begin);
          } else {
            for (std::int64_t ow = begin; ow < end; ++ow) out[ow] = in[ow * s + shift];
          }
          std::fill(out + end, out + ow_n, T(0));
        }
      }
}

// The adjoint of unroll(): adds each patch entry back onto the pixel it came from.
template <class T>
void roll_back(const Conv2dGeometry& g, const T* patches, T* image) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), k = g.kernel, s = g.stride;
  std::fill(image, image + g.in_channels * g.in_pixels(), T(0));
  for (std::int64_t c = 0; c < g.in_channels; ++c)
    for (std::int64_t kh = 0; kh < k; ++kh)
      for (std::int64_t kw = 0; kw < k; ++kw) {
        std::int64_t begin, end;
        valid_columns(g, kw, begin, end);
        const std::int64_t shift = kw - g.padding;
        const T* row = patches + ((c * k + kh) * k + kw) * oh_n * ow_n;
        T* plane = image + c * g.in_pixels();
        for (std::int64_t oh = 0; oh < oh_n; ++oh) {
          const std::int64_t ih = oh * s - g.padding + kh;
          if (ih < 0 || ih >= g.in_height) continue;
          T* in = plane + ih * g.in_width;
          const T* from = row + oh * ow_n;
          if (s == 1) {
            for (std::int64_t ow = begin; ow < end; ++ow) in[ow + shift] += from[ow];
          } else {
            for (std::int64_t ow = begin; ow < end; ++ow) in[ow * s + shift] += from[ow];
          }
        }
      }
}

// Elements of workspace one thread needs: the patch matrix, its gradient, a partial dW and db.
inline std::int64_t workspace_per_thread(const Conv2dGeometry& g) {
  return 2 * g.patch_size() * g.out_pixels() + g.weight_count() + g.out_channels;
}

// bias may be null (a convolution without bias).
template <class T>
void forward(const Conv2dGeometry& g, const T* input, const T* weight, const T* bias, T* output, T* workspace) {
  const std::int64_t patch = g.patch_size(), pixels = g.out_pixels();
  const std::int64_t per_thread = workspace_per_thread(g);
  ConstRowMajorMap<T> w(weight, g.out_channels, patch);
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
  for (std::int64_t n = 0; n < g.batch; ++n) {
    T* patches = workspace + thread_index() * per_thread;
    unroll(g, input + n * g.in_channels * g.in_pixels(), patches);
    RowMajorMap<T> y(output + n * g.out_channels * pixels, g.out_channels, pixels);
    y.noalias() = w * ConstRowMajorMap<T>(patches, patch, pixels);
    if (bias != nullptr) y.colwise() += Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(bias, g.out_channels);
  }
}

// Writes (not accumulates) the gradients of the input, weight and bias. grad_input may be null
// when the input needs no gradient (the first layer), grad_bias when there is no bias.
template <class T>
void backward(const Conv2dGeometry& g, const T* input, const T* weight, const T* grad_output, T* grad_input,
              T* grad_weight, T* grad_bias, T* workspace) {
  const std::int64_t patch = g.patch_size(), pixels = g.out_pixels();
  const std::int64_t per_thread = workspace_per_thread(g);
  const int threads = num_threads();
  ConstRowMajorMap<T> w(weight, g.out_channels, patch);

#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
  {
    T* patches = workspace + thread_index() * per_thread;
    T* grad_patches = patches + patch * pixels;
    RowMajorMap<T> dw_local(grad_patches + patch * pixels, g.out_channels, patch);
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> db_local(dw_local.data() + g.weight_count(), g.out_channels);
    dw_local.setZero();
    db_local.setZero();
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t n = 0; n < g.batch; ++n) {
      unroll(g, input + n * g.in_channels * g.in_pixels(), patches);
      ConstRowMajorMap<T> cols(patches, patch, pixels);
      ConstRowMajorMap<T> dy(grad_output + n * g.out_channels * pixels, g.out_channels, pixels);
      dw_local.noalias() += dy * cols.transpose();
      db_local += dy.rowwise().sum();
      if (grad_input != nullptr) {
        RowMajorMap<T>(grad_patches, patch, pixels).noalias() = w.transpose() * dy;
        roll_back(g, grad_patches, grad_input + n * g.in_channels * g.in_pixels());
      }
    }
  }

  sum_parameter_partials(workspace, per_thread, 2 * patch * pixels, threads, g.weight_count(), g.out_channels,
                         grad_weight, grad_bias);
}

}  // namespace im2col
}  // namespace detail
}  // namespace hnn
