// Shared pieces of the CUDA-vs-CPU tests: the skip when no GPU is visible, random
// host data, NaN-poisoned device buffers, and the comparisons with their tolerance.
//
// How results are compared (float32 against the CPU twin, also float32):
//   error_i = |cuda_i - cpu_i| / max(|cpu_i|, rms(cpu))
// and the test asserts max_i error_i < tolerance (1e-4 for a kernel, 1e-3 after
// several training steps). For elements of typical or large size this is the plain
// relative error. For elements that come out near zero because a long sum cancels
// (a GEMM output, a weight gradient summed over 200,000 pixels) it is the error
// relative to the tensor's typical magnitude (its root mean square), since the
// per-element relative error of such a value measures only rounding noise. A single
// wrong element still fails; so does any NaN or infinity where the CPU has a finite
// value, which is what catches an element the CUDA kernel never wrote (every CUDA
// output buffer is filled with 0xFF bytes, a NaN, before the kernel runs).
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "hnn/cuda/memory.cuh"
#include "hnn/init.hpp"
#include "hnn/tensor.hpp"

// Every CUDA test starts with this: on a machine without a GPU it skips, with a reason.
#define HNN_REQUIRE_GPU() \
  if (!::hnn::cuda_available()) GTEST_SKIP() << "no CUDA device visible: CUDA test skipped"

namespace hnn::testing {

// The tolerance of one CUDA kernel against its CPU twin, both in float32.
constexpr double kernel_tolerance = 1e-4;

// `n` values uniform in [low, high) drawn from `rng`.
inline std::vector<float> random_floats(std::int64_t n, Rng& rng, double low = -1, double high = 1) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.uniform(low, high));
  return v;
}

// `n` class labels uniform in [0, classes).
inline std::vector<std::int32_t> random_labels(std::int64_t n, std::int64_t classes, Rng& rng) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (std::int32_t& x : v) x = static_cast<std::int32_t>(rng.below(static_cast<std::uint64_t>(classes)));
  return v;
}

// A uniformly random permutation of 0 .. n-1 (Fisher-Yates).
inline std::vector<std::int32_t> random_permutation(std::int64_t n, Rng& rng) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(v[static_cast<std::size_t>(i)], v[static_cast<std::size_t>(rng.below(static_cast<std::uint64_t>(i) + 1))]);
  return v;
}

// A 1-D device copy of host values.
template <class T>
Tensor<T, cuda> to_device(const std::vector<T>& host) {
  return Tensor<T, cuda>::from_host(Shape{static_cast<std::int64_t>(host.size())}, host.data());
}

// A device buffer of `n` elements whose every byte is 0xFF: NaN as a float or double,
// -1 as an int32. An element the kernel under test does not write stays that way.
template <class T>
Tensor<T, cuda> poisoned(std::int64_t n) {
  Tensor<T, cuda> t(Shape{n});
  Memory<cuda>::fill_bytes(t.data(), 0xFF, t.bytes());
  return t;
}

// Waits for the kernels queued on hnn's stream and surfaces any asynchronous error.
inline void synchronize() {
  HNN_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
  HNN_CUDA_CHECK(cudaGetLastError());
}

// Copies a device tensor back, after checking that the queued work finished cleanly.
template <class T>
std::vector<T> to_host(const Tensor<T, cuda>& t) {
  synchronize();
  return t.to_vector();
}

inline double root_mean_square(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * static_cast<double>(x);
  return v.empty() ? 0.0 : std::sqrt(sum / static_cast<double>(v.size()));
}

// max_i |actual_i - expected_i| / max(|expected_i|, rms(expected)) < tolerance, and no
// NaN or infinity in `actual` where `expected` is finite (see the top of this file).
inline ::testing::AssertionResult all_close(const std::vector<float>& actual, const std::vector<float>& expected,
                                            double tolerance = kernel_tolerance) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes differ: " << actual.size() << " from CUDA, " << expected.size()
                                         << " from the CPU";
  const double scale = root_mean_square(expected);
  std::size_t worst = 0, non_finite = 0, first_non_finite = 0;
  double worst_error = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    if (!std::isfinite(a) && std::isfinite(e)) {
      if (non_finite++ == 0) first_non_finite = i;
      continue;
    }
    if (!std::isfinite(e)) continue;  // the caller compares non-finite references itself
    const double denominator = std::max(std::abs(e), scale);
    const double error = a == e ? 0.0 : std::abs(a - e) / denominator;  // a == e also covers 0 / 0
    if (error > worst_error) {
      worst_error = error;
      worst = i;
    }
  }
  if (non_finite > 0)
    return ::testing::AssertionFailure() << non_finite << " of " << actual.size()
                                         << " CUDA values are NaN or infinite (unwritten?), the first at index "
                                         << first_non_finite << " (CPU value " << expected[first_non_finite] << ")";
  std::ostringstream summary;
  summary.precision(9);
  summary << "max error " << worst_error << " (tolerance " << tolerance << ") at index " << worst << " of "
          << actual.size() << ": CUDA " << (actual.empty() ? 0.f : actual[worst]) << ", CPU "
          << (expected.empty() ? 0.f : expected[worst]) << ", rms of CPU values " << scale;
  if (worst_error < tolerance) return ::testing::AssertionSuccess() << summary.str();
  return ::testing::AssertionFailure() << summary.str();
}

// Exact equality, reporting how many elements differ and the first of them.
template <class T>
::testing::AssertionResult all_equal(const std::vector<T>& actual, const std::vector<T>& expected) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes differ: " << actual.size() << " from CUDA, " << expected.size()
                                         << " from the CPU";
  std::size_t mismatches = 0, first = 0;
  for (std::size_t i = 0; i < actual.size(); ++i)
    if (!(actual[i] == expected[i]) && mismatches++ == 0) first = i;
  if (mismatches == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << mismatches << " of " << actual.size() << " elements differ, the first at index "
                                       << first << ": CUDA " << actual[first] << ", CPU " << expected[first];
}

// |actual - expected| / |expected| < tolerance, for single numbers such as a loss.
inline ::testing::AssertionResult relatively_close(double actual, double expected, double tolerance) {
  const double error = actual == expected ? 0.0 : std::abs(actual - expected) / std::abs(expected);
  std::ostringstream summary;
  summary.precision(12);
  summary << "CUDA " << actual << ", CPU " << expected << ", relative error " << error << " (tolerance "
          << tolerance << ")";
  if (error < tolerance) return ::testing::AssertionSuccess() << summary.str();
  return ::testing::AssertionFailure() << summary.str();
}

}  // namespace hnn::testing
