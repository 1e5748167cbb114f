// torch.optim.AdamW: Adam (optim/adam.hpp) with decoupled weight decay, param *= 1 - lr *
// weight_decay before the update, and PyTorch's default weight decay of 0.01.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "hnn/optim/adam.hpp"

namespace hnn {

struct AdamWOptions {
  static constexpr const char* optimizer = "AdamW";
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;  // decoupled; at least 0

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

template <class T, class Device = cpu>
class AdamW final : public detail::AdamFamily<T, Device, AdamWOptions, true> {
 public:
  using options_type = AdamWOptions;
  static constexpr const char* kind = "adamw";
  AdamW(std::vector<Parameter<T, Device>> parameters, AdamWOptions options = {})
      : AdamW(one_group(std::move(parameters)), options) {}
  AdamW(std::vector<ParameterGroup<T, Device>> groups, AdamWOptions defaults)
      : detail::AdamFamily<T, Device, AdamWOptions, true>(std::move(groups), defaults) {}
  const char* name() const override { return kind; }
};

[[maybe_unused]] static const bool adamw_registered = register_optimizer<AdamW>();

}  // namespace hnn
