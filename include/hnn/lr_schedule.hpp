// Learning-rate schedules, as PyTorch computes them per epoch (closed forms; they equal
// torch.optim.lr_scheduler's recursive updates at integer epochs). Use:
//   CosineAnnealingLR schedule(base_lr, /*t_max=*/epochs);
//   for (epoch = 0; ...) { optimizer.set_lr(schedule.lr(epoch)); train one epoch; }
// Epoch 0 is the first epoch (PyTorch's last_epoch after `epoch` calls of scheduler.step()).
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace hnn {

// torch.optim.lr_scheduler.StepLR: base_lr * gamma ^ floor(epoch / step_size).
class StepLR {
 public:
  StepLR(double base_lr, std::int64_t step_size, double gamma = 0.1)
      : base_lr_(base_lr), step_size_(step_size), gamma_(gamma) {
    if (step_size < 1) throw std::invalid_argument("hnn::StepLR: step_size must be at least 1, got " + std::to_string(step_size));
  }
  double lr(std::int64_t epoch) const {
    return base_lr_ * std::pow(gamma_, static_cast<double>(epoch / step_size_));
  }

 private:
  double base_lr_;
  std::int64_t step_size_;
  double gamma_;
};

// torch.optim.lr_scheduler.CosineAnnealingLR (without restarts):
//   eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2,
// which reaches eta_min at epoch t_max and, as PyTorch's, rises again after it (period 2 t_max).
class CosineAnnealingLR {
 public:
  CosineAnnealingLR(double base_lr, std::int64_t t_max, double eta_min = 0)
      : base_lr_(base_lr), t_max_(t_max), eta_min_(eta_min) {
    if (t_max < 1) throw std::invalid_argument("hnn::CosineAnnealingLR: T_max must be at least 1, got " + std::to_string(t_max));
  }
  double lr(std::int64_t epoch) const {
    const double pi = 3.14159265358979323846;
    return eta_min_ + (base_lr_ - eta_min_) * (1 + std::cos(pi * static_cast<double>(epoch) / static_cast<double>(t_max_))) / 2;
  }

 private:
  double base_lr_;
  std::int64_t t_max_;
  double eta_min_;
};

// The schedules a Trainer applies (TrainOptions::schedule), by name: "constant", "step", "cosine".
enum class ScheduleKind { constant, step, cosine };

inline const char* schedule_name(ScheduleKind k) {
  switch (k) {
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::step: return "step";
    case ScheduleKind::cosine: return "cosine";
  }
  return "?";
}

// The kind named `name`; throws std::invalid_argument for anything else.
inline ScheduleKind schedule_kind(const std::string& name) {
  for (ScheduleKind k : {ScheduleKind::constant, ScheduleKind::step, ScheduleKind::cosine})
    if (name == schedule_name(k)) return k;
  throw std::invalid_argument("unknown learning-rate schedule '" + name + "' (constant, step or cosine)");
}

}  // namespace hnn
