// A fused stage: BatchNorm2d|BatchNorm1d -> ReLU run as one pass each way
// (kernels/batch_norm.hpp's batch_norm_relu_*) on devices that have it (the CPU).
//
// A ResNet follows most convolutions with batch norm and ReLU. Run as two layers, each
// activation (12.8 MB at 256 x 16 x 28 x 28) is written by the batch norm, read and written
// again by the ReLU, and both are read again on the way back. Fused, the ReLU is applied as the
// batch norm writes, and its mask is read from the stage's output inside the batch norm's
// backward. The two layers stay what the model is made of (summary, parameters, checkpoints,
// train()/eval()); the planner (hnn/plan.hpp) puts this stage in their place, and the stage
// runs the batch-norm layer's own forward_then_relu()/backward_then_relu() (its parameters,
// statistics and mode). The output and the running statistics are the two layers' bit for
// bit; the gradients equal theirs up to the order of the per-channel sums.
#pragma once

#include <memory>
#include <stdexcept>
#include <vector>

#include "hnn/kernels/batch_norm.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/batch_norm.hpp"
#include "hnn/layers/layer.hpp"

namespace hnn {

template <class T, class Device, class Spec>
class BatchNormReluStage final : public Stage<T, Device> {
 public:
  explicit BatchNormReluStage(BatchNormLayer<T, Device, Spec>& layer) : layer_(layer) {}

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

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override { return layer_.forward_then_relu(input); }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    return layer_.backward_then_relu(grad_output, this->input_gradient_);
  }

 private:
  BatchNormLayer<T, Device, Spec>& layer_;
};

namespace detail {
template <class T, class Device, class Spec>
std::unique_ptr<Stage<T, Device>> batch_norm_relu_stage(const Spec& spec, Layer<T, Device>& bn_layer,
                                                        const Shape& input) {
  auto* layer = dynamic_cast<BatchNormLayer<T, Device, Spec>*>(&bn_layer);
  if (layer == nullptr || !BatchNormReluStage<T, Device, Spec>::accepts(spec, input)) return nullptr;
  return std::make_unique<BatchNormReluStage<T, Device, Spec>>(*layer);
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
