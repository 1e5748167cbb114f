// torch.optim.RMSprop: gradients divided by a running root mean square, with optional
// momentum, centering (the running mean's square subtracted) and L2 weight decay; PyTorch's
// defaults and checks. The update: kernels/rmsprop.hpp.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "hnn/kernels/rmsprop.hpp"
#include "hnn/optim/optimizer.hpp"
#include "hnn/optim/registry.hpp"

namespace hnn {

struct RmspropOptions {
  static constexpr const char* optimizer = "RMSprop";
  double lr = 1e-2;
  double alpha = 0.99;       // in [0, 1]: the square average's decay
  double eps = 1e-8;         // at least 0, added to the root mean square
  double weight_decay = 0;   // L2, added to the gradient; at least 0
  double momentum = 0;       // in [0, 1)
  bool centered = false;     // divide by the running variance instead of the mean square

  template <class Visit>
  void visit(Visit&& v) {
    v("lr", lr);
    v("alpha", alpha);
    v("eps", eps);
    v("weight_decay", weight_decay);
    v("momentum", momentum);
    v("centered", centered);
  }
  void check(const std::string& who) const {
    detail::require_learning_rate(who, lr);
    if (!(alpha >= 0 && alpha <= 1))
      throw std::invalid_argument(who + ": alpha must be at least 0 and at most 1, got " + std::to_string(alpha));
    detail::require_at_least(who, "eps", eps, 0);
    detail::require_at_least(who, "weight decay", weight_decay, 0);
    detail::require_fraction(who, "momentum", momentum);
  }
};

template <class T, class Device = cpu>
class RMSprop final : public GroupedOptimizer<T, Device, RmspropOptions> {
  using Base = GroupedOptimizer<T, Device, RmspropOptions>;

 public:
  using options_type = RmspropOptions;
  static constexpr const char* kind = "rmsprop";

  RMSprop(std::vector<Parameter<T, Device>> parameters, RmspropOptions options = {})
      : RMSprop(one_group(std::move(parameters)), options) {}
  RMSprop(std::vector<ParameterGroup<T, Device>> groups, RmspropOptions defaults) : Base(std::move(groups), defaults) {
    square_avg_ = this->add_buffer("square_avg", [](std::size_t) { return true; });
    momentum_buffer_ = this->add_buffer("momentum_buffer", [this](std::size_t g) { return this->options(g).momentum > 0; });
    grad_avg_ = this->add_buffer("grad_avg", [this](std::size_t g) { return this->options(g).centered; });
  }

  const char* name() const override { return kind; }

  void step() override {
    this->advance_step_count();  // PyTorch counts RMSprop's steps too (its update does not use them)
    const auto& parameters = this->parameters();
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      const Parameter<T, Device>& p = parameters[i].parameter;
      const RmspropOptions& o = this->options(parameters[i].group);
      const RmspropHyper<T> h{static_cast<T>(o.lr), static_cast<T>(o.alpha), static_cast<T>(o.eps),
                              static_cast<T>(o.weight_decay), static_cast<T>(o.momentum)};
      rmsprop_update(Device{}, p.value->numel(), p.value->data(), p.grad->data(), this->buffer_data(square_avg_, i),
                     o.centered ? this->buffer_data(grad_avg_, i) : static_cast<T*>(nullptr),
                     o.momentum > 0 ? this->buffer_data(momentum_buffer_, i) : static_cast<T*>(nullptr), h);
    }
  }

  bool has_momentum() const override { return true; }
  double momentum(std::size_t group) const override { return this->options(group).momentum; }
  // A group given momentum for the first time gets its buffers now (zeros, allocated once).
  void set_momentum(std::size_t group, double momentum) override {
    this->require_group(group, "set_momentum");
    RmspropOptions o = this->options(group);
    o.momentum = momentum;
    if (!(momentum >= 0 && momentum < 1))  // the message only when it fails: a schedule calls this every step
      o.check(std::string("hnn::RMSprop::set_momentum (group ") + std::to_string(group) + ")");
    this->group_options(group).momentum = momentum;
    if (momentum == 0) return;
    const auto& parameters = this->parameters();
    for (std::size_t i = 0; i < parameters.size(); ++i)
      if (parameters[i].group == group) this->ensure_buffer(momentum_buffer_, i);
  }

 private:
  std::string buffers_explained() const override {
    return "square_avg per parameter, then momentum_buffer per parameter of a group with momentum, then grad_avg per "
           "parameter of a centered group; resume with the options the run was started with";
  }
  std::size_t square_avg_ = 0, momentum_buffer_ = 0, grad_avg_ = 0;
};

[[maybe_unused]] static const bool rmsprop_registered = register_optimizer<RMSprop>();

}  // namespace hnn
