// torch.optim.lr_scheduler.SequentialLR: schedules one after another, switching at milestones
// (step counts); each starts from its own step 0 when its turn comes:
//   rate(step) = schedules[k].lr_at(step - milestones[k - 1]),  k = the number of milestones <= step
// warmup_cosine() makes the usual chain: a linear warm-up, then a cosine decay.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hnn/optim/cosine_annealing_lr.hpp"
#include "hnn/optim/linear_lr.hpp"
#include "hnn/optim/lr_scheduler.hpp"

namespace hnn {

class SequentialLR final : public LRScheduler {
 public:
  // One milestone fewer than schedules, increasing and positive; every schedule on `optimizer`.
  SequentialLR(OptimizerBase& optimizer, std::vector<std::unique_ptr<LRScheduler>> schedules,
               std::vector<std::int64_t> milestones, Interval interval = Interval::per_epoch)
      : LRScheduler(optimizer, interval), schedules_(std::move(schedules)), milestones_(std::move(milestones)) {
    if (schedules_.empty()) throw std::invalid_argument(who() + ": no schedules");
    if (milestones_.size() + 1 != schedules_.size())
      throw std::invalid_argument(who() + ": " + std::to_string(schedules_.size()) + " schedules need " +
                                  std::to_string(schedules_.size() - 1) + " milestones, got " +
                                  std::to_string(milestones_.size()));
    for (std::size_t i = 0; i < schedules_.size(); ++i)
      if (schedules_[i] == nullptr || &schedules_[i]->optimizer() != &optimizer)
        throw std::invalid_argument(who() + ": schedule " + std::to_string(i) + " is not attached to this optimizer");
    for (std::size_t i = 0; i < milestones_.size(); ++i)
      if (milestones_[i] < 1 || (i > 0 && milestones_[i] <= milestones_[i - 1]))
        throw std::invalid_argument(who() + ": milestones must be increasing and positive; milestone " +
                                    std::to_string(i) + " is " + std::to_string(milestones_[i]));
    start();
  }
  const char* name() const override { return "SequentialLR"; }
  double lr_at(std::int64_t step, std::size_t group) const override {
    const std::size_t k = static_cast<std::size_t>(std::upper_bound(milestones_.begin(), milestones_.end(), step) -
                                                   milestones_.begin());
    return schedules_[k]->lr_at(k == 0 ? step : step - milestones_[k - 1], group);
  }

 private:
  std::vector<std::unique_ptr<LRScheduler>> schedules_;
  std::vector<std::int64_t> milestones_;
};

// A linear warm-up over `warmup_steps` from start_factor x the base rate, then a cosine decay
// to eta_min over the remaining total_steps - warmup_steps.
inline std::unique_ptr<SequentialLR> warmup_cosine(OptimizerBase& optimizer, std::int64_t warmup_steps,
                                                   std::int64_t total_steps, double start_factor = 0.1,
                                                   double eta_min = 0,
                                                   LRScheduler::Interval interval = LRScheduler::Interval::per_epoch) {
  if (warmup_steps < 1 || total_steps <= warmup_steps)
    throw std::invalid_argument("hnn::warmup_cosine: need 1 <= warmup_steps < total_steps, got " +
                                std::to_string(warmup_steps) + " and " + std::to_string(total_steps));
  std::vector<std::unique_ptr<LRScheduler>> chain;
  chain.push_back(std::make_unique<LinearLR>(optimizer, start_factor, 1.0, warmup_steps, interval));
  chain.push_back(std::make_unique<CosineAnnealingLR>(optimizer, total_steps - warmup_steps, eta_min, interval));
  return std::make_unique<SequentialLR>(optimizer, std::move(chain), std::vector<std::int64_t>{warmup_steps}, interval);
}

}  // namespace hnn
