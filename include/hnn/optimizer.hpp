// The optimizers a Trainer can hold, behind one small interface: SGD (optim.hpp), Adam and
// AdamW (adam.hpp). make_optimizer() is the one place that maps a kind to a class; a new
// optimizer is an enum value, a name, an adapter below and a case there.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "hnn/adam.hpp"
#include "hnn/optim.hpp"
#include "hnn/training_state.hpp"

namespace hnn {

enum class OptimizerKind { sgd, adam, adamw };

// "sgd", "adam", "adamw": the names the CLI takes and checkpoints record.
inline const char* optimizer_name(OptimizerKind k) {
  switch (k) {
    case OptimizerKind::sgd: return "sgd";
    case OptimizerKind::adam: return "adam";
    case OptimizerKind::adamw: return "adamw";
  }
  return "?";
}

// The kind named `name`; throws std::invalid_argument for anything else.
inline OptimizerKind optimizer_kind(const std::string& name) {
  for (OptimizerKind k : {OptimizerKind::sgd, OptimizerKind::adam, OptimizerKind::adamw})
    if (name == optimizer_name(k)) return k;
  throw std::invalid_argument("unknown optimizer '" + name + "' (sgd, adam or adamw)");
}

// Everything any optimizer reads; each takes the fields it uses (PyTorch's meaning).
struct OptimizerSettings {
  OptimizerKind kind = OptimizerKind::sgd;
  double lr = 0.1;
  double momentum = 0;      // SGD
  double weight_decay = 0;  // SGD and Adam: L2 added to the gradient; AdamW: decoupled
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam, AdamW
};

// One optimizer over a model's parameters.
template <class T, class Device>
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // Applies one update from the gradients the last backward() wrote.
  virtual void step() = 0;
  virtual double lr() const = 0;
  virtual void set_lr(double lr) = 0;
  virtual OptimizerKind kind() const = 0;
  const char* name() const { return optimizer_name(kind()); }
  // Whether every step() launches the same work with the same arguments, so that a GPU may
  // record it once and replay it (false for Adam, whose bias correction changes every step).
  virtual bool replayable() const = 0;
  // The state an exact resume needs, copied to the host (layout: OptimizerState).
  virtual OptimizerState state() const = 0;
  // Throws std::invalid_argument (prefixed by `who`) unless `s` fits this optimizer; changes nothing.
  void check(const OptimizerState& s, const std::string& who) const {
    if (s.name != name())
      throw std::invalid_argument(who + ": the saved state is optimizer " + s.name + "'s, this run uses " + name() +
                                  "; resume with the optimizer the run was started with (" + s.name + ")");
    if (s.step < 0) throw std::invalid_argument(who + ": negative optimizer step count " + std::to_string(s.step));
    const std::vector<Shape> shapes = buffer_shapes();
    if (s.buffers.size() != shapes.size())
      throw std::invalid_argument(who + ": the saved state holds " + std::to_string(s.buffers.size()) + " " + name() +
                                  " buffers, this optimizer has " + std::to_string(shapes.size()) + " (" +
                                  buffers_explained() + ")");
    for (std::size_t i = 0; i < shapes.size(); ++i)
      if (s.buffers[i].shape() != shapes[i])
        throw std::invalid_argument(who + ": " + name() + " buffer " + std::to_string(i) + " has shape " +
                                    s.buffers[i].shape().str() + ", the parameter has " + shapes[i].str());
  }
  // Overwrites the state in place (buffers keep their addresses); call check() first.
  virtual void restore(const OptimizerState& s) = 0;

 protected:
  virtual std::vector<Shape> buffer_shapes() const = 0;
  virtual std::string buffers_explained() const = 0;

  static Tensor<float, cpu> to_host_float(const Tensor<T, Device>& t) {
    const Tensor<T, cpu> host = t.template to<cpu>();
    Tensor<float, cpu> f(host.shape());
    for (std::int64_t i = 0; i < host.numel(); ++i) f[i] = static_cast<float>(host[i]);
    return f;
  }
  static Tensor<T, cpu> from_host_float(const Tensor<float, cpu>& f) {
    Tensor<T, cpu> t(f.shape());
    for (std::int64_t i = 0; i < f.numel(); ++i) t[i] = static_cast<T>(f[i]);
    return t;
  }
};

template <class T, class Device>
class SgdOptimizer final : public Optimizer<T, Device> {
 public:
  SgdOptimizer(std::vector<Parameter<T, Device>> parameters, const OptimizerSettings& s)
      : sgd_(std::move(parameters), SgdOptions{s.lr, s.momentum, s.weight_decay}) {}
  void step() override { sgd_.step(); }
  double lr() const override { return sgd_.options().lr; }
  void set_lr(double lr) override { sgd_.set_lr(lr); }
  OptimizerKind kind() const override { return OptimizerKind::sgd; }
  bool replayable() const override { return true; }
  OptimizerState state() const override {
    OptimizerState s;
    s.name = this->name();
    for (const auto& v : sgd_.velocity()) s.buffers.push_back(this->to_host_float(v));
    return s;
  }
  void restore(const OptimizerState& s) override {
    for (std::size_t i = 0; i < s.buffers.size(); ++i) sgd_.set_velocity(i, this->from_host_float(s.buffers[i]));
  }

 private:
  std::vector<Shape> buffer_shapes() const override {
    std::vector<Shape> shapes;
    for (const auto& v : sgd_.velocity()) shapes.push_back(v.shape());
    return shapes;
  }
  std::string buffers_explained() const override {
    return "momentum " + std::to_string(sgd_.options().momentum) +
           ": one velocity buffer per parameter with momentum, none without; resume with the momentum the run was "
           "started with";
  }
  SGD<T, Device> sgd_;
};

// Adam or AdamW (adam.hpp): `A` is Adam<T, Device> or AdamW<T, Device>.
template <class T, class Device, class A>
class AdamOptimizer final : public Optimizer<T, Device> {
  static constexpr bool decoupled = std::is_same_v<A, AdamW<T, Device>>;
  using Options = std::conditional_t<decoupled, AdamWOptions, AdamOptions>;

 public:
  AdamOptimizer(std::vector<Parameter<T, Device>> parameters, const OptimizerSettings& s)
      : adam_(std::move(parameters), Options{s.lr, s.beta1, s.beta2, s.eps, s.weight_decay}) {}
  void step() override { adam_.step(); }
  double lr() const override { return adam_.options().lr; }
  void set_lr(double lr) override { adam_.set_lr(lr); }
  OptimizerKind kind() const override { return decoupled ? OptimizerKind::adamw : OptimizerKind::adam; }
  bool replayable() const override { return false; }
  OptimizerState state() const override {
    OptimizerState s;
    s.name = this->name();
    s.step = adam_.step_count();
    for (const auto& m : adam_.exp_avg()) s.buffers.push_back(this->to_host_float(m));
    for (const auto& v : adam_.exp_avg_sq()) s.buffers.push_back(this->to_host_float(v));
    return s;
  }
  void restore(const OptimizerState& s) override {
    const std::size_t n = adam_.exp_avg().size();
    for (std::size_t i = 0; i < n; ++i)
      adam_.set_moments(i, this->from_host_float(s.buffers[i]), this->from_host_float(s.buffers[n + i]));
    adam_.set_step_count(s.step);
  }

 private:
  std::vector<Shape> buffer_shapes() const override {
    std::vector<Shape> shapes;
    for (const auto& m : adam_.exp_avg()) shapes.push_back(m.shape());
    for (const auto& v : adam_.exp_avg_sq()) shapes.push_back(v.shape());
    return shapes;
  }
  std::string buffers_explained() const override { return "exp_avg then exp_avg_sq, one each per parameter"; }
  A adam_;
};

// Throws std::invalid_argument (prefixed by `who`) unless the settings make sense for their kind.
inline void validate(const OptimizerSettings& s, const std::string& who) {
  const auto fail = [&](const std::string& what) { throw std::invalid_argument(who + ": " + what); };
  if (!(s.lr > 0) || !std::isfinite(s.lr)) fail("learning rate must be positive and finite");
  if (!(s.weight_decay >= 0) || !std::isfinite(s.weight_decay)) fail("weight decay must be at least 0 and finite");
  if (s.kind == OptimizerKind::sgd) {
    if (!(s.momentum >= 0 && s.momentum < 1)) fail("momentum must be at least 0 and below 1");
    return;
  }
  if (s.momentum != 0)
    fail(std::string("momentum applies to sgd only; ") + optimizer_name(s.kind) + " uses betas (got momentum " +
         std::to_string(s.momentum) + ")");
  if (!(s.beta1 >= 0 && s.beta1 < 1)) fail("beta1 must be at least 0 and below 1, got " + std::to_string(s.beta1));
  if (!(s.beta2 >= 0 && s.beta2 < 1)) fail("beta2 must be at least 0 and below 1, got " + std::to_string(s.beta2));
  if (!(s.eps >= 0) || !std::isfinite(s.eps)) fail("eps must be at least 0 and finite, got " + std::to_string(s.eps));
}

// The optimizer `s.kind` names, over `parameters`, after validate().
template <class T, class Device>
std::unique_ptr<Optimizer<T, Device>> make_optimizer(std::vector<Parameter<T, Device>> parameters,
                                                     const OptimizerSettings& s) {
  validate(s, "hnn::make_optimizer");
  switch (s.kind) {
    case OptimizerKind::sgd: return std::make_unique<SgdOptimizer<T, Device>>(std::move(parameters), s);
    case OptimizerKind::adam: return std::make_unique<AdamOptimizer<T, Device, Adam<T, Device>>>(std::move(parameters), s);
    case OptimizerKind::adamw: return std::make_unique<AdamOptimizer<T, Device, AdamW<T, Device>>>(std::move(parameters), s);
  }
  throw std::invalid_argument("hnn::make_optimizer: unknown optimizer kind");
}

}  // namespace hnn
