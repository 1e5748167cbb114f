// The training loop: dataset on the device -> shuffled batch -> forward -> loss ->
// backward -> optimizer step (any registered optimizer: hnn/optim.hpp, the learning rate set
// per epoch by a schedule), and evaluation. The whole path of one step is Trainer::step().
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "hnn/data/mnist.hpp"
#include "hnn/init.hpp"
#include "hnn/kernels/batch.hpp"
#include "hnn/loss.hpp"
#include "hnn/training/mode.hpp"
#include "hnn/optim.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/training/step_launcher.hpp"
#include "hnn/training/train_loop.hpp"
#include "hnn/training/training_state.hpp"
#if defined(__CUDACC__)
#include "hnn/training/cuda_graph.cuh"
#endif

namespace hnn {

// The schedules a Trainer applies (TrainOptions::schedule), by name: "constant", "step",
// "cosine" (each sets the rate per epoch) and "onecycle" (per batch).
enum class ScheduleKind { constant, step, cosine, onecycle };

inline const char* schedule_name(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::step: return "step";
    case ScheduleKind::cosine: return "cosine";
    case ScheduleKind::onecycle: return "onecycle";
  }
  return "?";
}

// The kind named `name`; throws std::invalid_argument for anything else.
inline ScheduleKind schedule_kind(const std::string& name) {
  for (ScheduleKind k : {ScheduleKind::constant, ScheduleKind::step, ScheduleKind::cosine, ScheduleKind::onecycle})
    if (name == schedule_name(k)) return k;
  throw std::invalid_argument("unknown learning-rate schedule '" + name + "' (constant, step, cosine or onecycle)");
}

struct TrainOptions {
  int epochs = 10;
  // The base learning rate: PyTorch 2.x's SGD default. d2l's 0.9 is the LeNet-5 recipe's
  // (examples/lenet5/model.hpp), not the library's.
  double lr = 1e-3;
  std::int64_t batch_size = 256;
  std::uint64_t seed = 0;  // drives the shuffle; the model's init has its own seed
  // The optimizer, with PyTorch's meaning and defaults for each field it reads.
  std::string optimizer = "sgd";       // a registered optimizer's name (hnn::optimizer_names())
  double momentum = 0;                 // optimizers with a momentum (sgd, rmsprop): 0 <= momentum < 1
  // sgd and adam: L2 added to the gradient; adamw: decoupled. Unset: the optimizer's default
  // (0; adamw 0.01). weight_decay_or_default() resolves it.
  std::optional<double> weight_decay;
  double beta1 = 0.9, beta2 = 0.999;   // adam, adamw: in [0, 1)
  double eps = 1e-8;                   // adam, adamw: at least 0
  // The learning rate of epoch e (0-based) is the schedule's (hnn/optim/), set before the
  // epoch starts: constant lr; step: lr x gamma^floor(e / step_size); cosine: from lr down
  // to eta_min over T_max = epochs. onecycle sets it before every batch: PyTorch's OneCycleLR
  // with max_lr = lr over every batch of every epoch (total_steps), its defaults (cosine
  // phases, div_factor 25, final_div_factor 1e4) and pct_start below, the momentum not cycled.
  ScheduleKind schedule = ScheduleKind::constant;
  std::int64_t step_size = 0;          // step: epochs per decay, at least 1 (no default, as in PyTorch)
  double gamma = 0.1;                  // step: the decay factor, positive
  double eta_min = 0;                  // cosine: the final rate, at least 0
  double pct_start = 0.3;              // onecycle: the share of the steps spent rising, in (0, 1)

  double weight_decay_or_default() const {
    return weight_decay ? *weight_decay : optimizer_defaults(optimizer).at("weight_decay");
  }
  // The options the optimizer is built from, by name (lr is the base rate the schedule starts
  // at): momentum when set (an optimizer without one refuses it), betas and eps where the
  // optimizer takes them.
  OptimizerArgs optimizer_args() const {
    const OptimizerArgs accepted = optimizer_defaults(optimizer);
    OptimizerArgs args{{"lr", lr}, {"weight_decay", weight_decay_or_default()}};
    if (momentum != 0) args["momentum"] = momentum;
    if (accepted.count("beta1") != 0) args["beta1"] = beta1;
    if (accepted.count("beta2") != 0) args["beta2"] = beta2;
    if (accepted.count("eps") != 0) args["eps"] = eps;
    return args;
  }
  // The learning rate of 1-based epoch `epoch`, at its 0-based batch `batch` of
  // `batches_per_epoch` (only onecycle reads the last two).
  double lr_at(int epoch, std::int64_t batch = 0, std::int64_t batches_per_epoch = 1) const {
    const std::int64_t e = epoch - 1;
    switch (schedule) {
      case ScheduleKind::constant: return lr;
      case ScheduleKind::step: return StepLR::formula(lr, e, step_size, gamma);
      case ScheduleKind::cosine: return CosineAnnealingLR::formula(lr, e, epochs, eta_min);
      case ScheduleKind::onecycle: {
        OneCycleOptions o;
        o.pct_start = pct_start;
        o.cycle_momentum = false;
        return OneCycleLR::formula(lr, e * batches_per_epoch + batch, epochs * batches_per_epoch, o);
      }
    }
    return lr;
  }
  bool per_batch_schedule() const { return schedule == ScheduleKind::onecycle; }
  // Examples per evaluation pass; a larger value than the set evaluated acts as its size.
  std::int64_t eval_batch_size = 1000;
  // A training batch whose mean loss exceeds max_loss_factor x ln(classes) (ln(classes) is
  // the loss of guessing uniformly) stops training with DivergedError, as does a NaN or
  // infinite loss. LeNet-5's recipes stay below 1.2x at batch 256 (2.3x at batch 32); at
  // lr 100 and 1000 the sigmoid net passes 100x by its third batch. Infinity leaves only
  // the NaN/infinity check.
  double max_loss_factor = 100;
};

// A whole labelled dataset resident on one device: images (N, ...) of any sample shape,
// (N, 1, 28, 28) for Fashion-MNIST or (N, 3, 32, 32) for CIFAR, and labels (N).
template <class T, class Device = cpu>
struct DeviceDataset {
  Tensor<T, Device> images;
  Tensor<std::int32_t, Device> labels;
  // The largest label and its first index, found on the host so that a trainer can check
  // them against the model's classes without reading device memory; -1 when empty.
  std::int32_t max_label = -1;
  std::int64_t max_label_index = -1;
  std::string source;  // where the images came from, for messages ("" if built in memory)

  // From the older 1-channel MNIST-style dataset: images (N, 1, rows, cols).
  explicit DeviceDataset(const data::Dataset& d) : source(d.source) {
    const Shape shape{d.size, 1, d.rows, d.cols};
    if (static_cast<std::int64_t>(d.images.size()) != shape.numel() || static_cast<std::int64_t>(d.labels.size()) != d.size)
      throw std::invalid_argument("hnn::DeviceDataset: dataset holds " + std::to_string(d.images.size()) +
                                  " pixels and " + std::to_string(d.labels.size()) + " labels, expected " +
                                  std::to_string(shape.numel()) + " and " + std::to_string(d.size));
    check_labels(d.labels.data(), d.size);
    Tensor<T, cpu> host(shape);
    std::copy(d.images.begin(), d.images.end(), host.data());
    images = host.template to<Device>();
    labels = Tensor<std::int32_t, Device>::from_host(Shape{d.size}, d.labels.data());
  }

  // From any labelled TensorDataset (data/dataset.hpp): its samples' shape is kept.
  template <class U>
  explicit DeviceDataset(const data::TensorDataset<U, std::int32_t>& d, std::string from = "") : source(std::move(from)) {
    check_labels(d.targets().data(), d.size());
    Tensor<T, cpu> host(d.inputs().shape());
    std::copy(d.inputs().data(), d.inputs().data() + host.numel(), host.data());
    images = host.template to<Device>();
    labels = d.targets().template to<Device>();
  }

  std::int64_t size() const { return labels.numel(); }

  // One example's shape, e.g. (1, 28, 28).
  Shape sample_shape() const {
    Shape s;
    for (int i = 1; i < images.rank(); ++i) s.push_back(images.dim(i));
    return s;
  }

  // Throws unless every label is below `classes` (the model's output width): the loss
  // kernels index the logits by label, so a larger one would read past them.
  void require_labels_below(std::int64_t classes, const char* who) const {
    if (max_label >= classes)
      throw std::invalid_argument(std::string(who) + ": " + where() + "label " + std::to_string(max_label) +
                                  " at index " + std::to_string(max_label_index) + " is outside 0.." +
                                  std::to_string(classes - 1) + ", the model has " + std::to_string(classes) + " outputs");
  }

 private:
  void check_labels(const std::int32_t* y, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      if (y[i] < 0)
        throw std::invalid_argument(where() + "label " + std::to_string(y[i]) + " at index " + std::to_string(i) +
                                    " is negative; labels are class numbers from 0");
      if (y[i] > max_label) max_label = y[i], max_label_index = i;
    }
  }
  std::string where() const { return source.empty() ? std::string() : source + ": "; }
};

// Fraction of `data` the model classifies correctly, in batches of `batch_size`. Runs in
// evaluation mode (model.eval()) and leaves the model in the mode it found it in.
template <class T, class Device>
double evaluate(Sequential<T, Device>& model, const DeviceDataset<T, Device>& data, std::int64_t batch_size,
                SoftmaxCrossEntropy<T, Device>& loss) {
  if (batch_size <= 0) throw std::invalid_argument("hnn::evaluate: batch size must be positive");
  const ScopedMode<Sequential<T, Device>> eval_mode(model, false);
  loss.reset();
  for (std::int64_t begin = 0; begin < data.size(); begin += batch_size) {
    const std::int64_t end = std::min(begin + batch_size, data.size());
    const Tensor<T, Device>& logits = model.forward(data.images.slice(begin, end));
    if (begin == 0 && logits.rank() == 2) data.require_labels_below(logits.dim(1), "hnn::evaluate");
    loss.accumulate(logits, data.labels.slice(begin, end));
  }
  return loss.totals().correct / static_cast<double>(data.size());
}

template <class T, class Device>
double evaluate(Sequential<T, Device>& model, const DeviceDataset<T, Device>& data, std::int64_t batch_size = 1000) {
  SoftmaxCrossEntropy<T, Device> loss;
  return evaluate(model, data, batch_size, loss);
}

template <class T, class Device = cpu>
class Trainer {
 public:
  // Checks the options, the images' shape and the labels against the model before anything
  // is allocated. `eval_set`, the set evaluate() will see after each epoch, is checked too,
  // and the layers are sized for its batches: pass it when it may be larger than the
  // training set (on a GPU a larger batch later would reallocate buffers the recorded step uses).
  // `loss`, when given, is the loss the steps minimise instead of CrossEntropyLoss (e.g. an
  // ExpressionLoss, hnn/losses/expression_loss.hpp); it must outlive the trainer, and its totals
  // give the epoch's loss and training accuracy.
  Trainer(Sequential<T, Device>& model, const DeviceDataset<T, Device>& train_set, TrainOptions options,
          const DeviceDataset<T, Device>* eval_set = nullptr, ClassificationLoss<T, Device>* loss = nullptr)
      : model_(model),
        data_(train_set),
        options_(validated(options, model, train_set, eval_set)),
        optimizer_(make_optimizer<T, Device>(options_.optimizer, model.parameters(), options_.optimizer_args())),
        user_loss_(loss),
        shuffle_(options.seed),
        host_order_(Shape{train_set.size()}),
        order_(Shape{train_set.size()}),
        batch_number_(Shape{1}),
        batch_images_(batch_shape(options.batch_size)),
        batch_labels_(Shape{options.batch_size}) {
    std::iota(host_order_.data(), host_order_.data() + host_order_.numel(), 0);
    const std::int64_t classes = model_.output_shape(batch_shape(1))[1];
    max_mean_loss_ = options_.max_loss_factor * std::log(static_cast<double>(classes));
    // Size every layer buffer for the largest batch it will see (training or evaluation)
    // before the first step, so later steps never reallocate (and a recorded CUDA graph
    // never points at freed memory). Evaluation batches never exceed the set evaluated.
    // The pass runs in training mode, which sizes the most, and must leave no trace: the
    // model's buffers (batch norm's running statistics) are put back as they were.
    const std::int64_t eval_examples = std::max(train_set.size(), eval_set != nullptr ? eval_set->size() : 0);
    const std::int64_t eval_batch = std::min(options_.eval_batch_size, eval_examples);
    std::vector<std::pair<Tensor<T, Device>*, Tensor<T, cpu>>> saved;
    for (const NamedTensor<T, Device>& t : model_.state_dict())
      if (!is_parameter(t.value)) saved.emplace_back(t.value, t.value->template to<cpu>());
    {
      const ScopedMode<Sequential<T, Device>> training_mode(model_, true);
      model_.forward(Tensor<T, Device>::zeros(batch_shape(std::max(options_.batch_size, eval_batch))));
    }
    for (auto& [buffer, values] : saved) buffer->copy_from(values);
  }

  // Trains one epoch over a fresh shuffle. Throws DivergedError at the first batch whose
  // mean loss is NaN, infinite or above max_loss_factor x ln(classes) (checked every batch
  // where the device's memory is host-readable, at the end of the epoch otherwise, naming
  // the first bad batch either way).
  // `on_batch`, when given, runs on the host after each batch (see BatchProgress).
  // The steps run in training mode (model.train()); the model is left in the mode it was in.
  // The learning rate is the schedule's for `epoch` (1-based) and each batch:
  // options().lr_at(epoch, batch, batches).
  EpochStats train_epoch(int epoch, const BatchCallback& on_batch = {}) {
    const auto start = std::chrono::steady_clock::now();
    const ScopedMode<Sequential<T, Device>> training_mode(model_, true);
    const std::int64_t n = data_.size(), full_batches = n / options_.batch_size;
    const std::int64_t batches = (n + options_.batch_size - 1) / options_.batch_size;
    const auto set_lr = [&](std::int64_t batch) {
      const double lr = options_.lr_at(epoch, batch, batches);
      if (lr == optimizer_->lr()) return;
      optimizer_->set_lr(lr);
      launcher_.reset();  // a recorded step holds the old rate
    };  // before every batch: a per-epoch schedule changes the rate at its first only
    for (std::int64_t i = host_order_.numel() - 1; i > 0; --i)
      std::swap(host_order_[i], host_order_[static_cast<std::int64_t>(shuffle_.below(static_cast<std::uint64_t>(i) + 1))]);
    order_.copy_from(host_order_);
    const std::int64_t zero = 0;
    Memory<Device>::copy_from_host(batch_number_.data(), &zero, sizeof zero);
    loss().reset();

    BatchProgress progress;
    progress.epoch = epoch;
    progress.batches = batches;
    progress.total_examples = n;
    const auto report = [&](std::int64_t examples_done) {
      if constexpr (Memory<Device>::host_accessible) {
        const LossTotals totals = loss().totals();
        check_diverged(epoch, totals);
        progress.running_loss = totals.loss_sum / static_cast<double>(examples_done);
      }
      if (!on_batch) return;
      ++progress.batch;
      progress.examples = examples_done;
      progress.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      on_batch(progress);
    };
    // A rate that changes every batch would invalidate a recorded step every batch.
    const bool replay = optimizer_->replayable() && !options_.per_batch_schedule();
    for (std::int64_t b = 0; b < full_batches; ++b) {
      set_lr(b);
      if (replay)
        launcher_.run([this] { step(options_.batch_size); });
      else
        step(options_.batch_size);  // an optimizer whose kernels' arguments change every step
      report((b + 1) * options_.batch_size);
    }
    if (n % options_.batch_size != 0) {
      set_lr(full_batches);
      step(n % options_.batch_size);  // the last, smaller batch runs unrecorded
      report(n);
    }

    const LossTotals totals = loss().totals();  // on a GPU, waits for the epoch's work
    check_diverged(epoch, totals);
    EpochStats stats;
    stats.epoch = epoch;
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    stats.train_loss = totals.loss_sum / static_cast<double>(n);
    stats.train_acc = totals.correct / static_cast<double>(n);
    stats.examples_per_sec = static_cast<double>(n) / stats.seconds;
    epochs_done_ = epoch;
    return stats;
  }

  const TrainOptions& options() const { return options_; }
  int epochs_done() const { return epochs_done_; }
  // The optimizer (its current learning rate, kind and state).
  const Optimizer<T, Device>& optimizer() const { return *optimizer_; }

  // The state the next epoch depends on (besides the parameters), copied to the host.
  TrainingState state() const {
    TrainingState s;
    s.epoch = epochs_done_;
    s.shuffle_state = shuffle_.state();
    s.order.assign(host_order_.data(), host_order_.data() + host_order_.numel());
    s.optimizer = optimizer_->state();
    return s;
  }

  // Continues from a state() taken by a Trainer with the same model, data and options.
  // Checks everything before changing anything.
  void restore(const TrainingState& s) {
    const std::int64_t n = host_order_.numel();
    if (static_cast<std::int64_t>(s.order.size()) != n)
      throw std::invalid_argument("hnn::Trainer::restore: the saved example order has " + std::to_string(s.order.size()) +
                                  " entries, but the training set has " + std::to_string(n) + " examples");
    std::vector<bool> seen(static_cast<std::size_t>(n), false);
    for (std::int32_t i : s.order) {
      if (i < 0 || i >= n || seen[static_cast<std::size_t>(i)])
        throw std::invalid_argument("hnn::Trainer::restore: the saved example order is not a permutation of 0.." +
                                    std::to_string(n - 1));
      seen[static_cast<std::size_t>(i)] = true;
    }
    optimizer_->check(s.optimizer, "hnn::Trainer::restore");
    if (s.epoch < 0) throw std::invalid_argument("hnn::Trainer::restore: negative epoch count");

    optimizer_->restore(s.optimizer);
    std::copy(s.order.begin(), s.order.end(), host_order_.data());
    shuffle_.set_state(s.shuffle_state);
    epochs_done_ = s.epoch;
  }

 private:
  // One training step on `count` samples. Every pointer it touches stays fixed from step to
  // step and the batch number is read from device memory, so a GPU can replay it as a graph.
  void step(std::int64_t count) {
    batch_images_.resize(batch_shape(count));
    batch_labels_.resize(Shape{count});
    gather_batch(Device{}, count, batch_images_.shape().sample_size(), data_.images.data(), data_.labels.data(),
                 order_.data(), batch_number_.data(), options_.batch_size, batch_images_.data(), batch_labels_.data());
    const Tensor<T, Device>& logits = model_.forward(batch_images_);
    model_.backward(loss().forward_backward(logits, batch_labels_, batch_number_.data(), max_mean_loss_));
    optimizer_->step();
    advance_batch_number(Device{}, batch_number_.data());
  }

  void check_diverged(int epoch, const LossTotals& totals) const {
    if (totals.first_bad_batch < 0) return;
    std::ostringstream msg;
    msg << "training diverged at epoch " << epoch << ", batch " << totals.first_bad_batch + 1 << ": ";
    if (std::isfinite(totals.bad_batch_loss))
      msg << "the loss exploded (batch mean " << totals.bad_batch_loss << ", above the limit " << max_mean_loss_
          << " = " << options_.max_loss_factor << " x the loss of guessing)";
    else
      msg << "the loss became " << (std::isnan(totals.bad_batch_loss) ? "NaN" : "infinite");
    msg << "; try a smaller learning rate (now " << optimizer_->lr() << ")";
    throw DivergedError(msg.str());
  }

  bool is_parameter(const Tensor<T, Device>* t) const {
    for (const Parameter<T, Device>& p : model_.parameters())
      if (p.value == t) return true;
    return false;
  }

  Shape batch_shape(std::int64_t count) const {
    Shape s = data_.images.shape();
    s[0] = count;
    return s;
  }

  // Everything is checked before the constructor allocates: a batch size larger than the
  // training set would otherwise allocate (and zero) buffers for examples that do not exist.
  static TrainOptions validated(const TrainOptions& o, const Sequential<T, Device>& model,
                                const DeviceDataset<T, Device>& train_set, const DeviceDataset<T, Device>* eval_set) {
    const auto fail = [](const std::string& what) { throw std::invalid_argument("hnn::Trainer: " + what); };
    if (o.epochs < 1) fail("epochs must be at least 1, got " + std::to_string(o.epochs));
    if (o.batch_size < 1) fail("batch size must be at least 1, got " + std::to_string(o.batch_size));
    if (o.eval_batch_size < 1) fail("evaluation batch size must be at least 1, got " + std::to_string(o.eval_batch_size));
    check_optimizer_args(o.optimizer, o.optimizer_args(), "hnn::Trainer");
    if (o.schedule == ScheduleKind::step && o.step_size < 1)
      fail("the step schedule needs step_size at least 1, got " + std::to_string(o.step_size));
    if (o.schedule == ScheduleKind::step && (!(o.gamma > 0) || !std::isfinite(o.gamma)))
      fail("the step schedule's gamma must be positive and finite, got " + std::to_string(o.gamma));
    if (o.schedule == ScheduleKind::cosine && (!(o.eta_min >= 0) || !(o.eta_min < o.lr)))
      fail("the cosine schedule's eta_min must be at least 0 and below the learning rate, got " +
           std::to_string(o.eta_min));
    if (o.schedule == ScheduleKind::onecycle && !(o.pct_start > 0 && o.pct_start < 1))
      fail("the onecycle schedule's pct_start must be between 0 and 1 (exclusive), got " +
           std::to_string(o.pct_start));
    if (!(o.max_loss_factor >= 1)) fail("max_loss_factor must be at least 1 (the loss of guessing)");
    if (train_set.size() == 0) fail("the training set is empty");
    if (o.batch_size > train_set.size())
      fail("batch size " + std::to_string(o.batch_size) + " is larger than the training set (" +
           std::to_string(train_set.size()) + " examples)");
    // "28x28" for one channel, as the images have always been named; "3x32x32" otherwise.
    const auto size = [](const DeviceDataset<T, Device>& d) {
      const Shape s = d.sample_shape();
      std::string text;
      for (int i = s.rank() == 3 && s[0] == 1 ? 1 : 0; i < s.rank(); ++i) text += (text.empty() ? "" : "x") + std::to_string(s[i]);
      return text;
    };
    Shape one = train_set.images.shape();
    one[0] = 1;
    Shape out;
    try {
      out = model.output_shape(one);
    } catch (const ShapeError& e) {
      throw ShapeError("hnn::Trainer: the training images are " + size(train_set) + ", which the model does not take: " +
                       e.what());
    }
    if (out.rank() != 2) fail("the model's output for one image is " + out.str() + ", the loss needs (1, classes)");
    train_set.require_labels_below(out[1], "hnn::Trainer: training set");
    if (eval_set != nullptr) {
      if (size(*eval_set) != size(train_set))
        fail("the evaluation images are " + size(*eval_set) + " but the training images are " + size(train_set));
      eval_set->require_labels_below(out[1], "hnn::Trainer: evaluation set");
    }
    return o;
  }

  // The loss the steps minimise. Chosen on each use rather than bound once, so that a moved
  // Trainer never refers to the cross-entropy of the object it was moved from.
  ClassificationLoss<T, Device>& loss() { return user_loss_ != nullptr ? *user_loss_ : cross_entropy_; }

  Sequential<T, Device>& model_;
  const DeviceDataset<T, Device>& data_;
  TrainOptions options_;
  std::unique_ptr<Optimizer<T, Device>> optimizer_;
  SoftmaxCrossEntropy<T, Device> cross_entropy_;  // the loss unless the constructor was given one
  ClassificationLoss<T, Device>* user_loss_;       // the one it was given, or null
  Rng shuffle_;
  Tensor<std::int32_t, cpu> host_order_;
  Tensor<std::int32_t, Device> order_;
  Tensor<std::int64_t, Device> batch_number_;
  Tensor<T, Device> batch_images_;
  Tensor<std::int32_t, Device> batch_labels_;
  StepLauncher<Device> launcher_;
  double max_mean_loss_ = 0;  // max_loss_factor x ln(classes)
  int epochs_done_ = 0;
};

// What train() does around the epochs, every part optional: callbacks, checkpoints, and where
// a resumed run starts.
struct TrainHooks {
  std::function<void(const EpochStats&)> on_epoch;  // after each epoch, test accuracy included
  BatchCallback on_batch;                           // after each training batch (see BatchProgress)
  // on_checkpoint sees the trainer's state and the history so far after every epoch that is a
  // multiple of checkpoint_every (0: none) and after the last one. To resume later, save the
  // state beside the model: hnn::save(model, path, {state, metadata}).
  int checkpoint_every = 0;
  std::function<void(const TrainingState&, const std::vector<EpochStats>&)> on_checkpoint;
  // To continue a run: a state on_checkpoint saw (the model holding the parameters saved with
  // it) and the history up to it, which the returned history continues. Training goes on up
  // to options.epochs in total and, on the CPU, equals the uninterrupted run bit for bit.
  std::optional<TrainingState> resume;
  std::vector<EpochStats> resume_history;
};

namespace detail {
// train() below, with the loss to minimise (null: CrossEntropyLoss).
template <class T, class Device>
std::vector<EpochStats> train_epochs(Sequential<T, Device>& model, const DeviceDataset<T, Device>& train_set,
                              const DeviceDataset<T, Device>& test_set, const TrainOptions& options,
                              ClassificationLoss<T, Device>* loss, const TrainHooks& hooks) {
  if (hooks.checkpoint_every < 0)
    throw std::invalid_argument("hnn::train: checkpoint_every must be at least 0, got " +
                                std::to_string(hooks.checkpoint_every));
  if (!hooks.resume && !hooks.resume_history.empty())
    throw std::invalid_argument("hnn::train: resume_history given without the state to resume");
  if (hooks.resume && hooks.resume->epoch >= options.epochs)
    throw std::invalid_argument("hnn::train: the run to resume has trained " + std::to_string(hooks.resume->epoch) +
                                " epochs already; options.epochs (" + std::to_string(options.epochs) +
                                ") counts them too and must be above that");
  Trainer<T, Device> trainer(model, train_set, options, &test_set, loss);
  if (hooks.resume) trainer.restore(*hooks.resume);
  SoftmaxCrossEntropy<T, Device> eval_loss;
  std::vector<EpochStats> history = hooks.resume_history;
  for (int epoch = trainer.epochs_done() + 1; epoch <= options.epochs; ++epoch) {
    EpochStats stats = trainer.train_epoch(epoch, hooks.on_batch);
    stats.test_acc = evaluate(model, test_set, options.eval_batch_size, eval_loss);
    history.push_back(stats);
    if (hooks.on_epoch) hooks.on_epoch(stats);
    const bool due = epoch == options.epochs || (hooks.checkpoint_every > 0 && epoch % hooks.checkpoint_every == 0);
    if (hooks.on_checkpoint && due) hooks.on_checkpoint(trainer.state(), history);
  }
  return history;
}
}  // namespace detail

// Trains up to options.epochs, evaluating on `test_set` after each epoch; returns the history,
// one row per epoch.
template <class T, class Device>
std::vector<EpochStats> train(Sequential<T, Device>& model, const DeviceDataset<T, Device>& train_set,
                              const DeviceDataset<T, Device>& test_set, const TrainOptions& options,
                              const TrainHooks& hooks) {
  return detail::train_epochs<T, Device>(model, train_set, test_set, options, nullptr, hooks);
}

// The same minimising `loss` instead of CrossEntropyLoss (a loss of the user's: ExpressionLoss,
// hnn/losses/expression_loss.hpp). The history's train loss is that loss; the accuracies are
// the largest logit's, as always.
template <class T, class Device>
std::vector<EpochStats> train(Sequential<T, Device>& model, const DeviceDataset<T, Device>& train_set,
                              const DeviceDataset<T, Device>& test_set, const TrainOptions& options,
                              ClassificationLoss<T, Device>& loss, const TrainHooks& hooks = {}) {
  return detail::train_epochs(model, train_set, test_set, options, &loss, hooks);
}

// The same with only the callbacks: `on_epoch` sees each row, `on_batch` each batch.
template <class T, class Device>
std::vector<EpochStats> train(Sequential<T, Device>& model, const DeviceDataset<T, Device>& train_set,
                              const DeviceDataset<T, Device>& test_set, const TrainOptions& options,
                              const std::function<void(const EpochStats&)>& on_epoch = {},
                              const BatchCallback& on_batch = {}) {
  TrainHooks hooks;
  hooks.on_epoch = on_epoch;
  hooks.on_batch = on_batch;
  return train(model, train_set, test_set, options, hooks);
}

}  // namespace hnn
