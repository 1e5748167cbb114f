// TrainLoop: the open training loop. Any model (a Sequential or any other Layer), any loader
// (data::DataLoader, data::ResidentLoader or a user's type with start_epoch() and next()), any
// loss (hnn/losses/) and any optimizer (hnn/optim/), with the hooks a PyTorch loop writes by
// hand:
//
//   hnn::CrossEntropyLoss<float> loss;
//   hnn::SGD<float> sgd(model.parameters(), {0.5});
//   hnn::TrainLoop<float> loop(model, loss, sgd);
//   loop.clip_grad_norm(1.0).accumulate(4);                  // optional
//   hnn::EarlyStopping stop(/*patience=*/3);
//   auto history = loop.fit(train_loader, &test_loader, epochs, [&](const hnn::EpochStats& e) { return stop(e); });
//
// One step: before_batch hook -> forward -> loss -> backward -> (gradient accumulation) ->
// clip -> after_backward hook -> optimizer step -> per-batch schedule. Per-epoch schedules
// step when an epoch ends. The classic Trainer (training/train.hpp) is LeNet's fast path over a
// DeviceDataset: one loss, one optimizer by name, and a step a GPU records once as a graph.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "hnn/data/loader.hpp"
#include "hnn/kernels/add.hpp"
#include "hnn/kernels/batch.hpp"
#include "hnn/layers/layer.hpp"
#include "hnn/losses/cross_entropy.hpp"
#include "hnn/losses/l1.hpp"
#include "hnn/losses/loss.hpp"
#include "hnn/losses/mse.hpp"
#include "hnn/optim/clip_grad_norm.hpp"
#include "hnn/optim/lr_scheduler.hpp"
#include "hnn/optim/optimizer.hpp"
#include "hnn/training/training_state.hpp"

namespace hnn {

// Thrown when a training batch's loss becomes NaN or infinite or explodes.
class DivergedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What TrainLoop::evaluate measures over a whole loader. Metrics that do not apply are NaN.
struct Evaluation {
  double loss = std::numeric_limits<double>::quiet_NaN();      // the loss's mean over the set
  double accuracy = std::numeric_limits<double>::quiet_NaN();  // class labels: share whose top logit is the label
  double mse = std::numeric_limits<double>::quiet_NaN();       // float targets: mean squared error per element
  double mae = std::numeric_limits<double>::quiet_NaN();       // float targets: mean absolute error per element
  std::int64_t examples = 0;
};

template <class T, class Device = cpu, class Target = std::int32_t>
class TrainLoop {
  static_assert(std::is_same_v<Target, std::int32_t> || std::is_same_v<Target, T>,
                "hnn::TrainLoop: targets are int32 class labels or values of the model's type");

 public:
  using BatchType = data::Batch<T, Target, Device>;
  using LossType = Loss<T, Device, Tensor<Target, Device>>;
  static constexpr bool classifies = std::is_same_v<Target, std::int32_t>;

  TrainLoop(Layer<T, Device>& model, LossType& loss, Optimizer<T, Device>& optimizer)
      : model_(model), loss_(loss), optimizer_(optimizer), batch_number_(Tensor<std::int64_t, Device>::zeros(Shape{1})) {}

  // ---- Hooks and settings; each returns the loop, so they chain.

  // Runs on each batch before the forward pass, on a copy the loop owns (augmentation on the
  // device, noise, masking). Per-sample transforms belong in the DataLoader.
  TrainLoop& before_batch(std::function<void(BatchType&)> hook) { return before_batch_ = std::move(hook), *this; }
  // Runs after the gradients are ready (accumulated and clipped) and before the optimizer step.
  TrainLoop& after_backward(std::function<void(const std::vector<Parameter<T, Device>>&)> hook) {
    return after_backward_ = std::move(hook), *this;
  }
  // Clips the gradients' total norm before each optimizer step (torch.nn.utils.clip_grad_norm_).
  TrainLoop& clip_grad_norm(double max_norm, double norm_type = 2.0) {
    clipper_ = std::make_unique<GradNormClipper<T, Device>>(max_norm, norm_type);
    return *this;
  }
  // Steps the optimizer once every `micro_batches` batches, on the mean of their gradients: k
  // batches of n with a mean loss step as one batch of k x n would. An epoch's leftover
  // batches step on their own mean.
  TrainLoop& accumulate(int micro_batches) {
    if (micro_batches < 1)
      throw std::invalid_argument("hnn::TrainLoop::accumulate: micro_batches must be at least 1, got " +
                                  std::to_string(micro_batches));
    micro_batches_ = micro_batches;
    return *this;
  }
  // A learning-rate schedule, stepped after each optimizer step (per_batch) or at each epoch's
  // end (per_epoch), as its interval() says. It must be attached to this loop's optimizer.
  TrainLoop& schedule(LRScheduler& schedule) {
    if (&schedule.optimizer() != &optimizer_)
      throw std::invalid_argument(std::string("hnn::TrainLoop::schedule: the ") + schedule.name() +
                                  " was made for another optimizer than this loop's");
    return schedule_ = &schedule, *this;
  }
  // A batch whose mean loss is NaN, infinite or above this limit stops training with
  // DivergedError. Default: 100 x ln(classes) for class labels (ln(classes): the loss of
  // guessing), infinity (only the NaN check) for other targets.
  TrainLoop& max_mean_loss(double limit) {
    if (!(limit > 0))
      throw std::invalid_argument("hnn::TrainLoop::max_mean_loss: the limit must be positive, got " + std::to_string(limit));
    return max_mean_loss_ = limit, *this;
  }

  // ---- Training and evaluation.

  // One pass over `loader` in training mode (the model is left in the mode it was in). Throws
  // DivergedError naming the first bad batch (checked every batch where the device's memory is
  // host-readable, at the epoch's end otherwise). `on_batch` runs after each batch.
  template <class Loader>
  EpochStats train_epoch(Loader& loader, int epoch, const BatchCallback& on_batch = {}) {
    const auto start = std::chrono::steady_clock::now();
    const ModeScope mode(model_, true);
    loss_.reset();
    const std::int64_t zero = 0;
    Memory<Device>::copy_from_host(batch_number_.data(), &zero, sizeof zero);
    BatchProgress progress;
    progress.epoch = epoch;
    progress.batches = loader.batches();
    progress.total_examples = loader.size();
    std::int64_t examples = 0;
    int pending = 0;  // micro-batches whose gradients wait in held_
    loader.start_epoch();
    while (const BatchType* next = loader.next()) {
      const BatchType& batch = staged(*next);
      const Tensor<T, Device>& prediction = model_.forward(batch.inputs);
      if (examples == 0) set_limit_from(prediction);
      model_.backward(loss_.forward_backward(prediction, batch.targets, batch_number_.data(), limit_));
      advance_batch_number(Device{}, batch_number_.data());
      examples += batch.size();
      if (++pending == micro_batches_) {
        step_on_group();
        pending = 0;
      } else {
        hold_gradients(pending);
      }
      if constexpr (Memory<Device>::host_accessible) {
        const LossTotals totals = loss_.totals();
        check_diverged(epoch, totals);
        progress.running_loss = totals.mean_loss();
      }
      if (on_batch) {
        ++progress.batch;
        progress.examples = examples;
        progress.seconds = seconds_since(start);
        on_batch(progress);
      }
    }
    if (pending > 0) step_on_partial_group(pending);
    if (schedule_ != nullptr && schedule_->interval() == LRScheduler::Interval::per_epoch) schedule_->step();
    if (examples == 0) throw std::invalid_argument("hnn::TrainLoop::train_epoch: the loader gave no batch");

    const LossTotals totals = loss_.totals();  // on a GPU, waits for the epoch's work
    check_diverged(epoch, totals);
    EpochStats stats;
    stats.epoch = epoch;
    stats.seconds = seconds_since(start);
    stats.train_loss = totals.mean_loss();
    stats.train_acc = counts_correct() ? totals.correct / totals.samples : std::numeric_limits<double>::quiet_NaN();
    stats.test_acc = std::numeric_limits<double>::quiet_NaN();
    stats.examples_per_sec = static_cast<double>(examples) / stats.seconds;
    return stats;
  }

  // The loss and the metrics over every batch of `loader`, in evaluation mode (the model is
  // left in the mode it was in). The loader's transforms apply; use one without augmentation.
  template <class Loader>
  Evaluation evaluate(Loader& loader) {
    const ModeScope mode(model_, false);
    loss_.reset();
    if constexpr (classifies) {
      accuracy_.reset();
    } else {
      mse_.reset();
      mae_.reset();
    }
    Evaluation result;
    loader.start_epoch();
    while (const BatchType* batch = loader.next()) {
      const Tensor<T, Device>& prediction = model_.forward(batch->inputs);
      loss_.accumulate(prediction, batch->targets);
      if constexpr (classifies) {
        accuracy_.accumulate(prediction, batch->targets);
      } else {
        mse_.accumulate(prediction, batch->targets);
        mae_.accumulate(prediction, batch->targets);
      }
      result.examples += batch->size();
    }
    if (result.examples == 0) throw std::invalid_argument("hnn::TrainLoop::evaluate: the loader gave no batch");
    result.loss = loss_.totals().mean_loss();
    if constexpr (classifies) {
      const LossTotals t = accuracy_.totals();
      result.accuracy = t.correct / t.samples;
    } else {
      result.mse = mse_.totals().mean_loss();
      result.mae = mae_.totals().mean_loss();
    }
    return result;
  }

  // Trains up to `epochs` epochs, evaluating on `eval_loader` (when not null) after each;
  // returns one row per epoch. `on_epoch` sees each row and returns false to stop (early
  // stopping: EarlyStopping below; keeping the best model: KeepBest).
  template <class TrainLoader, class EvalLoader>
  std::vector<EpochStats> fit(TrainLoader& train_loader, EvalLoader* eval_loader, int epochs,
                              const std::function<bool(const EpochStats&)>& on_epoch = {},
                              const BatchCallback& on_batch = {}) {
    if (epochs < 1) throw std::invalid_argument("hnn::TrainLoop::fit: epochs must be at least 1, got " + std::to_string(epochs));
    std::vector<EpochStats> history;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      EpochStats stats = train_epoch(train_loader, epoch, on_batch);
      if (eval_loader != nullptr) {
        const Evaluation e = evaluate(*eval_loader);
        stats.test_loss = e.loss;
        stats.test_acc = classifies ? e.accuracy : e.mse;
      }
      history.push_back(stats);
      if (on_epoch && !on_epoch(stats)) break;
    }
    return history;
  }
  template <class TrainLoader>
  std::vector<EpochStats> fit(TrainLoader& train_loader, int epochs,
                              const std::function<bool(const EpochStats&)>& on_epoch = {}) {
    return fit(train_loader, static_cast<TrainLoader*>(nullptr), epochs, on_epoch);
  }

  Optimizer<T, Device>& optimizer() const { return optimizer_; }
  LossType& loss() const { return loss_; }

 private:
  // Puts the model in a mode for a scope, and back, also when the scope throws.
  class ModeScope {
   public:
    ModeScope(Layer<T, Device>& model, bool training) : model_(model), was_(model.training()) { model_.set_training(training); }
    ~ModeScope() { model_.set_training(was_); }
    ModeScope(const ModeScope&) = delete;
    ModeScope& operator=(const ModeScope&) = delete;

   private:
    Layer<T, Device>& model_;
    bool was_;
  };

  static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  // The batch the step uses: the loader's own, or a copy the before_batch hook may change.
  const BatchType& staged(const BatchType& batch) {
    if (!before_batch_) return batch;
    staging_.inputs.resize(batch.inputs.shape());
    staging_.inputs.copy_from(batch.inputs);
    staging_.targets.resize(batch.targets.shape());
    staging_.targets.copy_from(batch.targets);
    staging_.index = batch.index;
    before_batch_(staging_);
    return staging_;
  }

  void set_limit_from(const Tensor<T, Device>& prediction) {
    if (max_mean_loss_ > 0)
      limit_ = max_mean_loss_;
    else if (classifies && prediction.rank() == 2 && prediction.dim(1) > 1)
      limit_ = 100 * std::log(static_cast<double>(prediction.dim(1)));
    else
      limit_ = std::numeric_limits<double>::infinity();
  }

  bool counts_correct() const {
    if constexpr (classifies) return dynamic_cast<const CrossEntropyLoss<T, Device>*>(&loss_) != nullptr;
    return false;
  }

  // After micro-batch `pending` (1-based) of a group not yet complete: adds the model's
  // gradients to the held sum (the group's first batch starts it).
  void hold_gradients(int pending) {
    const std::vector<Parameter<T, Device>> params = model_.parameters();
    if (held_.size() != params.size()) held_.resize(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Tensor<T, Device>& g = *params[i].grad;
      if (pending == 1) {
        held_[i].resize(g.shape());
        held_[i].copy_from(g);
      } else {
        add_scaled(Device{}, g.numel(), held_[i].data(), g.data(), T(1), held_[i].data());
      }
    }
  }

  // A group of micro_batches_ is complete, its last gradients in the model: the mean, then the step.
  void step_on_group() {
    const std::vector<Parameter<T, Device>> params = model_.parameters();
    if (micro_batches_ > 1)
      for (std::size_t i = 0; i < params.size(); ++i) {
        Tensor<T, Device>& g = *params[i].grad;
        add_scaled(Device{}, g.numel(), held_[i].data(), g.data(), T(1) / static_cast<T>(micro_batches_), g.data());
      }
    step_optimizer(params);
  }
  // An epoch ended inside a group: every one of its `count` gradients is in the held sum.
  void step_on_partial_group(int count) {
    const std::vector<Parameter<T, Device>> params = model_.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      Tensor<T, Device>& g = *params[i].grad;  // (held + held) / (2 count) = held / count
      add_scaled(Device{}, g.numel(), held_[i].data(), held_[i].data(), T(1) / static_cast<T>(2 * count), g.data());
    }
    step_optimizer(params);
  }

  void step_optimizer(const std::vector<Parameter<T, Device>>& params) {
    if (clipper_) clipper_->clip(params);
    if (after_backward_) after_backward_(params);
    optimizer_.step();
    if (schedule_ != nullptr && schedule_->interval() == LRScheduler::Interval::per_batch) schedule_->step();
  }

  void check_diverged(int epoch, const LossTotals& totals) const {
    if (totals.first_bad_batch < 0) return;
    std::ostringstream msg;
    msg << "training diverged at epoch " << epoch << ", batch " << totals.first_bad_batch + 1 << ": ";
    if (std::isfinite(totals.bad_batch_loss))
      msg << "the loss exploded (batch mean " << totals.bad_batch_loss << ", above the limit " << limit_ << ")";
    else
      msg << "the loss became " << (std::isnan(totals.bad_batch_loss) ? "NaN" : "infinite");
    msg << "; try a smaller learning rate (now " << optimizer_.lr() << ")";
    throw DivergedError(msg.str());
  }

  Layer<T, Device>& model_;
  LossType& loss_;
  Optimizer<T, Device>& optimizer_;
  std::function<void(BatchType&)> before_batch_;
  std::function<void(const std::vector<Parameter<T, Device>>&)> after_backward_;
  std::unique_ptr<GradNormClipper<T, Device>> clipper_;
  LRScheduler* schedule_ = nullptr;
  int micro_batches_ = 1;
  double max_mean_loss_ = 0;  // 0: the default for the targets
  double limit_ = std::numeric_limits<double>::infinity();
  Tensor<std::int64_t, Device> batch_number_;
  BatchType staging_;
  std::vector<Tensor<T, Device>> held_;
  // Evaluation's metrics, beside the loss the user chose.
  CrossEntropyLoss<T, Device> accuracy_;
  MSELoss<T, Device> mse_;
  L1Loss<T, Device> mae_;
};

}  // namespace hnn
