// GlobalAvgPool2d: (N, C, H, W) -> (N, C, 1, 1), each output the mean of one plane, as
// PyTorch's nn.AdaptiveAvgPool2d(1).
#pragma once

#include <string>

#include "hnn/kernels/global_avg_pool.hpp"
#include "hnn/layers/layer.hpp"

namespace hnn {

template <class T, class Device>
class GlobalAvgPool2dLayer;

struct GlobalAvgPool2d : detail::SizelessSpec<GlobalAvgPool2d> {
  static constexpr const char* kind = "GlobalAvgPool2d";
  template <class T, class Device>
  using layer = GlobalAvgPool2dLayer<T, Device>;
  Shape output_shape(const Shape& input) const {
    if (input.rank() != 4) detail::require_images("GlobalAvgPool2d()", input);
    if (input[2] < 1 || input[3] < 1)
      detail::bad_input("GlobalAvgPool2d(): input " + input.str() + " has an empty plane");
    return Shape{input[0], input[1], 1, 1};
  }
};

template <class T, class Device>
class GlobalAvgPool2dLayer final : public Layer<T, Device> {
 public:
  explicit GlobalAvgPool2dLayer(const GlobalAvgPool2d&) {}

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    output_.resize(GlobalAvgPool2d{}.output_shape(input.shape()));
    if (this->start_forward()) input_shape_ = input.shape();
    global_avg_pool_forward(Device{}, input.dim(0) * input.dim(1), input.dim(2) * input.dim(3), input.data(),
                            output_.data());
    return output_;
  }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    this->require_training_forward(GlobalAvgPool2d{});
    grad_input_.resize(input_shape_);
    global_avg_pool_backward(Device{}, input_shape_[0] * input_shape_[1], input_shape_[2] * input_shape_[3],
                             grad_output.data(), grad_input_.data());
    return grad_input_;
  }

 private:
  Shape input_shape_;
  Tensor<T, Device> output_, grad_input_;
};

}  // namespace hnn
