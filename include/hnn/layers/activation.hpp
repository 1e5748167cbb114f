// Sigmoid and ReLU: elementwise, any input shape.
#pragma once

#include <string>

#include "hnn/kernels/cpu/activation.hpp"
#include "hnn/layers/layer.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/activation.cuh"
#endif

namespace hnn {

struct Sigmoid {
  std::string str() const { return "Sigmoid()"; }
  Shape output_shape(const Shape& input) const { return input; }
};

struct ReLU {
  std::string str() const { return "ReLU()"; }
  Shape output_shape(const Shape& input) const { return input; }
};

template <class T, class Device>
class SigmoidLayer final : public Layer<T, Device> {
 public:
  explicit SigmoidLayer(const Sigmoid&) {}
  std::string describe() const override { return Sigmoid{}.str(); }
  std::string kind() const override { return "Sigmoid"; }
  Shape output_shape(const Shape& input) const override { return input; }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    output_.resize(input.shape());
    sigmoid_forward(Device{}, input.data(), output_.data(), input.numel());
    return output_;
  }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
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
  std::string describe() const override { return ReLU{}.str(); }
  std::string kind() const override { return "ReLU"; }
  Shape output_shape(const Shape& input) const override { return input; }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    input_ = input;
    output_.resize(input.shape());
    relu_forward(Device{}, input.data(), output_.data(), input.numel());
    return output_;
  }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    grad_input_.resize(input_.shape());
    relu_backward(Device{}, input_.data(), grad_output.data(), grad_input_.data(), input_.numel());
    return grad_input_;
  }

 private:
  Tensor<T, Device> input_, output_, grad_input_;
};

}  // namespace hnn
