// The interface every concrete layer implements, and the helpers layers share.
//
// A layer owns its parameters, their gradients, its output buffer and the cache its
// backward pass needs. forward() and backward() return references to buffers the layer
// owns; they stay valid until the next call. Buffers are resized, never reallocated,
// once the largest batch has been seen, so a steady training step does not allocate.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/tensor.hpp"

namespace hnn {

// A trainable tensor and the gradient the last backward() wrote for it.
template <class T, class Device>
struct Parameter {
  std::string name;  // "weight" or "bias"
  Tensor<T, Device>* value;
  Tensor<T, Device>* grad;
};

template <class T, class Device>
class Layer {
 public:
  virtual ~Layer() = default;

  // "Conv2d(1, 6, kernel=5, padding=2, stride=1)": what a trace, a summary or an error names.
  virtual std::string describe() const = 0;
  // "Conv2d": the layer's type alone.
  virtual std::string kind() const = 0;
  // The output shape for an input shape; throws std::invalid_argument if the input does not fit.
  virtual Shape output_shape(const Shape& input) const = 0;

  virtual const Tensor<T, Device>& forward(const Tensor<T, Device>& input) = 0;
  // Takes dLoss/dOutput, writes the parameter gradients, returns dLoss/dInput
  // (an empty tensor when set_input_gradient(false), as for a network's first layer).
  virtual const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) = 0;

  virtual std::vector<Parameter<T, Device>> parameters() { return {}; }

  void set_input_gradient(bool needed) { input_gradient_ = needed; }

 protected:
  bool input_gradient_ = true;
};

namespace detail {

[[noreturn]] inline void bad_input(const std::string& what) { throw std::invalid_argument(what); }

inline void require_positive(const char* layer, const char* field, std::int64_t value) {
  if (value <= 0)
    bad_input(std::string(layer) + ": " + field + " must be positive, got " + std::to_string(value));
}

inline void require_non_negative(const char* layer, const char* field, std::int64_t value) {
  if (value < 0)
    bad_input(std::string(layer) + ": " + field + " must not be negative, got " + std::to_string(value));
}

// Throws unless `input` is (N, C, H, W).
inline void require_images(const std::string& layer, const Shape& input) {
  if (input.rank() != 4)
    bad_input(layer + " expects input of shape (N, C, H, W), got " + input.str());
}

}  // namespace detail

}  // namespace hnn
