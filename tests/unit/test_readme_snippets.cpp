// The README's "API tour", compiled and run. Each snippet lies between a
// "// [readme:NAME]" line and a "// [/readme]" line; tests/check_readme_snippets.sh checks
// that the README's block marked <!-- snippet: NAME --> is the same text, so the README
// cannot drift from code that builds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

#include "hnn/extras/image.hpp"
#include "hnn/hnn.hpp"

namespace {
const std::string data_dir = std::string(HNN_SOURCE_DIR) + "/data/fashion-mnist";

std::string temp_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("hnn-readme-" + std::to_string(::getpid()) + "-" + name)).string();
}

// [readme:model]
template <class Device>
hnn::Sequential<float, Device> lenet5() {
  using namespace hnn;
  return Sequential<float, Device>(
      Conv2d(1, 6, 5).padding(2), ReLU(), MaxPool2d(2, /*stride=*/2),
      Conv2d(6, 16, 5), ReLU(), MaxPool2d(2, 2), Flatten(),
      Linear(16 * 5 * 5, 120), ReLU(), Linear(120, 84), ReLU(), Linear(84, 10));
}
// [/readme]
}  // namespace

TEST(ReadmeSnippets, Tensor) {
  // [readme:tensor]
  using Host = hnn::Tensor<float, hnn::cpu>;
  Host x = Host::from_vector(hnn::Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  Host row = x.slice(1, 2);              // a view of the second row, no copy: (1, 3)
  Host flat = x.reshape(hnn::Shape{6});  // another view of the same storage
  row.at(0, 0) = 40;                     // writes through to x: x.at(1, 0) == 40
  Host copy = x.clone();                 // a deep copy
  // In a .cu file: auto on_gpu = x.to<hnn::cuda>(); auto back = on_gpu.to<hnn::cpu>();
  // [/readme]
  EXPECT_EQ(x.at(1, 0), 40);
  EXPECT_EQ(flat[3], 40);
  EXPECT_EQ(copy.shape(), (hnn::Shape{2, 3}));
}

TEST(ReadmeSnippets, Layer) {
  // [readme:layer]
  hnn::LinearLayer<float, hnn::cpu> fc(hnn::Linear(3, 2));  // y = x W^T + b, W is (2, 3)
  auto params = fc.parameters();                            // "weight" and "bias", value and grad
  params[0].value->copy_from(hnn::Tensor<float, hnn::cpu>::from_vector(hnn::Shape{2, 3}, {1, 0, 0, 0, 1, 1}));
  params[1].value->copy_from(hnn::Tensor<float, hnn::cpu>::from_vector(hnn::Shape{2}, {0.5f, -1}));
  const auto& y = fc.forward(hnn::Tensor<float, hnn::cpu>::from_vector(hnn::Shape{1, 3}, {1, 2, 3}));
  // y is (1.5, 4); fc.backward(dLoss_dy) fills params[i].grad and returns dLoss/dx
  // [/readme]
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1.5f, 4.0f}));
}

TEST(ReadmeSnippets, Model) {
  // [readme:model-use]
  auto net = lenet5<hnn::cpu>();  // lenet5<hnn::cuda>() in a .cu file: the same network on the GPU
  std::cout << net.summary(hnn::Shape{1, 1, 28, 28});  // layers, output shapes, 61,706 parameters
  const auto& logits = net.forward(hnn::Tensor<float, hnn::cpu>::zeros(hnn::Shape{8, 1, 28, 28}));
  // logits.shape() == (8, 10)
  // [/readme]
  EXPECT_EQ(logits.shape(), (hnn::Shape{8, 10}));
  EXPECT_EQ(net.parameter_count(), 61706);
}

TEST(ReadmeSnippets, Residual) {
  // [readme:residual]
  using namespace hnn;
  auto block = [](std::int64_t in, std::int64_t out, std::int64_t stride) {
    std::vector<LayerSpec> body{Conv2d(in, out, 3).stride(stride).padding(1).bias(false), BatchNorm2d(out), ReLU(),
                                Conv2d(out, out, 3).padding(1).bias(false), BatchNorm2d(out)};
    if (in == out && stride == 1) return Residual(body);  // identity shortcut: body(x) + x
    return Residual(body, {Conv2d(in, out, 1).stride(stride).bias(false), BatchNorm2d(out)});
  };
  Sequential<float, cpu> net(Conv2d(1, 16, 3).padding(1).bias(false), BatchNorm2d(16), ReLU(),
                             block(16, 16, 1), ReLU(), block(16, 32, 2), ReLU(),
                             GlobalAvgPool2d(), Flatten(), Linear(32, 10));
  std::cout << net.summary(Shape{1, 1, 28, 28});  // "5.shortcut.0  Conv2d(16, 32, kernel=1, ...)"
  net.eval();                                       // running statistics, for evaluation
  // [/readme]
  const std::string summary = net.summary(Shape{1, 1, 28, 28});
  EXPECT_NE(summary.find("  5.shortcut.0"), std::string::npos) << summary;
  EXPECT_EQ(net.state_dict()[5].name, "3.body.0.weight");
  EXPECT_EQ(net.forward(Tensor<float, cpu>::zeros(Shape{2, 1, 28, 28})).shape(), (Shape{2, 10}));
}

TEST(ReadmeSnippets, TrainSaveLoadPredict) {
  const std::string path = temp_file("lenet5.hnn"), image_path = temp_file("image.pgm");
  std::vector<float> first_pixels;  // the image written to image_path, as the model takes it
  {
    // Scale the README's example down to a quick test: 300 images, 1 epoch.
    const std::string dir = data_dir;
    // [readme:training]
    const auto train_set = hnn::data::load_fashion_mnist(dir, hnn::data::Split::test, 300);
    const hnn::DeviceDataset<float, hnn::cpu> data(train_set);  // the whole set on the device, once
    auto net = lenet5<hnn::cpu>();
    hnn::TrainOptions options;
    options.epochs = 1;
    options.lr = 0.05;
    options.momentum = 0.9;
    const auto history = hnn::train(net, data, data, options, [](const hnn::EpochStats& s) {
      std::printf("epoch %d: loss %.3f, test acc %.3f\n", s.epoch, s.train_loss, s.test_acc);
    });
    // [/readme]
    ASSERT_EQ(history.size(), 1u);

    // [readme:saving]
    hnn::save(net, path);                                   // atomic; CRC-checked on load
    auto same = lenet5<hnn::cpu>();
    hnn::load(same, path);                                  // throws, untouched, if anything differs
    auto built = hnn::load_model<float, hnn::cpu>(path);    // the architecture from the file
    // To resume a run exactly: train() with TrainHooks (below), or Trainer::state() and restore()
    // [/readme]
    EXPECT_EQ(built.describe_all(), net.describe_all());
    EXPECT_EQ(same.parameters()[0].value->to_vector(), net.parameters()[0].value->to_vector());

    hnn::Image first(28, 28, 1);
    for (std::size_t k = 0; k < 784; ++k)
      first.pixels[k] = static_cast<std::uint8_t>(std::lround(train_set.images[k] * 255));
    hnn::write_pnm(first, image_path);
    first_pixels.assign(train_set.images.begin(), train_set.images.begin() + 784);
  }
  auto net = hnn::load_model<float, hnn::cpu>(path);
  // [readme:predicting]
  const hnn::Image image = hnn::read_pnm(image_path);      // <hnn/extras/image.hpp>; PNG: <hnn/extras/png.hpp>
  const hnn::ModelInput in = hnn::fashion_mnist_input(image);  // gray, 28x28, light object on black
  const auto batch = hnn::Tensor<float, hnn::cpu>::from_vector(hnn::Shape{1, 1, 28, 28}, in.pixels);
  const auto probabilities = hnn::predict_probabilities(net, batch);
  for (const hnn::Scored& s : hnn::top_k(probabilities, 0, 3))
    std::printf("%-12s %.3f\n", std::string(hnn::data::fashion_mnist_classes()[s.label]).c_str(), s.score);
  // [/readme]
  // The probabilities read from the file are the softmax of the loaded model's logits for the
  // known image (its pixels are multiples of 1/255, so the PGM round trip is exact), and
  // top_k lists the three most likely classes in order, the first the model's prediction.
  ASSERT_EQ(probabilities.shape(), (hnn::Shape{1, 10}));
  const auto& logits = net.forward(hnn::Tensor<float, hnn::cpu>::from_vector(hnn::Shape{1, 1, 28, 28}, first_pixels));
  double max_logit = logits.at(0, 0), norm = 0;
  int predicted = 0;
  for (int c = 1; c < 10; ++c)
    if (logits.at(0, c) > max_logit) max_logit = logits.at(0, c), predicted = c;
  for (int c = 0; c < 10; ++c) norm += std::exp(logits.at(0, c) - max_logit);
  for (int c = 0; c < 10; ++c)
    EXPECT_NEAR(probabilities.at(0, c), std::exp(logits.at(0, c) - max_logit) / norm, 1e-5) << "class " << c;
  const std::vector<hnn::Scored> top = hnn::top_k(probabilities, 0, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].label, predicted);
  for (std::size_t k = 0; k < top.size(); ++k) {
    EXPECT_DOUBLE_EQ(top[k].score, probabilities.at(0, top[k].label));
    if (k > 0) {
      EXPECT_GE(top[k - 1].score, top[k].score);
      EXPECT_NE(top[k - 1].label, top[k].label);
    }
  }
  std::remove(path.c_str());
  std::remove(image_path.c_str());
}

TEST(ReadmeSnippets, HandWrittenTrainingStep) {
  const auto set = hnn::data::load_fashion_mnist(data_dir, hnn::data::Split::test, 64);
  // [readme:training-step]
  auto net = lenet5<hnn::cpu>();
  const auto images = hnn::Tensor<float, hnn::cpu>::from_vector(hnn::Shape{64, 1, 28, 28}, set.images);
  const auto labels = hnn::Tensor<std::int32_t, hnn::cpu>::from_vector(hnn::Shape{64}, set.labels);
  hnn::SoftmaxCrossEntropy<float, hnn::cpu> loss;
  hnn::SGD<float, hnn::cpu> sgd(net.parameters(), {/*lr=*/0.05});
  std::vector<double> losses;
  for (int step = 0; step < 30; ++step) {
    const auto& logits = net.forward(images);          // (64, 10)
    losses.push_back(loss(logits, labels));            // the batch's mean loss
    net.backward(loss.gradient());                     // every parameter's gradient
    sgd.step();
  }
  // [/readme]
  EXPECT_NEAR(losses.front(), std::log(10.0), 0.3);  // a fresh network guesses
  EXPECT_LT(losses.back(), losses.front() - 0.3);    // 30 steps on one batch: it learns that batch (2.29 -> 1.70)
}

// [readme:custom-layer]
// y = x * weight[c] for each channel c: a learnable per-channel scale.
template <class T, class Device>
class ScaleLayer;

struct Scale {
  static constexpr const char* kind = "Scale";  // what checkpoints record
  template <class T, class Device>
  using layer = ScaleLayer<T, Device>;

  std::int64_t channels;
  std::string str() const { return "Scale(" + std::to_string(channels) + ")"; }
  hnn::Shape output_shape(const hnn::Shape& input) const { return input; }
  std::vector<std::int64_t> sizes() const { return {channels}; }
  static Scale from_sizes(const std::vector<std::int64_t>& s) { return Scale{s.at(0)}; }
};

template <class T, class Device>
class ScaleLayer final : public hnn::Layer<T, Device> {  // a CPU-only layer: plain loops
 public:
  explicit ScaleLayer(const Scale& s) : c_(s.channels), weight_(hnn::Shape{c_}), grad_(hnn::Shape{c_}) {}

  const hnn::Tensor<T, Device>& forward(const hnn::Tensor<T, Device>& x) override {
    x_ = x;
    y_.resize(x.shape());
    const std::int64_t plane = x.numel() / (x.dim(0) * c_);
    for (std::int64_t i = 0; i < x.numel(); ++i) y_[i] = x[i] * weight_[i / plane % c_];
    return y_;
  }
  const hnn::Tensor<T, Device>& backward(const hnn::Tensor<T, Device>& dy) override {
    const std::int64_t plane = x_.numel() / (x_.dim(0) * c_);
    dx_.resize(x_.shape());
    for (std::int64_t c = 0; c < c_; ++c) grad_[c] = 0;
    for (std::int64_t i = 0; i < x_.numel(); ++i) {
      grad_[i / plane % c_] += dy[i] * x_[i];
      dx_[i] = dy[i] * weight_[i / plane % c_];
    }
    return dx_;
  }
  std::vector<hnn::Parameter<T, Device>> parameters() override { return {{"weight", &weight_, &grad_}}; }
  void reset_parameters(hnn::Rng&) override {
    for (std::int64_t c = 0; c < c_; ++c) weight_[c] = 1;
  }

 private:
  std::int64_t c_;
  hnn::Tensor<T, Device> weight_, grad_, x_, y_, dx_;
};
// [/readme]

TEST(ReadmeSnippets, CustomLayer) {
  // [readme:custom-layer-use]
  hnn::Sequential<float, hnn::cpu> net(hnn::Conv2d(1, 4, 3), Scale{4}, hnn::ReLU(), hnn::Flatten(),
                                       hnn::Linear(4 * 26 * 26, 10));
  // Trace, summary, parameter names ("1.weight"), checkpoints and training take it as they are.
  hnn::register_layer<Scale>();  // only for load_model(), which rebuilds it from a file
  // [/readme]
  EXPECT_EQ(net.parameter_names()[2], "1.weight");
  const hnn::Shape out = net.forward(hnn::Tensor<float, hnn::cpu>::zeros(hnn::Shape{2, 1, 28, 28})).shape();
  EXPECT_EQ(out, (hnn::Shape{2, 10}));
  const std::string path = temp_file("scale.hnn");
  hnn::save(net, path);
  const std::string rebuilt = hnn::load_model<float, hnn::cpu>(path).describe_all();
  EXPECT_EQ(rebuilt, net.describe_all());
  std::remove(path.c_str());
}

TEST(ReadmeSnippets, Resuming) {
  const std::string path = temp_file("resume.hnn");
  const hnn::DeviceDataset<float, hnn::cpu> data(hnn::data::load_fashion_mnist(data_dir, hnn::data::Split::test, 300));
  auto net = lenet5<hnn::cpu>();
  hnn::TrainOptions options;
  options.epochs = 2;
  options.lr = 0.05;
  options.momentum = 0.9;
  {
    // [readme:resuming]
    hnn::TrainHooks hooks;
    hooks.checkpoint_every = 1;  // after every epoch; the last one is always a checkpoint
    hooks.on_checkpoint = [&](const hnn::TrainingState& state, const std::vector<hnn::EpochStats>& rows) {
      hnn::save(net, path, {state, {{"history", hnn::history_csv(rows)}}});
    };
    hnn::train(net, data, data, options, hooks);

    // Later, in another process perhaps: the same run, continued to 3 epochs in total.
    auto again = lenet5<hnn::cpu>();
    const hnn::CheckpointExtras saved = hnn::load(again, path);
    hnn::TrainHooks continued;
    continued.resume = saved.training;
    continued.resume_history = hnn::parse_history_csv(saved.metadata.at("history"));
    options.epochs = 3;
    const auto rows = hnn::train(again, data, data, options, continued);  // epochs 1 to 3
    // [/readme]
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[2].epoch, 3);
    EXPECT_EQ(rows[1].epoch, 2);
  }
  std::remove(path.c_str());
}
