// AvgPool2d and MaxPool2d: k x k windows moved by a stride, no padding.
#pragma once

#include <cstdint>
#include <string>

#include <vector>

#include "hnn/kernels/pool2d.hpp"
#include "hnn/layers/layer.hpp"
#include "hnn/registry.hpp"

namespace hnn {

template <class T, class Device>
class AvgPool2dLayer;
template <class T, class Device>
class MaxPool2dLayer;

namespace detail {

// What the two pooling descriptions share: sizes, checks and printing.
struct Pool2dSpec {
  std::int64_t kernel, stride;

  Pool2dSpec(const char* name, std::int64_t kernel_, std::int64_t stride_) : kernel(kernel_), stride(stride_) {
    require_positive(name, "kernel", kernel);
    require_positive(name, "stride", stride);
  }

  std::vector<std::int64_t> sizes() const { return {kernel, stride}; }

  std::string str(const char* name) const {
    return std::string(name) + "(kernel=" + std::to_string(kernel) + ", stride=" + std::to_string(stride) + ")";
  }

  // The description is built only on the error paths: geometry() runs every step, which
  // must not allocate.
  Pool2dGeometry geometry(const char* name, const Shape& input) const {
    if (input.rank() != 4) require_images(str(name), input);
    if (input[2] < kernel || input[3] < kernel)
      bad_input(str(name) + ": input " + input.str() + " is smaller than the " + std::to_string(kernel) + "x" +
                std::to_string(kernel) + " window");
    Pool2dGeometry g;
    g.batch = input[0];
    g.channels = input[1];
    g.in_height = input[2];
    g.in_width = input[3];
    g.kernel = kernel;
    g.stride = stride;
    return g;
  }
};

inline Shape pool_output_shape(const Pool2dGeometry& g) {
  return Shape{g.batch, g.channels, g.out_height(), g.out_width()};
}

}  // namespace detail

// AvgPool2d(kernel, stride): stride defaults to the kernel size, as in PyTorch.
struct AvgPool2d : detail::Pool2dSpec {
  static constexpr const char* kind = "AvgPool2d";
  template <class T, class Device>
  using layer = AvgPool2dLayer<T, Device>;
  static AvgPool2d from_sizes(const std::vector<std::int64_t>& s) {
    detail::require_sizes(kind, s, 2);
    return AvgPool2d(s[0], s[1]);
  }
  explicit AvgPool2d(std::int64_t kernel_, std::int64_t stride_ = 0)
      : Pool2dSpec("AvgPool2d", kernel_, stride_ == 0 ? kernel_ : stride_) {}
  std::string str() const { return Pool2dSpec::str("AvgPool2d"); }
  Pool2dGeometry geometry(const Shape& input) const { return Pool2dSpec::geometry("AvgPool2d", input); }
  Shape output_shape(const Shape& input) const { return detail::pool_output_shape(geometry(input)); }
};

// MaxPool2d(kernel, stride): stride defaults to the kernel size, as in PyTorch.
struct MaxPool2d : detail::Pool2dSpec {
  static constexpr const char* kind = "MaxPool2d";
  template <class T, class Device>
  using layer = MaxPool2dLayer<T, Device>;
  static MaxPool2d from_sizes(const std::vector<std::int64_t>& s) {
    detail::require_sizes(kind, s, 2);
    return MaxPool2d(s[0], s[1]);
  }
  explicit MaxPool2d(std::int64_t kernel_, std::int64_t stride_ = 0)
      : Pool2dSpec("MaxPool2d", kernel_, stride_ == 0 ? kernel_ : stride_) {}
  std::string str() const { return Pool2dSpec::str("MaxPool2d"); }
  Pool2dGeometry geometry(const Shape& input) const { return Pool2dSpec::geometry("MaxPool2d", input); }
  Shape output_shape(const Shape& input) const { return detail::pool_output_shape(geometry(input)); }
};

template <class T, class Device>
class AvgPool2dLayer final : public Layer<T, Device> {
 public:
  explicit AvgPool2dLayer(const AvgPool2d& spec) : spec_(spec) {}

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    const Pool2dGeometry g = spec_.geometry(input.shape());
    input_shape_ = input.shape();
    output_.resize(detail::pool_output_shape(g));
    avg_pool2d_forward(Device{}, g, input.data(), output_.data());
    return output_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    grad_input_.resize(input_shape_);
    avg_pool2d_backward(Device{}, spec_.geometry(input_shape_), grad_output.data(), grad_input_.data());
    return grad_input_;
  }

 private:
  AvgPool2d spec_;
  Shape input_shape_;
  Tensor<T, Device> output_, grad_input_;
};

template <class T, class Device>
class MaxPool2dLayer final : public Layer<T, Device> {
 public:
  explicit MaxPool2dLayer(const MaxPool2d& spec) : spec_(spec) {}

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    const Pool2dGeometry g = spec_.geometry(input.shape());
    input_shape_ = input.shape();
    output_.resize(detail::pool_output_shape(g));
    argmax_.resize(output_.shape());
    max_pool2d_forward(Device{}, g, input.data(), output_.data(), argmax_.data());
    return output_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    grad_input_.resize(input_shape_);
    max_pool2d_backward(Device{}, spec_.geometry(input_shape_), grad_output.data(), argmax_.data(),
                        grad_input_.data());
    return grad_input_;
  }

 private:
  MaxPool2d spec_;
  Shape input_shape_;
  Tensor<T, Device> output_, grad_input_;
  Tensor<std::int32_t, Device> argmax_;
};

namespace detail {
[[maybe_unused]] static const bool avg_pool2d_registered = register_layer<AvgPool2d>();
[[maybe_unused]] static const bool max_pool2d_registered = register_layer<MaxPool2d>();
}  // namespace detail

}  // namespace hnn
