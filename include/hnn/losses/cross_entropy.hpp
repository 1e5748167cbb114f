// torch.nn.CrossEntropyLoss over (N, C) logits and int32 class labels (N): softmax
// cross-entropy with optional class weights and label smoothing, PyTorch's semantics:
//   loss_n = (1 - s) w_y (-log p_y) + (s / C) sum_c w_c (-log p_c)
// reduced by the mean (divided by sum_n w_{y_n}: the batch size without weights) or the sum.
// It counts the samples whose largest logit is their label (totals().correct): the training
// accuracy of a trainer's epoch comes free with the loss. Kernel: kernels/cross_entropy.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/kernels/cross_entropy.hpp"
#include "hnn/losses/loss.hpp"

namespace hnn {

template <class T, class Device = cpu>
class CrossEntropyLoss final : public ClassificationLoss<T, Device> {
 public:
  // `label_smoothing` in [0, 1]; `weight`, when given, one finite non-negative weight per class.
  explicit CrossEntropyLoss(Reduction reduction = Reduction::mean, double label_smoothing = 0,
                            std::vector<double> weight = {})
      : ClassificationLoss<T, Device>(reduction), label_smoothing_(label_smoothing), weight_(std::move(weight)) {
    if (!(label_smoothing >= 0 && label_smoothing <= 1))
      throw std::invalid_argument(name() + ": label_smoothing must be between 0 and 1, got " +
                                  std::to_string(label_smoothing));
    for (std::size_t c = 0; c < weight_.size(); ++c)
      if (!(weight_[c] >= 0) || !std::isfinite(weight_[c]))
        throw std::invalid_argument(name() + ": class weight " + std::to_string(weight_[c]) + " at index " +
                                    std::to_string(c) + " must be finite and at least 0");
    if (!weight_.empty()) device_weight_ = detail::device_values<T, Device>(weight_);
  }

  std::string name() const override { return "hnn::CrossEntropyLoss"; }
  double label_smoothing() const { return label_smoothing_; }
  const std::vector<double>& weight() const { return weight_; }

 private:
  void check(const Tensor<T, Device>& logits, const Tensor<std::int32_t, Device>& labels) const override {
    if (logits.rank() != 2 || labels.rank() != 1 || labels.dim(0) != logits.dim(0))
      this->shape_error("expected logits (N, classes) and labels (N)", logits.shape(), labels.shape());
    this->require_nonempty(logits.shape(), labels.shape());
    const std::int64_t classes = logits.dim(1);
    if (!weight_.empty() && static_cast<std::int64_t>(weight_.size()) != classes)
      throw std::invalid_argument(name() + ": " + std::to_string(weight_.size()) +
                                  " class weights for logits of " + std::to_string(classes) + " classes " +
                                  logits.shape().str());
    this->label_classes_ = classes;
    if constexpr (Memory<Device>::host_accessible) {
      const std::int64_t bad = detail::first_label_outside(labels, classes);
      if (bad >= 0) this->throw_label_error(labels.data()[bad], bad, classes);
    }
  }

  void compute(const Tensor<T, Device>& logits, const Tensor<std::int32_t, Device>& labels, T* grad,
               const std::int64_t* batch_number, double max_mean_loss) override {
    cross_entropy(Device{}, logits.dim(0), logits.dim(1), logits.data(), labels.data(),
                  weight_.empty() ? static_cast<const T*>(nullptr) : device_weight_.data(),
                  static_cast<T>(label_smoothing_), this->reduction(), grad, this->stats(), this->label_error(),
                  batch_number, max_mean_loss);
  }

  double label_smoothing_;
  std::vector<double> weight_;
  Tensor<T, Device> device_weight_;
};

}  // namespace hnn
