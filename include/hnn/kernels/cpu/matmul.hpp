// Batched matrix products on the CPU through Eigen's GEMM. Each product of the batch is one
// Eigen product of row-major maps (a transposed operand is the map of its storage, transposed:
// no copy). A batch of several products is split between the threads, one product per thread
// at a time (Eigen runs single-threaded inside a parallel region); a single product uses
// Eigen's own threads.
#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/strided.hpp"
#include "hnn/parallel.hpp"

namespace hnn {

// For every batch element (operand 0 of `batch`: c, 1: a, 2: b, element offsets of each
// matrix): C (m x n, row-major, contiguous) = op(A) op(B), where op(A) is m x k and stored as
// A (m x k) or, when a_transposed, as A^T (k x m), row-major; likewise B (k x n) or B^T (n x k).
template <class T>
void matmul(cpu, const StridedLoop<3>& batch, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
            bool a_transposed, const T* b, bool b_transposed, T* c) {
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstMap = Eigen::Map<const Matrix>;
  const std::int64_t count = batch.numel();
  const auto one = [&](std::int64_t index) {
    std::int64_t offsets[3];
    batch.offsets(index, offsets);
    Eigen::Map<Matrix> C(c + offsets[0], m, n);
    if (k == 0) {
      C.setZero();
      return;
    }
    const ConstMap A(a + offsets[1], a_transposed ? k : m, a_transposed ? m : k);
    const ConstMap B(b + offsets[2], b_transposed ? n : k, b_transposed ? k : n);
    if (a_transposed && b_transposed) C.noalias() = A.transpose() * B.transpose();
    else if (a_transposed) C.noalias() = A.transpose() * B;
    else if (b_transposed) C.noalias() = A * B.transpose();
    else C.noalias() = A * B;
  };
  const bool split = count > 1 && num_threads() > 1 && count * m * n * k >= (std::int64_t{1} << 18);
  if (!split) {
    for (std::int64_t i = 0; i < count; ++i) one(i);
    return;
  }
#if defined(_OPENMP)
#pragma omp parallel for schedule(static)
#endif
  for (std::int64_t i = 0; i < count; ++i) one(i);
}

}  // namespace hnn
