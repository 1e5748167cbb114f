// Sequential: a model built from a list of layer descriptions, as in PyTorch.
//
//   hnn::Sequential<float, hnn::cpu> net(hnn::Conv2d(1, 6, 5).padding(2), hnn::Sigmoid(), ...);
//
// The descriptions (Conv2d, Linear, or a type of your own: hnn/layers/layer.hpp) are
// device-free; Sequential<T, Device> turns each into a concrete layer owning its parameters on
// that device. It is itself a layer, made of those layers (children "0", "1", ...), so a
// Residual's branches and a user's composite hold Sequentials as they hold any layer, and the
// model's settings (training mode, fusion) reach every layer nested in it. What forward() and
// backward() run is the model's plan (hnn/model/plan.hpp), compiled on the first forward() and
// again when the input shape, a layer's mode, a setting, or the batch size across a crossover
// changes; the model keeps the last few plans, so that a loop that alternates (training and
// evaluation, full and last partial batches) compiles each once.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iomanip>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "hnn/init.hpp"
// The built-in layers, so that a model of them needs this header alone.
#include "hnn/layers/activation.hpp"
#include "hnn/layers/batch_norm.hpp"
#include "hnn/layers/conv2d.hpp"
#include "hnn/layers/dropout.hpp"
#include "hnn/layers/flatten.hpp"
#include "hnn/layers/global_avg_pool.hpp"
#include "hnn/layers/layer.hpp"
#include "hnn/layers/linear.hpp"
#include "hnn/layers/pool2d.hpp"
#include "hnn/model/plan.hpp"

namespace hnn {

template <class T, class Device = cpu>
class Sequential : public Layer<T, Device> {
 public:
  using value_type = T;
  using device_type = Device;

  template <class... Specs, class = std::enable_if_t<(sizeof...(Specs) > 0) &&
                                                     (std::is_constructible_v<LayerSpec, Specs> && ...)>>
  explicit Sequential(Specs... specs) : Sequential(std::vector<LayerSpec>{LayerSpec(std::move(specs))...}) {}

  explicit Sequential(std::vector<LayerSpec> specs, std::uint64_t seed = 0) : specs_(std::move(specs)) {
    if (specs_.empty()) throw std::invalid_argument("hnn::Sequential needs at least one layer");
    for (const LayerSpec& spec : specs_) layers_.push_back(spec.template make_layer<T, Device>());
    for (std::size_t i = 0; i < layers_.size(); ++i) children_.push_back({std::to_string(i), layers_[i].get()});
    // A model returns no input gradient unless asked (its first layer then skips computing one).
    this->input_gradient_ = false;
    parameters_ = Layer<T, Device>::parameters();
    state_ = Layer<T, Device>::state_dict();
    init(seed);
  }

  // Whether forward() and backward() may run several layers as one fused pass where a layer
  // offers one (Layer::fuse, applied by the planner: hnn/model/plan.hpp). On by default; the
  // results are those of the layers run one by one. Reaches the models nested in its layers.
  void set_fusion(bool enabled) override {
    fusion_ = enabled;
    Layer<T, Device>::set_fusion(enabled);
  }
  bool fusion() const { return fusion_; }

  // Whether backward() returns dLoss/dInput. Off by default for a model: its first layer then
  // skips computing a gradient nothing upstream needs.
  void set_input_gradient(bool needed) override { this->input_gradient_ = needed; }

  // Training mode (the default) or evaluation mode, for every layer (batch norm, dropout).
  // Evaluation keeps nothing for backward() (which then throws) and runs a Conv2d or Linear
  // followed by batch norm as one layer with the batch norm folded into its weights.
  void train(bool training = true) { this->set_training(training); }
  void eval() { train(false); }

  std::size_t size() const { return layers_.size(); }
  Layer<T, Device>& layer(std::size_t i) { return *layers_.at(i); }
  const LayerSpec& spec(std::size_t i) const { return specs_.at(i); }
  const std::vector<LayerSpec>& specs() const { return specs_; }

  const std::vector<typename Layer<T, Device>::Child>& children() override { return children_; }

  // Every parameter, named "<layer>.<name>" as PyTorch's state_dict names them ("3.weight",
  // "2.body.0.bias" inside a Residual).
  std::vector<Parameter<T, Device>> parameters() override {
    detail::parameters_may_change();
    return parameters_;
  }
  const std::vector<Parameter<T, Device>>& parameters() const {
    detail::parameters_may_change();
    return parameters_;
  }
  std::vector<std::string> parameter_names() const {
    std::vector<std::string> names;
    for (const Parameter<T, Device>& p : parameters_) names.push_back(p.name);
    return names;
  }
  // Every parameter and buffer, in PyTorch's state_dict order and names: what checkpoints hold.
  std::vector<NamedTensor<T, Device>> state_dict() override {
    detail::parameters_may_change();
    return state_;
  }
  const std::vector<NamedTensor<T, Device>>& state_dict() const {
    detail::parameters_may_change();
    return state_;
  }

  std::int64_t parameter_count() const {
    std::int64_t n = 0;
    for (const auto& p : parameters_) n += p.value->numel();
    return n;
  }

  // Re-draws every layer's parameters from `seed`, in layer order (Xavier-uniform weights and
  // PyTorch's default biases for the built-in layers). The same seed gives the same model on
  // every device.
  void init(std::uint64_t seed) {
    Rng rng(seed);
    this->reset_parameters(rng);
  }

  // Copies every parameter and buffer from a model of the same architecture, on any device.
  template <class OtherDevice>
  void copy_parameters_from(const Sequential<T, OtherDevice>& other) {
    if (describe_all() != other.describe_all())
      throw ShapeError("hnn::Sequential::copy_parameters_from: architectures differ:\n  " + describe_all() +
                       "\n  " + other.describe_all());
    detail::parameters_may_change();
    for (std::size_t i = 0; i < state_.size(); ++i) state_[i].value->copy_from(*other.state_dict()[i].value);
  }

  // The output shape for an input shape; a ShapeError names the first layer that does not fit.
  Shape output_shape(const Shape& input) const {
    Shape s = input;
    for (std::size_t i = 0; i < specs_.size(); ++i) s = Plan<T, Device>::output_shape(specs_, i, s);
    return s;
  }

  // One line per layer, as d2l prints it: "Conv2d output shape: (1, 6, 28, 28)".
  std::string trace(const Shape& input) const {
    std::ostringstream out;
    Shape s = input;
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      s = Plan<T, Device>::output_shape(specs_, i, s);
      out << specs_[i].kind() << " output shape: " << s.str() << "\n";
    }
    return out.str();
  }

  // A table of layers, output shapes and parameter counts. A layer made of others (Residual)
  // is followed by one indented row per sub-layer, named as its tensors are ("2.body.0").
  std::string summary(const Shape& input) const {
    std::size_t index_width = 4;  // wider only for sub-layer rows
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      const std::size_t children = specs_[i].children().size();  // (a copy of the list: taken once)
      for (std::size_t k = 0; k < children; ++k)
        index_width = std::max(index_width, specs_[i].child_name(k).size() + std::to_string(i).size() + 4);
    }
    std::ostringstream out;
    out << std::left << std::setw(static_cast<int>(index_width)) << "#" << std::setw(44) << "layer" << std::setw(20)
        << "output shape" << "params\n";
    Shape s = input;
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      s = Plan<T, Device>::output_shape(specs_, i, s);
      const auto params_under = [&](const std::string& prefix) {  // of layer i
        const std::string full = std::to_string(i) + "." + prefix;
        std::int64_t n = 0;
        for (const auto& p : parameters_)
          if (p.name.compare(0, full.size(), full) == 0) n += p.value->numel();
        return n;
      };
      const std::vector<LayerSpec> children = specs_[i].children();
      const std::string name = children.empty() ? specs_[i].str() : std::string(specs_[i].kind());
      out << std::setw(static_cast<int>(index_width)) << i << std::setw(44) << name << std::setw(20) << s.str()
          << params_under("") << "\n";
      for (std::size_t k = 0; k < children.size(); ++k) {
        const std::string child = specs_[i].child_name(k);
        out << std::setw(static_cast<int>(index_width)) << ("  " + std::to_string(i) + "." + child) << std::setw(44)
            << children[k].str() << std::setw(20) << "" << params_under(child + ".") << "\n";
      }
    }
    out << "total parameters: " << parameter_count() << "\n";
    return out.str();
  }

  // The plan for inputs of `input`'s shape in the layers' present modes: the last one if it
  // serves them, else a kept one that does, else one compiled now (in place of the least
  // recently used when kept_plans are kept already). Finding a kept plan allocates nothing.
  const Plan<T, Device>& plan(const Shape& input) {
    if (current_ < plans_.size() && plans_[current_].plan->serves(input, fusion_, this->input_gradient_))
      return *plans_[current_].plan;
    std::size_t found = plans_.size();
    for (std::size_t k = 0; k < plans_.size(); ++k)
      if (plans_[k].plan->serves(input, fusion_, this->input_gradient_)) found = k;
    if (found < plans_.size()) {
      plans_[found].plan->apply_input_gradients();  // its stages may be layers the last plan set otherwise
    } else {
      auto plan = std::make_unique<Plan<T, Device>>(specs_, layers_, input, fusion_, this->input_gradient_);
      if (plans_.size() < kept_plans) {
        plans_.push_back({nullptr, 0});
      } else {
        found = 0;
        for (std::size_t k = 1; k < plans_.size(); ++k)
          if (plans_[k].last_used < plans_[found].last_used) found = k;
      }
      plans_[found].plan = std::move(plan);
    }
    plans_[found].last_used = ++uses_;
    current_ = found;
    return *plans_[found].plan;
  }

  // How many plans a model keeps (each for a sample shape, the layers' modes, the settings and
  // a range of batch sizes).
  static constexpr std::size_t kept_plans = 8;

  // Runs the plan's stages. The result is owned by the last stage and valid until the next forward.
  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    const Tensor<T, Device>* x = &input;
    for (const auto& step : plan(input.shape()).steps()) {
      try {
        x = &step.stage->forward(*x);
      } catch (const std::invalid_argument& e) {
        throw ShapeError(detail::where(step.first, specs_.size()) + e.what());
      }
    }
    output_shape_ = x->shape();
    return *x;
  }

  // Back-propagates dLoss/dOutput of the last forward(), writing every parameter's gradient.
  // Returns dLoss/dInput when set_input_gradient(true), else an empty tensor. A gradient whose
  // shape is not the last output's is refused before any layer reads it.
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    if (current_ >= plans_.size()) throw std::logic_error("hnn::Sequential::backward: call forward() first");
    if (grad_output.shape() != output_shape_)
      throw ShapeError("hnn::Sequential::backward: the gradient has shape " + grad_output.shape().str() +
                       ", the last forward() returned " + output_shape_.str() + "; they must be the same");
    const Tensor<T, Device>* g = &grad_output;
    const auto& steps = plans_[current_].plan->steps();
    for (auto step = steps.rbegin(); step != steps.rend(); ++step) g = &step->stage->backward(*g);
    return *g;
  }

  // Called on an hnn::Var (hnn/autograd.hpp; nothing here depends on it), the model is one node
  // of the autograd graph: forward() now, backward() when the graph's backward reaches it.
  template <class Input>
  auto operator()(const Input& input) -> decltype(apply_model(*this, input)) {
    return apply_model(*this, input);
  }

  // "Conv2d(1, 6, ...) -> Sigmoid() -> ...": the architecture in one line.
  std::string describe_all() const {
    std::string s;
    for (const LayerSpec& spec : specs_) s += (s.empty() ? "" : " -> ") + spec.str();
    return s;
  }

 private:
  std::vector<LayerSpec> specs_;
  std::vector<std::unique_ptr<Layer<T, Device>>> layers_;
  std::vector<typename Layer<T, Device>::Child> children_;
  std::vector<Parameter<T, Device>> parameters_;
  std::vector<NamedTensor<T, Device>> state_;
  struct KeptPlan {
    std::unique_ptr<Plan<T, Device>> plan;
    std::uint64_t last_used;
  };

  bool fusion_ = true;
  std::vector<KeptPlan> plans_;
  std::size_t current_ = kept_plans;  // plans_[current_]: the plan of the last forward (none yet)
  std::uint64_t uses_ = 0;
  Shape output_shape_;  // of the last forward
};

}  // namespace hnn
