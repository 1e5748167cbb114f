// The graph behind hnn::Var (hnn/autograd/var.hpp): nodes, the no-grad scope, and backward().
//
// Every Var is a shared handle to a Node: its value, the gradient accumulated into it, and,
// for the result of an op on Vars that require gradients, the inputs and the op's backward.
// backward() sorts the nodes reachable from the root, consumers before their inputs (a
// depth-first post-order, as micrograd's engine does), and runs each op's backward once, after
// every consumer has added its share to the op's gradient. Leaves keep what reaches them in
// .grad, adding to it on later passes as PyTorch does; an op's own gradient is released once
// its backward ran, unless retain_grad() asked to keep it.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hnn/ops.hpp"
#include "hnn/tensor.hpp"

namespace hnn::autograd {

namespace detail {
inline bool& grad_mode() {
  static thread_local bool enabled = true;
  return enabled;
}
inline std::uint64_t& backward_pass_counter() {
  static thread_local std::uint64_t pass = 0;
  return pass;
}
}  // namespace detail

// Whether ops on Vars record the graph on this thread (true unless a NoGradGuard is alive).
inline bool grad_enabled() { return detail::grad_mode(); }

// For evaluation: while one is alive, ops on this thread record nothing (results require no
// gradient) and cost only their arithmetic.
//
//   { hnn::NoGradGuard no_grad; auto logits = net(x); ... }
class NoGradGuard {
 public:
  NoGradGuard() : saved_(detail::grad_mode()) { detail::grad_mode() = false; }
  ~NoGradGuard() { detail::grad_mode() = saved_; }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool saved_;
};

// The number of the backward pass running now on this thread, or of the last one (0 before
// any). Model nodes use it to sum a model's parameter gradients over its applications in one pass.
inline std::uint64_t current_backward_pass() { return detail::backward_pass_counter(); }

template <class T, class Device>
struct Node {
  Tensor<T, Device> value;
  Tensor<T, Device> grad;
  const char* op = "leaf";
  bool requires_grad = false;
  bool leaf = true;
  bool has_grad = false;      // whether grad holds a gradient
  bool grad_owned = false;    // whether grad's storage is this node's alone (else it is shared: copy before adding)
  bool grad_is_ones = false;  // grad is the seed of ones that backward() started from, untouched
  bool retain = false;        // keep grad after this op's backward has run (retain_grad())
  std::uint64_t sorted_in = 0;  // the pass that last visited it
  std::vector<std::shared_ptr<Node>> inputs;

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  virtual ~Node() = default;

  // Sends grad's shares to the inputs (an op); nothing for a leaf.
  virtual void backward() {}
};

// An op's node: `fn(node)` is its backward.
template <class T, class Device, class Backward>
struct OpNode final : Node<T, Device> {
  explicit OpNode(Backward f) : fn(std::move(f)) {}
  void backward() override { fn(*this); }
  Backward fn;
};

// Adds `g` to the node's gradient. owned: g's storage is given to the node (no one else will
// read or write it); otherwise it is shared, and the node copies before adding to it.
template <class T, class Device>
void accumulate(Node<T, Device>& node, const Tensor<T, Device>& g, bool owned) {
  if (!node.requires_grad) return;
  if (g.shape() != node.value.shape())
    throw std::logic_error(std::string("hnn::autograd: the gradient sent to a ") + node.op + " node has shape " +
                           g.shape().str() + ", its value " + node.value.shape().str());
  node.grad_is_ones = false;
  if (!node.has_grad) {
    node.grad = g;
    node.has_grad = true;
    node.grad_owned = owned;
  } else if (node.grad_owned) {
    ops::binary_into(BinaryOp::add, node.grad, g, node.grad);
  } else {
    node.grad = ops::add(node.grad, g);
    node.grad_owned = true;
  }
}

// What an op's backward uses: its inputs, whether each wants a gradient, and sending one.
template <class T, class Device>
const Tensor<T, Device>& input_value(const Node<T, Device>& node, std::size_t i) {
  return node.inputs[i]->value;
}
template <class T, class Device>
bool wants(const Node<T, Device>& node, std::size_t i) {
  return node.inputs[i]->requires_grad;
}
template <class T, class Device>
void send(Node<T, Device>& node, std::size_t i, const Tensor<T, Device>& g, bool owned = true) {
  accumulate(*node.inputs[i], g, owned);
}

// Back-propagates from `root`, whose gradient is `seed` (seed_is_ones: a tensor of ones).
template <class T, class Device>
void run_backward(const std::shared_ptr<Node<T, Device>>& root, const Tensor<T, Device>& seed, bool seed_is_ones) {
  if (!root->requires_grad)
    throw std::logic_error(
        "hnn::Var::backward: this value does not require a gradient (no input of it requires one, or it was computed "
        "under a NoGradGuard)");
  const NoGradGuard no_grad;  // the backward ops record nothing
  const std::uint64_t pass = ++detail::backward_pass_counter();
  // Depth-first post-order: every node after its inputs.
  std::vector<Node<T, Device>*> order;
  std::vector<std::pair<Node<T, Device>*, std::size_t>> stack;
  root->sorted_in = pass;
  stack.emplace_back(root.get(), 0);
  while (!stack.empty()) {
    Node<T, Device>* node = stack.back().first;
    const std::size_t next = stack.back().second;
    if (next < node->inputs.size()) {
      ++stack.back().second;
      Node<T, Device>* input = node->inputs[next].get();
      if (input->requires_grad && input->sorted_in != pass) {
        input->sorted_in = pass;
        stack.emplace_back(input, 0);
      }
    } else {
      order.push_back(node);
      stack.pop_back();
    }
  }
  accumulate(*root, seed, seed_is_ones);  // a seed of ones is made for this pass; a caller's tensor stays theirs
  root->grad_is_ones = seed_is_ones;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node<T, Device>& node = **it;
    if (node.leaf || !node.has_grad) continue;  // a leaf keeps its gradient; a node nothing reached sends nothing
    node.backward();
    if (!node.retain) {
      node.grad = Tensor<T, Device>();
      node.has_grad = false;
      node.grad_owned = false;
    }
  }
}

}  // namespace hnn::autograd

namespace hnn {
using autograd::NoGradGuard;
}  // namespace hnn
