// hnn's LeNet-5 (and, below, the layers past it) against PyTorch's own answers:
// tests/fixtures/pytorch_lenet5_<variant>.safetensors,
// written by tests/reference/make_pytorch_reference.py (PyTorch in float64, stored as float32)
// from fixed weights and the first N images of the committed slice data/fashion-mnist/.
// For both variants, N = 256 and N = 7, fusion on and off: the logits, the mean
// cross-entropy, every parameter's gradient and every parameter after one SGD step (the
// variant's lr and momentum, the first step) agree to 1e-4 relative, where
//   relative error of a tensor = max_i |hnn_i - torch_i| / max(max_i |torch_i|, 1e-6),
// i.e. the largest difference measured against the tensor's own scale (a per-element
// relative error would be meaningless for entries that are nearly zero).
#if __has_include(<hnn/safetensors.hpp>)
#include <hnn/safetensors.hpp>
#define HNN_HAVE_SAFETENSORS 1
#endif

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include <hnn/data/mnist.hpp>
#include <hnn/model/residual.hpp>
#include <hnn/loss.hpp>
#include <hnn/optim.hpp>

#include "../support/lenet5.hpp"

namespace {

#if defined(HNN_HAVE_SAFETENSORS)

constexpr double kTolerance = 1e-4;

struct Fixture {
  std::map<std::string, hnn::Tensor<float>> tensors;
  std::map<std::string, std::string> metadata;
  const hnn::Tensor<float>& at(const std::string& name) const {
    const auto it = tensors.find(name);
    if (it == tensors.end()) throw std::runtime_error("the fixture has no tensor " + name);
    return it->second;
  }
};

// tests/fixtures/<file>.safetensors, read once.
const Fixture& fixture_file(const std::string& file) {
  static std::map<std::string, Fixture> cache;
  auto it = cache.find(file);
  if (it != cache.end()) return it->second;
  const hnn::SafetensorsFile f = hnn::read_safetensors(std::string(HNN_SOURCE_DIR) + "/tests/fixtures/" + file);
  Fixture out;
  for (std::size_t i = 0; i < f.names.size(); ++i) out.tensors.emplace(f.names[i], f.tensors[i]);
  out.metadata = f.metadata;
  return cache.emplace(file, std::move(out)).first->second;
}

const Fixture& fixture(const std::string& variant) { return fixture_file("pytorch_lenet5_" + variant + ".safetensors"); }

const hnn::data::Dataset& slice() {
  static const hnn::data::Dataset d =
      hnn::data::load_fashion_mnist(std::string(HNN_SOURCE_DIR) + "/data/fashion-mnist", hnn::data::Split::test);
  return d;
}

// max |a - b| / max(max |b|, 1e-6); shapes must agree.
double relative_error(const hnn::Tensor<float>& a, const hnn::Tensor<float>& b) {
  if (a.shape() != b.shape()) return INFINITY;
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a.data()[i]) - static_cast<double>(b.data()[i])));
    scale = std::max(scale, std::abs(static_cast<double>(b.data()[i])));
  }
  if (std::isnan(diff)) return INFINITY;
  return diff / std::max(scale, 1e-6);
}

class PytorchReference : public ::testing::TestWithParam<std::tuple<lenet::Variant, std::int64_t, bool>> {};

TEST_P(PytorchReference, LogitsLossGradientsAndOneSgdStep) {
  const auto [variant, n, fusion] = GetParam();
  const std::string name = lenet::name(variant);
  const Fixture& ref = fixture(name);
  ASSERT_EQ(ref.metadata.at("variant"), name);
  const double lr = std::stod(ref.metadata.at("lr")), momentum = std::stod(ref.metadata.at("momentum"));
  // The recipe the fixture used is hnn's (lenet5_bench.cpp, examples/lenet5).
  EXPECT_EQ(lr, variant == lenet::Variant::sigmoid ? 0.9 : 0.05);
  EXPECT_EQ(momentum, variant == lenet::Variant::sigmoid ? 0.0 : 0.9);

  auto model = lenet::lenet5<float, hnn::cpu>(variant, 0);
  model.set_fusion(fusion);
  const auto& params = model.parameters();
  const auto& names = model.parameter_names();
  ASSERT_EQ(params.size(), 10u);
  for (std::size_t i = 0; i < params.size(); ++i) {
    const hnn::Tensor<float>& w = ref.at("weights." + names[i]);
    ASSERT_EQ(params[i].value->shape(), w.shape()) << names[i];
    params[i].value->copy_from(w);
  }

  const hnn::data::Dataset& d = slice();
  ASSERT_GE(d.size, n);
  const auto images = hnn::Tensor<float>::from_host(hnn::Shape{n, 1, 28, 28}, d.images.data());
  const auto labels = hnn::Tensor<std::int32_t>::from_host(hnn::Shape{n}, d.labels.data());

  const std::string p = "n" + std::to_string(n) + ".";
  hnn::SoftmaxCrossEntropy<float, hnn::cpu> loss;
  loss.reset();
  const hnn::Tensor<float>& logits = model.forward(images);
  EXPECT_LE(relative_error(logits, ref.at(p + "logits")), kTolerance) << "logits";
  model.backward(loss.forward_backward(logits, labels));
  const double mean_loss = loss.totals().loss_sum / static_cast<double>(n);
  const double ref_loss = ref.at(p + "loss").data()[0];
  EXPECT_LE(std::abs(mean_loss - ref_loss) / std::abs(ref_loss), kTolerance) << "loss " << mean_loss << " vs " << ref_loss;
  for (std::size_t i = 0; i < params.size(); ++i)
    EXPECT_LE(relative_error(*params[i].grad, ref.at(p + "grad." + names[i])), kTolerance) << "gradient of " << names[i];

  hnn::SGD<float, hnn::cpu> sgd(params, hnn::SgdOptions{lr, momentum, 0});
  sgd.step();
  for (std::size_t i = 0; i < params.size(); ++i)
    EXPECT_LE(relative_error(*params[i].value, ref.at(p + "step." + names[i])), kTolerance)
        << names[i] << " after one SGD step";
}

std::string case_name(const ::testing::TestParamInfo<PytorchReference::ParamType>& info) {
  return std::string(lenet::name(std::get<0>(info.param))) + "_N" + std::to_string(std::get<1>(info.param)) +
         (std::get<2>(info.param) ? "_fused" : "_unfused");
}

INSTANTIATE_TEST_SUITE_P(LeNet5, PytorchReference,
                         ::testing::Combine(::testing::Values(lenet::Variant::sigmoid, lenet::Variant::relu),
                                            ::testing::Values(std::int64_t{256}, std::int64_t{7}), ::testing::Bool()),
                         case_name);

// The layers past LeNet against PyTorch (tests/fixtures/pytorch_blocks.safetensors, see
// make_pytorch_reference.py's blocks_net()): batch norm 2d and 1d, residual blocks with both
// shortcuts, bias-less Conv2d and Linear, Tanh, padded pools, global average pooling; the
// training-mode forward, every gradient, the running statistics, one Adam step, and the
// evaluation-mode forward after it.
TEST(PytorchReference, BlocksAgainstPyTorch) {
  using namespace hnn;
  const Fixture& ref = fixture_file("pytorch_blocks.safetensors");
  Sequential<float, cpu> model(
      Conv2d(1, 4, 3).padding(1).bias(false), BatchNorm2d(4), ReLU(),
      Residual({Conv2d(4, 4, 3).padding(1).bias(false), BatchNorm2d(4), Tanh(), Conv2d(4, 4, 3).padding(1).bias(false),
                BatchNorm2d(4)}),
      ReLU(), MaxPool2d(3, 2).padding(1),
      Residual({Conv2d(4, 8, 3).stride(2).padding(1).bias(false), BatchNorm2d(8), ReLU(),
                Conv2d(8, 8, 3).padding(1).bias(false), BatchNorm2d(8)},
               {Conv2d(4, 8, 1).stride(2).bias(false), BatchNorm2d(8)}),
      ReLU(), AvgPool2d(2, 2).padding(1), GlobalAvgPool2d(), Flatten(), Linear(8, 16).bias(false), BatchNorm1d(16),
      Sigmoid(), Linear(16, 10));
  const auto& state = model.state_dict();
  std::size_t in_file = 0;
  for (const auto& [name, tensor] : ref.tensors) in_file += name.rfind("weights.", 0) == 0 ? 1 : 0;
  ASSERT_EQ(state.size(), in_file) << "the model's state_dict and PyTorch's differ in size";
  for (const auto& [name, value] : state) value->copy_from(ref.at("weights." + name));  // names as PyTorch's

  const std::int64_t n = std::stoll(ref.metadata.at("n"));
  const hnn::data::Dataset& d = slice();
  const auto images = Tensor<float>::from_host(Shape{n, 1, 28, 28}, d.images.data());
  const auto labels = Tensor<std::int32_t>::from_host(Shape{n}, d.labels.data());

  SoftmaxCrossEntropy<float, cpu> loss;
  const Tensor<float>& logits = model.forward(images);
  EXPECT_LE(relative_error(logits, ref.at("train.logits")), kTolerance) << "training-mode logits";
  const double mean_loss = loss(logits, labels), ref_loss = ref.at("train.loss").data()[0];
  EXPECT_LE(std::abs(mean_loss - ref_loss) / ref_loss, kTolerance) << mean_loss << " vs " << ref_loss;
  model.backward(loss.gradient());
  for (std::size_t i = 0; i < model.parameters().size(); ++i)
    EXPECT_LE(relative_error(*model.parameters()[i].grad, ref.at("grad." + model.parameter_names()[i])), kTolerance)
        << "gradient of " << model.parameter_names()[i];

  Adam<float, cpu> adam(model.parameters());
  adam.step();
  for (const auto& [name, value] : state)  // parameters after Adam, running statistics after the forward
    EXPECT_LE(relative_error(*value, ref.at("after." + name)), kTolerance) << name << " after the step";

  model.eval();
  EXPECT_LE(relative_error(model.forward(images), ref.at("eval.logits")), kTolerance) << "evaluation-mode logits";
}

#else

// TODO: needs hnn/safetensors.hpp (hnn::read_safetensors, branch `safetensors`) to read the
// fixtures; until that lands this test only says so.
TEST(PytorchReference, NeedsTheSafetensorsReader) {
  GTEST_SKIP() << "hnn/safetensors.hpp is not in this tree yet; tests/fixtures/pytorch_lenet5_*.safetensors unchecked";
}

#endif

}  // namespace
