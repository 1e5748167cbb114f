// resnet: trains the small ResNet of model.hpp on Fashion-MNIST (d2l's modern-CNN chapter),
// with lenet5's flags where they apply; saves, resumes and classifies image files.
//   resnet [--epochs N] [--lr X] [--optimizer sgd|adam|adamw] [--schedule ...] [--save PATH] ...
//   resnet predict --model PATH IMAGE...
#include <string>

#include "../common/main.hpp"
#include "model.hpp"

int main(int argc, char** argv) {
  const std::string usage = hnn_example::example_usage(
      "resnet",
      "Trains a small ResNet (16-32-64 channels, batch norm, residual blocks) on\n"
      "Fashion-MNIST: SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine schedule,\n"
      "batch 256, 10 epochs unless told otherwise.\n");
  return hnn_example::example_main(argc, argv, usage, resnet::Program{});
}
