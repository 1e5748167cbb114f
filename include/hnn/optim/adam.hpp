// torch.optim.Adam (amsgrad off): adaptive moments with bias correction and L2 weight decay
// added to the gradient, PyTorch's defaults and checks. The update: kernels/adam.hpp. AdamW
// (optim/adamw.hpp) is the same update with decoupled weight decay.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "hnn/kernels/adam.hpp"
#include "hnn/optim/optimizer.hpp"
#include "hnn/optim/registry.hpp"

namespace hnn {

struct AdamOptions {
  static constexpr const char* optimizer = "Adam";
  double lr = 1e-3;
  double beta1 = 0.9;        // in [0, 1): the first moment's decay (PyTorch's betas[0])
  double beta2 = 0.999;      // in [0, 1): the second moment's decay (betas[1])
  double eps = 1e-8;         // at least 0
  double weight_decay = 0;   // L2, added to the gradient; at least 0

  template <class Visit>
  void visit(Visit&& v) {
    v("lr", lr);
    v("beta1", beta1);
    v("beta2", beta2);
    v("eps", eps);
    v("weight_decay", weight_decay);
  }
  void check(const std::string& who) const {
    detail::require_learning_rate(who, lr);
    detail::require_fraction(who, "beta1", beta1);
    detail::require_fraction(who, "beta2", beta2);
    detail::require_at_least(who, "eps", eps, 0);
    detail::require_at_least(who, "weight decay", weight_decay, 0);
  }
};

namespace detail {

// Adam and AdamW: the moments (exp_avg, exp_avg_sq) per parameter, the update with the step
// count read from device memory (so a recorded CUDA graph replays each step's bias correction).
template <class T, class Device, class Options, bool Decoupled>
class AdamFamily : public GroupedOptimizer<T, Device, Options> {
  using Base = GroupedOptimizer<T, Device, Options>;

 public:
  void step() override {
    this->advance_step_count();
    const auto& parameters = this->parameters();
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      const Parameter<T, Device>& p = parameters[i].parameter;
      const Options& o = this->options(parameters[i].group);
      adam_update(Device{}, p.value->numel(), p.value->data(), p.grad->data(), this->buffer_data(exp_avg_, i),
                  this->buffer_data(exp_avg_sq_, i), AdamHyper{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, Decoupled},
                  this->step_count());
    }
  }
  // The momentum a cyclic schedule varies is beta1, as in PyTorch.
  bool has_momentum() const override { return true; }
  double momentum(std::size_t group) const override { return this->options(group).beta1; }
  void set_momentum(std::size_t group, double beta1) override {
    this->require_group(group, "set_momentum");
    Options o = this->options(group);
    o.beta1 = beta1;
    if (!(beta1 >= 0 && beta1 < 1))  // the message only when it fails: a schedule calls this every step
      o.check(std::string("hnn::") + Options::optimizer + "::set_momentum (group " + std::to_string(group) + ")");
    this->group_options(group).beta1 = beta1;
  }

 protected:
  AdamFamily(std::vector<ParameterGroup<T, Device>> groups, const Options& defaults) : Base(std::move(groups), defaults) {
    exp_avg_ = this->add_buffer("exp_avg", [](std::size_t) { return true; });
    exp_avg_sq_ = this->add_buffer("exp_avg_sq", [](std::size_t) { return true; });
  }

 private:
  std::string buffers_explained() const override { return "exp_avg then exp_avg_sq, one each per parameter"; }
  std::size_t exp_avg_ = 0, exp_avg_sq_ = 0;
};

}  // namespace detail

template <class T, class Device = cpu>
class Adam final : public detail::AdamFamily<T, Device, AdamOptions, false> {
 public:
  using options_type = AdamOptions;
  static constexpr const char* kind = "adam";
  Adam(std::vector<Parameter<T, Device>> parameters, AdamOptions options = {})
      : Adam(one_group(std::move(parameters)), options) {}
  Adam(std::vector<ParameterGroup<T, Device>> groups, AdamOptions defaults)
      : detail::AdamFamily<T, Device, AdamOptions, false>(std::move(groups), defaults) {}
  const char* name() const override { return kind; }
};

[[maybe_unused]] static const bool adam_registered = register_optimizer<Adam>();

}  // namespace hnn
