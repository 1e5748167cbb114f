// A layer type defined entirely here, as a user would, with no edit under include/: a
// learnable per-channel scale. It trains inside a Sequential, saves and loads, and its
// gradients match finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "hnn/io/checkpoint.hpp"
#include "hnn/loss.hpp"
#include "hnn/optim.hpp"
#include "hnn/model/sequential.hpp"

using hnn::testing::expect_gradients_match;
using hnn::testing::random_tensor;

namespace user {

template <class T, class Device>
class ScaleLayer;

// y[n, c, ...] = x[n, c, ...] * weight[c]
struct Scale {
  static constexpr const char* kind = "ChannelScale";  // (the README's own Scale is registered as "Scale")
  template <class T, class Device>
  using layer = ScaleLayer<T, Device>;

  std::int64_t channels;

  std::string str() const { return "Scale(" + std::to_string(channels) + ")"; }
  std::vector<std::int64_t> sizes() const { return {channels}; }
  static Scale from_sizes(const std::vector<std::int64_t>& s) {
    if (s.size() != 1) throw std::invalid_argument("Scale records one size");
    return Scale{s[0]};
  }
  hnn::Shape output_shape(const hnn::Shape& input) const {
    if (input.rank() < 2 || input[1] != channels)
      throw std::invalid_argument(str() + " expects " + std::to_string(channels) + " channels, got " + input.str());
    return input;
  }
};

// A plain host loop: a user's layer for the CPU needs no kernel file.
template <class T, class Device>
class ScaleLayer final : public hnn::Layer<T, Device> {
 public:
  explicit ScaleLayer(const Scale& spec) : spec_(spec), weight_(hnn::Shape{spec.channels}), grad_(weight_.shape()) {}

  const hnn::Tensor<T, Device>& forward(const hnn::Tensor<T, Device>& input) override {
    spec_.output_shape(input.shape());
    input_ = input;
    output_.resize(input.shape());
    const std::int64_t plane = input.numel() / (input.dim(0) * spec_.channels);
    for (std::int64_t i = 0; i < input.numel(); ++i) output_[i] = input[i] * weight_[(i / plane) % spec_.channels];
    return output_;
  }

  const hnn::Tensor<T, Device>& backward(const hnn::Tensor<T, Device>& grad_output) override {
    const std::int64_t plane = input_.numel() / (input_.dim(0) * spec_.channels);
    grad_input_.resize(input_.shape());
    for (std::int64_t c = 0; c < spec_.channels; ++c) grad_[c] = 0;
    for (std::int64_t i = 0; i < input_.numel(); ++i) {
      const std::int64_t c = (i / plane) % spec_.channels;
      grad_[c] += grad_output[i] * input_[i];
      grad_input_[i] = grad_output[i] * weight_[c];
    }
    return grad_input_;
  }

  std::vector<hnn::Parameter<T, Device>> parameters() override { return {{"weight", &weight_, &grad_}}; }

  // Starts as the identity, not from Xavier.
  void reset_parameters(hnn::Rng&) override {
    for (std::int64_t c = 0; c < spec_.channels; ++c) weight_[c] = 1;
  }

 private:
  Scale spec_;
  hnn::Tensor<T, Device> weight_, grad_, input_, output_, grad_input_;
};

// Another user type, never registered: load_model() must say so.
struct Unregistered : Scale {
  static constexpr const char* kind = "Unregistered";
  template <class T, class Device>
  using layer = ScaleLayer<T, Device>;
  static Unregistered from_sizes(const std::vector<std::int64_t>& s) { return Unregistered{Scale::from_sizes(s)}; }
};

}  // namespace user

namespace {

using namespace hnn;

Sequential<double, cpu> model_with_scale(std::uint64_t seed) {
  return Sequential<double, cpu>({Conv2d(1, 4, 3).padding(1), user::Scale{4}, ReLU(), Flatten(), Linear(4 * 6 * 6, 3)},
                                 seed);
}

class CustomLayer : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hnn_custom_layer_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(CustomLayer, ItsGradientsMatchFiniteDifferences) {
  Rng rng(3);
  user::ScaleLayer<double, cpu> scale(user::Scale{3});
  hnn::testing::randomize_parameters(scale, rng);
  expect_gradients_match(scale, random_tensor(Shape{2, 3, 4, 5}, rng), 4, 1e-7, "Scale");

  auto model = model_with_scale(1);
  hnn::testing::randomize_parameters(model, rng);
  model.set_input_gradient(true);
  expect_gradients_match(model, random_tensor(Shape{2, 1, 6, 6}, rng), 5, 1e-7, "model with Scale");
}

TEST_F(CustomLayer, ItIsNamedTracedAndInitialisedLikeABuiltIn) {
  auto model = model_with_scale(1);
  EXPECT_EQ(model.describe_all(),
            "Conv2d(1, 4, kernel=3, padding=1, stride=1) -> Scale(4) -> ReLU() -> Flatten() -> Linear(144, 3)");
  EXPECT_EQ(model.parameter_names(), (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "4.weight", "4.bias"}));
  EXPECT_NE(model.trace(Shape{1, 1, 6, 6}).find("Scale output shape: (1, 4, 6, 6)"), std::string::npos);
  EXPECT_NE(model.summary(Shape{1, 1, 6, 6}).find("Scale(4)"), std::string::npos);
  for (std::int64_t c = 0; c < 4; ++c) EXPECT_EQ((*model.parameters()[2].value)[c], 1.0);
  try {
    model.forward(Tensor<double>::zeros(Shape{1, 2, 6, 6}));
    FAIL() << "a 2-channel input went through Conv2d(1, ...)";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0 of 5"), std::string::npos) << e.what();
  }
}

TEST_F(CustomLayer, ItTrainsSavesAndLoads) {
  auto model = model_with_scale(2);
  Rng rng(9);
  const Tensor<double> x = random_tensor(Shape{8, 1, 6, 6}, rng);
  Tensor<std::int32_t> labels(Shape{8});
  for (std::int64_t i = 0; i < 8; ++i) labels[i] = static_cast<std::int32_t>(i % 3);
  SoftmaxCrossEntropy<double> loss;
  SGD<double> sgd(model.parameters(), SgdOptions{0.5});
  const double first = loss(model.forward(x), labels);
  double last = first;
  for (int step = 0; step < 20; ++step) {
    last = loss(model.forward(x), labels);
    model.backward(loss.gradient());
    sgd.step();
  }
  EXPECT_LT(last, 0.5 * first) << "20 steps on 8 examples should at least halve the loss";
  EXPECT_NE((*model.parameters()[2].value)[0], 1.0) << "the scale was not trained";

  save(model, path("scale.hnn"));
  auto described = model_with_scale(99);
  load(described, path("scale.hnn"));
  const Tensor<double> expected = model.forward(x).clone();
  const Tensor<double>& reloaded = described.forward(x);
  for (std::int64_t i = 0; i < expected.numel(); ++i) EXPECT_NEAR(reloaded[i], expected[i], 1e-5);

  // load_model() rebuilds it from the file once the kind is registered.
  register_layer<user::Scale>();
  auto rebuilt = load_model<double, cpu>(path("scale.hnn"));
  EXPECT_EQ(rebuilt.describe_all(), model.describe_all());
  const Tensor<double>& y = rebuilt.forward(x);
  for (std::int64_t i = 0; i < expected.numel(); ++i) EXPECT_NEAR(y[i], expected[i], 1e-5);
}

TEST_F(CustomLayer, LoadModelNamesAKindNobodyRegistered) {
  Sequential<double, cpu> model({Flatten(), user::Unregistered{user::Scale{4}}}, 0);
  save(model, path("unregistered.hnn"));
  try {
    load_model<double, cpu>(path("unregistered.hnn"));
    FAIL() << "an unregistered kind was rebuilt";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("Unregistered"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("register_layer"), std::string::npos) << e.what();
  }
}

}  // namespace
