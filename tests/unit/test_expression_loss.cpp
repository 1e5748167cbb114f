// hnn::ExpressionLoss (hnn/losses/expression_loss.hpp), a loss written as an expression on
// hnn::Var, with the focal loss of examples/focal_loss/focal_loss.hpp: its gradient against
// finite differences, gamma = 0 against CrossEntropyLoss, its errors, and training through
// hnn::train and through a hand-built hnn::TrainLoop.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../examples/focal_loss/focal_loss.hpp"
#include "hnn/data/dataset.hpp"
#include "hnn/data/loader.hpp"
#include "hnn/data/mnist.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/linear.hpp"
#include "hnn/optim.hpp"
#include "hnn/loss.hpp"
#include "hnn/losses/expression_loss.hpp"
#include "hnn/training/train.hpp"
#include "hnn/training/train_loop.hpp"

#include "../support/test_helpers.hpp"
#include "gradient_check.hpp"

using namespace hnn;

namespace {

// Logits (batch, classes) drawn uniformly from [-3, 3], in T.
template <class T>
Tensor<T> expression_loss_logits(std::int64_t batch, std::int64_t classes, std::uint64_t seed) {
  Rng rng(seed);
  Tensor<T> z(Shape{batch, classes});
  for (std::int64_t i = 0; i < z.numel(); ++i) z[i] = static_cast<T>(rng.uniform(-3, 3));
  return z;
}

Tensor<std::int32_t> expression_loss_labels(const std::vector<std::int32_t>& values) {
  Tensor<std::int32_t> y(Shape{static_cast<std::int64_t>(values.size())});
  for (std::size_t i = 0; i < values.size(); ++i) y[static_cast<std::int64_t>(i)] = values[i];
  return y;
}

// The focal loss computed by hand in double: mean over rows of -(1 - p)^gamma log p.
double focal_by_hand(const Tensor<double>& z, const Tensor<std::int32_t>& y, double gamma) {
  double total = 0;
  for (std::int64_t n = 0; n < z.dim(0); ++n) {
    double top = z.at(n, 0);
    for (std::int64_t c = 1; c < z.dim(1); ++c) top = std::max(top, z.at(n, c));
    double sum = 0;
    for (std::int64_t c = 0; c < z.dim(1); ++c) sum += std::exp(z.at(n, c) - top);
    const double log_p = z.at(n, y[n]) - top - std::log(sum);
    total += -std::pow(1 - std::exp(log_p), gamma) * log_p;
  }
  return total / static_cast<double>(z.dim(0));
}

// The message of the std::invalid_argument `f` throws ("" when it throws none).
template <class F>
std::string expression_loss_error(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ExpressionLoss, FocalLossValueAndGradientMatchFiniteDifferencesInDouble) {
  for (const double gamma : {2.0, 0.5}) {
    ExpressionLoss<double> loss = focal::make_focal_loss<double>(gamma);
    Tensor<double> z = expression_loss_logits<double>(6, 5, 11);
    const Tensor<std::int32_t> y = expression_loss_labels({0, 4, 2, 2, 1, 3});
    const double value = loss(z, y);
    EXPECT_NEAR(value, focal_by_hand(z, y, gamma), 1e-14) << "gamma " << gamma;
    const Tensor<double> analytic = loss.gradient().clone();
    ASSERT_EQ(analytic.shape(), z.shape());
    const double h = 1e-6;
    double largest = 0;
    for (std::int64_t i = 0; i < z.numel(); ++i) {
      const double saved = z[i];
      z[i] = saved + h;
      const double up = loss.mean_loss(z, y);
      z[i] = saved - h;
      const double down = loss.mean_loss(z, y);
      z[i] = saved;
      const double numeric = (up - down) / (2 * h);
      EXPECT_NEAR(analytic[i], numeric, 1e-8) << "gamma " << gamma << ", d/dlogits[" << i << "]";
      largest = std::max(largest, std::abs(analytic[i]));
    }
    EXPECT_GT(largest, 1e-3) << "a zero gradient would match nothing";
  }
}

TEST(ExpressionLoss, ASumReductionIsTheBatchsSumAndItsGradient) {
  // A loss written for Reduction::sum: the expression returns the batch's sum, and the totals
  // (what the trainer reports per sample) divide it by the batch once.
  ExpressionLoss<double> loss(
      "summed focal loss",
      [](const Var<double>& logits, const Tensor<std::int32_t>& labels) {
        return focal::focal_loss(logits, labels, 2.0) * static_cast<double>(logits.dim(0));
      },
      Reduction::sum);
  const Tensor<double> z = expression_loss_logits<double>(4, 3, 5);
  const Tensor<std::int32_t> y = expression_loss_labels({2, 0, 1, 1});
  loss.reset();
  EXPECT_NEAR(loss(z, y), 4 * focal_by_hand(z, y, 2.0), 1e-13);
  EXPECT_NEAR(loss.totals().mean_loss(), focal_by_hand(z, y, 2.0), 1e-14);
  EXPECT_EQ(loss.totals().samples, 4);
}

template <class T>
void focal_gamma_zero_is_cross_entropy(double tolerance) {
  ExpressionLoss<T> focal_loss = focal::make_focal_loss<T>(0.0);
  CrossEntropyLoss<T> cross_entropy;
  const Tensor<T> z = expression_loss_logits<T>(8, 10, 3);
  const Tensor<std::int32_t> y = expression_loss_labels({0, 9, 3, 3, 7, 1, 5, 2});
  EXPECT_NEAR(focal_loss(z, y), cross_entropy(z, y), tolerance);
  const Tensor<T>& a = focal_loss.gradient();
  const Tensor<T>& b = cross_entropy.gradient();
  ASSERT_EQ(a.shape(), b.shape());
  for (std::int64_t i = 0; i < a.numel(); ++i) EXPECT_NEAR(a[i], b[i], tolerance) << "d/dlogits[" << i << "]";
  // The accuracy counted beside the loss is CrossEntropyLoss's too.
  EXPECT_EQ(focal_loss.totals().correct, cross_entropy.totals().correct);
  EXPECT_EQ(focal_loss.totals().samples, 8);
}

TEST(ExpressionLoss, FocalLossWithGammaZeroIsCrossEntropyInValueAndGradient) {
  focal_gamma_zero_is_cross_entropy<float>(1e-6);
  focal_gamma_zero_is_cross_entropy<double>(1e-12);
}

TEST(ExpressionLoss, FocalLossWithGammaZeroStaysFiniteOnACertainSample) {
  // p_t rounds to 1 in float for a margin of 100: (1 - p_t)^0 must still have the gradient 0
  // (PyTorch's), not 0 x (1 - p_t)^-1 = 0 x inf = NaN, which stopped a real training run.
  ExpressionLoss<float> focal_loss = focal::make_focal_loss<float>(0.0);
  CrossEntropyLoss<float> cross_entropy;
  Tensor<float> z = Tensor<float>::zeros(Shape{2, 3});
  z.at(0, 0) = 100;
  z.at(1, 2) = 1;
  const Tensor<std::int32_t> y = expression_loss_labels({0, 1});
  EXPECT_NEAR(focal_loss(z, y), cross_entropy(z, y), 1e-6);
  for (std::int64_t i = 0; i < z.numel(); ++i)
    EXPECT_NEAR(focal_loss.gradient()[i], cross_entropy.gradient()[i], 1e-6) << "d/dlogits[" << i << "]";
}

TEST(ExpressionLoss, ShapeMismatchThrowsNamingBothShapes) {
  ExpressionLoss<float> loss = focal::make_focal_loss<float>(2.0);
  const Tensor<float> z = expression_loss_logits<float>(4, 3, 1);
  const std::string message =
      expression_loss_error([&] { loss(z, expression_loss_labels({0, 1, 2, 0, 1})); });
  EXPECT_NE(message.find("focal loss"), std::string::npos) << message;
  EXPECT_NE(message.find("(4, 3)"), std::string::npos) << message;
  EXPECT_NE(message.find("(5)"), std::string::npos) << message;
  // An expression that does not reduce the batch to one number.
  ExpressionLoss<float> per_sample("per-sample loss", [](const Var<float>& logits, const Tensor<std::int32_t>&) {
    return -log_softmax(logits, 1).sum(1);
  });
  const std::string reduced = expression_loss_error([&] { per_sample(z, expression_loss_labels({0, 1, 2, 0})); });
  EXPECT_NE(reduced.find("per-sample loss"), std::string::npos) << reduced;
  EXPECT_NE(reduced.find("(4)"), std::string::npos) << reduced;
}

TEST(ExpressionLoss, BadLabelThrowsBeforeTheExpressionRuns) {
  int runs = 0;
  ExpressionLoss<float> loss("counting focal loss", [&runs](const Var<float>& logits, const Tensor<std::int32_t>& y) {
    ++runs;
    return focal::focal_loss(logits, y, 2.0);
  });
  const Tensor<float> z = expression_loss_logits<float>(3, 4, 2);
  const std::string high = expression_loss_error([&] { loss(z, expression_loss_labels({0, 4, 1})); });
  EXPECT_NE(high.find("label 4 at index 1"), std::string::npos) << high;
  const std::string negative = expression_loss_error([&] { loss.accumulate(z, expression_loss_labels({0, 1, -1})); });
  EXPECT_NE(negative.find("label -1 at index 2"), std::string::npos) << negative;
  EXPECT_EQ(runs, 0);
  loss(z, expression_loss_labels({0, 3, 1}));
  EXPECT_EQ(runs, 1);
}

TEST(ExpressionLoss, FocalLossTrainsThroughHnnTrain) {
  // The committed slice: its first 800 images to train, the other 200 to test.
  const data::Dataset all = data::load_fashion_mnist(hnn::testing::slice_dir, data::Split::test);
  data::Dataset train_part = all, test_part = all;
  train_part.size = 800;
  train_part.images.resize(800 * 784);
  train_part.labels.resize(800);
  test_part.size = 200;
  test_part.images.assign(all.images.begin() + 800 * 784, all.images.end());
  test_part.labels.assign(all.labels.begin() + 800, all.labels.end());
  const DeviceDataset<float, cpu> train_set(train_part), test_set(test_part);
  TrainOptions options;
  options.epochs = 4;
  options.batch_size = 50;
  options.optimizer = "adam";
  options.lr = 1e-3;
  const auto mlp = [] { return Sequential<float>({Flatten(), Linear(784, 64), ReLU(), Linear(64, 10)}, 3); };

  auto model = mlp();
  ExpressionLoss<float> focal_loss = focal::make_focal_loss<float>(2.0);
  const std::vector<EpochStats> history = train(model, train_set, test_set, options, focal_loss);
  ASSERT_EQ(history.size(), 4u);
  EXPECT_LT(history.back().train_loss, 0.5 * history.front().train_loss);
  EXPECT_GT(history.back().test_acc, 0.6);
  // The reported loss is the focal loss's: below the cross-entropy of the same model, as
  // (1 - p)^2 < 1.
  CrossEntropyLoss<float> cross_entropy;
  ExpressionLoss<float> focal_again = focal::make_focal_loss<float>(2.0);
  const Tensor<float> logits = model.forward(test_set.images).clone();
  EXPECT_LT(focal_again.mean_loss(logits, test_set.labels), 0.8 * cross_entropy.mean_loss(logits, test_set.labels));

  // With gamma = 0 the trainer's run follows the cross-entropy's default run.
  auto with_focal = mlp(), with_default = mlp();
  ExpressionLoss<float> gamma_zero = focal::make_focal_loss<float>(0.0);
  options.epochs = 2;
  const auto a = train(with_focal, train_set, test_set, options, gamma_zero);
  const auto b = train(with_default, train_set, test_set, options);
  for (std::size_t e = 0; e < 2; ++e) {
    EXPECT_NEAR(a[e].train_loss, b[e].train_loss, 1e-4) << "epoch " << e + 1;
    EXPECT_NEAR(a[e].train_acc, b[e].train_acc, 0.01) << "epoch " << e + 1;
    EXPECT_NEAR(a[e].test_acc, b[e].test_acc, 0.01) << "epoch " << e + 1;
  }
}

// The same loss in a hand-built hnn::TrainLoop (any loader, any optimizer): with gamma = 0 it
// steps exactly as CrossEntropyLoss does (the same parameters after an epoch, in double), and
// with gamma = 2 it trains (its loss falls) and evaluates to the focal loss of the model.
TEST(ExpressionLoss, FocalLossTrainsThroughATrainLoop) {
  Rng rng(5);
  Tensor<double> x(Shape{96, 6});
  Tensor<std::int32_t> y(Shape{96});
  for (std::int64_t i = 0; i < 96; ++i) {
    int best = 0;
    for (std::int64_t f = 0; f < 6; ++f) {
      x[i * 6 + f] = rng.uniform(-1, 1);
      if (f < 4 && x[i * 6 + f] > x[i * 6 + best]) best = static_cast<int>(f);
    }
    y[i] = best;  // the largest of the first four features: a rule an MLP learns
  }
  const data::TensorDataset<double, std::int32_t> set(x, y);
  using Loader = data::DataLoader<data::TensorDataset<double, std::int32_t>>;
  const std::vector<LayerSpec> specs{Linear(6, 16), ReLU(), Linear(16, 4)};

  Sequential<double> with_focal(specs), with_cross_entropy(specs);
  with_focal.init(2);
  with_cross_entropy.copy_parameters_from(with_focal);
  ExpressionLoss<double> gamma_zero = focal::make_focal_loss<double>(0.0);
  CrossEntropyLoss<double> cross_entropy;
  SGD<double> sgd_a(with_focal.parameters(), {0.2}), sgd_b(with_cross_entropy.parameters(), {0.2});
  TrainLoop<double> a(with_focal, gamma_zero, sgd_a), b(with_cross_entropy, cross_entropy, sgd_b);
  Loader loader_a(set, data::LoaderOptions(16).shuffle(false).background(false));
  Loader loader_b(set, data::LoaderOptions(16).shuffle(false).background(false));
  const EpochStats ea = a.train_epoch(loader_a, 1), eb = b.train_epoch(loader_b, 1);
  EXPECT_NEAR(ea.train_loss, eb.train_loss, 1e-12);
  const auto pa = with_focal.parameters(), pb = with_cross_entropy.parameters();
  for (std::size_t p = 0; p < pa.size(); ++p)
    for (std::int64_t i = 0; i < pa[p].value->numel(); ++i)
      ASSERT_NEAR((*pa[p].value)[i], (*pb[p].value)[i], 1e-12) << pa[p].name << "[" << i << "]";

  Sequential<double> model(specs);
  model.init(3);
  ExpressionLoss<double> focal_loss = focal::make_focal_loss<double>(2.0);
  AdamOptions adam;
  adam.lr = 0.02;
  Adam<double> optimizer(model.parameters(), adam);
  TrainLoop<double> loop(model, focal_loss, optimizer);
  Loader loader(set, data::LoaderOptions(16).seed(1).background(false));
  const double first = loop.train_epoch(loader, 1).train_loss;
  double last = first;
  for (int epoch = 2; epoch <= 30; ++epoch) last = loop.train_epoch(loader, epoch).train_loss;
  EXPECT_LT(last, 0.3 * first);
  Loader eval_loader(set, data::LoaderOptions(96).shuffle(false).background(false));
  const Evaluation e = loop.evaluate(eval_loader);
  EXPECT_GT(e.accuracy, 0.85);
  ExpressionLoss<double> focal_again = focal::make_focal_loss<double>(2.0);
  EXPECT_NEAR(e.loss, focal_again.mean_loss(model.forward(x).clone(), y), 1e-12);
}
