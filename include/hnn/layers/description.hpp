// What every layer description shares (layers/layer.hpp says what a description is): the
// checks its constructor and from_sizes() run, the exact numbers its str() and sizes() write,
// and the error a shape that does not fit throws.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/tensor.hpp"

namespace hnn {

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

}  // namespace detail

}  // namespace hnn
