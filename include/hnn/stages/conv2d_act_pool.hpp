// A fused stage: Conv2d -> Sigmoid|ReLU -> AvgPool2d(2)|MaxPool2d(2) run as one kernel
// (kernels/conv2d_act_pool.hpp) on devices that have one (the CPU).
//
// The three layers stay what the model is made of (trace, summary, parameters, checkpoints
// and Sequential::layer(i) see them as before); the planner (hnn/plan.hpp) puts this stage in
// their place when the shape reaching them fits the kernel. The results are those of the three
// layers run one after the other, up to the order of the convolution's sums.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hnn/kernels/conv2d_act_pool.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/conv2d.hpp"
#include "hnn/layers/layer.hpp"
#include "hnn/layers/pool2d.hpp"

namespace hnn {

// What follows a Conv2d in a fusable run.
struct ActPool {
  FusedActivation activation = FusedActivation::sigmoid;
  FusedPooling pooling = FusedPooling::average;
  std::int64_t pool_kernel = 2, pool_stride = 2, pool_padding = 0;
};

// Whether specs[i], specs[i + 1], specs[i + 2] are a stride-1 Conv2d, a Sigmoid or ReLU, and a
// 2x2, stride-2, unpadded AvgPool2d or MaxPool2d; if so, fills `run`. The Conv2d may have no bias.
inline bool conv2d_act_pool_run(const std::vector<LayerSpec>& specs, std::size_t i, ActPool& run) {
  if (i + 2 >= specs.size()) return false;
  const Conv2d* conv = specs[i].get_if<Conv2d>();
  if (conv == nullptr || conv->stride() != 1) return false;
  if (specs[i + 1].get_if<Sigmoid>()) run.activation = FusedActivation::sigmoid;
  else if (specs[i + 1].get_if<ReLU>()) run.activation = FusedActivation::relu;
  else return false;
  if (const auto* avg = specs[i + 2].get_if<AvgPool2d>()) {
    run.pooling = FusedPooling::average;
    run.pool_kernel = avg->kernel;
    run.pool_stride = avg->stride;
    run.pool_padding = avg->padding();
  } else if (const auto* max = specs[i + 2].get_if<MaxPool2d>()) {
    run.pooling = FusedPooling::max;
    run.pool_kernel = max->kernel;
    run.pool_stride = max->stride;
    run.pool_padding = max->padding();
  } else {
    return false;
  }
  return run.pool_kernel == 2 && run.pool_stride == 2 && run.pool_padding == 0;
}

template <class T, class Device>
class Conv2dActPoolStage final : public Stage<T, Device> {
 public:
  // conv_layer is the model's own: its parameters, found by name, are used in place. A
  // Conv2d without bias has no "bias" parameter: the kernels then get null bias pointers.
  Conv2dActPoolStage(const Conv2d& conv, const ActPool& run, Layer<T, Device>& conv_layer) : conv_(conv), run_(run) {
    for (const Parameter<T, Device>& p : conv_layer.parameters()) {
      if (p.name == "weight") weight_ = p;
      if (p.name == "bias") bias_ = p;
    }
    if (weight_.value == nullptr || (conv.bias() && bias_.value == nullptr))
      throw std::logic_error("hnn: the fused " + conv.str() + " stage needs the layer's weight and bias");
  }

  // Whether the fused kernel takes this input. A shape the layers reject is not taken either,
  // so that the layer-by-layer path reports the error and names the layer.
  static bool accepts(const Conv2d& conv, const ActPool& run, const Shape& input) {
    if (!has_conv2d_act_pool<Device>::value) return false;
    if (input.rank() != 4 || input[1] != conv.in_channels() || input[2] + 2 * conv.padding() < conv.kernel() ||
        input[3] + 2 * conv.padding() < conv.kernel())
      return false;
    const Conv2dGeometry g = conv.geometry(input);
    return conv2d_act_pool_fusable(Device{}, g, pool_geometry(g, run));
  }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    const Conv2dGeometry g = conv_.geometry(input.shape());
    input_ = input;
    activation_.resize(Shape{conv2d_act_pool_activation_size<T>(Device{}, g)});
    pooled_.resize(Shape{g.batch, g.out_channels, g.out_height() / 2, g.out_width() / 2});
    workspace_.resize(Shape{conv2d_act_pool_workspace_size(Device{}, g)});
    conv2d_act_pool_forward(Device{}, g, run_.activation, run_.pooling, input.data(), weight_.value->data(),
                            bias_.value != nullptr ? bias_.value->data() : nullptr, activation_.data(),
                            pooled_.data(), workspace_.data());
    return pooled_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_pooled) override {
    const Conv2dGeometry g = conv_.geometry(input_.shape());
    T* grad_input = nullptr;
    if (this->input_gradient_) {
      grad_input_.resize(input_.shape());
      grad_input = grad_input_.data();
    }
    workspace_.resize(Shape{conv2d_act_pool_workspace_size(Device{}, g)});
    conv2d_act_pool_backward(Device{}, g, run_.activation, run_.pooling, input_.data(), weight_.value->data(),
                             activation_.data(), grad_pooled.data(), grad_input, weight_.grad->data(),
                             bias_.grad != nullptr ? bias_.grad->data() : nullptr, workspace_.data());
    return grad_input_;
  }

 private:
  static Pool2dGeometry pool_geometry(const Conv2dGeometry& g, const ActPool& run) {
    Pool2dGeometry p;
    p.batch = g.batch;
    p.channels = g.out_channels;
    p.in_height = g.out_height();
    p.in_width = g.out_width();
    p.kernel = run.pool_kernel;
    p.stride = run.pool_stride;
    p.padding = run.pool_padding;
    return p;
  }

  Conv2d conv_;
  ActPool run_;
  Parameter<T, Device> weight_{}, bias_{};
  Tensor<T, Device> input_, activation_, pooled_, grad_input_, workspace_;
};

// The fusion rule the planner applies at layer i: the fused stage for specs[i..i+2] when they
// form a run the device's kernel takes for `input` (the shape reaching layer i), else null.
template <class T, class Device>
std::unique_ptr<Stage<T, Device>> fuse_conv2d_act_pool(const std::vector<LayerSpec>& specs, std::size_t i,
                                                       Layer<T, Device>& conv_layer, const Shape& input) {
  if constexpr (!has_conv2d_act_pool<Device>::value) {
    return nullptr;
  } else {
    ActPool run;
    if (!conv2d_act_pool_run(specs, i, run)) return nullptr;
    const Conv2d& conv = *specs[i].get_if<Conv2d>();
    if (!Conv2dActPoolStage<T, Device>::accepts(conv, run, input)) return nullptr;
    return std::make_unique<Conv2dActPoolStage<T, Device>>(conv, run, conv_layer);
  }
}

}  // namespace hnn
