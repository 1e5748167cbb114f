// Tensor maths on both devices: plain Tensor<T, Device> in, a new contiguous Tensor out, no
// gradient tape (hnn/autograd.hpp records one over these). Opt-in: hnn/hnn.hpp does not
// include this header.
//
//   using namespace hnn::ops;                       // or spell hnn::ops::exp(...)
//   Tensor<float> y = exp(x) * 2.0f + b;             // broadcasting as in NumPy and PyTorch
//   Tensor<float> p = softmax(matmul(q, transpose(k, -2, -1)) / 8.0f, -1);
//   Tensor<float> m = mean(p, {0, 2}, /*keepdim=*/true);
//
// Elementwise: add sub mul div pow maximum minimum, eq ne lt le gt ge (1 or 0), where; a scalar
// may stand on either side of each (and of the operators + - * / < <= > >=). Unary: neg exp
// log sqrt abs sign clamp relu sigmoid tanh. Reductions over chosen dimensions (none given:
// all), with keepdim: sum mean amax amin logsumexp; argmax argmin; softmax and log_softmax
// along one dimension. matmul (batched, with broadcast batch dimensions). Shape ops: reshape
// (a view, -1 inferred), unsqueeze, squeeze, permute, transpose, slice (any dimension, a
// step), cat, stack, broadcast_to, sum_to (the reduction a broadcast's gradient needs), and
// contiguous. Dimensions may be negative, counted from the end. Every shape error is an
// std::invalid_argument naming the op and the shapes.
//
// The names live in hnn::ops, not hnn: an unqualified exp(x) inside hnn's own kernels must
// still mean the C library's. The operators are in hnn, where argument-dependent lookup finds
// them for Tensor.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "hnn/kernels/copy.hpp"
#include "hnn/kernels/elementwise.hpp"
#include "hnn/kernels/matmul.hpp"
#include "hnn/kernels/reduce.hpp"
#include "hnn/kernels/strided.hpp"
#include "hnn/tensor.hpp"

namespace hnn::ops {

// A scalar argument of a template over T: deduced from the tensor alone, so `x * 2` works
// for a float tensor.
template <class T>
using Scalar = typename std::common_type<T>::type;

// The dimensions an op reduces or reorders: one (Dims(1)), several ({0, 2}), or, given none
// ({} or Dims()), every dimension. Negative values count from the end.
class Dims {
 public:
  Dims() = default;
  Dims(int dim) : dims_{dim} {}  // NOLINT: implicit, so that sum(x, 1) reads as in PyTorch
  Dims(std::initializer_list<int> dims) : dims_(dims) {}
  explicit Dims(std::vector<int> dims) : dims_(std::move(dims)) {}

  bool all() const { return dims_.empty(); }
  const std::vector<int>& list() const { return dims_; }

 private:
  std::vector<int> dims_;
};

namespace detail {

[[noreturn]] inline void fail(const char* op, const std::string& what) {
  throw std::invalid_argument(std::string("hnn::ops::") + op + ": " + what);
}

// Dimension `dim` of a rank-`rank` tensor, negatives counted from the end; throws naming the shape.
inline int normalize_dim(int dim, int rank, const Shape& shape, const char* op) {
  const int d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank)
    fail(op, "dimension " + std::to_string(dim) + " is out of range for shape " + shape.str() + " (rank " +
                 std::to_string(rank) + ")");
  return d;
}

// One flag per dimension of `shape`: whether `dims` names it (all of them when dims is empty).
inline std::vector<bool> dim_flags(const Dims& dims, const Shape& shape, const char* op) {
  std::vector<bool> flags(static_cast<std::size_t>(shape.rank()), dims.all());
  for (int dim : dims.list()) {
    const int d = normalize_dim(dim, shape.rank(), shape, op);
    if (flags[static_cast<std::size_t>(d)]) fail(op, "dimension " + std::to_string(dim) + " is named twice");
    flags[static_cast<std::size_t>(d)] = true;
  }
  return flags;
}

// The shape of a reduction's result: the flagged dimensions become 1 (keepdim) or go.
inline Shape reduced_shape(const Shape& shape, const std::vector<bool>& flags, bool keepdim) {
  Shape out;
  for (int d = 0; d < shape.rank(); ++d) {
    if (!flags[static_cast<std::size_t>(d)]) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

template <class T, class Device>
struct Operand {
  const T* data;  // null: the scalar `value`
  T value;
  Shape shape;    // () for a scalar
};

template <class T, class Device>
Operand<T, Device> operand(const Tensor<T, Device>& t) {
  return {t.data(), T(0), t.shape()};
}
template <class T, class Device>
Operand<T, Device> operand(T value) {
  return {nullptr, value, Shape{}};
}

using Strides = std::array<std::int64_t, Shape::max_rank>;

template <class T, class Device>
void binary_into(BinaryOp op, const Operand<T, Device>& a, const Operand<T, Device>& b, Tensor<T, Device>& out) {
  const Shape shape = broadcast_shapes(a.shape, b.shape, op_name(op));
  out.resize(shape);
  const StridedLoop<3> loop = make_loop<3>(
      shape, {contiguous_strides(shape), broadcast_strides(a.shape, shape), broadcast_strides(b.shape, shape)});
  hnn::binary(Device{}, op, loop, out.data(), a.data, a.value, b.data, b.value);
}

template <class T, class Device>
Tensor<T, Device> binary(BinaryOp op, const Operand<T, Device>& a, const Operand<T, Device>& b) {
  Tensor<T, Device> out;
  binary_into(op, a, b, out);
  return out;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Creation and reading back
// ---------------------------------------------------------------------------------------------

// A tensor of `shape` filled with `value`, on any device.
template <class T, class Device = cpu>
Tensor<T, Device> full(const Shape& shape, Scalar<T> value) {
  Tensor<T, Device> out(shape);
  const detail::Strides none{};
  const StridedLoop<3> loop = make_loop<3>(shape, {contiguous_strides(shape), none, none});
  hnn::binary(Device{}, BinaryOp::add, loop, out.data(), static_cast<const T*>(nullptr), T(value),
              static_cast<const T*>(nullptr), T(0));
  return out;
}
template <class T, class Device = cpu>
Tensor<T, Device> zeros(const Shape& shape) {
  return Tensor<T, Device>::zeros(shape);
}
template <class T, class Device = cpu>
Tensor<T, Device> ones(const Shape& shape) {
  return full<T, Device>(shape, T(1));
}
template <class T, class Device>
Tensor<T, Device> zeros_like(const Tensor<T, Device>& x) {
  return Tensor<T, Device>::zeros(x.shape());
}
template <class T, class Device>
Tensor<T, Device> ones_like(const Tensor<T, Device>& x) {
  return ones<T, Device>(x.shape());
}

// The value of a one-element tensor, on the host (on a GPU this waits for it).
template <class T, class Device>
T item(const Tensor<T, Device>& x) {
  if (x.numel() != 1)
    detail::fail("item", "needs a tensor of one element, got shape " + x.shape().str());
  T value;
  Memory<Device>::copy_to_host(&value, x.data(), sizeof(T));
  return value;
}

// ---------------------------------------------------------------------------------------------
// Elementwise
// ---------------------------------------------------------------------------------------------

template <class T, class Device>
Tensor<T, Device> unary(UnaryOp op, const Tensor<T, Device>& x, Scalar<T> p0 = T(0), Scalar<T> p1 = T(0)) {
  Tensor<T, Device> out(x.shape());
  hnn::unary(Device{}, op, x.numel(), x.data(), out.data(), T(p0), T(p1));
  return out;
}

#define HNN_OPS_UNARY(name)                                       \
  template <class T, class Device>                                \
  Tensor<T, Device> name(const Tensor<T, Device>& x) {            \
    return unary(UnaryOp::name, x);                               \
  }
HNN_OPS_UNARY(neg)
HNN_OPS_UNARY(exp)
HNN_OPS_UNARY(log)
HNN_OPS_UNARY(sqrt)
HNN_OPS_UNARY(abs)
HNN_OPS_UNARY(sign)
HNN_OPS_UNARY(relu)
HNN_OPS_UNARY(sigmoid)
HNN_OPS_UNARY(tanh)
#undef HNN_OPS_UNARY

// min(max(x, low), high); low <= high.
template <class T, class Device>
Tensor<T, Device> clamp(const Tensor<T, Device>& x, Scalar<T> low, Scalar<T> high) {
  if (!(low <= high))
    detail::fail("clamp", "the lower bound " + std::to_string(low) + " is above the upper bound " + std::to_string(high));
  return unary(UnaryOp::clamp, x, low, high);
}

// out = op(a, b), broadcast; either may be a scalar.
template <class T, class Device>
Tensor<T, Device> binary(BinaryOp op, const Tensor<T, Device>& a, const Tensor<T, Device>& b) {
  return detail::binary(op, detail::operand(a), detail::operand(b));
}
template <class T, class Device>
Tensor<T, Device> binary(BinaryOp op, const Tensor<T, Device>& a, Scalar<T> b) {
  return detail::binary(op, detail::operand(a), detail::operand<T, Device>(T(b)));
}
template <class T, class Device>
Tensor<T, Device> binary(BinaryOp op, Scalar<T> a, const Tensor<T, Device>& b) {
  return detail::binary(op, detail::operand<T, Device>(T(a)), detail::operand(b));
}

// The same into `out` (resized to the broadcast shape; its storage reused when large enough).
// `out` may be `a` itself when a has the result's shape: each element is read before it is written.
template <class T, class Device>
void binary_into(BinaryOp op, const Tensor<T, Device>& a, const Tensor<T, Device>& b, Tensor<T, Device>& out) {
  detail::binary_into(op, detail::operand(a), detail::operand(b), out);
}

#define HNN_OPS_BINARY(name)                                                        \
  template <class T, class Device>                                                  \
  Tensor<T, Device> name(const Tensor<T, Device>& a, const Tensor<T, Device>& b) { \
    return binary(BinaryOp::name, a, b);                                            \
  }                                                                                 \
  template <class T, class Device>                                                  \
  Tensor<T, Device> name(const Tensor<T, Device>& a, Scalar<T> b) {                 \
    return binary(BinaryOp::name, a, b);                                            \
  }                                                                                 \
  template <class T, class Device>                                                  \
  Tensor<T, Device> name(Scalar<T> a, const Tensor<T, Device>& b) {                 \
    return binary(BinaryOp::name, a, b);                                            \
  }
HNN_OPS_BINARY(add)
HNN_OPS_BINARY(sub)
HNN_OPS_BINARY(mul)
HNN_OPS_BINARY(div)
HNN_OPS_BINARY(pow)
HNN_OPS_BINARY(maximum)
HNN_OPS_BINARY(minimum)
HNN_OPS_BINARY(eq)
HNN_OPS_BINARY(ne)
HNN_OPS_BINARY(lt)
HNN_OPS_BINARY(le)
HNN_OPS_BINARY(gt)
HNN_OPS_BINARY(ge)
#undef HNN_OPS_BINARY

// condition != 0 ? a : b, all three broadcast together; a or b may be a scalar.
template <class T, class Device>
Tensor<T, Device> where(const Tensor<T, Device>& condition, const detail::Operand<T, Device>& a,
                        const detail::Operand<T, Device>& b) {
  const Shape shape = broadcast_shapes(broadcast_shapes(condition.shape(), a.shape, "where"), b.shape, "where");
  Tensor<T, Device> out(shape);
  const StridedLoop<4> loop =
      make_loop<4>(shape, {contiguous_strides(shape), broadcast_strides(condition.shape(), shape),
                           broadcast_strides(a.shape, shape), broadcast_strides(b.shape, shape)});
  hnn::where(Device{}, loop, out.data(), condition.data(), a.data, a.value, b.data, b.value);
  return out;
}
template <class T, class Device>
Tensor<T, Device> where(const Tensor<T, Device>& condition, const Tensor<T, Device>& a, const Tensor<T, Device>& b) {
  return where(condition, detail::operand(a), detail::operand(b));
}
template <class T, class Device>
Tensor<T, Device> where(const Tensor<T, Device>& condition, const Tensor<T, Device>& a, Scalar<T> b) {
  return where(condition, detail::operand(a), detail::operand<T, Device>(T(b)));
}
template <class T, class Device>
Tensor<T, Device> where(const Tensor<T, Device>& condition, Scalar<T> a, const Tensor<T, Device>& b) {
  return where(condition, detail::operand<T, Device>(T(a)), detail::operand(b));
}

// ---------------------------------------------------------------------------------------------
// Shape ops
// ---------------------------------------------------------------------------------------------

// The contiguous tensor itself: every hnn Tensor is contiguous (permute, slice and the other
// shape ops copy), so there is nothing to do. Kept so that code written for PyTorch reads the same.
template <class T, class Device>
Tensor<T, Device> contiguous(const Tensor<T, Device>& x) {
  return x;
}

// A view of x with another shape of as many elements (shares x's storage); one size may be -1,
// inferred from the others.
template <class T, class Device>
Tensor<T, Device> reshape(const Tensor<T, Device>& x, const std::vector<std::int64_t>& sizes) {
  if (static_cast<int>(sizes.size()) > Shape::max_rank)
    detail::fail("reshape", "rank " + std::to_string(sizes.size()) + " exceeds the maximum of " +
                                std::to_string(Shape::max_rank));
  int inferred = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (sizes[i] == -1) {
      if (inferred >= 0) detail::fail("reshape", "only one size may be -1");
      inferred = static_cast<int>(i);
    } else if (sizes[i] < 0) {
      detail::fail("reshape", "size " + std::to_string(sizes[i]) + " is negative");
    } else {
      known *= sizes[i];
    }
  }
  Shape shape;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    std::int64_t s = sizes[i];
    if (static_cast<int>(i) == inferred) {
      if (known == 0 || x.numel() % known != 0)
        detail::fail("reshape", "cannot infer the -1 of a view of " + x.shape().str() + " (" +
                                    std::to_string(x.numel()) + " elements)");
      s = x.numel() / known;
    }
    shape.push_back(s);
  }
  if (shape.numel() != x.numel())
    detail::fail("reshape", "cannot view " + x.shape().str() + " (" + std::to_string(x.numel()) + " elements) as " +
                                shape.str() + " (" + std::to_string(shape.numel()) + " elements)");
  return x.reshape(shape);
}
// (A braced list of sizes, {4, -1}, chooses this overload rather than the Shape one.)
template <class T, class Device>
Tensor<T, Device> reshape(const Tensor<T, Device>& x, std::initializer_list<std::int64_t> sizes) {
  return reshape(x, std::vector<std::int64_t>(sizes));
}
template <class T, class Device>
Tensor<T, Device> reshape(const Tensor<T, Device>& x, const Shape& shape) {
  if (shape.numel() != x.numel())
    detail::fail("reshape", "cannot view " + x.shape().str() + " (" + std::to_string(x.numel()) + " elements) as " +
                                shape.str() + " (" + std::to_string(shape.numel()) + " elements)");
  return x.reshape(shape);
}

// A view with a new dimension of size 1 at `dim` (0 <= dim <= rank, or negative).
template <class T, class Device>
Tensor<T, Device> unsqueeze(const Tensor<T, Device>& x, int dim) {
  const int rank = x.rank();
  const int d = dim < 0 ? dim + rank + 1 : dim;
  if (d < 0 || d > rank)
    detail::fail("unsqueeze", "dimension " + std::to_string(dim) + " is out of range for shape " + x.shape().str());
  if (rank == Shape::max_rank) detail::fail("unsqueeze", "shape " + x.shape().str() + " already has the maximum rank");
  Shape shape;
  for (int i = 0; i < rank; ++i) {
    if (i == d) shape.push_back(1);
    shape.push_back(x.dim(i));
  }
  if (d == rank) shape.push_back(1);
  return x.reshape(shape);
}

// A view without dimension `dim`, which must have size 1.
template <class T, class Device>
Tensor<T, Device> squeeze(const Tensor<T, Device>& x, int dim) {
  const int d = detail::normalize_dim(dim, x.rank(), x.shape(), "squeeze");
  if (x.dim(d) != 1)
    detail::fail("squeeze", "dimension " + std::to_string(dim) + " of " + x.shape().str() + " has size " +
                                std::to_string(x.dim(d)) + ", not 1");
  Shape shape;
  for (int i = 0; i < x.rank(); ++i)
    if (i != d) shape.push_back(x.dim(i));
  return x.reshape(shape);
}

// The dimensions of x reordered: result dimension i is x's dimension order[i].
template <class T, class Device>
Tensor<T, Device> permute(const Tensor<T, Device>& x, const std::vector<int>& order) {
  const int rank = x.rank();
  if (static_cast<int>(order.size()) != rank)
    detail::fail("permute", std::to_string(order.size()) + " dimensions given for shape " + x.shape().str());
  std::vector<bool> seen(static_cast<std::size_t>(rank), false);
  Shape shape;
  detail::Strides src{};
  const detail::Strides own = contiguous_strides(x.shape());
  for (int i = 0; i < rank; ++i) {
    const int d = detail::normalize_dim(order[static_cast<std::size_t>(i)], rank, x.shape(), "permute");
    if (seen[static_cast<std::size_t>(d)]) detail::fail("permute", "dimension " + std::to_string(d) + " is named twice");
    seen[static_cast<std::size_t>(d)] = true;
    shape.push_back(x.dim(d));
    src[static_cast<std::size_t>(i)] = own[static_cast<std::size_t>(d)];
  }
  Tensor<T, Device> out(shape);
  hnn::copy_strided(Device{}, make_loop<2>(shape, {contiguous_strides(shape), src}), out.data(), x.data());
  return out;
}

// x with dimensions d0 and d1 swapped.
template <class T, class Device>
Tensor<T, Device> transpose(const Tensor<T, Device>& x, int d0, int d1) {
  const int a = detail::normalize_dim(d0, x.rank(), x.shape(), "transpose");
  const int b = detail::normalize_dim(d1, x.rank(), x.shape(), "transpose");
  std::vector<int> order(static_cast<std::size_t>(x.rank()));
  for (int i = 0; i < x.rank(); ++i) order[static_cast<std::size_t>(i)] = i;
  std::swap(order[static_cast<std::size_t>(a)], order[static_cast<std::size_t>(b)]);
  return permute(x, order);
}

namespace detail {
// The [begin, end) range a slice keeps, negatives counted from the end; throws when out of range.
inline std::pair<std::int64_t, std::int64_t> slice_range(const Shape& shape, int d, std::int64_t begin, std::int64_t end,
                                                         std::int64_t step, const char* op) {
  const std::int64_t size = shape[d];
  const std::int64_t b = begin < 0 ? begin + size : begin, e = end < 0 ? end + size : end;
  if (step < 1) fail(op, "step must be at least 1, got " + std::to_string(step));
  if (b < 0 || e < b || e > size)
    fail(op, "[" + std::to_string(begin) + ", " + std::to_string(end) + ") is outside dimension " + std::to_string(d) +
                 " of " + shape.str());
  return {b, e};
}
}  // namespace detail

// Elements [begin, end) of dimension `dim`, every `step`-th (begin and end may be negative,
// counted from the end). A copy.
template <class T, class Device>
Tensor<T, Device> slice(const Tensor<T, Device>& x, int dim, std::int64_t begin, std::int64_t end,
                        std::int64_t step = 1) {
  const int d = detail::normalize_dim(dim, x.rank(), x.shape(), "slice");
  const auto [b, e] = detail::slice_range(x.shape(), d, begin, end, step, "slice");
  Shape shape = x.shape();
  shape[d] = (e - b + step - 1) / step;
  detail::Strides src = contiguous_strides(x.shape());
  const std::int64_t offset = b * src[static_cast<std::size_t>(d)];
  src[static_cast<std::size_t>(d)] *= step;
  Tensor<T, Device> out(shape);
  if (out.numel() > 0)
    hnn::copy_strided(Device{}, make_loop<2>(shape, {contiguous_strides(shape), src}), out.data(), x.data() + offset);
  return out;
}

// The gradient of slice(): a tensor of `shape` holding zeros and `grad` where the slice was.
template <class T, class Device>
Tensor<T, Device> unslice(const Tensor<T, Device>& grad, const Shape& shape, int dim, std::int64_t begin,
                          std::int64_t end, std::int64_t step = 1) {
  const int d = detail::normalize_dim(dim, shape.rank(), shape, "unslice");
  const auto [b, e] = detail::slice_range(shape, d, begin, end, step, "unslice");
  Shape sliced = shape;
  sliced[d] = (e - b + step - 1) / step;
  if (grad.shape() != sliced)
    detail::fail("unslice", "the gradient has shape " + grad.shape().str() + ", the slice " + sliced.str());
  Tensor<T, Device> out = Tensor<T, Device>::zeros(shape);
  detail::Strides dst = contiguous_strides(shape);
  const std::int64_t offset = b * dst[static_cast<std::size_t>(d)];
  dst[static_cast<std::size_t>(d)] *= step;
  if (grad.numel() > 0)
    hnn::copy_strided(Device{}, make_loop<2>(sliced, {dst, contiguous_strides(sliced)}), out.data() + offset, grad.data());
  return out;
}

// The tensors joined along dimension `dim`; every other size must agree.
template <class T, class Device>
Tensor<T, Device> cat(const std::vector<Tensor<T, Device>>& xs, int dim) {
  if (xs.empty()) detail::fail("cat", "needs at least one tensor");
  const Shape& first = xs[0].shape();
  const int d = detail::normalize_dim(dim, first.rank(), first, "cat");
  Shape shape = first;
  shape[d] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Shape& s = xs[i].shape();
    bool fits = s.rank() == first.rank();
    for (int k = 0; k < first.rank() && fits; ++k) fits = k == d || s[k] == first[k];
    if (!fits)
      detail::fail("cat", "tensor " + std::to_string(i) + " has shape " + s.str() + ", which does not join " +
                              first.str() + " along dimension " + std::to_string(d));
    shape[d] += s[d];
  }
  Tensor<T, Device> out(shape);
  const detail::Strides dst = contiguous_strides(shape);
  std::int64_t at = 0;
  for (const Tensor<T, Device>& x : xs) {
    if (x.numel() > 0)
      hnn::copy_strided(Device{}, make_loop<2>(x.shape(), {dst, contiguous_strides(x.shape())}),
                        out.data() + at * dst[static_cast<std::size_t>(d)], x.data());
    at += x.dim(d);
  }
  return out;
}

template <class T, class Device>
Tensor<T, Device> cat(std::initializer_list<Tensor<T, Device>> xs, int dim) {
  return cat(std::vector<Tensor<T, Device>>(xs), dim);
}

// The tensors, all of one shape, stacked along a new dimension `dim`.
template <class T, class Device>
Tensor<T, Device> stack(const std::vector<Tensor<T, Device>>& xs, int dim) {
  if (xs.empty()) detail::fail("stack", "needs at least one tensor");
  std::vector<Tensor<T, Device>> expanded;
  expanded.reserve(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].shape() != xs[0].shape())
      detail::fail("stack", "tensor " + std::to_string(i) + " has shape " + xs[i].shape().str() + ", tensor 0 " +
                                xs[0].shape().str());
    expanded.push_back(unsqueeze(xs[i], dim));
  }
  return cat(expanded, dim < 0 ? dim + xs[0].rank() + 1 : dim);
}

template <class T, class Device>
Tensor<T, Device> stack(std::initializer_list<Tensor<T, Device>> xs, int dim) {
  return stack(std::vector<Tensor<T, Device>>(xs), dim);
}

// x repeated along the dimensions where `shape` is larger (NumPy's broadcast_to). A copy.
template <class T, class Device>
Tensor<T, Device> broadcast_to(const Tensor<T, Device>& x, const Shape& shape) {
  if (!broadcasts_to(x.shape(), shape))
    detail::fail("broadcast_to", "shape " + x.shape().str() + " does not broadcast to " + shape.str());
  Tensor<T, Device> out(shape);
  if (out.numel() > 0)
    hnn::copy_strided(Device{}, make_loop<2>(shape, {contiguous_strides(shape), broadcast_strides(x.shape(), shape)}),
                      out.data(), x.data());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

namespace detail {
template <class T, class Device>
Tensor<T, Device> reduce(ReduceOp op, const char* name, const Tensor<T, Device>& x, const Dims& dims, bool keepdim) {
  const std::vector<bool> flags = dim_flags(dims, x.shape(), name);
  const Shape shape = reduced_shape(x.shape(), flags, keepdim);
  if (op != ReduceOp::sum && x.numel() == 0)
    fail(name, "cannot reduce the empty tensor of shape " + x.shape().str() + " (no identity for max or min)");
  Tensor<T, Device> out(shape);
  hnn::reduce(Device{}, op, reduce_loop(x.shape(), flags), out.numel(), x.data(), out.data());
  return out;
}

// The number of elements each output of a reduction over `dims` combines.
inline std::int64_t reduced_count(const Shape& shape, const std::vector<bool>& flags) {
  std::int64_t n = 1;
  for (int d = 0; d < shape.rank(); ++d)
    if (flags[static_cast<std::size_t>(d)]) n *= shape[d];
  return n;
}
}  // namespace detail

template <class T, class Device>
Tensor<T, Device> sum(const Tensor<T, Device>& x, const Dims& dims = {}, bool keepdim = false) {
  return detail::reduce(ReduceOp::sum, "sum", x, dims, keepdim);
}
template <class T, class Device>
Tensor<T, Device> mean(const Tensor<T, Device>& x, const Dims& dims = {}, bool keepdim = false) {
  const std::int64_t n = detail::reduced_count(x.shape(), detail::dim_flags(dims, x.shape(), "mean"));
  Tensor<T, Device> s = sum(x, dims, keepdim);
  detail::binary_into(BinaryOp::div, detail::operand(s), detail::operand<T, Device>(static_cast<T>(n)), s);
  return s;
}
// The largest (amax) and smallest (amin) values over the dimensions; a NaN wins.
template <class T, class Device>
Tensor<T, Device> amax(const Tensor<T, Device>& x, const Dims& dims = {}, bool keepdim = false) {
  return detail::reduce(ReduceOp::max, "amax", x, dims, keepdim);
}
template <class T, class Device>
Tensor<T, Device> amin(const Tensor<T, Device>& x, const Dims& dims = {}, bool keepdim = false) {
  return detail::reduce(ReduceOp::min, "amin", x, dims, keepdim);
}

namespace detail {
template <class T, class Device>
Tensor<std::int64_t, Device> arg_reduce(bool largest, const char* name, const Tensor<T, Device>& x,
                                        const Dims& dims, bool keepdim) {
  if (x.numel() == 0) fail(name, "cannot take the index of the extreme of the empty tensor of shape " + x.shape().str());
  if (dims.list().size() > 1) fail(name, "takes one dimension or none (the flattened tensor)");
  if (dims.all()) {
    Tensor<std::int64_t, Device> out(keepdim ? reduced_shape(x.shape(), dim_flags(dims, x.shape(), name), true) : Shape{});
    hnn::arg_reduce(Device{}, largest, 1, x.numel(), 1, x.data(), out.data());
    return out;
  }
  const int d = normalize_dim(dims.list()[0], x.rank(), x.shape(), name);
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= x.dim(i);
  for (int i = d + 1; i < x.rank(); ++i) inner *= x.dim(i);
  Tensor<std::int64_t, Device> out(reduced_shape(x.shape(), dim_flags(dims, x.shape(), name), keepdim));
  hnn::arg_reduce(Device{}, largest, outer, x.dim(d), inner, x.data(), out.data());
  return out;
}
}  // namespace detail

// The index of the largest (smallest) element along `dim`, the first on ties; with no dimension,
// the index into the flattened tensor.
template <class T, class Device>
Tensor<std::int64_t, Device> argmax(const Tensor<T, Device>& x, const Dims& dim = {}, bool keepdim = false) {
  return detail::arg_reduce(true, "argmax", x, dim, keepdim);
}
template <class T, class Device>
Tensor<std::int64_t, Device> argmin(const Tensor<T, Device>& x, const Dims& dim = {}, bool keepdim = false) {
  return detail::arg_reduce(false, "argmin", x, dim, keepdim);
}

// log(sum(exp(x))) over the dimensions, computed with the largest value subtracted (no
// overflow; all -inf gives -inf, a +inf gives +inf).
template <class T, class Device>
Tensor<T, Device> logsumexp(const Tensor<T, Device>& x, const Dims& dims = {}, bool keepdim = false) {
  const std::vector<bool> flags = detail::dim_flags(dims, x.shape(), "logsumexp");
  const T inf = std::numeric_limits<T>::infinity();
  const Tensor<T, Device> m = amax(x, dims, true);
  const Tensor<T, Device> shift = where(eq(abs(m), inf), T(0), m);  // an infinite maximum is the answer itself
  Tensor<T, Device> out = add(log(sum(exp(sub(x, shift)), dims, true)), shift);
  // All -inf: exp(-inf) is the smallest normal number in Eigen's vectorised exp, not 0.
  out = where(eq(m, -inf), -inf, out);
  return keepdim ? out : out.reshape(detail::reduced_shape(x.shape(), flags, false));
}

// exp(x) / sum(exp(x)) along `dim`, with the largest value subtracted first.
template <class T, class Device>
Tensor<T, Device> softmax(const Tensor<T, Device>& x, int dim) {
  detail::normalize_dim(dim, x.rank(), x.shape(), "softmax");
  Tensor<T, Device> e = exp(sub(x, amax(x, dim, true)));
  binary_into(BinaryOp::div, e, sum(e, dim, true), e);
  return e;
}

// x - logsumexp(x) along `dim`.
template <class T, class Device>
Tensor<T, Device> log_softmax(const Tensor<T, Device>& x, int dim) {
  detail::normalize_dim(dim, x.rank(), x.shape(), "log_softmax");
  return sub(x, logsumexp(x, dim, true));
}

// The sum of x over the dimensions a broadcast from `shape` to x's shape repeated: the
// gradient of a broadcast operand. `shape` must broadcast to x's shape.
template <class T, class Device>
Tensor<T, Device> sum_to(const Tensor<T, Device>& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  if (!broadcasts_to(shape, x.shape()))
    detail::fail("sum_to", "shape " + shape.str() + " does not broadcast to " + x.shape().str());
  const int shift = x.rank() - shape.rank();
  std::vector<bool> flags(static_cast<std::size_t>(x.rank()));
  for (int d = 0; d < x.rank(); ++d) flags[static_cast<std::size_t>(d)] = d < shift || shape[d - shift] == 1;
  Tensor<T, Device> out(shape);
  hnn::reduce(Device{}, ReduceOp::sum, reduce_loop(x.shape(), flags), out.numel(), x.data(), out.data());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Matrix products
// ---------------------------------------------------------------------------------------------

namespace detail {
// The last two dimensions of an operand of matmul, as stored, and its batch shape.
struct MatrixShape {
  Shape batch;
  std::int64_t rows, cols;
};
inline MatrixShape matrix_shape(const Shape& s) {
  MatrixShape m;
  for (int d = 0; d + 2 < s.rank(); ++d) m.batch.push_back(s[d]);
  m.rows = s[s.rank() - 2];
  m.cols = s[s.rank() - 1];
  return m;
}
}  // namespace detail

// op(a) @ op(b) for a and b of rank >= 2, where op transposes the last two dimensions when
// asked (no copy is made); the batch dimensions broadcast. The gradients of matmul use it.
template <class T, class Device>
Tensor<T, Device> matmul_transposed(const Tensor<T, Device>& a, bool a_transposed, const Tensor<T, Device>& b,
                                    bool b_transposed) {
  if (a.rank() < 2 || b.rank() < 2)
    detail::fail("matmul", "operands " + a.shape().str() + " and " + b.shape().str() + " need 2 dimensions or more");
  const detail::MatrixShape ma = detail::matrix_shape(a.shape()), mb = detail::matrix_shape(b.shape());
  const std::int64_t m = a_transposed ? ma.cols : ma.rows, k = a_transposed ? ma.rows : ma.cols;
  const std::int64_t kb = b_transposed ? mb.cols : mb.rows, n = b_transposed ? mb.rows : mb.cols;
  if (k != kb)
    detail::fail("matmul", "shapes " + a.shape().str() + (a_transposed ? "^T" : "") + " and " + b.shape().str() +
                               (b_transposed ? "^T" : "") + " cannot be multiplied (inner dimensions " +
                               std::to_string(k) + " and " + std::to_string(kb) + ")");
  Shape batch;
  try {
    batch = broadcast_shapes(ma.batch, mb.batch, "matmul");
  } catch (const std::invalid_argument&) {
    detail::fail("matmul", "the batch dimensions of " + a.shape().str() + " and " + b.shape().str() +
                               " do not broadcast");
  }
  Shape shape = batch;
  shape.push_back(m);
  shape.push_back(n);
  Tensor<T, Device> out(shape);
  detail::Strides sc = contiguous_strides(batch), sa = broadcast_strides(ma.batch, batch),
                  sb = broadcast_strides(mb.batch, batch);
  for (int d = 0; d < batch.rank(); ++d) {
    sc[static_cast<std::size_t>(d)] *= m * n;
    sa[static_cast<std::size_t>(d)] *= ma.rows * ma.cols;
    sb[static_cast<std::size_t>(d)] *= mb.rows * mb.cols;
  }
  const StridedLoop<3> loop = make_loop<3>(batch, {sc, sa, sb});
  if (out.numel() > 0) hnn::matmul(Device{}, loop, m, n, k, a.data(), a_transposed, b.data(), b_transposed, out.data());
  return out;
}

// The matrix product with PyTorch's rules: 2-D @ 2-D; batched, the batch dimensions
// broadcast; a 1-D operand is a row (left) or column (right) vector whose dimension is dropped
// from the result.
template <class T, class Device>
Tensor<T, Device> matmul(const Tensor<T, Device>& a, const Tensor<T, Device>& b) {
  if (a.rank() == 0 || b.rank() == 0)
    detail::fail("matmul", "operands " + a.shape().str() + " and " + b.shape().str() + " need at least 1 dimension");
  const Tensor<T, Device> a2 = a.rank() == 1 ? unsqueeze(a, 0) : a;
  const Tensor<T, Device> b2 = b.rank() == 1 ? unsqueeze(b, 1) : b;
  Tensor<T, Device> out = matmul_transposed(a2, false, b2, false);
  if (b.rank() == 1) out = squeeze(out, -1);
  if (a.rank() == 1) out = squeeze(out, -2 + (b.rank() == 1 ? 1 : 0));
  return out;
}

}  // namespace hnn::ops

// The operators, where argument-dependent lookup finds them for hnn::Tensor.
namespace hnn {

#define HNN_TENSOR_OPERATOR(symbol, name)                                                          \
  template <class T, class Device>                                                                 \
  Tensor<T, Device> operator symbol(const Tensor<T, Device>& a, const Tensor<T, Device>& b) {      \
    return ops::name(a, b);                                                                        \
  }                                                                                                \
  template <class T, class Device>                                                                 \
  Tensor<T, Device> operator symbol(const Tensor<T, Device>& a, ops::Scalar<T> b) {                \
    return ops::name(a, b);                                                                        \
  }                                                                                                \
  template <class T, class Device>                                                                 \
  Tensor<T, Device> operator symbol(ops::Scalar<T> a, const Tensor<T, Device>& b) {                \
    return ops::name(a, b);                                                                        \
  }
HNN_TENSOR_OPERATOR(+, add)
HNN_TENSOR_OPERATOR(-, sub)
HNN_TENSOR_OPERATOR(*, mul)
HNN_TENSOR_OPERATOR(/, div)
HNN_TENSOR_OPERATOR(<, lt)
HNN_TENSOR_OPERATOR(<=, le)
HNN_TENSOR_OPERATOR(>, gt)
HNN_TENSOR_OPERATOR(>=, ge)
#undef HNN_TENSOR_OPERATOR

template <class T, class Device>
Tensor<T, Device> operator-(const Tensor<T, Device>& x) {
  return ops::neg(x);
}

}  // namespace hnn
