// What a layer is, and how to add one without editing hnn.
//
// A layer type is one definition in two parts (layers/conv2d.hpp is a full example, and
// tests/unit/test_custom_layer.cpp defines one inside a test):
//
// 1. A *description*: device-free, cheap to copy, what a model is built from.
//
//      template <class T, class Device> class ScaleLayer;
//      struct Scale {
//        static constexpr const char* kind = "Scale";       // the name checkpoints record
//        std::int64_t channels;
//        std::string str() const;                           // "Scale(6)": traces, summaries, errors
//        Shape output_shape(const Shape& input) const;      // throws std::invalid_argument if it does not fit
//        std::vector<std::int64_t> sizes() const;           // what a checkpoint records of it...
//        static Scale from_sizes(const std::vector<std::int64_t>& sizes);  // ...and reads back
//        template <class T, class Device>
//        using layer = ScaleLayer<T, Device>;               // the concrete layer
//      };
//
//    (layers/description.hpp has the checks and number formatting descriptions share.)
//
// 2. The *concrete layer*: a Layer<T, Device> constructed from the description. It owns its
//    parameters (named "weight", "bias", ... as PyTorch names them), their gradients, any
//    buffers (running statistics), its outputs and the cache its backward pass needs, and
//    calls kernels by device tag: it never branches on the device. Its forward() keeps that
//    cache in training mode only (`if (start_forward()) input_ = input;`), and its backward()
//    starts with require_training_forward(description).
//
// A layer made of other layers (Sequential, Residual: hnn/model/) adds to its description
//        std::vector<LayerSpec> children() const;            // its sub-layers, in a fixed order
//        std::string child_name(std::size_t k) const;        // "body.0": the prefix of child k's tensors
//        static D from_parts(const std::vector<std::int64_t>& sizes, std::vector<LayerSpec> children);
//    (instead of from_sizes), so that checkpoints record and rebuild the nesting, and its layer
//    returns its sub-layers from children(): parameters, buffers, state_dict, initialisation,
//    training mode and fusion then reach them without more code.
//
// A layer that can run together with the layers after it in one pass overrides fuse() (below;
// Conv2d + activation + pooling, BatchNorm + ReLU and Residual + ReLU do; in evaluation mode a
// Conv2d or Linear followed by batch norm runs as one layer with the batch norm folded in).
//
// Evaluation mode (set_training(false)) keeps nothing for a backward pass: a forward() then
// saves no input, mask or activation, and a backward() after it throws std::logic_error.
//
// Nothing else: Sequential, trace, summary, parameter names, checkpoints and the planner all
// go through these. hnn::register_layer<Scale>() (hnn/model/registry.hpp) is needed only for
// load_model(), which rebuilds a model from a file's layer kinds and sizes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "hnn/init.hpp"
#include "hnn/layers/description.hpp"
#include "hnn/layers/layer_spec.hpp"
#include "hnn/tensor.hpp"

namespace hnn {

// A trainable tensor and the gradient the last backward() wrote for it.
template <class T, class Device>
struct Parameter {
  std::string name;  // "weight", "bias"; a model prefixes the path to the layer: "3.weight"
  Tensor<T, Device>* value;
  Tensor<T, Device>* grad;
};

// A tensor of a layer's or a model's state under its PyTorch name ("weight", "3.running_mean").
template <class T, class Device>
struct NamedTensor {
  std::string name;
  Tensor<T, Device>* value;
};

// A tensor that is part of a layer's state but not trained by gradients (running statistics).
template <class T, class Device>
using Buffer = NamedTensor<T, Device>;

namespace detail {

// Thrown by a layer's or stage's backward() after an evaluation-mode forward(), which kept
// nothing for it. `who`: the layer's description, built only on this path.
[[noreturn]] inline void throw_backward_after_eval(const std::string& who) {
  throw std::logic_error(who + ": backward() after an evaluation-mode forward(): evaluation keeps nothing for the "
                               "backward pass; run the forward in training mode (train()) to get gradients");
}

// A count that rises whenever a model's parameters or buffers may have been written: when they
// are handed out (parameters(), buffers(), state_dict(): the caller may write through them),
// initialised or copied, and when a layer's mode is set. A stage that keeps values computed
// from them (batch norm folded into the convolution before it, layers/batch_norm.hpp) computes
// them again at its first forward() after the count moved. One count for the program: a rise
// caused by another model costs a recomputation, never a stale value.
inline std::atomic<std::uint64_t>& parameter_generation_counter() {
  static std::atomic<std::uint64_t> count{1};
  return count;
}
inline std::uint64_t parameter_generation() { return parameter_generation_counter().load(std::memory_order_relaxed); }
inline void parameters_may_change() { parameter_generation_counter().fetch_add(1, std::memory_order_relaxed); }

}  // namespace detail

// The forward/backward interface of one step of a model's execution plan (hnn/model/plan.hpp):
// a single layer, or several layers run as one fused pass.
template <class T, class Device>
class Stage {
 public:
  virtual ~Stage() = default;

  // The result is owned by the stage and valid until its next forward().
  virtual const Tensor<T, Device>& forward(const Tensor<T, Device>& input) = 0;
  // Takes dLoss/dOutput of the last forward(), writes the parameter gradients, returns
  // dLoss/dInput (an empty tensor when set_input_gradient(false), as for a model's first stage).
  // Throws std::logic_error when the last forward() ran in evaluation mode.
  virtual const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) = 0;

  virtual void set_input_gradient(bool needed) { input_gradient_ = needed; }
  bool input_gradient() const { return input_gradient_; }

 protected:
  // What backward() returns when no input gradient was asked for: an empty tensor (not the
  // gradient buffer, which holds an earlier backward's input gradient).
  static const Tensor<T, Device>& no_input_gradient() {
    static const Tensor<T, Device> none;
    return none;
  }

  bool input_gradient_ = true;
};

// The layers that follow a layer in its model, the next one first: their descriptions and,
// where the planner gives them, the concrete layers made from them. What a layer's fuse() looks at.
class FollowingLayers {
 public:
  // Descriptions only (layer_if() then finds no layer).
  FollowingLayers(const LayerSpec* first, std::size_t count) : first_(first), count_(count) {}
  // Descriptions and the model's layers, layers[k] made from first[k].
  template <class T, class Device>
  FollowingLayers(const LayerSpec* first, const std::unique_ptr<Layer<T, Device>>* layers, std::size_t count)
      : first_(first), count_(count), layers_(layers), layers_type_(&typeid(Layer<T, Device>)) {}

  std::size_t size() const { return count_; }
  // The k-th following layer's description if it is a D, else null (also past the end).
  template <class D>
  const D* get_if(std::size_t k) const {
    return k < count_ ? first_[k].get_if<D>() : nullptr;
  }
  // The k-th following layer itself if its description is a D and the model's layers hold T on
  // Device, else null: D::layer<T, Device>, the layer a D makes (LayerSpec::make_layer). A
  // stage may keep it: the model owns its layers for as long as its plans.
  template <class D, class T, class Device>
  typename D::template layer<T, Device>* layer_if(std::size_t k) const {
    if (get_if<D>(k) == nullptr || layers_ == nullptr || *layers_type_ != typeid(Layer<T, Device>)) return nullptr;
    Layer<T, Device>* layer = static_cast<const std::unique_ptr<Layer<T, Device>>*>(layers_)[skipped_ + k].get();
    return static_cast<typename D::template layer<T, Device>*>(layer);
  }
  // The layers from the k-th on (all of them for k = 0; none past the end).
  FollowingLayers from(std::size_t k) const {
    FollowingLayers rest = *this;
    const std::size_t skip = k < count_ ? k : count_;
    rest.first_ += skip;
    rest.count_ -= skip;
    rest.skipped_ += skip;
    return rest;
  }

 private:
  const LayerSpec* first_;
  std::size_t count_;
  const void* layers_ = nullptr;  // const std::unique_ptr<Layer<T, Device>>*, T and Device per layers_type_
  const std::type_info* layers_type_ = nullptr;
  std::size_t skipped_ = 0;  // layers_[skipped_] goes with first_[0]
};

// The batch sizes [min, max] over which an answer of fuse() holds, for inputs whose other
// dimensions are the same; the planner compiles again for a batch outside them.
struct BatchRange {
  std::int64_t min = 1, max = std::numeric_limits<std::int64_t>::max();
  bool contains(std::int64_t batch) const { return batch >= min && batch <= max; }
};

// A stage that runs a layer and the next `absorbed` layers of its model as one pass, or none,
// and the batches for which that answer (this stage, or none) holds: every batch unless the
// layer chose by the batch size.
template <class T, class Device>
struct Fusion {
  Fusion(std::unique_ptr<Stage<T, Device>> stage_ = nullptr, std::size_t absorbed_ = 0, BatchRange batches_ = {})
      : stage(std::move(stage_)), absorbed(absorbed_), batches(batches_) {}

  std::unique_ptr<Stage<T, Device>> stage;
  std::size_t absorbed = 0;
  BatchRange batches;
};

// A concrete layer. Buffers are resized, never reallocated, once the largest batch has been
// seen, so a steady training step does not allocate.
template <class T, class Device>
class Layer : public Stage<T, Device> {
 public:
  // A sub-layer and the name that prefixes its tensors ("body", "0").
  struct Child {
    std::string name;
    Layer* layer;
  };

  // The layers this one is made of, in a fixed order; none for a layer that is not made of
  // others. The defaults below walk them, so a composite layer rarely overrides more. A
  // composite builds the list once (walking it must not allocate: the training step switches
  // modes).
  virtual const std::vector<Child>& children() {
    static const std::vector<Child> none;
    return none;
  }

  // Trainable tensors, named as PyTorch names them: a composite's are its children's, each
  // prefixed with the child's name ("body.0.weight").
  virtual std::vector<Parameter<T, Device>> parameters() {
    detail::parameters_may_change();
    std::vector<Parameter<T, Device>> all;
    for (const Child& child : children())
      for (Parameter<T, Device>& p : child.layer->parameters()) all.push_back({child.name + "." + p.name, p.value, p.grad});
    return all;
  }
  virtual std::vector<Buffer<T, Device>> buffers() {
    detail::parameters_may_change();
    std::vector<Buffer<T, Device>> all;
    for (const Child& child : children())
      for (Buffer<T, Device>& b : child.layer->buffers()) all.push_back({child.name + "." + b.name, b.value});
    return all;
  }

  // Every parameter and buffer, in PyTorch's state_dict order: what checkpoints save. A layer
  // that is not made of others: its parameters, then its buffers; a composite: its children's
  // state_dicts one after the other.
  virtual std::vector<NamedTensor<T, Device>> state_dict() {
    detail::parameters_may_change();
    std::vector<NamedTensor<T, Device>> state;
    const std::vector<Child>& kids = children();
    if (kids.empty()) {
      for (const Parameter<T, Device>& p : parameters()) state.push_back({p.name, p.value});
      for (const Buffer<T, Device>& b : buffers()) state.push_back(b);
    }
    for (const Child& child : kids)
      for (const NamedTensor<T, Device>& t : child.layer->state_dict()) state.push_back({child.name + "." + t.name, t.value});
    return state;
  }

  // Draws the initial parameters. A composite's children draw in order from the same generator.
  // The default for a layer whose parameters are a "weight" and an optional "bias":
  // Xavier-uniform weight, and PyTorch's default bias (uniform in +-1/sqrt(fan_in)) from the
  // weight's fan-in. Layers with other parameters override it.
  virtual void reset_parameters(Rng& rng) {
    detail::parameters_may_change();
    const std::vector<Child>& kids = children();
    for (const Child& child : kids) child.layer->reset_parameters(rng);
    if (!kids.empty()) return;
    const Shape* weight_shape = nullptr;
    for (Parameter<T, Device>& p : parameters()) {
      Tensor<T, cpu> host(p.value->shape());
      if (p.name == "weight") {
        xavier_uniform(host, rng);
        weight_shape = &p.value->shape();
      } else if (p.name == "bias" && weight_shape != nullptr) {
        default_bias_uniform(host, *weight_shape, rng);
      } else {
        throw std::logic_error("hnn::Layer::reset_parameters: parameter '" + p.name +
                               "' has no default initialisation; override reset_parameters()");
      }
      p.value->copy_from(host);
    }
  }

  // Training or evaluation mode (batch statistics vs running statistics, dropout on or off),
  // for this layer and every layer it is made of. Evaluation keeps nothing for a backward pass.
  // Setting a mode, the same or another, also tells stages that keep values computed from the
  // parameters (batch norm folded into a convolution) to compute them again: after writing
  // parameters through pointers kept from before the last evaluation-mode forward(), call
  // eval() again.
  virtual void set_training(bool training) {
    detail::parameters_may_change();
    training_ = training;
    for (const Child& child : children()) child.layer->set_training(training);
  }
  bool training() const { return training_; }

  // Whether the models inside this layer may run fused stages (Sequential's setting, passed
  // down to nested models).
  virtual void set_fusion(bool enabled) {
    for (const Child& child : children()) child.layer->set_fusion(enabled);
  }

  // The fusion rule. A stage that runs this layer and some of the layers right after it in
  // its model (`next`, their descriptions and layers) as one pass, for inputs of shape `input`,
  // and how many of them it takes; or no stage. The planner (hnn/model/plan.hpp) puts the stage
  // in place of those layers wherever the model allows fusion; its results must be the layers'
  // run one by one (up to rounding), in the modes the layers are in now: the planner plans
  // again when any layer's mode changes, and when the batch leaves Fusion::batches. The stage
  // uses this layer's own tensors: the layer stays what the model is made of (parameters,
  // summary, checkpoints see it as before). None by default.
  virtual Fusion<T, Device> fuse(const FollowingLayers& next, const Shape& input) {
    (void)next;
    (void)input;
    return {};
  }

  // Called on an hnn::Var (hnn/autograd.hpp; nothing here depends on it), the layer is one node
  // of the autograd graph: forward() now, backward() when the graph's backward reaches it.
  template <class Input>
  auto operator()(const Input& input) -> decltype(apply_model(*this, input)) {
    return apply_model(*this, input);
  }

 protected:
  // A layer's forward() starts with this: whether it keeps what backward() needs (training
  // mode), remembered for backward(), which calls require_training_forward().
  bool start_forward() {
    forward_training_ = training_;
    return training_;
  }
  // `Description`: the layer's description (its str() names the layer, on the error path only).
  template <class Description>
  void require_training_forward(const Description& description) const {
    if (!forward_training_) detail::throw_backward_after_eval(description.str());
  }

  bool training_ = true;
  bool forward_training_ = true;  // the mode of the last forward()
};

}  // namespace hnn
