// torch.optim.lr_scheduler.OneCycleLR: the 1cycle policy, stepped per batch. The rate rises
// from max_lr / div_factor to max_lr over the first pct_start of total_steps, then falls to
// max_lr / div_factor / final_div_factor at the last step (three_phase: back to the start rate
// first, then down). Between a phase's start s0 (rate a) and end s1 (rate b), at step s,
// pct = (s - s0) / (s1 - s0) and the rate is
//   cos:     b + (a - b) (cos(pi pct) + 1) / 2        linear:  a + (b - a) pct
// with the phases ending at steps pct_start total - 1 and total - 1 (three_phase: pct_start
// total - 1, 2 pct_start total - 2, total - 1). With cycle_momentum the optimizer's momentum
// (SGD's and RMSprop's momentum, Adam's beta1) moves the other way, between max_momentum and
// base_momentum. Stepping past total_steps is an error, as in PyTorch; the step to
// total_steps itself (after the last batch, its rate never used) keeps the last step's values
// where PyTorch extrapolates the last phase beyond its end (to a negative rate when linear).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/optim/lr_scheduler.hpp"

namespace hnn {

struct OneCycleOptions {
  double pct_start = 0.3;         // the share of the steps spent rising, in [0, 1]
  bool cosine = true;             // anneal_strategy 'cos' (true) or 'linear'
  bool cycle_momentum = true;
  double base_momentum = 0.85;
  double max_momentum = 0.95;
  double div_factor = 25;         // the start rate is max_lr / div_factor
  double final_div_factor = 1e4;  // the last rate is the start rate / final_div_factor
  bool three_phase = false;
};

class OneCycleLR final : public LRScheduler {
 public:
  // `max_lr`: one peak rate for every group, or one per group.
  OneCycleLR(OptimizerBase& optimizer, std::vector<double> max_lr, std::int64_t total_steps, OneCycleOptions o = {},
             Interval interval = Interval::per_batch)
      : LRScheduler(optimizer, interval), max_lr_(std::move(max_lr)), total_(total_steps), o_(o) {
    if (total_steps < 1) throw std::invalid_argument(who() + ": total_steps must be at least 1, got " + std::to_string(total_steps));
    if (!(o.pct_start >= 0 && o.pct_start <= 1))
      throw std::invalid_argument(who() + ": pct_start must be between 0 and 1, got " + std::to_string(o.pct_start));
    if (!(o.div_factor > 0) || !(o.final_div_factor > 0))
      throw std::invalid_argument(who() + ": div_factor and final_div_factor must be positive");
    if (max_lr_.size() == 1) max_lr_.assign(optimizer.group_count(), max_lr_[0]);
    if (max_lr_.size() != optimizer.group_count())
      throw std::invalid_argument(who() + ": " + std::to_string(max_lr_.size()) + " max_lr values for " +
                                  std::to_string(optimizer.group_count()) + " parameter groups");
    for (double m : max_lr_)
      if (!(m > 0) || !std::isfinite(m)) throw std::invalid_argument(who() + ": max_lr must be positive and finite, got " + std::to_string(m));
    if (o.cycle_momentum) {
      if (!optimizer.has_momentum())
        throw std::invalid_argument(who() + ": optimizer " + optimizer.name() +
                                    " has no momentum to cycle; set cycle_momentum to false");
      if (!(o.base_momentum >= 0 && o.max_momentum < 1 && o.base_momentum <= o.max_momentum))
        throw std::invalid_argument(who() + ": need 0 <= base_momentum <= max_momentum < 1, got " +
                                    std::to_string(o.base_momentum) + " and " + std::to_string(o.max_momentum));
    }
    phase_end_ = phase_ends(total_steps, o);
    start();
  }
  OneCycleLR(OptimizerBase& optimizer, double max_lr, std::int64_t total_steps, OneCycleOptions o = {},
             Interval interval = Interval::per_batch)
      : OneCycleLR(optimizer, std::vector<double>{max_lr}, total_steps, o, interval) {}

  const char* name() const override { return "OneCycleLR"; }

  double lr_at(std::int64_t step, std::size_t group) const override {
    return rate(max_lr_[group], step, phase_end_, o_);
  }
  // The momentum at `step` (when cycling it).
  double momentum_at(std::int64_t step) const {
    const double values[] = {o_.max_momentum, o_.base_momentum, o_.max_momentum, o_.max_momentum};
    return along(step, phase_end_, o_, values);
  }

  // The rate at `step` of a cycle of `total_steps` peaking at `max_lr`, without an optimizer
  // (hnn::Trainer's onecycle schedule computes its rates so).
  static double formula(double max_lr, std::int64_t step, std::int64_t total_steps, const OneCycleOptions& o) {
    return rate(max_lr, step, phase_ends(total_steps, o), o);
  }

 private:
  static std::vector<double> phase_ends(std::int64_t total_steps, const OneCycleOptions& o) {
    const double t = static_cast<double>(total_steps);
    if (o.three_phase) return {o.pct_start * t - 1, 2 * o.pct_start * t - 2, t - 1};
    return {o.pct_start * t - 1, t - 1};
  }
  static double rate(double max_lr, std::int64_t step, const std::vector<double>& phase_end,
                        const OneCycleOptions& o) {
    const double initial = max_lr / o.div_factor, min = initial / o.final_div_factor;
    const double rates[] = {initial, max_lr, o.three_phase ? initial : min, min};
    return along(step, phase_end, o, rates);
  }
  // The value at `step` of the piecewise curve through points[0] at step 0 and points[k + 1]
  // at phase k's end.
  static double along(std::int64_t step, const std::vector<double>& phase_end, const OneCycleOptions& o,
                      const double* points) {
    const double s = std::min(static_cast<double>(step), phase_end.back());
    double begin = 0;
    for (std::size_t k = 0; k < phase_end.size(); ++k) {
      const double end = phase_end[k];
      if (s <= end || k + 1 == phase_end.size()) {
        const double pct = end > begin ? (s - begin) / (end - begin) : 1.0;  // a phase of no steps: at its end
        const double a = points[k], b = points[k + 1];
        if (o.cosine) return b + (a - b) / 2.0 * (std::cos(3.14159265358979323846 * pct) + 1);
        return (b - a) * pct + a;
      }
      begin = end;
    }
    return points[0];  // not reached: the last phase takes every step after the others
  }

  void apply() override {
    LRScheduler::apply();
    if (!o_.cycle_momentum) return;
    for (std::size_t g = 0; g < optimizer().group_count(); ++g) optimizer().set_momentum(g, momentum_at(steps()));
  }
  void check_step(std::int64_t step) const override {
    if (step > total_)
      throw std::invalid_argument(who() + ": stepped " + std::to_string(step) + " times, past total_steps = " +
                                  std::to_string(total_));
  }

  std::vector<double> max_lr_;
  std::int64_t total_;
  OneCycleOptions o_;
  std::vector<double> phase_end_;
};

}  // namespace hnn
