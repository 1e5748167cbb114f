// Conv2d on the GPU: the twins of the CPU algorithms under kernels/cpu/conv2d/ (kernels/conv2d.hpp chooses).
//
// LeNet's convolutions are tiny (at most 16 channels, 5x5 kernels), so a thread per output
// (forward) or per input pixel (input gradient) with the weights read through the cache
// beats an im2col + GEMM that would move every patch through memory. The weight gradient
// is a reduction over the batch: blocks sum slices of it into a workspace, and a second
// kernel adds the slices in a fixed order, so results are deterministic (no atomics).
// Kernels with stride 1 (all of LeNet's) are compiled separately so that the hot loops
// need no integer division.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <string>

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

template <class T, bool UnitStride>
__global__ void conv2d_forward_kernel(ConvSizes s, const T* __restrict__ x, const T* __restrict__ w,
                                      const T* __restrict__ b, T* __restrict__ y) {
  const int stride = UnitStride ? 1 : s.stride;
  const int total = s.batch * s.out_channels * s.out_height * s.out_width;
  HNN_GRID_STRIDE_LOOP(i, total) {
    const int ow = i % s.out_width;
    const int oh = (i / s.out_width) % s.out_height;
    const int co = (i / (s.out_width * s.out_height)) % s.out_channels;
    const int n = i / (s.out_width * s.out_height * s.out_channels);
    T sum = b != nullptr ? b[co] : T(0);
    for (int ci = 0; ci < s.in_channels; ++ci) {
      const T* plane = x + (n * s.in_channels + ci) * s.in_height * s.in_width;
      const T* kernel = w + (co * s.in_channels + ci) * s.kernel * s.kernel;
      for (int kh = 0; kh < s.kernel; ++kh) {
        const int ih = oh * stride - s.padding + kh;
        if (ih < 0 || ih >= s.in_height) continue;
        for (int kw = 0; kw < s.kernel; ++kw) {
          const int iw = ow * stride - s.padding + kw;
          if (iw >= 0 && iw < s.in_width) sum += plane[ih * s.in_width + iw] * kernel[kh * s.kernel + kw];
        }
      }
    }
    y[i] = sum;
  }
}

// dX[n, ci, ih, iw] = sum over (co, kh, kw) whose window covers (ih, iw) of dY * W.
template <class T, bool UnitStride>
__global__ void conv2d_backward_input_kernel(ConvSizes s, const T* __restrict__ w, const T* __restrict__ dy,
                                             T* __restrict__ dx) {
  const int total = s.batch * s.in_channels * s.in_height * s.in_width;
  const int out_plane = s.out_height * s.out_width, filter = s.in_channels * s.kernel * s.kernel;
  HNN_GRID_STRIDE_LOOP(i, total) {
    const int iw = i % s.in_width;
    const int ih = (i / s.in_width) % s.in_height;
    const int ci = (i / (s.in_width * s.in_height)) % s.in_channels;
    const int n = i / (s.in_width * s.in_height * s.in_channels);
    const T* dy_n = dy + n * s.out_channels * out_plane;
    T sum = 0;
    for (int kh = 0; kh < s.kernel; ++kh) {
      int oh = ih + s.padding - kh;  // = oh * stride
      if (oh < 0) break;             // larger kh only make it smaller
      if (!UnitStride) {
        if (oh % s.stride != 0) continue;
        oh /= s.stride;
      }
      if (oh >= s.out_height) continue;
      for (int kw = 0; kw < s.kernel; ++kw) {
        int ow = iw + s.padding - kw;
        if (ow < 0) break;
        if (!UnitStride) {
          if (ow % s.stride != 0) continue;
          ow /= s.stride;
        }
        if (ow >= s.out_width) continue;
        const T* g = dy_n + oh * s.out_width + ow;
        const T* k = w + (ci * s.kernel + kh) * s.kernel + kw;
        for (int co = 0; co < s.out_channels; ++co) sum += g[co * out_plane] * k[co * filter];
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

// The weight and bias gradients with the planes staged in shared memory: block
// (co * in_channels + ci, slice) sums, over the samples of its slice, every tap (kh, kw)
// of the filter (co, ci) at once; blocks with ci == 0 also sum channel co's bias. Thread t
// owns tap t % (k*k + 1) (the last "tap" is the bias) and every groups-th output row.
// x rows are stored with a pitch = kernel (mod 32), so the k*k taps a warp reads at one
// output pixel fall in distinct shared-memory banks.
template <class T>
__global__ void conv2d_weight_grad_staged_kernel(ConvSizes s, const T* __restrict__ x, const T* __restrict__ dy,
                                                 int slices, int pitch, T* __restrict__ partial) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  T* x_s = reinterpret_cast<T*>(shared_bytes);  // padded input plane, (H + 2p) rows of `pitch`
  const int padded_height = s.in_height + 2 * s.padding, padded_width = s.in_width + 2 * s.padding;
  T* dy_s = x_s + padded_height * pitch;         // output-gradient plane
  const int out_plane = s.out_height * s.out_width, in_plane = s.in_height * s.in_width;
  T* sums_s = dy_s + out_plane;                  // one partial sum per thread

  const int co = blockIdx.x / s.in_channels, ci = blockIdx.x % s.in_channels, slice = blockIdx.y;
  const int taps = s.kernel * s.kernel;
  const int tap = threadIdx.x % (taps + 1), group = threadIdx.x / (taps + 1);
  const int groups = blockDim.x / (taps + 1);
  const bool is_bias = tap == taps;
  const bool active = group < groups && (!is_bias || ci == 0);
  const int kh = tap / s.kernel, kw = tap % s.kernel;

  const int per_slice = (s.batch + slices - 1) / slices;
  const int n_begin = slice * per_slice, n_end = min(s.batch, n_begin + per_slice);
  T sum = 0;
  for (int n = n_begin; n < n_end; ++n) {
    __syncthreads();  // every thread is done with the previous sample's planes
    const T* x_plane = x + (n * s.in_channels + ci) * in_plane;
    for (int i = threadIdx.x; i < padded_height * padded_width; i += blockDim.x) {
      const int r = i / padded_width - s.padding, c = i % padded_width - s.padding;
      x_s[(r + s.padding) * pitch + c + s.padding] =
          (r >= 0 && r < s.in_height && c >= 0 && c < s.in_width) ? x_plane[r * s.in_width + c] : T(0);
    }
    const T* dy_plane = dy + (n * s.out_channels + co) * out_plane;
    for (int i = threadIdx.x; i < out_plane; i += blockDim.x) dy_s[i] = dy_plane[i];
    __syncthreads();
    if (!active) continue;
    for (int oh = group; oh < s.out_height; oh += groups) {
      const T* g = dy_s + oh * s.out_width;
      if (is_bias) {
        for (int ow = 0; ow < s.out_width; ++ow) sum += g[ow];
      } else {
        const T* row = x_s + (oh * s.stride + kh) * pitch + kw;
        for (int ow = 0; ow < s.out_width; ++ow) sum += g[ow] * row[ow * s.stride];
      }
    }
  }
  sums_s[threadIdx.x] = active ? sum : T(0);
  __syncthreads();
  if (group == 0 && active) {
    T total = 0;
    for (int g = 0; g < groups; ++g) total += sums_s[g * (taps + 1) + tap];
    const int weight_count = s.out_channels * s.in_channels * taps;
    const int j = is_bias ? weight_count + co : (co * s.in_channels + ci) * taps + tap;
    partial[slice * (weight_count + s.out_channels) + j] = total;
  }
}

// Adds the slices of each gradient in slice order and splits them into dW and db.
template <class T>
__global__ void conv2d_reduce_slices_kernel(const T* __restrict__ partial, int slices, int weight_count, int sums,
                                            T* __restrict__ dw, T* __restrict__ db) {
  HNN_GRID_STRIDE_LOOP(j, sums) {
    T total = 0;
    for (int s = 0; s < slices; ++s) total += partial[s * sums + j];
    if (j < weight_count) dw[j] = total;
    else if (db != nullptr) db[j - weight_count] = total;
  }
}

// The forward pass with one sample's padded input and all the weights staged in shared
// memory: block (n, part) computes part `part` of sample n's outputs. The padding is
// materialised as zeros, so the inner loops have no bounds checks; K > 0 fixes the kernel
// size at compile time so those loops unroll (LeNet's 5x5), K == 0 reads it at run time.
template <class T, int K>
__global__ void conv2d_forward_staged_kernel(ConvSizes s, const T* __restrict__ x, const T* __restrict__ w,
                                             const T* __restrict__ b, T* __restrict__ y) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const int k = K > 0 ? K : s.kernel;
  const int padded_height = s.in_height + 2 * s.padding, padded_width = s.in_width + 2 * s.padding;
  const int padded_plane = padded_height * padded_width, in_plane = s.in_height * s.in_width;
  T* x_s = reinterpret_cast<T*>(shared_bytes);  // in_channels padded planes
  T* w_s = x_s + s.in_channels * padded_plane;  // every weight
  const int n = blockIdx.x;

  const T* x_n = x + n * s.in_channels * in_plane;
  for (int i = threadIdx.x; i < s.in_channels * padded_plane; i += blockDim.x) {
    const int c = i / padded_plane, r = (i / padded_width) % padded_height - s.padding;
    const int col = i % padded_width - s.padding;
    x_s[i] = (r >= 0 && r < s.in_height && col >= 0 && col < s.in_width) ? x_n[c * in_plane + r * s.in_width + col]
                                                                          : T(0);
  }
  const int filter = s.in_channels * k * k;
  for (int i = threadIdx.x; i < s.out_channels * filter; i += blockDim.x) w_s[i] = w[i];
  __syncthreads();

  const int out_plane = s.out_height * s.out_width, outputs = s.out_channels * out_plane;
  const int per_part = (outputs + gridDim.y - 1) / gridDim.y;
  const int end = min(outputs, static_cast<int>(blockIdx.y + 1) * per_part);
  T* y_n = y + n * outputs;
  for (int o = blockIdx.y * per_part + threadIdx.x; o < end; o += blockDim.x) {
    const int co = o / out_plane, p = o % out_plane;
    const int oh = p / s.out_width, ow = p % s.out_width;
    const T* window = x_s + oh * s.stride * padded_width + ow * s.stride;
    const T* filter_co = w_s + co * filter;
    T sum = b != nullptr ? b[co] : T(0);
    for (int ci = 0; ci < s.in_channels; ++ci) {
      const T* plane = window + ci * padded_plane;
      const T* taps = filter_co + ci * k * k;
#pragma unroll
      for (int kh = 0; kh < k; ++kh)
#pragma unroll
        for (int kw = 0; kw < k; ++kw) sum += plane[kh * padded_width + kw] * taps[kh * k + kw];
    }
    y_n[o] = sum;
  }
}

// The input gradient for stride 1 with the output gradient of one sample staged in shared
// memory, padded by k - 1 - padding zeros on every side: dX is then a plain correlation of
// that padded plane with the flipped filters, with no bounds checks and no division.
template <class T, int K>
__global__ void conv2d_backward_input_staged_kernel(ConvSizes s, const T* __restrict__ w,
                                                    const T* __restrict__ dy, T* __restrict__ dx) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  const int k = K > 0 ? K : s.kernel;
  const int margin = k - 1 - s.padding;
  const int padded_height = s.out_height + 2 * margin, padded_width = s.out_width + 2 * margin;
  const int padded_plane = padded_height * padded_width, out_plane = s.out_height * s.out_width;
  T* g_s = reinterpret_cast<T*>(shared_bytes);   // out_channels padded gradient planes
  T* w_s = g_s + s.out_channels * padded_plane;  // every weight
  const int n = blockIdx.x;

  const T* dy_n = dy + n * s.out_channels * out_plane;
  for (int i = threadIdx.x; i < s.out_channels * padded_plane; i += blockDim.x) {
    const int c = i / padded_plane, r = (i / padded_width) % padded_height - margin;
    const int col = i % padded_width - margin;
    g_s[i] = (r >= 0 && r < s.out_height && col >= 0 && col < s.out_width) ? dy_n[c * out_plane + r * s.out_width + col]
                                                                            : T(0);
  }
  const int filter = s.in_channels * k * k;
  for (int i = threadIdx.x; i < s.out_channels * filter; i += blockDim.x) w_s[i] = w[i];
  __syncthreads();

  const int in_plane = s.in_height * s.in_width, outputs = s.in_channels * in_plane;
  const int per_part = (outputs + gridDim.y - 1) / gridDim.y;
  const int end = min(outputs, static_cast<int>(blockIdx.y + 1) * per_part);
  T* dx_n = dx + n * outputs;
  for (int o = blockIdx.y * per_part + threadIdx.x; o < end; o += blockDim.x) {
    const int ci = o / in_plane, p = o % in_plane;
    const int ih = p / s.in_width, iw = p % s.in_width;
    const T* window = g_s + ih * padded_width + iw;
    T sum = 0;
    for (int co = 0; co < s.out_channels; ++co) {
      const T* plane = window + co * padded_plane;
      const T* taps = w_s + co * filter + ci * k * k;
      // dy row ih + kh - margin pairs with filter row k - 1 - kh: the filter flipped.
#pragma unroll
      for (int kh = 0; kh < k; ++kh)
#pragma unroll
        for (int kw = 0; kw < k; ++kw)
          sum += plane[kh * padded_width + kw] * taps[(k - 1 - kh) * k + (k - 1 - kw)];
    }
    dx_n[o] = sum;
  }
}

// Each "staged" kernel keeps one sample's planes (and the weights) in shared memory and runs
// (under Conv2dAlgorithm::staged) for each pass whose tiles fit in 48 KB; the "direct"
// kernels work for any size and run otherwise, or for every pass under ::direct.
constexpr std::size_t staged_shared_limit = 48 * 1024;

inline int conv_staged_pitch(const Conv2dGeometry& g) {
  const std::int64_t width = g.in_width + 2 * g.padding;
  return static_cast<int>(width + ((g.kernel - width) % 32 + 32) % 32);
}

inline std::size_t conv_staged_shared_bytes(const Conv2dGeometry& g, std::size_t element) {
  const std::int64_t padded_height = g.in_height + 2 * g.padding;
  return element * static_cast<std::size_t>(padded_height * conv_staged_pitch(g) + g.out_pixels() + threads_per_block);
}

inline std::size_t conv_forward_shared_bytes(const Conv2dGeometry& g, std::size_t element) {
  const std::int64_t padded = (g.in_height + 2 * g.padding) * (g.in_width + 2 * g.padding);
  return element * static_cast<std::size_t>(g.in_channels * padded + g.weight_count());
}

inline std::int64_t conv_backward_input_margin(const Conv2dGeometry& g) { return g.kernel - 1 - g.padding; }

inline std::size_t conv_backward_input_shared_bytes(const Conv2dGeometry& g, std::size_t element) {
  const std::int64_t m = conv_backward_input_margin(g);
  const std::int64_t padded = (g.out_height() + 2 * m) * (g.out_width() + 2 * m);
  return element * static_cast<std::size_t>(g.out_channels * padded + g.weight_count());
}

inline bool conv_forward_staged(const Conv2dGeometry& g, std::size_t element) {
  return conv_forward_shared_bytes(g, element) <= staged_shared_limit;
}

inline bool conv_backward_input_staged(const Conv2dGeometry& g, std::size_t element) {
  return g.stride == 1 && conv_backward_input_margin(g) >= 0 &&
         conv_backward_input_shared_bytes(g, element) <= staged_shared_limit;
}

inline bool conv_weight_grad_staged(const Conv2dGeometry& g, std::size_t element) {
  return g.kernel * g.kernel + 1 <= threads_per_block &&
         conv_staged_shared_bytes(g, element) <= staged_shared_limit;
}

// Blocks per sample for the staged forward and input-gradient kernels: enough blocks in all
// to give a large GPU about 8 per multiprocessor, at most 8 per sample.
inline int conv_parts_per_sample(const Conv2dGeometry& g) {
  const std::int64_t parts = (1056 + g.batch - 1) / std::max<std::int64_t>(g.batch, 1);
  return static_cast<int>(std::min<std::int64_t>(8, std::max<std::int64_t>(1, parts)));
}

// Launches a kernel template instantiated for LeNet's 5x5 filters, or for any size.
#define HNN_CONV_LAUNCH_BY_KERNEL(kernel_template, T, k, grid, shared, ...)                          \
  do {                                                                                               \
    if ((k) == 5)                                                                                    \
      kernel_template<T, 5><<<(grid), threads_per_block, (shared), cuda_stream()>>>(__VA_ARGS__);    \
    else                                                                                             \
      kernel_template<T, 0><<<(grid), threads_per_block, (shared), cuda_stream()>>>(__VA_ARGS__);    \
  } while (0)

// Slices of the batch for the staged kernel: about 4 blocks per multiprocessor of a large GPU.
inline int conv_staged_slices(const Conv2dGeometry& g) {
  const std::int64_t pairs = g.out_channels * g.in_channels;
  std::int64_t slices = (528 + pairs - 1) / pairs;
  if (slices > g.batch) slices = g.batch;
  return static_cast<int>(slices < 1 ? 1 : slices);
}

}  // namespace cuda_detail

// Elements of workspace the CUDA conv kernels need: the per-slice partial gradients.
inline std::int64_t conv2d_workspace_size(cuda, const Conv2dGeometry& g) {
  const std::int64_t slices =
      std::max(cuda_detail::conv_weight_grad_slices(g), cuda_detail::conv_staged_slices(g));
  return slices * (g.weight_count() + g.out_channels);
}
inline std::int64_t conv2d_workspace_size(cuda, const Conv2dGeometry& g, Conv2dAlgorithm) {
  return conv2d_workspace_size(cuda{}, g);
}
inline std::int64_t conv2d_workspace_size(cuda, const Conv2dGeometry& g, Conv2dBackwardAlgorithms) {
  return conv2d_workspace_size(cuda{}, g);
}

// bias (and conv2d_backward's grad_bias) may be null for a convolution without bias.
template <class T>
void conv2d_forward(cuda, const Conv2dGeometry& g, const T* input, const T* weight, const T* bias, T* output,
                    T* /*workspace*/, Conv2dAlgorithm algorithm) {
  using namespace cuda_detail;
  const ConvSizes s = conv_sizes(g);
  if (algorithm == Conv2dAlgorithm::staged && conv_forward_staged(g, sizeof(T))) {
    const dim3 grid(static_cast<unsigned>(s.batch), static_cast<unsigned>(conv_parts_per_sample(g)));
    HNN_CONV_LAUNCH_BY_KERNEL(conv2d_forward_staged_kernel, T, s.kernel, grid, conv_forward_shared_bytes(g, sizeof(T)),
                              s, input, weight, bias, output);
    HNN_CUDA_CHECK_LAUNCH("conv2d_forward_staged_kernel");
    return;
  }
  const unsigned blocks = blocks_for(g.batch * g.out_channels * g.out_pixels());
  if (s.stride == 1)
    conv2d_forward_kernel<T, true><<<blocks, threads_per_block, 0, cuda_stream()>>>(s, input, weight, bias, output);
  else
    conv2d_forward_kernel<T, false><<<blocks, threads_per_block, 0, cuda_stream()>>>(s, input, weight, bias, output);
  HNN_CUDA_CHECK_LAUNCH("conv2d_forward_kernel");
}

template <class T>
void conv2d_backward(cuda, const Conv2dGeometry& g, const T* input, const T* weight, const T* grad_output,
                     T* grad_input, T* grad_weight, T* grad_bias, T* workspace,
                     Conv2dBackwardAlgorithms algorithms) {
  using namespace cuda_detail;
  const ConvSizes s = conv_sizes(g);
  if (grad_input != nullptr && algorithms.input_gradient == Conv2dAlgorithm::staged &&
      conv_backward_input_staged(g, sizeof(T))) {
    const dim3 grid(static_cast<unsigned>(s.batch), static_cast<unsigned>(conv_parts_per_sample(g)));
    HNN_CONV_LAUNCH_BY_KERNEL(conv2d_backward_input_staged_kernel, T, s.kernel, grid,
                              conv_backward_input_shared_bytes(g, sizeof(T)), s, weight, grad_output, grad_input);
    HNN_CUDA_CHECK_LAUNCH("conv2d_backward_input_staged_kernel");
  } else if (grad_input != nullptr) {
    const unsigned blocks = blocks_for(g.batch * g.in_channels * g.in_pixels());
    if (s.stride == 1)
      conv2d_backward_input_kernel<T, true>
          <<<blocks, threads_per_block, 0, cuda_stream()>>>(s, weight, grad_output, grad_input);
    else
      conv2d_backward_input_kernel<T, false>
          <<<blocks, threads_per_block, 0, cuda_stream()>>>(s, weight, grad_output, grad_input);
    HNN_CUDA_CHECK_LAUNCH("conv2d_backward_input_kernel");
  }
  const int weight_count = checked_int(g.weight_count(), "conv weights");
  const int sums = weight_count + s.out_channels;
  int slices = 0;
  if (algorithms.weight_gradient == Conv2dAlgorithm::staged && conv_weight_grad_staged(g, sizeof(T))) {
    slices = conv_staged_slices(g);
    const dim3 grid(static_cast<unsigned>(s.out_channels * s.in_channels), static_cast<unsigned>(slices));
    conv2d_weight_grad_staged_kernel<<<grid, threads_per_block, conv_staged_shared_bytes(g, sizeof(T)),
                                       cuda_stream()>>>(s, input, grad_output, slices, conv_staged_pitch(g),
                                                        workspace);
    HNN_CUDA_CHECK_LAUNCH("conv2d_weight_grad_staged_kernel");
  } else {
    slices = conv_weight_grad_slices(g);
    conv2d_backward_params_kernel<<<dim3(static_cast<unsigned>(sums), static_cast<unsigned>(slices)),
                                    threads_per_block, 0, cuda_stream()>>>(s, input, grad_output, slices,
                                                                           workspace);
    HNN_CUDA_CHECK_LAUNCH("conv2d_backward_params_kernel");
  }
  conv2d_reduce_slices_kernel<<<blocks_for(sums), threads_per_block, 0, cuda_stream()>>>(
      workspace, slices, weight_count, sums, grad_weight, grad_bias);
  HNN_CUDA_CHECK_LAUNCH("conv2d_reduce_slices_kernel");
}

}  // namespace hnn
