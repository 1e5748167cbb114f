// BatchNorm2d and BatchNorm1d: batch normalisation per channel, as PyTorch's nn.BatchNorm2d
// (input (N, C, H, W)) and nn.BatchNorm1d (input (N, C) or (N, C, L)).
//
//   BatchNorm2d(6)                                      eps 1e-5, momentum 0.1, affine
//   BatchNorm1d(120).eps(1e-3).momentum(0.2).affine(false)
//
// Training mode (the default): normalised by the batch's mean and biased variance; the
// buffers running_mean and running_var become (1 - momentum) * running + momentum * batch
// statistic, with the unbiased variance for running_var, as in PyTorch. Evaluation mode
// (Sequential::eval()): normalised by the running statistics, which stay unchanged.
// Parameters "weight" (ones) and "bias" (zeros) when affine; buffers "running_mean" (zeros)
// and "running_var" (ones): PyTorch's state_dict names, without num_batches_tracked.
// backward() needs a training-mode forward (the batch statistics); after an evaluation-mode
// forward it throws std::logic_error.
//
// Its fusion (BatchNormLayer::fuse): followed by a ReLU, the layer runs it as it writes, one
// pass each way (BatchNormReluStage below, the batch_norm_relu_* kernels of
// kernels/batch_norm.hpp) on devices that have them (the CPU). A ResNet follows most
// convolutions with batch norm and ReLU: run as two layers, each activation is written by the
// batch norm, read and written again by the ReLU, and both are read again on the way back.
// Fused, the ReLU's mask is read from the stage's output inside the batch norm's backward. The
// output and the running statistics are the two layers' bit for bit; the gradients equal theirs
// up to the order of the per-channel sums.
//
// In evaluation mode batch norm is a per-channel scale and shift, which the Conv2d or Linear
// before it can apply itself: their fuse() then runs the two as one layer whose weight and
// bias are scaled per output channel (BatchNormFold below, kernel batch_norm_fold), and the
// batch norm pass is not run at all. The results equal the two layers' up to rounding.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/init.hpp"
#include "hnn/kernels/batch_norm.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/layer.hpp"

namespace hnn {

template <class T, class Device, class Spec>
class BatchNormLayer;
template <class T, class Device, class Spec>
class BatchNormReluStage;

namespace detail {

// What BatchNorm2d and BatchNorm1d share: options, printing and recorded sizes.
template <class Self>
class BatchNormSpec {
 public:
  std::int64_t num_features;

  explicit BatchNormSpec(std::int64_t num_features_) : num_features(num_features_) {
    require_positive(Self::kind, "num_features", num_features);
  }

  // Added to the variance before its square root; PyTorch's default 1e-5.
  Self& eps(double value) {
    if (!(value > 0) || !std::isfinite(value))
      bad_input(std::string(Self::kind) + ": eps must be positive and finite, got " + format_double(value));
    eps_ = value;
    return self();
  }
  // The weight of each batch's statistics in the running ones; PyTorch's default 0.1.
  Self& momentum(double value) {
    if (!(value >= 0 && value <= 1))
      bad_input(std::string(Self::kind) + ": momentum must be in [0, 1], got " + format_double(value));
    momentum_ = value;
    return self();
  }
  // Whether the layer has a learnt "weight" and "bias"; true by default.
  Self& affine(bool value) {
    affine_ = value;
    return self();
  }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  bool affine() const { return affine_; }

  // "BatchNorm2d(6)" with the defaults, else the options that differ, as PyTorch names them.
  std::string str() const {
    std::string s = std::string(Self::kind) + "(" + std::to_string(num_features);
    if (eps_ != 1e-5) s += ", eps=" + format_double(eps_);
    if (momentum_ != 0.1) s += ", momentum=" + format_double(momentum_);
    if (!affine_) s += ", affine=False";
    return s + ")";
  }

  // (num_features, affine, bits of eps, bits of momentum): the doubles' bit patterns, exact.
  std::vector<std::int64_t> sizes() const {
    return {num_features, affine_ ? 1 : 0, double_bits(eps_), double_bits(momentum_)};
  }
  static Self from_sizes(const std::vector<std::int64_t>& s) {
    require_sizes(Self::kind, s, 4);
    if (s[1] != 0 && s[1] != 1)
      bad_input(std::string(Self::kind) + ": the recorded affine flag must be 0 or 1, got " + std::to_string(s[1]));
    return Self(s[0]).affine(s[1] == 1).eps(double_from_bits(s[2])).momentum(double_from_bits(s[3]));
  }

  // Values per channel of one sample: H * W, L or 1.
  static std::int64_t spatial(const Shape& input) {
    std::int64_t n = 1;
    for (int i = 2; i < input.rank(); ++i) n *= input[i];
    return n;
  }

  // What the layer and the fused BatchNorm + ReLU stage (BatchNormReluStage) refuse.
  void require_training_values(const Shape& input) const {
    if (input[0] * spatial(input) < 2)
      bad_input(str() + ": training needs more than one value per channel, got input " + input.str() +
                " (as in PyTorch; evaluation mode accepts a single sample)");
  }
  [[noreturn]] void throw_backward_after_eval() const {
    throw std::logic_error(str() +
                           ": backward() after an evaluation-mode forward() is not supported (the batch-norm "
                           "kernels differentiate the training-mode, batch-statistics forward only)");
  }

 protected:
  // Throws unless input has C == num_features channels in dimension 1 (the rank is the
  // description's to check). str() only on the error path: forward() must not allocate.
  void require_channels(const Shape& input) const {
    if (input[1] != num_features)
      bad_input(str() + " expects " + std::to_string(num_features) + " channels, got input " + input.str());
  }

 private:
  Self& self() { return static_cast<Self&>(*this); }
  double eps_ = 1e-5, momentum_ = 0.1;
  bool affine_ = true;
};

}  // namespace detail

// Batch normalisation over (N, C, H, W), statistics per channel over N, H and W.
struct BatchNorm2d : detail::BatchNormSpec<BatchNorm2d> {
  static constexpr const char* kind = "BatchNorm2d";
  template <class T, class Device>
  using layer = BatchNormLayer<T, Device, BatchNorm2d>;

  explicit BatchNorm2d(std::int64_t num_features_) : BatchNormSpec(num_features_) {}

  Shape output_shape(const Shape& input) const {
    if (input.rank() != 4) detail::require_images(str(), input);
    require_channels(input);
    return input;
  }
};

// Batch normalisation over (N, C) or (N, C, L), statistics per channel over N (and L).
struct BatchNorm1d : detail::BatchNormSpec<BatchNorm1d> {
  static constexpr const char* kind = "BatchNorm1d";
  template <class T, class Device>
  using layer = BatchNormLayer<T, Device, BatchNorm1d>;

  explicit BatchNorm1d(std::int64_t num_features_) : BatchNormSpec(num_features_) {}

  Shape output_shape(const Shape& input) const {
    if (input.rank() != 2 && input.rank() != 3)
      detail::bad_input(str() + " expects input of shape (N, C) or (N, C, L), got " + input.str());
    require_channels(input);
    return input;
  }
};

template <class T, class Device, class Spec>
class BatchNormLayer final : public Layer<T, Device> {
 public:
  explicit BatchNormLayer(const Spec& spec)
      : spec_(spec),
        running_mean_(Shape{spec.num_features}),
        running_var_(Shape{spec.num_features}),
        save_mean_(Shape{spec.num_features}),
        save_inv_std_(Shape{spec.num_features}) {
    if (spec.affine()) {  // else the four stay empty: null pointers for the kernels
      weight_ = Tensor<T, Device>(Shape{spec.num_features});
      bias_ = Tensor<T, Device>(weight_.shape());
      grad_weight_ = Tensor<T, Device>(weight_.shape());
      grad_bias_ = Tensor<T, Device>(weight_.shape());
    }
    Rng unused(0);
    reset_parameters(unused);
  }

  const Spec& spec() const { return spec_; }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override { return run_forward(input, false); }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    return run_backward(grad_output, this->input_gradient_);
  }

  // This layer in evaluation mode folded into the layer before it, a Conv2d or Linear of
  // num_features output channels with `per_channel` weights each (kernel batch_norm_fold):
  // writes that layer's weight and bias scaled by the running statistics. bias may be null.
  void fold(std::int64_t per_channel, const T* weight, const T* bias, T* folded_weight, T* folded_bias) const {
    batch_norm_fold(Device{}, spec_.num_features, per_channel, weight, bias, weight_.data(), bias_.data(),
                    running_mean_.data(), running_var_.data(), static_cast<T>(spec_.eps()), folded_weight,
                    folded_bias);
  }

  // The layer followed by a ReLU, one pass each way: what the fused stage (BatchNormReluStage)
  // runs in place of this layer and the ReLU after it, on devices with the kernels
  // (has_batch_norm_relu). The output is then the ReLU's, and it masks dy in the backward that
  // follows.
  const Tensor<T, Device>& forward_then_relu(const Tensor<T, Device>& input) { return run_forward(input, true); }
  const Tensor<T, Device>& backward_then_relu(const Tensor<T, Device>& grad_output, bool input_gradient) {
    if (!forward_relu_) throw std::logic_error(spec_.str() + ": backward_then_relu() after a forward() without the ReLU");
    return run_backward(grad_output, input_gradient);
  }

  // This layer and the ReLU after it as one stage, on devices with the kernels; a shape the
  // layer rejects is left to the layers, so that the layer-by-layer path names the layer.
  Fusion<T, Device> fuse(const FollowingLayers& next, const Shape& input) override {
    if constexpr (!has_batch_norm_relu<Device>::value) {
      (void)next;
      (void)input;
      return {};
    } else {
      if (next.get_if<ReLU>(0) == nullptr) return {};
      try {
        spec_.output_shape(input);
      } catch (const std::invalid_argument&) {
        return {};
      }
      return {std::make_unique<BatchNormReluStage<T, Device, Spec>>(*this), 1};
    }
  }

  std::vector<Parameter<T, Device>> parameters() override {
    detail::parameters_may_change();
    if (!spec_.affine()) return {};
    return {{"weight", &weight_, &grad_weight_}, {"bias", &bias_, &grad_bias_}};
  }
  std::vector<Buffer<T, Device>> buffers() override {
    detail::parameters_may_change();
    return {{"running_mean", &running_mean_}, {"running_var", &running_var_}};
  }

  // PyTorch's initial state (no random draws): weight 1, bias 0, running_mean 0, running_var 1.
  void reset_parameters(Rng&) override {
    detail::parameters_may_change();
    const Shape shape{spec_.num_features};
    const Tensor<T, cpu> zeros = Tensor<T, cpu>::full(shape, T(0)), ones = Tensor<T, cpu>::full(shape, T(1));
    if (spec_.affine()) {
      weight_.copy_from(ones);
      bias_.copy_from(zeros);
    }
    running_mean_.copy_from(zeros);
    running_var_.copy_from(ones);
  }

 private:
  const Tensor<T, Device>& run_forward(const Tensor<T, Device>& input, bool relu) {
    if (relu && !has_batch_norm_relu<Device>::value)
      throw std::logic_error(spec_.str() + ": no fused BatchNorm + ReLU kernels on " + Device::name);
    const Shape& shape = input.shape();
    spec_.output_shape(shape);
    const std::int64_t batch = shape[0], channels = spec_.num_features, spatial = Spec::spatial(shape);
    if (this->start_forward()) input_ = input;  // evaluation keeps nothing for a backward
    output_.resize(shape);
    forward_relu_ = relu;
    const T momentum = static_cast<T>(spec_.momentum()), eps = static_cast<T>(spec_.eps());
    if (this->training_) {
      spec_.require_training_values(shape);
      if constexpr (has_batch_norm_relu<Device>::value) {
        if (relu) {
          batch_norm_relu_forward_training(Device{}, batch, channels, spatial, input.data(), weight_.data(),
                                           bias_.data(), running_mean_.data(), running_var_.data(), momentum, eps,
                                           output_.data(), save_mean_.data(), save_inv_std_.data());
          return output_;
        }
      }
      batch_norm_forward_training(Device{}, batch, channels, spatial, input.data(), weight_.data(), bias_.data(),
                                  running_mean_.data(), running_var_.data(), momentum, eps, output_.data(),
                                  save_mean_.data(), save_inv_std_.data());
    } else {
      if constexpr (has_batch_norm_relu<Device>::value) {
        if (relu) {
          batch_norm_relu_forward_eval(Device{}, batch, channels, spatial, input.data(), weight_.data(), bias_.data(),
                                       running_mean_.data(), running_var_.data(), eps, output_.data());
          return output_;
        }
      }
      batch_norm_forward_eval(Device{}, batch, channels, spatial, input.data(), weight_.data(), bias_.data(),
                              running_mean_.data(), running_var_.data(), eps, output_.data());
    }
    return output_;
  }

  // The backward of the last forward, with its ReLU mask if it had one.
  const Tensor<T, Device>& run_backward(const Tensor<T, Device>& grad_output, bool input_gradient) {
    if (!this->forward_training_) spec_.throw_backward_after_eval();
    const Shape& shape = input_.shape();
    T* grad_input = nullptr;
    if (input_gradient) {
      grad_input_.resize(shape);
      grad_input = grad_input_.data();
    }
    const std::int64_t batch = shape[0], channels = spec_.num_features, spatial = Spec::spatial(shape);
    if constexpr (has_batch_norm_relu<Device>::value) {
      if (forward_relu_) {
        batch_norm_relu_backward(Device{}, batch, channels, spatial, input_.data(), weight_.data(), save_mean_.data(),
                                 save_inv_std_.data(), output_.data(), grad_output.data(), grad_input,
                                 grad_weight_.data(), grad_bias_.data());
        return grad_input != nullptr ? grad_input_ : this->no_input_gradient();
      }
    }
    batch_norm_backward(Device{}, batch, channels, spatial, input_.data(), weight_.data(), save_mean_.data(),
                        save_inv_std_.data(), grad_output.data(), grad_input, grad_weight_.data(), grad_bias_.data());
    return grad_input != nullptr ? grad_input_ : this->no_input_gradient();
  }

  Spec spec_;
  bool forward_relu_ = false;  // the last forward ran the ReLU
  Tensor<T, Device> weight_, bias_, grad_weight_, grad_bias_;
  Tensor<T, Device> running_mean_, running_var_, save_mean_, save_inv_std_;
  Tensor<T, Device> input_, output_, grad_input_;
};

// A batch norm layer in evaluation mode folded into the Conv2d or Linear before it: that
// layer's weight and bias scaled per output channel (BatchNormLayer::fold), what a stage that
// runs the two as one layer computes with. Computed at the first refresh() and again at the
// first one after the parameters or buffers may have changed (detail::parameter_generation():
// they were handed out, loaded, copied, initialised, or a mode was set), so that a stage that
// refreshes at each forward() is never stale and folds once per evaluation run.
template <class T, class Device, class Spec>
class BatchNormFold {
 public:
  // weight (out, ...) and bias (out, or empty: none) are the layer's own tensors, kept by
  // reference, as is the batch norm layer.
  BatchNormFold(const Tensor<T, Device>& weight, const Tensor<T, Device>& bias,
                const BatchNormLayer<T, Device, Spec>& batch_norm)
      : weight_(weight), bias_(bias), batch_norm_(batch_norm), folded_weight_(weight.shape()),
        folded_bias_(Shape{weight.dim(0)}) {}

  void refresh() {
    const std::uint64_t now = detail::parameter_generation();
    if (now == generation_) return;
    batch_norm_.fold(weight_.numel() / weight_.dim(0), weight_.data(), bias_.data(), folded_weight_.data(),
                     folded_bias_.data());
    generation_ = now;
  }
  const Tensor<T, Device>& weight() const { return folded_weight_; }
  const Tensor<T, Device>& bias() const { return folded_bias_; }
  const Spec& batch_norm_spec() const { return batch_norm_.spec(); }

 private:
  const Tensor<T, Device>& weight_;
  const Tensor<T, Device>& bias_;
  const BatchNormLayer<T, Device, Spec>& batch_norm_;
  Tensor<T, Device> folded_weight_, folded_bias_;
  std::uint64_t generation_ = 0;  // of the last fold; the count starts at 1
};

// The fused BatchNorm + ReLU stage (BatchNormLayer::fuse): the layer's own forward_then_relu()
// and backward_then_relu(), so the layer holds the one copy of its statistics and mode.
template <class T, class Device, class Spec>
class BatchNormReluStage final : public Stage<T, Device> {
 public:
  explicit BatchNormReluStage(BatchNormLayer<T, Device, Spec>& layer) : layer_(layer) {}

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override { return layer_.forward_then_relu(input); }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    return layer_.backward_then_relu(grad_output, this->input_gradient_);
  }

 private:
  BatchNormLayer<T, Device, Spec>& layer_;
};

}  // namespace hnn
