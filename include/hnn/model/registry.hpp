// The layer kinds a checkpoint can name, so that load_model() can rebuild a model from a file.
//
// The built-in layers are known from the first call of register_layer() or decode_layer() on:
// registering them makes every layer's code for float and double (and, where nvcc compiles,
// CUDA), so it happens only in programs that decode layers, not in every file that includes a
// layer. A user's layer type registers with
//   hnn::register_layer<Scale>();
// once, before load_model() reads a file that holds one (loading into a model the caller built,
// hnn::load(model, path), needs no registration).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeindex>
#include <vector>

#include "hnn/layers/activation.hpp"
#include "hnn/layers/batch_norm.hpp"
#include "hnn/layers/conv2d.hpp"
#include "hnn/layers/dropout.hpp"
#include "hnn/layers/flatten.hpp"
#include "hnn/layers/global_avg_pool.hpp"
#include "hnn/layers/layer.hpp"
#include "hnn/layers/linear.hpp"
#include "hnn/layers/pool2d.hpp"
#include "hnn/model/concat.hpp"
#include "hnn/model/residual.hpp"

namespace hnn {

namespace detail {

using DecodeLayer = LayerSpec (*)(const std::vector<std::int64_t>&, std::vector<LayerSpec>);

struct RegisteredLayer {
  std::type_index type = typeid(void);
  DecodeLayer host = nullptr;       // registered where nvcc did not compile: CPU layers only
  DecodeLayer with_cuda = nullptr;  // registered where nvcc compiled: every device
};

struct LayerRegistry {
  std::mutex mutex;
  std::map<std::string, RegisteredLayer> kinds;
};

inline LayerRegistry& layer_registry() {
  static LayerRegistry registry;
  return registry;
}

template <class D, bool Cuda>
LayerSpec decode_layer_as(const std::vector<std::int64_t>& sizes, std::vector<LayerSpec> children) {
  if constexpr (is_composite_description<D>::value) {
    return LayerSpec(D::from_parts(sizes, std::move(children)), std::bool_constant<Cuda>{});
  } else {
    if (!children.empty())
      throw std::invalid_argument(std::string(D::kind) + " has no sub-layers, but " + std::to_string(children.size()) +
                                  " were given");
    return LayerSpec(D::from_sizes(sizes), std::bool_constant<Cuda>{});
  }
}

// Adds D under D::kind; the caller holds the registry's lock.
template <class D, bool Cuda>
void add_layer_kind(LayerRegistry& r) {
  RegisteredLayer& entry = r.kinds[D::kind];
  if (entry.type != typeid(void) && entry.type != typeid(D))
    throw std::logic_error(std::string("hnn::register_layer: two layer types are both named '") + D::kind + "'");
  entry.type = typeid(D);
  (Cuda ? entry.with_cuda : entry.host) = &decode_layer_as<D, Cuda>;
}

// The registry with every built-in layer in it (added on the first call, once per flavour:
// compiled by nvcc or not), locked by `lock`.
template <bool Cuda>
LayerRegistry& builtin_layer_registry(std::unique_lock<std::mutex>& lock) {
  LayerRegistry& r = layer_registry();
  lock = std::unique_lock<std::mutex>(r.mutex);
  static bool added = false;  // guarded by r.mutex
  if (!added) {
    add_layer_kind<Conv2d, Cuda>(r);
    add_layer_kind<Linear, Cuda>(r);
    add_layer_kind<Sigmoid, Cuda>(r);
    add_layer_kind<ReLU, Cuda>(r);
    add_layer_kind<Tanh, Cuda>(r);
    add_layer_kind<AvgPool2d, Cuda>(r);
    add_layer_kind<MaxPool2d, Cuda>(r);
    add_layer_kind<GlobalAvgPool2d, Cuda>(r);
    add_layer_kind<BatchNorm2d, Cuda>(r);
    add_layer_kind<BatchNorm1d, Cuda>(r);
    add_layer_kind<Dropout, Cuda>(r);
    add_layer_kind<Flatten, Cuda>(r);
    add_layer_kind<Residual, Cuda>(r);
    add_layer_kind<Concat, Cuda>(r);
    added = true;
  }
  return r;
}

}  // namespace detail

// Makes D::kind known to load_model(). Registering another type under a kind already taken
// (a built-in's included) throws std::logic_error. Returns true, so that a header can register
// at start-up.
template <class D, bool Cuda = detail::compiling_cuda>
bool register_layer() {
  std::unique_lock<std::mutex> lock;
  detail::add_layer_kind<D, Cuda>(detail::builtin_layer_registry<Cuda>(lock));
  return true;
}

// The description of a layer of kind `kind` with `sizes` (and, for a layer made of others,
// its sub-layers), able to make layers on Device. Throws std::invalid_argument for an unknown
// kind, or sizes or sub-layers its type rejects.
template <class Device, bool Cuda = detail::compiling_cuda>
LayerSpec decode_layer(const std::string& kind, const std::vector<std::int64_t>& sizes,
                       std::vector<LayerSpec> children = {}) {
  detail::DecodeLayer decode = nullptr;
  {
    std::unique_lock<std::mutex> lock;
    detail::LayerRegistry& r = detail::builtin_layer_registry<Cuda>(lock);
    const auto it = r.kinds.find(kind);
    if (it == r.kinds.end())
      throw std::invalid_argument("layer kind '" + kind +
                                  "' is unknown to this program (a layer type of your own? call "
                                  "hnn::register_layer<" + kind + ">() first)");
    decode = it->second.with_cuda;
    if (decode == nullptr && !std::is_same_v<Device, cuda>) decode = it->second.host;
    if (decode == nullptr)
      throw std::invalid_argument("layer kind '" + kind + "' was registered only in code that nvcc did not compile");
  }
  return decode(sizes, std::move(children));
}

}  // namespace hnn
