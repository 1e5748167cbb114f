// AvgPool2d and MaxPool2d: k x k windows moved by a stride, optionally padded as in PyTorch.
//
//   MaxPool2d(3, 2).padding(1)   padding p <= kernel / 2 on every side: -infinity for max
//                                pooling; zeros counted in the divisor for average pooling
//                                (PyTorch's default count_include_pad=True)
#pragma once

#include <cstdint>
#include <string>

#include <vector>

#include "hnn/kernels/pool2d.hpp"
#include "hnn/layers/layer.hpp"

namespace hnn {

template <class T, class Device>
class AvgPool2dLayer;
template <class T, class Device>
class MaxPool2dLayer;

namespace detail {

// What the two pooling descriptions share: sizes, checks and printing.
struct Pool2dSpec {
  std::int64_t kernel, stride;
  std::int64_t padding_ = 0;  // set by the descriptions' padding(p)

  Pool2dSpec(const char* name, std::int64_t kernel_, std::int64_t stride_) : kernel(kernel_), stride(stride_) {
    require_positive(name, "kernel", kernel);
    require_positive(name, "stride", stride);
  }

  // PyTorch's rule: 0 <= padding <= kernel / 2, so that every window holds a real pixel.
  void set_padding(const char* name, std::int64_t p) {
    require_non_negative(name, "padding", p);
    if (2 * p > kernel)
      bad_input(std::string(name) + ": padding must be at most half the kernel size, got padding " +
                std::to_string(p) + " for kernel " + std::to_string(kernel));
    padding_ = p;
  }

  // (kernel, stride, padding); files of the previous release hold the first two (padding 0).
  std::vector<std::int64_t> sizes() const { return {kernel, stride, padding_}; }

  template <class Self>
  static Self from_sizes(const std::vector<std::int64_t>& s) {
    if (s.size() != 2) require_sizes(Self::kind, s, 3);
    Self self(s[0], s[1]);
    if (s.size() == 3) self.padding(s[2]);
    return self;
  }

  // Unchanged without padding: checkpoints of the previous release recorded this text.
  std::string str(const char* name) const {
    return std::string(name) + "(kernel=" + std::to_string(kernel) + ", stride=" + std::to_string(stride) +
           (padding_ == 0 ? ")" : ", padding=" + std::to_string(padding_) + ")");
  }

  // The description is built only on the error paths: geometry() runs every step, which
  // must not allocate.
  Pool2dGeometry geometry(const char* name, const Shape& input) const {
    if (input.rank() != 4) require_images(str(name), input);
    if (input[2] + 2 * padding_ < kernel || input[3] + 2 * padding_ < kernel)
      bad_input(str(name) + ": input " + input.str() + (padding_ == 0 ? "" : " (padded)") +
                " is smaller than the " + std::to_string(kernel) + "x" + std::to_string(kernel) + " window");
    Pool2dGeometry g;
    g.batch = input[0];
    g.channels = input[1];
    g.in_height = input[2];
    g.in_width = input[3];
    g.kernel = kernel;
    g.stride = stride;
    g.padding = padding_;
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
  static AvgPool2d from_sizes(const std::vector<std::int64_t>& s) { return Pool2dSpec::from_sizes<AvgPool2d>(s); }
  explicit AvgPool2d(std::int64_t kernel_, std::int64_t stride_ = 0)
      : Pool2dSpec("AvgPool2d", kernel_, stride_ == 0 ? kernel_ : stride_) {}
  AvgPool2d& padding(std::int64_t p) {
    set_padding("AvgPool2d", p);
    return *this;
  }
  std::int64_t padding() const { return padding_; }
  std::string str() const { return Pool2dSpec::str("AvgPool2d"); }
  Pool2dGeometry geometry(const Shape& input) const { return Pool2dSpec::geometry("AvgPool2d", input); }
  Shape output_shape(const Shape& input) const { return detail::pool_output_shape(geometry(input)); }
};

// MaxPool2d(kernel, stride): stride defaults to the kernel size, as in PyTorch.
struct MaxPool2d : detail::Pool2dSpec {
  static constexpr const char* kind = "MaxPool2d";
  template <class T, class Device>
  using layer = MaxPool2dLayer<T, Device>;
  static MaxPool2d from_sizes(const std::vector<std::int64_t>& s) { return Pool2dSpec::from_sizes<MaxPool2d>(s); }
  explicit MaxPool2d(std::int64_t kernel_, std::int64_t stride_ = 0)
      : Pool2dSpec("MaxPool2d", kernel_, stride_ == 0 ? kernel_ : stride_) {}
  MaxPool2d& padding(std::int64_t p) {
    set_padding("MaxPool2d", p);
    return *this;
  }
  std::int64_t padding() const { return padding_; }
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
    if (this->start_forward()) input_shape_ = input.shape();
    output_.resize(detail::pool_output_shape(g));
    avg_pool2d_forward(Device{}, g, input.data(), output_.data());
    return output_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    this->require_training_forward(spec_);
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

  // Evaluation keeps no winners (argmax): the kernel is told so by a null argmax.
  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    const Pool2dGeometry g = spec_.geometry(input.shape());
    output_.resize(detail::pool_output_shape(g));
    std::int32_t* argmax = nullptr;
    if (this->start_forward()) {
      input_shape_ = input.shape();
      argmax_.resize(output_.shape());
      argmax = argmax_.data();
    }
    max_pool2d_forward(Device{}, g, input.data(), output_.data(), argmax);
    return output_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    this->require_training_forward(spec_);
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

}  // namespace hnn
