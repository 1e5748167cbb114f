// torch.nn.BCEWithLogitsLoss: binary cross-entropy of logits x (the probability is sigmoid(x))
// against float targets y in [0, 1] of the same shape, computed from the logits so that it
// stays finite for any finite logit:
//   loss = (1 - y) x - (1 + (p_j - 1) y) log sigmoid(x)
// where p_j, the optional pos_weight of class j (the prediction's last dimension), weighs the
// positive term (p > 1 favours recall). Averaged over every element (mean) or summed.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/losses/elementwise_loss.hpp"

namespace hnn {

template <class T, class Device = cpu>
class BCEWithLogitsLoss final : public ElementwiseLoss<T, Device> {
 public:
  // `pos_weight`, when given: one finite non-negative weight per class (the prediction's last dimension).
  explicit BCEWithLogitsLoss(Reduction reduction = Reduction::mean, std::vector<double> pos_weight = {})
      : ElementwiseLoss<T, Device>(reduction), pos_weight_(std::move(pos_weight)) {
    for (std::size_t c = 0; c < pos_weight_.size(); ++c)
      if (!(pos_weight_[c] >= 0) || !std::isfinite(pos_weight_[c]))
        throw std::invalid_argument(name() + ": pos_weight " + std::to_string(pos_weight_[c]) + " at index " +
                                    std::to_string(c) + " must be finite and at least 0");
    if (!pos_weight_.empty()) device_pos_weight_ = detail::device_values<T, Device>(pos_weight_);
  }
  std::string name() const override { return "hnn::BCEWithLogitsLoss"; }
  const std::vector<double>& pos_weight() const { return pos_weight_; }

 private:
  void check(const Tensor<T, Device>& prediction, const Tensor<T, Device>& target) const override {
    ElementwiseLoss<T, Device>::check(prediction, target);
    const std::int64_t classes = prediction.dim(prediction.rank() - 1);
    if (!pos_weight_.empty() && static_cast<std::int64_t>(pos_weight_.size()) != classes)
      throw std::invalid_argument(name() + ": " + std::to_string(pos_weight_.size()) +
                                  " pos_weight values for a prediction " + prediction.shape().str() + " of " +
                                  std::to_string(classes) + " classes (its last dimension)");
  }

  void compute(const Tensor<T, Device>& prediction, const Tensor<T, Device>& target, T* grad,
               const std::int64_t* batch_number, double max_mean_loss) override {
    LogisticError<T> rule;
    if (!pos_weight_.empty()) {
      rule.pos_weight = device_pos_weight_.data();
      rule.classes = static_cast<std::int64_t>(pos_weight_.size());
    }
    this->run(rule, prediction, target, grad, batch_number, max_mean_loss);
  }

  std::vector<double> pos_weight_;
  Tensor<T, Device> device_pos_weight_;
};

}  // namespace hnn
