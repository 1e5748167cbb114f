// resnet: trains the small ResNet of model.hpp on Fashion-MNIST (d2l's modern-CNN chapter),
// with lenet5's flags where they apply; saves, resumes and classifies image files.
//   resnet [--epochs N] [--lr X] [--optimizer sgd|adam|adamw] [--schedule ...] [--save PATH] ...
//   resnet --augment [--epochs N] ...    (random crops and flips through hnn's DataLoader)
//   resnet predict --model PATH IMAGE...
#include <string>
#include <vector>

#include "../common/main.hpp"
#include "augment.hpp"
#include "model.hpp"

int main(int argc, char** argv) {
  const std::string usage = hnn_example::example_usage(
      "resnet",
      "Trains a small ResNet (16-32-64 channels, batch norm, residual blocks) on\n"
      "Fashion-MNIST: SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine schedule,\n"
      "batch 256, 10 epochs unless told otherwise.\n"
      "  --augment         train on random crops (28, padding 2) and horizontal flips\n");
  // --augment is a switch: take it out before the shared flags (which all take a value).
  std::vector<char*> args;
  bool augment = false;
  for (int i = 0; i < argc; ++i) {
    if (std::string(argv[i]) == "--augment") augment = true;
    else args.push_back(argv[i]);
  }
  if (!augment) return hnn_example::example_main(argc, argv, usage, resnet::Program{});
  return hnn_example::guarded_main(resnet::Program::name, [&] {
    resnet::Program program;
    const hnn_example::Options o =
        hnn_example::parse_training(static_cast<int>(args.size()), args.data(), program, usage);
    if (o.threads > 0) hnn::set_num_threads(o.threads);
    return resnet::run_augmented(o, program);
  });
}
