// safetensors: weights that travel between hnn and PyTorch (or anything else that reads
// Hugging Face's format). Opt-in: hnn/hnn.hpp does not include this header, which needs
// nlohmann/json (link the CMake target hnn::safetensors).
//
//   hnn::save_safetensors(model, "m.safetensors");           // F32 (float) or F64 (double)
//   hnn::load_safetensors(model, "m.safetensors");           // by name and shape, any order
//   auto net = hnn::load_model_safetensors<float>("m.safetensors");  // hnn-written files only
//   hnn::SafetensorsFile f = hnn::read_safetensors("m.safetensors"); // every tensor as float
//
// The format: an 8-byte little-endian header length N, N bytes of JSON
//   {"0.weight": {"dtype": "F32", "shape": [6, 1, 5, 5], "data_offsets": [0, 600]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the data section, every tensor's raw little-endian row-major bytes, [begin, end)
// relative to the section's start. The tensors must cover the section exactly, without
// holes or overlaps.
//
// Reading checks everything before anything is converted, and load_safetensors() writes
// the model only after every tensor has been matched to a parameter: a bad file throws a
// SafetensorsError ("<path>: <what is wrong>", one line) and leaves the model untouched.
// hnn reads F32, F64, F16 and BF16 (converted to the model's T; F64 into a double model is
// exact), and ignores PyTorch's BatchNorm step counter (an I64 scalar named
// "*num_batches_tracked"), which no hnn layer has. Any other dtype is refused.
//
// save_safetensors() records in __metadata__ "hnn.format_version" and "hnn.architecture"
// (a JSON array of {"kind", "sizes", "description"}, one per layer), which is what
// load_model_safetensors() rebuilds the model from; PyTorch ignores both.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "hnn/io/checkpoint.hpp"
#include "hnn/io/file.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/tensor.hpp"

namespace hnn {

// Any problem with a safetensors file; the message starts with the file's path.
class SafetensorsError : public std::runtime_error {
 public:
  SafetensorsError(const std::string& path, const std::string& what)
      : std::runtime_error(path + ": " + what), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The version save_safetensors() records as "hnn.format_version".
inline constexpr int safetensors_format_version = 1;

// A whole file converted to T on the host: names in the order of their data offsets.
template <class T>
struct SafetensorsFileOf {
  std::vector<std::string> names;
  std::vector<Tensor<T, cpu>> tensors;
  std::map<std::string, std::string> metadata;
};

// Every tensor as float.
struct SafetensorsFile : SafetensorsFileOf<float> {};

namespace detail::safetensors {

// A header larger than this is refused before anything is allocated for it (the reference
// implementation's limit).
inline constexpr std::uint64_t max_header_bytes = 100'000'000;

enum class DType { F16, BF16, F32, F64, I64 };

struct Entry {
  std::string name;
  DType dtype = DType::F32;
  std::string dtype_name;
  Shape shape;
  std::uint64_t begin = 0, end = 0;  // relative to the data section
};

// The validated layout of a file; `data` points into the caller's bytes.
struct Layout {
  std::vector<Entry> entries;  // by data offset; ignored tensors (num_batches_tracked) left out
  std::map<std::string, std::string> metadata;
  const unsigned char* data = nullptr;
};

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Printable ASCII only, so that a message built from the file stays one line.
inline std::string printable(const std::string& s, std::size_t limit = 80) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > limit) out += "...";
  return out;
}

inline std::string in_quotes(const std::string& name) { return "'" + printable(name) + "'"; }

// Element size in bytes of every dtype the format defines, 0 for a name it does not.
inline std::size_t dtype_size(const std::string& d) {
  if (d == "BOOL" || d == "U8" || d == "I8" || d == "F8_E5M2" || d == "F8_E4M3") return 1;
  if (d == "I16" || d == "U16" || d == "F16" || d == "BF16") return 2;
  if (d == "I32" || d == "U32" || d == "F32") return 4;
  if (d == "I64" || d == "U64" || d == "F64") return 8;
  return 0;
}

inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h >> 15) << 31;
  const std::uint32_t exponent = (h >> 10) & 0x1f;
  std::uint32_t mantissa = h & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf, NaN (payload kept)
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);  // 127 - 15 = 112
  } else if (mantissa == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal: normalise. The value is mantissa x 2^-24.
    int e = -1;
    do {
      ++e;
      mantissa <<= 1;
    } while ((mantissa & 0x400u) == 0);
    bits = sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline float bfloat16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline std::uint64_t load_le(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

// A non-negative integer that fits std::uint64_t, else an error naming `what`.
inline std::uint64_t unsigned_value(const std::string& path, const nlohmann::json& v, const std::string& what) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer()) throw SafetensorsError(path, what + " is negative (" + std::to_string(v.get<std::int64_t>()) + ")");
  throw SafetensorsError(path, what + " is not a non-negative integer (got " + printable(v.dump(), 40) + ")");
}

// Parses and validates a whole file held in memory (the fuzzer's entry point). `path`
// only names the source in messages.
inline Layout parse(const unsigned char* bytes, std::size_t size, const std::string& path) {
  using nlohmann::json;
  if (size < 8)
    throw SafetensorsError(path, "not a safetensors file: only " + std::to_string(size) +
                                     " bytes, shorter than the 8-byte header length");
  const std::uint64_t header_bytes = load_le(bytes, 8);
  if (header_bytes > max_header_bytes)
    throw SafetensorsError(path, "the header length is " + std::to_string(header_bytes) +
                                     " bytes, over the limit of 100000000: not a safetensors file");
  if (header_bytes > size - 8)
    throw SafetensorsError(path, "the header length " + std::to_string(header_bytes) + " runs past the end of the file (" +
                                     std::to_string(size - 8) + " bytes after the length)");
  if (header_bytes == 0) throw SafetensorsError(path, "the header is empty (length 0): not a safetensors file");

  // Top-level keys, to refuse a name given twice (a JSON object would keep only one).
  std::set<std::string> keys;
  std::string duplicate;
  const json::parser_callback_t on_key = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && !keys.insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
  json header;
  try {
    header = json::parse(header_begin, header_begin + header_bytes, on_key);
  } catch (const json::exception& e) {
    throw SafetensorsError(path, "the header is not valid JSON: " + printable(e.what(), 200));
  }
  if (!header.is_object())
    throw SafetensorsError(path, std::string("the header is a JSON ") + header.type_name() + ", not an object");
  if (!duplicate.empty()) throw SafetensorsError(path, "the header names " + in_quotes(duplicate) + " twice");

  const std::uint64_t data_size = size - 8 - header_bytes;
  Layout layout;
  layout.data = bytes + 8 + header_bytes;
  std::vector<Entry> all;  // every tensor, ignored ones too: they take part in the layout
  std::vector<bool> ignored;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object())
        throw SafetensorsError(path, std::string("__metadata__ is a JSON ") + value.type_name() +
                                         ", not an object of strings");
      for (const auto& [key, text] : value.items()) {
        if (!text.is_string())
          throw SafetensorsError(path, "__metadata__ " + in_quotes(key) + " is a JSON " + text.type_name() +
                                           ", not a string");
        layout.metadata[key] = text.get<std::string>();
      }
      continue;
    }
    const std::string what = "tensor " + in_quotes(name);
    if (!value.is_object())
      throw SafetensorsError(path, what + " is a JSON " + value.type_name() + ", not an object");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!value.contains(field)) throw SafetensorsError(path, what + " has no " + field);
    const json& dtype = value["dtype"];
    const json& shape = value["shape"];
    const json& offsets = value["data_offsets"];
    if (!dtype.is_string()) throw SafetensorsError(path, what + ": dtype is not a string");
    if (!shape.is_array()) throw SafetensorsError(path, what + ": shape is not an array");
    if (!offsets.is_array() || offsets.size() != 2)
      throw SafetensorsError(path, what + ": data_offsets is not an array of two integers [begin, end]");

    Entry e;
    e.name = name;
    e.dtype_name = dtype.get<std::string>();
    const std::size_t element = dtype_size(e.dtype_name);
    if (element == 0) throw SafetensorsError(path, what + " has an unknown dtype " + in_quotes(e.dtype_name));
    if (shape.size() > static_cast<std::size_t>(Shape::max_rank))
      throw SafetensorsError(path, what + " has rank " + std::to_string(shape.size()) + ", more than hnn's maximum of " +
                                       std::to_string(Shape::max_rank));
    // Element and byte counts, bounded by the data section (no overflow, nothing taken on trust).
    std::uint64_t elements = 1;
    bool too_big = false;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      const std::uint64_t dim = unsigned_value(path, shape[d], what + ": shape[" + std::to_string(d) + "]");
      if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw SafetensorsError(path, what + ": shape[" + std::to_string(d) + "] is too large (" + std::to_string(dim) + ")");
      e.shape.push_back(static_cast<std::int64_t>(dim));
      if (dim != 0 && elements > data_size / dim) too_big = true;
      else elements *= dim;
    }
    e.begin = unsigned_value(path, offsets[0], what + ": data_offsets[0]");
    e.end = unsigned_value(path, offsets[1], what + ": data_offsets[1]");
    if (e.end < e.begin)
      throw SafetensorsError(path, what + ": data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                                       "] end before they begin");
    if (e.end > data_size)
      throw SafetensorsError(path, what + ": bytes [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                                       ") run past the end of the data section (" + std::to_string(data_size) + " bytes)");
    // Shapes with a zero dimension hold no bytes, whatever the other dimensions say.
    for (int d = 0; d < e.shape.rank(); ++d)
      if (e.shape[d] == 0) too_big = false, elements = 0;
    if (too_big || elements > data_size / element || elements * element != e.end - e.begin)
      throw SafetensorsError(path, what + ": " + e.dtype_name + " x " + e.shape.str() + " needs " +
                                       (too_big || elements > data_size / element
                                            ? std::string("more bytes than the file holds")
                                            : std::to_string(elements * element) + " bytes") +
                                       ", its data_offsets span " + std::to_string(e.end - e.begin));
    bool ignore = false;
    if (e.dtype_name == "F32") e.dtype = DType::F32;
    else if (e.dtype_name == "F64") e.dtype = DType::F64;
    else if (e.dtype_name == "F16") e.dtype = DType::F16;
    else if (e.dtype_name == "BF16") e.dtype = DType::BF16;
    else if (e.dtype_name == "I64" && ends_with(name, "num_batches_tracked") && e.shape.rank() == 0)
      e.dtype = DType::I64, ignore = true;  // PyTorch BatchNorm's step counter
    else
      throw SafetensorsError(path, what + " has dtype " + e.dtype_name +
                                       ", which hnn does not read (it reads F32, F64, F16 and BF16)");
    all.push_back(std::move(e));
    ignored.push_back(ignore);
  }

  // The tensors, by offset, must tile the data section exactly.
  std::vector<std::size_t> order(all.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return all[a].begin != all[b].begin ? all[a].begin < all[b].begin : all[a].end < all[b].end;
  });
  std::uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (std::size_t i : order) {
    const Entry& e = all[i];
    const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
    if (e.begin < covered)
      throw SafetensorsError(path, "tensor " + in_quotes(e.name) + " bytes " + range + " overlap tensor " +
                                       in_quotes(previous->name) + " [" + std::to_string(previous->begin) + ", " +
                                       std::to_string(previous->end) + ")");
    if (e.begin > covered)
      throw SafetensorsError(path, "the data section has a hole: bytes [" + std::to_string(covered) + ", " +
                                       std::to_string(e.begin) + ") before tensor " + in_quotes(e.name) +
                                       " belong to no tensor");
    covered = e.end;
    previous = &e;
  }
  if (covered != data_size)
    throw SafetensorsError(path, "the data section has " + std::to_string(data_size - covered) +
                                     " bytes after the last tensor (at " + std::to_string(covered) +
                                     ") that belong to no tensor");
  for (std::size_t i : order)
    if (!ignored[i]) layout.entries.push_back(std::move(all[i]));
  return layout;
}

// One tensor's bytes converted to T.
template <class T>
Tensor<T, cpu> convert(const Layout& layout, const Entry& e) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "safetensors: T is float or double");
  Tensor<T, cpu> t(e.shape);
  const unsigned char* p = layout.data + e.begin;
  const std::int64_t n = t.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::size_t at = static_cast<std::size_t>(i);
    switch (e.dtype) {
      case DType::F32: {
        const std::uint32_t bits = static_cast<std::uint32_t>(load_le(p + 4 * at, 4));
        float f;
        std::memcpy(&f, &bits, sizeof f);
        t[i] = static_cast<T>(f);
        break;
      }
      case DType::F64: {
        const std::uint64_t bits = load_le(p + 8 * at, 8);
        double d;
        std::memcpy(&d, &bits, sizeof d);
        t[i] = static_cast<T>(d);
        break;
      }
      case DType::F16: t[i] = static_cast<T>(half_to_float(static_cast<std::uint16_t>(load_le(p + 2 * at, 2)))); break;
      case DType::BF16: t[i] = static_cast<T>(bfloat16_to_float(static_cast<std::uint16_t>(load_le(p + 2 * at, 2)))); break;
      case DType::I64: break;  // never converted: parse() leaves these out
    }
  }
  return t;
}

template <class T>
SafetensorsFileOf<T> read_as(const std::string& path) {
  const std::vector<unsigned char> bytes = io::read_file<SafetensorsError>(path, "file");
  const Layout layout = parse(bytes.data(), bytes.size(), path);
  SafetensorsFileOf<T> f;
  f.metadata = layout.metadata;
  for (const Entry& e : layout.entries) {
    f.names.push_back(e.name);
    f.tensors.push_back(convert<T>(layout, e));
  }
  return f;
}

// --- The two couplings to the architecture encoding (hnn/io/checkpoint.hpp's today) --------

// One layer as JSON: {"kind", "sizes", "description"}, and "children" for a layer made of others.
inline nlohmann::ordered_json layer_json(const CheckpointLayer& l) {
  nlohmann::ordered_json layer = {{"kind", l.kind}, {"sizes", l.sizes}, {"description", l.description}};
  if (!l.children.empty()) {
    nlohmann::ordered_json children = nlohmann::ordered_json::array();
    for (const CheckpointLayer& child : l.children) children.push_back(layer_json(child));
    layer["children"] = std::move(children);
  }
  return layer;
}

// The model's layers as the JSON text stored under "hnn.architecture".
template <class T, class Device>
std::string architecture_json(const Sequential<T, Device>& model) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const LayerSpec& spec : model.specs()) layers.push_back(layer_json(detail::checkpoint::encode_layer(spec)));
  return layers.dump();
}

// The layer record a layer_json() object holds; a SafetensorsError naming `path` and `where` if none.
inline CheckpointLayer layer_from_json(const std::string& path, const nlohmann::json& layer, const std::string& where,
                                       int depth) {
  if (!layer.is_object() || !layer.contains("kind") || !layer["kind"].is_string() || !layer.contains("sizes") ||
      !layer["sizes"].is_array() || !layer.contains("description") || !layer["description"].is_string())
    throw SafetensorsError(path, where + " is not an object with kind, sizes and description");
  CheckpointLayer l;
  l.kind = layer["kind"].get<std::string>();
  l.description = layer["description"].get<std::string>();
  for (const nlohmann::json& v : layer["sizes"]) {
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<std::uint64_t>() > (1ull << 62)))
      throw SafetensorsError(path, where + " has a size that is not an integer: " + printable(v.dump(), 40));
    l.sizes.push_back(v.get<std::int64_t>());
  }
  if (layer.contains("children")) {
    if (!layer["children"].is_array()) throw SafetensorsError(path, where + "'s children are not a JSON array");
    if (depth + 1 >= checkpoint_max_nesting)
      throw SafetensorsError(path, where + " nests sub-layers more than " + std::to_string(checkpoint_max_nesting) +
                                       " deep");
    for (const nlohmann::json& child : layer["children"])
      l.children.push_back(
          layer_from_json(path, child, where + " sub-layer " + std::to_string(l.children.size()), depth + 1));
  }
  return l;
}

// The layers that JSON text describes; a SafetensorsError naming `path` when it does not.
template <class Device>
std::vector<LayerSpec> specs_from_architecture(const std::string& path, const std::string& text) {
  const nlohmann::json layers = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!layers.is_array() || layers.empty())
    throw SafetensorsError(path, "hnn.architecture is not a non-empty JSON array of layers");
  std::vector<LayerSpec> specs;
  for (const nlohmann::json& layer : layers) {
    const CheckpointLayer l =
        layer_from_json(path, layer, "hnn.architecture layer " + std::to_string(specs.size()), 0);
    try {
      specs.push_back(detail::checkpoint::decode_layer<Device>(path, l));
    } catch (const CheckpointError& e) {
      const std::string message = e.what();
      throw SafetensorsError(path, printable(message.substr(std::min(message.size(), path.size() + 2)), 300));
    }
  }
  return specs;
}

// How many parameter values `specs` make, without building them (a file is refused when it
// holds fewer, before a model of absurd sizes could be allocated).
inline std::uint64_t parameter_elements(const std::vector<LayerSpec>& specs) {
  long double total = 0;  // no overflow whatever the sizes
  for (const LayerSpec& spec : specs) {
    if (const auto* c = spec.get_if<Conv2d>())
      total += static_cast<long double>(c->out_channels()) * c->in_channels() * c->kernel() * c->kernel() +
               (c->bias() ? c->out_channels() : 0);
    if (const auto* l = spec.get_if<Linear>())
      total += static_cast<long double>(l->out_features) * l->in_features + (l->bias() ? l->out_features : 0);
    if (!spec.children().empty()) total += static_cast<long double>(parameter_elements(spec.children()));
  }
  return total > 1e18L ? std::numeric_limits<std::uint64_t>::max() : static_cast<std::uint64_t>(total);
}

// -----------------------------------------------------------------------------------------

// Throws unless `f` holds exactly the model's parameters and buffers (by name) with the
// model's shapes. Returns, per state_dict() entry, the index of its tensor in `f`.
template <class T, class Device>
std::vector<std::size_t> match(const std::string& path, const SafetensorsFileOf<T>& f, const Sequential<T, Device>& model) {
  std::map<std::string, std::size_t> in_file;
  for (std::size_t i = 0; i < f.names.size(); ++i) in_file[f.names[i]] = i;
  const auto& state = model.state_dict();
  std::vector<std::size_t> index;
  for (const auto& [name, value] : state) {
    const auto it = in_file.find(name);
    if (it == in_file.end())
      throw SafetensorsError(path, "tensor '" + name + "' is missing: the model needs " + std::to_string(state.size()) +
                                       " tensors, the file holds " + std::to_string(f.names.size()));
    const Shape& s = f.tensors[it->second].shape();
    if (s != value->shape())
      throw SafetensorsError(path, "tensor '" + name + "' has shape " + s.str() + " in the file, the model expects " +
                                       value->shape().str());
    index.push_back(it->second);
    in_file.erase(it);
  }
  if (!in_file.empty())
    throw SafetensorsError(path, "unexpected tensor " + in_quotes(in_file.begin()->first) +
                                     ": the model has no parameter or buffer of that name (it has " +
                                     std::to_string(state.size()) + ": " + state.front().name + " ... " +
                                     state.back().name + ")");
  return index;
}

template <class T, class Device>
void copy_into(const SafetensorsFileOf<T>& f, const std::vector<std::size_t>& index, Sequential<T, Device>& model) {
  const auto& state = model.state_dict();
  for (std::size_t i = 0; i < state.size(); ++i) state[i].value->copy_from(f.tensors[index[i]]);
}

}  // namespace detail::safetensors

// Reads and validates a whole file; every tensor as T (float or double). F64 into double
// is exact; F32, F16 and BF16 are exact in either.
template <class T>
SafetensorsFileOf<T> read_safetensors_as(const std::string& path) {
  return detail::safetensors::read_as<T>(path);
}

// Reads and validates a whole file; every tensor as float.
inline SafetensorsFile read_safetensors(const std::string& path) {
  return SafetensorsFile{detail::safetensors::read_as<float>(path)};
}

// Writes the model's parameters and buffers (state_dict(): batch norm's running statistics
// too), named as PyTorch's state_dict names them ("0.weight", "1.running_mean"),
// as F32 (float models) or F64 (double models), atomically. `metadata` goes into
// __metadata__ beside "hnn.format_version" and "hnn.architecture" (keys starting with
// "hnn." are reserved).
template <class T, class Device>
void save_safetensors(const Sequential<T, Device>& model, const std::string& path,
                      const std::map<std::string, std::string>& metadata = {}) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "save_safetensors: T is float or double");
  for (const auto& kv : metadata)
    if (kv.first.rfind("hnn.", 0) == 0)
      throw std::invalid_argument("hnn::save_safetensors: metadata key '" + kv.first + "' is reserved for hnn");
  nlohmann::ordered_json header;
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  meta["hnn.format_version"] = std::to_string(safetensors_format_version);
  meta["hnn.architecture"] = detail::safetensors::architecture_json(model);
  for (const auto& [key, value] : metadata) meta[key] = value;
  header["__metadata__"] = meta;

  std::vector<Tensor<T, cpu>> host;
  std::uint64_t offset = 0;
  for (const auto& [name, value] : model.state_dict()) {
    host.push_back(value->template to<cpu>());
    std::vector<std::int64_t> shape;
    for (int d = 0; d < host.back().rank(); ++d) shape.push_back(host.back().dim(d));
    const std::uint64_t end = offset + host.back().numel() * sizeof(T);
    header[name] = {
        {"dtype", sizeof(T) == 4 ? "F32" : "F64"}, {"shape", shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section 8-byte aligned, as the reference does

  std::vector<unsigned char> bytes;
  bytes.reserve(8 + text.size() + offset);
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<unsigned char>(static_cast<std::uint64_t>(text.size()) >> (8 * i)));
  bytes.insert(bytes.end(), text.begin(), text.end());
  for (const Tensor<T, cpu>& t : host)
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t> bits;
      std::memcpy(&bits, &t[i], sizeof bits);
      for (std::size_t b = 0; b < sizeof bits; ++b) bytes.push_back(static_cast<unsigned char>(bits >> (8 * b)));
    }
  io::write_file_atomically<SafetensorsError>(path, "file", bytes);
}

// Loads the tensors in `path` into `model`'s parameters by name ("0.weight", ...), in any
// order; every parameter must be there with its shape, and nothing else. Returns the
// file's metadata. On any error the model is untouched.
template <class T, class Device>
std::map<std::string, std::string> load_safetensors(Sequential<T, Device>& model, const std::string& path) {
  SafetensorsFileOf<T> f = read_safetensors_as<T>(path);
  const std::vector<std::size_t> index = detail::safetensors::match(path, f, model);
  detail::safetensors::copy_into(f, index, model);
  return std::move(f.metadata);
}

// Builds the model recorded in an hnn-written file's "hnn.architecture" and loads it.
template <class T, class Device = cpu>
Sequential<T, Device> load_model_safetensors(const std::string& path,
                                             std::map<std::string, std::string>* metadata = nullptr) {
  SafetensorsFileOf<T> f = read_safetensors_as<T>(path);
  const auto it = f.metadata.find("hnn.architecture");
  if (it == f.metadata.end())
    throw SafetensorsError(path, "no hnn.architecture in __metadata__ (not written by hnn): build the model "
                                 "yourself and call load_safetensors");
  const std::vector<LayerSpec> specs = detail::safetensors::specs_from_architecture<Device>(path, it->second);
  std::uint64_t held = 0;
  for (const auto& t : f.tensors) held += static_cast<std::uint64_t>(t.numel());
  const std::uint64_t needed = detail::safetensors::parameter_elements(specs);
  if (needed > held)
    throw SafetensorsError(path, "hnn.architecture needs " + std::to_string(needed) + " parameter values, the file holds " +
                                     std::to_string(held));
  Sequential<T, Device> model(specs);
  const std::vector<std::size_t> index = detail::safetensors::match(path, f, model);
  detail::safetensors::copy_into(f, index, model);
  if (metadata) *metadata = std::move(f.metadata);
  return model;
}

}  // namespace hnn
