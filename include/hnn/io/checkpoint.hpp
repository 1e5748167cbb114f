// Checkpoints bound to models: hnn::save writes a Sequential's architecture, parameters and
// buffers (and optionally the training state an exact resume needs) to one self-checking file;
// hnn::load reads one into a model of the same architecture; hnn::load_model builds the model
// from the file. The format and its codec are io/checkpoint_format.hpp's (spec:
// docs/checkpoint-format.md); the atomic write is io/file.hpp's.
//
//   hnn::save(model, "lenet5.hnn");                  // parameters go through the host, any device
//   hnn::load(model, "lenet5.hnn");                  // same architecture required
//   auto net = hnn::load_model<float, hnn::cpu>("lenet5.hnn");  // architecture from the file
//
// load() checks the architecture and each parameter's name and shape against the model, and
// only after everything has been read and verified writes the parameters; on any error (a
// CheckpointError naming the file and the mismatch) the model is left untouched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hnn/io/checkpoint_format.hpp"
#include "hnn/io/file.hpp"
#include "hnn/model/residual.hpp"
#include "hnn/model/registry.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/tensor.hpp"

namespace hnn {

namespace detail::checkpoint {

inline CheckpointLayer encode_layer(const LayerSpec& spec) {
  CheckpointLayer l{spec.kind(), spec.sizes(), spec.str(), {}};
  for (const LayerSpec& child : spec.children()) l.children.push_back(encode_layer(child));
  return l;
}

// The description a checkpoint's layer record names, through the layer registry
// (hnn/model/registry.hpp), checked against the recorded description.
template <class Device>
LayerSpec decode_layer(const std::string& path, const CheckpointLayer& l) {
  try {
    std::vector<LayerSpec> children;
    for (const CheckpointLayer& child : l.children) children.push_back(decode_layer<Device>(path, child));
    LayerSpec spec = hnn::decode_layer<Device>(l.kind, l.sizes, std::move(children));
    if (spec.str() != l.description)
      throw CheckpointError(path, "layer " + l.kind + " is recorded as '" + l.description + "' but its sizes describe '" +
                                      spec.str() + "'");
    return spec;
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::invalid_argument& e) {
    throw CheckpointError(path, std::string("invalid layer in the file: ") + e.what());
  }
}

template <class T>
Tensor<float, cpu> to_float_host(const Tensor<T, cpu>& t) {
  Tensor<float, cpu> f(t.shape());
  for (std::int64_t i = 0; i < t.numel(); ++i) f[i] = static_cast<float>(t[i]);
  return f;
}

}  // namespace detail::checkpoint

// Writes `model` (and `extras`) to `path` atomically; see the format at the top of this file.
template <class T, class Device>
void save(const Sequential<T, Device>& model, const std::string& path, const CheckpointExtras& extras = {}) {
  using namespace detail::checkpoint;
  Writer w;
  w.bytes.assign(magic, magic + sizeof magic);  // (insert() into the empty vector trips GCC 12's -Wstringop-overflow)
  w.u32(checkpoint_format_version);
  w.u64(0);  // the file size, filled in below

  w.count(model.specs().size());
  for (const LayerSpec& spec : model.specs()) write_layer(w, encode_layer(spec));
  const auto& state = model.state_dict();
  w.count(state.size());
  for (const auto& tensor : state) {
    w.str(tensor.name);
    w.tensor(to_float_host(tensor.value->template to<cpu>()));
  }
  w.count(extras.metadata.size());
  for (const auto& [key, value] : extras.metadata) {
    w.str(key);
    w.str(value);
  }
  w.u8(extras.training ? 1 : 0);
  if (extras.training) {
    const TrainingState& s = *extras.training;
    w.i64(s.epoch);
    w.u64(s.shuffle_state);
    w.u64(s.order.size());
    for (std::int32_t v : s.order) w.u32(static_cast<std::uint32_t>(v));
    w.str(s.optimizer.name);
    w.i64(s.optimizer.step);
    w.count(s.optimizer.buffers.size());
    for (const auto& b : s.optimizer.buffers) w.tensor(b);
    w.str(s.schedule.name);
    w.i64(s.schedule.steps);
  }

  const std::uint64_t total = w.bytes.size() + trailer_size;
  for (int i = 0; i < 8; ++i) w.bytes[12 + static_cast<std::size_t>(i)] = static_cast<unsigned char>(total >> (8 * i));
  w.u32(crc32_of(w.bytes.data(), w.bytes.size()));
  io::write_file_atomically<CheckpointError>(path, "checkpoint", w.bytes);
}

namespace detail::checkpoint {

// Throws unless checkpoint `c` fits `model` exactly: same layers, same parameter names and shapes.
template <class T, class Device>
void require_fits(const std::string& path, const Checkpoint& c, const Sequential<T, Device>& model) {
  // One line each, as every hnn error: the first differing layer says enough.
  const auto& specs = model.specs();
  for (std::size_t i = 0; i < std::min(specs.size(), c.layers.size()); ++i)
    if (specs[i].str() != c.layers[i].description)
      throw CheckpointError(path, "the checkpoint's architecture differs from the model's at layer " + std::to_string(i) +
                                      ": the file has " + c.layers[i].description + ", the model has " +
                                      specs[i].str());
  if (specs.size() != c.layers.size())
    throw CheckpointError(path, "the checkpoint has " + std::to_string(c.layers.size()) + " layers (" + c.describe_all() +
                                    "), the model has " + std::to_string(specs.size()) + " (" + model.describe_all() + ")");
  const auto& state = model.state_dict();
  if (state.size() != c.parameters.size())
    throw CheckpointError(path, "the checkpoint holds " + std::to_string(c.parameters.size()) +
                                    " tensors, the model has " + std::to_string(state.size()));
  for (std::size_t i = 0; i < state.size(); ++i) {
    if (c.parameter_names[i] != state[i].name)
      throw CheckpointError(path, "tensor " + std::to_string(i) + " is named " + c.parameter_names[i] +
                                      " in the file, " + state[i].name + " in the model");
    if (c.parameters[i].shape() != state[i].value->shape())
      throw CheckpointError(path, "tensor " + c.parameter_names[i] + " has shape " + c.parameters[i].shape().str() +
                                      " in the file, " + state[i].value->shape().str() + " in the model");
  }
}

template <class T, class Device>
void copy_parameters(const Checkpoint& c, Sequential<T, Device>& model) {
  const auto& state = model.state_dict();
  // Convert everything first, then write: nothing below can fail halfway on the host.
  std::vector<Tensor<T, cpu>> values;
  for (const Tensor<float, cpu>& f : c.parameters) {
    Tensor<T, cpu> v(f.shape());
    for (std::int64_t i = 0; i < f.numel(); ++i) v[i] = static_cast<T>(f[i]);
    values.push_back(std::move(v));
  }
  for (std::size_t i = 0; i < state.size(); ++i) state[i].value->copy_from(values[i]);
}

}  // namespace detail::checkpoint

// Loads the parameters in `path` into `model`, whose architecture must match the file's.
// Returns what else the file carries (training state, metadata). On any error the model
// is untouched.
template <class T, class Device>
CheckpointExtras load(Sequential<T, Device>& model, const std::string& path) {
  Checkpoint c = read_checkpoint(path);
  detail::checkpoint::require_fits(path, c, model);
  detail::checkpoint::copy_parameters(c, model);
  return std::move(c.extras);
}

// Builds a model with the architecture recorded in `path` and loads its parameters.
template <class T, class Device = cpu>
Sequential<T, Device> load_model(const std::string& path, CheckpointExtras* extras = nullptr) {
  Checkpoint c = read_checkpoint(path);
  std::vector<LayerSpec> specs;
  for (const CheckpointLayer& l : c.layers) specs.push_back(detail::checkpoint::decode_layer<Device>(path, l));
  if (specs.empty()) throw CheckpointError(path, "the checkpoint records no layers");
  Sequential<T, Device> model(std::move(specs));
  detail::checkpoint::require_fits(path, c, model);
  detail::checkpoint::copy_parameters(c, model);
  if (extras) *extras = std::move(c.extras);
  return model;
}

}  // namespace hnn
