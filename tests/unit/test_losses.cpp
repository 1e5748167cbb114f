// The losses (hnn/losses/*.hpp): every gradient against central finite differences in
// double, every option and input check with its message, the running totals (what a trainer
// reads) and the reduction. PyTorch's own numbers: test_losses_pytorch.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "hnn/kernels/cross_entropy.hpp"
#include "hnn/loss.hpp"
#include "hnn/parallel.hpp"

using namespace hnn;
using hnn::testing::random_tensor;
using hnn::testing::relative_error;

namespace {

using Labels = Tensor<std::int32_t, cpu>;

Labels labels_of(const std::vector<std::int32_t>& v) {
  return Labels::from_vector(Shape{static_cast<std::int64_t>(v.size())}, v);
}

// Checks loss.gradient() against (L(x + h) - L(x - h)) / 2h for every element of x, L being
// the reduced loss (loss.mean_loss, which resets, accumulates and reduces).
template <class Target>
void expect_gradient_matches(Loss<double, cpu, Target>& loss, Tensor<double> prediction, const Target& target,
                             const std::string& what) {
  SCOPED_TRACE(what);
  loss.reset();
  const double value = loss(prediction, target);
  EXPECT_TRUE(std::isfinite(value));
  EXPECT_NEAR(value, loss.mean_loss(prediction, target), 1e-12 * std::max(1.0, std::abs(value)))
      << "the loss call and mean_loss reduce the same batch differently";
  loss.reset();
  const Tensor<double> grad = loss.forward_backward(prediction, target).clone();
  const double h = 1e-6;
  for (std::int64_t i = 0; i < prediction.numel(); ++i) {
    const double saved = prediction[i];
    prediction[i] = saved + h;
    const double up = loss.mean_loss(prediction, target);
    prediction[i] = saved - h;
    const double down = loss.mean_loss(prediction, target);
    prediction[i] = saved;
    ASSERT_LT(relative_error((up - down) / (2 * h), grad[i]), 1e-8)
        << "element " << i << ": numeric " << (up - down) / (2 * h) << ", analytic " << grad[i];
  }
}

// The message of the std::invalid_argument that `f` throws ("" and a failure if none).
std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument was thrown";
  return "";
}

#define EXPECT_CONTAINS(text, ...) EXPECT_NE(std::string(text).find(__VA_ARGS__), std::string::npos) << (text)

// -------------------------------------------------------------------------------------
// Gradients against finite differences
// -------------------------------------------------------------------------------------

TEST(LossGradients, CrossEntropyWithEveryOptionMatchesFiniteDifferences) {
  Rng rng(3);
  const Tensor<double> logits = random_tensor(Shape{6, 4}, rng, -3, 3);
  const Labels labels = labels_of({0, 3, 1, 1, 2, 3});
  for (Reduction r : {Reduction::mean, Reduction::sum})
    for (double smoothing : {0.0, 0.2, 1.0})
      for (bool weighted : {false, true}) {
        CrossEntropyLoss<double> loss(r, smoothing, weighted ? std::vector<double>{0.5, 2.0, 1.0, 0.25} : std::vector<double>{});
        expect_gradient_matches(loss, logits, labels,
                                std::string(reduction_name(r)) + ", smoothing " + std::to_string(smoothing) +
                                    (weighted ? ", class weights" : ""));
      }
}

TEST(LossGradients, ElementwiseLossesMatchFiniteDifferences) {
  Rng rng(4);
  // Differences kept away from the kinks (0 for L1; delta and beta), where the loss has no
  // derivative and a finite difference straddles two pieces.
  Tensor<double> prediction = random_tensor(Shape{3, 2, 4}, rng, -2, 2), target(Shape{3, 2, 4});
  for (std::int64_t i = 0; i < prediction.numel(); ++i) {
    const double sign = i % 2 == 0 ? 1 : -1, size = 0.1 + 0.15 * static_cast<double>(i % 9);  // 0.1 .. 1.3
    target[i] = prediction[i] - sign * size;
  }
  for (Reduction r : {Reduction::mean, Reduction::sum}) {
    const std::string how = reduction_name(r);
    MSELoss<double> mse(r);
    expect_gradient_matches(mse, prediction, target, "MSE " + how);
    L1Loss<double> l1(r);
    expect_gradient_matches(l1, prediction, target, "L1 " + how);
    HuberLoss<double> huber(r, 0.72);
    expect_gradient_matches(huber, prediction, target, "Huber 0.72 " + how);
    HuberLoss<double> huber_wide(r, 5.0);
    expect_gradient_matches(huber_wide, prediction, target, "Huber 5 " + how);
    SmoothL1Loss<double> smooth(r, 0.62);
    expect_gradient_matches(smooth, prediction, target, "SmoothL1 0.62 " + how);
    SmoothL1Loss<double> smooth_l1(r, 0.0);
    expect_gradient_matches(smooth_l1, prediction, target, "SmoothL1 0 (L1) " + how);
  }
}

TEST(LossGradients, BceWithLogitsMatchesFiniteDifferences) {
  Rng rng(5);
  const Tensor<double> logits = random_tensor(Shape{5, 3}, rng, -4, 4);
  Tensor<double> target = random_tensor(Shape{5, 3}, rng, 0, 1);
  target[0] = 0;
  target[1] = 1;
  for (Reduction r : {Reduction::mean, Reduction::sum}) {
    BCEWithLogitsLoss<double> plain(r);
    expect_gradient_matches(plain, logits, target, std::string("BCE ") + reduction_name(r));
    BCEWithLogitsLoss<double> weighted(r, {0.5, 3.0, 1.0});
    expect_gradient_matches(weighted, logits, target, std::string("BCE pos_weight ") + reduction_name(r));
  }
}

// -------------------------------------------------------------------------------------
// Values by hand
// -------------------------------------------------------------------------------------

TEST(LossValues, ReductionsAndTotalsByHand) {
  const auto x = Tensor<double>::from_vector(Shape{2, 2}, {1, 2, 3, 4});
  const auto y = Tensor<double>::from_vector(Shape{2, 2}, {0, 2, 5, 3.5});  // d = 1, 0, -2, 0.5
  MSELoss<double> mse;
  EXPECT_DOUBLE_EQ(mse(x, y), (1 + 0 + 4 + 0.25) / 4);
  MSELoss<double> mse_sum(Reduction::sum);
  EXPECT_DOUBLE_EQ(mse_sum(x, y), 5.25);
  EXPECT_DOUBLE_EQ(mse_sum.gradient()[2], -4.0);
  L1Loss<double> l1;
  EXPECT_DOUBLE_EQ(l1(x, y), 3.5 / 4);
  EXPECT_EQ(l1.gradient().to_vector(), (std::vector<double>{0.25, 0, -0.25, 0.25}));  // sign(0) = 0, as PyTorch
  HuberLoss<double> huber(Reduction::sum, 1.0);
  EXPECT_DOUBLE_EQ(huber(x, y), 0.5 + 0 + (2 - 0.5) + 0.125);
  SmoothL1Loss<double> smooth(Reduction::sum, 0.5);
  EXPECT_DOUBLE_EQ(smooth(x, y), (1 - 0.25) + 0 + (2 - 0.25) + (0.5 - 0.25));  // |d| = beta: the linear piece
  EXPECT_DOUBLE_EQ(SmoothL1Loss<double>(Reduction::sum, 0.0).mean_loss(x, y), 3.5);

  // The totals: every batch added, the count a mean divides by, the rows.
  mse.reset();
  mse(x, y);
  mse(x, x);
  const LossTotals t = mse.totals();
  EXPECT_DOUBLE_EQ(t.loss_sum, 5.25);
  EXPECT_EQ(t.count, 8);
  EXPECT_EQ(t.samples, 4);
  EXPECT_EQ(t.correct, 0);
  EXPECT_DOUBLE_EQ(t.mean_loss(), 5.25 / 8);
  EXPECT_EQ(mse(x, y), 5.25 / 4) << "the call returns its own batch's loss, whatever came before";
}

TEST(LossValues, CrossEntropyWeightsDivideTheMeanByTheLabelsWeights) {
  const auto logits = Tensor<double>::from_vector(Shape{3, 2}, {0, 0, 0, 0, 0, 0});
  const Labels labels = labels_of({0, 1, 1});
  CrossEntropyLoss<double> weighted(Reduction::mean, 0, {1.0, 3.0});
  // Every sample costs ln 2 unweighted: (1 + 3 + 3) ln 2 / (1 + 3 + 3) = ln 2.
  EXPECT_NEAR(weighted(logits, labels), std::log(2.0), 1e-15);
  const LossTotals t = weighted.totals();
  EXPECT_DOUBLE_EQ(t.count, 7);
  EXPECT_EQ(t.samples, 3);
  CrossEntropyLoss<double> summed(Reduction::sum, 0, {1.0, 3.0});
  EXPECT_NEAR(summed(logits, labels), 7 * std::log(2.0), 1e-14);
  // Smoothing at uniform logits changes nothing: every class costs ln 2.
  CrossEntropyLoss<double> smoothed(Reduction::mean, 0.4);
  EXPECT_NEAR(smoothed(logits, labels), std::log(2.0), 1e-15);
  // Correct counts ignore the weights: ties go to the first class, so only label 0 is right.
  EXPECT_EQ(weighted.totals().correct, 1);
}

TEST(LossValues, BceWithLogitsStaysFiniteForHugeLogits) {
  const auto logits = Tensor<float>::from_vector(Shape{1, 4}, {1000, -1000, 1000, -1000});
  const auto target = Tensor<float>::from_vector(Shape{1, 4}, {1, 0, 0, 1});
  BCEWithLogitsLoss<float> loss(Reduction::sum);
  EXPECT_NEAR(loss(logits, target), 2000.0, 1e-3);  // the two wrong ones cost |x| each
  const auto& g = loss.gradient();
  EXPECT_EQ(g.to_vector(), (std::vector<float>{0, 0, 1, -1}));
}

// Large batches are split between the threads and the partial sums added in thread order: a
// thread count gives one answer run after run, and the gradients do not depend on it at all.
TEST(LossValues, ElementwiseLossesAreDeterministicOnTwoThreads) {
  Rng rng(6);
  const Tensor<double> x = random_tensor(Shape{300, 200}, rng), y = random_tensor(Shape{300, 200}, rng);
  std::vector<double> values;
  std::vector<std::vector<double>> grads;
  for (int threads : {1, 2, 2}) {
    set_num_threads(threads);
    HuberLoss<double> loss(Reduction::mean, 0.5);
    values.push_back(loss(x, y));
    grads.push_back(loss.gradient().to_vector());
  }
  set_num_threads(1);
  EXPECT_EQ(values[1], values[2]) << "two runs on two threads";
  EXPECT_NEAR(values[0], values[1], 1e-14 * values[0]) << "one thread against two: rounding only";
  EXPECT_EQ(grads[0], grads[1]);
}

// -------------------------------------------------------------------------------------
// Input checks
// -------------------------------------------------------------------------------------

// A label outside [0, classes) is refused by every entry point before anything is read or
// added: the message names the label, its index and the class count.
TEST(LossChecks, CrossEntropyRefusesALabelOutsideTheClassesNamingItAndItsIndex) {
  const Tensor<float> logits = Tensor<float>::full(Shape{4, 10}, 0.5f);
  CrossEntropyLoss<float> loss;
  for (const std::int32_t bad : {12, 10, -5, -1}) {
    SCOPED_TRACE(bad);
    const Labels labels = labels_of({1, 9, 0, bad});
    const std::string expected = "label " + std::to_string(bad) + " at index 3 is outside [0, 10)";
    EXPECT_CONTAINS(message_of([&] { loss(logits, labels); }), expected);
    EXPECT_CONTAINS(message_of([&] { loss.forward_backward(logits, labels); }), expected);
    EXPECT_CONTAINS(message_of([&] { loss.accumulate(logits, labels); }), expected);
    EXPECT_CONTAINS(message_of([&] { loss.mean_loss(logits, labels); }), "hnn::CrossEntropyLoss");
  }
  const LossTotals t = loss.totals();
  EXPECT_EQ(t.samples, 0) << "a refused batch must not reach the totals";
  EXPECT_EQ(t.loss_sum, 0);
}

TEST(LossChecks, ShapesAreCheckedNamingBoth) {
  CrossEntropyLoss<float> ce;
  EXPECT_CONTAINS(message_of([&] { ce.accumulate(Tensor<float>(Shape{3, 2}), Labels(Shape{2})); }),
                  "logits (N, classes) and labels (N)");
  EXPECT_CONTAINS(message_of([&] { ce.accumulate(Tensor<float>(Shape{3, 2}), Labels(Shape{2})); }), Shape{3, 2}.str());
  EXPECT_CONTAINS(message_of([&] { ce.accumulate(Tensor<float>(Shape{6}), Labels(Shape{6})); }), Shape{6}.str());
  EXPECT_CONTAINS(message_of([&] { ce.accumulate(Tensor<float>(Shape{0, 3}), Labels(Shape{0})); }), "the batch is empty");
  CrossEntropyLoss<float> weighted(Reduction::mean, 0, {1, 2, 3});
  EXPECT_CONTAINS(message_of([&] { weighted.accumulate(Tensor<float>::full(Shape{2, 4}, 0), labels_of({0, 1})); }),
                  "3 class weights for logits of 4 classes");

  MSELoss<float> mse;
  const std::string m = message_of([&] { mse(Tensor<float>::full(Shape{4, 2}, 0), Tensor<float>::full(Shape{4, 3}, 0)); });
  EXPECT_CONTAINS(m, "hnn::MSELoss");
  EXPECT_CONTAINS(m, Shape{4, 2}.str());
  EXPECT_CONTAINS(m, Shape{4, 3}.str());
  // The same element count in another shape is still refused (no silent reshaping or broadcasting).
  EXPECT_CONTAINS(message_of([&] { mse(Tensor<float>::full(Shape{2, 4}, 0), Tensor<float>::full(Shape{4, 2}, 0)); }),
                  Shape{4, 2}.str());
  L1Loss<float> l1;
  EXPECT_CONTAINS(message_of([&] { l1.forward_backward(Tensor<float>::full(Shape{4}, 0), Tensor<float>::full(Shape{5}, 0)); }),
                  "hnn::L1Loss");
  HuberLoss<float> huber;
  EXPECT_CONTAINS(message_of([&] { huber.accumulate(Tensor<float>::full(Shape{4}, 0), Tensor<float>::full(Shape{1, 4}, 0)); }),
                  "hnn::HuberLoss");
  SmoothL1Loss<float> smooth;
  EXPECT_CONTAINS(message_of([&] { smooth.accumulate(Tensor<float>(Shape{0}), Tensor<float>(Shape{0})); }),
                  "the batch is empty");
  BCEWithLogitsLoss<float> bce(Reduction::mean, {1, 2});
  EXPECT_CONTAINS(message_of([&] { bce.accumulate(Tensor<float>::full(Shape{2, 3}, 0), Tensor<float>::full(Shape{2, 3}, 0)); }),
                  "2 pos_weight values for a prediction " + Shape{2, 3}.str());
  EXPECT_CONTAINS(message_of([&] { bce.accumulate(Tensor<float>::full(Shape{2, 2}, 0), Tensor<float>::full(Shape{2, 3}, 0)); }),
                  "target must have the prediction's shape");
}

TEST(LossChecks, OptionsAreCheckedWithTheirValue) {
  EXPECT_CONTAINS(message_of([] { CrossEntropyLoss<float>(Reduction::mean, -0.1); }), "label_smoothing must be between 0 and 1");
  EXPECT_CONTAINS(message_of([] { CrossEntropyLoss<float>(Reduction::mean, 1.5); }), "1.5");
  EXPECT_CONTAINS(message_of([] { CrossEntropyLoss<float>(Reduction::mean, std::nan("")); }), "label_smoothing");
  EXPECT_CONTAINS(message_of([] { CrossEntropyLoss<float>(Reduction::mean, 0, {1, -2, 1}); }),
                  "class weight -2.000000 at index 1");
  EXPECT_CONTAINS(message_of([] { CrossEntropyLoss<float>(Reduction::mean, 0, {1, INFINITY}); }), "at index 1");
  EXPECT_CONTAINS(message_of([] { HuberLoss<float>(Reduction::mean, 0); }), "delta must be positive");
  EXPECT_CONTAINS(message_of([] { HuberLoss<float>(Reduction::mean, -1); }), "delta must be positive");
  EXPECT_CONTAINS(message_of([] { HuberLoss<float>(Reduction::mean, INFINITY); }), "delta");
  EXPECT_CONTAINS(message_of([] { SmoothL1Loss<float>(Reduction::mean, -0.5); }), "beta must be at least 0");
  EXPECT_CONTAINS(message_of([] { BCEWithLogitsLoss<float>(Reduction::mean, {1, std::nan("")}); }),
                  "pos_weight nan at index 1");
  EXPECT_CONTAINS(message_of([] { MSELoss<float>(static_cast<Reduction>(7)); }), "reduction");
}

// The kernel itself never indexes by a bad label: it skips the sample, zeroes its gradient
// row and records the first bad index with its label (what a GPU reports at the next read).
TEST(LossChecks, TheKernelSkipsAndRecordsABadLabelWithoutReadingByIt) {
  const std::int64_t batch = 4, classes = 3;
  std::vector<float> logits(static_cast<std::size_t>(batch * classes), 0.25f), grad(logits.size(), 7.0f);
  const std::vector<std::int32_t> labels = {2, -7, 1, 99};
  double stats[LossStats::size];
  for (int i = 0; i < LossStats::size; ++i) stats[i] = LossStats::initial(i);
  std::int64_t error[LabelError::size] = {LabelError::initial(0), LabelError::initial(1)};
  const std::int64_t batch_number = 41;
  cross_entropy(cpu{}, batch, classes, logits.data(), labels.data(), static_cast<const float*>(nullptr), 0.0f,
                Reduction::mean, grad.data(), stats, error, &batch_number);
  EXPECT_EQ(error[LabelError::batch], 41);
  EXPECT_EQ(LabelError::index(error[LabelError::packed]), 1);
  EXPECT_EQ(LabelError::label(error[LabelError::packed]), -7);
  for (std::int64_t c = 0; c < classes; ++c) {
    EXPECT_EQ(grad[static_cast<std::size_t>(1 * classes + c)], 0.0f);
    EXPECT_EQ(grad[static_cast<std::size_t>(3 * classes + c)], 0.0f);
  }
  EXPECT_NEAR(stats[LossStats::loss_sum], 2 * std::log(3.0), 1e-6) << "the two good samples only";
  EXPECT_EQ(stats[LossStats::count], 2);
  // A later batch does not take the record; the packing keeps any int32 label.
  const std::int64_t later = 42;
  cross_entropy(cpu{}, batch, classes, logits.data(), labels.data(), static_cast<const float*>(nullptr), 0.0f,
                Reduction::mean, grad.data(), stats, error, &later);
  EXPECT_EQ(error[LabelError::batch], 41);
  for (std::int32_t label : {std::numeric_limits<std::int32_t>::min(), -1, 0, std::numeric_limits<std::int32_t>::max()}) {
    const std::int64_t packed = LabelError::pack(123456, label);
    EXPECT_EQ(LabelError::index(packed), 123456);
    EXPECT_EQ(LabelError::label(packed), label);
  }
}

}  // namespace
