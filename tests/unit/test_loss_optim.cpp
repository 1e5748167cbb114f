#include <gtest/gtest.h>

#include <cmath>

#include "gradient_check.hpp"
#include "hnn/loss.hpp"
#include "hnn/optim.hpp"

using namespace hnn;
using hnn::testing::random_tensor;
using hnn::testing::relative_error;

TEST(SoftmaxCrossEntropy, UniformLogitsCostLogOfTheClassCount) {
  SoftmaxCrossEntropy<double> loss;
  const auto logits = Tensor<double>::full(Shape{2, 3}, 0.7);
  const auto labels = Tensor<std::int32_t>::from_vector(Shape{2}, {0, 2});
  EXPECT_NEAR(loss.mean_loss(logits, labels), std::log(3.0), 1e-12);
}

TEST(SoftmaxCrossEntropy, HugeLogitsStayFinite) {
  SoftmaxCrossEntropy<float> loss;
  const auto logits = Tensor<float>::from_vector(Shape{1, 2}, {1000.0f, 0.0f});
  const auto labels = Tensor<std::int32_t>::from_vector(Shape{1}, {1});
  EXPECT_NEAR(loss.mean_loss(logits, labels), 1000.0, 1e-3);
  const auto& grad = loss.forward_backward(logits, labels);
  EXPECT_NEAR(grad[0], 1.0f, 1e-6);
  EXPECT_NEAR(grad[1], -1.0f, 1e-6);
}

TEST(SoftmaxCrossEntropy, CountsCorrectPredictionsAndFlagsNonFiniteLoss) {
  SoftmaxCrossEntropy<float> loss;
  const auto logits = Tensor<float>::from_vector(Shape{3, 2}, {2, 1, 0, 5, 3, 4});
  loss.accumulate(logits, Tensor<std::int32_t>::from_vector(Shape{3}, {0, 1, 0}));
  EXPECT_EQ(loss.totals().correct, 2.0);
  EXPECT_EQ(loss.totals().first_bad_batch, -1);
  const auto nan_logits = Tensor<float>::from_vector(Shape{1, 2}, {std::nanf(""), 0});
  const std::int64_t batch = 41;
  loss.forward_backward(nan_logits, Tensor<std::int32_t>::from_vector(Shape{1}, {0}), &batch);
  EXPECT_EQ(loss.totals().first_bad_batch, 41);
}

// A batch is bad when its MEAN loss passes the limit: one huge sample among many is not.
TEST(SoftmaxCrossEntropy, FlagsTheFirstBatchWhoseMeanLossExceedsTheLimit) {
  SoftmaxCrossEntropy<float> loss;
  const auto labels = Tensor<std::int32_t>::from_vector(Shape{2}, {1, 1});
  // Losses 300 and 0 (rounded): mean 150, finite.
  const auto mean150 = Tensor<float>::from_vector(Shape{2, 2}, {300, 0, 0, 100});
  const std::int64_t b4 = 4, b5 = 5, b6 = 6;
  loss.forward_backward(mean150, labels, &b4, 200.0);
  EXPECT_EQ(loss.totals().first_bad_batch, -1) << "mean 150 is within a limit of 200";
  loss.forward_backward(mean150, labels, &b5, 100.0);
  EXPECT_EQ(loss.totals().first_bad_batch, 5) << "mean 150 exceeds a limit of 100";
  EXPECT_NEAR(loss.totals().bad_batch_loss, 150.0, 1e-3);
  const auto mean400 = Tensor<float>::from_vector(Shape{2, 2}, {800, 0, 0, 100});
  loss.forward_backward(mean400, labels, &b6, 100.0);
  EXPECT_EQ(loss.totals().first_bad_batch, 5) << "the first bad batch is kept";
  EXPECT_NEAR(loss.totals().bad_batch_loss, 150.0, 1e-3);
  EXPECT_NEAR(loss.totals().loss_sum, 300.0 + 300.0 + 800.0, 1e-2) << "bad batches still count in the totals";

  // Without a limit only NaN and infinity count, and an infinite mean is named as such.
  loss.reset();
  loss.forward_backward(mean400, labels, &b4);
  EXPECT_EQ(loss.totals().first_bad_batch, -1);
  const auto infinite = Tensor<float>::from_vector(Shape{2, 2}, {0, -INFINITY, 0, 1});
  loss.forward_backward(infinite, labels, &b6);
  EXPECT_EQ(loss.totals().first_bad_batch, 6);
  EXPECT_EQ(loss.totals().bad_batch_loss, INFINITY);
}

TEST(SoftmaxCrossEntropy, GradientMatchesFiniteDifferences) {
  Rng rng(21);
  Tensor<double> logits = random_tensor(Shape{4, 5}, rng, -3, 3);
  const auto labels = Tensor<std::int32_t>::from_vector(Shape{4}, {0, 4, 2, 2});
  SoftmaxCrossEntropy<double> loss;
  const Tensor<double> grad = loss.forward_backward(logits, labels).clone();
  const double h = 1e-6;
  for (std::int64_t i = 0; i < logits.numel(); ++i) {
    const double saved = logits[i];
    logits[i] = saved + h;
    const double up = loss.mean_loss(logits, labels);
    logits[i] = saved - h;
    const double down = loss.mean_loss(logits, labels);
    logits[i] = saved;
    EXPECT_LT(relative_error((up - down) / (2 * h), grad[i]), 1e-8) << "logit " << i;
  }
}

TEST(SoftmaxCrossEntropy, RejectsMismatchedShapes) {
  SoftmaxCrossEntropy<float> loss;
  EXPECT_THROW(loss.accumulate(Tensor<float>(Shape{3, 2}), Tensor<std::int32_t>(Shape{2})), std::invalid_argument);
}

TEST(SGD, PlainMomentumAndWeightDecayFollowPyTorch) {
  Tensor<double> w = Tensor<double>::from_vector(Shape{2}, {1.0, -2.0});
  Tensor<double> g = Tensor<double>::from_vector(Shape{2}, {0.5, 0.25});
  std::vector<Parameter<double, cpu>> params{{"weight", &w, &g}};

  SGD<double> plain(params, {0.1, 0, 0});
  plain.step();
  EXPECT_NEAR(w[0], 0.95, 1e-15);
  EXPECT_NEAR(w[1], -2.025, 1e-15);

  w = Tensor<double>::from_vector(Shape{2}, {1.0, -2.0});
  params[0].value = &w;
  SGD<double> heavy(params, {0.1, 0.9, 0.01});
  heavy.step();  // v = g + wd*w = 0.51; w = 1 - 0.051
  EXPECT_NEAR(w[0], 0.949, 1e-12);
  heavy.step();  // v = 0.9*0.51 + (0.5 + 0.01*0.949) = 0.96849
  EXPECT_NEAR(w[0], 0.949 - 0.096849, 1e-12);
  EXPECT_THROW(SGD<double>(params, {0.0, 0, 0}), std::invalid_argument);
}
