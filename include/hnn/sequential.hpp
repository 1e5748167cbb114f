// Sequential: a model built from a list of layer descriptions, as in PyTorch.
//
//   hnn::Sequential<float, hnn::cpu> net(hnn::Conv2d(1, 6, 5, 2), hnn::Sigmoid(), ...);
//
// The descriptions (Conv2d, Linear, ...) are device-free; Sequential<T, Device> turns each
// into a concrete layer owning its parameters on that device. The same list is what the
// shape trace prints and what errors name.
#pragma once

#include <iomanip>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "hnn/fusion.hpp"
#include "hnn/init.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/conv2d.hpp"
#include "hnn/layers/flatten.hpp"
#include "hnn/layers/linear.hpp"
#include "hnn/layers/pool2d.hpp"

namespace hnn {

using LayerSpec = std::variant<Conv2d, AvgPool2d, MaxPool2d, Sigmoid, ReLU, Linear, Flatten>;

inline std::string describe(const LayerSpec& spec) {
  return std::visit([](const auto& s) { return s.str(); }, spec);
}

template <class T, class Device>
std::unique_ptr<Layer<T, Device>> make_layer(const LayerSpec& spec) {
  return std::visit(
      [](const auto& s) -> std::unique_ptr<Layer<T, Device>> {
        using S = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<S, Conv2d>) return std::make_unique<Conv2dLayer<T, Device>>(s);
        else if constexpr (std::is_same_v<S, AvgPool2d>) return std::make_unique<AvgPool2dLayer<T, Device>>(s);
        else if constexpr (std::is_same_v<S, MaxPool2d>) return std::make_unique<MaxPool2dLayer<T, Device>>(s);
        else if constexpr (std::is_same_v<S, Sigmoid>) return std::make_unique<SigmoidLayer<T, Device>>(s);
        else if constexpr (std::is_same_v<S, ReLU>) return std::make_unique<ReLULayer<T, Device>>(s);
        else if constexpr (std::is_same_v<S, Linear>) return std::make_unique<LinearLayer<T, Device>>(s);
        else return std::make_unique<FlattenLayer<T, Device>>(s);
      },
      spec);
}

// Thrown when an input or a layer does not fit the shape that reaches it.
class ShapeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

template <class T, class Device = cpu>
class Sequential {
 public:
  using value_type = T;
  using device_type = Device;

  template <class... Specs, class = std::enable_if_t<(sizeof...(Specs) > 0) &&
                                                     (std::is_constructible_v<LayerSpec, Specs> && ...)>>
  explicit Sequential(Specs... specs) : Sequential(std::vector<LayerSpec>{LayerSpec(std::move(specs))...}) {}

  explicit Sequential(std::vector<LayerSpec> specs, std::uint64_t seed = 0) : specs_(std::move(specs)) {
    if (specs_.empty()) throw std::invalid_argument("hnn::Sequential needs at least one layer");
    for (const LayerSpec& spec : specs_) layers_.push_back(make_layer<T, Device>(spec));
    // Nothing upstream of the first layer needs a gradient: skip computing it.
    layers_.front()->set_input_gradient(false);
    for (std::size_t i = 0; i < layers_.size(); ++i)
      for (auto& p : layers_[i]->parameters()) {
        parameters_.push_back(p);
        parameter_names_.push_back(std::to_string(i) + "." + p.name);
      }
    init(seed);
    find_fused_runs();
  }

  // Whether forward() and backward() run each Conv2d -> Sigmoid|ReLU -> 2x2 pooling as one
  // fused kernel where the device has one (hnn/fusion.hpp: the CPU). On by default; the
  // results are those of the layers run one by one, which is what layer(i) always does.
  void set_fusion(bool enabled) { fusion_ = enabled; }
  bool fusion() const { return fusion_; }

  std::size_t size() const { return layers_.size(); }
  Layer<T, Device>& layer(std::size_t i) { return *layers_.at(i); }
  const std::vector<LayerSpec>& specs() const { return specs_; }
  const std::vector<Parameter<T, Device>>& parameters() const { return parameters_; }
  // "<layer index>.<weight|bias>" for each parameter, as PyTorch's state_dict names them.
  const std::vector<std::string>& parameter_names() const { return parameter_names_; }

  std::int64_t parameter_count() const {
    std::int64_t n = 0;
    for (const auto& p : parameters_) n += p.value->numel();
    return n;
  }

  // Re-draws every weight with Xavier-uniform and every bias with PyTorch's default,
  // from `seed`, in layer order. The same seed gives the same model on every device.
  void init(std::uint64_t seed) {
    Rng rng(seed);
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      Parameter<T, Device>& p = parameters_[i];
      Tensor<T, cpu> host(p.value->shape());
      if (p.name == "weight") {
        xavier_uniform(host, rng);
      } else {
        default_bias_uniform(host, parameters_.at(i - 1).value->shape(), rng);  // a bias follows its weight
      }
      p.value->copy_from(host);
    }
  }

  // Copies every parameter from a model of the same architecture, on any device.
  template <class OtherDevice>
  void copy_parameters_from(const Sequential<T, OtherDevice>& other) {
    if (describe_all() != other.describe_all())
      throw ShapeError("hnn::Sequential::copy_parameters_from: architectures differ:\n  " + describe_all() +
                       "\n  " + other.describe_all());
    for (std::size_t i = 0; i < parameters_.size(); ++i) parameters_[i].value->copy_from(*other.parameters()[i].value);
  }

  // The output shape for an input shape; a ShapeError names the first layer that does not fit.
  Shape output_shape(const Shape& input) const {
    Shape s = input;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      try {
        s = layers_[i]->output_shape(s);
      } catch (const std::invalid_argument& e) {
        throw ShapeError(where(i) + e.what());
      }
    }
    return s;
  }

  // One line per layer, as d2l prints it: "Conv2d output shape: (1, 6, 28, 28)".
  std::string trace(const Shape& input) const {
    std::ostringstream out;
    Shape s = input;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      try {
        s = layers_[i]->output_shape(s);
      } catch (const std::invalid_argument& e) {
        throw ShapeError(where(i) + e.what());
      }
      out << layers_[i]->kind() << " output shape: " << s.str() << "\n";
    }
    return out.str();
  }

  // A table of layers, output shapes and parameter counts.
  std::string summary(const Shape& input) const {
    std::ostringstream out;
    out << std::left << std::setw(4) << "#" << std::setw(44) << "layer" << std::setw(20) << "output shape"
        << "params\n";
    Shape s = input;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      s = layers_[i]->output_shape(s);
      std::int64_t params = 0;
      for (const auto& p : layers_[i]->parameters()) params += p.value->numel();
      out << std::setw(4) << i << std::setw(44) << layers_[i]->describe() << std::setw(20) << s.str() << params
          << "\n";
    }
    out << "total parameters: " << parameter_count() << "\n";
    return out.str();
  }

  // Runs every layer. The result is owned by the last layer and valid until the next forward.
  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) {
    const Tensor<T, Device>* x = &input;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      try {
        if constexpr (has_fused_conv_act_pool<Device>::value) {
          if (fused_at_[i] >= 0) {
            FusedConvActPool<T, Device>& run = *fused_[static_cast<std::size_t>(fused_at_[i])];
            run.set_unused();
            if (fusion_ && run.accepts(x->shape())) {
              x = &run.forward(*x);
              i += 2;
              continue;
            }
          }
        }
        x = &layers_[i]->forward(*x);
      } catch (const std::invalid_argument& e) {
        throw ShapeError(where(i) + e.what());
      }
    }
    return *x;
  }

  // Back-propagates dLoss/dOutput of the last forward(), writing every parameter's gradient.
  void backward(const Tensor<T, Device>& grad_output) {
    const Tensor<T, Device>* g = &grad_output;
    for (std::size_t i = layers_.size(); i-- > 0;) {
      if constexpr (has_fused_conv_act_pool<Device>::value) {
        if (i >= 2 && fused_at_[i - 2] >= 0 && fused_[static_cast<std::size_t>(fused_at_[i - 2])]->used()) {
          g = &fused_[static_cast<std::size_t>(fused_at_[i - 2])]->backward(*g);
          i -= 2;
          continue;
        }
      }
      g = &layers_[i]->backward(*g);
    }
  }

  // "Conv2d(1, 6, ...) -> Sigmoid() -> ...": the architecture in one line.
  std::string describe_all() const {
    std::string s;
    for (const LayerSpec& spec : specs_) s += (s.empty() ? "" : " -> ") + describe(spec);
    return s;
  }

 private:
  std::string where(std::size_t i) const {
    return "layer " + std::to_string(i) + " of " + std::to_string(layers_.size()) + ": ";
  }

  void find_fused_runs() {
    fused_at_.assign(layers_.size(), -1);
    if constexpr (has_fused_conv_act_pool<Device>::value) {
      FusedRun run;
      for (std::size_t i = 0; i < specs_.size(); ++i)
        if (fusable_run(specs_, i, run)) {
          fused_at_[i] = static_cast<int>(fused_.size());
          fused_.push_back(std::make_unique<FusedConvActPool<T, Device>>(std::get<Conv2d>(specs_[i]), run, *layers_[i],
                                                                          /*input_gradient=*/i != 0));
          i += 2;
        }
    }
  }

  std::vector<LayerSpec> specs_;
  std::vector<std::unique_ptr<Layer<T, Device>>> layers_;
  std::vector<Parameter<T, Device>> parameters_;
  std::vector<std::string> parameter_names_;
  // Fused runs (hnn/fusion.hpp): fused_at_[i] indexes fused_ where a run starts at layer i, else -1.
  bool fusion_ = true;
  std::vector<int> fused_at_;
  std::vector<std::unique_ptr<FusedConvActPool<T, Device>>> fused_;
};

}  // namespace hnn
