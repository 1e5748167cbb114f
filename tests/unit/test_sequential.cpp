// LeNet-5 as a whole (tests/support/lenet5.hpp, the lenet5 program's model): its shape
// trace, parameter count, shape errors.
#include <gtest/gtest.h>

#include "../support/lenet5.hpp"
#include "gradient_check.hpp"

using namespace hnn;

TEST(LeNet5, ShapeTraceMatchesD2l) {
  const auto net = lenet::lenet5<float, cpu>();
  EXPECT_EQ(net.trace(Shape{1, 1, 28, 28}),
            "Conv2d output shape: (1, 6, 28, 28)\n"
            "Sigmoid output shape: (1, 6, 28, 28)\n"
            "AvgPool2d output shape: (1, 6, 14, 14)\n"
            "Conv2d output shape: (1, 16, 10, 10)\n"
            "Sigmoid output shape: (1, 16, 10, 10)\n"
            "AvgPool2d output shape: (1, 16, 5, 5)\n"
            "Flatten output shape: (1, 400)\n"
            "Linear output shape: (1, 120)\n"
            "Sigmoid output shape: (1, 120)\n"
            "Linear output shape: (1, 84)\n"
            "Sigmoid output shape: (1, 84)\n"
            "Linear output shape: (1, 10)\n");
}

TEST(LeNet5, HasTheTextbookParameterCount) {
  EXPECT_EQ((lenet::lenet5<float, cpu>().parameter_count()), 61706);
  EXPECT_EQ((lenet::lenet5<float, cpu>(lenet::Variant::relu).parameter_count()), 61706);
  const std::string summary = lenet::lenet5<float, cpu>().summary(Shape{1, 1, 28, 28});
  EXPECT_NE(summary.find("total parameters: 61706"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Linear(400, 120)"), std::string::npos) << summary;
}

TEST(LeNet5, ForwardGivesOneRowOfLogitsPerImage) {
  auto net = lenet::lenet5<float, cpu>();
  Rng rng(3);
  Tensor<float> x(Shape{5, 1, 28, 28});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.uniform());
  const Tensor<float>& y = net.forward(x);
  EXPECT_EQ(y.shape(), Shape({5, 10}));
  for (std::int64_t i = 0; i < y.numel(); ++i) EXPECT_TRUE(std::isfinite(y[i]));
}

TEST(Sequential, MismatchNamesTheLayerItsIndexAndBothSizes) {
  // On 32x32 images LeNet's flatten yields 16*6*6 = 576 features, not the 400 Linear expects.
  auto net = lenet::lenet5<float, cpu>();
  for (const bool run_forward : {false, true}) {
    try {
      if (run_forward) net.forward(Tensor<float>::zeros(Shape{2, 1, 32, 32}));
      else net.output_shape(Shape{1, 1, 32, 32});
      FAIL() << "expected a ShapeError";
    } catch (const ShapeError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("layer 7 of 12"), std::string::npos) << what;
      EXPECT_NE(what.find("Linear(400, 120)"), std::string::npos) << what;
      EXPECT_NE(what.find("576"), std::string::npos) << what;
    }
  }
}

TEST(Sequential, InitIsDeterministicPerSeed) {
  auto a = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 7);
  auto b = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 7);
  auto c = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 8);
  EXPECT_EQ(a.parameters()[0].value->to_vector(), b.parameters()[0].value->to_vector());
  EXPECT_NE(a.parameters()[0].value->to_vector(), c.parameters()[0].value->to_vector());
}

TEST(Sequential, XavierBoundsHold) {
  auto net = lenet::lenet5<double, cpu>();
  // Linear(400, 120): bound sqrt(6 / 520); Conv2d(1, 6, 5): sqrt(6 / (25 + 150)).
  const auto check = [](const Tensor<double>& w, double bound) {
    double largest = 0;
    for (std::int64_t i = 0; i < w.numel(); ++i) largest = std::max(largest, std::abs(w[i]));
    EXPECT_LE(largest, bound);
    EXPECT_GT(largest, 0.9 * bound);  // uniform draws reach close to the bound
  };
  check(*net.parameters()[0].value, std::sqrt(6.0 / 175.0));
  check(*net.parameters()[4].value, std::sqrt(6.0 / 520.0));
}

TEST(Sequential, WholeNetworkGradientMatchesFiniteDifferences) {
  // A small network through every layer type, checked end to end in double precision.
  Sequential<double, cpu> net(Conv2d(1, 2, 3).padding(1), Sigmoid(), AvgPool2d(2), Conv2d(2, 3, 2), ReLU(), MaxPool2d(2),
                              Flatten(), Linear(3, 4));
  net.init(5);
  Rng rng(6);
  const Tensor<double> x = hnn::testing::random_tensor(Shape{2, 1, 6, 6}, rng);
  const Tensor<double> probe = hnn::testing::random_tensor(Shape{2, 4}, rng);
  auto loss = [&] {
    const Tensor<double>& y = net.forward(x);
    double s = 0;
    for (std::int64_t i = 0; i < y.numel(); ++i) s += y[i] * probe[i];
    return s;
  };
  loss();
  net.backward(probe);
  for (const auto& p : net.parameters()) {
    const Tensor<double> analytic = p.grad->clone();
    for (std::int64_t i = 0; i < p.value->numel(); ++i) {
      double& v = (*p.value)[i];
      const double saved = v;
      v = saved + 1e-6;
      const double up = loss();
      v = saved - 1e-6;
      const double down = loss();
      v = saved;
      EXPECT_LT(hnn::testing::relative_error((up - down) / 2e-6, analytic[i]), 1e-7) << p.name << "[" << i << "]";
    }
  }
}

TEST(Sequential, CopiesParametersBetweenModelsOfTheSameArchitecture) {
  auto a = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 1);
  auto b = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 2);
  b.copy_parameters_from(a);
  EXPECT_EQ(a.parameters()[6].value->to_vector(), b.parameters()[6].value->to_vector());
  auto relu = lenet::lenet5<float, cpu>(lenet::Variant::relu);
  EXPECT_THROW(relu.copy_parameters_from(a), ShapeError);
}
