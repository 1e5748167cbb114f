// Reading the PyTorch fixtures of the losses and optimizers (tests/fixtures/pytorch_losses
// and pytorch_optim .safetensors, float64 values written by tests/reference/make_pytorch_*.py)
// and comparing hnn's answers with them.
//
// How a tensor is compared: relative error = max_i |hnn_i - torch_i| / max(max_i |torch_i|, 1e-30),
// the largest difference against the tensor's own scale (a per-element relative error would be
// meaningless for entries that are nearly zero); hnn passes at 1e-5 in float32 and 1e-10 in
// float64, the bar.
#pragma once

#include <gtest/gtest.h>

#include <hnn/safetensors.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <vector>
#include "../support/test_helpers.hpp"

namespace hnn::testing {

template <class T>
constexpr double pytorch_tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-10;

struct PytorchFixture {
  std::map<std::string, Tensor<double, cpu>> tensors;
  std::map<std::string, std::string> metadata;

  const Tensor<double, cpu>& at(const std::string& name) const {
    const auto it = tensors.find(name);
    if (it == tensors.end()) throw std::runtime_error("the fixture has no tensor " + name);
    return it->second;
  }
  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  const std::string& meta(const std::string& key) const {
    const auto it = metadata.find(key);
    if (it == metadata.end()) throw std::runtime_error("the fixture has no metadata " + key);
    return it->second;
  }
  // A comma-separated metadata list.
  std::vector<std::string> list(const std::string& key) const { return split(meta(key), ','); }

  static std::vector<std::string> split(const std::string& s, char separator) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(s);
    while (std::getline(in, part, separator)) parts.push_back(part);
    return parts;
  }
  // "a=1;b=x" -> {a: 1, b: x}; a part without '=' maps to "".
  static std::map<std::string, std::string> options(const std::string& s) {
    std::map<std::string, std::string> out;
    for (const std::string& part : split(s, ';')) {
      const std::size_t eq = part.find('=');
      out[part.substr(0, eq)] = eq == std::string::npos ? "" : part.substr(eq + 1);
    }
    return out;
  }
};

// tests/fixtures/<file>, read once.
inline const PytorchFixture& pytorch_fixture(const std::string& file) {
  static std::map<std::string, PytorchFixture> cache;
  const auto it = cache.find(file);
  if (it != cache.end()) return it->second;
  const auto f = detail::safetensors::read_as<double>(std::string(HNN_SOURCE_DIR) + "/tests/fixtures/" + file);
  PytorchFixture out;
  for (std::size_t i = 0; i < f.names.size(); ++i) out.tensors.emplace(f.names[i], f.tensors[i]);
  out.metadata = f.metadata;
  return cache.emplace(file, std::move(out)).first->second;
}

// A fixture tensor as T: hnn::testing::as (tests/support/test_helpers.hpp); the inputs were
// rounded to float32 by the script, so float is exact.

// The relative error of `actual` against `expected` (see the top of this file).
template <class T>
double relative_error_to(const Tensor<T, cpu>& actual, const Tensor<double, cpu>& expected) {
  if (actual.shape() != expected.shape()) return INFINITY;
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < expected.numel(); ++i) {
    const double d = std::abs(static_cast<double>(actual[i]) - expected[i]);
    if (std::isnan(d)) return INFINITY;
    diff = std::max(diff, d);
    scale = std::max(scale, std::abs(expected[i]));
  }
  return diff / std::max(scale, 1e-30);
}

inline double relative_error_to(double actual, double expected) {
  const double d = std::abs(actual - expected);
  return std::isnan(d) ? INFINITY : d / std::max(std::abs(expected), 1e-30);
}

}  // namespace hnn::testing
