// What hnn's ONNX writer (hnn/onnx/export.hpp) and reader (hnn/onnx/import.hpp) share: the
// error type, the checked conversion of an ONNX TensorProto to and from an hnn tensor, and
// reading a serialized TensorProto file (the input_0.pb / output_0.pb files of ONNX's test
// data sets). Opt-in: needs ONNX's generated protobuf classes (link the CMake target hnn::onnx;
// Debian: libonnx-dev and libprotobuf-dev). hnn/hnn.hpp does not include it.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

// ONNX's headers need its build's definitions, which its CMake target (and so hnn::onnx)
// carries: without ONNX_ML, onnx_pb.h looks for a header that Debian's package does not have.
#if !defined(ONNX_NAMESPACE) || !defined(ONNX_ML)
#error "hnn/onnx: compile with ONNX's definitions ONNX_NAMESPACE=onnx and ONNX_ML=1 (link the CMake target hnn::onnx)"
#endif
#include <onnx/onnx_pb.h>

#include "hnn/tensor.hpp"

namespace hnn {

// Any problem with an ONNX file or model: the message starts with its source (the file's
// path) and says what is wrong on one line: which node (its name and operator), which
// attribute or tensor, which values.
class OnnxError : public std::runtime_error {
 public:
  OnnxError(const std::string& source, const std::string& what)
      : std::runtime_error(source + ": " + what), source_(source) {}
  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

namespace detail::onnx_io {

// A protobuf message cannot exceed 2 GB (2^31 - 1 bytes); ONNX files past it keep their
// tensors in external files, which hnn does not read.
inline constexpr std::uint64_t max_file_bytes = 0x7fffffffu;
// Element counts a tensor may claim before it is refused as absurd: neither the count nor its
// size in bytes (8 per element at most) can overflow.
inline constexpr std::uint64_t max_claimed_elements = std::uint64_t{1} << 56;

// Printable ASCII only and at most `limit` characters, so that a message built from a file
// stays one short line.
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

// "[6, 1, 5, 5]"
template <class Ints>
std::string list_str(const Ints& values) {
  std::string s = "[";
  for (const auto& v : values) s += (s.size() > 1 ? ", " : "") + std::to_string(v);
  return s + "]";
}

inline const char* data_type_name(int type) {
  switch (type) {
    case onnx::TensorProto_DataType_FLOAT: return "FLOAT";
    case onnx::TensorProto_DataType_UINT8: return "UINT8";
    case onnx::TensorProto_DataType_INT8: return "INT8";
    case onnx::TensorProto_DataType_UINT16: return "UINT16";
    case onnx::TensorProto_DataType_INT16: return "INT16";
    case onnx::TensorProto_DataType_INT32: return "INT32";
    case onnx::TensorProto_DataType_INT64: return "INT64";
    case onnx::TensorProto_DataType_STRING: return "STRING";
    case onnx::TensorProto_DataType_BOOL: return "BOOL";
    case onnx::TensorProto_DataType_FLOAT16: return "FLOAT16";
    case onnx::TensorProto_DataType_DOUBLE: return "DOUBLE";
    case onnx::TensorProto_DataType_UINT32: return "UINT32";
    case onnx::TensorProto_DataType_UINT64: return "UINT64";
    case onnx::TensorProto_DataType_COMPLEX64: return "COMPLEX64";
    case onnx::TensorProto_DataType_COMPLEX128: return "COMPLEX128";
    case onnx::TensorProto_DataType_BFLOAT16: return "BFLOAT16";
    default: return "an unknown type";
  }
}

// IEEE half and bfloat16 bits to float (exact: every such value is a float).
inline float half_bits_to_float(std::uint16_t h) {
  const bool negative = (h >> 15) != 0;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  float magnitude;
  if (exponent == 0x1f) magnitude = mantissa == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  else if (exponent == 0) magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero and subnormals
  else magnitude = std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
  return negative ? -magnitude : magnitude;
}
inline float bfloat16_bits_to_float(std::uint16_t b) {
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

// The dimensions and element count a tensor claims, checked against what it holds before
// anything is allocated for it: `what` names it in messages ("initializer '0.weight'").
struct TensorLayout {
  Shape shape;
  std::int64_t elements = 0;
  bool raw = false;  // the values are in raw_data (little-endian), else in the typed field
};

inline std::size_t element_bytes(int type) {
  switch (type) {
    case onnx::TensorProto_DataType_FLOAT:
    case onnx::TensorProto_DataType_INT32:
    case onnx::TensorProto_DataType_UINT32: return 4;
    case onnx::TensorProto_DataType_DOUBLE:
    case onnx::TensorProto_DataType_INT64:
    case onnx::TensorProto_DataType_UINT64: return 8;
    case onnx::TensorProto_DataType_FLOAT16:
    case onnx::TensorProto_DataType_BFLOAT16:
    case onnx::TensorProto_DataType_INT16:
    case onnx::TensorProto_DataType_UINT16: return 2;
    case onnx::TensorProto_DataType_INT8:
    case onnx::TensorProto_DataType_UINT8:
    case onnx::TensorProto_DataType_BOOL: return 1;
    default: return 0;
  }
}

// How many values the typed field of `type` holds in `t` (ONNX stores FLOAT16, BFLOAT16,
// BOOL and the small integers one per int32_data entry).
inline std::int64_t typed_count(const onnx::TensorProto& t, int type) {
  switch (type) {
    case onnx::TensorProto_DataType_FLOAT: return t.float_data_size();
    case onnx::TensorProto_DataType_DOUBLE: return t.double_data_size();
    case onnx::TensorProto_DataType_INT64: return t.int64_data_size();
    case onnx::TensorProto_DataType_UINT32:
    case onnx::TensorProto_DataType_UINT64: return t.uint64_data_size();
    default: return t.int32_data_size();
  }
}

inline TensorLayout tensor_layout(const std::string& source, const onnx::TensorProto& t, const std::string& what) {
  if (t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL || t.external_data_size() > 0)
    throw OnnxError(source, what + " keeps its data in an external file, which hnn does not read (save the model "
                                   "with its tensors inside the .onnx file)");
  if (t.has_segment()) throw OnnxError(source, what + " is a segment of a larger tensor, which hnn does not read");
  const int type = t.data_type();
  const std::size_t element = element_bytes(type);
  if (element == 0)
    throw OnnxError(source, what + " has data type " + data_type_name(type) + " (" + std::to_string(type) +
                                "), which hnn does not read");
  if (t.dims_size() > Shape::max_rank)
    throw OnnxError(source, what + " has rank " + std::to_string(t.dims_size()) + ", more than hnn's maximum of " +
                                std::to_string(Shape::max_rank));
  TensorLayout layout;
  layout.raw = t.has_raw_data();
  // The claim is compared with what the tensor holds before anything is allocated for it; the
  // count is built one dimension at a time, refused past 2^56 so that no product overflows.
  const std::uint64_t held = layout.raw ? t.raw_data().size() / element : static_cast<std::uint64_t>(typed_count(t, type));
  std::uint64_t elements = 1;
  bool too_many = false;
  for (int d = 0; d < t.dims_size(); ++d) {
    const std::int64_t dim = t.dims(d);
    if (dim < 0) throw OnnxError(source, what + " has a negative dimension: dims " + list_str(t.dims()));
    layout.shape.push_back(dim);
    if (dim != 0 && elements > max_claimed_elements / static_cast<std::uint64_t>(dim)) too_many = true;
    else elements *= static_cast<std::uint64_t>(dim);
  }
  for (int d = 0; d < layout.shape.rank(); ++d)
    if (layout.shape[d] == 0) too_many = false, elements = 0;
  const std::string claim = data_type_name(type) + std::string(" x ") + list_str(t.dims());
  if (too_many)
    throw OnnxError(source, what + " claims " + claim + ", more values than the " +
                                (layout.raw ? std::to_string(t.raw_data().size()) + " bytes of raw_data" :
                                              std::to_string(held) + " values") + " it holds");
  if (layout.raw) {
    if (static_cast<std::uint64_t>(t.raw_data().size()) != elements * element)
      throw OnnxError(source, what + " claims " + claim + " (" + std::to_string(elements * element) +
                                  " bytes), its raw_data holds " + std::to_string(t.raw_data().size()) + " bytes");
  } else if (held != elements) {
    throw OnnxError(source, what + " claims " + claim + " (" + std::to_string(elements) + " values), it holds " +
                                std::to_string(held));
  }
  layout.elements = static_cast<std::int64_t>(elements);
  return layout;
}

// Value i of a tensor whose layout has been checked, as double (exact for every type read).
inline double value_at(const onnx::TensorProto& t, const TensorLayout& layout, std::int64_t i) {
  const int type = t.data_type();
  if (layout.raw) {
    const std::size_t element = element_bytes(type);
    const auto* p = reinterpret_cast<const unsigned char*>(t.raw_data().data()) + static_cast<std::size_t>(i) * element;
    const std::uint64_t bits = load_le(p, element);
    switch (type) {
      case onnx::TensorProto_DataType_FLOAT: {
        const std::uint32_t b = static_cast<std::uint32_t>(bits);
        float f;
        std::memcpy(&f, &b, sizeof f);
        return f;
      }
      case onnx::TensorProto_DataType_DOUBLE: {
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return d;
      }
      case onnx::TensorProto_DataType_FLOAT16: return half_bits_to_float(static_cast<std::uint16_t>(bits));
      case onnx::TensorProto_DataType_BFLOAT16: return bfloat16_bits_to_float(static_cast<std::uint16_t>(bits));
      case onnx::TensorProto_DataType_INT8: return static_cast<std::int8_t>(bits);
      case onnx::TensorProto_DataType_INT16: return static_cast<std::int16_t>(bits);
      case onnx::TensorProto_DataType_INT32: return static_cast<std::int32_t>(bits);
      case onnx::TensorProto_DataType_INT64: return static_cast<double>(static_cast<std::int64_t>(bits));
      default: return static_cast<double>(bits);  // the unsigned types and BOOL
    }
  }
  const int at = static_cast<int>(i);
  switch (type) {
    case onnx::TensorProto_DataType_FLOAT: return t.float_data(at);
    case onnx::TensorProto_DataType_DOUBLE: return t.double_data(at);
    case onnx::TensorProto_DataType_INT64: return static_cast<double>(t.int64_data(at));
    case onnx::TensorProto_DataType_UINT32:
    case onnx::TensorProto_DataType_UINT64: return static_cast<double>(t.uint64_data(at));
    case onnx::TensorProto_DataType_FLOAT16:
      return half_bits_to_float(static_cast<std::uint16_t>(t.int32_data(at)));
    case onnx::TensorProto_DataType_BFLOAT16:
      return bfloat16_bits_to_float(static_cast<std::uint16_t>(t.int32_data(at)));
    default: return t.int32_data(at);
  }
}

inline bool is_floating(int type) {
  return type == onnx::TensorProto_DataType_FLOAT || type == onnx::TensorProto_DataType_DOUBLE ||
         type == onnx::TensorProto_DataType_FLOAT16 || type == onnx::TensorProto_DataType_BFLOAT16;
}

// A floating-point tensor (FLOAT, DOUBLE, FLOAT16 or BFLOAT16) as T on the host.
template <class T>
Tensor<T, cpu> read_floats(const std::string& source, const onnx::TensorProto& t, const std::string& what) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "hnn reads ONNX tensors as float or double");
  const TensorLayout layout = tensor_layout(source, t, what);
  if (!is_floating(t.data_type()))
    throw OnnxError(source, what + " has data type " + data_type_name(t.data_type()) +
                                ", not a floating-point type (FLOAT, DOUBLE, FLOAT16, BFLOAT16)");
  Tensor<T, cpu> out(layout.shape);
  for (std::int64_t i = 0; i < layout.elements; ++i) out[i] = static_cast<T>(value_at(t, layout, i));
  return out;
}

// An integer tensor (INT64 or INT32: shapes and axes) as int64 values.
inline std::vector<std::int64_t> read_ints(const std::string& source, const onnx::TensorProto& t,
                                           const std::string& what) {
  const TensorLayout layout = tensor_layout(source, t, what);
  const int type = t.data_type();
  if (type != onnx::TensorProto_DataType_INT64 && type != onnx::TensorProto_DataType_INT32)
    throw OnnxError(source, what + " has data type " + data_type_name(type) + ", not INT64 or INT32");
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < layout.elements; ++i) {
    if (layout.raw && type == onnx::TensorProto_DataType_INT64) {  // exact, without the trip through double
      const auto* p = reinterpret_cast<const unsigned char*>(t.raw_data().data()) + 8 * static_cast<std::size_t>(i);
      out.push_back(static_cast<std::int64_t>(load_le(p, 8)));
    } else if (type == onnx::TensorProto_DataType_INT64) {
      out.push_back(t.int64_data(static_cast<int>(i)));
    } else {
      out.push_back(static_cast<std::int64_t>(value_at(t, layout, i)));
    }
  }
  return out;
}

// `values` (any shape) as a FLOAT tensor named `name`, little-endian in raw_data.
template <class T>
void write_floats(onnx::TensorProto& t, const std::string& name, const Tensor<T, cpu>& values) {
  t.set_name(name);
  t.set_data_type(onnx::TensorProto_DataType_FLOAT);
  for (int d = 0; d < values.rank(); ++d) t.add_dims(values.dim(d));
  std::string bytes;
  bytes.reserve(static_cast<std::size_t>(values.numel()) * 4);
  for (std::int64_t i = 0; i < values.numel(); ++i) {
    const float f = static_cast<float>(values[i]);
    std::uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<char>((bits >> (8 * b)) & 0xffu));
  }
  t.set_raw_data(bytes);
}

inline std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw OnnxError(path, std::string("cannot open the file: ") + (err ? std::strerror(err) : "unknown error"));
  }
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw OnnxError(path, "cannot read the file's size");
  if (static_cast<std::uint64_t>(size) > max_file_bytes)
    throw OnnxError(path, "the file is " + std::to_string(size) +
                              " bytes, over protobuf's 2 GB limit for one message: not an ONNX file hnn can read");
  in.seekg(0, std::ios::beg);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), size);
  if (in.gcount() != size) throw OnnxError(path, "cannot read the file (I/O error)");
  return bytes;
}

}  // namespace detail::onnx_io

// A serialized ONNX TensorProto (the input_<k>.pb / output_<k>.pb files of ONNX's test data
// sets), as T on the host.
template <class T = float>
Tensor<T, cpu> read_onnx_tensor(const std::string& path) {
  const std::string bytes = detail::onnx_io::read_file_bytes(path);
  onnx::TensorProto t;
  if (!t.ParseFromString(bytes)) throw OnnxError(path, "not a serialized ONNX TensorProto (protobuf cannot parse it)");
  return detail::onnx_io::read_floats<T>(path, t, "the tensor " + detail::onnx_io::in_quotes(t.name()));
}

// Writes `values` as a serialized ONNX TensorProto (FLOAT) named `name`.
template <class T>
void write_onnx_tensor(const Tensor<T, cpu>& values, const std::string& path, const std::string& name = "") {
  onnx::TensorProto t;
  detail::onnx_io::write_floats(t, name, values);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !t.SerializeToOstream(&out)) throw OnnxError(path, "cannot write the tensor file");
}

}  // namespace hnn
