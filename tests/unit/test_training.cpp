// A short training run on the committed slice of the real Fashion-MNIST.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "../support/lenet5.hpp"
#include "hnn/data/mnist.hpp"
#include "hnn/training/train.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;

namespace {
using hnn::testing::slice_dir;

// The slice holds only test-split files; use its first 800 images to train, the rest to test.
data::Dataset part(const data::Dataset& all, std::int64_t begin, std::int64_t end) {
  data::Dataset d = all;
  d.size = end - begin;
  d.images.assign(all.images.begin() + begin * 784, all.images.begin() + end * 784);
  d.labels.assign(all.labels.begin() + begin, all.labels.begin() + end);
  return d;
}
}  // namespace

TEST(Training, LossFallsClearlyOnRealImages) {
  const data::Dataset all = data::load_fashion_mnist(slice_dir, data::Split::test);
  const DeviceDataset<float, cpu> train_set(part(all, 0, 800)), test_set(part(all, 800, 1000));
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 1);
  TrainOptions options;
  options.epochs = 8;
  options.lr = 0.1;
  options.batch_size = 32;
  options.momentum = 0.9;
  const auto start = std::chrono::steady_clock::now();
  const auto history = train(model, train_set, test_set, options);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(history.size(), 8u);
  EXPECT_GT(history.front().train_loss, 1.5);           // starts near ln(10) = 2.30
  EXPECT_LT(history.back().train_loss, 0.6 * history.front().train_loss);
  EXPECT_GT(history.back().test_acc, 0.5);              // five times the 0.1 of guessing
  // The throughput is the epoch's 800 examples over its training time, and the epochs'
  // training times fit inside the whole call.
  double trained_seconds = 0;
  for (const auto& s : history) {
    EXPECT_GT(s.seconds, 0);
    EXPECT_TRUE(std::isfinite(s.examples_per_sec)) << s.examples_per_sec;
    EXPECT_NEAR(s.examples_per_sec * s.seconds, 800.0, 1e-6 * 800) << "epoch " << s.epoch;
    trained_seconds += s.seconds;
  }
  EXPECT_LE(trained_seconds, wall);
}

TEST(Training, SameSeedSameResult) {
  const data::Dataset all = data::load_fashion_mnist(slice_dir, data::Split::test, 300);
  const DeviceDataset<float, cpu> set(all);
  TrainOptions options;
  options.epochs = 2;
  options.batch_size = 64;  // 300 = 4 full batches + a partial one of 44
  options.lr = 0.5;
  auto a = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 3);
  auto b = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 3);
  const auto ha = train(a, set, set, options), hb = train(b, set, set, options);
  EXPECT_EQ(ha.back().train_loss, hb.back().train_loss);
  EXPECT_EQ(a.parameters()[0].value->to_vector(), b.parameters()[0].value->to_vector());
}

TEST(Training, DivergenceStopsAtTheFirstBadBatchWithAClearMessage) {
  const data::Dataset all = data::load_fashion_mnist(slice_dir, data::Split::test, 512);
  const DeviceDataset<float, cpu> set(all);
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 1);
  TrainOptions options;
  options.epochs = 3;
  options.lr = 1000;
  options.batch_size = 32;
  try {
    train(model, set, set, options);
    FAIL() << "a learning rate of 1000 should diverge";
  } catch (const DivergedError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("epoch 1, batch"), std::string::npos) << what;
    EXPECT_NE(what.find("smaller learning rate"), std::string::npos) << what;
  }
}

// The sigmoid net at lr 1000 never reaches NaN: its loss explodes but stays finite (in the
// thousands). The loss limit (100 x ln 10 = 230) stops it in the first batches; without the
// limit it trains the whole epoch on garbage.
TEST(Training, AnExplodingFiniteLossStopsAtTheFirstBadBatch) {
  const data::Dataset all = data::load_fashion_mnist(slice_dir, data::Split::test, 512);
  const DeviceDataset<float, cpu> set(all);
  TrainOptions options;
  options.epochs = 1;
  options.lr = 1000;
  options.batch_size = 32;
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 0);
  try {
    train(model, set, set, options);
    FAIL() << "a learning rate of 1000 should be stopped";
  } catch (const DivergedError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("at epoch 1, batch 2: the loss exploded"), std::string::npos) << what;
    EXPECT_NE(what.find("above the limit 230.2"), std::string::npos) << what;
    EXPECT_NE(what.find("try a smaller learning rate (now 1000)"), std::string::npos) << what;
  }

  options.max_loss_factor = std::numeric_limits<double>::infinity();
  auto unchecked = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 0);
  const auto history = train(unchecked, set, set, options);
  EXPECT_GT(history.back().train_loss, 230.0) << "finite, but no model is learnt at this loss";
  EXPECT_LT(history.back().train_acc, 0.2);
}

// Legitimate recipes stay far below the limit: their worst batch is about 1.2 x ln 10 at
// batch 256 on the full set, 2.3 x here (batch 32, sigmoid, lr 0.9: 5.3 at batch 3).
TEST(Training, TheRecipesNeverTripTheLossLimit) {
  const data::Dataset all = data::load_fashion_mnist(slice_dir, data::Split::test, 512);
  const DeviceDataset<float, cpu> set(all);
  TrainOptions options;
  options.epochs = 2;
  options.batch_size = 32;
  options.max_loss_factor = 10;  // ten times stricter than the default
  auto sigmoid = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 0);
  options.lr = 0.9;
  EXPECT_NO_THROW(train(sigmoid, set, set, options));
  auto relu = lenet::lenet5<float, cpu>(lenet::Variant::relu, 0);
  options.lr = 0.05;
  options.momentum = 0.9;
  EXPECT_NO_THROW(train(relu, set, set, options));
}

TEST(Training, RejectsBadOptions) {
  const DeviceDataset<float, cpu> set(data::load_fashion_mnist(slice_dir, data::Split::test, 64));
  auto model = lenet::lenet5<float, cpu>();
  TrainOptions options;
  options.lr = 0.9;  // d2l's LeNet-5 rate
  options.epochs = 0;
  EXPECT_THROW(train(model, set, set, options), std::invalid_argument);
  options.epochs = 1;
  options.batch_size = -3;
  EXPECT_THROW(train(model, set, set, options), std::invalid_argument);
}
