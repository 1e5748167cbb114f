// Optimizers by name, so that a program's `--optimizer rmsprop` finds one without a list of
// them anywhere: each optimizer's header registers itself (one line at its end),
//   [[maybe_unused]] static const bool rmsprop_registered = register_optimizer<RMSprop>();
// and make_optimizer() builds whichever is named, its options given by name:
//   auto opt = hnn::make_optimizer<float, hnn::cpu>("rmsprop", model.parameters(), {{"lr", 0.01}, {"momentum", 0.9}});
// An optimizer class O<T, Device> registers with: static constexpr const char* kind (its
// name), using options_type (its options: visit() and check()), and constructors from
// (std::vector<ParameterGroup<T, Device>>, options_type).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

#include "hnn/optim/optimizer.hpp"

namespace hnn {

namespace detail {

template <class T, class Device>
using MakeOptimizer = std::unique_ptr<Optimizer<T, Device>> (*)(std::vector<ParameterGroup<T, Device>>,
                                                                const OptimizerArgs&);

struct RegisteredOptimizer {
  std::type_index type = typeid(void);
  OptimizerArgs (*defaults)() = nullptr;
  void (*check)(const OptimizerArgs&, const std::string&) = nullptr;
  MakeOptimizer<float, cpu> float_cpu = nullptr;
  MakeOptimizer<double, cpu> double_cpu = nullptr;
  MakeOptimizer<float, cuda> float_cuda = nullptr;    // registered where nvcc compiled
  MakeOptimizer<double, cuda> double_cuda = nullptr;
};

struct OptimizerRegistry {
  std::mutex mutex;
  std::map<std::string, RegisteredOptimizer> entries;
};

inline OptimizerRegistry& optimizer_registry() {
  static OptimizerRegistry registry;
  return registry;
}

template <template <class, class> class O>
using OptionsOf = typename O<float, cpu>::options_type;

template <template <class, class> class O>
OptimizerArgs defaults_of() {
  return optimizer_args_of(OptionsOf<O>{});
}

template <template <class, class> class O>
OptionsOf<O> options_from(const OptimizerArgs& args, const std::string& who) {
  OptionsOf<O> options;
  apply_optimizer_args(options, args, who);
  return options;
}

template <template <class, class> class O>
void check_args_of(const OptimizerArgs& args, const std::string& who) {
  options_from<O>(args, who).check(who);
}

template <template <class, class> class O, class T, class Device>
std::unique_ptr<Optimizer<T, Device>> make_as(std::vector<ParameterGroup<T, Device>> groups, const OptimizerArgs& args) {
  return std::make_unique<O<T, Device>>(std::move(groups),
                                        options_from<O>(args, std::string("hnn::") + OptionsOf<O>::optimizer));
}

inline RegisteredOptimizer find_optimizer(const std::string& name);

}  // namespace detail

// Makes O known to make_optimizer() under O<T, Device>::kind. Registering another type under a
// name already taken throws std::logic_error. Returns true, so that a header can register at
// start-up.
template <template <class, class> class O, bool Cuda = detail::compiling_cuda>
bool register_optimizer() {
  detail::OptimizerRegistry& r = detail::optimizer_registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  const std::string name = O<float, cpu>::kind;
  detail::RegisteredOptimizer& entry = r.entries[name];
  if (entry.type != typeid(void) && entry.type != typeid(O<float, cpu>))
    throw std::logic_error("hnn::register_optimizer: two optimizer types are both named '" + name + "'");
  entry.type = typeid(O<float, cpu>);
  entry.defaults = &detail::defaults_of<O>;
  entry.check = &detail::check_args_of<O>;
  entry.float_cpu = &detail::make_as<O, float, cpu>;
  entry.double_cpu = &detail::make_as<O, double, cpu>;
  if constexpr (Cuda) {
    entry.float_cuda = &detail::make_as<O, float, cuda>;
    entry.double_cuda = &detail::make_as<O, double, cuda>;
  }
  return true;
}

// The registered optimizers' names, sorted: "adam", "adamw", "rmsprop", "sgd".
inline std::vector<std::string> optimizer_names() {
  detail::OptimizerRegistry& r = detail::optimizer_registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& entry : r.entries) names.push_back(entry.first);
  return names;
}

namespace detail {
inline RegisteredOptimizer find_optimizer(const std::string& name) {
  {
    OptimizerRegistry& r = optimizer_registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    const auto it = r.entries.find(name);
    if (it != r.entries.end()) return it->second;
  }
  std::string known;
  for (const std::string& n : optimizer_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown optimizer '" + name + "' (" + known +
                              "; an optimizer of your own? include its header, which registers it)");
}
}  // namespace detail

// Every option of optimizer `name` with its default: what it accepts by name.
inline OptimizerArgs optimizer_defaults(const std::string& name) { return detail::find_optimizer(name).defaults(); }

// Throws std::invalid_argument (prefixed by `who`) unless `args` are options optimizer `name`
// accepts (names and values); allocates nothing.
inline void check_optimizer_args(const std::string& name, const OptimizerArgs& args, const std::string& who) {
  detail::find_optimizer(name).check(args, who);
}

// The optimizer named `name` over parameter groups, `args` overriding its defaults (each
// group's own options override those in turn).
template <class T, class Device>
std::unique_ptr<Optimizer<T, Device>> make_optimizer(const std::string& name, std::vector<ParameterGroup<T, Device>> groups,
                                                     const OptimizerArgs& args = {}) {
  const detail::RegisteredOptimizer entry = detail::find_optimizer(name);
  detail::MakeOptimizer<T, Device> make = nullptr;
  if constexpr (std::is_same_v<T, float> && std::is_same_v<Device, cpu>) make = entry.float_cpu;
  else if constexpr (std::is_same_v<T, double> && std::is_same_v<Device, cpu>) make = entry.double_cpu;
  else if constexpr (std::is_same_v<T, float> && std::is_same_v<Device, cuda>) make = entry.float_cuda;
  else if constexpr (std::is_same_v<T, double> && std::is_same_v<Device, cuda>) make = entry.double_cuda;
  if (make == nullptr)
    throw std::logic_error("hnn::make_optimizer: optimizer '" + name + "' was registered only in code that nvcc did not "
                           "compile, so it has no " + Device::name + " version; make CUDA optimizers in a .cu file");
  return make(std::move(groups), args);
}

// The same over one group of parameters (a model's parameters()).
template <class T, class Device>
std::unique_ptr<Optimizer<T, Device>> make_optimizer(const std::string& name, std::vector<Parameter<T, Device>> parameters,
                                                     const OptimizerArgs& args = {}) {
  return make_optimizer<T, Device>(name, one_group(std::move(parameters)), args);
}

}  // namespace hnn
