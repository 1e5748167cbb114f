// TrainLoop (hnn/training/train_loop.hpp) and its callbacks: any loader, loss and optimizer;
// gradient accumulation equal to one large batch; clipping; hooks; per-batch schedules;
// early stopping and keeping the best model; regression and 3-channel data.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/data/cifar.hpp"
#include "hnn/data/dataset.hpp"
#include "hnn/data/loader.hpp"
#include "hnn/data/resident_loader.hpp"
#include "hnn/data/subset.hpp"
#include "hnn/init.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/conv2d.hpp"
#include "hnn/layers/flatten.hpp"
#include "hnn/layers/global_avg_pool.hpp"
#include "hnn/layers/linear.hpp"
#include "hnn/layers/pool2d.hpp"
#include "hnn/loss.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/optim.hpp"
#include "hnn/training/callbacks.hpp"
#include "hnn/training/train.hpp"
#include "hnn/training/train_loop.hpp"

#include "../support/test_helpers.hpp"

namespace {

using namespace hnn;
using hnn::testing::expect_error;

// n samples of `features` values in [-1, 1]; the label is the index of the largest of the
// first `classes` features (a rule a linear model learns).
data::TensorDataset<double, std::int32_t> loop_argmax_set(std::int64_t n, std::int64_t features, int classes,
                                                          std::uint64_t seed) {
  Rng rng(seed);
  Tensor<double> x(Shape{n, features});
  Tensor<std::int32_t> y(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) {
    int best = 0;
    for (std::int64_t f = 0; f < features; ++f) {
      x[i * features + f] = rng.uniform(-1, 1);
      if (f < classes && x[i * features + f] > x[i * features + best]) best = static_cast<int>(f);
    }
    y[i] = best;
  }
  return data::TensorDataset<double, std::int32_t>(x, y);
}

std::vector<double> loop_parameter_values(Sequential<double>& model) {
  std::vector<double> v;
  for (const auto& p : model.parameters())
    for (std::int64_t i = 0; i < p.value->numel(); ++i) v.push_back((*p.value)[i]);
  return v;
}

TEST(TrainLoop, AccumulatingTwoHalfBatchesStepsAsOneFullBatch) {
  const auto set = loop_argmax_set(32, 6, 3, 1);
  const std::vector<LayerSpec> specs{Linear(6, 8), ReLU(), Linear(8, 3)};
  Sequential<double> whole(specs), halves(specs);
  whole.init(3);
  halves.copy_parameters_from(whole);

  CrossEntropyLoss<double> loss_a, loss_b;
  SGD<double> sgd_a(whole.parameters(), {0.5}), sgd_b(halves.parameters(), {0.5});
  TrainLoop<double> big(whole, loss_a, sgd_a), small(halves, loss_b, sgd_b);
  small.accumulate(2);
  data::DataLoader<data::TensorDataset<double, std::int32_t>> by32(set, data::LoaderOptions(32).background(false));
  data::DataLoader<data::TensorDataset<double, std::int32_t>> by16(set, data::LoaderOptions(16).background(false));
  const EpochStats a = big.train_epoch(by32, 1);
  const EpochStats b = small.train_epoch(by16, 1);
  EXPECT_NEAR(a.train_loss, b.train_loss, 1e-12);
  const auto va = loop_parameter_values(whole), vb = loop_parameter_values(halves);
  ASSERT_EQ(va.size(), vb.size());
  double moved = 0;
  for (std::size_t i = 0; i < va.size(); ++i) EXPECT_NEAR(va[i], vb[i], 1e-12) << i;
  Sequential<double> untouched(specs);
  untouched.init(3);
  const auto v0 = loop_parameter_values(untouched);
  for (std::size_t i = 0; i < va.size(); ++i) moved += std::abs(va[i] - v0[i]);
  EXPECT_GT(moved, 1e-3) << "one step was taken";
}

TEST(TrainLoop, ALeftoverGroupStepsOnItsOwnMean) {
  // 48 examples in batches of 16 with accumulate(2): one full group, then one batch alone,
  // which must step as a plain batch of 16 would.
  const auto set = loop_argmax_set(48, 5, 3, 2);
  const std::vector<LayerSpec> specs{Linear(5, 3)};
  Sequential<double> accumulated(specs), plain(specs);
  accumulated.init(4);
  plain.copy_parameters_from(accumulated);
  CrossEntropyLoss<double> la, lb;
  SGD<double> sa(accumulated.parameters(), {0.3}), sb(plain.parameters(), {0.3});
  TrainLoop<double> acc(accumulated, la, sa), ref(plain, lb, sb);
  acc.accumulate(2);
  data::DataLoader<data::TensorDataset<double, std::int32_t>> by16(set, data::LoaderOptions(16).background(false));
  acc.train_epoch(by16, 1);
  // The reference: the first 32 as one batch, then the last 16.
  data::Subset<data::TensorDataset<double, std::int32_t>> first(set, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                                                      16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31});
  std::vector<std::int64_t> rest;
  for (std::int64_t i = 32; i < 48; ++i) rest.push_back(i);
  data::Subset<data::TensorDataset<double, std::int32_t>> last(set, rest);
  data::DataLoader<data::Subset<data::TensorDataset<double, std::int32_t>>> l1(first, data::LoaderOptions(32).background(false));
  data::DataLoader<data::Subset<data::TensorDataset<double, std::int32_t>>> l2(last, data::LoaderOptions(16).background(false));
  ref.train_epoch(l1, 1);
  ref.train_epoch(l2, 1);
  const auto va = loop_parameter_values(accumulated), vb = loop_parameter_values(plain);
  for (std::size_t i = 0; i < va.size(); ++i) EXPECT_NEAR(va[i], vb[i], 1e-12) << i;
}

TEST(TrainLoop, ClippingAndTheAfterBackwardHookSeeTheClippedGradients) {
  const auto set = loop_argmax_set(64, 4, 4, 3);
  Sequential<double> model(std::vector<LayerSpec>{Linear(4, 4)});
  model.init(1);
  CrossEntropyLoss<double> loss;
  SGD<double> sgd(model.parameters(), {10.0});
  TrainLoop<double> loop(model, loss, sgd);
  std::vector<double> norms;
  loop.clip_grad_norm(0.05).after_backward([&](const std::vector<Parameter<double, cpu>>& params) {
    double s = 0;
    for (const auto& p : params)
      for (std::int64_t i = 0; i < p.grad->numel(); ++i) s += (*p.grad)[i] * (*p.grad)[i];
    norms.push_back(std::sqrt(s));
  });
  data::DataLoader<data::TensorDataset<double, std::int32_t>> loader(set, data::LoaderOptions(8).background(false));
  loop.train_epoch(loader, 1);
  ASSERT_EQ(norms.size(), 8u);
  for (double n : norms) EXPECT_LE(n, 0.05 + 1e-9);
  EXPECT_GT(norms.front(), 0.04) << "the first gradient is larger than the limit, so it was clipped to it";
}

TEST(TrainLoop, BeforeBatchChangesWhatTheModelSees) {
  const auto set = loop_argmax_set(40, 4, 2, 4);
  Sequential<double> model(std::vector<LayerSpec>{Linear(4, 2)});
  model.init(2);
  CrossEntropyLoss<double> loss;
  SGD<double> sgd(model.parameters(), {0.1});
  TrainLoop<double> loop(model, loss, sgd);
  int seen = 0;
  loop.before_batch([&](data::Batch<double, std::int32_t>& b) {
    ++seen;
    for (std::int64_t i = 0; i < b.inputs.numel(); ++i) b.inputs[i] = 0;  // the model sees zeros only
  });
  data::DataLoader<data::TensorDataset<double, std::int32_t>> loader(set, data::LoaderOptions(10).background(false));
  const EpochStats s = loop.train_epoch(loader, 1);
  EXPECT_EQ(seen, 4);
  // On zeros the logits are the biases: the first batch's loss is exactly ln 2 plus what the
  // initial biases give; with zero inputs the weights never move.
  const auto& w = *model.parameters()[0].value;
  Sequential<double> fresh(std::vector<LayerSpec>{Linear(4, 2)});
  fresh.init(2);
  for (std::int64_t i = 0; i < w.numel(); ++i) EXPECT_EQ(w[i], (*fresh.parameters()[0].value)[i]) << i;
  EXPECT_TRUE(std::isfinite(s.train_loss));
  // The loader's own data was left alone.
  EXPECT_NE(set.inputs()[0], 0.0);
}

TEST(TrainLoop, APerBatchScheduleStepsEveryOptimizerStep) {
  const auto set = loop_argmax_set(30, 3, 3, 5);
  Sequential<double> model(std::vector<LayerSpec>{Linear(3, 3)});
  model.init(0);
  CrossEntropyLoss<double> loss;
  SGD<double> sgd(model.parameters(), {0.2});
  LinearLR warm(sgd, 0.1, 1.0, 100, LRScheduler::Interval::per_batch);
  TrainLoop<double> loop(model, loss, sgd);
  loop.schedule(warm).accumulate(2);
  data::DataLoader<data::TensorDataset<double, std::int32_t>> loader(set, data::LoaderOptions(5).background(false));
  loop.fit(loader, 2);
  EXPECT_EQ(warm.steps(), 6) << "6 batches an epoch, accumulated in pairs: 3 optimizer steps an epoch";
  EXPECT_NEAR(sgd.lr(), 0.2 * (0.1 + 0.9 * 6 / 100.0), 1e-15);
  SGD<double> other(model.parameters(), {0.2});
  LinearLR foreign(other);
  expect_error<std::invalid_argument>([&] { loop.schedule(foreign); }, {"another optimizer"});
}

TEST(TrainLoop, RegressionWithMseAndAdamReportsMseAndMae) {
  // y = 2 x0 - x1 + 0.5 with a little noise; a linear model fits it.
  const std::int64_t n = 256;
  Rng rng(9);
  Tensor<double> x(Shape{n, 2}), y(Shape{n, 1});
  for (std::int64_t i = 0; i < n; ++i) {
    x[2 * i] = rng.uniform(-1, 1);
    x[2 * i + 1] = rng.uniform(-1, 1);
    y[i] = 2 * x[2 * i] - x[2 * i + 1] + 0.5 + 0.01 * rng.uniform(-1, 1);
  }
  data::TensorDataset<double, double> set(x, y);
  Sequential<double> model(std::vector<LayerSpec>{Linear(2, 1)});
  model.init(1);
  MSELoss<double> loss;
  AdamOptions o;
  o.lr = 0.05;
  Adam<double> adam(model.parameters(), o);
  TrainLoop<double, cpu, double> loop(model, loss, adam);
  data::DataLoader<data::TensorDataset<double, double>> train(set, data::LoaderOptions(32).shuffle(true).seed(1).background(false));
  data::DataLoader<data::TensorDataset<double, double>> test(set, data::LoaderOptions(64).background(false));
  const auto history = loop.fit(train, &test, 60);
  ASSERT_EQ(history.size(), 60u);
  EXPECT_TRUE(std::isnan(history.back().train_acc));
  const Evaluation e = loop.evaluate(test);
  EXPECT_LT(e.mse, 1e-3);
  EXPECT_LT(e.mae, 0.03);
  EXPECT_NEAR(e.loss, e.mse, 1e-12) << "the loss is MSELoss itself";
  EXPECT_TRUE(std::isnan(e.accuracy));
  EXPECT_EQ(e.examples, n);
  EXPECT_NEAR(history.back().test_acc, history.back().test_loss, 1e-12) << "for regression the epoch row's metric is the MSE";
}

TEST(TrainLoop, ThreeChannelImagesTrainThroughTheLoader) {
  // (N, 3, 6, 6) images whose label is the channel with the largest mean.
  const std::int64_t n = 240;
  Rng rng(11);
  Tensor<float> x(Shape{n, 3, 6, 6});
  Tensor<std::int32_t> y(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) {
    const int hot = static_cast<int>(rng.below(3));
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 36; ++p) x[(i * 3 + c) * 36 + p] = static_cast<float>(rng.uniform(0, 1) + (c == hot ? 0.5 : 0));
    y[i] = hot;
  }
  data::TensorDataset<float, std::int32_t> set(x, y);
  Sequential<float> model(std::vector<LayerSpec>{Conv2d(3, 4, 3).padding(1), ReLU(), Flatten(), Linear(4 * 6 * 6, 3)});
  model.init(0);
  CrossEntropyLoss<float> loss;
  SGD<float> sgd(model.parameters(), {0.05, 0.9});
  TrainLoop<float> loop(model, loss, sgd);
  data::DataLoader<data::TensorDataset<float, std::int32_t>> train(set, data::LoaderOptions(16).shuffle(true).seed(2));
  data::ResidentLoader<float> test(set, data::LoaderOptions(100));
  const auto history = loop.fit(train, &test, 6);
  EXPECT_LT(history.back().train_loss, history.front().train_loss);
  EXPECT_GT(history.back().test_acc, 0.9);
  EXPECT_GT(history.back().train_acc, 0.8);
}

TEST(TrainLoop, DivergenceAndBadLabelsAreErrorsNamingTheBatchAndTheLabel) {
  auto set = loop_argmax_set(64, 4, 4, 6);
  Sequential<double> model(std::vector<LayerSpec>{Linear(4, 4)});
  model.init(1);
  CrossEntropyLoss<double> loss;
  SGD<double> sgd(model.parameters(), {1e6});
  TrainLoop<double> loop(model, loss, sgd);
  data::DataLoader<data::TensorDataset<double, std::int32_t>> loader(set, data::LoaderOptions(8).background(false));
  expect_error<DivergedError>([&] { loop.train_epoch(loader, 1); }, {"training diverged at epoch 1, batch"});

  Tensor<std::int32_t> labels = set.targets().clone();
  labels[5] = 12;
  data::TensorDataset<double, std::int32_t> bad(set.inputs(), labels);
  data::DataLoader<data::TensorDataset<double, std::int32_t>> bad_loader(bad, data::LoaderOptions(8).background(false));
  sgd.set_lr(0, 0.1);
  expect_error<std::invalid_argument>([&] { loop.train_epoch(bad_loader, 1); }, {"label 12 at index 5"});
}

TEST(TrainLoop, EarlyStoppingStopsAfterPatienceAndKeepBestRestoresTheBestEpoch) {
  EarlyStopping stop(2, 0.01);
  const auto row = [](int epoch, double test_loss) {
    EpochStats e;
    e.epoch = epoch;
    e.test_loss = test_loss;
    return e;
  };
  EXPECT_TRUE(stop(row(1, 1.0)));
  EXPECT_TRUE(stop(row(2, 0.5)));
  EXPECT_TRUE(stop(row(3, 0.495))) << "an improvement below min_delta is no improvement";
  EXPECT_FALSE(stop(row(4, 0.6)));
  EXPECT_EQ(stop.best(), 0.5);

  Sequential<double> model(std::vector<LayerSpec>{Linear(2, 2)});
  model.init(1);
  int saved = 0;
  KeepBest<double> best(model, [&](const EpochStats&) { ++saved; });
  expect_error<std::logic_error>([&] { best.restore(); }, {"no epoch"});
  best(row(1, 0.9));
  const std::vector<double> at_best = loop_parameter_values(model);
  (*model.parameters()[0].value)[0] += 1;
  best(row(2, 1.2));  // worse: not kept
  EXPECT_EQ(saved, 1);
  best.restore();
  EXPECT_EQ(loop_parameter_values(model), at_best);
  EXPECT_EQ(best.best_epoch(), 1);

  // fit stops when on_epoch says so.
  const auto set = loop_argmax_set(16, 2, 2, 7);
  CrossEntropyLoss<double> loss;
  SGD<double> sgd(model.parameters(), {0.1});
  TrainLoop<double> loop(model, loss, sgd);
  data::DataLoader<data::TensorDataset<double, std::int32_t>> loader(set, data::LoaderOptions(4).background(false));
  const auto history = loop.fit(loader, 10, [](const EpochStats& e) { return e.epoch < 3; });
  EXPECT_EQ(history.size(), 3u);
}

// A CIFAR-10-format folder of n records per training batch file (5 files) and n test records:
// 32x32 RGB images whose label is the brightest of three colour channels (classes 0-2).
void loop_write_cifar(const std::filesystem::path& dir, std::int64_t n, std::uint64_t seed) {
  Rng rng(seed);
  const auto write = [&](const std::string& name) {
    std::FILE* f = std::fopen((dir / name).string().c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::vector<unsigned char> record(1 + 3072);
    for (std::int64_t r = 0; r < n; ++r) {
      const int hot = static_cast<int>(rng.below(3));
      record[0] = static_cast<unsigned char>(hot);
      for (int c = 0; c < 3; ++c)
        for (int p = 0; p < 1024; ++p)
          record[static_cast<std::size_t>(1 + c * 1024 + p)] = static_cast<unsigned char>(rng.below(150) + (c == hot ? 100 : 0));
      std::fwrite(record.data(), 1, record.size(), f);
    }
    std::fclose(f);
  };
  for (int b = 1; b <= 5; ++b) write("data_batch_" + std::to_string(b) + ".bin");
  write("test_batch.bin");
}

TEST(TrainLoop, ACifarFormatSetTrainsThroughTrainAndThroughTheLoop) {
  hnn::testing::TempDir tmp;
  loop_write_cifar(tmp.path(), 40, 3);
  const auto train_set = data::cifar10(tmp.path().string(), data::Split::train);
  const auto test_set = data::cifar10(tmp.path().string(), data::Split::test);
  ASSERT_EQ(train_set.size(), 200);
  ASSERT_EQ(train_set.sample_shape(), (Shape{3, 32, 32}));
  const std::vector<LayerSpec> specs{Conv2d(3, 4, 3).padding(1), ReLU(), AvgPool2d(4), Flatten(), Linear(4 * 8 * 8, 10)};

  // The classic trainer on a DeviceDataset of (N, 3, 32, 32).
  Sequential<float> model(specs, 1);
  const DeviceDataset<float> train_data(train_set), test_data(test_set);
  EXPECT_EQ(train_data.images.shape(), (Shape{200, 3, 32, 32}));
  TrainOptions options;
  options.epochs = 4;
  options.lr = 0.1;
  options.momentum = 0.9;
  options.batch_size = 20;
  const auto history = train(model, train_data, test_data, options);
  EXPECT_GT(history.back().test_acc, 0.9);

  // The open loop with a loader over the same files.
  Sequential<float> again(specs, 1);
  CrossEntropyLoss<float> loss;
  SGD<float> sgd(again.parameters(), {0.1, 0.9});
  TrainLoop<float> loop(again, loss, sgd);
  data::DataLoader train_loader(train_set, data::LoaderOptions(20).shuffle(true));
  data::DataLoader test_loader(test_set, data::LoaderOptions(40));
  const auto rows = loop.fit(train_loader, &test_loader, 4);
  EXPECT_GT(rows.back().test_acc, 0.9);
  // Both saw the same batches in the same order from the same start: the same losses.
  EXPECT_NEAR(rows.front().train_loss, history.front().train_loss, 1e-4);
}

}  // namespace
