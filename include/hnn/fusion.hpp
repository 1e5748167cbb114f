// Layer fusion: Sequential runs Conv2d -> Sigmoid|ReLU -> AvgPool2d(2)|MaxPool2d(2) as one
// fused kernel on devices that have one (the CPU: kernels/cpu/conv2d_fused.hpp), and as
// three layers everywhere else.
//
// The three layers stay what the model is made of (trace, summary, parameters, checkpoints
// and layer(i) see them as before); only Sequential::forward/backward take the fused path.
// The fused results are those of the three layers run one after the other.
#pragma once

#include <cstdint>
#include <type_traits>
#include <variant>
#include <vector>

#include "hnn/kernels/cpu/conv2d_fused.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/conv2d.hpp"
#include "hnn/layers/layer.hpp"
#include "hnn/layers/pool2d.hpp"

namespace hnn {

// Devices with a fused Conv2d + activation + pooling kernel.
template <class Device>
struct has_fused_conv_act_pool : std::false_type {};
template <>
struct has_fused_conv_act_pool<cpu> : std::true_type {};

// What follows a Conv2d in a fusable run.
struct FusedRun {
  FusedActivation activation = FusedActivation::sigmoid;
  FusedPooling pooling = FusedPooling::average;
  std::int64_t pool_kernel = 2, pool_stride = 2;
};

// Whether specs[i], specs[i + 1], specs[i + 2] are a Conv2d, a Sigmoid or ReLU, and an
// AvgPool2d or MaxPool2d that the fused kernel takes (stride-1 convolution, 2x2 windows).
template <class Spec>
bool fusable_run(const std::vector<Spec>& specs, std::size_t i, FusedRun& run) {
  if (i + 2 >= specs.size() || !std::holds_alternative<Conv2d>(specs[i])) return false;
  if (std::holds_alternative<Sigmoid>(specs[i + 1])) run.activation = FusedActivation::sigmoid;
  else if (std::holds_alternative<ReLU>(specs[i + 1])) run.activation = FusedActivation::relu;
  else return false;
  if (const auto* avg = std::get_if<AvgPool2d>(&specs[i + 2])) {
    run.pooling = FusedPooling::average;
    run.pool_kernel = avg->kernel;
    run.pool_stride = avg->stride;
  } else if (const auto* max = std::get_if<MaxPool2d>(&specs[i + 2])) {
    run.pooling = FusedPooling::max;
    run.pool_kernel = max->kernel;
    run.pool_stride = max->stride;
  } else {
    return false;
  }
  return run.pool_kernel == 2 && run.pool_stride == 2 && std::get<Conv2d>(specs[i]).stride == 1;
}

// One Conv2d -> activation -> pooling run of a model, with the buffers of the fused path.
// Sequential calls forward() only for an input that accepts() and runs the three layers
// otherwise; backward() follows whichever path the last forward took (used()).
// (Instantiated for every device as a type; its functions only where the device has the kernels.)
template <class T, class Device>
class FusedConvActPool {
 public:
  // conv_layer is the model's own (its parameters are used in place); input_gradient is
  // false for a model's first layer, as Sequential sets it.
  FusedConvActPool(const Conv2d& conv, const FusedRun& run, Layer<T, Device>& conv_layer, bool input_gradient)
      : conv_(conv), run_(run), input_gradient_(input_gradient) {
    const auto params = conv_layer.parameters();
    weight_ = params.at(0);
    bias_ = params.at(1);
  }

  // Whether the fused kernel takes this input. A shape the layers reject is not taken either,
  // so that the layer-by-layer path reports the error and names the layer.
  bool accepts(const Shape& input) const {
    if (input.rank() != 4 || input[1] != conv_.in_channels || input[2] + 2 * conv_.padding < conv_.kernel ||
        input[3] + 2 * conv_.padding < conv_.kernel)
      return false;
    const Conv2dGeometry g = conv_.geometry(input);
    return conv2d_act_pool_fusable(Device{}, g, pool_geometry(g));
  }

  // Whether the last forward() ran here (else the three layers ran and hold its caches).
  bool used() const { return used_; }
  void set_unused() { used_ = false; }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) {
    const Conv2dGeometry g = conv_.geometry(input.shape());
    used_ = true;
    input_ = input;
    activation_.resize(Shape{conv2d_act_pool_activation_size<T>(Device{}, g)});
    pooled_.resize(Shape{g.batch, g.out_channels, g.out_height() / 2, g.out_width() / 2});
    workspace_.resize(Shape{conv2d_act_pool_workspace_size(Device{}, g)});
    conv2d_act_pool_forward(Device{}, g, run_.activation, run_.pooling, input.data(), weight_.value->data(),
                            bias_.value->data(), activation_.data(), pooled_.data(), workspace_.data());
    return pooled_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_pooled) {
    const Conv2dGeometry g = conv_.geometry(input_.shape());
    T* grad_input = nullptr;
    if (input_gradient_) {
      grad_input_.resize(input_.shape());
      grad_input = grad_input_.data();
    }
    workspace_.resize(Shape{conv2d_act_pool_workspace_size(Device{}, g)});
    conv2d_act_pool_backward(Device{}, g, run_.activation, run_.pooling, input_.data(), weight_.value->data(),
                             activation_.data(), grad_pooled.data(), grad_input, weight_.grad->data(),
                             bias_.grad->data(), workspace_.data());
    return grad_input_;
  }

 private:
  Pool2dGeometry pool_geometry(const Conv2dGeometry& g) const {
    Pool2dGeometry p;
    p.batch = g.batch;
    p.channels = g.out_channels;
    p.in_height = g.out_height();
    p.in_width = g.out_width();
    p.kernel = run_.pool_kernel;
    p.stride = run_.pool_stride;
    return p;
  }

  Conv2d conv_;
  FusedRun run_;
  bool input_gradient_;
  Parameter<T, Device> weight_, bias_;
  bool used_ = false;
  Tensor<T, Device> input_, activation_, pooled_, grad_input_, workspace_;
};

}  // namespace hnn
