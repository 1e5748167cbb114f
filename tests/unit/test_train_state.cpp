// The training loop's hooks for seeing and resuming a run: the per-batch callback, and
// Trainer::state()/restore() through a checkpoint giving exactly the uninterrupted run.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "../support/lenet5.hpp"
#include "hnn/io/checkpoint.hpp"
#include "hnn/data/mnist.hpp"
#include "hnn/training/predict.hpp"
#include "hnn/training/train.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;

namespace {
using hnn::testing::slice_dir;

using hnn::testing::parameter_values;
}  // namespace

TEST(Rng, StateContinuesTheSameSequence) {
  Rng a(42);
  a.next();
  a.next();
  Rng b(0);
  b.set_state(a.state());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(a.next(), b.next());
}

TEST(BatchCallback, SeesEveryBatchWithTheRunningLossOnTheCpu) {
  const DeviceDataset<float, cpu> set(data::load_fashion_mnist(slice_dir, data::Split::test, 300));
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 1);
  TrainOptions options;
  options.epochs = 1;
  options.batch_size = 64;  // 4 full batches and one of 44
  options.lr = 0.05;
  Trainer<float, cpu> trainer(model, set, options);
  std::vector<BatchProgress> seen;
  const EpochStats stats = trainer.train_epoch(1, [&](const BatchProgress& p) { seen.push_back(p); });
  ASSERT_EQ(seen.size(), 5u);
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].epoch, 1);
    EXPECT_EQ(seen[i].batch, static_cast<std::int64_t>(i) + 1);
    EXPECT_EQ(seen[i].batches, 5);
    EXPECT_EQ(seen[i].total_examples, 300);
    EXPECT_TRUE(std::isfinite(seen[i].running_loss));
    EXPECT_GE(seen[i].seconds, i ? seen[i - 1].seconds : 0.0);
  }
  EXPECT_EQ(seen[3].examples, 256);
  EXPECT_EQ(seen.back().examples, 300);
  EXPECT_EQ(seen.back().running_loss, stats.train_loss);  // the same sum over the same count
  EXPECT_EQ(trainer.epochs_done(), 1);
}

// 2 epochs straight versus 1 epoch, a checkpoint, a new process's worth of objects (another
// init seed, to prove the checkpoint is what counts), and 1 more epoch: identical bit for bit.
TEST(Resume, ThroughACheckpointEqualsTheUninterruptedRun) {
  const data::Dataset all = data::load_fashion_mnist(slice_dir, data::Split::test, 300);
  const DeviceDataset<float, cpu> set(all);
  TrainOptions options;
  options.epochs = 2;
  options.batch_size = 64;
  options.lr = 0.05;
  options.momentum = 0.9;  // momentum buffers must travel too
  options.seed = 7;

  auto straight = lenet::lenet5<float, cpu>(lenet::Variant::relu, 3);
  std::vector<EpochStats> a;
  {
    Trainer<float, cpu> trainer(straight, set, options);
    for (int e = 1; e <= 2; ++e) {
      a.push_back(trainer.train_epoch(e));
      a.back().test_acc = evaluate(straight, set);
    }
  }

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("hnn-resume-" + std::to_string(::getpid()) + ".hnn")).string();
  {
    auto first = lenet::lenet5<float, cpu>(lenet::Variant::relu, 3);
    Trainer<float, cpu> trainer(first, set, options);
    const EpochStats e1 = trainer.train_epoch(1);
    EXPECT_EQ(e1.train_loss, a[0].train_loss);
    evaluate(first, set);  // as the uninterrupted run did
    CheckpointExtras extras;
    extras.training = trainer.state();
    save(first, path, extras);
  }
  auto resumed = lenet::lenet5<float, cpu>(lenet::Variant::relu, 99);
  const CheckpointExtras extras = load(resumed, path);
  std::remove(path.c_str());
  ASSERT_TRUE(extras.training.has_value());
  EXPECT_EQ(extras.training->epoch, 1);
  Trainer<float, cpu> trainer(resumed, set, options);
  trainer.restore(*extras.training);
  EXPECT_EQ(trainer.epochs_done(), 1);
  const EpochStats e2 = trainer.train_epoch(2);
  EXPECT_EQ(e2.train_loss, a[1].train_loss);
  EXPECT_EQ(e2.train_acc, a[1].train_acc);
  EXPECT_EQ(evaluate(resumed, set), a[1].test_acc);
  EXPECT_EQ(parameter_values(resumed), parameter_values(straight));
}

TEST(Resume, RestoreRefusesAStateThatDoesNotFitAndChangesNothing) {
  const DeviceDataset<float, cpu> set(data::load_fashion_mnist(slice_dir, data::Split::test, 100));
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 1);
  TrainOptions options;
  options.epochs = 1;
  options.batch_size = 50;
  options.lr = 0.05;
  options.momentum = 0.9;
  Trainer<float, cpu> trainer(model, set, options);
  const TrainingState good = trainer.state();
  EXPECT_EQ(good.order.size(), 100u);
  EXPECT_EQ(good.optimizer.buffers.size(), model.parameters().size());

  TrainingState wrong_size = good;
  wrong_size.order.pop_back();
  EXPECT_THROW(trainer.restore(wrong_size), std::invalid_argument);
  TrainingState not_a_permutation = good;
  not_a_permutation.order[0] = not_a_permutation.order[1];
  EXPECT_THROW(trainer.restore(not_a_permutation), std::invalid_argument);
  TrainingState no_momentum = good;
  no_momentum.optimizer.buffers.clear();
  no_momentum.epoch = 5;
  try {
    trainer.restore(no_momentum);
    FAIL() << "a state without momentum buffers must not fit a trainer with momentum";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("momentum"), std::string::npos) << e.what();
  }
  EXPECT_EQ(trainer.epochs_done(), 0);
}

TEST(Predict, AgreesWithTheAccuracyThatEvaluateCounts) {
  const data::Dataset all = data::load_fashion_mnist(slice_dir, data::Split::test, 200);
  const DeviceDataset<float, cpu> set(all);
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 2);
  const std::vector<std::int32_t> predicted = predict(model, set.images, 64);
  ASSERT_EQ(predicted.size(), 200u);
  int right = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) right += predicted[i] == all.labels[i];
  EXPECT_DOUBLE_EQ(right / 200.0, evaluate(model, set, 64));

  const Tensor<float, cpu> p = predict_probabilities(model, set.images);
  ASSERT_EQ(p.shape(), (Shape{200, 10}));
  for (std::int64_t r = 0; r < 200; ++r) {
    double sum = 0;
    for (std::int64_t c = 0; c < 10; ++c) sum += p[r * 10 + c];
    EXPECT_NEAR(sum, 1.0, 1e-5);
    const auto top = top_k(p, r, 3);
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top[0].label, predicted[static_cast<std::size_t>(r)]);
    EXPECT_GE(top[0].score, top[1].score);
    EXPECT_GE(top[1].score, top[2].score);
  }
}

TEST(Predict, ArgmaxTakesTheFirstOfEqualScores) {
  const Tensor<float, cpu> s = Tensor<float, cpu>::from_vector(Shape{2, 3}, {1, 3, 3, 0, 0, 0});
  EXPECT_EQ(argmax(s), (std::vector<std::int32_t>{1, 0}));
  const Tensor<float, cpu> p = softmax(s);
  EXPECT_NEAR(p[3], 1.0 / 3, 1e-7);
  EXPECT_EQ(top_k(s, 0, 10).size(), 3u);
}

// train() with hooks: on_checkpoint after every checkpoint_every-th epoch and after the last,
// and a run resumed from one of those checkpoints equal to the uninterrupted run bit for bit,
// its history continuing the one it was given.
TEST(TrainHooks, CheckpointsEveryNEpochsAndResumeContinuesTheRunAndItsHistory) {
  const DeviceDataset<float, cpu> set(data::load_fashion_mnist(slice_dir, data::Split::test, 300));
  TrainOptions options;
  options.epochs = 5;
  options.batch_size = 64;
  options.lr = 0.05;
  options.momentum = 0.9;  // momentum buffers must travel too
  options.seed = 7;
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("hnn-hooks-" + std::to_string(::getpid()) + ".hnn")).string();

  auto straight = lenet::lenet5<float, cpu>(lenet::Variant::relu, 3);
  TrainHooks hooks;
  int epochs_seen = 0;
  std::vector<int> checkpoint_epochs;
  std::vector<EpochStats> history_at_2;
  hooks.on_epoch = [&](const EpochStats& s) { EXPECT_EQ(s.epoch, ++epochs_seen); };
  hooks.checkpoint_every = 2;
  hooks.on_checkpoint = [&](const TrainingState& state, const std::vector<EpochStats>& history) {
    checkpoint_epochs.push_back(state.epoch);
    EXPECT_EQ(history.size(), static_cast<std::size_t>(state.epoch));
    EXPECT_EQ(state.optimizer.buffers.size(), straight.parameters().size());
    if (state.epoch == 2) {
      save(straight, path, {state, {}});
      history_at_2 = history;
    }
  };
  const std::vector<EpochStats> a = train(straight, set, set, options, hooks);
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(epochs_seen, 5);
  EXPECT_EQ(checkpoint_epochs, (std::vector<int>{2, 4, 5}));

  auto resumed = lenet::lenet5<float, cpu>(lenet::Variant::relu, 99);  // the checkpoint is what counts
  const CheckpointExtras extras = load(resumed, path);
  std::remove(path.c_str());
  ASSERT_TRUE(extras.training.has_value());
  TrainHooks resume;
  resume.resume = extras.training;
  resume.resume_history = history_at_2;
  std::vector<int> epochs;
  resume.on_epoch = [&](const EpochStats& s) { epochs.push_back(s.epoch); };
  resume.checkpoint_every = 2;
  resume.on_checkpoint = [&](const TrainingState& state, const std::vector<EpochStats>& history) {
    checkpoint_epochs.push_back(state.epoch);
    EXPECT_EQ(history.size(), static_cast<std::size_t>(state.epoch));
  };
  const std::vector<EpochStats> b = train(resumed, set, set, options, resume);
  EXPECT_EQ(epochs, (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(checkpoint_epochs, (std::vector<int>{2, 4, 5, 4, 5}));
  ASSERT_EQ(b.size(), 5u);
  for (std::size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ(b[i].epoch, static_cast<int>(i) + 1);
    EXPECT_EQ(b[i].train_loss, a[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(b[i].train_acc, a[i].train_acc) << "epoch " << i + 1;
    EXPECT_EQ(b[i].test_acc, a[i].test_acc) << "epoch " << i + 1;
  }
  EXPECT_EQ(b[1].seconds, a[1].seconds);  // rows before the resume are the ones given, untouched
  EXPECT_EQ(parameter_values(resumed), parameter_values(straight));
}

TEST(TrainHooks, WithoutCheckpointEveryTheLastEpochIsStillACheckpoint) {
  const DeviceDataset<float, cpu> set(data::load_fashion_mnist(slice_dir, data::Split::test, 100));
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 1);
  TrainOptions options;
  options.epochs = 2;
  options.batch_size = 50;
  options.lr = 0.05;
  TrainHooks hooks;
  std::vector<int> checkpoint_epochs;
  hooks.on_checkpoint = [&](const TrainingState& state, const std::vector<EpochStats>&) {
    checkpoint_epochs.push_back(state.epoch);
    EXPECT_TRUE(state.optimizer.buffers.empty());  // no momentum, no buffers
  };
  std::int64_t batches = 0;
  hooks.on_batch = [&](const BatchProgress&) { ++batches; };
  EXPECT_EQ(train(model, set, set, options, hooks).size(), 2u);
  EXPECT_EQ(checkpoint_epochs, (std::vector<int>{2}));
  EXPECT_EQ(batches, 4);
}

TEST(TrainHooks, RefusesWhatCannotBeDone) {
  const DeviceDataset<float, cpu> set(data::load_fashion_mnist(slice_dir, data::Split::test, 100));
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 1);
  const std::vector<float> before = model.parameters()[0].value->to_vector();
  TrainOptions options;
  options.epochs = 2;
  options.batch_size = 50;
  options.lr = 0.05;
  TrainingState done = Trainer<float, cpu>(model, set, options).state();
  done.epoch = 2;
  TrainHooks hooks;
  hooks.resume = done;
  try {
    train(model, set, set, options, hooks);
    FAIL() << "a run that has trained options.epochs already cannot be resumed";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("trained 2 epochs already"), std::string::npos) << e.what();
  }
  TrainHooks negative;
  negative.checkpoint_every = -1;
  EXPECT_THROW(train(model, set, set, options, negative), std::invalid_argument);
  TrainHooks history_alone;
  history_alone.resume_history.resize(1);
  EXPECT_THROW(train(model, set, set, options, history_alone), std::invalid_argument);
  EXPECT_EQ(model.parameters()[0].value->to_vector(), before);
}
