// What a fit()'s on_epoch usually does, as small callable objects: stop when the monitored
// loss has not improved for a while (EarlyStopping), and keep the best model seen (KeepBest).
// Both watch test_loss, or train_loss when there is no evaluation set.
//
//   hnn::EarlyStopping stop(/*patience=*/3);
//   hnn::KeepBest<float> best(model);
//   loop.fit(train, &test, 50, [&](const hnn::EpochStats& e) { best(e); return stop(e); });
//   best.restore();                                   // the model as it was at best.epoch()
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/layers/layer.hpp"
#include "hnn/training/training_state.hpp"

namespace hnn {

// The loss a callback watches: the evaluation's when there was one, else the training loss.
inline double monitored_loss(const EpochStats& e) { return std::isnan(e.test_loss) ? e.train_loss : e.test_loss; }

// torch-style early stopping: returns false (stop) once `patience` epochs in a row have not
// lowered the best loss by more than `min_delta`.
class EarlyStopping {
 public:
  explicit EarlyStopping(int patience, double min_delta = 0) : patience_(patience), min_delta_(min_delta) {
    if (patience < 1) throw std::invalid_argument("hnn::EarlyStopping: patience must be at least 1, got " + std::to_string(patience));
    if (!(min_delta >= 0)) throw std::invalid_argument("hnn::EarlyStopping: min_delta must be at least 0");
  }

  bool operator()(const EpochStats& e) {
    const double loss = monitored_loss(e);
    if (loss < best_ - min_delta_) {
      best_ = loss;
      stale_ = 0;
    } else {
      ++stale_;
    }
    return stale_ < patience_;
  }

  double best() const { return best_; }
  int epochs_without_improvement() const { return stale_; }

 private:
  int patience_;
  double min_delta_;
  double best_ = std::numeric_limits<double>::infinity();
  int stale_ = 0;
};

// Copies the model's parameters and buffers (its state_dict) to the host whenever the
// monitored loss reaches a new low; restore() puts the best copy back. `on_improved`, when
// given, runs after each new copy (to save it to a file: hnn::save(model, path)). Returns true,
// so that it composes with EarlyStopping in one on_epoch.
template <class T, class Device = cpu>
class KeepBest {
 public:
  explicit KeepBest(Layer<T, Device>& model, std::function<void(const EpochStats&)> on_improved = {})
      : model_(model), on_improved_(std::move(on_improved)) {}

  bool operator()(const EpochStats& e) {
    const double loss = monitored_loss(e);
    if (!(loss < best_)) return true;
    best_ = loss;
    best_epoch_ = e.epoch;
    const std::vector<NamedTensor<T, Device>> state = model_.state_dict();
    saved_.clear();
    for (const NamedTensor<T, Device>& t : state) saved_.push_back(t.value->template to<cpu>());
    if (on_improved_) on_improved_(e);
    return true;
  }

  // Puts the best parameters and buffers back into the model; throws if none was kept.
  void restore() const {
    if (best_epoch_ < 0) throw std::logic_error("hnn::KeepBest::restore: no epoch has been seen yet");
    const std::vector<NamedTensor<T, Device>> state = model_.state_dict();
    if (state.size() != saved_.size())
      throw std::logic_error("hnn::KeepBest::restore: the model's tensors changed since the copy was taken");
    for (std::size_t i = 0; i < state.size(); ++i) state[i].value->copy_from(saved_[i]);
  }

  int best_epoch() const { return best_epoch_; }  // -1 before the first epoch
  double best_loss() const { return best_; }

 private:
  Layer<T, Device>& model_;
  std::function<void(const EpochStats&)> on_improved_;
  double best_ = std::numeric_limits<double>::infinity();
  int best_epoch_ = -1;
  std::vector<Tensor<T, cpu>> saved_;
};

}  // namespace hnn
