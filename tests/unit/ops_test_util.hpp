// What the tests of hnn/ops.hpp and hnn/autograd.hpp share: random tensors, a walk over every
// index of a shape, the element of a broadcast operand at an index of the result (the plain
// definition the kernels are checked against), and element-by-element comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "hnn/init.hpp"
#include "hnn/tensor.hpp"

namespace hnn::testing {

template <class T>
Tensor<T> random_values(const Shape& shape, Rng& rng, double low = -1, double high = 1) {
  Tensor<T> t(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(rng.uniform(low, high));
  return t;
}

// Calls f(index) for every index of `shape`, in row-major order.
inline void for_each_index(const Shape& shape, const std::function<void(const std::vector<std::int64_t>&)>& f) {
  if (shape.numel() == 0) return;
  std::vector<std::int64_t> index(static_cast<std::size_t>(shape.rank()), 0);
  for (std::int64_t n = 0; n < shape.numel(); ++n) {
    f(index);
    for (int d = shape.rank() - 1; d >= 0; --d) {
      if (++index[static_cast<std::size_t>(d)] < shape[d]) break;
      index[static_cast<std::size_t>(d)] = 0;
    }
  }
}

// The flat offset into a tensor of `shape` of `index` (an index of a result of rank >= shape's),
// read NumPy's way: aligned from the right, a size-1 dimension repeated.
inline std::int64_t broadcast_offset(const Shape& shape, const std::vector<std::int64_t>& index) {
  const int shift = static_cast<int>(index.size()) - shape.rank();
  std::int64_t offset = 0;
  for (int d = 0; d < shape.rank(); ++d) {
    const std::int64_t i = shape[d] == 1 ? 0 : index[static_cast<std::size_t>(d + shift)];
    offset = offset * shape[d] + i;
  }
  return offset;
}

inline std::int64_t flat_offset(const Shape& shape, const std::vector<std::int64_t>& index) {
  return broadcast_offset(shape, index);
}

// |a - b| <= tolerance * max(1, |b|) for every element (NaN only where the reference has NaN).
template <class T>
::testing::AssertionResult all_near(const Tensor<T>& actual, const std::vector<double>& expected, double tolerance) {
  if (actual.numel() != static_cast<std::int64_t>(expected.size()))
    return ::testing::AssertionFailure() << "sizes differ: " << actual.numel() << " against " << expected.size();
  for (std::int64_t i = 0; i < actual.numel(); ++i) {
    const double a = static_cast<double>(actual[i]), e = expected[static_cast<std::size_t>(i)];
    if (std::isnan(e) && std::isnan(a)) continue;
    if (std::isinf(e) && a == e) continue;
    if (!(std::abs(a - e) <= tolerance * std::max(1.0, std::abs(e))))
      return ::testing::AssertionFailure() << "element " << i << " of shape " << actual.shape().str() << ": got " << a
                                           << ", expected " << e << " (tolerance " << tolerance << ")";
  }
  return ::testing::AssertionSuccess();
}

template <class T>
::testing::AssertionResult all_near(const Tensor<T>& actual, const Tensor<T>& expected, double tolerance) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << actual.shape().str() << " against "
                                         << expected.shape().str();
  std::vector<double> e(static_cast<std::size_t>(expected.numel()));
  for (std::int64_t i = 0; i < expected.numel(); ++i) e[static_cast<std::size_t>(i)] = static_cast<double>(expected[i]);
  return all_near(actual, e, tolerance);
}

// Whether `f` throws std::invalid_argument whose message contains every one of `parts`.
template <class F>
::testing::AssertionResult throws_naming(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    for (const std::string& part : parts)
      if (what.find(part) == std::string::npos)
        return ::testing::AssertionFailure() << "the message \"" << what << "\" does not name \"" << part << "\"";
    return ::testing::AssertionSuccess() << what;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw another exception: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace hnn::testing
