// A fused stage: BatchNorm2d|BatchNorm1d -> ReLU run as one pass each way
// (kernels/batch_norm.hpp's batch_norm_relu_*) on devices that have it (the CPU).
//
// A ResNet follows most convolutions with batch norm and ReLU. Run as two layers, each
// activation (12.8 MB at 256 x 16 x 28 x 28) is written by the batch norm, read and written
// again by the ReLU, and both are read again on the way back. Fused, the ReLU is applied as the
// batch norm writes, and its mask is read from the stage's output inside the batch norm's
// backward. The two layers stay what the model is made of (summary, parameters, checkpoints,
// train()/eval()); the planner (hnn/plan.hpp) puts this stage in their place. The output and
// the running statistics are the two layers' bit for bit; the gradients equal theirs up to
// the order of the per-channel sums.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/kernels/batch_norm.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/batch_norm.hpp"
#include "hnn/layers/layer.hpp"

namespace hnn {

template <class T, class Device, class Spec>
class BatchNormReluStage final : public Stage<T, Device> {
 public:
  // bn_layer is the model's own: its parameters and running statistics are used in place, and
  // its train()/eval() mode chooses batch or running statistics.
  BatchNormReluStage(const Spec& spec, Layer<T, Device>& bn_layer)
      : spec_(spec), layer_(bn_layer), save_mean_(Shape{spec.num_features}), save_inv_std_(Shape{spec.num_features}) {
    for (const Parameter<T, Device>& p : bn_layer.parameters()) {
      if (p.name == "weight") weight_ = p;
      if (p.name == "bias") bias_ = p;
    }
    for (const Buffer<T, Device>& b : bn_layer.buffers()) {
      if (b.name == "running_mean") running_mean_ = b.value;
      if (b.name == "running_var") running_var_ = b.value;
    }
    if (running_mean_ == nullptr || running_var_ == nullptr || (spec.affine() && weight_.value == nullptr))
      throw std::logic_error("hnn: the fused " + spec.str() + " + ReLU stage needs the layer's parameters and buffers");
  }

  // Whether the shape fits the batch norm; one it rejects is left to the layers, so that the
  // layer-by-layer path reports the error and names the layer.
  static bool accepts(const Spec& spec, const Shape& input) {
    try {
      spec.output_shape(input);
      return true;
    } catch (const std::invalid_argument&) {
      return false;
    }
  }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    const Shape& shape = input.shape();
    spec_.output_shape(shape);
    const std::int64_t batch = shape[0], channels = spec_.num_features, spatial = Spec::spatial(shape);
    input_ = input;
    output_.resize(shape);
    forward_training_ = layer_.training();
    if (forward_training_) {
      spec_.require_training_values(shape);
      batch_norm_relu_forward_training(Device{}, batch, channels, spatial, input.data(), data(weight_.value),
                                       data(bias_.value), running_mean_->data(), running_var_->data(),
                                       static_cast<T>(spec_.momentum()), static_cast<T>(spec_.eps()), output_.data(),
                                       save_mean_.data(), save_inv_std_.data());
    } else {
      batch_norm_relu_forward_eval(Device{}, batch, channels, spatial, input.data(), data(weight_.value),
                                   data(bias_.value), running_mean_->data(), running_var_->data(),
                                   static_cast<T>(spec_.eps()), output_.data());
    }
    return output_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    if (!forward_training_) spec_.throw_backward_after_eval();
    const Shape& shape = input_.shape();
    T* grad_input = nullptr;
    if (this->input_gradient_) {
      grad_input_.resize(shape);
      grad_input = grad_input_.data();
    }
    batch_norm_relu_backward(Device{}, shape[0], spec_.num_features, Spec::spatial(shape), input_.data(),
                             data(weight_.value), save_mean_.data(), save_inv_std_.data(), output_.data(),
                             grad_output.data(), grad_input, data(weight_.grad), data(bias_.grad));
    return grad_input_;
  }

 private:
  static T* data(Tensor<T, Device>* t) { return t != nullptr ? t->data() : nullptr; }

  Spec spec_;
  Layer<T, Device>& layer_;
  Parameter<T, Device> weight_{}, bias_{};
  Tensor<T, Device>*running_mean_ = nullptr, *running_var_ = nullptr;
  Tensor<T, Device> save_mean_, save_inv_std_, input_, output_, grad_input_;
  bool forward_training_ = true;
};

namespace detail {
template <class T, class Device, class Spec>
std::unique_ptr<Stage<T, Device>> batch_norm_relu_stage(const Spec& spec, Layer<T, Device>& bn_layer,
                                                        const Shape& input) {
  if (!BatchNormReluStage<T, Device, Spec>::accepts(spec, input)) return nullptr;
  return std::make_unique<BatchNormReluStage<T, Device, Spec>>(spec, bn_layer);
}
}  // namespace detail

// The fusion rule the planner applies at layer i: the fused stage for specs[i..i+1] when they
// are a BatchNorm2d or BatchNorm1d and a ReLU that the device's kernel takes for `input` (the
// shape reaching layer i), else null.
template <class T, class Device>
std::unique_ptr<Stage<T, Device>> fuse_batch_norm_relu(const std::vector<LayerSpec>& specs, std::size_t i,
                                                       Layer<T, Device>& bn_layer, const Shape& input) {
  if constexpr (!has_batch_norm_relu<Device>::value) {
    return nullptr;
  } else {
    if (i + 1 >= specs.size() || specs[i + 1].get_if<ReLU>() == nullptr) return nullptr;
    if (const auto* bn2 = specs[i].get_if<BatchNorm2d>()) return detail::batch_norm_relu_stage<T, Device>(*bn2, bn_layer, input);
    if (const auto* bn1 = specs[i].get_if<BatchNorm1d>()) return detail::batch_norm_relu_stage<T, Device>(*bn1, bn_layer, input);
    return nullptr;
  }
}

}  // namespace hnn
