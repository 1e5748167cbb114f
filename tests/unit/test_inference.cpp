// Inference in evaluation mode (issues 26 and 27): the plan chosen by the batch size, the
// evaluation forward that keeps nothing for a backward pass, and batch norm folded into the
// Conv2d or Linear before it.
//
// - Every layer and fused stage: an evaluation-mode forward gives the training-mode forward's
//   output bit for bit where the mode does not change the maths, and a backward() after it
//   throws std::logic_error; a training-mode forward after it makes backward() work again.
// - The planner keeps a plan per batch range, mode and setting, switches between them without
//   compiling again, and gives every plan the right input-gradient setting.
// - Folding: the example networks with batch norm (lenet5_bn, the ResNet), after training steps
//   that move the running statistics, give the unfolded layers' logits to 1e-5 (float) and
//   1e-12 (double) relative, at batches around the fused kernel's crossover; switching modes,
//   training between evaluations, copying parameters in, or writing them through parameters()
//   computes the folded weights again.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../examples/lenet5_bn/model.hpp"
#include "../../examples/resnet/model.hpp"
#include "../support/lenet5.hpp"
#include "gradient_check.hpp"
#include "hnn/kernels/batch_norm.hpp"
#include "hnn/kernels/conv2d_act_pool.hpp"
#include "hnn/kernels/pool2d.hpp"
#include "hnn/model/residual.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/optim/sgd.hpp"
#include "hnn/parallel.hpp"

using namespace hnn;

namespace inference_test {

using hnn::testing::random_tensor;

template <class T>
Tensor<T> random_input(const Shape& shape, std::uint64_t seed, double low = -1, double high = 1) {
  Rng rng(seed);
  Tensor<T> t(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(rng.uniform(low, high));
  return t;
}

template <class T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

// max |a - b| / max |b|: the error relative to the size of the values.
template <class T>
double relative_difference(const Tensor<T>& a, const Tensor<T>& b) {
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < b.numel(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / std::max(scale, 1e-30);
}

// A few plain SGD steps on random output gradients, so that the parameters and the running
// statistics move away from their initial values.
template <class T>
void train_steps(Sequential<T, cpu>& model, const Shape& input, int steps, std::uint64_t seed) {
  model.train();
  for (int s = 0; s < steps; ++s) {
    const Tensor<T> x = random_input<T>(input, seed + 100 * static_cast<std::uint64_t>(s), 0, 1);
    const Shape out = model.forward(x).shape();
    model.backward(random_input<T>(out, seed + 100 * static_cast<std::uint64_t>(s) + 1));
    for (const Parameter<T, cpu>& p : model.parameters())
      for (std::int64_t i = 0; i < p.value->numel(); ++i) (*p.value)[i] -= T(0.05) * (*p.grad)[i];
  }
}

// The batches around the fused kernel's crossover for T, and 1.
template <class T>
std::vector<std::int64_t> batches_around_crossover() {
  const std::int64_t c = conv2d_act_pool_min_batch<T>(cpu{});
  std::vector<std::int64_t> out{1, c - 1, c, c + 1, 2 * c + 3};
  out.erase(std::remove_if(out.begin(), out.end(), [](std::int64_t n) { return n < 1; }), out.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Evaluation keeps nothing: every layer and stage

struct LayerCase {
  std::string name;
  LayerSpec spec;
  Shape input;
  bool mode_free;  // the maths is the same in both modes (not batch norm, not dropout)
};
std::ostream& operator<<(std::ostream& out, const LayerCase& c) { return out << c.name; }

class EvaluationForward : public ::testing::TestWithParam<LayerCase> {};

TEST_P(EvaluationForward, KeepsNothingAndRefusesBackward) {
  const LayerCase& c = GetParam();
  auto layer = c.spec.make_layer<double, cpu>();
  Rng rng(3);
  hnn::testing::randomize_parameters(*layer, rng);
  const Tensor<double> x = random_tensor(c.input, rng, -2, 2);
  const Tensor<double> trained = layer->forward(x).clone();
  const Tensor<double> dy = random_tensor(trained.shape(), rng);
  const Tensor<double> dx = layer->backward(dy).clone();

  layer->set_training(false);
  const Tensor<double> evaluated = layer->forward(x).clone();
  if (c.mode_free) {
    EXPECT_TRUE(same_bits(evaluated, trained)) << "evaluation output differs from training's";
  }
  try {
    layer->backward(dy);
    ADD_FAILURE() << "backward() after an evaluation-mode forward did not throw";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("evaluation-mode forward"), std::string::npos) << e.what();
  }
  // Training again: backward works as before (a dropout layer draws a new mask).
  layer->set_training(true);
  layer->forward(x);
  const Tensor<double>& again = layer->backward(dy);
  if (c.spec.get_if<Dropout>() == nullptr) {
    EXPECT_TRUE(same_bits(again, dx)) << "input gradient after going back to training";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layers, EvaluationForward,
    ::testing::Values(LayerCase{"Conv2d", Conv2d(2, 3, 3).padding(1), Shape{3, 2, 5, 6}, true},
                      LayerCase{"Linear", Linear(7, 4), Shape{3, 7}, true},
                      LayerCase{"ReLU", ReLU(), Shape{3, 2, 4, 4}, true},
                      LayerCase{"Sigmoid", Sigmoid(), Shape{3, 5}, true},
                      LayerCase{"Tanh", Tanh(), Shape{3, 5}, true},
                      LayerCase{"AvgPool2d", AvgPool2d(2), Shape{3, 2, 6, 6}, true},
                      LayerCase{"MaxPool2d", MaxPool2d(2), Shape{3, 2, 6, 6}, true},
                      LayerCase{"MaxPool2dPadded", MaxPool2d(3, 2).padding(1), Shape{3, 2, 7, 7}, true},
                      LayerCase{"GlobalAvgPool2d", GlobalAvgPool2d(), Shape{3, 2, 4, 5}, true},
                      LayerCase{"Flatten", Flatten(), Shape{3, 2, 2, 2}, true},
                      LayerCase{"Dropout", Dropout(0.3), Shape{3, 8}, false},
                      LayerCase{"BatchNorm2d", BatchNorm2d(2), Shape{3, 2, 4, 4}, false},
                      LayerCase{"BatchNorm1d", BatchNorm1d(5), Shape{4, 5}, false},
                      LayerCase{"Residual", Residual({Conv2d(2, 2, 3).padding(1), ReLU()}), Shape{3, 2, 4, 4}, true},
                      LayerCase{"ResidualProjection",
                                Residual({Conv2d(2, 3, 3).padding(1).stride(2)}, {Conv2d(2, 3, 1).stride(2)}),
                                Shape{3, 2, 6, 6}, true}),
    [](const ::testing::TestParamInfo<LayerCase>& info) { return info.param.name; });

// The max pooling kernel without winners: the same output bit for bit, on the 2x2 path and
// the general one.
TEST(EvaluationForward, MaxPoolKernelWithoutArgmaxGivesTheSameOutput) {
  for (const std::int64_t kernel : {2, 3}) {
    Pool2dGeometry g;
    g.batch = 3, g.channels = 2, g.in_height = 7, g.in_width = 9, g.kernel = kernel, g.stride = 2;
    g.padding = kernel == 3 ? 1 : 0;
    const Tensor<float> x = random_input<float>(Shape{3, 2, 7, 9}, 11);
    Tensor<float> with(Shape{3, 2, g.out_height(), g.out_width()}), without(with.shape());
    Tensor<std::int32_t> argmax(with.shape());
    max_pool2d_forward(cpu{}, g, x.data(), with.data(), argmax.data());
    max_pool2d_forward(cpu{}, g, x.data(), without.data(), static_cast<std::int32_t*>(nullptr));
    EXPECT_TRUE(same_bits(with, without)) << "kernel " << kernel;
  }
}

// Each fused stage the planner makes, run in evaluation mode inside a model: the output of the
// training-mode plan where the mode does not change the maths, and backward() refused.
template <class T>
void expect_eval_stage(std::vector<LayerSpec> specs, const Shape& input, bool mode_free, const std::string& stage) {
  SCOPED_TRACE(stage);
  Sequential<T, cpu> model(specs, 5);
  const Tensor<T> x = random_input<T>(input, 17);
  const Tensor<T> trained = model.forward(x).clone();
  const Tensor<T> dy = random_input<T>(trained.shape(), 18);
  model.backward(dy);
  model.eval();
  const std::string plan = model.plan(input).describe(model.specs());
  EXPECT_NE(plan.find(stage), std::string::npos) << plan;
  const Tensor<T> evaluated = model.forward(x).clone();
  if (mode_free) {
    EXPECT_TRUE(same_bits(evaluated, trained)) << plan;
  }
  EXPECT_THROW(model.backward(dy), std::logic_error) << plan;
  model.train();
  model.forward(x);
  EXPECT_NO_THROW(model.backward(dy));
}

TEST(EvaluationForward, FusedStagesKeepNothingAndRefuseBackward) {
  const std::int64_t c = conv2d_act_pool_min_batch<double>(cpu{});
  expect_eval_stage<double>({Conv2d(1, 3, 3).padding(1), Sigmoid(), AvgPool2d(2), Flatten()}, Shape{c + 1, 1, 6, 8},
                            true, "Conv2d(1, 3, kernel=3, padding=1, stride=1) + Sigmoid() + AvgPool2d");
  expect_eval_stage<double>({Conv2d(1, 3, 3).padding(1), ReLU(), MaxPool2d(2), Flatten()}, Shape{c + 1, 1, 6, 8},
                            true, "ReLU() + MaxPool2d(kernel=2, stride=2) [fused]");
  expect_eval_stage<double>({Conv2d(1, 3, 3), BatchNorm2d(3), ReLU()}, Shape{3, 1, 6, 6}, false,
                            "Conv2d(1, 3, kernel=3, padding=0, stride=1) + BatchNorm2d(3) + ReLU() [fused]");
  expect_eval_stage<double>({Conv2d(1, 3, 3), BatchNorm2d(3), Sigmoid(), AvgPool2d(2)}, Shape{c + 2, 1, 6, 6}, false,
                            "BatchNorm2d(3) + Sigmoid() + AvgPool2d(kernel=2, stride=2) [fused]");
  expect_eval_stage<double>({Linear(6, 4), BatchNorm1d(4), ReLU()}, Shape{3, 6}, false,
                            "Linear(6, 4) + BatchNorm1d(4) + ReLU() [fused]");
  expect_eval_stage<double>({Linear(6, 4), BatchNorm1d(4)}, Shape{3, 6}, false, "Linear(6, 4) + BatchNorm1d(4) [fused]");
  // Batch norm after a layer it cannot fold into: its own BatchNorm + ReLU stage.
  expect_eval_stage<double>({Flatten(), BatchNorm1d(6), ReLU()}, Shape{3, 2, 3}, false, "BatchNorm1d(6) + ReLU() [fused]");
  expect_eval_stage<double>({Residual({Conv2d(2, 2, 3).padding(1)}), ReLU()}, Shape{3, 2, 4, 4}, true,
                            "ReLU() [fused]");
}

// A model applies the same rule: its backward() after an evaluation forward throws, whichever
// layer comes last.
TEST(EvaluationForward, LeNetInEvaluationRefusesBackwardAndTrainsAfterwards) {
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 2);
  const Tensor<float> x = random_input<float>(Shape{5, 1, 28, 28}, 1, 0, 1);
  const Tensor<float> dy = random_input<float>(Shape{5, 10}, 2);
  model.eval();
  model.forward(x);
  EXPECT_THROW(model.backward(dy), std::logic_error);
  model.train();
  model.forward(x);
  EXPECT_NO_THROW(model.backward(dy));
}

// LeNet-5 (no layer whose maths depends on the mode): evaluation gives the training forward's
// logits bit for bit at every batch around the crossover, fused or not.
template <class T>
void expect_lenet_eval_is_training_forward(lenet::Variant variant) {
  for (const bool fusion : {true, false})
    for (const std::int64_t batch : batches_around_crossover<T>()) {
      SCOPED_TRACE(std::string(lenet::name(variant)) + ", batch " + std::to_string(batch) + ", fusion " +
                   (fusion ? "on" : "off"));
      auto model = lenet::lenet5<T, cpu>(variant, 7);
      model.set_fusion(fusion);
      const Tensor<T> x = random_input<T>(Shape{batch, 1, 28, 28}, 100 + static_cast<std::uint64_t>(batch), 0, 1);
      const Tensor<T> trained = model.forward(x).clone();
      model.eval();
      EXPECT_TRUE(same_bits(model.forward(x), trained));
    }
}

TEST(EvaluationForward, LeNetLogitsAreTheTrainingForwardsBitForBit) {
  for (const auto variant : {lenet::Variant::sigmoid, lenet::Variant::relu}) {
    expect_lenet_eval_is_training_forward<float>(variant);
    expect_lenet_eval_is_training_forward<double>(variant);
  }
}

// ---------------------------------------------------------------------------------------------
// The planner: plans by batch range and mode, kept

// The LeNet-5 plans across the crossover, in training and evaluation, alternating as a training
// loop does (full batches, the last partial one, evaluation batches): each compiled once.
TEST(KeptPlans, AlternatingBatchesAndModesCompileEachPlanOnce) {
  const std::int64_t c = conv2d_act_pool_min_batch<float>(cpu{});
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 1);
  const std::vector<std::int64_t> loop{64, std::max<std::int64_t>(1, c - 1), 64, std::max<std::int64_t>(1, c - 1)};
  std::vector<const Plan<float, cpu>*> first;
  for (int round = 0; round < 3; ++round) {
    std::vector<const Plan<float, cpu>*> seen;
    for (const bool training : {true, false})
      for (const std::int64_t batch : loop) {
        model.train(training);
        const Tensor<float> x = random_input<float>(Shape{batch, 1, 28, 28}, 9, 0, 1);
        const Shape out = model.forward(x).shape();
        if (training) model.backward(random_input<float>(out, 10));
        seen.push_back(&model.plan(x.shape()));
      }
    if (round == 0) first = seen;
    else {
      EXPECT_EQ(seen, first) << "round " << round << " compiled a plan again";
    }
  }
  // Two plans per mode where the crossover splits the batches (64 fused, the small one not).
  std::vector<const Plan<float, cpu>*> distinct = first;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  EXPECT_EQ(distinct.size(), c > 1 ? 4u : 2u);
}

// More shapes than a model keeps: the least recently used plan goes, the others stay.
TEST(KeptPlans, TheLeastRecentlyUsedPlanIsReplaced) {
  Sequential<float, cpu> model(Conv2d(1, 2, 3), ReLU(), Flatten());
  std::vector<const Plan<float, cpu>*> plans;
  const std::int64_t kept = static_cast<std::int64_t>(Sequential<float, cpu>::kept_plans);
  for (std::int64_t k = 0; k < kept; ++k) plans.push_back(&model.plan(Shape{1, 1, 4 + k, 4}));
  EXPECT_EQ(&model.plan(Shape{1, 1, 4, 4}), plans[0]) << "kept";
  model.plan(Shape{1, 1, 4 + kept, 4});  // one more: replaces the least recently used, plans[1]
  for (std::int64_t k = 2; k < kept; ++k)
    EXPECT_EQ(&model.plan(Shape{1, 1, 4 + k, 4}), plans[static_cast<std::size_t>(k)]) << "plan " << k << " kept";
  EXPECT_EQ(&model.plan(Shape{1, 1, 4, 4}), plans[0]);
}

// Going back to a kept plan sets its stages' input-gradient flags again: the layers are shared
// by the plans with and without the input gradient.
TEST(KeptPlans, ReturningToAPlanRestoresItsInputGradientSetting) {
  for (const bool fusion : {false, true}) {
    const std::vector<LayerSpec> specs{Conv2d(1, 2, 3), Sigmoid(), AvgPool2d(2), Flatten(), Linear(8, 3)};
    Sequential<double, cpu> model(specs, 1), reference(specs, 1);
    model.set_fusion(fusion);
    reference.set_fusion(fusion);
    reference.set_input_gradient(true);
    const Shape input{conv2d_act_pool_min_batch<double>(cpu{}), 1, 6, 6};
    const Tensor<double> dy = random_input<double>(Shape{input[0], 3}, 4);
    int round = 0;
    for (const bool needed : {true, false, true, false, true}) {
      SCOPED_TRACE("fusion " + std::to_string(fusion) + ", round " + std::to_string(round));
      const Tensor<double> x = random_input<double>(input, 10 + static_cast<std::uint64_t>(round++));
      model.set_input_gradient(needed);
      model.forward(x);
      const Tensor<double>& dx = model.backward(dy);
      if (!needed) {
        EXPECT_EQ(dx.numel(), 0);
        continue;
      }
      reference.forward(x);
      EXPECT_TRUE(same_bits(dx, reference.backward(dy))) << "the input gradient of this round's input";
    }
  }
}

// A layer whose mode changes on its own (not through the model) still gets the plan of its
// mode: a batch norm set back to training is not folded.
TEST(KeptPlans, ALayersOwnModeChangeIsPlannedFor) {
  Sequential<double, cpu> model(Conv2d(1, 3, 3), BatchNorm2d(3), ReLU(), Flatten());
  Sequential<double, cpu> plain(Conv2d(1, 3, 3), BatchNorm2d(3), ReLU(), Flatten());
  plain.set_fusion(false);
  const Tensor<double> x = random_input<double>(Shape{4, 1, 5, 5}, 8);
  model.eval();
  plain.eval();
  model.forward(x);
  EXPECT_NE(model.plan(x.shape()).describe(model.specs()).find("BatchNorm2d(3) + ReLU() [fused]"), std::string::npos);
  model.layer(1).set_training(true);
  plain.layer(1).set_training(true);
  const std::string plan = model.plan(x.shape()).describe(model.specs());
  EXPECT_EQ(plan.find("Conv2d(1, 3, kernel=3, padding=0, stride=1) + BatchNorm2d(3)"), std::string::npos) << plan;
  EXPECT_LT(relative_difference(model.forward(x), plain.forward(x)), 1e-13) << "batch statistics, not folded";
}

// ---------------------------------------------------------------------------------------------
// Batch norm folded into the layer before it

TEST(BatchNormFold, KernelScalesWeightsAndShiftsBias) {
  const std::int64_t channels = 3, per = 4;
  const Tensor<double> w = random_input<double>(Shape{channels, per}, 1), b = random_input<double>(Shape{channels}, 2),
                       gamma = random_input<double>(Shape{channels}, 3), beta = random_input<double>(Shape{channels}, 4),
                       mean = random_input<double>(Shape{channels}, 5),
                       var = random_input<double>(Shape{channels}, 6, 0.1, 2);
  const double eps = 1e-3;
  Tensor<double> fw(w.shape()), fb(b.shape());
  for (const bool with_bias : {true, false})
    for (const bool affine : {true, false}) {
      batch_norm_fold(cpu{}, channels, per, w.data(), with_bias ? b.data() : nullptr, affine ? gamma.data() : nullptr,
                      affine ? beta.data() : nullptr, mean.data(), var.data(), eps, fw.data(), fb.data());
      for (std::int64_t c = 0; c < channels; ++c) {
        const double s = (affine ? gamma[c] : 1.0) / std::sqrt(var[c] + eps);
        for (std::int64_t k = 0; k < per; ++k) EXPECT_NEAR(fw[c * per + k], w[c * per + k] * s, 1e-15);
        EXPECT_NEAR(fb[c], ((with_bias ? b[c] : 0.0) - mean[c]) * s + (affine ? beta[c] : 0.0), 1e-15)
            << "bias " << with_bias << ", affine " << affine;
      }
    }
}

template <class T>
double fold_tolerance() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

// `make` builds the network; after training steps its folded evaluation logits equal the
// unfolded layers' (fusion off) at every batch around the crossover, and its plan folds.
template <class T, class Make>
void expect_folded_matches_layers(Make make, const std::string& folded_stage, const std::string& name) {
  auto folded = make();
  auto layers = make();
  layers.set_fusion(false);
  train_steps(folded, Shape{24, 1, 28, 28}, 4, 50);
  layers.copy_parameters_from(folded);
  folded.eval();
  layers.eval();
  for (const std::int64_t batch : batches_around_crossover<T>()) {
    SCOPED_TRACE(name + ", batch " + std::to_string(batch));
    const Tensor<T> x = random_input<T>(Shape{batch, 1, 28, 28}, 70 + static_cast<std::uint64_t>(batch), 0, 1);
    const Tensor<T> reference = layers.forward(x).clone();
    EXPECT_LT(relative_difference(folded.forward(x), reference), fold_tolerance<T>());
    const std::string plan = folded.plan(x.shape()).describe(folded.specs());
    EXPECT_NE(plan.find(folded_stage), std::string::npos) << plan;
  }
}

TEST(BatchNormFold, LeNet5BnFoldedEqualsTheLayers) {
  expect_folded_matches_layers<float>([] { return lenet5_bn::lenet5_bn<float, cpu>(3); },
                                      "Linear(256, 120) + BatchNorm1d(120) [fused]", "lenet5_bn float");
  expect_folded_matches_layers<double>([] { return lenet5_bn::lenet5_bn<double, cpu>(3); },
                                       "Conv2d(1, 6, kernel=5, padding=0, stride=1) + BatchNorm2d(6)", "lenet5_bn double");
}

TEST(BatchNormFold, ResNetFoldedEqualsTheLayers) {
  expect_folded_matches_layers<float>([] { return resnet::resnet<float, cpu>(4); },
                                      "Conv2d(1, 16, kernel=3, padding=1, stride=1, bias=False) + BatchNorm2d(16) + "
                                      "ReLU() [fused]",
                                      "resnet float");
  expect_folded_matches_layers<double>([] { return resnet::resnet<double, cpu>(4); }, "BatchNorm2d(16) + ReLU() [fused]",
                                       "resnet double");
}

// The residual branches fold too (their own plans): the body's Conv2d + BatchNorm2d + ReLU.
TEST(BatchNormFold, ResidualBranchesFold) {
  auto model = resnet::resnet<float, cpu>(1);
  model.eval();
  const Tensor<float> x = random_input<float>(Shape{2, 1, 28, 28}, 3, 0, 1);
  model.forward(x);
  auto& block = dynamic_cast<ResidualLayer<float, cpu>&>(model.layer(5));  // Residual(16 -> 32, stride 2)
  const Shape block_input{2, 16, 28, 28};
  const std::string body = block.body().plan(block_input).describe(block.body().specs());
  EXPECT_NE(body.find("BatchNorm2d(32) + ReLU() [fused]"), std::string::npos) << body;
  EXPECT_NE(body.find("BatchNorm2d(32) [fused]"), std::string::npos) << body;
  const std::string shortcut = block.shortcut()->plan(block_input).describe(block.shortcut()->specs());
  EXPECT_NE(shortcut.find("Conv2d(16, 32, kernel=1, padding=0, stride=2, bias=False) + BatchNorm2d(32) [fused]"),
            std::string::npos)
      << shortcut;
}

// Training between evaluations (parameters and running statistics change), back and forth: each
// evaluation gives the unfolded layers' logits for the parameters of that moment.
template <class T>
void expect_fold_follows_training() {
  auto folded = lenet5_bn::lenet5_bn<T, cpu>(8);
  auto layers = lenet5_bn::lenet5_bn<T, cpu>(8);
  layers.set_fusion(false);
  const std::int64_t batch = conv2d_act_pool_min_batch<T>(cpu{}) + 1;
  const Tensor<T> x = random_input<T>(Shape{batch, 1, 28, 28}, 12, 0, 1);
  Tensor<T> previous;
  for (int round = 0; round < 3; ++round) {
    train_steps(folded, Shape{20, 1, 28, 28}, 2, 200 + static_cast<std::uint64_t>(round));
    layers.copy_parameters_from(folded);
    folded.eval();
    layers.eval();
    const Tensor<T> y = folded.forward(x).clone();
    EXPECT_LT(relative_difference(y, layers.forward(x)), fold_tolerance<T>()) << "round " << round;
    if (round > 0) {
      EXPECT_GT(relative_difference(y, previous), 1e-4) << "the training steps changed nothing";
    }
    previous = y;
    // The same evaluation again: the same folded weights, the same logits.
    EXPECT_TRUE(same_bits(folded.forward(x), y));
  }
}

TEST(BatchNormFold, SwitchingModesBackAndForthFollowsTheParameters) {
  expect_fold_follows_training<float>();
  expect_fold_follows_training<double>();
}

// Parameters written while the model stays in evaluation mode, through the model's own ways to
// write them: copy_parameters_from, and the pointers parameters() and state_dict() hand out.
TEST(BatchNormFold, ParametersWrittenInEvaluationModeAreFoldedAgain) {
  auto folded = lenet5_bn::lenet5_bn<double, cpu>(1);
  auto other = lenet5_bn::lenet5_bn<double, cpu>(2);
  auto layers = lenet5_bn::lenet5_bn<double, cpu>(2);
  train_steps(other, Shape{20, 1, 28, 28}, 2, 300);
  layers.copy_parameters_from(other);
  layers.set_fusion(false);
  layers.eval();
  folded.eval();
  const Tensor<double> x = random_input<double>(Shape{3, 1, 28, 28}, 13, 0, 1);
  folded.forward(x);  // folds the first model's parameters
  folded.copy_parameters_from(other);
  EXPECT_LT(relative_difference(folded.forward(x), layers.forward(x)), 1e-12) << "after copy_parameters_from";

  for (const Parameter<double, cpu>& p : folded.parameters())
    if (p.name == "1.weight") (*p.value)[0] *= 2;  // BatchNorm2d(6)'s gamma of channel 0
  for (const NamedTensor<double, cpu>& t : folded.state_dict())
    if (t.name == "5.running_var") (*t.value)[3] += 0.5;
  for (const Parameter<double, cpu>& p : layers.parameters())
    if (p.name == "1.weight") (*p.value)[0] *= 2;
  for (const NamedTensor<double, cpu>& t : layers.state_dict())
    if (t.name == "5.running_var") (*t.value)[3] += 0.5;
  EXPECT_LT(relative_difference(folded.forward(x), layers.forward(x)), 1e-12) << "after writing through the pointers";
}

// An optimizer's step() while the model stays in evaluation mode (its gradients from a training
// pass before): the next evaluation forward folds the stepped parameters, as the unfolded
// layers of a twin model stepped the same way compute.
TEST(BatchNormFold, AnOptimizerStepInEvaluationModeIsFoldedAgain) {
  auto folded = lenet5_bn::lenet5_bn<double, cpu>(1);
  auto layers = lenet5_bn::lenet5_bn<double, cpu>(1);
  layers.set_fusion(false);
  const Tensor<double> x = random_input<double>(Shape{3, 1, 28, 28}, 17, 0, 1);
  const Tensor<double> g = random_input<double>(Shape{3, 10}, 18);
  for (auto* model : {&folded, &layers}) {
    model->forward(x);
    model->backward(g);
  }
  SGD<double, cpu> step_folded(folded.parameters(), {0.5}), step_layers(layers.parameters(), {0.5});
  folded.eval();
  layers.eval();
  const Tensor<double> before = folded.forward(x).clone();
  EXPECT_LT(relative_difference(before, layers.forward(x)), 1e-12) << "before the step";
  step_folded.step();
  step_layers.step();
  const Tensor<double> after = folded.forward(x).clone();
  EXPECT_GT(relative_difference(after, before), 1e-6) << "the step changed nothing the test can see";
  EXPECT_LT(relative_difference(after, layers.forward(x)), 1e-12) << "after the step";
}

// A BatchNorm that does not fit the layer before it is not folded: the layers report the error.
TEST(BatchNormFold, AMismatchedBatchNormIsLeftToTheLayers) {
  Sequential<float, cpu> model(Conv2d(1, 3, 3), BatchNorm2d(4));
  model.eval();
  EXPECT_THROW(model.forward(Tensor<float>::zeros(Shape{2, 1, 5, 5})), ShapeError);
  Sequential<float, cpu> linear(Linear(4, 3), BatchNorm1d(5));
  linear.eval();
  EXPECT_THROW(linear.forward(Tensor<float>::zeros(Shape{2, 4})), ShapeError);
}

}  // namespace inference_test
