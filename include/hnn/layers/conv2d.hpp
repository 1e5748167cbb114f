// Conv2d: a 2-D convolution, weights (out, in, k, k), NCHW input, as PyTorch's nn.Conv2d.
//
//   Conv2d(1, 6, 5).padding(2)          in, out and kernel size; the rest by name
//   Conv2d(16, 32, 3).stride(2).padding(1)
//   Conv2d(6, 16, 5).bias(false)        no bias parameter (e.g. before a BatchNorm2d)
//
// Stride and padding are named, never positional, so they cannot be swapped by accident.
//
// Its fusion (Conv2dLayer::fuse):
// - followed by a Sigmoid or ReLU and a 2x2, stride-2 pooling, a stride-1 convolution runs with
//   them as one pass (Conv2dActPoolStage, the kernel of kernels/conv2d_act_pool.hpp) on devices
//   that have it (the CPU), when the shape suits it and the batch is at least the kernel's
//   crossover (conv2d_act_pool_min_batch; below it the layers run one by one);
// - in evaluation mode, followed by a BatchNorm2d also in evaluation mode, the batch norm is
//   folded into the weights and bias (BatchNormFold) and the two run as one convolution
//   (Conv2dBatchNormStage), with a ReLU after them applied to its output in place; or, where
//   an activation and pooling follow the batch norm as above, the fused pass runs on the
//   folded weights.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hnn/kernels/activation.hpp"
#include "hnn/kernels/conv2d.hpp"
#include "hnn/kernels/conv2d_act_pool.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/batch_norm.hpp"
#include "hnn/layers/layer.hpp"
#include "hnn/layers/pool2d.hpp"

namespace hnn {

template <class T, class Device>
class Conv2dLayer;

// The description of a convolution: device-free, cheap to copy, what a model is built from.
class Conv2d {
 public:
  static constexpr const char* kind = "Conv2d";
  template <class T, class Device>
  using layer = Conv2dLayer<T, Device>;

  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size)
      : in_(in_channels), out_(out_channels), kernel_(kernel_size) {
    detail::require_positive("Conv2d", "in_channels", in_);
    detail::require_positive("Conv2d", "out_channels", out_);
    detail::require_positive("Conv2d", "kernel", kernel_);
  }

  Conv2d& stride(std::int64_t s) {
    detail::require_positive("Conv2d", "stride", s);
    stride_ = s;
    return *this;
  }
  Conv2d& padding(std::int64_t p) {
    detail::require_non_negative("Conv2d", "padding", p);
    padding_ = p;
    return *this;
  }
  // Whether the layer has a "bias" parameter (true by default, as in PyTorch).
  Conv2d& bias(bool enabled) {
    bias_ = enabled;
    return *this;
  }

  std::int64_t in_channels() const { return in_; }
  std::int64_t out_channels() const { return out_; }
  std::int64_t kernel() const { return kernel_; }
  std::int64_t stride() const { return stride_; }
  std::int64_t padding() const { return padding_; }
  bool bias() const { return bias_; }

  std::string str() const {
    return "Conv2d(" + std::to_string(in_) + ", " + std::to_string(out_) + ", kernel=" + std::to_string(kernel_) +
           ", padding=" + std::to_string(padding_) + ", stride=" + std::to_string(stride_) +
           (bias_ ? ")" : ", bias=False)");
  }

  // Checkpoints record (in, out, kernel, padding, stride, bias); files of the previous release
  // hold the first five (a bias, always).
  std::vector<std::int64_t> sizes() const { return {in_, out_, kernel_, padding_, stride_, bias_ ? 1 : 0}; }
  static Conv2d from_sizes(const std::vector<std::int64_t>& s) {
    if (s.size() != 5) detail::require_sizes(kind, s, 6);
    if (s.size() == 6 && s[5] != 0 && s[5] != 1)
      detail::bad_input("Conv2d: the recorded bias flag must be 0 or 1, got " + std::to_string(s[5]));
    return Conv2d(s[0], s[1], s[2]).padding(s[3]).stride(s[4]).bias(s.size() == 5 || s[5] == 1);
  }

  // Whether geometry(input) accepts `input` (a check that never throws).
  bool accepts(const Shape& input) const {
    return input.rank() == 4 && input[1] == in_ && input[2] + 2 * padding_ >= kernel_ &&
           input[3] + 2 * padding_ >= kernel_;
  }

  Conv2dGeometry geometry(const Shape& input) const {
    // str() only on the error paths: geometry() runs every step, which must not allocate.
    if (input.rank() != 4) detail::require_images(str(), input);
    if (input[1] != in_)
      detail::bad_input(str() + " expects " + std::to_string(in_) + " input channels, got input " + input.str());
    if (input[2] + 2 * padding_ < kernel_ || input[3] + 2 * padding_ < kernel_)
      detail::bad_input(str() + ": input " + input.str() + " is smaller than the " + std::to_string(kernel_) + "x" +
                        std::to_string(kernel_) + " kernel");
    Conv2dGeometry g;
    g.batch = input[0];
    g.in_channels = in_;
    g.in_height = input[2];
    g.in_width = input[3];
    g.out_channels = out_;
    g.kernel = kernel_;
    g.stride = stride_;
    g.padding = padding_;
    return g;
  }

  Shape output_shape(const Shape& input) const {
    const Conv2dGeometry g = geometry(input);
    return Shape{g.batch, g.out_channels, g.out_height(), g.out_width()};
  }

 private:
  std::int64_t in_, out_, kernel_, stride_ = 1, padding_ = 0;
  bool bias_ = true;
};

// What follows a Conv2d in a fusable run.
struct ActPool {
  FusedActivation activation = FusedActivation::sigmoid;
  FusedPooling pooling = FusedPooling::average;
  std::int64_t pool_kernel = 2, pool_stride = 2, pool_padding = 0;
};

// Whether `conv` and the two layers after it (`next`) are a stride-1 Conv2d, a Sigmoid or ReLU,
// and a 2x2, stride-2, unpadded AvgPool2d or MaxPool2d; if so, fills `run`. The Conv2d may
// have no bias.
inline bool conv2d_act_pool_run(const Conv2d& conv, const FollowingLayers& next, ActPool& run) {
  if (conv.stride() != 1) return false;
  if (next.get_if<Sigmoid>(0)) run.activation = FusedActivation::sigmoid;
  else if (next.get_if<ReLU>(0)) run.activation = FusedActivation::relu;
  else return false;
  if (const auto* avg = next.get_if<AvgPool2d>(1)) {
    run.pooling = FusedPooling::average;
    run.pool_kernel = avg->kernel;
    run.pool_stride = avg->stride;
    run.pool_padding = avg->padding();
  } else if (const auto* max = next.get_if<MaxPool2d>(1)) {
    run.pooling = FusedPooling::max;
    run.pool_kernel = max->kernel;
    run.pool_stride = max->stride;
    run.pool_padding = max->padding();
  } else {
    return false;
  }
  return run.pool_kernel == 2 && run.pool_stride == 2 && run.pool_padding == 0;
}

// The fused stage. It runs on the convolution layer's own parameters and gradients; a Conv2d
// without bias passes empty bias tensors, null pointers for the kernels. Made in training mode,
// it keeps the activation for its backward pass; made in evaluation mode (the planner plans
// again when the mode changes), it keeps nothing, and may run on weights with a batch norm
// folded in (`fold`: Conv2d, BatchNorm2d, activation, pooling).
template <class T, class Device>
class Conv2dActPoolStage final : public Stage<T, Device> {
 public:
  struct Tensors {
    Tensor<T, Device>*weight, *bias, *grad_weight, *grad_bias;
  };
  using Fold = BatchNormFold<T, Device, BatchNorm2d>;
  Conv2dActPoolStage(const Conv2d& conv, const ActPool& run, Tensors tensors, bool training,
                     std::unique_ptr<Fold> fold = nullptr)
      : conv_(conv), run_(run), t_(tensors), training_(training), fold_(std::move(fold)) {
    if (fold_ != nullptr && training_)
      throw std::logic_error(conv.str() + ": a batch norm folds into the fused stage in evaluation mode only");
  }

  // Whether the fused kernel takes this input: the geometry fits it and the batch is at least
  // its crossover (conv2d_act_pool_fusable). A shape the layers reject is not taken either, so
  // that the layer-by-layer path reports the error and names the layer.
  static bool accepts(const Conv2d& conv, const ActPool& run, const Shape& input) {
    if (!has_conv2d_act_pool<Device>::value || !conv.accepts(input)) return false;
    const Conv2dGeometry g = conv.geometry(input);
    return conv2d_act_pool_fusable<T>(Device{}, g, pool_geometry(g, run));
  }
  // The same for any batch size: whether accepts() holds at some batch.
  static bool fits(const Conv2d& conv, const ActPool& run, const Shape& input) {
    if (!has_conv2d_act_pool<Device>::value || !conv.accepts(input)) return false;
    const Conv2dGeometry g = conv.geometry(input);
    return conv2d_act_pool_fits(Device{}, g, pool_geometry(g, run));
  }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    const Conv2dGeometry g = conv_.geometry(input.shape());
    const T* weight = t_.weight->data();
    const T* bias = t_.bias->data();
    if (fold_ != nullptr) {
      fold_->refresh();
      weight = fold_->weight().data();
      bias = fold_->bias().data();
    }
    T* activation = nullptr;  // evaluation: the kernel keeps nothing
    if (training_) {
      input_ = input;
      activation_.resize(Shape{conv2d_act_pool_activation_size<T>(Device{}, g)});
      activation = activation_.data();
    }
    pooled_.resize(Shape{g.batch, g.out_channels, g.out_height() / 2, g.out_width() / 2});
    workspace_.resize(Shape{conv2d_act_pool_workspace_size(Device{}, g)});
    conv2d_act_pool_forward(Device{}, g, run_.activation, run_.pooling, input.data(), weight, bias, activation,
                            pooled_.data(), workspace_.data());
    return pooled_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_pooled) override {
    if (!training_) detail::throw_backward_after_eval(conv_.str() + " fused with its activation and pooling");
    const Conv2dGeometry g = conv_.geometry(input_.shape());
    T* grad_input = nullptr;
    if (this->input_gradient_) {
      grad_input_.resize(input_.shape());
      grad_input = grad_input_.data();
    }
    workspace_.resize(Shape{conv2d_act_pool_workspace_size(Device{}, g)});
    conv2d_act_pool_backward(Device{}, g, run_.activation, run_.pooling, input_.data(), t_.weight->data(),
                             activation_.data(), grad_pooled.data(), grad_input, t_.grad_weight->data(),
                             t_.grad_bias->data(), workspace_.data());
    return grad_input != nullptr ? grad_input_ : this->no_input_gradient();
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
  Tensors t_;
  bool training_;
  std::unique_ptr<Fold> fold_;
  Tensor<T, Device> input_, activation_, pooled_, grad_input_, workspace_;
};

// A convolution and the BatchNorm2d after it, both in evaluation mode, as one convolution on
// folded weights (Conv2dLayer::fuse), and a ReLU after them applied to its output in place
// when `relu`. Evaluation only: it keeps nothing, and its backward() throws.
template <class T, class Device>
class Conv2dBatchNormStage final : public Stage<T, Device> {
 public:
  using Fold = BatchNormFold<T, Device, BatchNorm2d>;
  Conv2dBatchNormStage(const Conv2d& conv, std::unique_ptr<Fold> fold, bool relu)
      : conv_(conv), fold_(std::move(fold)), relu_(relu) {}

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    const Conv2dGeometry g = conv_.geometry(input.shape());
    fold_->refresh();
    const Conv2dAlgorithm algorithm = choose<T>(Device{}, g);
    output_.resize(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()});
    workspace_.resize(Shape{conv2d_workspace_size(Device{}, g, algorithm)});
    conv2d_forward(Device{}, g, input.data(), fold_->weight().data(), fold_->bias().data(), output_.data(),
                   workspace_.data(), algorithm);
    if (relu_) relu_forward(Device{}, output_.data(), output_.data(), output_.numel());
    return output_;
  }
  const Tensor<T, Device>& backward(const Tensor<T, Device>&) override {
    detail::throw_backward_after_eval(conv_.str() + " with " + fold_->batch_norm_spec().str() + " folded in" +
                                      (relu_ ? " and ReLU" : ""));
  }

 private:
  Conv2d conv_;
  std::unique_ptr<Fold> fold_;
  bool relu_;
  Tensor<T, Device> output_, workspace_;
};

template <class T, class Device>
class Conv2dLayer final : public Layer<T, Device> {
 public:
  explicit Conv2dLayer(const Conv2d& spec)
      : spec_(spec),
        weight_(Shape{spec.out_channels(), spec.in_channels(), spec.kernel(), spec.kernel()}),
        grad_weight_(weight_.shape()) {
    if (spec.bias()) {  // else bias_ and grad_bias_ stay empty: null pointers for the kernels
      bias_ = Tensor<T, Device>(Shape{spec.out_channels()});
      grad_bias_ = Tensor<T, Device>(bias_.shape());
    }
  }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    const Conv2dGeometry g = spec_.geometry(input.shape());
    algorithm_ = choose<T>(Device{}, g);
    if (this->start_forward()) input_ = input;  // evaluation keeps nothing for a backward
    output_.resize(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()});
    workspace_.resize(Shape{conv2d_workspace_size(Device{}, g, algorithm_)});
    conv2d_forward(Device{}, g, input.data(), weight_.data(), bias_.data(), output_.data(), workspace_.data(),
                   algorithm_);
    return output_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    this->require_training_forward(spec_);
    const Conv2dGeometry g = spec_.geometry(input_.shape());
    T* grad_input = nullptr;
    if (this->input_gradient_) {
      grad_input_.resize(input_.shape());
      grad_input = grad_input_.data();
    }
    const Conv2dBackwardAlgorithms algorithm = choose_backward<T>(Device{}, g);
    workspace_.resize(Shape{conv2d_workspace_size(Device{}, g, algorithm)});
    conv2d_backward(Device{}, g, input_.data(), weight_.data(), grad_output.data(), grad_input, grad_weight_.data(),
                    grad_bias_.data(), workspace_.data(), algorithm);
    return grad_input != nullptr ? grad_input_ : this->no_input_gradient();
  }

  // This convolution and the layers after it as one stage (the file's header): the activation
  // and pooling in the fused pass from the crossover batch on, a batch norm in evaluation mode
  // folded into the weights. Shapes the convolution rejects are left to the layers.
  Fusion<T, Device> fuse(const FollowingLayers& next, const Shape& input) override {
    Fusion<T, Device> fusion;
    if (!spec_.accepts(input)) return fusion;
    using Fold = BatchNormFold<T, Device, BatchNorm2d>;
    BatchNormLayer<T, Device, BatchNorm2d>* batch_norm =
        this->training_ ? nullptr : next.template layer_if<BatchNorm2d, T, Device>(0);
    if (batch_norm != nullptr && (batch_norm->training() || batch_norm->spec().num_features != spec_.out_channels()))
      batch_norm = nullptr;
    const auto fold = [&] { return std::make_unique<Fold>(weight_, bias_, *batch_norm); };
    const std::size_t folded = batch_norm != nullptr ? 1 : 0;
    const FollowingLayers rest = next.from(folded);
    if constexpr (has_conv2d_act_pool<Device>::value) {
      ActPool run;
      if (conv2d_act_pool_run(spec_, rest, run) && Conv2dActPoolStage<T, Device>::fits(spec_, run, input)) {
        const std::int64_t crossover = conv2d_act_pool_min_batch<T>(Device{});
        if (Conv2dActPoolStage<T, Device>::accepts(spec_, run, input)) {
          typename Conv2dActPoolStage<T, Device>::Tensors tensors{&weight_, &bias_, &grad_weight_, &grad_bias_};
          fusion.stage = std::make_unique<Conv2dActPoolStage<T, Device>>(spec_, run, tensors, this->training_,
                                                                          folded ? fold() : nullptr);
          fusion.absorbed = folded + 2;
          fusion.batches.min = crossover;
          return fusion;
        }
        fusion.batches.max = crossover - 1;  // below the crossover: the layers (or the fold alone)
      }
    }
    if (batch_norm != nullptr) {
      const bool relu = rest.template get_if<ReLU>(0) != nullptr;
      fusion.stage = std::make_unique<Conv2dBatchNormStage<T, Device>>(spec_, fold(), relu);
      fusion.absorbed = relu ? 2 : 1;
    }
    return fusion;
  }

  std::vector<Parameter<T, Device>> parameters() override {
    detail::parameters_may_change();
    if (!spec_.bias()) return {{"weight", &weight_, &grad_weight_}};
    return {{"weight", &weight_, &grad_weight_}, {"bias", &bias_, &grad_bias_}};
  }

 private:
  Conv2d spec_;
  Conv2dAlgorithm algorithm_ = Conv2dAlgorithm::im2col;
  Tensor<T, Device> weight_, bias_, grad_weight_, grad_bias_;
  Tensor<T, Device> input_, output_, grad_input_, workspace_;
};

}  // namespace hnn
