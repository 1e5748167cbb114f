// Residual blocks: body(x) + shortcut(x), nested in Sequential; gradients against finite
// differences, PyTorch's tensor names, shape errors, and checkpoints (format version 2) and
// safetensors files that record the nesting; the planner's fused Residual + ReLU stage.
#include <gtest/gtest.h>

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "hnn/io/checkpoint.hpp"
#include "hnn/model/residual.hpp"
#include "hnn/safetensors.hpp"
#include "hnn/model/sequential.hpp"

#include "../support/test_helpers.hpp"

using hnn::Conv2d;
using hnn::cpu;
using hnn::Flatten;
using hnn::Linear;
using hnn::ReLU;
using hnn::Residual;
using hnn::Sequential;
using hnn::Shape;
using hnn::Sigmoid;
using hnn::Tensor;
using hnn::testing::expect_gradients_match;
using hnn::testing::random_tensor;
using hnn::testing::randomize_parameters;

namespace {

// A small ResNet-like model: stem, an identity block, a downsampling block with a 1x1
// projection shortcut, then a classifier.
template <class T>
Sequential<T, cpu> small_resnet() {
  return Sequential<T, cpu>(
      Conv2d(1, 2, 3).padding(1), Sigmoid(),
      Residual({Conv2d(2, 2, 3).padding(1), Sigmoid(), Conv2d(2, 2, 3).padding(1)}),
      Residual({Conv2d(2, 3, 3).padding(1).stride(2), Sigmoid(), Conv2d(3, 3, 3).padding(1)},
               {Conv2d(2, 3, 1).stride(2)}),
      Flatten(), Linear(3 * 3 * 3, 4));
}

using hnn::testing::temp_path;

}  // namespace

TEST(Residual, IdentityBlockAddsItsInput) {
  Sequential<double, cpu> block(Residual({Conv2d(2, 2, 3).padding(1), Sigmoid()}));
  Sequential<double, cpu> body(Conv2d(2, 2, 3).padding(1), Sigmoid());
  // Give the standalone body the block's parameters.
  const auto block_params = block.parameters();
  const auto body_params = body.parameters();
  ASSERT_EQ(block_params.size(), body_params.size());
  for (std::size_t i = 0; i < block_params.size(); ++i) body_params[i].value->copy_from(*block_params[i].value);

  hnn::Rng rng(3);
  const Tensor<double> x = random_tensor(Shape{2, 2, 5, 5}, rng);
  const Tensor<double> y = block.forward(x).clone();
  const Tensor<double>& b = body.forward(x);
  ASSERT_EQ(y.shape(), x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(y[i], b[i] + x[i], 1e-12) << i;
}

TEST(Residual, GradientsMatchFiniteDifferences) {
  hnn::Rng rng(11);
  {
    hnn::ResidualLayer<double, cpu> identity(Residual({Conv2d(2, 2, 3).padding(1), Sigmoid(), Conv2d(2, 2, 3).padding(1)}));
    randomize_parameters(identity, rng);
    expect_gradients_match(identity, random_tensor(Shape{2, 2, 4, 4}, rng), 1, 1e-7, "identity shortcut");
  }
  {
    hnn::ResidualLayer<double, cpu> projection(
        Residual({Conv2d(2, 3, 3).padding(1).stride(2), ReLU(), Conv2d(3, 3, 3).padding(1)}, {Conv2d(2, 3, 1).stride(2)}));
    randomize_parameters(projection, rng);
    expect_gradients_match(projection, random_tensor(Shape{2, 2, 5, 5}, rng), 2, 1e-6, "projection shortcut");
  }
}

TEST(Residual, WholeModelGradientsMatchFiniteDifferences) {
  hnn::Rng rng(5);
  Sequential<double, cpu> model = small_resnet<double>();
  model.set_input_gradient(true);
  randomize_parameters(model, rng);
  expect_gradients_match(model, random_tensor(Shape{2, 1, 6, 6}, rng), 7, 1e-7, "small ResNet");
}

// A Residual followed by a ReLU runs as one fused stage (ResidualLayer::fuse): the same output and
// gradients, bit for bit, as the two layers one by one, on one and two threads, over two
// steps; where the next layer is not a ReLU, or fusion is off, the two stay apart.
TEST(Residual, FusedWithTheFollowingReluMatchesTheTwoLayers) {
  const auto make = [] {
    return Sequential<float, cpu>(
        Conv2d(2, 4, 3).padding(1), Residual({Conv2d(4, 4, 3).padding(1), ReLU(), Conv2d(4, 4, 3).padding(1)}), ReLU(),
        Residual({Conv2d(4, 6, 3).padding(1).stride(2), ReLU(), Conv2d(6, 6, 3).padding(1)}, {Conv2d(4, 6, 1).stride(2)}),
        ReLU(), Residual({Conv2d(6, 6, 3).padding(1)}), Sigmoid(), Flatten(), Linear(6 * 4 * 4, 3));
  };
  const Shape shape{5, 2, 7, 7};
  for (const int threads : {1, 2}) {
    hnn::set_num_threads(threads);
    Sequential<float, cpu> fused = make(), layers = make();
    layers.set_fusion(false);
    hnn::Rng init(4);
    randomize_parameters(fused, init);
    const auto params = fused.parameters();
    for (std::size_t p = 0; p < params.size(); ++p) layers.parameters()[p].value->copy_from(*params[p].value);
    fused.set_input_gradient(true);
    layers.set_input_gradient(true);

    const auto& plan = fused.plan(shape);
    const std::string described = plan.describe(fused.specs());
    ASSERT_EQ(plan.steps().size(), 7u) << described;  // the last Residual is followed by a Sigmoid
    EXPECT_NE((dynamic_cast<hnn::ResidualReluStage<float, cpu>*>(plan.steps()[1].stage)), nullptr) << described;
    EXPECT_NE((dynamic_cast<hnn::ResidualReluStage<float, cpu>*>(plan.steps()[2].stage)), nullptr) << described;
    EXPECT_EQ(plan.steps()[3].count, 1u) << described;
    EXPECT_NE(described.find("ReLU() [fused]"), std::string::npos) << described;
    ASSERT_EQ(layers.plan(shape).steps().size(), layers.size());

    hnn::Rng rng(12);
    for (int step = 0; step < 2; ++step) {
      // Inputs of both signs, so that the ReLUs cut.
      const Tensor<double> x64 = random_tensor(shape, rng, -2, 2), dy64 = random_tensor(Shape{5, 3}, rng);
      Tensor<float> x(shape), dy(dy64.shape());
      for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(x64[i]);
      for (std::int64_t i = 0; i < dy.numel(); ++i) dy[i] = static_cast<float>(dy64[i]);
      const Tensor<float> y_fused = fused.forward(x).clone();
      const Tensor<float>& y_layers = layers.forward(x);
      for (std::int64_t i = 0; i < y_fused.numel(); ++i) ASSERT_EQ(y_fused[i], y_layers[i]) << "output " << i;
      const Tensor<float> dx_fused = fused.backward(dy).clone();
      const Tensor<float>& dx_layers = layers.backward(dy);
      for (std::int64_t i = 0; i < dx_fused.numel(); ++i) ASSERT_EQ(dx_fused[i], dx_layers[i]) << "input gradient " << i;
      for (std::size_t p = 0; p < params.size(); ++p)
        for (std::int64_t i = 0; i < params[p].grad->numel(); ++i)
          ASSERT_EQ((*fused.parameters()[p].grad)[i], (*layers.parameters()[p].grad)[i])
              << fused.parameter_names()[p] << " [" << i << "], " << threads << " threads";
    }
  }
  hnn::set_num_threads(1);
}

// Finite differences through the fused stages (double).
TEST(Residual, FusedWithReluGradientsMatchFiniteDifferences) {
  hnn::Rng rng(15);
  Sequential<double, cpu> model(Residual({Conv2d(2, 2, 3).padding(1), Sigmoid(), Conv2d(2, 2, 3).padding(1)}), ReLU(),
                                Residual({Conv2d(2, 3, 3).padding(1).stride(2)}, {Conv2d(2, 3, 1).stride(2)}), ReLU(),
                                Flatten(), Linear(3 * 2 * 2, 2));
  model.set_input_gradient(true);
  randomize_parameters(model, rng);
  const Tensor<double> x = random_tensor(Shape{3, 2, 4, 4}, rng);
  ASSERT_EQ(model.plan(x.shape()).steps().size(), 4u) << model.plan(x.shape()).describe(model.specs());
  expect_gradients_match(model, x, 16, 1e-7, "Residual + ReLU fused");
}

TEST(Residual, ResidualInsideResidualHasGradients) {
  hnn::Rng rng(8);
  Sequential<double, cpu> model(Residual({Residual({Conv2d(1, 1, 3).padding(1), Sigmoid()}), Sigmoid()}));
  model.set_input_gradient(true);
  randomize_parameters(model, rng);
  expect_gradients_match(model, random_tensor(Shape{1, 1, 4, 4}, rng), 9, 1e-7, "nested residual");
  EXPECT_EQ(model.parameter_names(), (std::vector<std::string>{"0.body.0.body.0.weight", "0.body.0.body.0.bias"}));
}

TEST(Residual, TensorsAreNamedAsPyTorchNamesThem) {
  const Sequential<float, cpu> model = small_resnet<float>();
  std::vector<std::string> names;
  for (const auto& t : model.state_dict()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.body.0.weight", "2.body.0.bias", "2.body.2.weight",
                                             "2.body.2.bias", "3.body.0.weight", "3.body.0.bias", "3.body.2.weight",
                                             "3.body.2.bias", "3.shortcut.0.weight", "3.shortcut.0.bias", "5.weight",
                                             "5.bias"}));
  EXPECT_EQ(model.parameter_names(), names);
}

TEST(Residual, SummaryListsTheSubLayers) {
  const std::string summary = small_resnet<float>().summary(Shape{1, 1, 6, 6});
  EXPECT_NE(summary.find("  3.shortcut.0"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Conv2d(2, 3, kernel=1, padding=0, stride=2)"), std::string::npos) << summary;
  // block 3: body (2*3*9 + 3) + (3*3*9 + 3) = 141, shortcut 2*3 + 3 = 9
  EXPECT_NE(summary.find("(1, 3, 3, 3)        150"), std::string::npos) << summary;
  EXPECT_NE(summary.find("  3.body.2     Conv2d(3, 3, kernel=3, padding=1, stride=1)                     84"),
            std::string::npos) << summary;
  EXPECT_NE(summary.find("total parameters: " + std::to_string(small_resnet<float>().parameter_count())),
            std::string::npos);
  EXPECT_EQ(small_resnet<float>().parameter_count(), 20 + 2 * 38 + 150 + 27 * 4 + 4);
}

TEST(Residual, MismatchedBranchesAreRefusedByName) {
  try {
    Sequential<float, cpu> model(Residual({Conv2d(1, 2, 3).padding(1)}));
    model.output_shape(Shape{1, 1, 6, 6});
    FAIL() << "an identity shortcut cannot add 1 channel to 2";
  } catch (const hnn::ShapeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("layer 0 of 1"), std::string::npos) << what;
    EXPECT_NE(what.find("(1, 2, 6, 6) and the shortcut's (1, 1, 6, 6) differ"), std::string::npos) << what;
  }
  try {
    Sequential<float, cpu> model(Residual({Conv2d(1, 1, 3).padding(1), Linear(4, 4)}));
    model.output_shape(Shape{1, 1, 6, 6});
    FAIL() << "Linear cannot take images";
  } catch (const hnn::ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("Residual body, layer 1 of 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Residual({}), std::invalid_argument);
  EXPECT_THROW(Residual::from_parts({2, 1}, {Conv2d(1, 1, 1), Conv2d(1, 1, 1)}), std::invalid_argument);
}

TEST(Residual, CheckpointsRoundTripTheNesting) {
  Sequential<float, cpu> model = small_resnet<float>();
  model.init(42);
  hnn::Rng rng(1);
  Tensor<float> x(Shape{3, 1, 6, 6});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.uniform(-1, 1));
  const Tensor<float> expected = model.forward(x).clone();

  const std::string path = temp_path("model.hnn");
  hnn::save(model, path);
  const hnn::Checkpoint c = hnn::read_checkpoint(path);
  EXPECT_EQ(c.version, 3u);
  ASSERT_EQ(c.layers.size(), 6u);
  EXPECT_EQ(c.layers[3].kind, "Residual");
  ASSERT_EQ(c.layers[3].children.size(), 4u);
  EXPECT_EQ(c.layers[3].children[3].kind, "Conv2d");

  auto loaded = hnn::load_model<float, cpu>(path);
  EXPECT_EQ(loaded.describe_all(), model.describe_all());
  const Tensor<float>& y = loaded.forward(x);
  for (std::int64_t i = 0; i < y.numel(); ++i) EXPECT_EQ(y[i], expected[i]) << i;

  Sequential<float, cpu> other = small_resnet<float>();  // built by the caller, then loaded
  hnn::load(other, path);
  const Tensor<float>& z = other.forward(x);
  for (std::int64_t i = 0; i < z.numel(); ++i) EXPECT_EQ(z[i], expected[i]) << i;

  // A body one layer shorter is another architecture: refused, the model untouched.
  Sequential<float, cpu> different(Conv2d(1, 2, 3).padding(1), Sigmoid(),
                                   Residual({Conv2d(2, 2, 3).padding(1), Sigmoid()}),
                                   Residual({Conv2d(2, 3, 3).padding(1).stride(2), Sigmoid(), Conv2d(3, 3, 3).padding(1)},
                                            {Conv2d(2, 3, 1).stride(2)}),
                                   Flatten(), Linear(27, 4));
  EXPECT_THROW(hnn::load(different, path), hnn::CheckpointError);
  std::filesystem::remove(path);
}

TEST(Residual, ACorruptSubLayerCountIsReportedNotFollowed) {
  Sequential<float, cpu> model(Residual({Conv2d(1, 1, 1)}));
  const std::string path = temp_path("corrupt.hnn");
  hnn::save(model, path);
  std::vector<char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // The Residual record's sub-layer count follows its description; claim a million.
  const std::string description = Residual({Conv2d(1, 1, 1)}).str();
  const auto at = std::search(bytes.begin(), bytes.end(), description.begin(), description.end());
  ASSERT_NE(at, bytes.end());
  const std::size_t count = static_cast<std::size_t>(at - bytes.begin()) + description.size();
  ASSERT_EQ(bytes[count], 1);
  bytes[count + 2] = 0x0f;  // 1 -> 0x000f0001 sub-layers
  // Re-seal the CRC so that the reader gets as far as the record.
  const std::uint32_t crc = static_cast<std::uint32_t>(
      ::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size() - 4)));
  for (int i = 0; i < 4; ++i) bytes[bytes.size() - 4 + static_cast<std::size_t>(i)] = static_cast<char>(crc >> (8 * i));
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  try {
    hnn::read_checkpoint(path);
    FAIL() << "a record claiming 983041 sub-layers was accepted";
  } catch (const hnn::CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("claims 983041 sub-layers"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(Residual, SafetensorsRecordTheNesting) {
  Sequential<float, cpu> model = small_resnet<float>();
  model.init(4);
  const std::string path = temp_path("model.safetensors");
  hnn::save_safetensors(model, path);
  auto loaded = hnn::load_model_safetensors<float, cpu>(path);
  EXPECT_EQ(loaded.describe_all(), model.describe_all());
  for (std::size_t i = 0; i < model.parameters().size(); ++i) {
    const auto& a = *model.parameters()[i].value;
    const auto& b = *loaded.parameters()[i].value;
    for (std::int64_t k = 0; k < a.numel(); ++k) ASSERT_EQ(a[k], b[k]) << model.parameter_names()[i];
  }
  std::filesystem::remove(path);
}

TEST(Residual, TrainingModeReachesEveryBranch) {
  Sequential<float, cpu> model = small_resnet<float>();
  auto& block = dynamic_cast<hnn::ResidualLayer<float, cpu>&>(model.layer(3));
  model.eval();
  EXPECT_FALSE(block.training());
  EXPECT_FALSE(block.body().layer(2).training());
  EXPECT_FALSE(block.shortcut()->layer(0).training());
  model.train();
  EXPECT_TRUE(block.body().layer(0).training());
  EXPECT_TRUE(block.shortcut()->layer(0).training());
}

// The model's fusion setting reaches the Sequentials inside its Residuals: with fusion off no
// plan at any depth runs a fused stage, and the results are the fused model's.
TEST(Residual, FusionSettingReachesTheBranches) {
  const std::vector<hnn::LayerSpec> specs{
      Conv2d(1, 4, 3).padding(1), ReLU(),
      Residual({Conv2d(4, 4, 3).padding(1).bias(false), hnn::BatchNorm2d(4), ReLU(),
                Conv2d(4, 4, 3).padding(1), Sigmoid(), hnn::AvgPool2d(1)}),
      ReLU(), Flatten(), Linear(4 * 5 * 5, 3)};
  Sequential<float, cpu> fused(specs), unfused(specs);
  unfused.copy_parameters_from(fused);
  unfused.set_fusion(false);
  const Shape input{2, 1, 5, 5};
  const auto fused_stages = [&](Sequential<float, cpu>& model) {
    std::size_t n = 0;
    for (const auto& step : model.plan(input).steps()) n += step.count > 1;
    auto& block = dynamic_cast<hnn::ResidualLayer<float, cpu>&>(model.layer(2));
    for (const auto& step : block.body().plan(Shape{2, 4, 5, 5}).steps()) n += step.count > 1;
    return n;
  };
  EXPECT_EQ(fused_stages(fused), 2u) << "Residual + ReLU outside, BatchNorm + ReLU inside the body";
  EXPECT_EQ(fused_stages(unfused), 0u) << "set_fusion(false) must reach the body's plan";
  hnn::Rng rng(5);
  const Tensor<float> x = hnn::testing::as<float>(random_tensor(input, rng));
  const Tensor<float> a = fused.forward(x).clone(), b = unfused.forward(x);
  for (std::int64_t i = 0; i < a.numel(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5f) << i;
}
