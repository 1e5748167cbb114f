// torch.optim.SGD: stochastic gradient descent with momentum, dampening, Nesterov momentum
// and L2 weight decay, PyTorch's defaults and checks. The update: kernels/sgd.hpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hnn/kernels/sgd.hpp"
#include "hnn/optim/optimizer.hpp"
#include "hnn/optim/registry.hpp"

namespace hnn {

struct SgdOptions {
  static constexpr const char* optimizer = "SGD";
  double lr = 1e-3;          // PyTorch 2.x's default; at least 0 at set_lr(), positive here
  double momentum = 0;       // in [0, 1)
  double weight_decay = 0;   // L2: weight_decay * param added to the gradient; at least 0
  double dampening = 0;      // the share of the gradient left out of the momentum buffer
  bool nesterov = false;     // needs momentum > 0 and dampening 0

  // Every option by name: what make_optimizer() and parameter groups set.
  template <class Visit>
  void visit(Visit&& v) {
    v("lr", lr);
    v("momentum", momentum);
    v("weight_decay", weight_decay);
    v("dampening", dampening);
    v("nesterov", nesterov);
  }
  void check(const std::string& who) const {
    detail::require_learning_rate(who, lr);
    detail::require_fraction(who, "momentum", momentum);
    detail::require_at_least(who, "weight decay", weight_decay, 0);
    if (!std::isfinite(dampening)) throw std::invalid_argument(who + ": dampening must be finite, got " + std::to_string(dampening));
    if (nesterov && (momentum <= 0 || dampening != 0))
      throw std::invalid_argument(who + ": Nesterov momentum needs a momentum above 0 and zero dampening, got momentum " +
                                  std::to_string(momentum) + " and dampening " + std::to_string(dampening));
  }
};

template <class T, class Device = cpu>
class SGD final : public GroupedOptimizer<T, Device, SgdOptions> {
  using Base = GroupedOptimizer<T, Device, SgdOptions>;

 public:
  using options_type = SgdOptions;
  static constexpr const char* kind = "sgd";

  SGD(std::vector<Parameter<T, Device>> parameters, SgdOptions options = {})
      : SGD(one_group(std::move(parameters)), options) {}
  SGD(std::vector<ParameterGroup<T, Device>> groups, SgdOptions defaults) : Base(std::move(groups), defaults) {
    momentum_buffers_ = this->add_buffer("momentum_buffer", [this](std::size_t g) { return this->options(g).momentum != 0; });
    first_step_.assign(this->parameter_count(), 1);
  }

  const char* name() const override { return kind; }

  void step() override {
    this->advance_step_count();
    const auto& parameters = this->parameters();
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      const Parameter<T, Device>& p = parameters[i].parameter;
      const SgdOptions& o = this->options(parameters[i].group);
      const SgdHyper<T> h{static_cast<T>(o.lr), static_cast<T>(o.momentum), static_cast<T>(o.dampening),
                          static_cast<T>(o.weight_decay), o.nesterov};
      sgd_update(Device{}, p.value->numel(), p.value->data(), p.grad->data(),
                 o.momentum != 0 ? this->buffer_data(momentum_buffers_, i) : static_cast<T*>(nullptr), h,
                 this->step_count(), first_step_[i]);
    }
  }

  bool has_momentum() const override { return true; }
  double momentum(std::size_t group) const override { return this->options(group).momentum; }
  // A group given momentum for the first time gets its buffers now (zeros, allocated once);
  // their first step takes the gradient as it is, as PyTorch's does.
  void set_momentum(std::size_t group, double momentum) override {
    this->require_group(group, "set_momentum");
    SgdOptions o = this->options(group);
    o.momentum = momentum;
    if (!(momentum >= 0 && momentum < 1) || (o.nesterov && momentum <= 0))  // the message only when it fails:
      o.check(std::string("hnn::SGD::set_momentum (group ") + std::to_string(group) + ")");  // a schedule calls this every step
    this->group_options(group).momentum = momentum;
    if (momentum == 0) return;
    const auto& parameters = this->parameters();
    for (std::size_t i = 0; i < parameters.size(); ++i)
      if (parameters[i].group == group && this->ensure_buffer(momentum_buffers_, i)) first_step_[i] = this->steps() + 1;
  }

 private:
  std::string buffers_explained() const override {
    return "one momentum buffer per parameter of a group with momentum, none without; resume with the momentum the "
           "run was started with";
  }
  // A buffer saved after its first step continues; one saved before any step starts afresh.
  void restored(const OptimizerState& s) override { first_step_.assign(first_step_.size(), s.step == 0 ? 1 : 0); }

  std::size_t momentum_buffers_ = 0;
  std::vector<std::int64_t> first_step_;  // per parameter: the step count of its buffer's first step
};

[[maybe_unused]] static const bool sgd_registered = register_optimizer<SGD>();

}  // namespace hnn
