// Softmax cross-entropy, the loss of every classifier here, with the running sums an
// epoch reports (mean loss, accuracy) kept on the device until they are read.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/kernels/loss.hpp"
#include "hnn/tensor.hpp"

namespace hnn {

// What the loss accumulated since its last reset().
struct LossTotals {
  double loss_sum = 0;
  double correct = 0;
  std::int64_t first_bad_batch = -1;  // first batch whose mean loss was NaN, infinite or too large, -1 if none
  double bad_batch_loss = 0;          // that batch's mean loss
};

template <class T, class Device = cpu>
class SoftmaxCrossEntropy {
 public:
  SoftmaxCrossEntropy() : stats_(Shape{LossStats::size}) { reset(); }

  // Adds the batch to the running totals and returns dLoss/dLogits of the batch's MEAN loss.
  // A batch whose mean loss is NaN, infinite or above `max_mean_loss` is recorded in
  // totals().first_bad_batch as *batch_number (device memory; 0 when null), the first time.
  const Tensor<T, Device>& forward_backward(const Tensor<T, Device>& logits, const Tensor<std::int32_t, Device>& labels,
                                            const std::int64_t* batch_number = nullptr,
                                            double max_mean_loss = std::numeric_limits<double>::infinity()) {
    check(logits, labels);
    grad_.resize(logits.shape());
    softmax_cross_entropy(Device{}, logits.dim(0), logits.dim(1), logits.data(), labels.data(), grad_.data(),
                          stats_.data(), batch_number, max_mean_loss);
    return grad_;
  }

  // The batch's mean loss, its gradient left in gradient(): the loss call of a hand-written
  // training step. It restarts the running totals, and on a GPU waits for the batch.
  double operator()(const Tensor<T, Device>& logits, const Tensor<std::int32_t, Device>& labels) {
    reset();
    forward_backward(logits, labels);
    return totals().loss_sum / static_cast<double>(logits.dim(0));
  }

  // dLoss/dLogits of the batch's mean loss, from the last operator() or forward_backward().
  const Tensor<T, Device>& gradient() const { return grad_; }

  // Adds the batch to the running totals without computing a gradient (evaluation).
  void accumulate(const Tensor<T, Device>& logits, const Tensor<std::int32_t, Device>& labels) {
    check(logits, labels);
    softmax_cross_entropy(Device{}, logits.dim(0), logits.dim(1), logits.data(), labels.data(),
                          static_cast<T*>(nullptr), stats_.data(), static_cast<const std::int64_t*>(nullptr));
  }

  void reset() {
    const double zero[LossStats::size] = {0.0, 0.0, -1.0, 0.0, 0.0, 0.0};  // a plain array: resetting must not allocate
    Memory<Device>::copy_from_host(stats_.data(), zero, sizeof zero);
  }

  // Reads the totals back to the host (on a GPU this waits for the queued work).
  LossTotals totals() const {
    double s[LossStats::size];  // a plain array: reading the totals must not allocate
    Memory<Device>::copy_to_host(s, stats_.data(), sizeof s);
    return {s[LossStats::loss_sum], s[LossStats::correct], static_cast<std::int64_t>(s[LossStats::first_bad_batch]),
            s[LossStats::bad_batch_loss]};
  }

  // The mean loss of one batch, for tests and one-off use: resets, accumulates, reads.
  double mean_loss(const Tensor<T, Device>& logits, const Tensor<std::int32_t, Device>& labels) {
    reset();
    accumulate(logits, labels);
    return totals().loss_sum / static_cast<double>(logits.dim(0));
  }

 private:
  static void check(const Tensor<T, Device>& logits, const Tensor<std::int32_t, Device>& labels) {
    if (logits.rank() != 2 || labels.rank() != 1 || labels.dim(0) != logits.dim(0))
      throw std::invalid_argument("hnn::SoftmaxCrossEntropy: expected logits (N, classes) and labels (N), got " +
                                  logits.shape().str() + " and " + labels.shape().str());
  }

  Tensor<double, Device> stats_;
  Tensor<T, Device> grad_;
};

}  // namespace hnn
