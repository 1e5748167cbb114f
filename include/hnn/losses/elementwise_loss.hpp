// What the losses of a float target share (MSELoss, L1Loss, HuberLoss, SmoothL1Loss,
// BCEWithLogitsLoss): the target has the prediction's shape exactly (no broadcasting), each
// element has its loss and derivative (a rule of kernels/pointwise_loss.hpp), and the mean
// divides by the number of elements.
#pragma once

#include <cstdint>
#include <string>

#include "hnn/kernels/pointwise_loss.hpp"
#include "hnn/losses/loss.hpp"

namespace hnn {

template <class T, class Device>
class ElementwiseLoss : public RegressionLoss<T, Device> {
 protected:
  using RegressionLoss<T, Device>::RegressionLoss;

  void check(const Tensor<T, Device>& prediction, const Tensor<T, Device>& target) const override {
    if (prediction.shape() != target.shape())
      this->shape_error("the target must have the prediction's shape", prediction.shape(), target.shape());
    this->require_nonempty(prediction.shape(), target.shape());
  }

  // Runs `rule` over the batch.
  template <class Rule>
  void run(const Rule& rule, const Tensor<T, Device>& prediction, const Tensor<T, Device>& target, T* grad,
           const std::int64_t* batch_number, double max_mean_loss) {
    const std::int64_t n = prediction.numel();
    const T grad_scale = this->reduction() == Reduction::mean ? static_cast<T>(1.0 / static_cast<double>(n)) : T(1);
    pointwise_loss(Device{}, rule, n, prediction.dim(0), prediction.data(), target.data(), grad_scale, grad,
                   this->stats(), batch_number, max_mean_loss);
  }
};

}  // namespace hnn
