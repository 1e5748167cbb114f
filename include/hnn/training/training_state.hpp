// What a training run reports and what it leaves behind, apart from the loop that produces
// them (hnn/training/train.hpp): a row of the history, a batch's progress, and the state a checkpoint
// stores so that a resumed run matches an uninterrupted one. A leaf header: checkpoints,
// metrics and reports use these types without including the trainer.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "hnn/tensor.hpp"

namespace hnn {

// One row of a training history, as d2l reports it.
struct EpochStats {
  int epoch = 0;                  // 1-based
  double train_loss = 0;          // mean loss of the epoch's training batches
  double train_acc = 0;           // accuracy of those same forward passes (class labels; NaN for regression)
  double test_acc = 0;            // accuracy on the test set after the epoch (class labels; NaN for regression)
  double test_loss = std::numeric_limits<double>::quiet_NaN();  // mean loss on the test set after the epoch
  double examples_per_sec = 0;    // training steps only (forward, backward, update)
  double seconds = 0;             // wall time of the epoch's training steps
};

// What a per-batch callback sees: enough for a progress bar. On a device whose memory the host
// cannot read (a GPU) the callback runs as soon as the batch is queued, without waiting for
// it, and the running loss is NaN: it is only known when the epoch ends.
struct BatchProgress {
  int epoch = 0;                 // 1-based
  std::int64_t batch = 0;        // batches done (queued, on a GPU) in this epoch, 1-based
  std::int64_t batches = 0;      // batches in the epoch, the last partial one included
  std::int64_t examples = 0;     // examples in the batches done
  std::int64_t total_examples = 0;
  double seconds = 0;            // since the epoch began
  double running_loss = std::numeric_limits<double>::quiet_NaN();  // mean loss so far, or NaN
};
using BatchCallback = std::function<void(const BatchProgress&)>;

// An optimizer's state on the host, as Optimizer::state() copies it out and a checkpoint
// stores it (hnn/optim/optimizer.hpp): its name, the steps it has taken, and its buffers.
struct OptimizerState {
  std::string name = "sgd";                  // the optimizer's registered name: "sgd", "adam", "adamw", "rmsprop"
  std::int64_t step = 0;                     // steps taken (files of earlier releases: 0 for SGD)
  // Each kind of buffer in turn, one per parameter (in parameter-group order) that has it.
  // SGD: momentum_buffer (parameters of groups with momentum). Adam/AdamW: every exp_avg, then
  // every exp_avg_sq. RMSprop: square_avg, then momentum_buffer (momentum), then grad_avg (centered).
  std::vector<Tensor<float, cpu>> buffers;
};

// A learning-rate schedule's state (hnn/optim/lr_scheduler.hpp): its name and step count,
// from which it sets its rates again.
struct ScheduleState {
  std::string name;         // "CosineAnnealingLR"; empty: no schedule object was saved
  std::int64_t steps = 0;   // steps taken (PyTorch's last_epoch)
};

// Everything besides the parameters that the next epoch of a Trainer depends on, on the
// host: what a checkpoint stores so that a resumed run matches an uninterrupted one.
struct TrainingState {
  int epoch = 0;                              // epochs completed
  std::uint64_t shuffle_state = 0;            // the shuffle generator after those epochs
  std::vector<std::int32_t> order;            // the example order the last shuffle left (the next permutes it)
  OptimizerState optimizer;                   // the optimizer's step count and buffers
  ScheduleState schedule;                     // the schedule's step count (format version 3)
};

}  // namespace hnn
