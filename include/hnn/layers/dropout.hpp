// Dropout(p): inverted dropout, as PyTorch's nn.Dropout, on any input shape.
//
//   Dropout(0.5)
//
// Training mode: each element is zeroed with probability p, the others scaled by 1 / (1 - p).
// Evaluation mode (Sequential::eval()): the identity. The mask of a step is a pure function of
// the layer's seed and a step counter (kernels/cpu/dropout.hpp): the seed is drawn from the
// model's generator by reset_parameters (so Sequential::init(seed) reproduces every mask), the
// counter, kept in the device's memory, is advanced by each training-mode forward(), and
// backward() uses the mask of the last forward() (after an evaluation-mode forward it throws
// std::logic_error, as every layer's does). Neither is a buffer: a checkpoint does not record them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hnn/init.hpp"
#include "hnn/kernels/batch.hpp"
#include "hnn/kernels/dropout.hpp"
#include "hnn/layers/layer.hpp"

namespace hnn {

template <class T, class Device>
class DropoutLayer;

struct Dropout {
  static constexpr const char* kind = "Dropout";
  template <class T, class Device>
  using layer = DropoutLayer<T, Device>;

  double p;

  // p in [0, 1): the probability that an element is zeroed (PyTorch's default 0.5).
  explicit Dropout(double p_ = 0.5) : p(p_) {
    if (!(p >= 0 && p < 1))
      detail::bad_input("Dropout: p must be in [0, 1), got " + detail::format_double(p));
  }

  std::string str() const { return "Dropout(p=" + detail::format_double(p) + ")"; }

  // (bits of p): the double's bit pattern, exact.
  std::vector<std::int64_t> sizes() const { return {detail::double_bits(p)}; }
  static Dropout from_sizes(const std::vector<std::int64_t>& s) {
    detail::require_sizes(kind, s, 1);
    return Dropout(detail::double_from_bits(s[0]));
  }

  Shape output_shape(const Shape& input) const { return input; }
};

template <class T, class Device>
class DropoutLayer final : public Layer<T, Device> {
 public:
  explicit DropoutLayer(const Dropout& spec) : spec_(spec), step_(Shape{1}) { set_step(0); }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    if (!this->start_forward()) {
      identity_ = input;  // a view: no copy (kept apart from output_, whose storage is ours)
      return identity_;
    }
    advance_batch_number(Device{}, step_.data());
    output_.resize(input.shape());
    dropout_forward(Device{}, input.numel(), input.data(), output_.data(), spec_.p, seed_, step_.data());
    return output_;
  }

  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    this->require_training_forward(spec_);
    grad_input_.resize(grad_output.shape());
    dropout_backward(Device{}, grad_output.numel(), grad_output.data(), grad_input_.data(), spec_.p, seed_,
                     step_.data());
    return grad_input_;
  }

  // Draws the mask seed from the model's generator and restarts the step counter.
  void reset_parameters(Rng& rng) override {
    seed_ = rng.next();
    set_step(0);
  }

  std::uint64_t seed() const { return seed_; }
  void set_seed(std::uint64_t seed) { seed_ = seed; }
  // The step counter: the last training-mode forward() used this value (0 before the first).
  std::int64_t step() const { return step_.to_vector()[0]; }
  void set_step(std::int64_t step) { step_.copy_from(Tensor<std::int64_t, cpu>::full(Shape{1}, step)); }

 private:
  Dropout spec_;
  std::uint64_t seed_ = 0;
  Tensor<std::int64_t, Device> step_;
  Tensor<T, Device> output_, grad_input_, identity_;
};

}  // namespace hnn
