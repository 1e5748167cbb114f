// Linear on the GPU; the twin of kernels/cpu/linear.hpp. The three products (forward,
// input gradient, weight gradient) are one shared-memory tiled GEMM kernel reading its
// operands through strides, so no transposed copy is ever made. LeNet's matrices
// (at most 256 x 400 x 120) are too small for a library GEMM's setup to pay off.
#pragma once

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"

namespace hnn {

namespace cuda_detail {

constexpr int gemm_tile = 16;

// C[m, n] = sum_k A(m, k) * B(k, n) (+ bias[n]), with A(m, k) = A[m * a_row + k * a_col]
// and B(k, n) = B[k * b_row + n * b_col]; C is dense row-major M x N.
template <class T>
__global__ void strided_gemm_kernel(int M, int N, int K, const T* __restrict__ A, int a_row, int a_col,
                                    const T* __restrict__ B, int b_row, int b_col, const T* __restrict__ bias,
                                    T* __restrict__ C) {
  __shared__ T a_tile[gemm_tile][gemm_tile + 1];  // +1: no bank conflicts on the column reads
  __shared__ T b_tile[gemm_tile][gemm_tile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * gemm_tile + ty, col = blockIdx.x * gemm_tile + tx;
  T sum = 0;
  for (int k0 = 0; k0 < K; k0 += gemm_tile) {
    const int ka = k0 + tx, kb = k0 + ty;
    a_tile[ty][tx] = (row < M && ka < K) ? A[row * a_row + ka * a_col] : T(0);
    b_tile[ty][tx] = (kb < K && col < N) ? B[kb * b_row + col * b_col] : T(0);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < gemm_tile; ++k) sum += a_tile[ty][k] * b_tile[k][tx];
    __syncthreads();
  }
  if (row < M && col < N) C[row * N + col] = sum + (bias != nullptr ? bias[col] : T(0));
}

template <class T>
void strided_gemm(int M, int N, int K, const T* A, int a_row, int a_col, const T* B, int b_row, int b_col,
                  const T* bias, T* C) {
  const dim3 block(gemm_tile, gemm_tile);
  const dim3 grid(static_cast<unsigned>((N + gemm_tile - 1) / gemm_tile),
                  static_cast<unsigned>((M + gemm_tile - 1) / gemm_tile));
  strided_gemm_kernel<<<grid, block, 0, cuda_stream()>>>(M, N, K, A, a_row, a_col, B, b_row, b_col, bias, C);
  HNN_CUDA_CHECK_LAUNCH("strided_gemm_kernel");
}

// db[o] = sum over the batch of dY[n, o]: one block per output feature.
template <class T>
__global__ void column_sum_kernel(int rows, int cols, const T* __restrict__ matrix, T* __restrict__ sums) {
  const int c = blockIdx.x;
  T sum = 0;
  for (int r = threadIdx.x; r < rows; r += blockDim.x) sum += matrix[r * cols + c];
  sum = block_sum(sum);
  if (threadIdx.x == 0) sums[c] = sum;
}

}  // namespace cuda_detail

// bias (and linear_backward's grad_bias) may be null for a layer without bias.
template <class T>
void linear_forward(cuda, std::int64_t batch, std::int64_t in_features, std::int64_t out_features, const T* input,
                    const T* weight, const T* bias, T* output) {
  using cuda_detail::checked_int;
  const int n = checked_int(batch, "batch"), in = checked_int(in_features, "in_features"),
            out = checked_int(out_features, "out_features");
  checked_int(batch * in_features, "linear input elements");
  // Y(n, o) = sum_i X(n, i) * W(o, i)
  cuda_detail::strided_gemm(n, out, in, input, in, 1, weight, 1, in, bias, output);
}

template <class T>
void linear_backward(cuda, std::int64_t batch, std::int64_t in_features, std::int64_t out_features, const T* input,
                     const T* weight, const T* grad_output, T* grad_input, T* grad_weight, T* grad_bias) {
  using cuda_detail::checked_int;
  const int n = checked_int(batch, "batch"), in = checked_int(in_features, "in_features"),
            out = checked_int(out_features, "out_features");
  checked_int(batch * in_features, "linear input elements");
  // dW(o, i) = sum_n dY(n, o) * X(n, i)
  cuda_detail::strided_gemm(out, in, n, grad_output, 1, out, input, in, 1, static_cast<const T*>(nullptr),
                            grad_weight);
  if (grad_bias != nullptr) {
    cuda_detail::column_sum_kernel<<<static_cast<unsigned>(out), cuda_detail::threads_per_block, 0, cuda_stream()>>>(
        n, out, grad_output, grad_bias);
    HNN_CUDA_CHECK_LAUNCH("column_sum_kernel");
  }
  // dX(n, i) = sum_o dY(n, o) * W(o, i)
  if (grad_input != nullptr)
    cuda_detail::strided_gemm(n, in, out, grad_output, out, 1, weight, in, 1, static_cast<const T*>(nullptr),
                              grad_input);
}

}  // namespace hnn
