// Linear: y = x W^T + b on (N, in_features) inputs; W is (out, in) as in PyTorch.
//
//   Linear(120, 84)               with a bias
//   Linear(120, 84).bias(false)   without one (no "bias" parameter)
//
// Its fusion (LinearLayer::fuse): in evaluation mode, followed by a BatchNorm1d also in
// evaluation mode, the batch norm is folded into the weights and bias (BatchNormFold) and the
// two run as one product (LinearBatchNormStage), with a ReLU after them applied in place.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hnn/kernels/activation.hpp"
#include "hnn/kernels/linear.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/batch_norm.hpp"
#include "hnn/layers/layer.hpp"

namespace hnn {

template <class T, class Device>
class LinearLayer;

struct Linear {
  static constexpr const char* kind = "Linear";
  template <class T, class Device>
  using layer = LinearLayer<T, Device>;

  std::int64_t in_features, out_features;

  Linear(std::int64_t in_features_, std::int64_t out_features_) : in_features(in_features_), out_features(out_features_) {
    detail::require_positive("Linear", "in_features", in_features);
    detail::require_positive("Linear", "out_features", out_features);
  }

  // Whether the layer has a "bias" parameter (true by default, as in PyTorch).
  Linear& bias(bool enabled) {
    bias_ = enabled;
    return *this;
  }
  bool bias() const { return bias_; }

  std::string str() const {
    return "Linear(" + std::to_string(in_features) + ", " + std::to_string(out_features) +
           (bias_ ? ")" : ", bias=False)");
  }

  // (in, out, bias); files of the previous release hold the first two (a bias, always).
  std::vector<std::int64_t> sizes() const { return {in_features, out_features, bias_ ? 1 : 0}; }
  static Linear from_sizes(const std::vector<std::int64_t>& s) {
    if (s.size() != 2) detail::require_sizes(kind, s, 3);
    if (s.size() == 3 && s[2] != 0 && s[2] != 1)
      detail::bad_input("Linear: the recorded bias flag must be 0 or 1, got " + std::to_string(s[2]));
    return Linear(s[0], s[1]).bias(s.size() == 2 || s[2] == 1);
  }

  Shape output_shape(const Shape& input) const {
    if (input.rank() != 2)
      detail::bad_input(str() + " expects input of shape (N, " + std::to_string(in_features) + "), got " +
                        input.str() + " (add a Flatten before it?)");
    if (input[1] != in_features)
      detail::bad_input(str() + " expects " + std::to_string(in_features) + " input features, got " +
                        std::to_string(input[1]) + " (input " + input.str() + ")");
    return Shape{input[0], out_features};
  }

 private:
  bool bias_ = true;
};

// A Linear and the BatchNorm1d after it, both in evaluation mode, as one product on folded
// weights (LinearLayer::fuse), and a ReLU after them applied to its output in place when
// `relu`. Evaluation only: it keeps nothing, and its backward() throws.
template <class T, class Device>
class LinearBatchNormStage final : public Stage<T, Device> {
 public:
  using Fold = BatchNormFold<T, Device, BatchNorm1d>;
  LinearBatchNormStage(const Linear& linear, std::unique_ptr<Fold> fold, bool relu)
      : linear_(linear), fold_(std::move(fold)), relu_(relu) {}

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    output_.resize(linear_.output_shape(input.shape()));
    fold_->refresh();
    linear_forward(Device{}, input.dim(0), linear_.in_features, linear_.out_features, input.data(),
                   fold_->weight().data(), fold_->bias().data(), output_.data());
    if (relu_) relu_forward(Device{}, output_.data(), output_.data(), output_.numel());
    return output_;
  }
  const Tensor<T, Device>& backward(const Tensor<T, Device>&) override {
    detail::throw_backward_after_eval(linear_.str() + " with " + fold_->batch_norm_spec().str() + " folded in" +
                                      (relu_ ? " and ReLU" : ""));
  }

 private:
  Linear linear_;
  std::unique_ptr<Fold> fold_;
  bool relu_;
  Tensor<T, Device> output_;
};

template <class T, class Device>
class LinearLayer final : public Layer<T, Device> {
 public:
  explicit LinearLayer(const Linear& spec)
      : spec_(spec),
        weight_(Shape{spec.out_features, spec.in_features}),
        grad_weight_(weight_.shape()) {
    if (spec.bias()) {  // else bias_ and grad_bias_ stay empty: null pointers for the kernels
      bias_ = Tensor<T, Device>(Shape{spec.out_features});
      grad_bias_ = Tensor<T, Device>(bias_.shape());
    }
  }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    output_.resize(spec_.output_shape(input.shape()));
    if (this->start_forward()) input_ = input;  // evaluation keeps nothing for a backward
    linear_forward(Device{}, input.dim(0), spec_.in_features, spec_.out_features, input.data(), weight_.data(),
                   bias_.data(), output_.data());
    return output_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    this->require_training_forward(spec_);
    T* grad_input = nullptr;
    if (this->input_gradient_) {
      grad_input_.resize(input_.shape());
      grad_input = grad_input_.data();
    }
    linear_backward(Device{}, input_.dim(0), spec_.in_features, spec_.out_features, input_.data(), weight_.data(),
                    grad_output.data(), grad_input, grad_weight_.data(), grad_bias_.data());
    return grad_input != nullptr ? grad_input_ : this->no_input_gradient();
  }

  // In evaluation mode, with a BatchNorm1d in evaluation mode after it (and a ReLU after that):
  // one stage on folded weights (LinearBatchNormStage). Shapes the layer rejects are left to it.
  Fusion<T, Device> fuse(const FollowingLayers& next, const Shape& input) override {
    if (this->training_ || input.rank() != 2 || input[1] != spec_.in_features) return {};
    BatchNormLayer<T, Device, BatchNorm1d>* batch_norm = next.template layer_if<BatchNorm1d, T, Device>(0);
    if (batch_norm == nullptr || batch_norm->training() || batch_norm->spec().num_features != spec_.out_features)
      return {};
    const bool relu = next.template get_if<ReLU>(1) != nullptr;
    Fusion<T, Device> fusion;
    fusion.stage = std::make_unique<LinearBatchNormStage<T, Device>>(
        spec_, std::make_unique<BatchNormFold<T, Device, BatchNorm1d>>(weight_, bias_, *batch_norm), relu);
    fusion.absorbed = relu ? 2 : 1;
    return fusion;
  }

  std::vector<Parameter<T, Device>> parameters() override {
    detail::parameters_may_change();
    if (!spec_.bias()) return {{"weight", &weight_, &grad_weight_}};
    return {{"weight", &weight_, &grad_weight_}, {"bias", &bias_, &grad_bias_}};
  }

 private:
  Linear spec_;
  Tensor<T, Device> weight_, bias_, grad_weight_, grad_bias_;
  Tensor<T, Device> input_, output_, grad_input_;
};

}  // namespace hnn
