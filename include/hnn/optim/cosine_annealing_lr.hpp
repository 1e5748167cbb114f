// torch.optim.lr_scheduler.CosineAnnealingLR (without restarts), in closed form:
//   eta_min + (base_lr - eta_min) * (1 + cos(pi * step / t_max)) / 2,
// which reaches eta_min at step t_max and, as PyTorch's, rises again after it (period 2 t_max).
// PyTorch computes it recursively; the two agree to rounding.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "hnn/optim/lr_scheduler.hpp"

namespace hnn {

class CosineAnnealingLR final : public LRScheduler {
 public:
  CosineAnnealingLR(OptimizerBase& optimizer, std::int64_t t_max, double eta_min = 0,
                    Interval interval = Interval::per_epoch)
      : LRScheduler(optimizer, interval), t_max_(t_max), eta_min_(eta_min) {
    if (!(eta_min >= 0) || !std::isfinite(eta_min))
      throw std::invalid_argument(who() + ": eta_min must be at least 0 and finite, got " + std::to_string(eta_min));
    start();  // formula() checks t_max
  }
  const char* name() const override { return "CosineAnnealingLR"; }
  double lr_at(std::int64_t step, std::size_t group) const override {
    return formula(base_lr(group), step, t_max_, eta_min_);
  }
  // The rate itself, for code that has a base rate and a step but no optimizer.
  static double formula(double base_lr, std::int64_t step, std::int64_t t_max, double eta_min = 0) {
    if (t_max < 1) throw std::invalid_argument("hnn::CosineAnnealingLR: T_max must be at least 1, got " + std::to_string(t_max));
    const double pi = 3.14159265358979323846;
    return eta_min + (base_lr - eta_min) * (1 + std::cos(pi * static_cast<double>(step) / static_cast<double>(t_max))) / 2;
  }

 private:
  std::int64_t t_max_;
  double eta_min_;
};

}  // namespace hnn
