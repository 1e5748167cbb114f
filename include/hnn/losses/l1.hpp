// torch.nn.L1Loss: the absolute error |x - y| of a prediction and a float target of the same
// shape, averaged over every element (mean) or summed. Its gradient at x = y is 0, as PyTorch's.
#pragma once

#include <string>

#include "hnn/losses/elementwise_loss.hpp"

namespace hnn {

template <class T, class Device = cpu>
class L1Loss final : public ElementwiseLoss<T, Device> {
 public:
  explicit L1Loss(Reduction reduction = Reduction::mean) : ElementwiseLoss<T, Device>(reduction) {}
  std::string name() const override { return "hnn::L1Loss"; }

 private:
  void compute(const Tensor<T, Device>& prediction, const Tensor<T, Device>& target, T* grad,
               const std::int64_t* batch_number, double max_mean_loss) override {
    this->run(AbsoluteError<T>{}, prediction, target, grad, batch_number, max_mean_loss);
  }
};

}  // namespace hnn
