// Elementwise tensor ops on the GPU; the twins of kernels/cpu/elementwise.hpp. A loop that
// coalesces to one dimension (same shapes, or a scalar) runs a flat kernel; any other
// broadcast decomposes each element's index through the StridedLoop (kernels/strided.hpp).
#pragma once

#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"
#include "hnn/kernels/strided.hpp"

namespace hnn {

namespace cuda_detail {

template <class T>
__device__ inline T max_propagating_nan(T a, T b) {
  return (a != a || b != b) ? (a != a ? a : b) : (a > b ? a : b);
}
template <class T>
__device__ inline T min_propagating_nan(T a, T b) {
  return (a != a || b != b) ? (a != a ? a : b) : (a < b ? a : b);
}

template <class T>
__device__ inline T unary_apply(UnaryOp op, T x, T p0, T p1) {
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return ::exp(x);
    case UnaryOp::log: return ::log(x);
    case UnaryOp::sqrt: return ::sqrt(x);
    case UnaryOp::abs: return ::fabs(x);
    case UnaryOp::sign: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
    case UnaryOp::relu: return x > T(0) ? x : T(0);
    case UnaryOp::sigmoid: return T(1) / (T(1) + ::exp(-x));
    case UnaryOp::tanh: return ::tanh(x);
    case UnaryOp::clamp: return min_propagating_nan(max_propagating_nan(x, p0), p1);
    case UnaryOp::inside: return (x >= p0 && x <= p1) ? T(1) : T(0);
  }
  return x;
}

template <BinaryOp Op, class T>
__device__ inline T binary_apply(T a, T b) {
  if constexpr (Op == BinaryOp::add) return a + b;
  else if constexpr (Op == BinaryOp::sub) return a - b;
  else if constexpr (Op == BinaryOp::mul) return a * b;
  else if constexpr (Op == BinaryOp::div) return a / b;
  else if constexpr (Op == BinaryOp::pow) return ::pow(a, b);
  else if constexpr (Op == BinaryOp::maximum) return max_propagating_nan(a, b);
  else if constexpr (Op == BinaryOp::minimum) return min_propagating_nan(a, b);
  else if constexpr (Op == BinaryOp::eq) return a == b ? T(1) : T(0);
  else if constexpr (Op == BinaryOp::ne) return a != b ? T(1) : T(0);
  else if constexpr (Op == BinaryOp::lt) return a < b ? T(1) : T(0);
  else if constexpr (Op == BinaryOp::le) return a <= b ? T(1) : T(0);
  else if constexpr (Op == BinaryOp::gt) return a > b ? T(1) : T(0);
  else if constexpr (Op == BinaryOp::ge) return a >= b ? T(1) : T(0);
  else if constexpr (Op == BinaryOp::relu_backward) return a > T(0) ? b : T(0);
  else if constexpr (Op == BinaryOp::sigmoid_backward) return b * a * (T(1) - a);
  else return b * (T(1) - a * a);  // tanh_backward
}

#define HNN_GRID_STRIDE_LOOP_64(i, n)                                                          \
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(blockDim.x) * gridDim.x)

template <class T>
__global__ void unary_kernel(UnaryOp op, std::int64_t n, const T* __restrict__ x, T* __restrict__ out, T p0, T p1) {
  HNN_GRID_STRIDE_LOOP_64(i, n) out[i] = unary_apply(op, x[i], p0, p1);
}

// Same shapes or scalars: a_step and b_step are 1 (an array) or 0 (its first element).
template <BinaryOp Op, class T>
__global__ void binary_flat_kernel(std::int64_t n, T* out, const T* a, T a_value, int a_step, const T* b, T b_value,
                                   int b_step) {
  HNN_GRID_STRIDE_LOOP_64(i, n) {
    const T x = a != nullptr ? a[i * a_step] : a_value;
    const T y = b != nullptr ? b[i * b_step] : b_value;
    out[i] = binary_apply<Op>(x, y);
  }
}

template <BinaryOp Op, class T>
__global__ void binary_strided_kernel(StridedLoop<3> loop, std::int64_t n, T* out, const T* a, T a_value, const T* b,
                                      T b_value) {
  HNN_GRID_STRIDE_LOOP_64(i, n) {
    std::int64_t offsets[3];
    loop.offsets(i, offsets);
    const T x = a != nullptr ? a[offsets[1]] : a_value;
    const T y = b != nullptr ? b[offsets[2]] : b_value;
    out[offsets[0]] = binary_apply<Op>(x, y);
  }
}

template <class T>
__global__ void where_kernel(StridedLoop<4> loop, std::int64_t n, T* out, const T* condition, const T* a, T a_value,
                             const T* b, T b_value) {
  HNN_GRID_STRIDE_LOOP_64(i, n) {
    std::int64_t offsets[4];
    loop.offsets(i, offsets);
    out[offsets[0]] = condition[offsets[1]] != T(0) ? (a != nullptr ? a[offsets[2]] : a_value)
                                                    : (b != nullptr ? b[offsets[3]] : b_value);
  }
}

template <class T>
__global__ void convert_scaled_kernel(std::int64_t n, const double* in, T* out, double scale) {
  HNN_GRID_STRIDE_LOOP_64(i, n) out[i] = static_cast<T>(in[i] * scale);
}

template <BinaryOp Op, class T>
void launch_binary(const StridedLoop<3>& loop, std::int64_t n, T* out, const T* a, T a_value, const T* b, T b_value) {
  const bool flat = loop.rank <= 1 && (loop.rank == 0 || loop.stride[0][0] == 1) &&
                    (loop.rank == 0 || loop.stride[1][0] <= 1) && (loop.rank == 0 || loop.stride[2][0] <= 1);
  if (flat) {
    const int a_step = loop.rank == 1 ? static_cast<int>(loop.stride[1][0]) : 0;
    const int b_step = loop.rank == 1 ? static_cast<int>(loop.stride[2][0]) : 0;
    binary_flat_kernel<Op><<<blocks_for(n), threads_per_block, 0, cuda_stream()>>>(n, out, a, a_value, a_step, b,
                                                                                    b_value, b_step);
    HNN_CUDA_CHECK_LAUNCH("binary_flat_kernel");
  } else {
    binary_strided_kernel<Op><<<blocks_for(n), threads_per_block, 0, cuda_stream()>>>(loop, n, out, a, a_value, b,
                                                                                       b_value);
    HNN_CUDA_CHECK_LAUNCH("binary_strided_kernel");
  }
}

}  // namespace cuda_detail

template <class T>
void unary(cuda, UnaryOp op, std::int64_t n, const T* x, T* out, T p0 = T(0), T p1 = T(0)) {
  if (n == 0) return;
  cuda_detail::unary_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      op, n, x, out, p0, p1);
  HNN_CUDA_CHECK_LAUNCH("unary_kernel");
}

template <class T>
void binary(cuda, BinaryOp op, const StridedLoop<3>& loop, T* out, const T* a, T a_value, const T* b, T b_value) {
  const std::int64_t n = loop.numel();
  if (n == 0) return;
  using cuda_detail::launch_binary;
  switch (op) {
    case BinaryOp::add: return launch_binary<BinaryOp::add>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::sub: return launch_binary<BinaryOp::sub>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::mul: return launch_binary<BinaryOp::mul>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::div: return launch_binary<BinaryOp::div>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::pow: return launch_binary<BinaryOp::pow>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::maximum: return launch_binary<BinaryOp::maximum>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::minimum: return launch_binary<BinaryOp::minimum>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::eq: return launch_binary<BinaryOp::eq>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::ne: return launch_binary<BinaryOp::ne>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::lt: return launch_binary<BinaryOp::lt>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::le: return launch_binary<BinaryOp::le>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::gt: return launch_binary<BinaryOp::gt>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::ge: return launch_binary<BinaryOp::ge>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::relu_backward: return launch_binary<BinaryOp::relu_backward>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::sigmoid_backward:
      return launch_binary<BinaryOp::sigmoid_backward>(loop, n, out, a, a_value, b, b_value);
    case BinaryOp::tanh_backward: return launch_binary<BinaryOp::tanh_backward>(loop, n, out, a, a_value, b, b_value);
  }
}

template <class T>
void where(cuda, const StridedLoop<4>& loop, T* out, const T* condition, const T* a, T a_value, const T* b,
           T b_value) {
  const std::int64_t n = loop.numel();
  if (n == 0) return;
  cuda_detail::where_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0, cuda_stream()>>>(
      loop, n, out, condition, a, a_value, b, b_value);
  HNN_CUDA_CHECK_LAUNCH("where_kernel");
}

template <class T>
void convert_scaled(cuda, std::int64_t n, const double* in, T* out, double scale) {
  if (n == 0) return;
  cuda_detail::convert_scaled_kernel<<<cuda_detail::blocks_for(n), cuda_detail::threads_per_block, 0,
                                       cuda_stream()>>>(n, in, out, scale);
  HNN_CUDA_CHECK_LAUNCH("convert_scaled_kernel");
}

}  // namespace hnn
