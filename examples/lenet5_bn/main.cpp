// lenet5_bn: trains d2l's LeNet with batch normalization on Fashion-MNIST, with lenet5's
// flags where they apply; saves, resumes and classifies image files.
//   lenet5_bn [--epochs N] [--lr X] [--save PATH] [--resume PATH] ...
//   lenet5_bn predict --model PATH IMAGE...
#include <string>

#include "../common/main.hpp"
#include "model.hpp"

int main(int argc, char** argv) {
  const std::string usage = hnn_example::example_usage(
      "lenet5_bn",
      "Trains LeNet-5 with batch normalization (d2l.ai) on Fashion-MNIST: SGD lr 1.0,\n"
      "batch 256, 10 epochs unless told otherwise.\n");
  return hnn_example::example_main(argc, argv, usage, lenet5_bn::Program{});
}
