// Sigmoid, ReLU and Tanh: elementwise, any input shape.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hnn/kernels/activation.hpp"
#include "hnn/kernels/tanh.hpp"
#include "hnn/layers/layer.hpp"

namespace hnn {

template <class T, class Device>
class SigmoidLayer;
template <class T, class Device>
class ReLULayer;
template <class T, class Device>
class TanhLayer;

struct Sigmoid : detail::SizelessSpec<Sigmoid> {
  static constexpr const char* kind = "Sigmoid";
  template <class T, class Device>
  using layer = SigmoidLayer<T, Device>;
  Shape output_shape(const Shape& input) const { return input; }
};

struct ReLU : detail::SizelessSpec<ReLU> {
  static constexpr const char* kind = "ReLU";
  template <class T, class Device>
  using layer = ReLULayer<T, Device>;
  Shape output_shape(const Shape& input) const { return input; }
};

// (Not fused with a convolution and pooling: the fused kernels know sigmoid and ReLU only.)
struct Tanh : detail::SizelessSpec<Tanh> {
  static constexpr const char* kind = "Tanh";
  template <class T, class Device>
  using layer = TanhLayer<T, Device>;
  Shape output_shape(const Shape& input) const { return input; }
};

template <class T, class Device>
class SigmoidLayer final : public Layer<T, Device> {
 public:
  explicit SigmoidLayer(const Sigmoid&) {}

  // (The output, which the backward pass reads, is the result itself: nothing more is kept.)
  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    this->start_forward();
    output_.resize(input.shape());
    sigmoid_forward(Device{}, input.data(), output_.data(), input.numel());
    return output_;
  }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    this->require_training_forward(Sigmoid{});
    grad_input_.resize(output_.shape());
    sigmoid_backward(Device{}, output_.data(), grad_output.data(), grad_input_.data(), output_.numel());
    return grad_input_;
  }

 private:
  Tensor<T, Device> output_, grad_input_;
};

template <class T, class Device>
class ReLULayer final : public Layer<T, Device> {
 public:
  explicit ReLULayer(const ReLU&) {}

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    if (this->start_forward()) input_ = input;  // the mask's source; evaluation keeps nothing
    output_.resize(input.shape());
    relu_forward(Device{}, input.data(), output_.data(), input.numel());
    return output_;
  }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    this->require_training_forward(ReLU{});
    grad_input_.resize(input_.shape());
    relu_backward(Device{}, input_.data(), grad_output.data(), grad_input_.data(), input_.numel());
    return grad_input_;
  }

 private:
  Tensor<T, Device> input_, output_, grad_input_;
};

template <class T, class Device>
class TanhLayer final : public Layer<T, Device> {
 public:
  explicit TanhLayer(const Tanh&) {}

  // (The output, which the backward pass reads, is the result itself: nothing more is kept.)
  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    this->start_forward();
    output_.resize(input.shape());
    tanh_forward(Device{}, input.data(), output_.data(), input.numel());
    return output_;
  }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    this->require_training_forward(Tanh{});
    grad_input_.resize(output_.shape());
    tanh_backward(Device{}, output_.data(), grad_output.data(), grad_input_.data(), output_.numel());
    return grad_input_;
  }

 private:
  Tensor<T, Device> output_, grad_input_;
};

}  // namespace hnn
