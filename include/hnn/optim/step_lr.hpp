// torch.optim.lr_scheduler.StepLR and MultiStepLR: the base rate times gamma at every
// step_size-th step, or at each milestone.
//   StepLR:       base_lr * gamma ^ floor(step / step_size)
//   MultiStepLR:  base_lr * gamma ^ (the number of milestones <= step)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hnn/optim/lr_scheduler.hpp"

namespace hnn {

class StepLR final : public LRScheduler {
 public:
  StepLR(OptimizerBase& optimizer, std::int64_t step_size, double gamma = 0.1, Interval interval = Interval::per_epoch)
      : LRScheduler(optimizer, interval), step_size_(step_size), gamma_(gamma) {
    if (!(gamma > 0) || !std::isfinite(gamma))
      throw std::invalid_argument(who() + ": gamma must be positive and finite, got " + std::to_string(gamma));
    start();  // formula() checks step_size
  }
  const char* name() const override { return "StepLR"; }
  double lr_at(std::int64_t step, std::size_t group) const override {
    return formula(base_lr(group), step, step_size_, gamma_);
  }
  // The rate itself, for code that has a base rate and a step but no optimizer.
  static double formula(double base_lr, std::int64_t step, std::int64_t step_size, double gamma) {
    if (step_size < 1) throw std::invalid_argument("hnn::StepLR: step_size must be at least 1, got " + std::to_string(step_size));
    return base_lr * std::pow(gamma, static_cast<double>(step / step_size));
  }

 private:
  std::int64_t step_size_;
  double gamma_;
};

class MultiStepLR final : public LRScheduler {
 public:
  // `milestones`: increasing step counts.
  MultiStepLR(OptimizerBase& optimizer, std::vector<std::int64_t> milestones, double gamma = 0.1,
              Interval interval = Interval::per_epoch)
      : LRScheduler(optimizer, interval), milestones_(std::move(milestones)), gamma_(gamma) {
    for (std::size_t i = 0; i < milestones_.size(); ++i)
      if (milestones_[i] < 0 || (i > 0 && milestones_[i] <= milestones_[i - 1]))
        throw std::invalid_argument(who() + ": milestones must be increasing and not negative; milestone " +
                                    std::to_string(i) + " is " + std::to_string(milestones_[i]));
    if (!(gamma > 0) || !std::isfinite(gamma))
      throw std::invalid_argument(who() + ": gamma must be positive and finite, got " + std::to_string(gamma));
    start();
  }
  const char* name() const override { return "MultiStepLR"; }
  double lr_at(std::int64_t step, std::size_t group) const override {
    const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
    return base_lr(group) * std::pow(gamma_, static_cast<double>(passed));
  }

 private:
  std::vector<std::int64_t> milestones_;
  double gamma_;
};

}  // namespace hnn
