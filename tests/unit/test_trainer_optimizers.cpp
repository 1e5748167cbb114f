// The Trainer's optimizers (SGD, Adam, AdamW) and learning-rate schedules, an exact resume
// for each through a checkpoint, and the model's mode: training steps in train(), evaluation
// and prediction in eval(), the constructor's sizing pass leaving the buffers alone.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
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

namespace probe {

template <class T, class Device>
class ModeProbeLayer;

// The identity, with a buffer that counts the forward passes made in training mode (as batch
// norm updates its running statistics in training mode only), and the mode of the last one.
struct ModeProbe {
  static constexpr const char* kind = "ModeProbe";
  template <class T, class Device>
  using layer = ModeProbeLayer<T, Device>;
  std::string str() const { return "ModeProbe()"; }
  std::vector<std::int64_t> sizes() const { return {}; }
  static ModeProbe from_sizes(const std::vector<std::int64_t>&) { return {}; }
  Shape output_shape(const Shape& input) const { return input; }
};

template <class T, class Device>
class ModeProbeLayer final : public Layer<T, Device> {
 public:
  explicit ModeProbeLayer(const ModeProbe&) : count_(Tensor<T, Device>::zeros(Shape{1})) {}
  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    if (this->training()) count_[0] += 1;
    last_forward_training = this->training() ? 1 : 0;
    output_.resize(input.shape());
    for (std::int64_t i = 0; i < input.numel(); ++i) output_[i] = input[i];
    return output_;
  }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    grad_input_.resize(grad_output.shape());
    for (std::int64_t i = 0; i < grad_output.numel(); ++i) grad_input_[i] = grad_output[i];
    return grad_input_;
  }
  std::vector<Buffer<T, Device>> buffers() override { return {{"count", &count_}}; }
  int last_forward_training = -1;  // -1: no forward yet

 private:
  Tensor<T, Device> count_, output_, grad_input_;
};

}  // namespace probe

namespace {

using hnn::testing::slice_dir;

// A small labelled set of 4x4 images, 3 classes.
data::Dataset tiny_set(std::int64_t n) {
  data::Dataset d;
  d.size = n;
  d.rows = d.cols = 4;
  d.class_names = {"a", "b", "c"};
  Rng rng(5);
  for (std::int64_t i = 0; i < n * 16; ++i) d.images.push_back(static_cast<float>(rng.uniform(0, 1)));
  for (std::int64_t i = 0; i < n; ++i) d.labels.push_back(static_cast<std::int32_t>(i % 3));
  return d;
}

Sequential<double, cpu> tiny_model(std::uint64_t seed) {
  return Sequential<double, cpu>({Flatten(), Linear(16, 8), Sigmoid(), Linear(8, 3)}, seed);
}

using hnn::testing::parameter_values;


probe::ModeProbeLayer<double, cpu>& probe_of(Sequential<double, cpu>& model, std::size_t index) {
  return dynamic_cast<probe::ModeProbeLayer<double, cpu>&>(model.layer(index));
}

using hnn::testing::temp_path;

}  // namespace

// With one batch per epoch (the whole set), the Trainer's AdamW under a step schedule makes
// the updates a plain loop makes with hnn::AdamW and StepLR (the shuffle only reorders the
// sum of the gradients, hence the tolerance).
TEST(TrainerOptimizers, AdamWUnderAStepScheduleEqualsAHandRunLoop) {
  const data::Dataset raw = tiny_set(12);
  const DeviceDataset<double, cpu> set(raw);
  TrainOptions options;
  options.optimizer = "adamw";
  options.epochs = 5;
  options.lr = 0.02;
  options.batch_size = 12;
  options.beta1 = 0.8;
  options.beta2 = 0.99;
  options.eps = 1e-6;
  options.weight_decay = 0.05;
  options.schedule = ScheduleKind::step;
  options.step_size = 2;
  options.gamma = 0.5;

  auto trained = tiny_model(4);
  Trainer<double, cpu> trainer(trained, set, options);
  for (int e = 1; e <= options.epochs; ++e) trainer.train_epoch(e);

  auto by_hand = tiny_model(4);
  AdamW<double, cpu> adamw(by_hand.parameters(), AdamWOptions{0.02, 0.8, 0.99, 1e-6, 0.05});
  SoftmaxCrossEntropy<double, cpu> loss;
  for (int e = 0; e < options.epochs; ++e) {
    adamw.set_lr(StepLR::formula(0.02, e, 2, 0.5));
    by_hand.backward(loss.forward_backward(by_hand.forward(set.images), set.labels));
    adamw.step();
  }
  const auto a = parameter_values(trained), b = parameter_values(by_hand);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t p = 0; p < a.size(); ++p)
    for (std::size_t i = 0; i < a[p].size(); ++i) EXPECT_NEAR(a[p][i], b[p][i], 1e-12) << "parameter " << p << "[" << i << "]";
  const OptimizerState state = trainer.optimizer().state();
  EXPECT_EQ(state.name, "adamw");
  EXPECT_EQ(state.step, 5);
  EXPECT_EQ(state.buffers.size(), 2 * trained.parameters().size());
}

// The rate the optimizer holds during epoch e is the schedule's value for e - 1 (0-based).
TEST(TrainerOptimizers, TheScheduleSetsTheRateBeforeEachEpoch) {
  const DeviceDataset<double, cpu> set(tiny_set(12));
  for (ScheduleKind kind : {ScheduleKind::constant, ScheduleKind::step, ScheduleKind::cosine}) {
    TrainOptions options;
    options.optimizer = "sgd";
    options.epochs = 7;
    options.lr = 0.3;
    options.batch_size = 4;
    options.schedule = kind;
    options.step_size = 3;
    options.gamma = 0.25;
    auto model = tiny_model(1);
    Trainer<double, cpu> trainer(model, set, options);
    std::vector<double> seen;
    for (int e = 1; e <= options.epochs; ++e) {
      trainer.train_epoch(e, [&](const BatchProgress& p) {
        if (p.batch == 1) seen.push_back(trainer.optimizer().lr());
      });
    }
    ASSERT_EQ(seen.size(), 7u);
    for (int e = 0; e < 7; ++e) {
      const double expected = kind == ScheduleKind::constant ? 0.3
                              : kind == ScheduleKind::step   ? StepLR::formula(0.3, e, 3, 0.25)
                                                             : CosineAnnealingLR::formula(0.3, e, 7);
      EXPECT_EQ(seen[static_cast<std::size_t>(e)], expected) << schedule_name(kind) << " epoch " << e;
    }
  }
}

// onecycle sets the rate before every batch, the last smaller one included: the rate
// OneCycleLR (whose values are checked against PyTorch's in test_schedules.cpp) gives
// its optimizer at the same step, over epochs x batches steps. 14 examples in batches of 4
// make 4 batches an epoch, the last of 2.
TEST(TrainerOptimizers, OneCycleSetsTheRateBeforeEveryBatch) {
  const DeviceDataset<double, cpu> set(tiny_set(14));
  TrainOptions options;
  options.optimizer = "adam";
  options.epochs = 3;
  options.lr = 0.02;
  options.batch_size = 4;
  options.schedule = ScheduleKind::onecycle;
  options.pct_start = 0.25;
  auto model = tiny_model(1);
  Trainer<double, cpu> trainer(model, set, options);
  std::vector<double> seen;
  for (int e = 1; e <= options.epochs; ++e)
    trainer.train_epoch(e, [&](const BatchProgress&) { seen.push_back(trainer.optimizer().lr()); });
  ASSERT_EQ(seen.size(), 12u);

  auto reference_model = tiny_model(1);
  AdamOptions adam;
  adam.lr = 0.02;
  Adam<double, cpu> reference(reference_model.parameters(), adam);
  OneCycleOptions o;
  o.pct_start = 0.25;
  o.cycle_momentum = false;
  OneCycleLR cycle(reference, 0.02, 12, o);
  for (std::size_t step = 0; step < seen.size(); ++step) {
    EXPECT_DOUBLE_EQ(seen[step], reference.lr()) << "batch " << step;
    cycle.step();
  }
  EXPECT_DOUBLE_EQ(seen[2], 0.02) << "the peak, at the end of the first quarter of 12 steps";
  EXPECT_NEAR(seen.back(), 0.02 / 25 / 1e4, 1e-15) << "the last rate";
  EXPECT_LT(seen.front(), seen[1]);
}

TEST(TrainerOptimizers, OptionsAreCheckedWithClearMessages) {
  const DeviceDataset<double, cpu> set(tiny_set(12));
  auto model = tiny_model(1);
  const auto expect_message = [&](TrainOptions o, const std::string& part) {
    o.batch_size = 4;
    try {
      Trainer<double, cpu> trainer(model, set, o);
      ADD_FAILURE() << "accepted; expected an error containing '" << part << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  TrainOptions adam;
  adam.optimizer = "adam";
  adam.lr = 1e-3;
  TrainOptions o = adam;
  o.beta1 = 1;
  expect_message(o, "beta1 must be at least 0 and below 1");
  o = adam;
  o.beta2 = -0.1;
  expect_message(o, "beta2 must be at least 0 and below 1");
  o = adam;
  o.eps = -1e-8;
  expect_message(o, "eps must be at least 0");
  o = adam;
  o.momentum = 0.9;
  expect_message(o, "unknown option 'momentum'");
  o = adam;
  o.weight_decay = -1;
  expect_message(o, "weight decay must be at least 0");
  o = TrainOptions{};
  o.schedule = ScheduleKind::step;
  expect_message(o, "step_size at least 1");
  o.step_size = 2;
  o.gamma = 0;
  expect_message(o, "gamma must be positive");
  o = TrainOptions{};
  o.schedule = ScheduleKind::cosine;
  o.eta_min = -1;
  expect_message(o, "eta_min");
  o = TrainOptions{};
  o.schedule = ScheduleKind::onecycle;
  o.pct_start = 1;
  expect_message(o, "pct_start must be between 0 and 1");
  // The defaults are PyTorch's.
  const TrainOptions d;
  EXPECT_EQ(d.optimizer, "sgd");
  EXPECT_EQ(d.lr, 1e-3) << "PyTorch 2.x's SGD default; d2l's 0.9 is the LeNet-5 recipe's (examples/lenet5)";
  EXPECT_EQ(d.schedule, ScheduleKind::constant);
  EXPECT_EQ(d.beta1, 0.9);
  EXPECT_EQ(d.beta2, 0.999);
  EXPECT_EQ(d.eps, 1e-8);
  EXPECT_EQ(d.weight_decay_or_default(), 0.0);
  TrainOptions w;
  w.optimizer = "adamw";
  EXPECT_EQ(w.weight_decay_or_default(), 0.01);
  w.weight_decay = 0.0;
  EXPECT_EQ(w.weight_decay_or_default(), 0.0);
  EXPECT_EQ(optimizer_defaults("adamw").at("weight_decay"), 0.01);
  EXPECT_THROW(optimizer_defaults("lion"), std::invalid_argument);
  EXPECT_EQ(schedule_kind("cosine"), ScheduleKind::cosine);
  EXPECT_EQ(schedule_kind("onecycle"), ScheduleKind::onecycle);
  EXPECT_THROW(schedule_kind("linear"), std::invalid_argument);
}

// 3 epochs of Adam under a cosine schedule straight, versus 2 epochs, a checkpoint, a fresh
// model (another init seed) and trainer, and the third epoch: identical bit for bit.
TEST(TrainerOptimizers, AdamWithACosineScheduleResumesExactly) {
  const DeviceDataset<float, cpu> set(data::load_fashion_mnist(slice_dir, data::Split::test, 300));
  TrainOptions options;
  options.optimizer = "adam";
  options.epochs = 3;
  options.batch_size = 64;
  options.lr = 2e-3;
  options.weight_decay = 1e-4;
  options.schedule = ScheduleKind::cosine;
  options.seed = 11;

  auto straight = lenet::lenet5<float, cpu>(lenet::Variant::relu, 3);
  std::vector<EpochStats> a;
  {
    Trainer<float, cpu> trainer(straight, set, options);
    for (int e = 1; e <= 3; ++e) a.push_back(trainer.train_epoch(e));
  }

  const std::string path = temp_path("adam-resume");
  {
    auto first = lenet::lenet5<float, cpu>(lenet::Variant::relu, 3);
    Trainer<float, cpu> trainer(first, set, options);
    for (int e = 1; e <= 2; ++e) EXPECT_EQ(trainer.train_epoch(e).train_loss, a[static_cast<std::size_t>(e - 1)].train_loss);
    CheckpointExtras extras;
    extras.training = trainer.state();
    EXPECT_EQ(extras.training->optimizer.name, "adam");
    EXPECT_EQ(extras.training->optimizer.step, 2 * 5);  // 300 / 64: 4 full batches and one of 44
    save(first, path, extras);
  }
  auto resumed = lenet::lenet5<float, cpu>(lenet::Variant::relu, 99);
  const CheckpointExtras extras = load(resumed, path);
  std::remove(path.c_str());
  ASSERT_TRUE(extras.training.has_value());
  Trainer<float, cpu> trainer(resumed, set, options);
  trainer.restore(*extras.training);
  const EpochStats e3 = trainer.train_epoch(3);
  EXPECT_EQ(e3.train_loss, a[2].train_loss);
  EXPECT_EQ(e3.train_acc, a[2].train_acc);
  EXPECT_EQ(parameter_values(resumed), parameter_values(straight));
}

TEST(TrainerOptimizers, AStateOfAnotherOptimizerIsRefusedNamingBoth) {
  const DeviceDataset<double, cpu> set(tiny_set(12));
  TrainOptions sgd;
  sgd.lr = 0.9;  // d2l's LeNet-5 rate
  sgd.batch_size = 4;
  sgd.momentum = 0.9;
  auto model = tiny_model(1);
  Trainer<double, cpu> sgd_trainer(model, set, sgd);
  sgd_trainer.train_epoch(1);
  const TrainingState sgd_state = sgd_trainer.state();
  EXPECT_EQ(sgd_state.optimizer.name, "sgd");

  TrainOptions adam = sgd;
  adam.momentum = 0;
  adam.optimizer = "adam";
  adam.lr = 1e-3;
  auto other = tiny_model(1);
  Trainer<double, cpu> adam_trainer(other, set, adam);
  const OptimizerState before = adam_trainer.optimizer().state();
  try {
    adam_trainer.restore(sgd_state);
    FAIL() << "an SGD state was restored into Adam";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("sgd"), std::string::npos) << what;
    EXPECT_NE(what.find("adam"), std::string::npos) << what;
  }
  EXPECT_EQ(adam_trainer.epochs_done(), 0);
  EXPECT_EQ(adam_trainer.optimizer().state().step, before.step);

  // Adam's state into AdamW: refused too, though the buffers would fit.
  adam_trainer.train_epoch(1);
  TrainOptions adamw = adam;
  adamw.optimizer = "adamw";
  auto third = tiny_model(1);
  Trainer<double, cpu> adamw_trainer(third, set, adamw);
  EXPECT_THROW(adamw_trainer.restore(adam_trainer.state()), std::invalid_argument);
}

// A probe layer between the layers records the mode of every forward pass.
TEST(TrainerModes, StepsTrainAndEvaluationAndPredictionRunInEvalModeRestoringTheMode) {
  const DeviceDataset<double, cpu> set(tiny_set(12));
  Sequential<double, cpu> model({Flatten(), Linear(16, 8), probe::ModeProbe{}, Sigmoid(), Linear(8, 3)}, 2);
  auto& probe = probe_of(model, 2);
  TrainOptions options;
  options.lr = 0.9;  // d2l's LeNet-5 rate
  options.batch_size = 4;
  Trainer<double, cpu> trainer(model, set, options);

  model.eval();  // the trainer switches to training mode for its steps, and back
  trainer.train_epoch(1);
  EXPECT_EQ(probe.last_forward_training, 1);
  EXPECT_FALSE(model.training());

  for (bool training : {true, false}) {
    model.train(training);
    probe.last_forward_training = -1;
    evaluate(model, set, 5);
    EXPECT_EQ(probe.last_forward_training, 0) << "evaluate() ran in training mode";
    EXPECT_EQ(model.training(), training) << "evaluate() did not restore the mode";
    probe.last_forward_training = -1;
    predict(model, set.images, 5);
    EXPECT_EQ(probe.last_forward_training, 0) << "predict() ran in training mode";
    EXPECT_EQ(model.training(), training) << "predict() did not restore the mode";
  }
}

// The constructor runs one forward pass of zeros to size the layers; it must not leave a
// trace in the model's buffers (for batch norm: the running statistics).
TEST(TrainerModes, TheSizingPassLeavesEveryBufferAsItWas) {
  const DeviceDataset<double, cpu> set(tiny_set(12));
  Sequential<double, cpu> model({Flatten(), Linear(16, 8), probe::ModeProbe{}, Sigmoid(), Linear(8, 3)}, 2);
  std::vector<std::vector<double>> before;
  for (const auto& t : model.state_dict()) before.push_back(t.value->to_vector());
  ASSERT_EQ(model.state_dict()[2].name, "2.count");
  TrainOptions options;
  options.lr = 0.9;  // d2l's LeNet-5 rate
  options.batch_size = 4;
  model.eval();
  {
    Trainer<double, cpu> trainer(model, set, options);
    EXPECT_EQ(probe_of(model, 2).last_forward_training, 1);  // it did run, in training mode
    std::vector<std::vector<double>> after;
    for (const auto& t : model.state_dict()) after.push_back(t.value->to_vector());
    EXPECT_EQ(after, before);
    EXPECT_FALSE(model.training());
    trainer.train_epoch(1);
  }
  EXPECT_EQ(model.state_dict()[2].value->to_vector(), std::vector<double>{3});  // 12 / 4 training steps
}
