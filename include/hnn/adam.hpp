// Adam and AdamW over a model's parameters (torch.optim.Adam / torch.optim.AdamW, amsgrad
// off), shaped like SGD in optim.hpp. The arithmetic is kernels/cpu/adam.hpp's.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/kernels/adam.hpp"
#include "hnn/layers/layer.hpp"

namespace hnn {

// torch.optim.Adam's defaults: L2 weight decay (added to the gradient), off by default.
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
};

// torch.optim.AdamW's defaults: decoupled weight decay (param *= 1 - lr * weight_decay), 0.01.
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

template <class T, class Device = cpu>
class Adam {
 public:
  Adam(std::vector<Parameter<T, Device>> parameters, AdamOptions options = {})
      : Adam(std::move(parameters), options, false, "hnn::Adam") {}

  // Applies one update from the gradients the last backward() wrote.
  void step() {
    ++step_count_;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      Parameter<T, Device>& p = parameters_[i];
      adam_update(Device{}, p.value->numel(), p.value->data(), p.grad->data(), exp_avg_[i].data(),
                  exp_avg_sq_[i].data(), options_.lr, options_.beta1, options_.beta2, options_.eps,
                  options_.weight_decay, decoupled_, step_count_);
    }
  }

  const AdamOptions& options() const { return options_; }
  bool decoupled_weight_decay() const { return decoupled_; }
  // For learning-rate schedules (lr_schedule.hpp); 0 is allowed (a cosine schedule's end).
  void set_lr(double lr) {
    if (!(lr >= 0)) throw std::invalid_argument(name_ + "::set_lr: learning rate must not be negative, got " + std::to_string(lr));
    options_.lr = lr;
  }

  // The state a checkpoint needs to resume exactly: the number of steps taken and, per
  // parameter in parameter order, the first and second moment buffers (PyTorch's exp_avg
  // and exp_avg_sq).
  std::int64_t step_count() const { return step_count_; }
  const std::vector<Tensor<T, Device>>& exp_avg() const { return exp_avg_; }
  const std::vector<Tensor<T, Device>>& exp_avg_sq() const { return exp_avg_sq_; }

  // Restores the state in place (the buffers keep their addresses): the step count, and
  // moment buffers `i` from host tensors of the parameter's shape.
  void set_step_count(std::int64_t steps) {
    if (steps < 0) throw std::invalid_argument(name_ + "::set_step_count: a step count cannot be negative, got " + std::to_string(steps));
    step_count_ = steps;
  }
  void set_moments(std::size_t i, const Tensor<T, cpu>& exp_avg, const Tensor<T, cpu>& exp_avg_sq) {
    if (i >= exp_avg_.size())
      throw std::invalid_argument(name_ + "::set_moments: buffer " + std::to_string(i) + " does not exist (this optimiser has " +
                                  std::to_string(exp_avg_.size()) + ")");
    exp_avg_[i].copy_from(exp_avg);
    exp_avg_sq_[i].copy_from(exp_avg_sq);
  }

 protected:
  Adam(std::vector<Parameter<T, Device>> parameters, AdamOptions options, bool decoupled, std::string name)
      : parameters_(std::move(parameters)), options_(options), decoupled_(decoupled), name_(std::move(name)) {
    if (!(options.lr >= 0)) throw std::invalid_argument(name_ + ": learning rate must not be negative, got " + std::to_string(options.lr));
    if (!(options.beta1 >= 0 && options.beta1 < 1) || !(options.beta2 >= 0 && options.beta2 < 1))
      throw std::invalid_argument(name_ + ": betas must be in [0, 1), got (" + std::to_string(options.beta1) + ", " +
                                  std::to_string(options.beta2) + ")");
    if (!(options.eps >= 0)) throw std::invalid_argument(name_ + ": eps must not be negative");
    if (!(options.weight_decay >= 0)) throw std::invalid_argument(name_ + ": weight decay must not be negative");
    for (const auto& p : parameters_) {
      exp_avg_.push_back(Tensor<T, Device>::zeros(p.value->shape()));
      exp_avg_sq_.push_back(Tensor<T, Device>::zeros(p.value->shape()));
    }
  }

 private:
  std::vector<Parameter<T, Device>> parameters_;
  std::vector<Tensor<T, Device>> exp_avg_, exp_avg_sq_;
  AdamOptions options_;
  bool decoupled_;
  std::string name_;
  std::int64_t step_count_ = 0;
};

// Adam with decoupled weight decay (torch.optim.AdamW).
template <class T, class Device = cpu>
class AdamW : public Adam<T, Device> {
 public:
  AdamW(std::vector<Parameter<T, Device>> parameters, AdamWOptions options = {})
      : Adam<T, Device>(std::move(parameters),
                        AdamOptions{options.lr, options.beta1, options.beta2, options.eps, options.weight_decay}, true,
                        "hnn::AdamW") {}
};

}  // namespace hnn
