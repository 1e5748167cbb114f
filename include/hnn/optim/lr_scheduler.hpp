// Learning-rate schedules as objects, shaped like torch.optim.lr_scheduler: a schedule is
// attached to an optimizer, sets the rate of step 0 when it is made, and sets the next step's
// rate at each step(). Each schedule says whether it steps per batch or per epoch
// (interval(): OneCycleLR per batch, the others per epoch unless set otherwise), so that a
// trainer knows when to call step():
//
//   hnn::SGD<float> sgd(model.parameters(), {0.1, 0.9});
//   hnn::CosineAnnealingLR cosine(sgd, /*t_max=*/epochs);     // sgd.lr() is 0.1 now
//   for (int epoch = 0; epoch < epochs; ++epoch) { train one epoch...; cosine.step(); }
//
// The rates come from closed forms of the step count (each schedule's file gives PyTorch's
// formula), so a schedule's whole state is its step count: state() / restore() carry it in a
// checkpoint (hnn/training/training_state.hpp). Every group's base rate is the rate the optimizer was
// built with (optimizer.initial_lr(group), PyTorch's initial_lr).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "hnn/optim/optimizer.hpp"
#include "hnn/training/training_state.hpp"

namespace hnn {

class LRScheduler {
 public:
  enum class Interval { per_batch, per_epoch };

  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // "CosineAnnealingLR": what checkpoints record.
  virtual const char* name() const = 0;
  // The rate of group `group` at step `step` (0: the rate before the first step()).
  virtual double lr_at(std::int64_t step, std::size_t group) const = 0;

  // Moves to the next step and sets every group's rate for it.
  void step() {
    check_step(steps_ + 1);
    ++steps_;
    apply();
  }
  // Steps taken (PyTorch's last_epoch).
  std::int64_t steps() const { return steps_; }
  // The rate this schedule set for `group` now.
  double lr(std::size_t group = 0) const { return lr_at(steps_, group); }

  Interval interval() const { return interval_; }
  void set_interval(Interval interval) { interval_ = interval; }
  OptimizerBase& optimizer() const { return *optimizer_; }

  // The state a resume needs, and its restoration: the rates of that step are set at once.
  ScheduleState state() const { return {name(), steps_}; }
  void restore(const ScheduleState& s) {
    if (s.name != name())
      throw std::invalid_argument(std::string("hnn::") + name() + "::restore: the saved state is schedule " +
                                  (s.name.empty() ? std::string("(none)") : s.name) + "'s; resume with the schedule the run was started with");
    if (s.steps < 0) throw std::invalid_argument(std::string("hnn::") + name() + "::restore: negative step count " + std::to_string(s.steps));
    check_step(s.steps);
    steps_ = s.steps;
    apply();
  }

 protected:
  LRScheduler(OptimizerBase& optimizer, Interval interval) : optimizer_(&optimizer), interval_(interval) {}

  // Derived constructors call this once their parameters are checked: step 0's rates.
  void start() { apply(); }
  // Sets every group's rate for the current step (OneCycleLR sets its momentum too).
  virtual void apply() {
    for (std::size_t g = 0; g < optimizer_->group_count(); ++g) optimizer_->set_lr(g, lr_at(steps_, g));
  }
  // Throws if `step` is past the schedule's end (OneCycleLR's total steps); others have none.
  virtual void check_step(std::int64_t) const {}

  double base_lr(std::size_t group) const { return optimizer_->initial_lr(group); }
  std::string who() const { return std::string("hnn::") + name(); }

 private:
  OptimizerBase* optimizer_;
  Interval interval_;
  std::int64_t steps_ = 0;
};

}  // namespace hnn
