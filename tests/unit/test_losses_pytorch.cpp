// Every loss against PyTorch's own numbers: tests/fixtures/pytorch_losses.safetensors, written
// by tests/reference/make_pytorch_losses.py (torch.nn's losses in float64 on inputs rounded to
// float32). For every case (each loss, each reduction, class weights, label smoothing,
// pos_weight, delta and beta), the reduced loss and its gradient agree to 1e-5 relative in
// float32 and 1e-10 in float64 (pytorch_fixture.hpp says how tensors are compared).
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hnn/loss.hpp"
#include "pytorch_fixture.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

const PytorchFixture& fixture() { return pytorch_fixture("pytorch_losses.safetensors"); }

std::vector<double> values_of(const Tensor<double, cpu>& t) { return t.to_vector(); }

template <class T>
void check_case(const std::string& name) {
  SCOPED_TRACE(name);
  const PytorchFixture& f = fixture();
  const auto options = PytorchFixture::options(f.meta(name));
  const Reduction reduction = options.at("reduction") == "sum" ? Reduction::sum : Reduction::mean;
  const std::string kind = options.at("loss");
  const Tensor<T, cpu> prediction = as<T>(f.at(name + ".prediction"));
  const std::vector<double> weight = f.has(name + ".weight") ? values_of(f.at(name + ".weight")) : std::vector<double>{};
  const auto number = [&](const char* key, double otherwise) {
    return options.count(key) != 0 ? std::stod(options.at(key)) : otherwise;
  };
  double loss_value = 0;
  Tensor<T, cpu> grad;
  if (kind == "cross_entropy") {
    const Tensor<double, cpu>& t = f.at(name + ".target");
    Tensor<std::int32_t, cpu> labels(t.shape());
    for (std::int64_t i = 0; i < t.numel(); ++i) labels[i] = static_cast<std::int32_t>(t[i]);
    CrossEntropyLoss<T, cpu> loss(reduction, number("label_smoothing", 0), weight);
    loss_value = loss(prediction, labels);
    grad = loss.gradient().clone();
  } else {
    const Tensor<T, cpu> target = as<T>(f.at(name + ".target"));
    std::unique_ptr<RegressionLoss<T, cpu>> loss;
    if (kind == "mse") loss = std::make_unique<MSELoss<T, cpu>>(reduction);
    else if (kind == "l1") loss = std::make_unique<L1Loss<T, cpu>>(reduction);
    else if (kind == "huber") loss = std::make_unique<HuberLoss<T, cpu>>(reduction, number("delta", 1));
    else if (kind == "smooth_l1") loss = std::make_unique<SmoothL1Loss<T, cpu>>(reduction, number("beta", 1));
    else if (kind == "bce_with_logits") loss = std::make_unique<BCEWithLogitsLoss<T, cpu>>(reduction, weight);
    ASSERT_NE(loss, nullptr) << "unknown loss " << kind;
    loss_value = (*loss)(prediction, target);
    grad = loss->gradient().clone();
  }
  const double expected = f.at(name + ".loss")[0];
  EXPECT_LT(relative_error_to(loss_value, expected), pytorch_tolerance<T>) << "loss " << loss_value << " vs " << expected;
  EXPECT_LT(relative_error_to(grad, f.at(name + ".grad")), pytorch_tolerance<T>) << "gradient";
}

TEST(LossesAgainstPytorch, EveryCaseInFloat32) {
  const auto cases = fixture().list("cases");
  ASSERT_GE(cases.size(), 30u);
  for (const std::string& name : cases) check_case<float>(name);
}

TEST(LossesAgainstPytorch, EveryCaseInFloat64) {
  for (const std::string& name : fixture().list("cases")) check_case<double>(name);
}

}  // namespace
