// Three expressions written with hnn's ops on hnn::Var against the values and gradients PyTorch
// computed for them (tests/reference/make_pytorch_autograd.py ->
// tests/fixtures/pytorch_autograd.safetensors, float64): softmax attention, a focal loss and
// layer normalisation. In float64 hnn must match to 1e-10; in float32 (inputs rounded once) to
// 1e-5, relative to max(1, |value|).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "hnn/autograd.hpp"
#include "hnn/safetensors.hpp"
#include "ops_test_util.hpp"
#include "../support/test_helpers.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

const std::string fixture = std::string(HNN_SOURCE_DIR) + "/tests/fixtures/pytorch_autograd.safetensors";

std::map<std::string, Tensor<double>> load() {
  const SafetensorsFileOf<double> f = read_safetensors_as<double>(fixture);
  std::map<std::string, Tensor<double>> m;
  for (std::size_t i = 0; i < f.names.size(); ++i) m.emplace(f.names[i], f.tensors[i]);
  return m;
}

using hnn::testing::as;

template <class T>
::testing::AssertionResult matches(const Tensor<T>& actual, const Tensor<double>& expected, double tolerance) {
  std::vector<double> e(expected.data(), expected.data() + expected.numel());
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape " << actual.shape().str() << " against PyTorch's " << expected.shape().str();
  return all_near(actual, e, tolerance);
}

template <class T>
void attention(const std::map<std::string, Tensor<double>>& f, double tolerance) {
  Var<T> q(as<T>(f.at("attention.q")), true), k(as<T>(f.at("attention.k")), true), v(as<T>(f.at("attention.v")), true);
  const Var<T> out = matmul(softmax(matmul(q, transpose(k, -2, -1)) / std::sqrt(T(3)), -1), v);
  (out * as<T>(f.at("attention.probe"))).sum().backward();
  EXPECT_TRUE(matches(out.value(), f.at("attention.out"), tolerance)) << "out";
  EXPECT_TRUE(matches(q.grad(), f.at("attention.grad_q"), tolerance)) << "dq";
  EXPECT_TRUE(matches(k.grad(), f.at("attention.grad_k"), tolerance)) << "dk";
  EXPECT_TRUE(matches(v.grad(), f.at("attention.grad_v"), tolerance)) << "dv";
}

template <class T>
void focal_loss(const std::map<std::string, Tensor<double>>& f, double tolerance) {
  Var<T> logits(as<T>(f.at("focal.logits")), true);
  const Tensor<double>& labels = f.at("focal.labels");
  Tensor<T> onehot = Tensor<T>::zeros(logits.shape());
  for (std::int64_t n = 0; n < labels.numel(); ++n) onehot.at(n, static_cast<std::int64_t>(labels[n])) = T(1);
  // log pt from log_softmax (stable), pt = exp(log pt); loss = mean(-(1 - pt)^2 log pt).
  const Var<T> log_pt = (log_softmax(logits, 1) * onehot).sum(1);
  const Var<T> pt = exp(log_pt);
  const Var<T> loss = (-pow(1.0 - pt, 2.0) * log_pt).mean();
  loss.backward();
  EXPECT_NEAR(loss.item(), f.at("focal.loss")[0], tolerance * std::max(1.0, std::abs(f.at("focal.loss")[0]))) << "loss";
  EXPECT_TRUE(matches(logits.grad(), f.at("focal.grad_logits"), tolerance)) << "dlogits";
}

template <class T>
void layer_norm(const std::map<std::string, Tensor<double>>& f, double tolerance) {
  Var<T> x(as<T>(f.at("layernorm.x")), true), gamma(as<T>(f.at("layernorm.gamma")), true),
      beta(as<T>(f.at("layernorm.beta")), true);
  const Var<T> mu = x.mean(-1, true);
  const Var<T> var = ((x - mu) * (x - mu)).mean(-1, true);
  const Var<T> out = (x - mu) / sqrt(var + 1e-5) * gamma + beta;
  (out * as<T>(f.at("layernorm.probe"))).sum().backward();
  EXPECT_TRUE(matches(out.value(), f.at("layernorm.out"), tolerance)) << "out";
  EXPECT_TRUE(matches(x.grad(), f.at("layernorm.grad_x"), tolerance)) << "dx";
  EXPECT_TRUE(matches(gamma.grad(), f.at("layernorm.grad_gamma"), tolerance)) << "dgamma";
  EXPECT_TRUE(matches(beta.grad(), f.at("layernorm.grad_beta"), tolerance)) << "dbeta";
}

TEST(AutogradPyTorch, SoftmaxAttention) {
  const auto f = load();
  attention<double>(f, 1e-10);
  attention<float>(f, 1e-5);
}

TEST(AutogradPyTorch, FocalLoss) {
  const auto f = load();
  focal_loss<double>(f, 1e-10);
  focal_loss<float>(f, 1e-5);
}

TEST(AutogradPyTorch, LayerNormalisation) {
  const auto f = load();
  layer_norm<double>(f, 1e-10);
  layer_norm<float>(f, 1e-5);
}

}  // namespace
