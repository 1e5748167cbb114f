// Conv2d on the GPU: direct kernels, the twins of kernels/cpu/conv2d.hpp.
//
// LeNet's convolutions are tiny (at most 16 channels, 5x5 kernels), so a thread per output
// (forward) or per input pixel (input gradient) with the weights read through the cache
// beats an im2col + GEMM that would move every patch through memory. The weight gradient
// is a reduction over the batch: blocks sum slices of it into a workspace, and a second
// kernel adds the slices in a fixed order, so results are deterministic (no atomics).
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"
#include "hnn/kernels/geometry.hpp"

namespace hnn {

namespace cuda_detail {

// The 32-bit sizes of a convolution, in the form the kernels take them.
struct ConvSizes {
  int batch, in_channels, in_height, in_width, out_channels, kernel, stride, padding, out_height, out_width;
};

inline ConvSizes conv_sizes(const Conv2dGeometry& g) {
  checked_int(g.batch * g.in_channels * g.in_pixels(), "conv input elements");
  checked_int(g.batch * g.out_channels * g.out_pixels(), "conv output elements");
  return {static_cast<int>(g.batch),        static_cast<int>(g.in_channels),  static_cast<int>(g.in_height),
          static_cast<int>(g.in_width),     static_cast<int>(g.out_channels), static_cast<int>(g.kernel),
          static_cast<int>(g.stride),       static_cast<int>(g.padding),      static_cast<int>(g.out_height()),
          static_cast<int>(g.out_width())};
}

// How many slices of the batch the weight-gradient reduction is split into: enough blocks
// to fill a large GPU (about 4 per multiprocessor on an H100) even for conv1's 150 weights.
inline int conv_weight_grad_slices(const Conv2dGeometry& g) {
  const std::int64_t sums = g.weight_count() + g.out_channels;
  std::int64_t slices = (512 + sums - 1) / sums;
  if (slices > g.batch) slices = g.batch;
  return static_cast<int>(slices < 1 ? 1 : slices);
}

template <class T>
__global__ void conv2d_forward_kernel(ConvSizes s, const T* __restrict__ x, const T* __restrict__ w,
                                      const T* __restrict__ b, T* __restrict__ y) {
  const int total = s.batch * s.out_channels * s.out_height * s.out_width;
  HNN_GRID_STRIDE_LOOP(i, total) {
    const int ow = i % s.out_width;
    const int oh = (i / s.out_width) % s.out_height;
    const int co = (i / (s.out_width * s.out_height)) % s.out_channels;
    const int n = i / (s.out_width * s.out_height * s.out_channels);
    T sum = b[co];
    for (int ci = 0; ci < s.in_channels; ++ci) {
      const T* plane = x + (n * s.in_channels + ci) * s.in_height * s.in_width;
      const T* kernel = w + (co * s.in_channels + ci) * s.kernel * s.kernel;
      for (int kh = 0; kh < s.kernel; ++kh) {
        const int ih = oh * s.stride - s.padding + kh;
        if (ih < 0 || ih >= s.in_height) continue;
        for (int kw = 0; kw < s.kernel; ++kw) {
          const int iw = ow * s.stride - s.padding + kw;
          if (iw >= 0 && iw < s.in_width) sum += plane[ih * s.in_width + iw] * kernel[kh * s.kernel + kw];
        }
      }
    }
    y[i] = sum;
  }
}

// dX[n, ci, ih, iw] = sum over (co, kh, kw) whose window covers (ih, iw) of dY * W.
template <class T>
__global__ void conv2d_backward_input_kernel(ConvSizes s, const T* __restrict__ w, const T* __restrict__ dy,
                                             T* __restrict__ dx) {
  const int total = s.batch * s.in_channels * s.in_height * s.in_width;
  HNN_GRID_STRIDE_LOOP(i, total) {
    const int iw = i % s.in_width;
    const int ih = (i / s.in_width) % s.in_height;
    const int ci = (i / (s.in_width * s.in_height)) % s.in_channels;
    const int n = i / (s.in_width * s.in_height * s.in_channels);
    T sum = 0;
    for (int kh = 0; kh < s.kernel; ++kh) {
      const int oh_scaled = ih + s.padding - kh;  // = oh * stride
      if (oh_scaled < 0 || oh_scaled % s.stride != 0) continue;
      const int oh = oh_scaled / s.stride;
      if (oh >= s.out_height) continue;
      for (int kw = 0; kw < s.kernel; ++kw) {
        const int ow_scaled = iw + s.padding - kw;
        if (ow_scaled < 0 || ow_scaled % s.stride != 0) continue;
        const int ow = ow_scaled / s.stride;
        if (ow >= s.out_width) continue;
        for (int co = 0; co < s.out_channels; ++co)
          sum += dy[((n * s.out_channels + co) * s.out_height + oh) * s.out_width + ow] *
                 w[((co * s.in_channels + ci) * s.kernel + kh) * s.kernel + kw];
      }
    }
    dx[i] = sum;
  }
}

// Block (j, slice) sums, over the samples of its slice and every output pixel, the terms of
// gradient j: a weight (co, ci, kh, kw) for j < weight_count, the bias of channel
// j - weight_count after that. partial[slice * sums + j] receives the result.
template <class T>
__global__ void conv2d_backward_params_kernel(ConvSizes s, const T* __restrict__ x, const T* __restrict__ dy,
                                              int slices, T* __restrict__ partial) {
  const int weight_count = s.out_channels * s.in_channels * s.kernel * s.kernel;
  const int j = blockIdx.x, slice = blockIdx.y;
  const bool is_bias = j >= weight_count;
  int co, ci = 0, kh = 0, kw = 0;
  if (is_bias) {
    co = j - weight_count;
  } else {
    kw = j % s.kernel;
    kh = (j / s.kernel) % s.kernel;
    ci = (j / (s.kernel * s.kernel)) % s.in_channels;
    co = j / (s.kernel * s.kernel * s.in_channels);
  }
  const int pixels = s.out_height * s.out_width;
  const int per_slice = (s.batch + slices - 1) / slices;
  const int n_begin = slice * per_slice;
  const int n_end = min(s.batch, n_begin + per_slice);
  const int terms = max(0, n_end - n_begin) * pixels;
  T sum = 0;
  for (int t = threadIdx.x; t < terms; t += blockDim.x) {
    const int n = n_begin + t / pixels, p = t % pixels;
    const T g = dy[(n * s.out_channels + co) * pixels + p];
    if (is_bias) {
      sum += g;
    } else {
      const int ih = (p / s.out_width) * s.stride - s.padding + kh;
      const int iw = (p % s.out_width) * s.stride - s.padding + kw;
      if (ih >= 0 && ih < s.in_height && iw >= 0 && iw < s.in_width)
        sum += g * x[((n * s.in_channels + ci) * s.in_height + ih) * s.in_width + iw];
    }
  }
  sum = block_sum(sum);
  if (threadIdx.x == 0) partial[slice * gridDim.x + j] = sum;
}

// Adds the slices of each gradient in slice order and splits them into dW and db.
template <class T>
__global__ void conv2d_reduce_slices_kernel(const T* __restrict__ partial, int slices, int weight_count, int sums,
                                            T* __restrict__ dw, T* __restrict__ db) {
  HNN_GRID_STRIDE_LOOP(j, sums) {
    T total = 0;
    for (int s = 0; s < slices; ++s) total += partial[s * sums + j];
    if (j < weight_count) dw[j] = total;
    else db[j - weight_count] = total;
  }
}

}  // namespace cuda_detail

// Elements of workspace the CUDA conv kernels need: the per-slice partial gradients.
inline std::int64_t conv2d_workspace_size(cuda, const Conv2dGeometry& g) {
  return cuda_detail::conv_weight_grad_slices(g) * (g.weight_count() + g.out_channels);
}

template <class T>
void conv2d_forward(cuda, const Conv2dGeometry& g, const T* input, const T* weight, const T* bias, T* output,
                    T* /*workspace*/) {
  const cuda_detail::ConvSizes s = cuda_detail::conv_sizes(g);
  const std::int64_t total = g.batch * g.out_channels * g.out_pixels();
  cuda_detail::conv2d_forward_kernel<<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0,
                                       cuda_stream()>>>(s, input, weight, bias, output);
  HNN_CUDA_CHECK_LAUNCH("conv2d_forward_kernel");
}

template <class T>
void conv2d_backward(cuda, const Conv2dGeometry& g, const T* input, const T* weight, const T* grad_output,
                     T* grad_input, T* grad_weight, T* grad_bias, T* workspace) {
  const cuda_detail::ConvSizes s = cuda_detail::conv_sizes(g);
  if (grad_input != nullptr) {
    const std::int64_t total = g.batch * g.in_channels * g.in_pixels();
    cuda_detail::conv2d_backward_input_kernel<<<cuda_detail::blocks_for(total), cuda_detail::threads_per_block, 0,
                                                cuda_stream()>>>(s, weight, grad_output, grad_input);
    HNN_CUDA_CHECK_LAUNCH("conv2d_backward_input_kernel");
  }
  const int slices = cuda_detail::conv_weight_grad_slices(g);
  const int weight_count = cuda_detail::checked_int(g.weight_count(), "conv weights");
  const int sums = weight_count + s.out_channels;
  cuda_detail::conv2d_backward_params_kernel<<<dim3(static_cast<unsigned>(sums), static_cast<unsigned>(slices)),
                                               cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      s, input, grad_output, slices, workspace);
  HNN_CUDA_CHECK_LAUNCH("conv2d_backward_params_kernel");
  cuda_detail::conv2d_reduce_slices_kernel<<<cuda_detail::blocks_for(sums), cuda_detail::threads_per_block, 0,
                                             cuda_stream()>>>(workspace, slices, weight_count, sums, grad_weight,
                                                              grad_bias);
  HNN_CUDA_CHECK_LAUNCH("conv2d_reduce_slices_kernel");
}

}  // namespace hnn
