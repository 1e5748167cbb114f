// Conv2d: a 2-D convolution, weights (out, in, k, k), NCHW input, as PyTorch's nn.Conv2d.
//
//   Conv2d(1, 6, 5).padding(2)          in, out and kernel size; the rest by name
//   Conv2d(16, 32, 3).stride(2).padding(1)
//   Conv2d(6, 16, 5).bias(false)        no bias parameter (e.g. before a BatchNorm2d)
//
// Stride and padding are named, never positional, so they cannot be swapped by accident.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hnn/kernels/conv2d.hpp"
#include "hnn/layers/layer.hpp"

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
    input_ = input;
    output_.resize(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()});
    workspace_.resize(Shape{conv2d_workspace_size(Device{}, g, algorithm_)});
    conv2d_forward(Device{}, g, input.data(), weight_.data(), bias_.data(), output_.data(), workspace_.data(),
                   algorithm_);
    return output_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
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
    return grad_input_;
  }

  std::vector<Parameter<T, Device>> parameters() override {
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
