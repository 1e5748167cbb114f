// torch.optim.lr_scheduler.LinearLR: a linear ramp of the rate's factor from start_factor to
// end_factor over total_iters steps, then constant (a warm-up with the defaults' shape):
//   base_lr * (start_factor + (end_factor - start_factor) * min(step, total_iters) / total_iters)
// warmup_cosine() below chains it with CosineAnnealingLR through SequentialLR.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "hnn/optim/lr_scheduler.hpp"

namespace hnn {

class LinearLR final : public LRScheduler {
 public:
  // start_factor in (0, 1], end_factor in [0, 1], total_iters >= 1 (PyTorch's checks and defaults).
  explicit LinearLR(OptimizerBase& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
                    std::int64_t total_iters = 5, Interval interval = Interval::per_epoch)
      : LRScheduler(optimizer, interval), start_(start_factor), end_(end_factor), total_(total_iters) {
    if (!(start_factor > 0 && start_factor <= 1))
      throw std::invalid_argument(who() + ": start_factor must be above 0 and at most 1, got " + std::to_string(start_factor));
    if (!(end_factor >= 0 && end_factor <= 1))
      throw std::invalid_argument(who() + ": end_factor must be at least 0 and at most 1, got " + std::to_string(end_factor));
    if (total_iters < 1) throw std::invalid_argument(who() + ": total_iters must be at least 1, got " + std::to_string(total_iters));
    start();
  }
  const char* name() const override { return "LinearLR"; }
  double lr_at(std::int64_t step, std::size_t group) const override {
    const double done = static_cast<double>(std::min(step, total_)) / static_cast<double>(total_);
    return base_lr(group) * (start_ + (end_ - start_) * done);
  }

 private:
  double start_, end_;
  std::int64_t total_;
};

}  // namespace hnn
