// Residual: a skip connection, output = body(x) + shortcut(x), as in He et al.'s ResNet.
//
//   hnn::Residual({Conv2d(16, 16, 3).padding(1), BatchNorm2d(16), ReLU(),
//                  Conv2d(16, 16, 3).padding(1), BatchNorm2d(16)})          // identity shortcut
//   hnn::Residual({Conv2d(16, 32, 3).padding(1).stride(2), ...},
//                 {Conv2d(16, 32, 1).stride(2), BatchNorm2d(32)})            // projection shortcut
//
// Both branches are lists of layer descriptions, any kinds (a Residual inside a Residual
// too); each runs as its own Sequential, fusion included. A Residual nests in a Sequential
// like any layer: its children are the two branches, `body` and `shortcut`, so its tensors are
// named as PyTorch names such a module ("3.body.0.weight", "3.shortcut.1.running_mean"), and
// checkpoints record its sub-layers (format version 2).
//
// Its fusion (ResidualLayer::fuse): followed by a ReLU, the block writes max(body(x) +
// shortcut(x), 0) in one pass over the sum, where the device has the kernel (the CPU).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hnn/kernels/activation.hpp"
#include "hnn/kernels/add.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/layer.hpp"
#include "hnn/model/sequential.hpp"

namespace hnn {

template <class T, class Device>
class ResidualLayer;
template <class T, class Device>
class ResidualReluStage;

class Residual {
 public:
  static constexpr const char* kind = "Residual";
  template <class T, class Device>
  using layer = ResidualLayer<T, Device>;

  // An empty shortcut is the identity.
  explicit Residual(std::vector<LayerSpec> body, std::vector<LayerSpec> shortcut = {})
      : body_(std::move(body)), shortcut_(std::move(shortcut)) {
    if (body_.empty()) detail::bad_input("Residual: the body needs at least one layer");
  }

  const std::vector<LayerSpec>& body() const { return body_; }
  const std::vector<LayerSpec>& shortcut() const { return shortcut_; }

  // "Residual(body=[Conv2d(...), ReLU()], shortcut=identity)"
  std::string str() const {
    return "Residual(body=" + list(body_) + ", shortcut=" + (shortcut_.empty() ? "identity" : list(shortcut_)) + ")";
  }

  Shape output_shape(const Shape& input) const {
    const Shape body = chain_shape("body", body_, input);
    const Shape shortcut = chain_shape("shortcut", shortcut_, input);
    if (body != shortcut)
      detail::bad_input(std::string("Residual: the body's output ") + body.str() + " and the shortcut's " +
                        shortcut.str() + " differ, so they cannot be added" +
                        (shortcut_.empty() ? " (give a shortcut that matches, e.g. a strided 1x1 Conv2d)" : ""));
    return body;
  }

  // Checkpoints record the branch lengths here and the branches as sub-layers.
  std::vector<std::int64_t> sizes() const {
    return {static_cast<std::int64_t>(body_.size()), static_cast<std::int64_t>(shortcut_.size())};
  }
  std::vector<LayerSpec> children() const {
    std::vector<LayerSpec> all = body_;
    all.insert(all.end(), shortcut_.begin(), shortcut_.end());
    return all;
  }
  std::string child_name(std::size_t k) const {
    return k < body_.size() ? "body." + std::to_string(k) : "shortcut." + std::to_string(k - body_.size());
  }
  static Residual from_parts(const std::vector<std::int64_t>& sizes, std::vector<LayerSpec> children) {
    detail::require_sizes(kind, sizes, 2);
    if (sizes[0] < 1 || sizes[1] < 0 || static_cast<std::size_t>(sizes[0] + sizes[1]) != children.size())
      detail::bad_input("Residual records a body of " + std::to_string(sizes[0]) + " layers and a shortcut of " +
                        std::to_string(sizes[1]) + ", but " + std::to_string(children.size()) + " sub-layers");
    const auto split = children.begin() + sizes[0];
    return Residual(std::vector<LayerSpec>(children.begin(), split), std::vector<LayerSpec>(split, children.end()));
  }

 private:
  static std::string list(const std::vector<LayerSpec>& specs) {
    std::string s = "[";
    for (const LayerSpec& spec : specs) s += (s.size() > 1 ? ", " : "") + spec.str();
    return s + "]";
  }
  static Shape chain_shape(const char* branch, const std::vector<LayerSpec>& specs, Shape s) {
    for (std::size_t i = 0; i < specs.size(); ++i) {
      try {
        s = specs[i].output_shape(s);
      } catch (const std::invalid_argument& e) {
        detail::bad_input(std::string("Residual ") + branch + ", layer " + std::to_string(i) + " of " +
                          std::to_string(specs.size()) + ": " + e.what());
      }
    }
    return s;
  }

  std::vector<LayerSpec> body_, shortcut_;
};

template <class T, class Device>
class ResidualLayer final : public Layer<T, Device> {
 public:
  explicit ResidualLayer(const Residual& d)
      : body_(d.body()),
        shortcut_(d.shortcut().empty() ? nullptr : std::make_unique<Sequential<T, Device>>(d.shortcut())) {
    children_.push_back({"body", &body_});
    if (shortcut_) children_.push_back({"shortcut", shortcut_.get()});
    set_input_gradient(this->input_gradient());
  }

  Sequential<T, Device>& body() { return body_; }
  Sequential<T, Device>* shortcut() { return shortcut_.get(); }  // null for the identity

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override { return run_forward(input, false); }

  // The block followed by a ReLU, one pass over the sum, on devices with the kernel
  // (has_add_relu): max(body(x) + shortcut(x), 0). A ResNet block ends so; run as two layers,
  // the sum is written, then read and written again by the ReLU. The backward masks dy with
  // that output (positive where the ReLU's input is, so the gradients are the two layers' bit
  // for bit), then runs the block's. fuse() hands the planner a stage that runs these two.
  const Tensor<T, Device>& forward_then_relu(const Tensor<T, Device>& input) { return run_forward(input, true); }
  const Tensor<T, Device>& backward_then_relu(const Tensor<T, Device>& grad_output) {
    if (!this->forward_training_) detail::throw_backward_after_eval("Residual (with the ReLU after it)");
    if (!forward_relu_) throw std::logic_error("Residual: backward_then_relu() after a forward() without the ReLU");
    masked_grad_.resize(grad_output.shape());
    relu_backward(Device{}, output_.data(), grad_output.data(), masked_grad_.data(), output_.numel());
    // Where the block keeps the shape, the sum overwrites the masked dY (the branches are done
    // with it), whose memory was just written and is still in cache, rather than grad_input_,
    // untouched since the last step (tests/bench/NOTES.md, sixth session).
    return backward_into(masked_grad_, input_shape_ == masked_grad_.shape() ? masked_grad_ : grad_input_);
  }
  Fusion<T, Device> fuse(const FollowingLayers& next, const Shape& input) override;

  // d(body(x) + shortcut(x))/dx = the sum of the branches' input gradients (the identity's is
  // grad_output itself).
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    if (!this->forward_training_) detail::throw_backward_after_eval("Residual");
    return backward_into(grad_output, grad_input_);
  }

  void set_input_gradient(bool needed) override {
    Stage<T, Device>::set_input_gradient(needed);
    body_.set_input_gradient(needed);
    if (shortcut_) shortcut_->set_input_gradient(needed);
  }

  // The two branches: parameters, buffers, state_dict, initialisation, training mode and fusion
  // reach them through this (Layer's defaults).
  const std::vector<typename Layer<T, Device>::Child>& children() override { return children_; }

 private:
  // Runs both branches' backward and writes the sum of their input gradients to `sum`, which
  // may be grad_output itself.
  const Tensor<T, Device>& backward_into(const Tensor<T, Device>& grad_output, Tensor<T, Device>& sum) {
    const Tensor<T, Device>& body = body_.backward(grad_output);
    const Tensor<T, Device>& shortcut = shortcut_ ? shortcut_->backward(grad_output) : grad_output;
    if (!this->input_gradient()) return this->no_input_gradient();  // nothing upstream needs it
    sum.resize(body.shape());
    add(Device{}, sum.numel(), body.data(), shortcut.data(), sum.data());
    return sum;
  }

  const Tensor<T, Device>& run_forward(const Tensor<T, Device>& input, bool relu) {
    const Tensor<T, Device>& body = body_.forward(input);
    const Tensor<T, Device>& shortcut = shortcut_ ? shortcut_->forward(input) : input;
    if (body.shape() != shortcut.shape())  // output_shape() refuses this before any forward
      detail::bad_input("Residual: the body's output " + body.shape().str() + " and the shortcut's " +
                        shortcut.shape().str() + " differ");
    if (this->start_forward()) input_shape_ = input.shape();  // (the branches keep what they need)
    output_.resize(body.shape());
    if constexpr (has_add_relu<Device>::value) {
      if (relu) {
        add_relu(Device{}, output_.numel(), body.data(), shortcut.data(), output_.data());
        forward_relu_ = true;
        return output_;
      }
    }
    if (relu) throw std::logic_error("Residual: no fused sum + ReLU kernel on " + std::string(Device::name));
    add(Device{}, output_.numel(), body.data(), shortcut.data(), output_.data());
    forward_relu_ = false;
    return output_;
  }

  Sequential<T, Device> body_;
  std::unique_ptr<Sequential<T, Device>> shortcut_;
  std::vector<typename Layer<T, Device>::Child> children_;  // body, then shortcut unless it is the identity
  Tensor<T, Device> output_, grad_input_, masked_grad_;
  Shape input_shape_;          // of the last forward
  bool forward_relu_ = false;  // the last forward was forward_then_relu()
};

// The fused Residual + ReLU stage (ResidualLayer::fuse): the layer's forward_then_relu()
// and backward_then_relu(), its input gradient set by the plan like any stage's.
template <class T, class Device>
class ResidualReluStage final : public Stage<T, Device> {
 public:
  explicit ResidualReluStage(ResidualLayer<T, Device>& layer) : layer_(layer) {}

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override { return layer_.forward_then_relu(input); }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    return layer_.backward_then_relu(grad_output);
  }
  void set_input_gradient(bool needed) override {
    Stage<T, Device>::set_input_gradient(needed);
    layer_.set_input_gradient(needed);
  }

 private:
  ResidualLayer<T, Device>& layer_;
};

template <class T, class Device>
Fusion<T, Device> ResidualLayer<T, Device>::fuse(const FollowingLayers& next, const Shape&) {
  if constexpr (has_add_relu<Device>::value) {
    if (next.get_if<ReLU>(0) != nullptr) return {std::make_unique<ResidualReluStage<T, Device>>(*this), 1};
  }
  (void)next;
  return {};
}

}  // namespace hnn
