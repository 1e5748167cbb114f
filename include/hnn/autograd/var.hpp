// hnn::Var<T, Device>: a tensor that records the ops applied to it, so that backward() from a
// result gives every input its gradient. The arithmetic is hnn/ops.hpp's; each op here adds its
// backward beside it.
//
//   hnn::Var<double> w(hnn::ops::zeros<double>(hnn::Shape{3, 1}), /*requires_grad=*/true);
//   hnn::Var<double> x(features), y(targets);          // no gradient wanted
//   auto pred = matmul(x, w);
//   auto loss = ((pred - y) * (pred - y)).mean();
//   loss.backward();                                    // w.grad() = dLoss/dw
//
// Broadcasts are undone in the backward: an operand that was repeated receives the sum of its
// copies' gradients (ops::sum_to). Views (reshape, squeeze, unsqueeze, contiguous) share their
// input's storage, so do not write into a value an op still needs. A custom op is a value and
// a backward: record("name", value, {inputs}, [](Node<T, Device>& self) { send(self, 0, ...); }).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hnn/autograd/node.hpp"
#include "hnn/ops.hpp"
#include "hnn/tensor.hpp"

namespace hnn::autograd {

template <class T>
using Scalar = ops::Scalar<T>;
using ops::Dims;

template <class T, class Device = cpu>
class Var {
 public:
  using value_type = T;
  using device_type = Device;
  using NodeType = Node<T, Device>;

  // An empty leaf.
  Var() : node_(std::make_shared<NodeType>()) {}
  // A leaf holding `value` (its storage shared, not copied). requires_grad: whether backward()
  // gives it a gradient (parameters: yes; data: no).
  explicit Var(Tensor<T, Device> value, bool requires_grad = false) : Var() {
    node_->value = std::move(value);
    node_->requires_grad = requires_grad;
  }
  // The handle of a node made by record() (or by a custom op).
  explicit Var(std::shared_ptr<NodeType> node) : node_(std::move(node)) {
    if (!node_) throw std::invalid_argument("hnn::Var: null node");
  }

  const Tensor<T, Device>& value() const { return node_->value; }
  const Shape& shape() const { return node_->value.shape(); }
  int rank() const { return node_->value.rank(); }
  std::int64_t dim(int i) const { return node_->value.dim(i); }
  std::int64_t numel() const { return node_->value.numel(); }

  bool requires_grad() const { return node_->requires_grad; }
  // Whether this Var was made by the user rather than by an op.
  bool is_leaf() const { return node_->leaf; }
  // Turns gradients on or off for a leaf (an op's result requires one exactly when an input does).
  Var& set_requires_grad(bool required) {
    if (!node_->leaf)
      throw std::logic_error(std::string("hnn::Var::set_requires_grad: this Var is the result of ") + node_->op +
                             ", not a leaf; detach() it first");
    node_->requires_grad = required;
    return *this;
  }

  // Whether a gradient has reached this Var (a leaf that requires one, after backward()).
  bool has_grad() const { return node_->has_grad; }
  // dLoss/dThis from the backward() passes so far (they add up until zero_grad()).
  const Tensor<T, Device>& grad() const {
    if (!node_->has_grad)
      throw std::logic_error(std::string("hnn::Var::grad: no gradient has reached this ") +
                             (node_->leaf ? "leaf" : node_->op) + " of shape " + shape().str() +
                             (node_->requires_grad ? (node_->leaf ? " (run backward() first)"
                                                                  : " (an op's gradient is kept only after retain_grad())")
                                                   : " (it does not require a gradient)"));
    return node_->grad;
  }
  // Sets the gradient to zeros in place (storage kept: an optimizer holding it sees the zeros).
  void zero_grad() {
    if (node_->has_grad && node_->grad_owned) {
      Memory<Device>::fill_bytes(node_->grad.data(), 0, node_->grad.bytes());
    } else {
      node_->grad = Tensor<T, Device>::zeros(shape());
      node_->grad_owned = true;
    }
    node_->has_grad = true;
  }
  // Keeps this op result's gradient after backward() (leaves keep theirs anyway).
  void retain_grad() { node_->retain = true; }

  // Back-propagates from this one-element value (a loss): dLoss/dLoss = 1.
  void backward() const {
    if (numel() != 1)
      throw std::invalid_argument("hnn::Var::backward: a value of shape " + shape().str() +
                                  " is not a scalar; pass its gradient: backward(grad)");
    run_backward(node_, ops::ones<T, Device>(shape()), true);
  }
  // Back-propagates from this value with dLoss/dThis = grad (same shape).
  void backward(const Tensor<T, Device>& grad) const {
    if (grad.shape() != shape())
      throw std::invalid_argument("hnn::Var::backward: the gradient has shape " + grad.shape().str() +
                                  ", the value " + shape().str());
    run_backward(node_, grad, false);
  }

  // A leaf sharing this value, cut from the graph (no gradient flows through it).
  Var detach() const { return Var(node_->value, false); }
  // The value of a one-element Var, on the host.
  T item() const { return ops::item(node_->value); }

  const std::shared_ptr<NodeType>& node() const { return node_; }

  // The ops as members, as PyTorch spells them (defined below, after the free functions).
  Var sum(const Dims& dims = {}, bool keepdim = false) const;
  Var mean(const Dims& dims = {}, bool keepdim = false) const;
  Var amax(const Dims& dims = {}, bool keepdim = false) const;
  Var amin(const Dims& dims = {}, bool keepdim = false) const;
  Var logsumexp(const Dims& dims = {}, bool keepdim = false) const;
  Var softmax(int dim) const;
  Var log_softmax(int dim) const;
  Var reshape(const std::vector<std::int64_t>& sizes) const;
  Var transpose(int d0, int d1) const;
  Var permute(const std::vector<int>& order) const;
  Var pow(Scalar<T> exponent) const;
  Var exp() const;
  Var log() const;
  Var sqrt() const;
  Var abs() const;
  Var relu() const;
  Var sigmoid() const;
  Var tanh() const;

 private:
  std::shared_ptr<NodeType> node_;
};

// The result of an op: a Var holding `value` that, when gradients are recorded and an input
// (or `force`) requires one, remembers its inputs and runs backward(node) in backward().
template <class T, class Device, class Backward>
Var<T, Device> record(const char* op, Tensor<T, Device> value, const std::vector<Var<T, Device>>& inputs,
                      Backward backward, bool force = false) {
  bool needed = force;
  for (const Var<T, Device>& v : inputs) needed = needed || v.requires_grad();
  if (!needed || !grad_enabled()) return Var<T, Device>(std::move(value));
  auto node = std::make_shared<OpNode<T, Device, Backward>>(std::move(backward));
  node->value = std::move(value);
  node->op = op;
  node->requires_grad = true;
  node->leaf = false;
  node->inputs.reserve(inputs.size());
  for (const Var<T, Device>& v : inputs) node->inputs.push_back(v.node());
  return Var<T, Device>(std::shared_ptr<Node<T, Device>>(std::move(node)));
}
template <class T, class Device, class Backward>
Var<T, Device> record(const char* op, Tensor<T, Device> value, std::initializer_list<Var<T, Device>> inputs,
                      Backward backward, bool force = false) {
  return record(op, std::move(value), std::vector<Var<T, Device>>(inputs), std::move(backward), force);
}

namespace detail {

// A scalar as a constant Var of shape () (it broadcasts against anything).
template <class T, class Device>
Var<T, Device> constant(Scalar<T> value) {
  return Var<T, Device>(ops::full<T, Device>(Shape{}, value));
}

// Sends g, summed down to input i's shape where the op broadcast that input.
template <class T, class Device>
void send_reduced(Node<T, Device>& self, std::size_t i, const Tensor<T, Device>& g) {
  const Shape& shape = input_value(self, i).shape();
  if (g.shape() == shape) send(self, i, g, false);  // shared with the caller: copied before anything adds to it
  else send(self, i, ops::sum_to(g, shape), true);
}

template <class T, class Device>
Var<T, Device> binary(BinaryOp op, const Var<T, Device>& a, const Var<T, Device>& b) {
  Tensor<T, Device> y = ops::binary(op, a.value(), b.value());
  switch (op) {
    case BinaryOp::eq: case BinaryOp::ne: case BinaryOp::lt: case BinaryOp::le: case BinaryOp::gt: case BinaryOp::ge:
      return Var<T, Device>(std::move(y));  // a comparison has no gradient
    default: break;
  }
  return record(op_name(op), std::move(y), {a, b}, [op](Node<T, Device>& self) {
    const Tensor<T, Device>& g = self.grad;
    const Tensor<T, Device>& x0 = input_value(self, 0);
    const Tensor<T, Device>& x1 = input_value(self, 1);
    const bool want0 = wants(self, 0), want1 = wants(self, 1);
    switch (op) {
      case BinaryOp::add:
        if (want0) send_reduced(self, 0, g);
        if (want1) send_reduced(self, 1, g);
        return;
      case BinaryOp::sub:
        if (want0) send_reduced(self, 0, g);
        if (want1) send(self, 1, ops::neg(ops::sum_to(g, x1.shape())));
        return;
      case BinaryOp::mul:
        if (want0) send_reduced(self, 0, ops::mul(g, x1));
        if (want1) send_reduced(self, 1, ops::mul(g, x0));
        return;
      case BinaryOp::div: {  // d/da = g / b; d/db = -g a / b^2 = -(g / b) y
        const Tensor<T, Device> g_over_b = ops::div(g, x1);
        if (want1) send(self, 1, ops::neg(ops::sum_to(ops::mul(g_over_b, self.value), x1.shape())));
        if (want0) send_reduced(self, 0, g_over_b);
        return;
      }
      case BinaryOp::pow:  // d/da = g b a^(b-1), taken as 0 where b = 0 (as PyTorch: not 0 x inf at a = 0);
                           // d/db = g y log(a), taken as 0 where a = 0
        if (want0)
          send_reduced(self, 0, ops::where(ops::eq(x1, T(0)), T(0),
                                           ops::mul(ops::mul(g, x1), ops::pow(x0, ops::sub(x1, T(1))))));
        if (want1)
          send_reduced(self, 1, ops::where(ops::eq(x0, T(0)), T(0), ops::mul(ops::mul(g, self.value), ops::log(x0))));
        return;
      case BinaryOp::maximum:
      case BinaryOp::minimum: {  // the gradient goes to the chosen operand; ties share it equally, as in PyTorch
        const Tensor<T, Device> first_wins = ops::add(op == BinaryOp::maximum ? ops::gt(x0, x1) : ops::lt(x0, x1),
                                                      ops::mul(ops::eq(x0, x1), T(0.5)));
        if (want0) send_reduced(self, 0, ops::mul(g, first_wins));
        if (want1) send_reduced(self, 1, ops::mul(g, ops::sub(T(1), first_wins)));
        return;
      }
      default:
        throw std::logic_error(std::string("hnn::autograd: no gradient for ") + op_name(op));
    }
  });
}

template <class T, class Device>
Var<T, Device> unary(UnaryOp op, const Var<T, Device>& x, Scalar<T> p0 = T(0), Scalar<T> p1 = T(0)) {
  Tensor<T, Device> y = ops::unary(op, x.value(), p0, p1);
  const T low = p0, high = p1;
  return record(op_name(op), std::move(y), {x}, [op, low, high](Node<T, Device>& self) {
    const Tensor<T, Device>& g = self.grad;
    const Tensor<T, Device>& a = input_value(self, 0);
    const Tensor<T, Device>& y = self.value;
    switch (op) {
      case UnaryOp::neg: return send(self, 0, ops::neg(g));
      case UnaryOp::exp: return send(self, 0, ops::mul(g, y));
      case UnaryOp::log: return send(self, 0, ops::div(g, a));
      case UnaryOp::sqrt: return send(self, 0, ops::div(ops::mul(g, T(0.5)), y));
      case UnaryOp::abs: return send(self, 0, ops::mul(g, ops::sign(a)));
      case UnaryOp::sign: return send(self, 0, ops::zeros_like(a));
      case UnaryOp::relu: return send(self, 0, ops::binary(BinaryOp::relu_backward, a, g));
      case UnaryOp::sigmoid: return send(self, 0, ops::binary(BinaryOp::sigmoid_backward, y, g));
      case UnaryOp::tanh: return send(self, 0, ops::binary(BinaryOp::tanh_backward, y, g));
      case UnaryOp::clamp: return send(self, 0, ops::mul(g, ops::unary(UnaryOp::inside, a, low, high)));
      case UnaryOp::inside: return send(self, 0, ops::zeros_like(a));
    }
  });
}

// The shape of a reduction over `dims` with keepdim, which the gradient is broadcast back from.
inline Shape kept_shape(const Shape& shape, const Dims& dims, const char* op) {
  return ops::detail::reduced_shape(shape, ops::detail::dim_flags(dims, shape, op), true);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Elementwise
// ---------------------------------------------------------------------------------------------

#define HNN_VAR_BINARY(name)                                                                     \
  template <class T, class Device>                                                               \
  Var<T, Device> name(const Var<T, Device>& a, const Var<T, Device>& b) {                        \
    return detail::binary(BinaryOp::name, a, b);                                                 \
  }                                                                                              \
  template <class T, class Device>                                                               \
  Var<T, Device> name(const Var<T, Device>& a, Scalar<T> b) {                                    \
    return detail::binary(BinaryOp::name, a, detail::constant<T, Device>(b));                    \
  }                                                                                              \
  template <class T, class Device>                                                               \
  Var<T, Device> name(Scalar<T> a, const Var<T, Device>& b) {                                    \
    return detail::binary(BinaryOp::name, detail::constant<T, Device>(a), b);                    \
  }                                                                                              \
  template <class T, class Device>                                                               \
  Var<T, Device> name(const Var<T, Device>& a, const Tensor<T, Device>& b) {                     \
    return detail::binary(BinaryOp::name, a, Var<T, Device>(b));                                 \
  }                                                                                              \
  template <class T, class Device>                                                               \
  Var<T, Device> name(const Tensor<T, Device>& a, const Var<T, Device>& b) {                     \
    return detail::binary(BinaryOp::name, Var<T, Device>(a), b);                                 \
  }
HNN_VAR_BINARY(add)
HNN_VAR_BINARY(sub)
HNN_VAR_BINARY(mul)
HNN_VAR_BINARY(div)
HNN_VAR_BINARY(pow)
HNN_VAR_BINARY(maximum)
HNN_VAR_BINARY(minimum)
HNN_VAR_BINARY(eq)
HNN_VAR_BINARY(ne)
HNN_VAR_BINARY(lt)
HNN_VAR_BINARY(le)
HNN_VAR_BINARY(gt)
HNN_VAR_BINARY(ge)
#undef HNN_VAR_BINARY

#define HNN_VAR_OPERATOR(symbol, name)                                                   \
  template <class T, class Device>                                                       \
  Var<T, Device> operator symbol(const Var<T, Device>& a, const Var<T, Device>& b) {     \
    return name(a, b);                                                                   \
  }                                                                                      \
  template <class T, class Device>                                                       \
  Var<T, Device> operator symbol(const Var<T, Device>& a, Scalar<T> b) {                 \
    return name(a, b);                                                                   \
  }                                                                                      \
  template <class T, class Device>                                                       \
  Var<T, Device> operator symbol(Scalar<T> a, const Var<T, Device>& b) {                 \
    return name(a, b);                                                                   \
  }                                                                                      \
  template <class T, class Device>                                                       \
  Var<T, Device> operator symbol(const Var<T, Device>& a, const Tensor<T, Device>& b) {  \
    return name(a, b);                                                                   \
  }                                                                                      \
  template <class T, class Device>                                                       \
  Var<T, Device> operator symbol(const Tensor<T, Device>& a, const Var<T, Device>& b) {  \
    return name(a, b);                                                                   \
  }
HNN_VAR_OPERATOR(+, add)
HNN_VAR_OPERATOR(-, sub)
HNN_VAR_OPERATOR(*, mul)
HNN_VAR_OPERATOR(/, div)
HNN_VAR_OPERATOR(<, lt)
HNN_VAR_OPERATOR(<=, le)
HNN_VAR_OPERATOR(>, gt)
HNN_VAR_OPERATOR(>=, ge)
#undef HNN_VAR_OPERATOR

#define HNN_VAR_UNARY(name)                             \
  template <class T, class Device>                      \
  Var<T, Device> name(const Var<T, Device>& x) {        \
    return detail::unary(UnaryOp::name, x);             \
  }
HNN_VAR_UNARY(neg)
HNN_VAR_UNARY(exp)
HNN_VAR_UNARY(log)
HNN_VAR_UNARY(sqrt)
HNN_VAR_UNARY(abs)
HNN_VAR_UNARY(sign)
HNN_VAR_UNARY(relu)
HNN_VAR_UNARY(sigmoid)
HNN_VAR_UNARY(tanh)
#undef HNN_VAR_UNARY

template <class T, class Device>
Var<T, Device> operator-(const Var<T, Device>& x) {
  return neg(x);
}

// min(max(x, low), high); the gradient passes where low <= x <= high.
template <class T, class Device>
Var<T, Device> clamp(const Var<T, Device>& x, Scalar<T> low, Scalar<T> high) {
  if (!(low <= high))
    throw std::invalid_argument("hnn::ops::clamp: the lower bound " + std::to_string(low) +
                                " is above the upper bound " + std::to_string(high));
  return detail::unary(UnaryOp::clamp, x, low, high);
}

// condition != 0 ? a : b, broadcast; the condition gets no gradient.
template <class T, class Device>
Var<T, Device> where(const Var<T, Device>& condition, const Var<T, Device>& a, const Var<T, Device>& b) {
  Tensor<T, Device> y = ops::where(condition.value(), a.value(), b.value());
  return record("where", std::move(y), {condition, a, b},
                [](Node<T, Device>& self) {
                  const Tensor<T, Device>& c = input_value(self, 0);
                  if (wants(self, 1)) detail::send_reduced(self, 1, ops::where(c, self.grad, T(0)));
                  if (wants(self, 2)) detail::send_reduced(self, 2, ops::where(c, T(0), self.grad));
                });
}
template <class T, class Device>
Var<T, Device> where(const Var<T, Device>& condition, const Var<T, Device>& a, Scalar<T> b) {
  return where(condition, a, detail::constant<T, Device>(b));
}
template <class T, class Device>
Var<T, Device> where(const Var<T, Device>& condition, Scalar<T> a, const Var<T, Device>& b) {
  return where(condition, detail::constant<T, Device>(a), b);
}

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

template <class T, class Device>
Var<T, Device> sum(const Var<T, Device>& x, const Dims& dims = {}, bool keepdim = false) {
  const Shape kept = detail::kept_shape(x.shape(), dims, "sum");
  return record("sum", ops::sum(x.value(), dims, keepdim), {x}, [kept](Node<T, Device>& self) {
    send(self, 0, ops::broadcast_to(self.grad.reshape(kept), input_value(self, 0).shape()));
  });
}

template <class T, class Device>
Var<T, Device> mean(const Var<T, Device>& x, const Dims& dims = {}, bool keepdim = false) {
  const Shape kept = detail::kept_shape(x.shape(), dims, "mean");
  const T count = static_cast<T>(kept.numel() == 0 ? 0 : x.numel() / kept.numel());
  return record("mean", ops::mean(x.value(), dims, keepdim), {x}, [kept, count](Node<T, Device>& self) {
    send(self, 0, ops::div(ops::broadcast_to(self.grad.reshape(kept), input_value(self, 0).shape()), count));
  });
}

namespace detail {
// amax and amin: the gradient is shared equally by the elements equal to the extreme.
template <class T, class Device>
Var<T, Device> extreme(bool largest, const Var<T, Device>& x, const Dims& dims, bool keepdim) {
  const char* name = largest ? "amax" : "amin";
  const Shape kept = kept_shape(x.shape(), dims, name);
  Tensor<T, Device> y = largest ? ops::amax(x.value(), dims, keepdim) : ops::amin(x.value(), dims, keepdim);
  return record(name, std::move(y), {x}, [kept, dims](Node<T, Device>& self) {
    const Tensor<T, Device>& a = input_value(self, 0);
    const Tensor<T, Device> hits = ops::eq(a, self.value.reshape(kept));
    const Tensor<T, Device> share = ops::div(self.grad.reshape(kept), ops::sum(hits, dims, true));
    send(self, 0, ops::mul(hits, share));
  });
}
}  // namespace detail

template <class T, class Device>
Var<T, Device> amax(const Var<T, Device>& x, const Dims& dims = {}, bool keepdim = false) {
  return detail::extreme(true, x, dims, keepdim);
}
template <class T, class Device>
Var<T, Device> amin(const Var<T, Device>& x, const Dims& dims = {}, bool keepdim = false) {
  return detail::extreme(false, x, dims, keepdim);
}

// The index of the largest (smallest) element along `dim` (none: of the flattened value).
template <class T, class Device>
Tensor<std::int64_t, Device> argmax(const Var<T, Device>& x, const Dims& dim = {}, bool keepdim = false) {
  return ops::argmax(x.value(), dim, keepdim);
}
template <class T, class Device>
Tensor<std::int64_t, Device> argmin(const Var<T, Device>& x, const Dims& dim = {}, bool keepdim = false) {
  return ops::argmin(x.value(), dim, keepdim);
}

template <class T, class Device>
Var<T, Device> logsumexp(const Var<T, Device>& x, const Dims& dims = {}, bool keepdim = false) {
  const Shape kept = detail::kept_shape(x.shape(), dims, "logsumexp");
  return record("logsumexp", ops::logsumexp(x.value(), dims, keepdim), {x}, [kept](Node<T, Device>& self) {
    const Tensor<T, Device>& a = input_value(self, 0);
    send(self, 0, ops::mul(self.grad.reshape(kept), ops::exp(ops::sub(a, self.value.reshape(kept)))));
  });
}

template <class T, class Device>
Var<T, Device> softmax(const Var<T, Device>& x, int dim) {
  return record("softmax", ops::softmax(x.value(), dim), {x}, [dim](Node<T, Device>& self) {
    const Tensor<T, Device>& y = self.value;  // dx = y (g - sum(g y))
    send(self, 0, ops::mul(y, ops::sub(self.grad, ops::sum(ops::mul(self.grad, y), dim, true))));
  });
}

template <class T, class Device>
Var<T, Device> log_softmax(const Var<T, Device>& x, int dim) {
  return record("log_softmax", ops::log_softmax(x.value(), dim), {x}, [dim](Node<T, Device>& self) {
    // dx = g - softmax(x) sum(g)
    send(self, 0, ops::sub(self.grad, ops::mul(ops::exp(self.value), ops::sum(self.grad, dim, true))));
  });
}

// ---------------------------------------------------------------------------------------------
// Shape ops
// ---------------------------------------------------------------------------------------------

template <class T, class Device>
Var<T, Device> reshape(const Var<T, Device>& x, const std::vector<std::int64_t>& sizes) {
  return record("reshape", ops::reshape(x.value(), sizes), {x}, [](Node<T, Device>& self) {
    send(self, 0, self.grad.reshape(input_value(self, 0).shape()), false);
  });
}
template <class T, class Device>
Var<T, Device> reshape(const Var<T, Device>& x, std::initializer_list<std::int64_t> sizes) {
  return reshape(x, std::vector<std::int64_t>(sizes));
}
template <class T, class Device>
Var<T, Device> reshape(const Var<T, Device>& x, const Shape& shape) {
  return record("reshape", ops::reshape(x.value(), shape), {x}, [](Node<T, Device>& self) {
    send(self, 0, self.grad.reshape(input_value(self, 0).shape()), false);
  });
}
template <class T, class Device>
Var<T, Device> unsqueeze(const Var<T, Device>& x, int dim) {
  return reshape(x, ops::unsqueeze(x.value(), dim).shape());
}
template <class T, class Device>
Var<T, Device> squeeze(const Var<T, Device>& x, int dim) {
  return reshape(x, ops::squeeze(x.value(), dim).shape());
}
// x itself: hnn tensors are always contiguous (see ops::contiguous).
template <class T, class Device>
Var<T, Device> contiguous(const Var<T, Device>& x) {
  return x;
}

template <class T, class Device>
Var<T, Device> permute(const Var<T, Device>& x, const std::vector<int>& order) {
  Tensor<T, Device> y = ops::permute(x.value(), order);
  std::vector<int> inverse(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    const int d = order[i] < 0 ? order[i] + x.rank() : order[i];
    inverse[static_cast<std::size_t>(d)] = static_cast<int>(i);
  }
  return record("permute", std::move(y), {x},
                [inverse](Node<T, Device>& self) { send(self, 0, ops::permute(self.grad, inverse)); });
}

template <class T, class Device>
Var<T, Device> transpose(const Var<T, Device>& x, int d0, int d1) {
  Tensor<T, Device> y = ops::transpose(x.value(), d0, d1);
  return record("transpose", std::move(y), {x},
                [d0, d1](Node<T, Device>& self) { send(self, 0, ops::transpose(self.grad, d0, d1)); });
}

// Elements [begin, end) of dimension `dim`, every `step`-th; the gradient lands back in place.
template <class T, class Device>
Var<T, Device> slice(const Var<T, Device>& x, int dim, std::int64_t begin, std::int64_t end, std::int64_t step = 1) {
  Tensor<T, Device> y = ops::slice(x.value(), dim, begin, end, step);
  return record("slice", std::move(y), {x}, [dim, begin, end, step](Node<T, Device>& self) {
    send(self, 0, ops::unslice(self.grad, input_value(self, 0).shape(), dim, begin, end, step));
  });
}

template <class T, class Device>
Var<T, Device> cat(const std::vector<Var<T, Device>>& xs, int dim) {
  std::vector<Tensor<T, Device>> values;
  values.reserve(xs.size());
  for (const Var<T, Device>& x : xs) values.push_back(x.value());
  Tensor<T, Device> y = ops::cat(values, dim);
  const int d = dim < 0 ? dim + y.rank() : dim;
  return record("cat", std::move(y), xs, [d](Node<T, Device>& self) {
    std::int64_t at = 0;
    for (std::size_t i = 0; i < self.inputs.size(); ++i) {
      const std::int64_t size = input_value(self, i).dim(d);
      if (wants(self, i)) send(self, i, ops::slice(self.grad, d, at, at + size));
      at += size;
    }
  });
}

template <class T, class Device>
Var<T, Device> cat(std::initializer_list<Var<T, Device>> xs, int dim) {
  return cat(std::vector<Var<T, Device>>(xs), dim);
}

template <class T, class Device>
Var<T, Device> stack(const std::vector<Var<T, Device>>& xs, int dim) {
  if (xs.empty()) throw std::invalid_argument("hnn::ops::stack: needs at least one tensor");
  std::vector<Var<T, Device>> expanded;
  expanded.reserve(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].shape() != xs[0].shape())
      throw std::invalid_argument("hnn::ops::stack: tensor " + std::to_string(i) + " has shape " +
                                  xs[i].shape().str() + ", tensor 0 " + xs[0].shape().str());
    expanded.push_back(unsqueeze(xs[i], dim));
  }
  return cat(expanded, dim < 0 ? dim + xs[0].rank() + 1 : dim);
}

template <class T, class Device>
Var<T, Device> stack(std::initializer_list<Var<T, Device>> xs, int dim) {
  return stack(std::vector<Var<T, Device>>(xs), dim);
}

template <class T, class Device>
Var<T, Device> broadcast_to(const Var<T, Device>& x, const Shape& shape) {
  return record("broadcast_to", ops::broadcast_to(x.value(), shape), {x},
                [](Node<T, Device>& self) { detail::send_reduced(self, 0, self.grad); });
}

// ---------------------------------------------------------------------------------------------
// Matrix products
// ---------------------------------------------------------------------------------------------

namespace detail {
// The number of matrices in a tensor of rank >= 2 (the product of its batch dimensions).
inline std::int64_t batch_count(const Shape& s) {
  std::int64_t n = 1;
  for (int d = 0; d + 2 < s.rank(); ++d) n *= s[d];
  return n;
}

// a @ b for operands of rank >= 2: dA = dY B^T and dB = A^T dY, each summed over the batch
// dimensions its operand was broadcast along.
template <class T, class Device>
Var<T, Device> matmul_matrices(const Var<T, Device>& a, const Var<T, Device>& b) {
  Tensor<T, Device> y = ops::matmul_transposed(a.value(), false, b.value(), false);
  return record("matmul", std::move(y), {a, b}, [](Node<T, Device>& self) {
    const Tensor<T, Device>& g = self.grad;
    const Tensor<T, Device>& x0 = input_value(self, 0);
    const Tensor<T, Device>& x1 = input_value(self, 1);
    if (wants(self, 0)) send_reduced(self, 0, ops::matmul_transposed(g, false, x1, true));
    if (wants(self, 1)) {
      if (x1.rank() == 2 && x0.rank() > 2 && batch_count(x0.shape()) == batch_count(g.shape())) {
        // A shared matrix under a batch that a carries whole: one product over the stacked rows.
        const std::int64_t k = x0.dim(x0.rank() - 1), n = g.dim(g.rank() - 1);
        send(self, 1, ops::matmul_transposed(x0.reshape(Shape{x0.numel() / std::max<std::int64_t>(k, 1), k}), true,
                                             g.reshape(Shape{g.numel() / std::max<std::int64_t>(n, 1), n}), false));
      } else {
        send_reduced(self, 1, ops::matmul_transposed(x0, true, g, false));
      }
    }
  });
}
}  // namespace detail

// The matrix product with PyTorch's rules (see ops::matmul): batched, the batch dimensions
// broadcast; a 1-D operand is a vector.
template <class T, class Device>
Var<T, Device> matmul(const Var<T, Device>& a, const Var<T, Device>& b) {
  if (a.rank() == 0 || b.rank() == 0)
    throw std::invalid_argument("hnn::ops::matmul: operands " + a.shape().str() + " and " + b.shape().str() +
                                " need at least 1 dimension");
  const Var<T, Device> a2 = a.rank() == 1 ? unsqueeze(a, 0) : a;
  const Var<T, Device> b2 = b.rank() == 1 ? unsqueeze(b, 1) : b;
  Var<T, Device> out = detail::matmul_matrices(a2, b2);
  if (b.rank() == 1) out = squeeze(out, -1);
  if (a.rank() == 1) out = squeeze(out, b.rank() == 1 ? -1 : -2);
  return out;
}
template <class T, class Device>
Var<T, Device> matmul(const Var<T, Device>& a, const Tensor<T, Device>& b) {
  return matmul(a, Var<T, Device>(b));
}
template <class T, class Device>
Var<T, Device> matmul(const Tensor<T, Device>& a, const Var<T, Device>& b) {
  return matmul(Var<T, Device>(a), b);
}

// ---------------------------------------------------------------------------------------------
// The members
// ---------------------------------------------------------------------------------------------

template <class T, class Device>
Var<T, Device> Var<T, Device>::sum(const Dims& dims, bool keepdim) const {
  return autograd::sum(*this, dims, keepdim);
}
template <class T, class Device>
Var<T, Device> Var<T, Device>::mean(const Dims& dims, bool keepdim) const {
  return autograd::mean(*this, dims, keepdim);
}
template <class T, class Device>
Var<T, Device> Var<T, Device>::amax(const Dims& dims, bool keepdim) const {
  return autograd::amax(*this, dims, keepdim);
}
template <class T, class Device>
Var<T, Device> Var<T, Device>::amin(const Dims& dims, bool keepdim) const {
  return autograd::amin(*this, dims, keepdim);
}
template <class T, class Device>
Var<T, Device> Var<T, Device>::logsumexp(const Dims& dims, bool keepdim) const {
  return autograd::logsumexp(*this, dims, keepdim);
}
template <class T, class Device>
Var<T, Device> Var<T, Device>::softmax(int dim) const {
  return autograd::softmax(*this, dim);
}
template <class T, class Device>
Var<T, Device> Var<T, Device>::log_softmax(int dim) const {
  return autograd::log_softmax(*this, dim);
}
template <class T, class Device>
Var<T, Device> Var<T, Device>::reshape(const std::vector<std::int64_t>& sizes) const {
  return autograd::reshape(*this, sizes);
}
template <class T, class Device>
Var<T, Device> Var<T, Device>::transpose(int d0, int d1) const {
  return autograd::transpose(*this, d0, d1);
}
template <class T, class Device>
Var<T, Device> Var<T, Device>::permute(const std::vector<int>& order) const {
  return autograd::permute(*this, order);
}
template <class T, class Device>
Var<T, Device> Var<T, Device>::pow(Scalar<T> exponent) const {
  return autograd::pow(*this, exponent);
}
#define HNN_VAR_MEMBER(name)                                \
  template <class T, class Device>                          \
  Var<T, Device> Var<T, Device>::name() const {             \
    return autograd::name(*this);                           \
  }
HNN_VAR_MEMBER(exp)
HNN_VAR_MEMBER(log)
HNN_VAR_MEMBER(sqrt)
HNN_VAR_MEMBER(abs)
HNN_VAR_MEMBER(relu)
HNN_VAR_MEMBER(sigmoid)
HNN_VAR_MEMBER(tanh)
#undef HNN_VAR_MEMBER

}  // namespace hnn::autograd

namespace hnn {
using autograd::Var;
// cat({a, b}, 1) and stack({a, b}, 0): a braced list gives argument-dependent lookup no
// namespace to search, so these two are also hnn's.
using autograd::cat;
using autograd::stack;
}  // namespace hnn
