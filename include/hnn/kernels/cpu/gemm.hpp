// A small matrix product for the CPU kernels: C = A * B (+ a bias per column), with a
// register-blocked micro-kernel on Eigen's SIMD packets.
//
// Why not Eigen's GEMM: at LeNet-5's sizes (256 x 400 x 120 and smaller) Eigen packs both
// operands and, with OpenMP, splits one product over the threads and mallocs its blocking
// buffers on every call. Here the caller splits the rows of C between the threads of its
// own parallel region, nothing is allocated, and A can be read with any strides (so A^T
// costs nothing).
//
// Layout: A(m, k) = a[m * a_m + k * a_k]; B is row-major with pitch b_k, and every row must
// be readable up to round_up(n, packet) columns (the caller pads B when n is not a multiple
// of the packet); C is row-major with pitch c_m and only its n columns are written.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

#include "hnn/kernels/cpu/vectorize.hpp"

namespace hnn {
namespace detail {
namespace gemm {

// rows_block x vecs_block accumulators + vecs_block loads + 1 broadcast fit the registers.
constexpr int rows_block = registers >= 32 ? 6 : 3;
constexpr int vecs_block = registers >= 32 ? 4 : 3;

// C[m][0, valid) = bias + sum_k A(m, k) * B[k][0, valid) for m < MR, over NV packets of columns.
template <int MR, int NV, class T>
inline void block(std::int64_t depth, const T* a, std::int64_t a_m, std::int64_t a_k, const T* b, std::int64_t b_k,
                  T* c, std::int64_t c_m, std::int64_t valid, const T* bias) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  P acc[MR][NV];
  for (int m = 0; m < MR; ++m)
    for (int v = 0; v < NV; ++v) acc[m][v] = pset1<P>(T(0));
  for (std::int64_t k = 0; k < depth; ++k) {
    P bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = ploadu<P>(b + k * b_k + v * S);
    for (int m = 0; m < MR; ++m) {
      const P av = pset1<P>(a[m * a_m + k * a_k]);
      for (int v = 0; v < NV; ++v) acc[m][v] = pmadd(av, bv[v], acc[m][v]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (int v = 0; v < NV; ++v) {
      T* dst = c + m * c_m + v * S;
      const std::int64_t lanes = std::min<std::int64_t>(S, valid - v * S);
      if (lanes == S) {
        pstoreu(dst, bias ? padd(acc[m][v], ploadu<P>(bias + v * S)) : acc[m][v]);
      } else {  // the last, partial packet of a row
        T tmp[S];
        pstoreu(tmp, acc[m][v]);
        for (std::int64_t l = 0; l < lanes; ++l) dst[l] = tmp[l] + (bias ? bias[v * S + l] : T(0));
      }
    }
}

// Rows [m_begin, m_end) of C (n columns) = A * B (+ bias), inner dimension `depth`.
template <class T>
void multiply(std::int64_t m_begin, std::int64_t m_end, std::int64_t n, std::int64_t depth, const T* a,
              std::int64_t a_m, std::int64_t a_k, const T* b, std::int64_t b_k, T* c, std::int64_t c_m,
              const T* bias = nullptr) {
  constexpr std::int64_t S = packet_size<T>;
  for (std::int64_t j0 = 0; j0 < n; j0 += vecs_block * S) {
    const std::int64_t valid = std::min<std::int64_t>(vecs_block * S, n - j0);
    const int nv = static_cast<int>((valid + S - 1) / S);
    with_constant<vecs_block>(nv, [&](auto nv_c) {
      constexpr int NV = decltype(nv_c)::value;
      for (std::int64_t m0 = m_begin; m0 < m_end; m0 += rows_block) {
        const int mr = static_cast<int>(std::min<std::int64_t>(rows_block, m_end - m0));
        with_constant<rows_block>(mr, [&](auto mr_c) {
          constexpr int MR = decltype(mr_c)::value;
          block<MR, NV>(depth, a + m0 * a_m, a_m, a_k, b + j0, b_k, c + m0 * c_m + j0, c_m, valid,
                        bias ? bias + j0 : nullptr);
        });
      }
    });
  }
}

// A scratch buffer owned by the calling thread that only grows: the kernels whose signatures
// take no workspace (Linear's) keep their packed copies here, so a steady training step
// allocates nothing after the first.
template <class T>
T* scratch(std::int64_t elements) {
  struct Buffer {
    std::unique_ptr<T[]> data;
    std::int64_t size = 0;
  };
  static thread_local Buffer buffer;
  if (elements > buffer.size) {
    buffer.data.reset(new T[static_cast<std::size_t>(elements)]);
    buffer.size = elements;
  }
  return buffer.data.get();
}

}  // namespace gemm
}  // namespace detail
}  // namespace hnn
