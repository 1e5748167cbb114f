// Average and max pooling on the CPU (NCHW). One plane (n, c) at a time. With padding, max
// pooling skips the padded positions (as -infinity) and average pooling divides by the whole
// window, padded zeros included (PyTorch's count_include_pad=True).
#pragma once

#include <cstdint>
#include <limits>

#include "hnn/device.hpp"
#include "hnn/kernels/geometry.hpp"
#include "hnn/parallel.hpp"

namespace hnn {

namespace detail {

// LeNet-5's windows: 2x2, stride 2, no overlap. Written out so that the compiler vectorises
// them, as it does not the generic loops below (tests/bench/NOTES.md).
inline bool pool_2x2(const Pool2dGeometry& g) { return g.kernel == 2 && g.stride == 2 && g.padding == 0; }

// The window of output position o along one axis, clipped to the input: [begin, end).
struct PoolSpan {
  std::int64_t begin, end;
};
inline PoolSpan pool_span(std::int64_t o, std::int64_t stride, std::int64_t padding, std::int64_t kernel,
                          std::int64_t in_size) {
  const std::int64_t start = o * stride - padding;
  return {start < 0 ? 0 : start, start + kernel > in_size ? in_size : start + kernel};
}

template <class T>
void avg_pool_2x2_forward(const Pool2dGeometry& g, const T* input, T* output) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), w = g.in_width;
  parallel_region([&] {
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t p = 0; p < g.planes(); ++p) {
      const T* in = input + p * g.in_height * w;
      T* out = output + p * oh_n * ow_n;
      for (std::int64_t oh = 0; oh < oh_n; ++oh) {
        const T* r0 = in + 2 * oh * w;
        const T* r1 = r0 + w;
        T* o = out + oh * ow_n;
        for (std::int64_t ow = 0; ow < ow_n; ++ow)
          o[ow] = T(0.25) * ((r0[2 * ow] + r0[2 * ow + 1]) + (r1[2 * ow] + r1[2 * ow + 1]));
      }
    }
  });
}

template <class T>
void avg_pool_2x2_backward(const Pool2dGeometry& g, const T* grad_output, T* grad_input) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), w = g.in_width, h = g.in_height;
  parallel_region([&] {
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t p = 0; p < g.planes(); ++p) {
      T* din = grad_input + p * h * w;
      const T* dout = grad_output + p * oh_n * ow_n;
      for (std::int64_t oh = 0; oh < oh_n; ++oh) {
        T* r0 = din + 2 * oh * w;
        T* r1 = r0 + w;
        const T* d = dout + oh * ow_n;
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          const T share = T(0.25) * d[ow];
          r0[2 * ow] = r0[2 * ow + 1] = r1[2 * ow] = r1[2 * ow + 1] = share;
        }
        for (std::int64_t x = 2 * ow_n; x < w; ++x) r0[x] = r1[x] = T(0);  // odd width: the last column
      }
      for (std::int64_t y = 2 * oh_n; y < h; ++y)  // odd height: the last row
        for (std::int64_t x = 0; x < w; ++x) din[y * w + x] = T(0);
    }
  });
}

// KeepArgmax false: the evaluation forward, which writes no winners (argmax is null).
template <bool KeepArgmax, class T>
void max_pool_2x2_forward(const Pool2dGeometry& g, const T* input, T* output, std::int32_t* argmax) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), w = g.in_width;
  parallel_region([&] {
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t p = 0; p < g.planes(); ++p) {
      const T* in = input + p * g.in_height * w;
      for (std::int64_t oh = 0; oh < oh_n; ++oh) {
        const std::int64_t top = 2 * oh * w;
        const std::int64_t o = p * oh_n * ow_n + oh * ow_n;
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          // The first maximum in row-major window order wins ties, as in the generic loop.
          const std::int64_t i0 = top + 2 * ow, i1 = i0 + 1, i2 = i0 + w, i3 = i2 + 1;
          std::int64_t best = i0;
          if (in[i1] > in[best]) best = i1;
          if (in[i2] > in[best]) best = i2;
          if (in[i3] > in[best]) best = i3;
          output[o + ow] = in[best];
          if constexpr (KeepArgmax) argmax[o + ow] = static_cast<std::int32_t>(best);
        }
      }
    }
  });
}

}  // namespace detail

template <class T>
void avg_pool2d_forward(cpu, const Pool2dGeometry& g, const T* input, T* output) {
  if (detail::pool_2x2(g)) return detail::avg_pool_2x2_forward(g, input, output);
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), k = g.kernel;
  const T scale = T(1) / T(k * k);
  parallel_region([&] {
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t p = 0; p < g.planes(); ++p) {
      const T* in = input + p * g.in_height * g.in_width;
      T* out = output + p * oh_n * ow_n;
      for (std::int64_t oh = 0; oh < oh_n; ++oh) {
        const detail::PoolSpan rows = detail::pool_span(oh, g.stride, g.padding, k, g.in_height);
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          const detail::PoolSpan cols = detail::pool_span(ow, g.stride, g.padding, k, g.in_width);
          T sum = 0;
          for (std::int64_t ih = rows.begin; ih < rows.end; ++ih)
            for (std::int64_t iw = cols.begin; iw < cols.end; ++iw) sum += in[ih * g.in_width + iw];
          out[oh * ow_n + ow] = sum * scale;
        }
      }
    }
  });
}

// Each input pixel receives 1/k^2 of the gradient of every window that covers it.
template <class T>
void avg_pool2d_backward(cpu, const Pool2dGeometry& g, const T* grad_output, T* grad_input) {
  if (detail::pool_2x2(g)) return detail::avg_pool_2x2_backward(g, grad_output, grad_input);
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), k = g.kernel;
  const std::int64_t in_plane = g.in_height * g.in_width;
  const T scale = T(1) / T(k * k);
  parallel_region([&] {
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t p = 0; p < g.planes(); ++p) {
      T* din = grad_input + p * in_plane;
      const T* dout = grad_output + p * oh_n * ow_n;
      for (std::int64_t i = 0; i < in_plane; ++i) din[i] = 0;
      for (std::int64_t oh = 0; oh < oh_n; ++oh) {
        const detail::PoolSpan rows = detail::pool_span(oh, g.stride, g.padding, k, g.in_height);
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          const detail::PoolSpan cols = detail::pool_span(ow, g.stride, g.padding, k, g.in_width);
          const T share = dout[oh * ow_n + ow] * scale;
          for (std::int64_t ih = rows.begin; ih < rows.end; ++ih)
            for (std::int64_t iw = cols.begin; iw < cols.end; ++iw) din[ih * g.in_width + iw] += share;
        }
      }
    }
  });
}

namespace detail {
template <bool KeepArgmax, class T>
void max_pool2d_forward(const Pool2dGeometry& g, const T* input, T* output, std::int32_t* argmax) {
  if (pool_2x2(g)) return max_pool_2x2_forward<KeepArgmax>(g, input, output, argmax);
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), k = g.kernel;
  parallel_region([&] {
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t p = 0; p < g.planes(); ++p) {
      const T* in = input + p * g.in_height * g.in_width;
      for (std::int64_t oh = 0; oh < oh_n; ++oh) {
        const detail::PoolSpan rows = detail::pool_span(oh, g.stride, g.padding, k, g.in_height);
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          const detail::PoolSpan cols = detail::pool_span(ow, g.stride, g.padding, k, g.in_width);
          std::int64_t best = rows.begin * g.in_width + cols.begin;  // padding <= k/2: never empty
          for (std::int64_t ih = rows.begin; ih < rows.end; ++ih)
            for (std::int64_t iw = cols.begin; iw < cols.end; ++iw) {
              const std::int64_t idx = ih * g.in_width + iw;
              if (in[idx] > in[best]) best = idx;
            }
          const std::int64_t o = p * oh_n * ow_n + oh * ow_n + ow;
          output[o] = in[best];
          if constexpr (KeepArgmax) argmax[o] = static_cast<std::int32_t>(best);
        }
      }
    }
  });
}
}  // namespace detail

// Also records, per output, the flat index (within its plane) of the winning input,
// which is all the backward pass needs; argmax may be null when no backward pass follows
// (evaluation: the same output, no winners written). Ties go to the first maximum, as in PyTorch.
template <class T>
void max_pool2d_forward(cpu, const Pool2dGeometry& g, const T* input, T* output, std::int32_t* argmax) {
  if (argmax != nullptr) return detail::max_pool2d_forward<true>(g, input, output, argmax);
  detail::max_pool2d_forward<false>(g, input, output, argmax);
}

template <class T>
void max_pool2d_backward(cpu, const Pool2dGeometry& g, const T* grad_output, const std::int32_t* argmax,
                         T* grad_input) {
  const std::int64_t out_plane = g.out_height() * g.out_width(), in_plane = g.in_height * g.in_width;
  parallel_region([&] {
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t p = 0; p < g.planes(); ++p) {
      T* din = grad_input + p * in_plane;
      for (std::int64_t i = 0; i < in_plane; ++i) din[i] = 0;
      for (std::int64_t o = 0; o < out_plane; ++o) din[argmax[p * out_plane + o]] += grad_output[p * out_plane + o];
    }
  });
}

}  // namespace hnn
