// Conv2d: a 2-D convolution with bias, weights (out, in, k, k), NCHW input.
#pragma once

#include <string>
#include <vector>

#include "hnn/kernels/cpu/conv2d.hpp"
#include "hnn/layers/layer.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/conv2d.cuh"
#endif

namespace hnn {

// The description of a convolution: device-free, cheap to copy, what a model is built from.
// Argument order follows hnn's LeNet listing: Conv2d(in, out, kernel, padding, stride).
struct Conv2d {
  std::int64_t in_channels, out_channels, kernel, padding, stride;

  Conv2d(std::int64_t in_channels_, std::int64_t out_channels_, std::int64_t kernel_, std::int64_t padding_ = 0,
         std::int64_t stride_ = 1)
      : in_channels(in_channels_), out_channels(out_channels_), kernel(kernel_), padding(padding_), stride(stride_) {
    detail::require_positive("Conv2d", "in_channels", in_channels);
    detail::require_positive("Conv2d", "out_channels", out_channels);
    detail::require_positive("Conv2d", "kernel", kernel);
    detail::require_positive("Conv2d", "stride", stride);
    detail::require_non_negative("Conv2d", "padding", padding);
  }

  std::string str() const {
    return "Conv2d(" + std::to_string(in_channels) + ", " + std::to_string(out_channels) +
           ", kernel=" + std::to_string(kernel) + ", padding=" + std::to_string(padding) +
           ", stride=" + std::to_string(stride) + ")";
  }

  Conv2dGeometry geometry(const Shape& input) const {
    // str() only on the error paths: geometry() runs every step, which must not allocate.
    if (input.rank() != 4) detail::require_images(str(), input);
    if (input[1] != in_channels)
      detail::bad_input(str() + " expects " + std::to_string(in_channels) + " input channels, got input " +
                        input.str());
    if (input[2] + 2 * padding < kernel || input[3] + 2 * padding < kernel)
      detail::bad_input(str() + ": input " + input.str() + " is smaller than the " + std::to_string(kernel) + "x" +
                        std::to_string(kernel) + " kernel");
    Conv2dGeometry g;
    g.batch = input[0];
    g.in_channels = in_channels;
    g.in_height = input[2];
    g.in_width = input[3];
    g.out_channels = out_channels;
    g.kernel = kernel;
    g.stride = stride;
    g.padding = padding;
    return g;
  }

  Shape output_shape(const Shape& input) const {
    const Conv2dGeometry g = geometry(input);
    return Shape{g.batch, g.out_channels, g.out_height(), g.out_width()};
  }
};

template <class T, class Device>
class Conv2dLayer final : public Layer<T, Device> {
 public:
  explicit Conv2dLayer(const Conv2d& spec)
      : spec_(spec),
        weight_(Shape{spec.out_channels, spec.in_channels, spec.kernel, spec.kernel}),
        bias_(Shape{spec.out_channels}),
        grad_weight_(weight_.shape()),
        grad_bias_(bias_.shape()) {}

  std::string describe() const override { return spec_.str(); }
  std::string kind() const override { return "Conv2d"; }
  Shape output_shape(const Shape& input) const override { return spec_.output_shape(input); }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    const Conv2dGeometry g = spec_.geometry(input.shape());
    input_ = input;
    output_.resize(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()});
    workspace_.resize(Shape{conv2d_workspace_size(Device{}, g)});
    conv2d_forward(Device{}, g, input.data(), weight_.data(), bias_.data(), output_.data(), workspace_.data());
    return output_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    const Conv2dGeometry g = spec_.geometry(input_.shape());
    T* grad_input = nullptr;
    if (this->input_gradient_) {
      grad_input_.resize(input_.shape());
      grad_input = grad_input_.data();
    }
    workspace_.resize(Shape{conv2d_workspace_size(Device{}, g)});
    conv2d_backward(Device{}, g, input_.data(), weight_.data(), grad_output.data(), grad_input, grad_weight_.data(),
                    grad_bias_.data(), workspace_.data());
    return grad_input_;
  }

  std::vector<Parameter<T, Device>> parameters() override {
    return {{"weight", &weight_, &grad_weight_}, {"bias", &bias_, &grad_bias_}};
  }

 private:
  Conv2d spec_;
  Tensor<T, Device> weight_, bias_, grad_weight_, grad_bias_;
  Tensor<T, Device> input_, output_, grad_input_, workspace_;
};

}  // namespace hnn
