// Concat blocks (hnn/model/concat.hpp): branches on the same input joined along channels. A
// forward and backward worked by hand; gradients against finite differences through branches of
// different depths (a pooling branch, a nested Residual, a nested Concat, an identity); fusion
// inside the branches and the outer model's switch reaching it; training mode reaching a
// BatchNorm in a branch; checkpoints, load_model and safetensors recording the nesting under
// PyTorch's names; shape errors that name the branch; the channel-range copy kernels; d2l's
// Inception block against PyTorch (tests/reference/make_pytorch_inception.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "hnn/kernels/conv2d_act_pool.hpp"
#include "hnn/io/checkpoint.hpp"
#include "hnn/kernels/channel_concat.hpp"
#include "hnn/model/concat.hpp"
#include "hnn/model/residual.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/parallel.hpp"
#include "hnn/safetensors.hpp"

#include "../support/test_helpers.hpp"

namespace concat_test {

using hnn::AvgPool2d;
using hnn::BatchNorm2d;
using hnn::Concat;
using hnn::ConcatLayer;
using hnn::Conv2d;
using hnn::cpu;
using hnn::Flatten;
using hnn::GlobalAvgPool2d;
using hnn::Linear;
using hnn::MaxPool2d;
using hnn::ReLU;
using hnn::Residual;
using hnn::Sequential;
using hnn::Shape;
using hnn::Sigmoid;
using hnn::Tanh;
using hnn::Tensor;
using hnn::testing::expect_error;
using hnn::testing::expect_gradients_match;
using hnn::testing::random_tensor;
using hnn::testing::randomize_parameters;
using hnn::testing::temp_path;

// Branches of different depths: a 1x1 convolution; four layers; a pooling branch; a Residual;
// the identity.
std::vector<Concat::Branch> mixed_branches() {
  return {{Conv2d(2, 3, 1), Sigmoid()},
          {Conv2d(2, 2, 1), Tanh(), Conv2d(2, 2, 3).padding(1), Sigmoid()},
          {MaxPool2d(3, 1).padding(1), Conv2d(2, 1, 1)},
          {Residual({Conv2d(2, 2, 3).padding(1), Sigmoid(), Conv2d(2, 2, 3).padding(1)})},
          {}};
}

// A small model with a Concat inside: 3 + 2 + 1 + 2 + 2 = 10 channels.
template <class T>
Sequential<T, cpu> concat_model() {
  return Sequential<T, cpu>(Conv2d(1, 2, 3).padding(1), Sigmoid(), Concat(mixed_branches()), Tanh(), GlobalAvgPool2d(),
                            Flatten(), Linear(10, 3));
}

// A model whose branches hold fused stages: Conv2d + ReLU + 2x2 pooling (the LeNet stage) and
// BatchNorm + ReLU.
template <class T>
Sequential<T, cpu> fusable_model() {
  return Sequential<T, cpu>(Concat({Conv2d(2, 3, 5).padding(2), ReLU(), MaxPool2d(2)},
                                   {Conv2d(2, 2, 3).padding(1).bias(false), BatchNorm2d(2), ReLU(), AvgPool2d(2)},
                                   {AvgPool2d(2)}),
                            Flatten(), Linear(7 * 4 * 4, 5));
}

ConcatLayer<float, cpu>& concat_at(Sequential<float, cpu>& model, std::size_t i) {
  return dynamic_cast<ConcatLayer<float, cpu>&>(model.layer(i));
}

std::vector<std::string> state_names(const Sequential<float, cpu>& model) {
  std::vector<std::string> names;
  for (const auto& t : model.state_dict()) names.push_back(t.name);
  return names;
}

// x (2, 1, 2, 2) = 1..8 through three branches: a 1x1 convolution to 2 channels (weights 2 and
// -1, biases 0.5 and 0), the identity, a 3x3 max pooling of stride 1 and padding 1 (each output
// is its sample's maximum).
TEST(Concat, ForwardAndBackwardByHand) {
  Sequential<double, cpu> model(Concat({Conv2d(1, 2, 1)}, {}, {MaxPool2d(3, 1).padding(1)}));
  model.set_input_gradient(true);
  const auto params = model.parameters();
  ASSERT_EQ(model.parameter_names(), (std::vector<std::string>{"0.branches.0.0.weight", "0.branches.0.0.bias"}));
  (*params[0].value)[0] = 2;
  (*params[0].value)[1] = -1;
  (*params[1].value)[0] = 0.5;
  (*params[1].value)[1] = 0;
  const Tensor<double> x = Tensor<double>::from_vector(Shape{2, 1, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});

  const Tensor<double>& y = model.forward(x);
  ASSERT_EQ(y.shape(), (Shape{2, 4, 2, 2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{2.5,  4.5,  6.5,  8.5,  -1, -2, -3, -4, 1, 2, 3, 4, 4, 4, 4, 4,  //
                                                10.5, 12.5, 14.5, 16.5, -5, -6, -7, -8, 5, 6, 7, 8, 8, 8, 8, 8}));

  // dY is c + 1 on channel c: dX = 2 * 1 + (-1) * 2 + 3 (identity), plus 4 from each of the
  // four pooled outputs at the sample's maximum (its last element).
  Tensor<double> dy(y.shape());
  for (std::int64_t i = 0; i < dy.numel(); ++i) dy[i] = static_cast<double>((i / 4) % 4 + 1);
  const Tensor<double>& dx = model.backward(dy);
  EXPECT_EQ(dx.to_vector(), (std::vector<double>{3, 3, 3, 19, 3, 3, 3, 19}));
  // d/dweight = dY's channel times the sum of x (36); d/dbias = dY's channel times 8 pixels.
  EXPECT_EQ(params[0].grad->to_vector(), (std::vector<double>{36, 72}));
  EXPECT_EQ(params[1].grad->to_vector(), (std::vector<double>{8, 16}));
}

TEST(Concat, GradientsMatchFiniteDifferences) {
  hnn::Rng rng(31);
  {
    ConcatLayer<double, cpu> block{Concat(mixed_branches())};
    randomize_parameters(block, rng);
    expect_gradients_match(block, random_tensor(Shape{2, 2, 4, 5}, rng), 1, 1e-7, "mixed branches");
  }
  {
    Sequential<double, cpu> model = concat_model<double>();
    model.set_input_gradient(true);
    randomize_parameters(model, rng);
    expect_gradients_match(model, random_tensor(Shape{2, 1, 4, 4}, rng), 2, 1e-7, "model with a Concat");
  }
  {  // a Concat in a Concat's branch, and a one-branch Concat
    ConcatLayer<double, cpu> nested(Concat({Concat({Conv2d(2, 1, 3).padding(1), Tanh()}, {}), Sigmoid()},
                                           {Concat(std::vector<Concat::Branch>{{Conv2d(2, 2, 1)}})}));
    randomize_parameters(nested, rng);
    expect_gradients_match(nested, random_tensor(Shape{3, 2, 3, 3}, rng), 3, 1e-7, "nested Concat");
  }
  {  // without its input gradient, the parameters' gradients are the same and the input's is empty
    ConcatLayer<double, cpu> with{Concat(mixed_branches())}, without{Concat(mixed_branches())};
    randomize_parameters(with, rng);
    const auto a = with.parameters(), b = without.parameters();
    for (std::size_t p = 0; p < a.size(); ++p) b[p].value->copy_from(*a[p].value);
    without.set_input_gradient(false);
    const Tensor<double> x = random_tensor(Shape{2, 2, 4, 4}, rng);
    const Tensor<double> dy = random_tensor(with.forward(x).shape(), rng);
    without.forward(x);
    with.backward(dy);
    EXPECT_EQ(without.backward(dy).numel(), 0);
    for (std::size_t p = 0; p < a.size(); ++p) EXPECT_EQ(a[p].grad->to_vector(), b[p].grad->to_vector()) << a[p].name;
  }
}

// Branches are Sequentials with plans of their own: with fusion on, the LeNet stage and
// BatchNorm + ReLU run fused inside them; set_fusion(false) on the outer model reaches them.
// The two give the same numbers. The batch is the fused conv's crossover (below it, the
// layers run unfused whatever the setting).
TEST(Concat, FusionInsideTheBranchesFollowsTheOuterModel) {
  const std::int64_t batch = conv2d_act_pool_min_batch<float>(cpu{});
  const Shape shape{batch, 2, 8, 8};
  Sequential<float, cpu> fused = fusable_model<float>(), layers = fusable_model<float>();
  fused.init(5);
  layers.copy_parameters_from(fused);
  layers.set_fusion(false);
  fused.set_input_gradient(true);
  layers.set_input_gradient(true);

  hnn::Rng rng(9);
  const Tensor<float> x = hnn::testing::as<float>(random_tensor(shape, rng, -2, 2));
  const Tensor<float> dy = hnn::testing::as<float>(random_tensor(Shape{batch, 5}, rng));
  for (int step = 0; step < 2; ++step) {
    const Tensor<float> y_fused = fused.forward(x).clone();
    const Tensor<float>& y_layers = layers.forward(x);
    for (std::int64_t i = 0; i < y_fused.numel(); ++i)
      ASSERT_NEAR(y_fused[i], y_layers[i], 1e-5 * (1 + std::abs(y_layers[i]))) << "output " << i;
    const Tensor<float> dx_fused = fused.backward(dy).clone();
    const Tensor<float>& dx_layers = layers.backward(dy);
    for (std::int64_t i = 0; i < dx_fused.numel(); ++i)
      ASSERT_NEAR(dx_fused[i], dx_layers[i], 1e-5 * (1 + std::abs(dx_layers[i]))) << "input gradient " << i;
    for (std::size_t p = 0; p < fused.parameters().size(); ++p) {
      const Tensor<float>& a = *fused.parameters()[p].grad;
      const Tensor<float>& b = *layers.parameters()[p].grad;
      for (std::int64_t i = 0; i < a.numel(); ++i)
        ASSERT_NEAR(a[i], b[i], 1e-4 * (1 + std::abs(b[i]))) << fused.parameter_names()[p] << " [" << i << "]";
    }
  }

  // The branches' plans, for the input the Concat sees.
  for (Sequential<float, cpu>* model : {&fused, &layers}) {
    ConcatLayer<float, cpu>& block = concat_at(*model, 0);
    const bool on = model == &fused;
    for (std::size_t b = 0; b < 2; ++b) {
      Sequential<float, cpu>& branch = *block.branch(b);
      EXPECT_EQ(branch.fusion(), on) << "branch " << b;
      const auto& plan = branch.plan(shape);
      const std::string described = plan.describe(branch.specs());
      EXPECT_EQ(plan.steps().size(), on ? (b == 0 ? 1u : 3u) : branch.size()) << described;
      EXPECT_EQ(described.find("[fused]") != std::string::npos, on) << described;
    }
  }
  EXPECT_EQ(concat_at(fused, 0).branch(2)->size(), 1u);
}

// A BatchNorm inside a branch follows the model's training mode: flags, and in evaluation mode
// a sample's output does not depend on the rest of the batch.
TEST(Concat, TrainingModeReachesTheBranches) {
  Sequential<float, cpu> model = fusable_model<float>();
  ConcatLayer<float, cpu>& block = concat_at(model, 0);
  hnn::Rng rng(2);
  const Tensor<float> x = hnn::testing::as<float>(random_tensor(Shape{4, 2, 8, 8}, rng));
  model.forward(x);  // moves the running statistics
  model.eval();
  EXPECT_FALSE(block.training());
  EXPECT_FALSE(block.branch(1)->layer(1).training());
  EXPECT_FALSE(block.branch(0)->layer(0).training());
  const std::vector<float> alone = model.forward(x.slice(0, 1)).to_vector();
  const std::vector<float> in_batch = model.forward(x).to_vector();
  for (std::size_t i = 0; i < alone.size(); ++i) EXPECT_EQ(alone[i], in_batch[i]) << i;
  model.train();
  EXPECT_TRUE(block.branch(1)->layer(1).training());
  const std::vector<float> batch_stats = model.forward(x).to_vector();
  EXPECT_NE(std::vector<float>(batch_stats.begin(), batch_stats.begin() + 5), alone)
      << "in training mode the batch statistics change the output";
}

TEST(Concat, TensorsAreNamedAsPyTorchNamesThem) {
  const Sequential<float, cpu> model = concat_model<float>();
  const std::vector<std::string> expected{
      "0.weight",           "0.bias",
      "2.branches.0.0.weight", "2.branches.0.0.bias",
      "2.branches.1.0.weight", "2.branches.1.0.bias",
      "2.branches.1.2.weight", "2.branches.1.2.bias",
      "2.branches.2.1.weight", "2.branches.2.1.bias",
      "2.branches.3.0.body.0.weight", "2.branches.3.0.body.0.bias",
      "2.branches.3.0.body.2.weight", "2.branches.3.0.body.2.bias",
      "6.weight",           "6.bias"};
  EXPECT_EQ(model.parameter_names(), expected);
  EXPECT_EQ(state_names(model), expected);
  // BatchNorm's buffers too.
  const std::vector<std::string> with_buffers = state_names(fusable_model<float>());
  EXPECT_EQ(with_buffers, (std::vector<std::string>{
                              "0.branches.0.0.weight", "0.branches.0.0.bias", "0.branches.1.0.weight",
                              "0.branches.1.1.weight", "0.branches.1.1.bias", "0.branches.1.1.running_mean",
                              "0.branches.1.1.running_var", "2.weight", "2.bias"}));
}

TEST(Concat, DescribesItself) {
  EXPECT_EQ(Concat({Conv2d(2, 3, 1), ReLU()}, {}).str(), "Concat([Conv2d(2, 3, kernel=1, padding=0, stride=1), ReLU()], identity)");
  const Sequential<float, cpu> model = concat_model<float>();
  const std::string summary = model.summary(Shape{1, 1, 4, 4});
  EXPECT_NE(summary.find("  2.branches.1.2"), std::string::npos) << summary;
  EXPECT_NE(summary.find("(1, 10, 4, 4)"), std::string::npos) << summary;
  // layer 2 of branch 1: 2*2*9 + 2 = 38 parameters
  EXPECT_NE(summary.find("Conv2d(2, 2, kernel=3, padding=1, stride=1)                     38"), std::string::npos)
      << summary;
  EXPECT_NE(model.trace(Shape{1, 1, 4, 4}).find("Concat output shape: (1, 10, 4, 4)"), std::string::npos);
}

TEST(Concat, InceptionIsD2lsBlock) {
  const Concat block = hnn::Inception(192, 64, {96, 128}, {16, 32}, 32);
  EXPECT_EQ(block.output_shape(Shape{1, 192, 28, 28}), (Shape{1, 256, 28, 28}));
  ASSERT_EQ(block.branches().size(), 4u);
  EXPECT_EQ(block.branches()[3][0].str(), MaxPool2d(3, 1).padding(1).str());
  const Sequential<float, cpu> model(block);
  EXPECT_EQ(model.parameter_count(), (192 * 64 + 64) + (192 * 96 + 96) + (96 * 128 * 9 + 128) + (192 * 16 + 16) +
                                         (16 * 32 * 25 + 32) + (192 * 32 + 32));
}

TEST(Concat, CheckpointsRecordAndRebuildTheBranches) {
  Sequential<float, cpu> model = concat_model<float>();
  model.init(42);
  hnn::Rng rng(1);
  const Tensor<float> x = hnn::testing::as<float>(random_tensor(Shape{3, 1, 4, 4}, rng));
  const Tensor<float> expected = model.forward(x).clone();

  const std::string path = temp_path("concat.hnn");
  hnn::save(model, path);
  const hnn::Checkpoint c = hnn::read_checkpoint(path);
  ASSERT_EQ(c.layers.size(), 7u);
  EXPECT_EQ(c.layers[2].kind, "Concat");
  EXPECT_EQ(c.layers[2].sizes, (std::vector<std::int64_t>{2, 4, 2, 1, 0}));
  ASSERT_EQ(c.layers[2].children.size(), 9u);
  EXPECT_EQ(c.layers[2].children[8].kind, "Residual");
  EXPECT_EQ(c.layers[2].children[8].children.size(), 3u);

  auto loaded = hnn::load_model<float, cpu>(path);
  EXPECT_EQ(loaded.describe_all(), model.describe_all());
  EXPECT_EQ(loaded.parameter_names(), model.parameter_names());
  const Tensor<float>& y = loaded.forward(x);
  for (std::int64_t i = 0; i < y.numel(); ++i) EXPECT_EQ(y[i], expected[i]) << i;

  Sequential<float, cpu> other = concat_model<float>();  // built by the caller, then loaded
  hnn::load(other, path);
  const Tensor<float>& z = other.forward(x);
  for (std::int64_t i = 0; i < z.numel(); ++i) EXPECT_EQ(z[i], expected[i]) << i;

  // The same layers split into other branches is another architecture: refused.
  std::vector<Concat::Branch> regrouped = mixed_branches();
  regrouped[4] = {regrouped[3][0]};
  regrouped[3] = {};
  Sequential<float, cpu> different(Conv2d(1, 2, 3).padding(1), Sigmoid(), Concat(regrouped), Tanh(), GlobalAvgPool2d(),
                                   Flatten(), Linear(10, 3));
  EXPECT_THROW(hnn::load(different, path), hnn::CheckpointError);
  std::filesystem::remove(path);

  // A model with BatchNorm buffers in a branch, through safetensors (written and rebuilt).
  Sequential<float, cpu> with_bn = fusable_model<float>();
  with_bn.init(3);
  with_bn.forward(hnn::testing::as<float>(random_tensor(Shape{2, 2, 8, 8}, rng)));  // running statistics
  const std::string st = temp_path("concat.safetensors");
  hnn::save_safetensors(with_bn, st);
  const hnn::SafetensorsFile f = hnn::read_safetensors(st);
  EXPECT_NE(std::find(f.names.begin(), f.names.end(), "0.branches.1.1.running_var"), f.names.end());
  auto rebuilt = hnn::load_model_safetensors<float, cpu>(st);
  EXPECT_EQ(rebuilt.describe_all(), with_bn.describe_all());
  for (std::size_t i = 0; i < with_bn.state_dict().size(); ++i)
    EXPECT_EQ(rebuilt.state_dict()[i].value->to_vector(), with_bn.state_dict()[i].value->to_vector())
        << with_bn.state_dict()[i].name;
  std::filesystem::remove(st);
}

TEST(Concat, BranchesThatDisagreeAreRefusedByName) {
  // Branch 2 halves the height and width.
  expect_error<hnn::ShapeError>(
      [] {
        Sequential<float, cpu> model(Concat({Conv2d(1, 2, 1)}, {Conv2d(1, 1, 3).padding(1)}, {MaxPool2d(2)}));
        model.output_shape(Shape{1, 1, 6, 6});
      },
      {"layer 0 of 1", "branch 2's output (1, 1, 3, 3) and branch 0's (1, 2, 6, 6) differ outside dim 1 (channels)"});
  // The same found by a forward of the layer alone (which no plan checked first).
  expect_error<std::invalid_argument>(
      [] {
        ConcatLayer<float, cpu> block(Concat({Conv2d(1, 2, 1)}, {MaxPool2d(2)}));
        block.forward(Tensor<float>(Shape{2, 1, 4, 4}));
      },
      {"branch 1's output (2, 1, 2, 2) and branch 0's (2, 2, 4, 4) differ outside dim 1"});
  // A layer that does not fit, named with its branch.
  expect_error<hnn::ShapeError>(
      [] {
        Sequential<float, cpu> model(Concat({Conv2d(1, 2, 1)}, {Conv2d(1, 1, 1), Conv2d(3, 1, 1)}));
        model.output_shape(Shape{1, 1, 6, 6});
      },
      {"Concat branch 1, layer 1 of 2"});
  expect_error<std::invalid_argument>(
      [] {
        ConcatLayer<float, cpu> block(Concat({Conv2d(1, 2, 1)}, {Conv2d(3, 1, 1)}));
        block.forward(Tensor<float>(Shape{2, 1, 4, 4}));
      },
      {"Concat branch 1: "});
  // Outputs without a channel dim.
  expect_error<std::invalid_argument>([] { Concat({}, {Flatten()}).output_shape(Shape{4}); },
                                      {"branch 0's output (4) has no dim 1"});
  expect_error<std::invalid_argument>(
      [] {
        ConcatLayer<float, cpu> block(Concat({}, {}));
        block.forward(Tensor<float>(Shape{5}));
      },
      {"branch 0's output (5) has no dim 1"});
  // A gradient of another shape, and a backward before any forward.
  expect_error<std::invalid_argument>(
      [] {
        ConcatLayer<float, cpu> block(Concat({Conv2d(1, 2, 1)}, {}));
        block.forward(Tensor<float>(Shape{2, 1, 4, 4}));
        block.backward(Tensor<float>(Shape{2, 2, 4, 4}));
      },
      {"the gradient has shape (2, 2, 4, 4), the last forward() returned (2, 3, 4, 4)"});
  expect_error<std::logic_error>(
      [] {
        ConcatLayer<float, cpu> block(Concat({Conv2d(1, 2, 1)}, {}));
        block.backward(Tensor<float>(Shape{2, 3, 4, 4}));
      },
      {"call forward() first"});
  // Descriptions that cannot be.
  expect_error<std::invalid_argument>([] { Concat(std::vector<Concat::Branch>{}); }, {"at least one branch"});
  expect_error<std::invalid_argument>([] { Concat::from_parts({}, {}); }, {"at least one branch"});
  expect_error<std::invalid_argument>([] { Concat::from_parts({1, 2}, {Conv2d(1, 1, 1), Conv2d(1, 1, 1)}); },
                                      {"branches of 3 layers in all, but 2 sub-layers"});
  expect_error<std::invalid_argument>([] { Concat::from_parts({3, -1}, {Conv2d(1, 1, 1), Conv2d(1, 1, 1)}); },
                                      {"branch 0 as 3 layers"});
  expect_error<std::invalid_argument>([] { Concat::from_parts({1, -1}, {Conv2d(1, 1, 1)}); },
                                      {"branch 1 as -1 layers"});
}

// The copy kernels against a plain loop, on shapes where the threads' shares of the elements
// begin and end inside a sample's run (one thread, then two).
TEST(Concat, ChannelCopyKernelsMatchALoop) {
  struct Case {
    std::int64_t outer, channels, first, count, inner;
  };
  for (const Case c : {Case{3, 7, 2, 3, 5}, Case{1, 4, 1, 2, 70001}, Case{5, 9, 0, 9, 20000}, Case{2, 3, 2, 1, 1}}) {
    for (const int threads : {1, 2}) {
      hnn::set_num_threads(threads);
      std::vector<float> piece(static_cast<std::size_t>(c.outer * c.count * c.inner));
      std::vector<float> whole(static_cast<std::size_t>(c.outer * c.channels * c.inner), -1.0f);
      for (std::size_t i = 0; i < piece.size(); ++i) piece[i] = static_cast<float>(i) + 0.5f;
      std::vector<float> expected = whole;
      for (std::int64_t s = 0; s < c.outer; ++s)
        for (std::int64_t k = 0; k < c.count; ++k)
          for (std::int64_t i = 0; i < c.inner; ++i)
            expected[static_cast<std::size_t>((s * c.channels + c.first + k) * c.inner + i)] =
                piece[static_cast<std::size_t>((s * c.count + k) * c.inner + i)];
      hnn::copy_into_channels(cpu{}, c.outer, c.channels, c.first, c.count, c.inner, piece.data(), whole.data());
      ASSERT_EQ(whole, expected) << "into channels [" << c.first << ", " << c.first + c.count << ") of " << c.channels
                                 << ", " << threads << " threads";
      std::vector<float> back(piece.size(), -2.0f);
      hnn::copy_from_channels(cpu{}, c.outer, c.channels, c.first, c.count, c.inner, whole.data(), back.data());
      ASSERT_EQ(back, piece) << "from channels [" << c.first << ", " << c.first + c.count << "), " << threads
                             << " threads";
    }
  }
  hnn::set_num_threads(1);
}

const std::string inception_fixture = std::string(HNN_SOURCE_DIR) + "/tests/fixtures/pytorch_inception.safetensors";

// The block PyTorch computed, its parameters from the fixture under their names; checks the
// output, the input's gradient and every parameter's against PyTorch's to `tolerance`,
// relative to max(1, |value|).
template <class T>
void expect_matches_pytorch_inception(double tolerance) {
  const hnn::SafetensorsFileOf<double> f = hnn::read_safetensors_as<double>(inception_fixture);
  std::map<std::string, Tensor<double>> fixture;
  for (std::size_t i = 0; i < f.names.size(); ++i) fixture.emplace(f.names[i], f.tensors[i]);
  Sequential<T, cpu> model(hnn::Inception(3, 2, {2, 3}, {1, 2}, 2));
  model.set_input_gradient(true);
  for (const auto& t : model.state_dict()) {
    const auto it = fixture.find(t.name);
    ASSERT_NE(it, fixture.end()) << "PyTorch has no tensor named " << t.name;
    t.value->copy_from(hnn::testing::as<T>(it->second));
  }
  const auto near = [&](const Tensor<T>& actual, const std::string& name) {
    const Tensor<double>& expected = fixture.at(name);
    ASSERT_EQ(actual.shape(), expected.shape()) << name;
    for (std::int64_t i = 0; i < expected.numel(); ++i)
      ASSERT_LE(std::abs(static_cast<double>(actual[i]) - expected[i]), tolerance * std::max(1.0, std::abs(expected[i])))
          << name << " [" << i << "]: hnn " << actual[i] << ", PyTorch " << expected[i];
  };
  near(model.forward(hnn::testing::as<T>(fixture.at("input"))), "output");
  near(model.backward(hnn::testing::as<T>(fixture.at("probe"))), "grad_input");
  for (const auto& p : model.parameters()) near(*p.grad, "grad." + p.name);
}

TEST(Concat, InceptionMatchesPyTorch) {
  expect_matches_pytorch_inception<double>(1e-10);
  expect_matches_pytorch_inception<float>(1e-5);
}

}  // namespace concat_test
