// The fused BatchNorm -> ReLU stage (BatchNormLayer::fuse, hnn/layers/batch_norm.hpp): the results of the two
// layers run one by one, in training and evaluation mode, on one and two threads; the planner
// puts it where it belongs; gradients through it match finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "hnn/model/residual.hpp"
#include "hnn/parallel.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/layers/batch_norm.hpp"
#include "../support/test_helpers.hpp"

using namespace hnn;
using hnn::testing::expect_gradients_match;
using hnn::testing::random_tensor;

namespace {

// Weights, biases and running statistics drawn so that no channel is trivial.
template <class T>
void randomize_state(Sequential<T, cpu>& model, Rng& rng) {
  for (const auto& t : model.state_dict()) {
    const bool variance = t.name.find("running_var") != std::string::npos;
    for (std::int64_t i = 0; i < t.value->numel(); ++i)
      (*t.value)[i] = static_cast<T>(variance ? rng.uniform(0.5, 2) : rng.uniform(-1, 1));
  }
}

using hnn::testing::as;

// tolerance 0: the same bits (the forward pass and the running statistics are the same
// arithmetic); else relative (the gradients' sums over a masked plane vectorise differently).
template <class T>
void expect_same(const Tensor<T>& fused, const Tensor<T>& layers, const std::string& what, double tolerance = 0) {
  ASSERT_EQ(fused.shape(), layers.shape()) << what;
  for (std::int64_t i = 0; i < layers.numel(); ++i) {
    if (tolerance == 0) ASSERT_EQ(fused[i], layers[i]) << what << " [" << i << "]";
    else ASSERT_NEAR(fused[i], layers[i], tolerance * (1 + std::abs(layers[i]))) << what << " [" << i << "]";
  }
}

struct Case {
  std::string name;
  LayerSpec batch_norm;
  Shape input;
  int threads;
};
std::ostream& operator<<(std::ostream& out, const Case& c) { return out << c.name; }

class BatchNormRelu : public ::testing::TestWithParam<Case> {
 protected:
  void TearDown() override { set_num_threads(1); }
};

// Two steps of training (running statistics move), then evaluation, fused against unfused.
TEST_P(BatchNormRelu, FusedStageMatchesTheTwoLayers) {
  const Case& c = GetParam();
  set_num_threads(c.threads);
  Sequential<float, cpu> fused(c.batch_norm, ReLU()), layers(c.batch_norm, ReLU());
  layers.set_fusion(false);
  for (auto* model : {&fused, &layers}) {
    Rng rng(17);
    randomize_state(*model, rng);
    model->set_input_gradient(true);
  }
  const Stage<float, cpu>* first = fused.plan(c.input).steps()[0].stage;
  const bool is_fused = dynamic_cast<const BatchNormReluStage<float, cpu, BatchNorm2d>*>(first) != nullptr ||
                        dynamic_cast<const BatchNormReluStage<float, cpu, BatchNorm1d>*>(first) != nullptr;
  ASSERT_TRUE(is_fused) << fused.plan(c.input).describe(fused.specs());
  ASSERT_EQ(layers.plan(c.input).steps().size(), 2u);

  Rng rng(23);
  for (int step = 0; step < 2; ++step) {
    const Tensor<float> x = as<float>(random_tensor(c.input, rng, -2, 3));
    const Tensor<float> dy = as<float>(random_tensor(c.input, rng));
    const std::string at = "training step " + std::to_string(step);
    expect_same(fused.forward(x), layers.forward(x), at + ", output");
    expect_same(fused.backward(dy), layers.backward(dy), at + ", input gradient", 1e-5);
    for (std::size_t p = 0; p < fused.parameters().size(); ++p)
      expect_same(*fused.parameters()[p].grad, *layers.parameters()[p].grad, at + ", " + fused.parameter_names()[p], 1e-5);
    // After step 0 the parameters are unchanged (no optimizer), so the running statistics of
    // both see the same batches.
    for (std::size_t t = 0; t < fused.state_dict().size(); ++t)
      expect_same(*fused.state_dict()[t].value, *layers.state_dict()[t].value, at + ", " + fused.state_dict()[t].name);
  }
  fused.eval();
  layers.eval();
  const Tensor<float> x = as<float>(random_tensor(c.input, rng, -2, 3));
  expect_same(fused.forward(x), layers.forward(x), "evaluation output");
  EXPECT_THROW(fused.backward(x), std::logic_error) << "backward after an evaluation-mode forward";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, BatchNormRelu,
    ::testing::Values(Case{"BatchNorm2dOneThread", BatchNorm2d(5), Shape{7, 5, 6, 4}, 1},
                      Case{"BatchNorm2dTwoThreads", BatchNorm2d(6), Shape{9, 6, 5, 5}, 2},
                      Case{"BatchNorm2dNoAffine", BatchNorm2d(3).affine(false).momentum(0.3), Shape{4, 3, 7, 3}, 2},
                      Case{"BatchNorm1dTwoThreads", BatchNorm1d(130), Shape{300, 130}, 2},
                      Case{"BatchNorm1dSequence", BatchNorm1d(4).eps(1e-3), Shape{5, 4, 9}, 1}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

// The planner fuses a batch norm followed by a ReLU, in a model and inside a residual branch,
// and nothing else: not a batch norm before another activation, not with fusion off.
TEST(BatchNormReluPlanner, FusesBatchNormFollowedByRelu) {
  Sequential<float, cpu> model(Conv2d(1, 4, 3).padding(1).bias(false), BatchNorm2d(4), ReLU(),
                               Residual({Conv2d(4, 4, 3).padding(1).bias(false), BatchNorm2d(4), ReLU(),
                                         Conv2d(4, 4, 3).padding(1).bias(false), BatchNorm2d(4)}),
                               BatchNorm2d(4), Sigmoid(), Flatten(), Linear(4 * 6 * 6, 8), BatchNorm1d(8), ReLU(),
                               Linear(8, 3));
  const Shape input{2, 1, 6, 6};
  const auto& plan = model.plan(input);
  const std::string described = plan.describe(model.specs());
  ASSERT_EQ(plan.steps().size(), 9u) << described;
  EXPECT_EQ(plan.steps()[1].count, 2u) << described;
  EXPECT_NE((dynamic_cast<BatchNormReluStage<float, cpu, BatchNorm2d>*>(plan.steps()[1].stage)), nullptr);
  EXPECT_EQ(plan.steps()[3].count, 1u) << "BatchNorm2d before a Sigmoid stays a layer: " << described;
  EXPECT_EQ(plan.steps()[7].count, 2u) << described;
  EXPECT_NE((dynamic_cast<BatchNormReluStage<float, cpu, BatchNorm1d>*>(plan.steps()[7].stage)), nullptr);
  EXPECT_NE(described.find("BatchNorm2d(4) + ReLU() [fused]"), std::string::npos) << described;
  EXPECT_NE(described.find("BatchNorm1d(8) + ReLU() [fused]"), std::string::npos) << described;

  // Inside the residual branch too (its body is a Sequential with its own plan).
  auto& residual = dynamic_cast<ResidualLayer<float, cpu>&>(model.layer(3));
  const auto& body = residual.body().plan(Shape{2, 4, 6, 6});
  EXPECT_EQ(body.steps().size(), 4u) << body.describe(residual.body().specs());

  model.set_fusion(false);
  EXPECT_EQ(model.plan(input).steps().size(), model.size());
}

// Finite differences through fused stages (training mode, batch statistics), double.
TEST(BatchNormReluGradients, MatchFiniteDifferences) {
  Sequential<double, cpu> model(Conv2d(2, 3, 3).padding(1), BatchNorm2d(3), ReLU(), Flatten(), Linear(3 * 4 * 5, 6),
                                BatchNorm1d(6), ReLU(), Linear(6, 2));
  Rng rng(9);
  randomize_state(model, rng);
  model.set_input_gradient(true);
  const Tensor<double> x = random_tensor(Shape{5, 2, 4, 5}, rng);
  ASSERT_EQ(model.plan(x.shape()).steps().size(), 6u) << model.plan(x.shape()).describe(model.specs());
  expect_gradients_match(model, x, 31, 1e-6, "BatchNorm + ReLU fused");
}

// A batch the batch norm cannot train on is refused by the fused stage as by the layer.
TEST(BatchNormReluErrors, OneValuePerChannelIsRefusedByName) {
  Sequential<float, cpu> model(Linear(3, 4), BatchNorm1d(4), ReLU());
  try {
    model.forward(Tensor<float>::zeros(Shape{1, 3}));
    FAIL() << "a batch of one trained through BatchNorm1d";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("BatchNorm1d(4): training needs more than one value per channel"),
              std::string::npos)
        << e.what();
  }
  model.eval();
  EXPECT_EQ(model.forward(Tensor<float>::zeros(Shape{1, 3})).shape(), (Shape{1, 4}));
}

}  // namespace
