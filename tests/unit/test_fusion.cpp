// The fused Conv2d -> activation -> pooling stage (Conv2dLayer::fuse, hnn/layers/conv2d.hpp)
// gives the results of the three layers run one by one, the planner puts it where it belongs,
// and the gradients through it match finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "../support/lenet5.hpp"
#include "gradient_check.hpp"
#include "hnn/parallel.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/kernels/conv2d_act_pool.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/layers/conv2d.hpp"

using namespace hnn;
using hnn::testing::expect_gradients_match;
using hnn::testing::random_tensor;
using hnn::testing::randomize_parameters;
using hnn::testing::relative_error;

namespace {

template <class T>
void expect_close(const Tensor<T>& actual, const Tensor<T>& expected, double tolerance, const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  for (std::int64_t i = 0; i < expected.numel(); ++i)
    ASSERT_NEAR(actual[i], expected[i], tolerance * (1 + std::abs(static_cast<double>(expected[i]))))
        << what << " [" << i << "]";
}

struct FusionCase {
  std::string name;
  Conv2d conv;
  LayerSpec activation, pooling;
  Shape input;
  int threads;
};
std::ostream& operator<<(std::ostream& out, const FusionCase& c) { return out << c.name; }

class ConvActPoolFusion : public ::testing::TestWithParam<FusionCase> {
 protected:
  void TearDown() override { set_num_threads(1); }
};

// The fused kernel's crossover for double: the smallest batch the planner fuses.
constexpr std::int64_t double_crossover = conv2d_act_pool_min_batch<double>(cpu{});
constexpr std::int64_t float_crossover = conv2d_act_pool_min_batch<float>(cpu{});

// `shape` with its batch moved to the crossover for double plus `extra`.
Shape at_crossover(Shape shape, std::int64_t extra) {
  shape[0] = double_crossover + extra;
  return shape;
}

// One run with its input gradient: the fused stage against the three layers' own kernels, at
// the crossover batch plus the case's batch less one (odd sizes past the kernel's blocks).
TEST_P(ConvActPoolFusion, RunMatchesTheThreeLayers) {
  const FusionCase& c = GetParam();
  set_num_threads(c.threads);
  const std::vector<LayerSpec> specs{c.conv, c.activation, c.pooling};
  auto conv = specs[0].make_layer<double, cpu>();
  auto act = specs[1].make_layer<double, cpu>();
  auto pool = specs[2].make_layer<double, cpu>();
  Rng rng(21);
  randomize_parameters(*conv, rng);
  const Tensor<double> x = random_tensor(at_crossover(c.input, c.input[0] - 1), rng, -2, 2);

  const Tensor<double> y = pool->forward(act->forward(conv->forward(x))).clone();
  const Tensor<double> dy = random_tensor(y.shape(), rng);
  const Tensor<double> dx = conv->backward(act->backward(pool->backward(dy))).clone();
  const Tensor<double> dw = conv->parameters()[0].grad->clone(), db = conv->parameters()[1].grad->clone();

  hnn::Fusion<double, cpu> fusion = conv->fuse(FollowingLayers(specs.data() + 1, 2), x.shape());
  ASSERT_NE(fusion.stage, nullptr) << c.conv.str() << " did not offer a fused stage";
  ASSERT_EQ(fusion.absorbed, 2u);
  Stage<double, cpu>& fused = *fusion.stage;
  expect_close(fused.forward(x), y, 1e-12, "output");
  expect_close(fused.backward(dy), dx, 1e-12, "input gradient");
  expect_close(*conv->parameters()[0].grad, dw, 1e-12, "weight gradient");
  expect_close(*conv->parameters()[1].grad, db, 1e-12, "bias gradient");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvActPoolFusion,
    ::testing::Values(
        FusionCase{"LeNetConv1SigmoidAvg", Conv2d(1, 6, 5).padding(2), Sigmoid(), AvgPool2d(2), Shape{3, 1, 28, 28}, 1},
        FusionCase{"LeNetConv2SigmoidAvg", Conv2d(6, 16, 5), Sigmoid(), AvgPool2d(2), Shape{3, 6, 14, 14}, 1},
        FusionCase{"LeNetConv1ReluMax", Conv2d(1, 6, 5).padding(2), ReLU(), MaxPool2d(2), Shape{3, 1, 28, 28}, 1},
        FusionCase{"LeNetConv2ReluMaxTwoThreads", Conv2d(6, 16, 5), ReLU(), MaxPool2d(2), Shape{5, 6, 14, 14}, 2},
        FusionCase{"OddOutputSigmoidMax", Conv2d(2, 3, 3).padding(1), Sigmoid(), MaxPool2d(2), Shape{2, 2, 7, 9}, 1},
        FusionCase{"OddOutputReluAvgTwoThreads", Conv2d(2, 3, 3).padding(1), ReLU(), AvgPool2d(2), Shape{3, 2, 9, 7}, 2},
        FusionCase{"OneByOneKernel", Conv2d(4, 5, 1), Sigmoid(), AvgPool2d(2, 2), Shape{2, 4, 6, 6}, 1},
        FusionCase{"ManyOutputChannels", Conv2d(3, 13, 3).padding(2), ReLU(), AvgPool2d(2), Shape{2, 3, 8, 8}, 2}),
    [](const ::testing::TestParamInfo<FusionCase>& info) { return info.param.name; });

// Whether the first layer of `specs` offers a stage that takes the other two, for `input`.
bool conv_fuses(const std::vector<LayerSpec>& specs, const Shape& input) {
  auto conv = specs[0].make_layer<float, cpu>();
  const hnn::Fusion<float, cpu> fusion = conv->fuse(FollowingLayers(specs.data() + 1, specs.size() - 1), input);
  return fusion.stage != nullptr && fusion.absorbed == 2;
}

TEST(ConvActPoolFusion, OnlyStrideOneConvolutionsAndTwoByTwoWindowsFuse) {
  const Shape x{float_crossover, 1, 8, 8};
  EXPECT_FALSE(conv_fuses({Conv2d(1, 2, 3).padding(1).stride(2), Sigmoid(), AvgPool2d(2)}, x));
  EXPECT_FALSE(conv_fuses({Conv2d(1, 2, 3), Sigmoid(), AvgPool2d(3)}, x));
  EXPECT_FALSE(conv_fuses({Conv2d(1, 2, 3), Sigmoid(), AvgPool2d(2, 1)}, x));
  EXPECT_FALSE(conv_fuses({Conv2d(1, 2, 3), Sigmoid(), Flatten()}, x));
  EXPECT_FALSE(conv_fuses({Conv2d(1, 2, 3), Sigmoid()}, x));
  EXPECT_FALSE(conv_fuses({Conv2d(1, 2, 3), Tanh(), AvgPool2d(2)}, x));
  EXPECT_FALSE(conv_fuses({Conv2d(1, 2, 3), ReLU(), MaxPool2d(2).padding(1)}, x));
  EXPECT_FALSE(conv_fuses({Conv2d(3, 2, 3), ReLU(), MaxPool2d(2)}, x)) << "a shape the conv rejects is left to the layers";
  EXPECT_TRUE(conv_fuses({Conv2d(1, 2, 3), ReLU(), MaxPool2d(2)}, x));
  EXPECT_TRUE(conv_fuses({Conv2d(1, 2, 3).bias(false), Sigmoid(), AvgPool2d(2)}, x));
}

// The crossover (kernels/conv2d_act_pool.hpp): one constant per instruction set, the width of
// its packet of floats as first chosen, half of it for double (tests/bench/NOTES.md).
TEST(ConvActPoolFusion, CrossoverIsOnePacketOfSamples) {
  EXPECT_EQ(float_crossover, detail::packet_size<float>);
  EXPECT_EQ(double_crossover, detail::packet_size<double>);
}

// Below the crossover the convolution offers no fused stage and says for which batches that
// holds; from the crossover on, the stage, for every larger batch.
template <class T>
void expect_fused_from_the_crossover() {
  const std::vector<LayerSpec> specs{Conv2d(1, 6, 5).padding(2), ReLU(), MaxPool2d(2)};
  auto conv = specs[0].make_layer<T, cpu>();
  const std::int64_t crossover = conv2d_act_pool_min_batch<T>(cpu{});
  for (const std::int64_t batch : {std::int64_t{1}, crossover - 1, crossover, crossover + 1, 2 * crossover + 3, std::int64_t{1000}}) {
    if (batch < 1) continue;
    const hnn::Fusion<T, cpu> fusion = conv->fuse(FollowingLayers(specs.data() + 1, 2), Shape{batch, 1, 28, 28});
    SCOPED_TRACE("batch " + std::to_string(batch) + ", crossover " + std::to_string(crossover));
    EXPECT_TRUE(fusion.batches.contains(batch));
    if (batch < crossover) {
      EXPECT_EQ(fusion.stage, nullptr);
      EXPECT_EQ(fusion.batches.min, 1);
      EXPECT_EQ(fusion.batches.max, crossover - 1);
    } else {
      ASSERT_NE(fusion.stage, nullptr);
      EXPECT_EQ(fusion.absorbed, 2u);
      EXPECT_EQ(fusion.batches.min, crossover);
      EXPECT_EQ(fusion.batches.max, std::numeric_limits<std::int64_t>::max());
    }
  }
}

TEST(ConvActPoolFusion, FusedFromTheCrossoverBatchOn) {
  expect_fused_from_the_crossover<float>();
  expect_fused_from_the_crossover<double>();
}

// The whole LeNet-5, fused and layer by layer, from the same weights.
template <class T>
void expect_fused_model_matches(lenet::Variant variant, int threads, double tolerance) {
  set_num_threads(threads);
  auto fused = lenet::lenet5<T, cpu>(variant, 4);
  auto plain = lenet::lenet5<T, cpu>(variant, 4);
  plain.set_fusion(false);
  ASSERT_TRUE(fused.fusion());
  Rng rng(8);
  Tensor<T> x(Shape{conv2d_act_pool_min_batch<T>(cpu{}) + 3, 1, 28, 28});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<T>(rng.uniform(0, 1));
  const Tensor<T> y = plain.forward(x).clone();
  expect_close(fused.forward(x), y, tolerance, "logits");
  Tensor<T> dy(y.shape());
  for (std::int64_t i = 0; i < dy.numel(); ++i) dy[i] = static_cast<T>(rng.uniform(-1, 1));
  plain.backward(dy);
  fused.backward(dy);
  for (std::size_t p = 0; p < plain.parameters().size(); ++p)
    expect_close(*fused.parameters()[p].grad, *plain.parameters()[p].grad, tolerance,
                 "gradient of " + plain.parameter_names()[p]);
  set_num_threads(1);
}

TEST(ConvActPoolFusion, LeNet5FusedMatchesLayerByLayer) {
  expect_fused_model_matches<double>(lenet::Variant::sigmoid, 1, 1e-12);
  expect_fused_model_matches<double>(lenet::Variant::relu, 1, 1e-12);
  expect_fused_model_matches<double>(lenet::Variant::sigmoid, 2, 1e-12);
  expect_fused_model_matches<float>(lenet::Variant::sigmoid, 1, 1e-5);
  expect_fused_model_matches<float>(lenet::Variant::relu, 2, 1e-5);
}

// The planner fuses both of LeNet-5's Conv2d -> activation -> pooling runs on the CPU, and
// nothing when fusion is off or the shape does not fit the fused kernel.
TEST(ConvActPoolFusion, PlannerFusesLeNetsTwoRuns) {
  for (const auto variant : {lenet::Variant::sigmoid, lenet::Variant::relu}) {
    auto model = lenet::lenet5<float, cpu>(variant);
    const auto& plan = model.plan(Shape{256, 1, 28, 28});
    ASSERT_EQ(plan.steps().size(), 8u) << plan.describe(model.specs());
    for (const std::size_t fused_step : {std::size_t{0}, std::size_t{1}}) {
      EXPECT_EQ(plan.steps()[fused_step].count, 3u) << plan.describe(model.specs());
      const bool is_fused_stage = dynamic_cast<Conv2dActPoolStage<float, cpu>*>(plan.steps()[fused_step].stage) != nullptr;
      EXPECT_TRUE(is_fused_stage);
    }
    EXPECT_EQ(plan.steps()[0].first, 0u);
    EXPECT_EQ(plan.steps()[1].first, 3u);
    EXPECT_NE(plan.describe(model.specs()).find("Conv2d(6, 16, kernel=5, padding=0, stride=1) + "), std::string::npos);
    // forward() runs that plan at any batch from the crossover on.
    const Shape small{float_crossover + 1, 1, 28, 28};
    model.forward(Tensor<float>::zeros(small));
    EXPECT_EQ(&model.plan(small), &plan);
    if (float_crossover > 1) {
      // Below it, the layers one by one: another plan, kept beside the first.
      const Shape below{float_crossover - 1, 1, 28, 28};
      model.forward(Tensor<float>::zeros(below));
      const auto& unfused = model.plan(below);
      EXPECT_NE(&unfused, &plan);
      EXPECT_EQ(unfused.steps().size(), model.size()) << unfused.describe(model.specs());
      EXPECT_EQ(unfused.batches().max, float_crossover - 1);
      model.forward(Tensor<float>::zeros(small));
      EXPECT_EQ(&model.plan(small), &plan) << "the fused plan was kept";
    }

    model.set_fusion(false);
    const auto& plain = model.plan(Shape{256, 1, 28, 28});
    EXPECT_EQ(plain.steps().size(), model.size());
    EXPECT_EQ(plain.describe(model.specs()).find("[fused]"), std::string::npos);
  }
  // A 1x1 output cannot be pooled 2x2: the three layers run, and report the error themselves.
  Sequential<float, cpu> tiny(Conv2d(1, 2, 3), Sigmoid(), AvgPool2d(2), Flatten(), Linear(8, 2));
  EXPECT_THROW(tiny.forward(Tensor<float>::zeros(Shape{1, 1, 3, 3})), ShapeError);
  EXPECT_EQ(tiny.plan(Shape{float_crossover, 1, 6, 6}).steps().size(), 3u);
}

// backward() returns dLoss/dInput when asked, through a fused first stage too.
TEST(ConvActPoolFusion, ModelInputGradientThroughFusedStageMatchesFiniteDifferences) {
  Sequential<double, cpu> model(Conv2d(2, 3, 3).padding(1), Sigmoid(), AvgPool2d(2), Flatten(), Linear(3 * 3 * 2, 4));
  Rng rng(5);
  randomize_parameters(model, rng);
  model.set_input_gradient(true);
  const Tensor<double> x = random_tensor(Shape{double_crossover + 2, 2, 6, 4}, rng);
  EXPECT_NE(model.plan(x.shape()).describe(model.specs()).find("[fused]"), std::string::npos);
  expect_gradients_match(model, x, 6, 1e-7, "fused model");
  model.set_input_gradient(false);
  model.forward(x);
  EXPECT_EQ(model.backward(Tensor<double>::zeros(Shape{double_crossover + 2, 4})).numel(), 0);
}

// Central finite differences of L = sum(model(x) * probe) for every parameter, through two
// fused runs (the second one's input gradient reaches the first one's weights).
TEST(ConvActPoolFusion, GradientsThroughFusedRunsMatchFiniteDifferences) {
  for (const bool relu_max : {false, true}) {
    std::vector<LayerSpec> specs{Conv2d(1, 2, 3).padding(1), Sigmoid(), AvgPool2d(2), Conv2d(2, 3, 3).padding(1)};
    if (relu_max) specs.insert(specs.end(), {ReLU(), MaxPool2d(2)});
    else specs.insert(specs.end(), {Sigmoid(), AvgPool2d(2)});
    specs.insert(specs.end(), {Flatten(), Linear(3 * 3 * 2, 4)});
    Sequential<double, cpu> model(specs, 3);
    Rng rng(relu_max ? 41 : 40);
    for (auto& p : model.parameters())
      for (std::int64_t i = 0; i < p.value->numel(); ++i) (*p.value)[i] = rng.uniform(-1, 1);
    const Tensor<double> x = random_tensor(Shape{double_crossover + 1, 1, 12, 10}, rng);
    const Tensor<double> probe = random_tensor(Shape{double_crossover + 1, 4}, rng);
    ASSERT_NE(model.plan(x.shape()).describe(model.specs()).find("[fused]"), std::string::npos);
    auto loss = [&] {
      const Tensor<double>& y = model.forward(x);
      double sum = 0;
      for (std::int64_t i = 0; i < y.numel(); ++i) sum += y[i] * probe[i];
      return sum;
    };
    loss();
    model.backward(probe);
    std::vector<Tensor<double>> grads;
    for (auto& p : model.parameters()) grads.push_back(p.grad->clone());
    const double h = 1e-6;
    for (std::size_t p = 0; p < grads.size(); ++p)
      for (std::int64_t i = 0; i < grads[p].numel(); ++i) {
        double& v = (*model.parameters()[p].value)[i];
        const double saved = v;
        v = saved + h;
        const double up = loss();
        v = saved - h;
        const double down = loss();
        v = saved;
        ASSERT_LT(relative_error((up - down) / (2 * h), grads[p][i]), 1e-7)
            << (relu_max ? "relu/max " : "sigmoid/avg ") << model.parameter_names()[p] << "[" << i << "]";
      }
  }
}

}  // namespace
