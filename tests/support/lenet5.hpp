// LeNet-5 as the tests and benchmarks use it: the network of d2l.ai's LeNet chapter in its two
// variants, with the same name and signature as the lenet5 program's model
// (examples/lenet5/model.hpp), which is a program the tests do not depend on.
#pragma once

#include <cstdint>

#include <hnn/model/sequential.hpp>

namespace lenet {

// sigmoid: the 1998 original as d2l teaches it (sigmoid, average pooling).
// relu: the modern variant (ReLU, max pooling).
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

}  // namespace lenet
