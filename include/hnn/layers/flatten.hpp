// Flatten: (N, d1, d2, ...) -> (N, d1*d2*...), a view in both directions (no copy, no kernel).
#pragma once

#include <string>

#include "hnn/layers/layer.hpp"

namespace hnn {

template <class T, class Device>
class FlattenLayer;

struct Flatten : detail::SizelessSpec<Flatten> {
  static constexpr const char* kind = "Flatten";
  template <class T, class Device>
  using layer = FlattenLayer<T, Device>;
  Shape output_shape(const Shape& input) const {
    if (input.rank() < 1) detail::bad_input("Flatten expects at least a batch dimension, got " + input.str());
    return Shape{input[0], input.sample_size()};
  }
};

template <class T, class Device>
class FlattenLayer final : public Layer<T, Device> {
 public:
  explicit FlattenLayer(const Flatten&) {}

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    if (this->start_forward()) input_shape_ = input.shape();
    output_ = input.reshape(Flatten{}.output_shape(input.shape()));
    return output_;
  }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    this->require_training_forward(Flatten{});
    grad_input_ = grad_output.reshape(input_shape_);
    return grad_input_;
  }

 private:
  Shape input_shape_;
  Tensor<T, Device> output_, grad_input_;
};

}  // namespace hnn
