// torch.nn.HuberLoss(delta) and torch.nn.SmoothL1Loss(beta): quadratic near the target,
// linear beyond. With d = x - y:
//   Huber:     d^2 / 2 where |d| < delta, else delta (|d| - delta / 2)       (delta > 0)
//   SmoothL1:  d^2 / (2 beta) where |d| < beta, else |d| - beta / 2           (beta >= 0; 0 is L1)
// SmoothL1Loss(beta) equals HuberLoss(beta) / beta for beta > 0.
#pragma once

#include <cmath>
#include <stdexcept>
#include <string>

#include "hnn/losses/elementwise_loss.hpp"

namespace hnn {

template <class T, class Device = cpu>
class HuberLoss final : public ElementwiseLoss<T, Device> {
 public:
  explicit HuberLoss(Reduction reduction = Reduction::mean, double delta = 1.0)
      : ElementwiseLoss<T, Device>(reduction), delta_(delta) {
    if (!(delta > 0) || !std::isfinite(delta))
      throw std::invalid_argument(name() + ": delta must be positive and finite, got " + std::to_string(delta));
  }
  std::string name() const override { return "hnn::HuberLoss"; }
  double delta() const { return delta_; }

 private:
  void compute(const Tensor<T, Device>& prediction, const Tensor<T, Device>& target, T* grad,
               const std::int64_t* batch_number, double max_mean_loss) override {
    this->run(HuberError<T>{static_cast<T>(delta_)}, prediction, target, grad, batch_number, max_mean_loss);
  }
  double delta_;
};

template <class T, class Device = cpu>
class SmoothL1Loss final : public ElementwiseLoss<T, Device> {
 public:
  explicit SmoothL1Loss(Reduction reduction = Reduction::mean, double beta = 1.0)
      : ElementwiseLoss<T, Device>(reduction), beta_(beta) {
    if (!(beta >= 0) || !std::isfinite(beta))
      throw std::invalid_argument(name() + ": beta must be at least 0 and finite, got " + std::to_string(beta));
  }
  std::string name() const override { return "hnn::SmoothL1Loss"; }
  double beta() const { return beta_; }

 private:
  void compute(const Tensor<T, Device>& prediction, const Tensor<T, Device>& target, T* grad,
               const std::int64_t* batch_number, double max_mean_loss) override {
    this->run(SmoothL1Error<T>{static_cast<T>(beta_)}, prediction, target, grad, batch_number, max_mean_loss);
  }
  double beta_;
};

}  // namespace hnn
