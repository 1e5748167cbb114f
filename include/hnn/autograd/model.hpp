// A model (Sequential) or a single layer called on a Var is one node of the graph:
//
//   auto logits = net(x);                        // forward(): the compiled plan, fused stages and all
//   auto loss = cross_entropy(logits, labels);   // hnn/autograd/loss.hpp
//   loss.backward();                             // net.backward(): every parameter's gradient
//   sgd.step();                                  // any optimizer over net.parameters()
//
// The node keeps a copy of the output (the model's own output buffer is its last stage's and
// the next forward() overwrites it) and asks the model for dLoss/dInput only when the input
// requires a gradient (set_input_gradient).
//
// A model applied more than once in one graph (a shared encoder) is handled here too. Its
// layers hold the caches of their last forward() and OVERWRITE their parameter gradients in
// backward(), so: when a node's backward comes after another application's forward, that
// node first runs its own forward again (buffers such as batch norm's running statistics put
// back as they were, a Dropout layer's mask counter rewound so it draws the same mask); and
// the second and later backward() of one pass add their parameter gradients to what the pass
// wrote before. The usual single application costs nothing of this.
//
// Parameter gradients keep the layers' convention: each backward pass through the model
// writes them (summed over its applications in that pass), no zero_grad() needed. Between
// net(x) and backward(), run the model only through the graph: a forward() of your own in
// between (an evaluation) leaves the caches of another input. Dropout layers inside a
// composite layer (Residual) are not rewound.
#pragma once

#include <atomic>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hnn/autograd/var.hpp"
#include "hnn/layers/dropout.hpp"
#include "hnn/layers/layer.hpp"
#include "hnn/ops.hpp"
#include "hnn/model/sequential.hpp"

namespace hnn::autograd {

namespace detail {

// What the graph knows about one model while nodes of it are alive.
template <class T, class Device>
struct ModelRecord {
  std::uint64_t forward_of = 0;     // the node whose forward() the model's caches hold now
  std::uint64_t gradients_of = 0;   // the backward pass that last wrote the parameter gradients
  std::vector<Parameter<T, Device>> parameters;
  std::vector<Tensor<T, Device>*> buffers;            // state that a forward() may change (running statistics)
  std::vector<DropoutLayer<T, Device>*> dropouts;
  std::vector<Tensor<T, Device>> saved_gradients, saved_buffers;  // made on first need, reused
};

inline std::uint64_t next_node_id() {
  static std::atomic<std::uint64_t> id{0};
  return ++id;
}

template <class T, class Device>
void find_parts(Sequential<T, Device>& model, ModelRecord<T, Device>& r) {
  r.parameters = model.parameters();
  for (const NamedTensor<T, Device>& t : model.state_dict()) {
    bool is_parameter = false;
    for (const Parameter<T, Device>& p : r.parameters) is_parameter = is_parameter || p.value == t.value;
    if (!is_parameter) r.buffers.push_back(t.value);
  }
  for (std::size_t i = 0; i < model.size(); ++i)
    if (auto* d = dynamic_cast<DropoutLayer<T, Device>*>(&model.layer(i))) r.dropouts.push_back(d);
}
template <class T, class Device>
void find_parts(Layer<T, Device>& layer, ModelRecord<T, Device>& r) {
  r.parameters = layer.parameters();
  for (const Buffer<T, Device>& b : layer.buffers()) r.buffers.push_back(b.value);
  if (auto* d = dynamic_cast<DropoutLayer<T, Device>*>(&layer)) r.dropouts.push_back(d);
}

// The record of `model`, shared by its live nodes (made when the first of them is).
template <class T, class Device, class Model>
std::shared_ptr<ModelRecord<T, Device>> record_of(Model& model) {
  static thread_local std::unordered_map<const void*, std::weak_ptr<ModelRecord<T, Device>>> records;
  auto& slot = records[static_cast<const void*>(&model)];
  if (auto r = slot.lock()) return r;
  auto r = std::make_shared<ModelRecord<T, Device>>();
  find_parts(model, *r);
  slot = r;
  if (records.size() > 64)  // forget models whose graphs are gone
    for (auto it = records.begin(); it != records.end();) it = it->second.expired() ? records.erase(it) : std::next(it);
  return r;
}

// Runs `model`'s forward() on `input` again, leaving its buffers as they were and its dropout
// layers drawing the masks they drew the first time (`dropout_steps`). Returns the dropout
// counters as they were before, for restore_dropout_steps() once the backward has used the masks.
template <class T, class Device, class Model>
std::vector<std::int64_t> forward_again(Model& model, ModelRecord<T, Device>& r, const Tensor<T, Device>& input,
                                        bool input_gradient, const std::vector<std::int64_t>& dropout_steps) {
  r.saved_buffers.resize(r.buffers.size());
  for (std::size_t i = 0; i < r.buffers.size(); ++i) {
    r.saved_buffers[i].resize(r.buffers[i]->shape());
    r.saved_buffers[i].copy_from(*r.buffers[i]);
  }
  std::vector<std::int64_t> latest;
  for (std::size_t i = 0; i < r.dropouts.size(); ++i) {
    latest.push_back(r.dropouts[i]->step());
    r.dropouts[i]->set_step(dropout_steps[i] - 1);  // a training-mode forward() advances it to the recorded step
  }
  model.set_input_gradient(input_gradient);
  model.forward(input);
  for (std::size_t i = 0; i < r.buffers.size(); ++i) r.buffers[i]->copy_from(r.saved_buffers[i]);
  return latest;
}

template <class T, class Device>
void restore_dropout_steps(ModelRecord<T, Device>& r, const std::vector<std::int64_t>& steps) {
  for (std::size_t i = 0; i < steps.size(); ++i) r.dropouts[i]->set_step(steps[i]);
}

}  // namespace detail

// `model` (a Sequential or a Layer) applied to x, as one node. Sequential and Layer call this
// for model(x).
template <class Model, class T, class Device>
Var<T, Device> apply_model(Model& model, const Var<T, Device>& x) {
  const bool recording = grad_enabled();
  const bool input_gradient = recording && x.requires_grad();
  model.set_input_gradient(input_gradient);
  Tensor<T, Device> y = model.forward(x.value()).clone();
  if (!recording) return Var<T, Device>(std::move(y));
  std::shared_ptr<detail::ModelRecord<T, Device>> record = detail::record_of<T, Device>(model);
  if (!input_gradient && record->parameters.empty()) return Var<T, Device>(std::move(y));
  const std::uint64_t id = detail::next_node_id();
  record->forward_of = id;
  std::vector<std::int64_t> dropout_steps;
  for (DropoutLayer<T, Device>* d : record->dropouts) dropout_steps.push_back(d->step());
  Model* m = &model;
  return autograd::record(
      "model", std::move(y), {x},
      [m, record, id, input_gradient, dropout_steps](Node<T, Device>& self) {
        detail::ModelRecord<T, Device>& r = *record;
        std::vector<std::int64_t> latest_dropout_steps;
        if (r.forward_of != id) {
          latest_dropout_steps = detail::forward_again(*m, r, input_value(self, 0), input_gradient, dropout_steps);
          r.forward_of = id;
        }
        const bool add_to_earlier = r.gradients_of == current_backward_pass();
        if (add_to_earlier) {
          r.saved_gradients.resize(r.parameters.size());
          for (std::size_t i = 0; i < r.parameters.size(); ++i) {
            r.saved_gradients[i].resize(r.parameters[i].grad->shape());
            r.saved_gradients[i].copy_from(*r.parameters[i].grad);
          }
        }
        const Tensor<T, Device>& grad_input = m->backward(self.grad);
        if (add_to_earlier)
          for (std::size_t i = 0; i < r.parameters.size(); ++i)
            ops::binary_into(BinaryOp::add, *r.parameters[i].grad, r.saved_gradients[i], *r.parameters[i].grad);
        r.gradients_of = current_backward_pass();
        detail::restore_dropout_steps(r, latest_dropout_steps);  // later forwards draw new masks, not this one's again
        // The model's buffer is overwritten by its next backward(), which may come before this
        // input's own backward: the node sends a copy.
        if (input_gradient && wants(self, 0)) send(self, 0, grad_input.clone(), true);
      },
      /*force=*/true);
}

// A leaf Var as an optimizer parameter: hnn::SGD and the others update its value in place
// from its gradient. Its gradient is made zeros now (so that the optimizer's pointer stays
// valid); call zero_grad() before each backward(), since a leaf's gradients add up.
template <class T, class Device>
Parameter<T, Device> as_parameter(Var<T, Device>& leaf, std::string name) {
  if (!leaf.is_leaf() || !leaf.requires_grad())
    throw std::invalid_argument("hnn::autograd::as_parameter: '" + name +
                                "' must be a leaf that requires a gradient (Var(value, true))");
  if (!leaf.has_grad()) leaf.zero_grad();
  Node<T, Device>& node = *leaf.node();
  if (!node.grad_owned) {  // a gradient shared with another tensor: give it storage of its own
    node.grad = node.grad.clone();
    node.grad_owned = true;
  }
  return Parameter<T, Device>{std::move(name), &node.value, &node.grad};
}

}  // namespace hnn::autograd
