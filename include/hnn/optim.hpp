// Stochastic gradient descent over a model's parameters.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/kernels/sgd.hpp"
#include "hnn/layers/layer.hpp"

namespace hnn {

struct SgdOptions {
  double lr = 0.1;
  double momentum = 0;
  double weight_decay = 0;
};

template <class T, class Device = cpu>
class SGD {
 public:
  SGD(std::vector<Parameter<T, Device>> parameters, SgdOptions options)
      : parameters_(std::move(parameters)), options_(options) {
    if (!(options.lr > 0)) throw std::invalid_argument("hnn::SGD: learning rate must be positive, got " + std::to_string(options.lr));
    if (options.momentum < 0) throw std::invalid_argument("hnn::SGD: momentum must not be negative");
    if (options.weight_decay < 0) throw std::invalid_argument("hnn::SGD: weight decay must not be negative");
    if (options.momentum > 0)
      for (const auto& p : parameters_) velocity_.push_back(Tensor<T, Device>::zeros(p.value->shape()));
  }

  // Applies one update from the gradients the last backward() wrote.
  void step() {
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      Parameter<T, Device>& p = parameters_[i];
      sgd_update(Device{}, p.value->numel(), p.value->data(), p.grad->data(),
                 velocity_.empty() ? static_cast<T*>(nullptr) : velocity_[i].data(), static_cast<T>(options_.lr),
                 static_cast<T>(options_.momentum), static_cast<T>(options_.weight_decay));
    }
  }

  const SgdOptions& options() const { return options_; }
  void set_lr(double lr) { options_.lr = lr; }  // for lr_schedule.hpp's schedules

  // The momentum buffers, one per parameter in parameter order (empty without momentum).
  // Checkpoints read them to resume training exactly.
  const std::vector<Tensor<T, Device>>& velocity() const { return velocity_; }

  // Overwrites momentum buffer `i` with `values` (same shape), in place: the buffers keep
  // their addresses, so a recorded CUDA graph stays valid.
  void set_velocity(std::size_t i, const Tensor<T, cpu>& values) {
    if (i >= velocity_.size())
      throw std::invalid_argument("hnn::SGD::set_velocity: buffer " + std::to_string(i) + " does not exist (this SGD has " +
                                  std::to_string(velocity_.size()) + "; momentum " + std::to_string(options_.momentum) + ")");
    velocity_[i].copy_from(values);
  }

 private:
  std::vector<Parameter<T, Device>> parameters_;
  std::vector<Tensor<T, Device>> velocity_;
  SgdOptions options_;
};

}  // namespace hnn
