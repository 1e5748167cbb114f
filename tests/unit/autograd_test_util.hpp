// The finite-difference check of hnn/autograd.hpp's gradients: for a function f of several
// Vars, the scalar probed is L = sum(f(x) * probe) for a random probe, so dL/dOutput = probe;
// backward(probe) gives every input's gradient, compared element by element with
// (L(x + h) - L(x - h)) / 2h computed under a NoGradGuard, in double precision.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "hnn/autograd.hpp"
#include "ops_test_util.hpp"

namespace hnn::testing {

// A double tensor of uniform values in [low, high) from its own generator.
inline Tensor<double> rand_t(const Shape& s, std::uint64_t seed, double low = -1, double high = 1) {
  Rng rng(seed);
  return random_values<double>(s, rng, low, high);
}

using VarFunction = std::function<Var<double>(const std::vector<Var<double>>&)>;

inline double probed_sum(const Tensor<double>& y, const Tensor<double>& probe) {
  double s = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) s += y[i] * probe[i];
  return s;
}

// `inputs` are perturbed in place (and restored). Inputs listed in `constant` get no gradient.
inline ::testing::AssertionResult gradients_match(const VarFunction& f, std::vector<Tensor<double>> inputs,
                                                  std::uint64_t seed = 1, double tolerance = 1e-7,
                                                  const std::vector<bool>& constant = {}) {
  Rng rng(seed);
  std::vector<Var<double>> vars;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    vars.emplace_back(inputs[i], !(i < constant.size() && constant[i]));
  const Var<double> y = f(vars);
  const Tensor<double> probe = random_values<double>(y.shape(), rng);
  y.backward(probe);
  const auto loss = [&] {
    NoGradGuard no_grad;
    std::vector<Var<double>> plain;
    for (const Tensor<double>& t : inputs) plain.emplace_back(t);
    return probed_sum(f(plain).value(), probe);
  };
  const double h = 1e-6;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i < constant.size() && constant[i]) continue;
    if (!vars[i].has_grad()) return ::testing::AssertionFailure() << "input " << i << " received no gradient";
    const Tensor<double>& analytic = vars[i].grad();
    if (analytic.shape() != inputs[i].shape())
      return ::testing::AssertionFailure() << "input " << i << ": gradient of shape " << analytic.shape().str()
                                           << " for a value of shape " << inputs[i].shape().str();
    for (std::int64_t j = 0; j < inputs[i].numel(); ++j) {
      double& v = inputs[i][j];
      const double saved = v;
      v = saved + h;
      const double up = loss();
      v = saved - h;
      const double down = loss();
      v = saved;
      const double numeric = (up - down) / (2 * h);
      const double error = std::abs(numeric - analytic[j]) / std::max(1.0, std::abs(numeric) + std::abs(analytic[j]));
      if (!(error < tolerance))
        return ::testing::AssertionFailure() << "d/dinput" << i << "[" << j << "] of shape " << inputs[i].shape().str()
                                             << ": numeric " << numeric << ", analytic " << analytic[j];
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace hnn::testing
