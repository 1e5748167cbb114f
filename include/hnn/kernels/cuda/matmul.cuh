// Batched matrix products on the GPU through cuBLAS; the twin of kernels/cpu/matmul.hpp.
// cuBLAS is column-major: the row-major product C = op(A) op(B) is computed as the
// column-major C^T = op(B)^T op(A)^T, which reads the same memory with no copy. The batch
// loop, once coalesced, is one strided-batched call per index of its outer dimensions.
#pragma once

#include <cublas_v2.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "hnn/device.hpp"
#include "hnn/kernels/cuda/common.cuh"
#include "hnn/kernels/strided.hpp"

namespace hnn {

namespace cuda_detail {

inline void cublas_check(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw CudaError(std::string("cuBLAS error: ") + call + " failed with status " + std::to_string(static_cast<int>(status)));
}

// The calling thread's cuBLAS handle, bound to hnn's stream (created on first use). Its math
// mode is cuBLAS's default: full FP32, no TF32, so results stay comparable with the CPU's.
inline cublasHandle_t cublas_handle() {
  static thread_local cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    cublas_check(cublasCreate(&h), "cublasCreate");
    cublas_check(cublasSetStream(h, cuda_stream()), "cublasSetStream");
    return h;
  }();
  return handle;
}

template <class T>
void gemm_strided_batched(cublasOperation_t op_b, cublasOperation_t op_a, int n, int m, int k, const T* b, int ldb,
                          long long stride_b, const T* a, int lda, long long stride_a, T* c, long long stride_c,
                          int count) {
  const T one = 1, zero = 0;
  if constexpr (std::is_same_v<T, float>)
    cublas_check(cublasSgemmStridedBatched(cublas_handle(), op_b, op_a, n, m, k, &one, b, ldb, stride_b, a, lda,
                                           stride_a, &zero, c, n, stride_c, count),
                 "cublasSgemmStridedBatched");
  else
    cublas_check(cublasDgemmStridedBatched(cublas_handle(), op_b, op_a, n, m, k, &one, b, ldb, stride_b, a, lda,
                                           stride_a, &zero, c, n, stride_c, count),
                 "cublasDgemmStridedBatched");
}

}  // namespace cuda_detail

template <class T>
void matmul(cuda, const StridedLoop<3>& batch, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
            bool a_transposed, const T* b, bool b_transposed, T* c) {
  using cuda_detail::checked_int;
  const std::int64_t count = batch.numel();
  if (count == 0 || m == 0 || n == 0) return;
  if (k == 0) {
    Memory<cuda>::fill_bytes(c, 0, static_cast<std::size_t>(count * m * n) * sizeof(T));
    return;
  }
  const int M = checked_int(m, "matmul rows"), N = checked_int(n, "matmul columns"), K = checked_int(k, "matmul depth");
  // Row-major A (m x k) is column-major A^T with leading dimension k; stored transposed (k x m)
  // it is column-major A with leading dimension m. Likewise B.
  const cublasOperation_t op_a = a_transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = b_transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int lda = a_transposed ? M : K, ldb = b_transposed ? K : N;
  // The innermost batch dimension goes to cuBLAS; the outer ones are looped here.
  const int r = batch.rank;
  const std::int64_t inner = r > 0 ? batch.size[r - 1] : 1;
  const long long stride_c = r > 0 ? batch.stride[0][r - 1] : 0, stride_a = r > 0 ? batch.stride[1][r - 1] : 0,
                  stride_b = r > 0 ? batch.stride[2][r - 1] : 0;
  const int batch_count = checked_int(inner, "matmul batch");
  StridedLoop<3> outer = batch;
  if (r > 0) outer.rank = r - 1;
  for (std::int64_t o = 0; o < outer.numel(); ++o) {
    std::int64_t offsets[3];
    outer.offsets(o, offsets);
    cuda_detail::gemm_strided_batched<T>(op_b, op_a, N, M, K, b + offsets[2], ldb, stride_b, a + offsets[1], lda,
                                         stride_a, c + offsets[0], stride_c, batch_count);
  }
}

}  // namespace hnn
