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
      Conv2d(1, 6, /*kernel=*/5, /*padding=*/2), ReLU(), MaxPool2d(2, /*stride=*/2),
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
    // To resume exactly: save(net, path, {trainer.state(), {}}) and trainer.restore(*extras.training)
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
  const hnn::Image image = hnn::read_pnm(image_path);      // or hnn::read_image() from <hnn/png.hpp>
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
