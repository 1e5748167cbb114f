// Average and max pooling on the GPU, padding included; the twins of kernels/cpu/pool2d.hpp.
// Backward kernels run a thread per INPUT pixel that gathers from the windows covering it,
// so overlapping windows need no atomics and every element is written exactly once.
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"
#include "hnn/kernels/geometry.hpp"

namespace hnn {

namespace cuda_detail {

struct PoolSizes {
  int planes, in_height, in_width, kernel, stride, out_height, out_width, padding;
};

inline PoolSizes pool_sizes(const Pool2dGeometry& g) {
  checked_int(g.planes() * g.in_height * g.in_width, "pool input elements");
  return {static_cast<int>(g.planes()), static_cast<int>(g.in_height), static_cast<int>(g.in_width),
          static_cast<int>(g.kernel),   static_cast<int>(g.stride),    static_cast<int>(g.out_height()),
          static_cast<int>(g.out_width()), static_cast<int>(g.padding)};
}

// The range [first, last] of window positions along one axis that cover input position i
// (i + padding on the padded axis).
__device__ inline void covering_windows(int i, int kernel, int stride, int padding, int out_size, int& first,
                                        int& last) {
  const int padded = i + padding;
  first = padded >= kernel ? (padded - kernel) / stride + 1 : 0;
  last = min(padded / stride, out_size - 1);
}

// Window position o along one axis, clipped to the input: [begin, end).
__device__ inline void window_span(int o, int stride, int padding, int kernel, int in_size, int& begin, int& end) {
  const int start = o * stride - padding;
  begin = max(start, 0);
  end = min(start + kernel, in_size);
}

template <class T>
__global__ void avg_pool2d_forward_kernel(PoolSizes s, const T* __restrict__ x, T* __restrict__ y) {
  const int total = s.planes * s.out_height * s.out_width;
  const T scale = T(1) / T(s.kernel * s.kernel);
  HNN_GRID_STRIDE_LOOP(i, total) {
    const int ow = i % s.out_width, oh = (i / s.out_width) % s.out_height, p = i / (s.out_width * s.out_height);
    const T* plane = x + p * s.in_height * s.in_width;
    int h0, h1, w0, w1;
    window_span(oh, s.stride, s.padding, s.kernel, s.in_height, h0, h1);
    window_span(ow, s.stride, s.padding, s.kernel, s.in_width, w0, w1);
    T sum = 0;
    for (int ih = h0; ih < h1; ++ih)
      for (int iw = w0; iw < w1; ++iw) sum += plane[ih * s.in_width + iw];
    y[i] = sum * scale;  // padded zeros count in the divisor (count_include_pad)
  }
}

template <class T>
__global__ void avg_pool2d_backward_kernel(PoolSizes s, const T* __restrict__ dy, T* __restrict__ dx) {
  const int total = s.planes * s.in_height * s.in_width;
  const T scale = T(1) / T(s.kernel * s.kernel);
  HNN_GRID_STRIDE_LOOP(i, total) {
    const int iw = i % s.in_width, ih = (i / s.in_width) % s.in_height, p = i / (s.in_width * s.in_height);
    int oh0, oh1, ow0, ow1;
    covering_windows(ih, s.kernel, s.stride, s.padding, s.out_height, oh0, oh1);
    covering_windows(iw, s.kernel, s.stride, s.padding, s.out_width, ow0, ow1);
    const T* plane = dy + p * s.out_height * s.out_width;
    T sum = 0;
    for (int oh = oh0; oh <= oh1; ++oh)
      for (int ow = ow0; ow <= ow1; ++ow) sum += plane[oh * s.out_width + ow];
    dx[i] = sum * scale;
  }
}

template <class T>
__global__ void max_pool2d_forward_kernel(PoolSizes s, const T* __restrict__ x, T* __restrict__ y,
                                          int* __restrict__ argmax) {
  const int total = s.planes * s.out_height * s.out_width;
  HNN_GRID_STRIDE_LOOP(i, total) {
    const int ow = i % s.out_width, oh = (i / s.out_width) % s.out_height, p = i / (s.out_width * s.out_height);
    const T* plane = x + p * s.in_height * s.in_width;
    int h0, h1, w0, w1;  // padded positions are skipped (-infinity)
    window_span(oh, s.stride, s.padding, s.kernel, s.in_height, h0, h1);
    window_span(ow, s.stride, s.padding, s.kernel, s.in_width, w0, w1);
    int best = h0 * s.in_width + w0;
    for (int ih = h0; ih < h1; ++ih)
      for (int iw = w0; iw < w1; ++iw) {
        const int idx = ih * s.in_width + iw;
        if (plane[idx] > plane[best]) best = idx;  // strict: ties keep the first, as on the CPU
      }
    y[i] = plane[best];
    if (argmax != nullptr) argmax[i] = best;  // null: an evaluation forward, no winners kept
  }
}

template <class T>
__global__ void max_pool2d_backward_kernel(PoolSizes s, const T* __restrict__ dy, const int* __restrict__ argmax,
                                           T* __restrict__ dx) {
  const int total = s.planes * s.in_height * s.in_width;
  HNN_GRID_STRIDE_LOOP(i, total) {
    const int in_plane = s.in_height * s.in_width;
    const int local = i % in_plane, p = i / in_plane;
    const int iw = local % s.in_width, ih = local / s.in_width;
    int oh0, oh1, ow0, ow1;
    covering_windows(ih, s.kernel, s.stride, s.padding, s.out_height, oh0, oh1);
    covering_windows(iw, s.kernel, s.stride, s.padding, s.out_width, ow0, ow1);
    const int base = p * s.out_height * s.out_width;
    T sum = 0;
    for (int oh = oh0; oh <= oh1; ++oh)
      for (int ow = ow0; ow <= ow1; ++ow) {
        const int o = base + oh * s.out_width + ow;
        if (argmax[o] == local) sum += dy[o];
      }
    dx[i] = sum;
  }
}

}  // namespace cuda_detail

template <class T>
void avg_pool2d_forward(cuda, const Pool2dGeometry& g, const T* input, T* output) {
  const cuda_detail::PoolSizes s = cuda_detail::pool_sizes(g);
  cuda_detail::avg_pool2d_forward_kernel<<<cuda_detail::blocks_for(g.planes() * g.out_height() * g.out_width()),
                                           cuda_detail::threads_per_block, 0, cuda_stream()>>>(s, input, output);
  HNN_CUDA_CHECK_LAUNCH("avg_pool2d_forward_kernel");
}

template <class T>
void avg_pool2d_backward(cuda, const Pool2dGeometry& g, const T* grad_output, T* grad_input) {
  const cuda_detail::PoolSizes s = cuda_detail::pool_sizes(g);
  cuda_detail::avg_pool2d_backward_kernel<<<cuda_detail::blocks_for(g.planes() * g.in_height * g.in_width),
                                            cuda_detail::threads_per_block, 0, cuda_stream()>>>(s, grad_output,
                                                                                                 grad_input);
  HNN_CUDA_CHECK_LAUNCH("avg_pool2d_backward_kernel");
}

// argmax may be null (an evaluation forward), as on the CPU.
template <class T>
void max_pool2d_forward(cuda, const Pool2dGeometry& g, const T* input, T* output, std::int32_t* argmax) {
  const cuda_detail::PoolSizes s = cuda_detail::pool_sizes(g);
  cuda_detail::max_pool2d_forward_kernel<<<cuda_detail::blocks_for(g.planes() * g.out_height() * g.out_width()),
                                           cuda_detail::threads_per_block, 0, cuda_stream()>>>(s, input, output,
                                                                                                argmax);
  HNN_CUDA_CHECK_LAUNCH("max_pool2d_forward_kernel");
}

template <class T>
void max_pool2d_backward(cuda, const Pool2dGeometry& g, const T* grad_output, const std::int32_t* argmax,
                         T* grad_input) {
  const cuda_detail::PoolSizes s = cuda_detail::pool_sizes(g);
  cuda_detail::max_pool2d_backward_kernel<<<cuda_detail::blocks_for(g.planes() * g.in_height * g.in_width),
                                            cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      s, grad_output, argmax, grad_input);
  HNN_CUDA_CHECK_LAUNCH("max_pool2d_backward_kernel");
}

}  // namespace hnn
