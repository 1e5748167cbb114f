// Runs a block in training or evaluation mode and puts the model back in the mode it was in,
// also when the block throws:
//   { hnn::ScopedMode eval_mode(model, /*training=*/false); ... model.forward(x) ... }
#pragma once

namespace hnn {

template <class Model>
class ScopedMode {
 public:
  ScopedMode(Model& model, bool training) : model_(model), was_training_(model.training()) { model_.train(training); }
  ~ScopedMode() { model_.train(was_training_); }
  ScopedMode(const ScopedMode&) = delete;
  ScopedMode& operator=(const ScopedMode&) = delete;

 private:
  Model& model_;
  bool was_training_;
};

}  // namespace hnn
