// Central finite differences in double precision, for checking the backward() of any layer,
// fused stage or whole model.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "hnn/init.hpp"
#include "hnn/tensor.hpp"

namespace hnn::testing {

inline Tensor<double> random_tensor(const Shape& shape, Rng& rng, double low = -1, double high = 1) {
  Tensor<double> t(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform(low, high);
  return t;
}

// Relative error that stays meaningful when both values are tiny.
inline double relative_error(double a, double b) { return std::abs(a - b) / std::max(1.0, std::abs(a) + std::abs(b)); }

// Checks backward() of `layer` (a Layer<double, cpu>, or a Sequential<double, cpu> with
// set_input_gradient(true)) at `input`: the scalar probed is L = sum(forward(x) * weights) for
// random weights, so dL/dOutput = weights. Compares dL/dInput and every parameter gradient
// with (L(v + h) - L(v - h)) / 2h, element by element. `what` names it in failures.
template <class Model>
void expect_gradients_match(Model& layer, Tensor<double> input, std::uint64_t seed, double tolerance = 1e-7,
                            const std::string& what = "layer") {
  Rng rng(seed);
  const Shape out_shape = layer.forward(input).shape();
  const Tensor<double> probe = random_tensor(out_shape, rng);
  auto loss = [&] {
    const Tensor<double>& y = layer.forward(input);
    double sum = 0;
    for (std::int64_t i = 0; i < y.numel(); ++i) sum += y[i] * probe[i];
    return sum;
  };
  loss();
  const Tensor<double> grad_input = layer.backward(probe).clone();
  std::vector<Tensor<double>> grads;
  for (auto& p : layer.parameters()) grads.push_back(p.grad->clone());

  const double h = 1e-6;
  auto numeric = [&](double& v) {
    const double saved = v;
    v = saved + h;
    const double up = loss();
    v = saved - h;
    const double down = loss();
    v = saved;
    return (up - down) / (2 * h);
  };
  for (std::int64_t i = 0; i < input.numel(); ++i)
    ASSERT_LT(relative_error(numeric(input[i]), grad_input[i]), tolerance)
        << what << ": d/dinput[" << i << "] numeric " << numeric(input[i]) << " vs analytic "
        << grad_input[i];
  auto params = layer.parameters();
  for (std::size_t p = 0; p < params.size(); ++p)
    for (std::int64_t i = 0; i < params[p].value->numel(); ++i)
      ASSERT_LT(relative_error(numeric((*params[p].value)[i]), grads[p][i]), tolerance)
          << what << ": d/d" << params[p].name << "[" << i << "]";
}

// Gives every parameter of the layer random values (so no gradient check runs on zeros).
template <class Model>
void randomize_parameters(Model& layer, Rng& rng) {
  for (auto& p : layer.parameters())
    for (std::int64_t i = 0; i < p.value->numel(); ++i) (*p.value)[i] = rng.uniform(-1, 1);
}

}  // namespace hnn::testing
