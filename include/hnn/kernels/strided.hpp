// What the tensor-maths kernels (elementwise, reduce, copy, matmul) share on both devices: the
// op codes, and the index arithmetic of broadcasting and strided access, written once.
//
// A StridedLoop<N> walks the elements of a shape (up to Shape::max_rank dimensions) and gives,
// for each, the element offset into each of N operands; operand k steps stride[k][d] elements
// per step along dimension d. A broadcast operand has stride 0 along the dimensions it is
// repeated over; a permuted or sliced one has its own strides. coalesce() then drops size-1
// dimensions and merges neighbours that every operand walks contiguously, so that most loops
// end as one or two dimensions and the inner one runs over plain arrays.
#pragma once

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/tensor.hpp"

#if defined(__CUDACC__)
#define HNN_HOST_DEVICE __host__ __device__
#else
#define HNN_HOST_DEVICE
#endif

namespace hnn {

// Elementwise ops of one operand (the ops in hnn/ops.hpp and their gradients).
// clamp: min(max(x, p0), p1). inside: 1 where p0 <= x <= p1, else 0 (clamp's gradient mask).
// sign: -1, 0 or 1.
enum class UnaryOp { neg, exp, log, sqrt, abs, sign, relu, sigmoid, tanh, clamp, inside };

// Elementwise ops of two operands, either of which may be broadcast or a scalar.
// Comparisons give 1 or 0 in the operands' type. The last three are activation gradients:
// relu_backward(x, g) = x > 0 ? g : 0; sigmoid_backward(y, g) = g y (1 - y);
// tanh_backward(y, g) = g (1 - y^2), with y the activation's output.
enum class BinaryOp {
  add, sub, mul, div, pow, maximum, minimum,
  eq, ne, lt, le, gt, ge,
  relu_backward, sigmoid_backward, tanh_backward
};

// Reductions over chosen dimensions.
enum class ReduceOp { sum, max, min };

inline const char* op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: return "neg";
    case UnaryOp::exp: return "exp";
    case UnaryOp::log: return "log";
    case UnaryOp::sqrt: return "sqrt";
    case UnaryOp::abs: return "abs";
    case UnaryOp::sign: return "sign";
    case UnaryOp::relu: return "relu";
    case UnaryOp::sigmoid: return "sigmoid";
    case UnaryOp::tanh: return "tanh";
    case UnaryOp::clamp: return "clamp";
    case UnaryOp::inside: return "inside";
  }
  return "?";
}

inline const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
    case BinaryOp::pow: return "pow";
    case BinaryOp::maximum: return "maximum";
    case BinaryOp::minimum: return "minimum";
    case BinaryOp::eq: return "eq";
    case BinaryOp::ne: return "ne";
    case BinaryOp::lt: return "lt";
    case BinaryOp::le: return "le";
    case BinaryOp::gt: return "gt";
    case BinaryOp::ge: return "ge";
    case BinaryOp::relu_backward: return "relu_backward";
    case BinaryOp::sigmoid_backward: return "sigmoid_backward";
    case BinaryOp::tanh_backward: return "tanh_backward";
  }
  return "?";
}

template <int N>
struct StridedLoop {
  static constexpr int operands = N;
  int rank = 0;
  std::int64_t size[Shape::max_rank] = {};
  std::int64_t stride[N][Shape::max_rank] = {};

  HNN_HOST_DEVICE std::int64_t numel() const {
    std::int64_t n = 1;
    for (int d = 0; d < rank; ++d) n *= size[d];
    return n;
  }

  // The offsets of element `index` (row-major over size[]) into each operand.
  HNN_HOST_DEVICE void offsets(std::int64_t index, std::int64_t (&out)[N]) const {
    for (int k = 0; k < N; ++k) out[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const std::int64_t i = index % size[d];
      index /= size[d];
      for (int k = 0; k < N; ++k) out[k] += i * stride[k][d];
    }
  }
};

// Element strides of a contiguous row-major tensor of `shape`.
inline std::array<std::int64_t, Shape::max_rank> contiguous_strides(const Shape& shape) {
  std::array<std::int64_t, Shape::max_rank> s{};
  std::int64_t step = 1;
  for (int d = shape.rank() - 1; d >= 0; --d) {
    s[static_cast<std::size_t>(d)] = step;
    step *= shape[d];
  }
  return s;
}

// The shape two shapes broadcast to (NumPy's rule: aligned from the right, each pair of sizes
// equal or one of them 1). Throws a sentence naming both shapes and the dimension.
inline Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int rank = a.rank() > b.rank() ? a.rank() : b.rank();
  Shape out;
  for (int d = 0; d < rank; ++d) {
    const int da = d - (rank - a.rank()), db = d - (rank - b.rank());
    const std::int64_t sa = da >= 0 ? a[da] : 1, sb = db >= 0 ? b[db] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      throw std::invalid_argument(std::string("hnn::ops::") + op + ": shapes " + a.str() + " and " + b.str() +
                                  " do not broadcast (dimension " + std::to_string(d) + " of the result: " +
                                  std::to_string(sa) + " against " + std::to_string(sb) + ")");
    out.push_back(sa == 1 ? sb : sa);
  }
  return out;
}

// The strides of a contiguous tensor of shape `in` read as if broadcast to `out` (which
// broadcast_shapes() made, or which `in` broadcasts to): 0 along repeated dimensions.
inline std::array<std::int64_t, Shape::max_rank> broadcast_strides(const Shape& in, const Shape& out) {
  std::array<std::int64_t, Shape::max_rank> s{};
  const auto own = contiguous_strides(in);
  const int shift = out.rank() - in.rank();
  for (int d = 0; d < out.rank(); ++d) {
    const int di = d - shift;
    s[static_cast<std::size_t>(d)] = (di < 0 || in[di] == 1) ? 0 : own[static_cast<std::size_t>(di)];
  }
  return s;
}

// Whether `in` broadcasts to exactly `out` (no dimension of `out` grows back).
inline bool broadcasts_to(const Shape& in, const Shape& out) {
  if (in.rank() > out.rank()) return false;
  const int shift = out.rank() - in.rank();
  for (int d = 0; d < in.rank(); ++d)
    if (in[d] != 1 && in[d] != out[d + shift]) return false;
  return true;
}

// Drops size-1 dimensions and merges dimension d into d + 1 wherever every operand steps
// through the pair as through one dimension. Leaves rank 0 when there is one element.
template <int N>
void coalesce(StridedLoop<N>& loop) {
  StridedLoop<N> out;
  for (int d = 0; d < loop.rank; ++d) {
    if (loop.size[d] == 1) continue;
    const int r = out.rank;
    bool merge = r > 0;
    for (int k = 0; k < N && merge; ++k) merge = out.stride[k][r - 1] == loop.stride[k][d] * loop.size[d];
    if (merge) {
      out.size[r - 1] *= loop.size[d];
      for (int k = 0; k < N; ++k) out.stride[k][r - 1] = loop.stride[k][d];
    } else {
      out.size[r] = loop.size[d];
      for (int k = 0; k < N; ++k) out.stride[k][r] = loop.stride[k][d];
      ++out.rank;
    }
  }
  loop = out;
}

// A loop over `shape` with the given strides per operand, coalesced.
template <int N>
StridedLoop<N> make_loop(const Shape& shape, const std::array<std::array<std::int64_t, Shape::max_rank>, N>& strides) {
  StridedLoop<N> loop;
  loop.rank = shape.rank();
  for (int d = 0; d < shape.rank(); ++d) {
    loop.size[d] = shape[d];
    for (int k = 0; k < N; ++k) loop.stride[k][d] = strides[static_cast<std::size_t>(k)][static_cast<std::size_t>(d)];
  }
  coalesce(loop);
  return loop;
}

// The loop of a reduction of a contiguous tensor of shape `in` over the dimensions flagged in
// `reduced` (one flag per dimension): operand 0 is the output (stride 0 along the reduced
// dimensions, contiguous over the kept ones), operand 1 the input. After coalescing, a
// dimension is reduced exactly when its output stride is 0.
inline StridedLoop<2> reduce_loop(const Shape& in, const std::vector<bool>& reduced) {
  Shape kept;
  for (int d = 0; d < in.rank(); ++d) kept.push_back(reduced[static_cast<std::size_t>(d)] ? 1 : in[d]);
  std::array<std::array<std::int64_t, Shape::max_rank>, 2> strides{contiguous_strides(kept), contiguous_strides(in)};
  for (int d = 0; d < in.rank(); ++d)
    if (reduced[static_cast<std::size_t>(d)]) strides[0][static_cast<std::size_t>(d)] = 0;
  return make_loop<2>(in, strides);
}

}  // namespace hnn
