// LayerSpec: any layer description, type-erased, as Sequential, checkpoints and the planner
// hold it; it can make the description's concrete layer for float or double on the CPU and,
// where nvcc compiled the code that made it, on CUDA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "hnn/device.hpp"
#include "hnn/tensor.hpp"

namespace hnn {

template <class T, class Device>
class Layer;

namespace detail {
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

  // The same, saying whether CUDA layers can be made (hnn/model/registry.hpp decodes with it).
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
