// torch.nn.MSELoss: the squared error (x - y)^2 of a prediction and a float target of the
// same shape, averaged over every element (mean) or summed.
#pragma once

#include <string>

#include "hnn/losses/elementwise_loss.hpp"

namespace hnn {

template <class T, class Device = cpu>
class MSELoss final : public ElementwiseLoss<T, Device> {
 public:
  explicit MSELoss(Reduction reduction = Reduction::mean) : ElementwiseLoss<T, Device>(reduction) {}
  std::string name() const override { return "hnn::MSELoss"; }

 private:
  void compute(const Tensor<T, Device>& prediction, const Tensor<T, Device>& target, T* grad,
               const std::int64_t* batch_number, double max_mean_loss) override {
    this->run(SquaredError<T>{}, prediction, target, grad, batch_number, max_mean_loss);
  }
};

}  // namespace hnn
