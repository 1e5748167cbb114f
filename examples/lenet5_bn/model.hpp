// d2l's "LeNet with batch normalization" (modern CNN chapter): LeNet-5 with a BatchNorm after
// every convolution and every hidden Linear, before its sigmoid. d2l's sizes: the first
// convolution is unpadded (28 -> 24), so 16 x 4 x 4 features reach the first Linear (lenet5
// pads it and has 400). d2l trains it with lr 1.0, batch 256, 10 epochs.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <hnn/model/sequential.hpp>

#include "../common/cli.hpp"

namespace lenet5_bn {

template <class T, class Device>
hnn::Sequential<T, Device> lenet5_bn(std::uint64_t seed = 0) {
  using namespace hnn;
  return Sequential<T, Device>(
      {Conv2d(1, 6, 5), BatchNorm2d(6), Sigmoid(), AvgPool2d(2, /*stride=*/2),
       Conv2d(6, 16, 5), BatchNorm2d(16), Sigmoid(), AvgPool2d(2, 2), Flatten(),
       Linear(16 * 4 * 4, 120), BatchNorm1d(120), Sigmoid(),
       Linear(120, 84), BatchNorm1d(84), Sigmoid(),
       Linear(84, 10)},
      seed);
}

// What the shared training run (examples/common/run.hpp) needs to know about lenet5_bn.
struct Program {
  static constexpr const char* name = "lenet5_bn";
  hnn_example::Recipe recipe() const {
    hnn_example::Recipe r;  // d2l's: plain SGD at lr 1.0, batch 256, 10 epochs
    r.epochs = 10;
    r.batch_size = 256;
    r.lr = 1.0;
    return r;
  }
  std::string title() const { return "LeNet-5 with batch norm"; }
  bool parse_flag(const std::string&, const std::string&) { return false; }  // no flags of its own
  std::map<std::string, std::string> metadata() const { return {}; }
  void take_recipe_from(const std::map<std::string, std::string>&) {}
  template <class Device>
  hnn::Sequential<float, Device> model(std::uint64_t seed) const {
    return lenet5_bn<float, Device>(seed);
  }
};

}  // namespace lenet5_bn
