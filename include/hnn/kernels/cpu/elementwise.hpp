// Elementwise tensor ops on the CPU: unary ops over a contiguous array, binary ops and `where`
// with NumPy broadcasting (kernels/strided.hpp), and the double-to-T conversion a loss value
// takes. Each run of the innermost dimension is one Eigen array expression (a packet loop;
// a broadcast operand is a constant), and the elements are split between the threads the way
// the activation kernels split theirs (detail::elementwise).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#if defined(EIGEN_VECTORIZE_SSE)
#include <immintrin.h>
#endif

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/activation.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/kernels/strided.hpp"

namespace hnn {
namespace detail {

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ArrayX = Eigen::Array<T, Eigen::Dynamic, 1>;

// std::pow element by element: Eigen's packet pow differs from it for negative bases.
template <class T>
struct PowFunctor {
  T operator()(const T& a, const T& b) const { return std::pow(a, b); }
};

// The Eigen expression of each binary op, for operands that are arrays or constants.
template <BinaryOp Op>
struct BinaryExpr;
#define HNN_BINARY_EXPR(op, expression)                          \
  template <>                                                    \
  struct BinaryExpr<BinaryOp::op> {                              \
    template <class A, class B>                                  \
    static auto apply(const A& a, const B& b) {                  \
      using T = typename A::Scalar;                              \
      (void)sizeof(T);                                           \
      return expression;                                         \
    }                                                            \
  };
HNN_BINARY_EXPR(add, a + b)
HNN_BINARY_EXPR(sub, a - b)
HNN_BINARY_EXPR(mul, a * b)
HNN_BINARY_EXPR(div, a / b)
HNN_BINARY_EXPR(pow, a.binaryExpr(b, PowFunctor<T>()))
// NaN in, NaN out, as in PyTorch (Eigen's default max/min may return either operand).
HNN_BINARY_EXPR(maximum, a.binaryExpr(b, (Eigen::internal::scalar_max_op<T, T, Eigen::PropagateNaN>())))
HNN_BINARY_EXPR(minimum, a.binaryExpr(b, (Eigen::internal::scalar_min_op<T, T, Eigen::PropagateNaN>())))
HNN_BINARY_EXPR(eq, (a == b).template cast<T>())
HNN_BINARY_EXPR(ne, (a != b).template cast<T>())
HNN_BINARY_EXPR(lt, (a < b).template cast<T>())
HNN_BINARY_EXPR(le, (a <= b).template cast<T>())
HNN_BINARY_EXPR(gt, (a > b).template cast<T>())
HNN_BINARY_EXPR(ge, (a >= b).template cast<T>())
HNN_BINARY_EXPR(relu_backward, (a > T(0)).select(b, T(0)))
HNN_BINARY_EXPR(sigmoid_backward, b * a * (T(1) - a))
HNN_BINARY_EXPR(tanh_backward, b * (T(1) - a * a))
#undef HNN_BINARY_EXPR

// Calls f(BinaryExpr<op>{}) for a run-time op.
template <class F>
void with_binary_op(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::add: return f(BinaryExpr<BinaryOp::add>{});
    case BinaryOp::sub: return f(BinaryExpr<BinaryOp::sub>{});
    case BinaryOp::mul: return f(BinaryExpr<BinaryOp::mul>{});
    case BinaryOp::div: return f(BinaryExpr<BinaryOp::div>{});
    case BinaryOp::pow: return f(BinaryExpr<BinaryOp::pow>{});
    case BinaryOp::maximum: return f(BinaryExpr<BinaryOp::maximum>{});
    case BinaryOp::minimum: return f(BinaryExpr<BinaryOp::minimum>{});
    case BinaryOp::eq: return f(BinaryExpr<BinaryOp::eq>{});
    case BinaryOp::ne: return f(BinaryExpr<BinaryOp::ne>{});
    case BinaryOp::lt: return f(BinaryExpr<BinaryOp::lt>{});
    case BinaryOp::le: return f(BinaryExpr<BinaryOp::le>{});
    case BinaryOp::gt: return f(BinaryExpr<BinaryOp::gt>{});
    case BinaryOp::ge: return f(BinaryExpr<BinaryOp::ge>{});
    case BinaryOp::relu_backward: return f(BinaryExpr<BinaryOp::relu_backward>{});
    case BinaryOp::sigmoid_backward: return f(BinaryExpr<BinaryOp::sigmoid_backward>{});
    case BinaryOp::tanh_backward: return f(BinaryExpr<BinaryOp::tanh_backward>{});
  }
  throw std::logic_error("hnn: unknown binary op");
}

// Calls f(expression of n elements from p): the array itself when it steps (stride 1), or
// its first element repeated (stride 0).
template <class T, class F>
void with_run(const T* p, bool steps, std::int64_t n, F&& f) {
  if (steps) f(ConstArrayMap<T>(p, n));
  else f(ArrayX<T>::Constant(n, *p));
}

// Outputs of this many bytes or more are written with non-temporal (streaming) stores: a result
// far larger than the caches would only evict what the next op reads, and an ordinary store
// first reads the line it writes (a 16M-float a + b then moves four arrays' worth, not three).
constexpr std::size_t streaming_bytes = std::size_t(16) << 20;

// *to = p with a non-temporal store; `to` aligned to the packet. (Chosen by the scalar type and
// packet width: a SIMD type as a class template argument draws GCC's -Wignored-attributes.)
template <class T>
inline void stream_store(T* to, const Packet<T>& p) {
#if defined(EIGEN_VECTORIZE_AVX512)
  if constexpr (std::is_same_v<T, float> && packet_size<T> == 16) return _mm512_stream_ps(to, p);
  if constexpr (std::is_same_v<T, double> && packet_size<T> == 8) return _mm512_stream_pd(to, p);
#endif
#if defined(EIGEN_VECTORIZE_AVX)
  if constexpr (std::is_same_v<T, float> && packet_size<T> == 8) return _mm256_stream_ps(to, p);
  if constexpr (std::is_same_v<T, double> && packet_size<T> == 4) return _mm256_stream_pd(to, p);
#endif
#if defined(EIGEN_VECTORIZE_SSE2)
  if constexpr (std::is_same_v<T, float> && packet_size<T> == 4) return _mm_stream_ps(to, p);
  if constexpr (std::is_same_v<T, double> && packet_size<T> == 2) return _mm_stream_pd(to, p);
#endif
  Eigen::internal::pstore(to, p);
}

// out[0, n) = expression (n elements). stream: non-temporal stores (see streaming_bytes), for
// expressions Eigen can evaluate a packet at a time; others are assigned as usual.
template <class T, class Expr>
void assign(T* out, std::int64_t n, const Expr& expression, bool stream) {
  using Evaluator = Eigen::internal::evaluator<Expr>;
  if constexpr ((Evaluator::Flags & Eigen::PacketAccessBit) != 0 && (Evaluator::Flags & Eigen::LinearAccessBit) != 0) {
    if (stream) {
      using P = Packet<T>;
      constexpr std::int64_t S = packet_size<T>;
      Evaluator e(expression);
      const std::int64_t misaligned = static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(out) / sizeof(T)) % S;
      const std::int64_t head = std::min(n, misaligned == 0 ? std::int64_t{0} : S - misaligned);
      std::int64_t i = 0;
      for (; i < head; ++i) out[i] = e.coeff(i);
      for (; i + S <= n; i += S) stream_store<T>(out + i, e.template packet<Eigen::Unaligned, P>(i));
      for (; i < n; ++i) out[i] = e.coeff(i);
#if defined(EIGEN_VECTORIZE_SSE)
      _mm_sfence();  // the streamed lines reach memory before another thread reads them
#endif
      return;
    }
  }
  ArrayMap<T>(out, n) = expression;
}

// Runs body(offsets, count) over the elements [begin, end) of a coalesced loop, one call per
// piece of an innermost run: offsets are each operand's offset of the piece's first element.
// The innermost strides of the loops here are 0 or 1 (contiguous operands, broadcast or not).
template <int N, class Body>
void for_each_run(const StridedLoop<N>& loop, std::int64_t begin, std::int64_t end, Body&& body) {
  if (begin >= end) return;
  if (loop.rank == 0) {
    std::int64_t offsets[N] = {};
    body(offsets, std::int64_t{1});
    return;
  }
  const int r = loop.rank;
  const std::int64_t inner = loop.size[r - 1];
  const std::int64_t row = begin / inner;
  std::int64_t column = begin % inner;
  std::int64_t index[Shape::max_rank] = {};
  {
    std::int64_t rest = row;
    for (int d = r - 2; d >= 0; --d) {
      index[d] = rest % loop.size[d];
      rest /= loop.size[d];
    }
  }
  std::int64_t position = begin;
  while (position < end) {
    std::int64_t offsets[N];
    for (int k = 0; k < N; ++k) {
      offsets[k] = column * loop.stride[k][r - 1];
      for (int d = 0; d < r - 1; ++d) offsets[k] += index[d] * loop.stride[k][d];
    }
    const std::int64_t count = std::min(inner - column, end - position);
    body(offsets, count);
    position += count;
    column = 0;
    for (int d = r - 2; d >= 0; --d) {
      if (++index[d] < loop.size[d]) break;
      index[d] = 0;
    }
  }
}

// Work large enough to split between threads: a parallel region costs a few microseconds.
constexpr std::int64_t parallel_elements = 65536;

template <int N, class Body>
void parallel_runs(const StridedLoop<N>& loop, Body&& body) {
  const std::int64_t n = loop.numel();
  detail::elementwise(n, [&](std::int64_t b, std::int64_t e) { for_each_run(loop, b, e, body); });
}

}  // namespace detail

// out[i] = op(x[i]) over n contiguous elements; p0, p1: clamp's and inside's bounds.
template <class T>
void unary(cpu, UnaryOp op, std::int64_t n, const T* x, T* out, T p0 = T(0), T p1 = T(0)) {
  using detail::ArrayX;
  using detail::assign;
  const bool stream = static_cast<std::size_t>(n) * sizeof(T) >= detail::streaming_bytes;
  detail::elementwise(n, [&](std::int64_t b, std::int64_t e) {
    const detail::ConstArrayMap<T> a(x + b, e - b);
    T* o = out + b;
    const std::int64_t m = e - b;
    switch (op) {
      case UnaryOp::neg: return assign(o, m, -a, stream);
      case UnaryOp::exp: return assign(o, m, a.exp(), stream);
      case UnaryOp::log: return assign(o, m, a.log(), stream);
      case UnaryOp::sqrt: return assign(o, m, a.sqrt(), stream);
      case UnaryOp::abs: return assign(o, m, a.abs(), stream);
      case UnaryOp::sign: return assign(o, m, a.sign(), stream);
      case UnaryOp::relu: return assign(o, m, (a > T(0)).select(a, T(0)), stream);
      case UnaryOp::sigmoid: return detail::logistic(x + b, o, m);  // the Sigmoid layer's own function
      case UnaryOp::tanh: return assign(o, m, a.tanh(), stream);
      case UnaryOp::clamp:
        return assign(o, m,
                      a.binaryExpr(ArrayX<T>::Constant(m, p0), Eigen::internal::scalar_max_op<T, T, Eigen::PropagateNaN>())
                          .binaryExpr(ArrayX<T>::Constant(m, p1), Eigen::internal::scalar_min_op<T, T, Eigen::PropagateNaN>()),
                      stream);
      case UnaryOp::inside: return assign(o, m, ((a >= p0) && (a <= p1)).template cast<T>(), stream);
    }
    throw std::logic_error("hnn: unknown unary op");
  });
}

// out = op(a, b) over a coalesced loop whose operand 0 is `out` (contiguous), 1 is a and 2 is
// b, each pointer at its operand's first element. A null operand is the scalar beside it
// (a_value, b_value), which the loop gives strides 0.
template <class T>
void binary(cpu, BinaryOp op, const StridedLoop<3>& loop, T* out, const T* a, T a_value, const T* b, T b_value) {
  if (loop.numel() == 0) return;
  const T* pa = a != nullptr ? a : &a_value;
  const T* pb = b != nullptr ? b : &b_value;
  const int r = loop.rank;
  const bool a_steps = r > 0 && loop.stride[1][r - 1] != 0, b_steps = r > 0 && loop.stride[2][r - 1] != 0;
  const bool stream = static_cast<std::size_t>(loop.numel()) * sizeof(T) >= detail::streaming_bytes;
  detail::with_binary_op(op, [&](auto expression) {
    using Expr = decltype(expression);
    detail::parallel_runs(loop, [&](const std::int64_t (&offsets)[3], std::int64_t count) {
      T* o = out + offsets[0];
      detail::with_run(pa + offsets[1], a_steps, count, [&](const auto& ea) {
        detail::with_run(pb + offsets[2], b_steps, count,
                         [&](const auto& eb) { detail::assign(o, count, Expr::apply(ea, eb), stream); });
      });
    });
  });
}

// out = condition != 0 ? a : b over a coalesced loop: operands out, condition, a, b; a null a
// or b is the scalar beside it, as in binary().
template <class T>
void where(cpu, const StridedLoop<4>& loop, T* out, const T* condition, const T* a, T a_value, const T* b,
           T b_value) {
  if (loop.numel() == 0) return;
  const T* pa = a != nullptr ? a : &a_value;
  const T* pb = b != nullptr ? b : &b_value;
  const int r = loop.rank;
  const bool c_steps = r > 0 && loop.stride[1][r - 1] != 0, a_steps = r > 0 && loop.stride[2][r - 1] != 0,
             b_steps = r > 0 && loop.stride[3][r - 1] != 0;
  detail::parallel_runs(loop, [&](const std::int64_t (&offsets)[4], std::int64_t count) {
    detail::ArrayMap<T> o(out + offsets[0], count);
    detail::with_run(condition + offsets[1], c_steps, count, [&](const auto& ec) {
      detail::with_run(pa + offsets[2], a_steps, count, [&](const auto& ea) {
        detail::with_run(pb + offsets[3], b_steps, count, [&](const auto& eb) { o = (ec != T(0)).select(ea, eb); });
      });
    });
  });
}

// out[i] = T(in[i] * scale): a loss total kept in double becomes a value of the model's type.
template <class T>
void convert_scaled(cpu, std::int64_t n, const double* in, T* out, double scale) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(in[i] * scale);
}

}  // namespace hnn
