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
// 2. The *concrete layer*: a Layer<T, Device> constructed from the description. It owns its
//    parameters (named "weight", "bias", ... as PyTorch names them), their gradients, any
//    buffers (running statistics), its outputs and the cache its backward pass needs, and
//    calls kernels by device tag: it never branches on the device.
//
// A layer made of other layers (layers/residual.hpp) adds to its description
//        std::vector<LayerSpec> children() const;            // its sub-layers, in a fixed order
//        std::string child_name(std::size_t k) const;        // "body.0": the prefix of child k's tensors
//        static D from_parts(const std::vector<std::int64_t>& sizes, std::vector<LayerSpec> children);
//    (instead of from_sizes), so that checkpoints record and rebuild the nesting, and its layer
//    overrides state_dict() to list its children's tensors in PyTorch's order.
//
// Nothing else: Sequential, trace, summary, parameter names, checkpoints and the planner all
// go through these two. hnn::register_layer<Scale>() (hnn/registry.hpp) is needed only for
// load_model(), which rebuilds a model from a file's layer kinds and sizes.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "hnn/init.hpp"
#include "hnn/tensor.hpp"

namespace hnn {

// A trainable tensor and the gradient the last backward() wrote for it.
template <class T, class Device>
struct Parameter {
  std::string name;  // "weight", "bias"; Sequential prefixes the layer index: "3.weight"
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

// The forward/backward interface of one step of a model's execution plan (hnn/plan.hpp):
// a single layer, or several layers run as one fused kernel.
template <class T, class Device>
class Stage {
 public:
  virtual ~Stage() = default;

  // The result is owned by the stage and valid until its next forward().
  virtual const Tensor<T, Device>& forward(const Tensor<T, Device>& input) = 0;
  // Takes dLoss/dOutput of the last forward(), writes the parameter gradients, returns
  // dLoss/dInput (an empty tensor when set_input_gradient(false), as for a model's first stage).
  virtual const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) = 0;

  virtual void set_input_gradient(bool needed) { input_gradient_ = needed; }
  bool input_gradient() const { return input_gradient_; }

 protected:
  bool input_gradient_ = true;
};

// A concrete layer. Buffers are resized, never reallocated, once the largest batch has been
// seen, so a steady training step does not allocate.
template <class T, class Device>
class Layer : public Stage<T, Device> {
 public:
  virtual std::vector<Parameter<T, Device>> parameters() { return {}; }
  virtual std::vector<Buffer<T, Device>> buffers() { return {}; }

  // Every parameter and buffer, in PyTorch's state_dict order: what checkpoints save. For a
  // layer that is not made of others, its parameters and then its buffers.
  virtual std::vector<NamedTensor<T, Device>> state_dict() {
    std::vector<NamedTensor<T, Device>> state;
    for (const Parameter<T, Device>& p : parameters()) state.push_back({p.name, p.value});
    for (const Buffer<T, Device>& b : buffers()) state.push_back(b);
    return state;
  }

  // Draws the initial parameters. The default, for layers whose parameters are a "weight" and
  // an optional "bias": Xavier-uniform weight, and PyTorch's default bias (uniform in
  // +-1/sqrt(fan_in)) from the weight's fan-in. Layers with other parameters override it.
  virtual void reset_parameters(Rng& rng) {
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

  // Training or evaluation mode (batch statistics vs running statistics, dropout on or off).
  virtual void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }

  // A stage that runs this layer and a ReLU after it in one pass, for a layer that has one on
  // this device (a Residual on the CPU); the planner (hnn/plan.hpp) then puts it in place of
  // the two. None by default.
  virtual std::unique_ptr<Stage<T, Device>> with_relu() { return nullptr; }

  // Called on an hnn::Var (hnn/autograd.hpp; nothing here depends on it), the layer is one node
  // of the autograd graph: forward() now, backward() when the graph's backward reaches it.
  template <class Input>
  auto operator()(const Input& input) -> decltype(apply_model(*this, input)) {
    return apply_model(*this, input);
  }

 protected:
  bool training_ = true;
};

// Thrown when an input or a layer does not fit the shape that reaches it.
class ShapeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {

[[noreturn]] inline void bad_input(const std::string& what) { throw std::invalid_argument(what); }

inline void require_positive(const char* layer, const char* field, std::int64_t value) {
  if (value <= 0)
    bad_input(std::string(layer) + ": " + field + " must be positive, got " + std::to_string(value));
}

inline void require_non_negative(const char* layer, const char* field, std::int64_t value) {
  if (value < 0)
    bad_input(std::string(layer) + ": " + field + " must not be negative, got " + std::to_string(value));
}

// Throws unless `input` is (N, C, H, W).
inline void require_images(const std::string& layer, const Shape& input) {
  if (input.rank() != 4)
    bad_input(layer + " expects input of shape (N, C, H, W), got " + input.str());
}

// Throws unless a description recorded with `expected` sizes got that many.
inline void require_sizes(const char* kind, const std::vector<std::int64_t>& sizes, std::size_t expected) {
  if (sizes.size() != expected)
    bad_input(std::string(kind) + " records " + std::to_string(expected) + " sizes, got " +
              std::to_string(sizes.size()));
}

// A double recorded among a description's sizes: its bit pattern, so it reads back exactly.
inline std::int64_t double_bits(double value) {
  std::int64_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}
inline double double_from_bits(std::int64_t bits) {
  double value = 0;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

// The shortest text that reads back as `value`, as Python's repr writes it ("0.1", "1e-05").
inline std::string format_double(double value) {
  char text[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

// What every description without sizes shares (activations, Flatten).
template <class Self>
struct SizelessSpec {
  std::string str() const { return std::string(Self::kind) + "()"; }
  std::vector<std::int64_t> sizes() const { return {}; }
  static Self from_sizes(const std::vector<std::int64_t>& s) {
    require_sizes(Self::kind, s, 0);
    return Self{};
  }
};

// True in translation units compiled by nvcc. (Internal linkage: each unit has its own.)
#if defined(__CUDACC__)
constexpr bool compiling_cuda = true;
#else
constexpr bool compiling_cuda = false;
#endif

}  // namespace detail

class LayerSpec;

namespace detail {
// Whether D is a layer description: it names its kind and describes itself.
template <class D, class = void>
struct is_layer_description : std::false_type {};
template <class D>
struct is_layer_description<D, std::void_t<decltype(D::kind), decltype(std::declval<const D&>().str()),
                                           decltype(std::declval<const D&>().sizes())>> : std::true_type {};

// Whether D is made of other layers (see the contract at the top of this file).
template <class D, class = void>
struct is_composite_description : std::false_type {};
template <class D>
struct is_composite_description<D, std::void_t<decltype(std::declval<const D&>().children()),
                                                decltype(std::declval<const D&>().child_name(std::size_t{}))>>
    : std::true_type {};

template <class T, class Device>
using MakeLayer = std::unique_ptr<Layer<T, Device>> (*)(const LayerSpec&);

// The concrete layers a spec can create, one slot per value type and device. The CUDA slots
// are filled only where the spec was made in code that nvcc compiles (a CUDA layer can only
// be compiled there).
struct LayerMakers {
  MakeLayer<float, cpu> float_cpu = nullptr;
  MakeLayer<double, cpu> double_cpu = nullptr;
  MakeLayer<float, cuda> float_cuda = nullptr;
  MakeLayer<double, cuda> double_cuda = nullptr;
};
}  // namespace detail

// Any layer description, type-erased: what Sequential, checkpoints and the planner hold.
class LayerSpec {
 public:
  // (Cuda is a template parameter, not a branch inside one function, so that the units nvcc
  // compiles and the others instantiate different functions: one definition each.)
  template <class D, bool Cuda = detail::compiling_cuda,
            class = std::enable_if_t<detail::is_layer_description<D>::value>>
  LayerSpec(D description)  // NOLINT: implicit, so that {Conv2d(...), Sigmoid()} builds a list
      : LayerSpec(std::move(description), std::bool_constant<Cuda>{}) {}

  // The same, saying whether CUDA layers can be made (hnn/registry.hpp decodes with it).
  template <class D, bool Cuda>
  LayerSpec(D description, std::bool_constant<Cuda>)
      : self_(std::make_shared<const Model<D>>(std::move(description))) {
    makers_.float_cpu = &make<D, float, cpu>;
    makers_.double_cpu = &make<D, double, cpu>;
    if constexpr (Cuda) {
      makers_.float_cuda = &make<D, float, cuda>;
      makers_.double_cuda = &make<D, double, cuda>;
    }
  }

  std::string str() const { return self_->str(); }
  const char* kind() const { return self_->kind(); }
  std::vector<std::int64_t> sizes() const { return self_->sizes(); }
  Shape output_shape(const Shape& input) const { return self_->output_shape(input); }
  // A composite layer's sub-layers and their names ("body.0"); none for other layers.
  std::vector<LayerSpec> children() const { return self_->children(); }
  std::string child_name(std::size_t k) const { return self_->child_name(k); }

  // The description as its own type, or null if it is another type.
  template <class D>
  const D* get_if() const {
    return self_->type() == typeid(D) ? static_cast<const D*>(self_->get()) : nullptr;
  }

  // A new concrete layer of this description for value type T on Device.
  template <class T, class Device>
  std::unique_ptr<Layer<T, Device>> make_layer() const {
    detail::MakeLayer<T, Device> maker = slot<T, Device>();
    if (maker == nullptr)
      throw std::logic_error("hnn: " + str() + " was described in code that nvcc did not compile, so it has no " +
                             Device::name + " layer; describe CUDA models in a .cu file");
    return maker(*this);
  }

 private:
  struct Concept {
    virtual ~Concept() = default;
    virtual std::string str() const = 0;
    virtual const char* kind() const = 0;
    virtual std::vector<std::int64_t> sizes() const = 0;
    virtual Shape output_shape(const Shape& input) const = 0;
    virtual std::vector<LayerSpec> children() const = 0;
    virtual std::string child_name(std::size_t k) const = 0;
    virtual const std::type_info& type() const = 0;
    virtual const void* get() const = 0;
  };
  template <class D>
  struct Model final : Concept {
    explicit Model(D d) : description(std::move(d)) {}
    std::string str() const override { return description.str(); }
    const char* kind() const override { return D::kind; }
    std::vector<std::int64_t> sizes() const override { return description.sizes(); }
    Shape output_shape(const Shape& input) const override { return description.output_shape(input); }
    std::vector<LayerSpec> children() const override {
      if constexpr (detail::is_composite_description<D>::value) return description.children();
      else return {};
    }
    std::string child_name(std::size_t k) const override {
      if constexpr (detail::is_composite_description<D>::value) return description.child_name(k);
      else return std::to_string(k);
    }
    const std::type_info& type() const override { return typeid(D); }
    const void* get() const override { return &description; }
    D description;
  };

  template <class D, class T, class Device>
  static std::unique_ptr<Layer<T, Device>> make(const LayerSpec& spec) {
    return std::make_unique<typename D::template layer<T, Device>>(*spec.get_if<D>());
  }

  template <class T, class Device>
  detail::MakeLayer<T, Device> slot() const {
    if constexpr (std::is_same_v<Device, cpu>) {
      if constexpr (std::is_same_v<T, float>) return makers_.float_cpu;
      else return makers_.double_cpu;
    } else {
      if constexpr (std::is_same_v<T, float>) return makers_.float_cuda;
      else return makers_.double_cuda;
    }
  }

  std::shared_ptr<const Concept> self_;
  detail::LayerMakers makers_;
};

}  // namespace hnn
