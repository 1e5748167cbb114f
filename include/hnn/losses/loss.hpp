// The loss interface every loss implements (losses/cross_entropy.hpp, mse.hpp, l1.hpp,
// huber.hpp, bce_with_logits.hpp), shaped like torch.nn's losses, with the running totals an
// epoch reports kept on the device until they are read.
//
// A hand-written step (the call reads the batch's loss back, so on a GPU it waits):
//   double l = loss(prediction, target);       // the batch's reduced loss (mean or sum)
//   model.backward(loss.gradient());           // d(that loss)/d(prediction)
// A trainer's step (nothing read back: a GPU can replay it as a recorded graph):
//   model.backward(loss.forward_backward(prediction, target, batch_number, max_mean_loss));
//   ... at the epoch's end: LossTotals t = loss.totals();   // waits; throws on an invalid label
// Evaluation: loss.reset(); for each batch loss.accumulate(prediction, target); loss.totals().
//
// Target is the loss's target tensor: int32 class labels (N) for CrossEntropyLoss
// (ClassificationLoss), float targets of the prediction's shape for the others (RegressionLoss).
// Every call checks its shapes first and throws std::invalid_argument naming both. A class
// label outside [0, classes) is refused before anything is read on the CPU; a GPU kernel skips
// the sample, records the label and its index in device memory, and the next call that
// synchronises (totals(), operator()) throws naming them.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/kernels/cpu/loss_stats.hpp"
#include "hnn/tensor.hpp"

namespace hnn {

// What a loss accumulated since its last reset().
struct LossTotals {
  double loss_sum = 0;   // sum of the per-element (weighted) losses of every batch added
  double count = 0;      // what their mean divides by: samples (cross-entropy; the labels'
                         // weights with class weights) or elements (the elementwise losses)
  double correct = 0;    // cross-entropy: samples whose largest logit is their label; 0 otherwise
  double samples = 0;    // rows (first dimension) added
  std::int64_t first_bad_batch = -1;  // first batch whose mean loss was NaN, infinite or too large, -1 if none
  double bad_batch_loss = 0;          // that batch's mean loss

  // The mean loss over everything added (PyTorch's 'mean' of all the batches at once).
  double mean_loss() const { return loss_sum / count; }
};

template <class T, class Device, class Target>
class Loss {
 public:
  using prediction_type = Tensor<T, Device>;
  using target_type = Target;

  virtual ~Loss() = default;
  Loss(const Loss&) = delete;
  Loss& operator=(const Loss&) = delete;

  // "hnn::MSELoss": what error messages start with.
  virtual std::string name() const = 0;
  Reduction reduction() const { return reduction_; }

  // The batch's reduced loss, its gradient left in gradient(): the loss call of a hand-written
  // step. The batch is added to the running totals too. On a GPU it waits for the batch.
  double operator()(const Tensor<T, Device>& prediction, const Target& target) {
    forward_backward(prediction, target);
    double s[LossStats::size];  // plain arrays: reading back must not allocate
    std::int64_t e[LabelError::size];
    read_back(s, e);
    return reduction_ == Reduction::mean ? s[LossStats::last_loss_sum] / s[LossStats::last_count]
                                         : s[LossStats::last_loss_sum];
  }

  // d(batch loss)/d(prediction), from the last operator() or forward_backward().
  const Tensor<T, Device>& gradient() const { return grad_; }

  // The trainer's call: adds the batch to the running totals and returns the gradient of its
  // reduced loss, reading nothing back. A batch whose mean loss is NaN, infinite or above
  // `max_mean_loss` is recorded in totals().first_bad_batch as *batch_number (device memory;
  // 0 when null), the first time; an invalid label is recorded with *batch_number too.
  const Tensor<T, Device>& forward_backward(const Tensor<T, Device>& prediction, const Target& target,
                                            const std::int64_t* batch_number = nullptr,
                                            double max_mean_loss = std::numeric_limits<double>::infinity()) {
    check(prediction, target);
    grad_.resize(prediction.shape());
    compute(prediction, target, grad_.data(), batch_number, max_mean_loss);
    return grad_;
  }

  // Adds the batch to the running totals without computing a gradient (evaluation).
  void accumulate(const Tensor<T, Device>& prediction, const Target& target) {
    check(prediction, target);
    compute(prediction, target, nullptr, nullptr, std::numeric_limits<double>::infinity());
  }

  // Clears the totals and any recorded invalid label.
  void reset() {
    double s[LossStats::size];  // plain arrays: resetting must not allocate
    for (int i = 0; i < LossStats::size; ++i) s[i] = LossStats::initial(i);
    std::int64_t e[LabelError::size];
    for (int i = 0; i < LabelError::size; ++i) e[i] = LabelError::initial(i);
    Memory<Device>::copy_from_host(stats_.data(), s, sizeof s);
    Memory<Device>::copy_from_host(label_error_.data(), e, sizeof e);
  }

  // The totals since the last reset(), read back to the host (on a GPU this waits for the
  // queued work). Throws std::invalid_argument if a kernel met an invalid label since then.
  LossTotals totals() const {
    double s[LossStats::size];
    std::int64_t e[LabelError::size];
    read_back(s, e);
    LossTotals t;
    t.loss_sum = s[LossStats::loss_sum];
    t.count = s[LossStats::count];
    t.correct = s[LossStats::correct];
    t.samples = s[LossStats::samples];
    t.first_bad_batch = static_cast<std::int64_t>(s[LossStats::first_bad_batch]);
    t.bad_batch_loss = s[LossStats::bad_batch_loss];
    return t;
  }

  // The reduced loss of one batch, for tests and one-off use: resets, accumulates, reads.
  double mean_loss(const Tensor<T, Device>& prediction, const Target& target) {
    reset();
    accumulate(prediction, target);
    const LossTotals t = totals();
    return reduction_ == Reduction::mean ? t.loss_sum / t.count : t.loss_sum;
  }

 protected:
  explicit Loss(Reduction reduction)
      : reduction_(reduction), stats_(Shape{LossStats::size}), label_error_(Shape{LabelError::size}) {
    if (reduction != Reduction::mean && reduction != Reduction::sum)
      throw std::invalid_argument("hnn loss: reduction must be Reduction::mean or Reduction::sum");
    reset();
  }

  // Throws std::invalid_argument (naming both shapes, or the bad label and its index where
  // the device's memory is host-readable) unless prediction and target fit this loss.
  virtual void check(const Tensor<T, Device>& prediction, const Target& target) const = 0;
  // Adds the batch to stats() (and writes `grad` when not null) through the loss's kernel.
  virtual void compute(const Tensor<T, Device>& prediction, const Target& target, T* grad,
                       const std::int64_t* batch_number, double max_mean_loss) = 0;

  double* stats() { return stats_.data(); }
  std::int64_t* label_error() { return label_error_.data(); }
  // The class count the last labels were checked against, for the message of a label a GPU
  // kernel recorded (set by classification losses in check()).
  mutable std::int64_t label_classes_ = 0;

  // Throws a shape error "<name>: <what>: prediction <shape>, target <shape>".
  void shape_error(const std::string& what, const Shape& prediction, const Shape& target) const {
    throw std::invalid_argument(name() + ": " + what + ": prediction " + prediction.str() + ", target " + target.str());
  }
  // Throws the message of label `label` at `index`, outside [0, classes).
  [[noreturn]] void throw_label_error(std::int32_t label, std::int64_t index, std::int64_t classes) const {
    throw std::invalid_argument(name() + ": label " + std::to_string(label) + " at index " + std::to_string(index) +
                                " is outside [0, " + std::to_string(classes) + "): the prediction has " +
                                std::to_string(classes) + " classes");
  }
  void require_nonempty(const Shape& prediction, const Shape& target) const {
    if (prediction.rank() == 0 || prediction.numel() == 0) shape_error("the batch is empty", prediction, target);
  }

 private:
  void read_back(double* s, std::int64_t* e) const {
    Memory<Device>::copy_to_host(s, stats_.data(), sizeof(double) * LossStats::size);
    Memory<Device>::copy_to_host(e, label_error_.data(), sizeof(std::int64_t) * LabelError::size);
    if (e[LabelError::batch] == -1) return;
    const std::int64_t batch = e[LabelError::batch];
    throw std::invalid_argument(
        name() + ": label " + std::to_string(LabelError::label(e[LabelError::packed])) + " at index " +
        std::to_string(LabelError::index(e[LabelError::packed])) +
        (batch >= 0 ? " of batch " + std::to_string(batch) : std::string()) + " is outside [0, " +
        std::to_string(label_classes_) + "): the prediction has " + std::to_string(label_classes_) +
        " classes (found by the device kernel, whose totals since are incomplete; reset() clears it)");
  }

  Reduction reduction_;
  Tensor<double, Device> stats_;
  Tensor<std::int64_t, Device> label_error_;
  Tensor<T, Device> grad_;
};

// The losses of class labels (CrossEntropyLoss) and of float targets (the rest).
template <class T, class Device = cpu>
using ClassificationLoss = Loss<T, Device, Tensor<std::int32_t, Device>>;
template <class T, class Device = cpu>
using RegressionLoss = Loss<T, Device, Tensor<T, Device>>;

namespace detail {
// For classification losses on a host-readable device: the index of the first label outside
// [0, classes), or -1, found before any kernel reads the logits by it.
template <class Device>
std::int64_t first_label_outside(const Tensor<std::int32_t, Device>& labels, std::int64_t classes) {
  if constexpr (Memory<Device>::host_accessible) {
    const std::int32_t* y = labels.data();
    for (std::int64_t i = 0; i < labels.numel(); ++i)
      if (y[i] < 0 || static_cast<std::int64_t>(y[i]) >= classes) return i;
  }
  return -1;
}

// A loss option given as host values, made a device tensor of T: class weights, pos_weight.
template <class T, class Device>
Tensor<T, Device> device_values(const std::vector<double>& values) {
  Tensor<T, cpu> host(Shape{static_cast<std::int64_t>(values.size())});
  for (std::size_t i = 0; i < values.size(); ++i) host[static_cast<std::int64_t>(i)] = static_cast<T>(values[i]);
  return host.template to<Device>();
}
}  // namespace detail

}  // namespace hnn
