// The optimizer interface, shaped like torch.optim.Optimizer, and what its implementations
// share. Each optimizer is one file (optim/sgd.hpp, adam.hpp, adamw.hpp, rmsprop.hpp) holding
// its options (defaults and checks in one place), its update (a kernel op) and one line that
// registers it by name (optim/registry.hpp).
//
//   hnn::SGD<float> sgd(model.parameters(), {/*lr=*/0.1, /*momentum=*/0.9});
//   ... model.backward(...); sgd.step();
//
// Parameter groups, as torch.optim's param_groups: each group overrides some of the options
// (by their names, e.g. {{"weight_decay", 0}}); no_decay_groups() below makes the usual pair.
//   hnn::AdamW<float> adamw(hnn::no_decay_groups(model), hnn::AdamWOptions{});
//
// The state a resume needs (the step count and every buffer) goes to and from a checkpoint as
// an OptimizerState (hnn/training/training_state.hpp). The step count lives in device memory and every
// update reads it there, so a step recorded once as a CUDA graph replays correctly (Adam's
// bias correction included); a set_lr() or set_momentum() changes what the kernels are
// given, so a recorded step must be recorded again after one.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "hnn/kernels/batch.hpp"  // advance_batch_number: increments an int64 in device memory
#include "hnn/layers/layer.hpp"
#include "hnn/training/training_state.hpp"

namespace hnn {

// Options by name, as a program's flags or a parameter group give them: {"lr", 0.1},
// {"nesterov", 1}. Booleans are 0 or 1.
using OptimizerArgs = std::map<std::string, double>;

// Some of the model's parameters and the options that differ for them.
template <class T, class Device>
struct ParameterGroup {
  std::vector<Parameter<T, Device>> parameters;
  OptimizerArgs options;  // overrides of the optimizer's options for this group, by name
};

// All of `parameters` as the one group of an optimizer.
template <class T, class Device>
std::vector<ParameterGroup<T, Device>> one_group(std::vector<Parameter<T, Device>> parameters) {
  std::vector<ParameterGroup<T, Device>> groups(1);
  groups[0].parameters = std::move(parameters);
  return groups;
}

// The two groups of the usual recipe: weight decay on the weights of convolutions and linear
// layers, none on biases and normalisation weights (the parameters of at most one dimension,
// or named "*bias"). `names` are the parameters' full names (Sequential::parameter_names()).
template <class T, class Device>
std::vector<ParameterGroup<T, Device>> no_decay_groups(const std::vector<Parameter<T, Device>>& parameters,
                                                       const std::vector<std::string>& names) {
  if (names.size() != parameters.size())
    throw std::invalid_argument("hnn::no_decay_groups: " + std::to_string(names.size()) + " names for " +
                                std::to_string(parameters.size()) + " parameters");
  std::vector<ParameterGroup<T, Device>> groups(2);
  groups[1].options["weight_decay"] = 0;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const std::string& name = names[i];
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    groups[parameters[i].value->rank() <= 1 || is_bias ? 1 : 0].parameters.push_back(parameters[i]);
  }
  return groups;
}

// The same for a model (anything with parameters() and parameter_names(): Sequential).
template <class Model>
auto no_decay_groups(const Model& model) {
  return no_decay_groups(model.parameters(), model.parameter_names());
}

// What a learning-rate schedule sees of an optimizer, whatever its T and device.
class OptimizerBase {
 public:
  virtual ~OptimizerBase() = default;
  // "sgd": the name make_optimizer() finds it by and checkpoints record.
  virtual const char* name() const = 0;
  virtual std::size_t group_count() const = 0;
  // A group's learning rate now, and the one it was constructed with (a schedule's base).
  virtual double lr(std::size_t group = 0) const = 0;
  virtual double initial_lr(std::size_t group) const = 0;
  // Sets one group's rate, or every group's; at least 0 and finite.
  virtual void set_lr(std::size_t group, double lr) = 0;
  void set_lr(double lr) {
    for (std::size_t g = 0; g < group_count(); ++g) set_lr(g, lr);
  }
  // The momentum a cyclic schedule (OneCycleLR) varies: SGD's and RMSprop's momentum, Adam's
  // beta1. Optimizers without one say so and throw from the other two.
  virtual bool has_momentum() const { return false; }
  virtual double momentum(std::size_t group) const;
  virtual void set_momentum(std::size_t group, double momentum);
  // Steps taken (on a GPU this reads device memory, so it waits).
  virtual std::int64_t steps() const = 0;

 protected:
  void require_group(std::size_t group, const char* what) const {
    if (group >= group_count())
      throw std::out_of_range(std::string("hnn::") + name() + "::" + what + ": group " + std::to_string(group) +
                              " does not exist (" + std::to_string(group_count()) + " groups)");
  }
};

inline double OptimizerBase::momentum(std::size_t) const {
  throw std::logic_error(std::string("hnn::") + name() + " has no momentum");
}
inline void OptimizerBase::set_momentum(std::size_t, double) {
  throw std::logic_error(std::string("hnn::") + name() + " has no momentum");
}

// One optimizer over a model's parameters.
template <class T, class Device>
class Optimizer : public OptimizerBase {
 public:
  // Applies one update from the gradients the last backward() wrote.
  virtual void step() = 0;
  // Whether step() launches the same work with the same arguments every time until a
  // set_lr()/set_momentum(), so that a GPU may record it once and replay it.
  virtual bool replayable() const { return true; }
  // The state an exact resume needs, copied to the host (layout: OptimizerState).
  virtual OptimizerState state() const = 0;
  // Throws std::invalid_argument (prefixed by `who`) unless `s` fits this optimizer; changes nothing.
  virtual void check(const OptimizerState& s, const std::string& who) const = 0;
  // Overwrites the state in place (buffers keep their addresses); checks it first.
  virtual void restore(const OptimizerState& s) = 0;
};

namespace detail {

// Sets the fields of `options` named in `args` through its visit() (see SgdOptions), refusing
// names it does not have and booleans other than 0 or 1.
template <class Options>
void apply_optimizer_args(Options& options, const OptimizerArgs& args, const std::string& who) {
  for (const auto& [key, value] : args) {
    bool found = false;
    options.visit([&, key = key, value = value](const char* name, auto& field) {
      if (key != name) return;
      found = true;
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, bool>) {
        if (value != 0 && value != 1)
          throw std::invalid_argument(who + ": option '" + key + "' is a yes/no option: 0 or 1, got " +
                                      std::to_string(value));
        field = value == 1;
      } else {
        field = value;
      }
    });
    if (!found) {
      std::string names;
      options.visit([&](const char* name, auto&) { names += (names.empty() ? "" : ", ") + std::string(name); });
      throw std::invalid_argument(who + ": unknown option '" + key + "' (" + Options::optimizer + " takes " + names + ")");
    }
  }
}

// Every option of `options` by name (booleans as 0 or 1).
template <class Options>
OptimizerArgs optimizer_args_of(Options options) {
  OptimizerArgs args;
  options.visit([&](const char* name, auto& field) { args[name] = static_cast<double>(field); });
  return args;
}

template <class T>
Tensor<float, cpu> to_host_float(const Tensor<T, cpu>& host) {
  Tensor<float, cpu> f(host.shape());
  for (std::int64_t i = 0; i < host.numel(); ++i) f[i] = static_cast<float>(host[i]);
  return f;
}

}  // namespace detail

// What SGD, Adam, AdamW and RMSprop share: parameter groups with their Options (each group's
// options are the defaults overridden by the group's), the learning rates, the step count in
// device memory, and the per-parameter buffers (momentum, moments) as named lists that
// state(), check() and restore() handle. An implementation adds its buffers in its
// constructor (add_buffer) and its update (step()), nothing else.
template <class T, class Device, class Options>
class GroupedOptimizer : public Optimizer<T, Device> {
 public:
  std::size_t group_count() const override { return groups_.size(); }
  double lr(std::size_t group = 0) const override {
    this->require_group(group, "lr");
    return options_[group].lr;
  }
  double initial_lr(std::size_t group) const override {
    this->require_group(group, "initial_lr");
    return initial_lr_[group];
  }
  using OptimizerBase::set_lr;
  void set_lr(std::size_t group, double lr) override {
    this->require_group(group, "set_lr");
    if (!(lr >= 0) || !std::isfinite(lr))
      throw std::invalid_argument(std::string("hnn::") + Options::optimizer + "::set_lr: the learning rate must be at least 0 "
                                  "and finite, got " + std::to_string(lr));
    options_[group].lr = lr;
  }
  std::int64_t steps() const override {
    std::int64_t n = 0;
    Memory<Device>::copy_to_host(&n, step_count_.data(), sizeof n);
    return n;
  }

  // A group's options (its learning rate as set_lr() left it), and its parameters.
  const Options& options(std::size_t group = 0) const {
    this->require_group(group, "options");
    return options_[group];
  }
  const std::vector<ParameterGroup<T, Device>>& groups() const { return groups_; }
  std::size_t parameter_count() const { return parameters_.size(); }

  // Buffer `kind` ("momentum_buffer", "exp_avg", ...) of parameter `index` (in group order),
  // or null when that parameter has none.
  const Tensor<T, Device>* buffer(const std::string& kind, std::size_t index) const {
    for (const Buffers& b : buffers_)
      if (b.kind == kind && index < b.tensors.size() && b.present[index]) return &b.tensors[index];
    return nullptr;
  }

  OptimizerState state() const override {
    OptimizerState s;
    s.name = this->name();
    s.step = steps();
    for (const Buffers& b : buffers_)
      for (std::size_t i = 0; i < b.tensors.size(); ++i)
        if (b.present[i]) s.buffers.push_back(detail::to_host_float(b.tensors[i].template to<cpu>()));
    return s;
  }

  void check(const OptimizerState& s, const std::string& who) const override {
    if (s.name != this->name())
      throw std::invalid_argument(who + ": the saved state is optimizer " + s.name + "'s, this run uses " +
                                  this->name() + "; resume with the optimizer the run was started with (" + s.name +
                                  ")");
    if (s.step < 0) throw std::invalid_argument(who + ": negative optimizer step count " + std::to_string(s.step));
    std::vector<const Tensor<T, Device>*> mine;
    std::string layout;
    for (const Buffers& b : buffers_) {
      std::size_t count = 0;
      for (std::size_t i = 0; i < b.tensors.size(); ++i)
        if (b.present[i]) mine.push_back(&b.tensors[i]), ++count;
      layout += (layout.empty() ? "" : ", then ") + std::to_string(count) + " " + b.kind;
    }
    if (s.buffers.size() != mine.size())
      throw std::invalid_argument(who + ": the saved state holds " + std::to_string(s.buffers.size()) + " " +
                                  this->name() + " buffers, this optimizer has " + std::to_string(mine.size()) + " (" +
                                  (layout.empty() ? std::string("none") : layout) + "; " + buffers_explained() +
                                  "); resume with the options the run was started with");
    for (std::size_t i = 0; i < mine.size(); ++i)
      if (s.buffers[i].shape() != mine[i]->shape())
        throw std::invalid_argument(who + ": " + this->name() + " buffer " + std::to_string(i) + " has shape " +
                                    s.buffers[i].shape().str() + ", the parameter has " + mine[i]->shape().str());
  }

  void restore(const OptimizerState& s) override {
    check(s, std::string("hnn::") + this->name() + "::restore");
    // Convert everything first, then write: nothing below can fail halfway.
    std::vector<Tensor<T, cpu>> values;
    for (const Tensor<float, cpu>& f : s.buffers) {
      Tensor<T, cpu> v(f.shape());
      for (std::int64_t i = 0; i < f.numel(); ++i) v[i] = static_cast<T>(f[i]);
      values.push_back(std::move(v));
    }
    std::size_t k = 0;
    for (Buffers& b : buffers_)
      for (std::size_t i = 0; i < b.tensors.size(); ++i)
        if (b.present[i]) b.tensors[i].copy_from(values[k++]);
    Memory<Device>::copy_from_host(step_count_.data(), &s.step, sizeof s.step);
    restored(s);
  }

 protected:
  // Builds the groups: each group's options are `defaults` with the group's overrides, checked
  // by Options::check (the one place an optimizer's options are checked).
  GroupedOptimizer(std::vector<ParameterGroup<T, Device>> groups, const Options& defaults)
      : groups_(std::move(groups)), step_count_(Tensor<std::int64_t, Device>::zeros(Shape{1})) {
    const std::string who = std::string("hnn::") + Options::optimizer;
    if (groups_.empty()) throw std::invalid_argument(who + ": no parameter groups");
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      Options o = defaults;
      const std::string group_who = groups_.size() > 1 ? who + " (parameter group " + std::to_string(g) + ")" : who;
      detail::apply_optimizer_args(o, groups_[g].options, group_who);
      o.check(group_who);
      options_.push_back(o);
      initial_lr_.push_back(o.lr);
      for (const Parameter<T, Device>& p : groups_[g].parameters) {
        if (p.value == nullptr || p.grad == nullptr)
          throw std::invalid_argument(group_who + ": parameter '" + p.name + "' has no value or no gradient tensor");
        if (p.value->shape() != p.grad->shape())
          throw std::invalid_argument(group_who + ": parameter '" + p.name + "' is " + p.value->shape().str() +
                                      " but its gradient is " + p.grad->shape().str());
        parameters_.push_back({g, p});
      }
    }
  }

  struct Indexed {
    std::size_t group;
    Parameter<T, Device> parameter;
  };
  // Every parameter in group order, with its group.
  const std::vector<Indexed>& parameters() const { return parameters_; }
  Options& group_options(std::size_t group) { return options_[group]; }

  // Adds buffer list `kind`, zeros of each parameter's shape where wanted(group) is true.
  // Returns its index for buffers(k).
  template <class Wanted>
  std::size_t add_buffer(const std::string& kind, Wanted&& wanted) {
    Buffers b;
    b.kind = kind;
    for (const Indexed& p : parameters_) {
      const bool want = wanted(p.group);
      b.tensors.push_back(want ? Tensor<T, Device>::zeros(p.parameter.value->shape()) : Tensor<T, Device>());
      b.present.push_back(want);
    }
    buffers_.push_back(std::move(b));
    return buffers_.size() - 1;
  }
  // Gives parameter `i` its buffer of list `k` (zeros) if it has none; true if it was made.
  bool ensure_buffer(std::size_t k, std::size_t i) {
    Buffers& b = buffers_[k];
    if (b.present[i]) return false;
    b.tensors[i] = Tensor<T, Device>::zeros(parameters_[i].parameter.value->shape());
    b.present[i] = true;
    return true;
  }
  // Buffer list k's tensor of parameter i (null data when absent).
  T* buffer_data(std::size_t k, std::size_t i) {
    return buffers_[k].present[i] ? buffers_[k].tensors[i].data() : nullptr;
  }
  bool has_buffer(std::size_t k, std::size_t i) const { return buffers_[k].present[i]; }

  // The step count in device memory: step() advances it first, the kernels read it.
  std::int64_t* step_count() { return step_count_.data(); }
  // Every step() starts here. A step writes the parameters, so values a model computed from
  // them (batch norm folded into the layer before it, for evaluation) are computed again.
  void advance_step_count() {
    detail::parameters_may_change();
    advance_batch_number(Device{}, step_count_.data());
  }

  // How the buffers are laid out, for check()'s message.
  virtual std::string buffers_explained() const = 0;
  // Called at the end of restore(), for state the buffers do not hold.
  virtual void restored(const OptimizerState&) {}

 private:
  struct Buffers {
    std::string kind;
    std::vector<Tensor<T, Device>> tensors;  // one per parameter
    std::vector<bool> present;
  };
  std::vector<ParameterGroup<T, Device>> groups_;
  std::vector<Options> options_;
  std::vector<double> initial_lr_;
  std::vector<Indexed> parameters_;
  std::vector<Buffers> buffers_;
  Tensor<std::int64_t, Device> step_count_;
};

namespace detail {
// The checks every optimizer's options share, with PyTorch's wording of what is wrong.
inline void require_at_least(const std::string& who, const char* what, double value, double low) {
  if (!(value >= low) || !std::isfinite(value))
    throw std::invalid_argument(who + ": " + what + " must be at least " + (low == 0 ? std::string("0") : std::to_string(low)) +
                                " and finite, got " + std::to_string(value));
}
inline void require_fraction(const std::string& who, const char* what, double value) {
  if (!(value >= 0 && value < 1))
    throw std::invalid_argument(who + ": " + what + " must be at least 0 and below 1, got " + std::to_string(value));
}
inline void require_learning_rate(const std::string& who, double lr) {
  if (!(lr > 0) || !std::isfinite(lr))
    throw std::invalid_argument(who + ": learning rate must be positive and finite, got " + std::to_string(lr));
}
}  // namespace detail

}  // namespace hnn
