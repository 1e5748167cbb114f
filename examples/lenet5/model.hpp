// LeNet-5 as d2l.ai defines it (LeNet chapter), in hnn. The one definition serves every
// device: lenet5<float, hnn::cpu>() and lenet5<float, hnn::cuda>() build the same network.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <hnn/model/sequential.hpp>

#include "../common/cli.hpp"

namespace lenet {

// The examples' shared code (examples/common), as lenet:: names too.
using namespace hnn_example;

// sigmoid: the 1998 original as d2l teaches it (sigmoid, average pooling).
// relu: the modern variant (ReLU, max pooling), which trains faster and further.
enum class Variant { sigmoid, relu };

inline const char* name(Variant v) { return v == Variant::sigmoid ? "sigmoid" : "relu"; }

template <class T, class Device>
hnn::Sequential<T, Device> lenet5(Variant variant = Variant::sigmoid, std::uint64_t seed = 0) {
  using namespace hnn;
  if (variant == Variant::sigmoid) {
    return Sequential<T, Device>(
        {Conv2d(1, 6, 5).padding(2), Sigmoid(), AvgPool2d(2, /*stride=*/2),
         Conv2d(6, 16, 5), Sigmoid(), AvgPool2d(2, 2), Flatten(),
         Linear(16 * 5 * 5, 120), Sigmoid(), Linear(120, 84), Sigmoid(), Linear(84, 10)},
        seed);
  }
  return Sequential<T, Device>(
      {Conv2d(1, 6, 5).padding(2), ReLU(), MaxPool2d(2, 2),
       Conv2d(6, 16, 5), ReLU(), MaxPool2d(2, 2), Flatten(),
       Linear(16 * 5 * 5, 120), ReLU(), Linear(120, 84), ReLU(), Linear(84, 10)},
      seed);
}

// What the shared training run (examples/common/run.hpp) needs to know about lenet5.
struct Program {
  static constexpr const char* name = "lenet5";
  Variant variant = Variant::sigmoid;
  bool variant_given = false;

  // The sigmoid net uses d2l's recipe (lr 0.9, no momentum). The relu net's default was chosen
  // on 10-epoch runs over seeds 0-2 (tests/gpu/check.sh): lr 0.05 with momentum 0.9 gave test
  // accuracy 0.889-0.897, plain lr 0.1 gave 0.869-0.873 and lr 0.2 gave 0.878-0.885.
  Recipe recipe() const {
    Recipe r;
    r.epochs = 10;
    r.batch_size = 256;
    r.lr = variant == Variant::sigmoid ? 0.9 : 0.05;
    r.momentum = variant == Variant::sigmoid ? 0.0 : 0.9;
    return r;
  }
  std::string title() const { return std::string("LeNet-5 (") + lenet::name(variant) + ")"; }
  // lenet5's own flag, --variant; false for a flag that is not its.
  bool parse_flag(const std::string& flag, const std::string& value) {
    if (flag != "--variant") return false;
    if (value == "sigmoid") variant = Variant::sigmoid;
    else if (value == "relu") variant = Variant::relu;
    else throw UsageError("--variant must be sigmoid or relu, got '" + value + "'");
    variant_given = true;
    return true;
  }
  std::map<std::string, std::string> metadata() const { return {{"variant", lenet::name(variant)}}; }
  void take_recipe_from(const std::map<std::string, std::string>& meta) {
    const auto it = meta.find("variant");
    if (!variant_given && it != meta.end() && !it->second.empty())
      variant = it->second == "relu" ? Variant::relu : Variant::sigmoid;
  }
  template <class Device>
  hnn::Sequential<float, Device> model(std::uint64_t seed) const {
    return lenet5<float, Device>(variant, seed);
  }
};

}  // namespace lenet
