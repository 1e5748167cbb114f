// googlenet: trains d2l's GoogLeNet (model.hpp: nine Inception blocks, the stem sized for
// 28x28 images) on Fashion-MNIST, with lenet5's flags where they apply; saves, resumes and
// classifies image files.
//   googlenet [--batch-norm on|off] [--epochs N] [--lr X] [--optimizer sgd|adam|adamw] [--save PATH] ...
//   googlenet predict --model PATH IMAGE...
#include <cstdint>
#include <map>
#include <string>

#include "../common/main.hpp"
#include "model.hpp"

namespace googlenet {

// What the shared training run (examples/common/run.hpp) needs to know about googlenet.
// The recipe: d2l trains this network with SGD at lr 0.1 on 96x96 images for 10 epochs. Here
// the budget is about ten minutes on two CPU cores, three epochs. With a batch norm after
// every convolution (the default; torchvision's GoogLeNet has them too), Adam under a one-cycle
// schedule peaking at lr 0.003 reaches test accuracy 0.9036 in that budget (docs/results.md;
// peaking at 0.002 it reached 0.8996).
// Without batch norm (--batch-norm off, d2l's network as printed), the recipe of the first
// runs: constant Adam at PyTorch's default rate, which needs no tuning. Batch 128, d2l's.
struct Program {
  static constexpr const char* name = "googlenet";
  hnn_example::Recipe recipe() const {
    hnn_example::Recipe r;
    r.epochs = 3;
    r.batch_size = 128;
    r.optimizer = "adam";
    r.lr = batch_norm ? 3e-3 : 1e-3;
    r.schedule = batch_norm ? hnn::ScheduleKind::onecycle : hnn::ScheduleKind::constant;
    return r;
  }
  std::string title() const {
    return batch_norm ? "GoogLeNet (d2l, nine Inception blocks, 7x7/2 stem, batch norm)"
                      : "GoogLeNet (d2l, nine Inception blocks, 7x7/2 stem)";
  }
  bool batch_norm = true;
  bool batch_norm_given = false;
  // googlenet's own flag, --batch-norm on|off; false for a flag that is not its.
  bool parse_flag(const std::string& flag, const std::string& value) {
    if (flag != "--batch-norm") return false;
    if (value == "on") batch_norm = true;
    else if (value == "off") batch_norm = false;
    else throw hnn_example::UsageError("--batch-norm must be on or off, got '" + value + "'");
    batch_norm_given = true;
    return true;
  }
  std::map<std::string, std::string> metadata() const { return {{"batch_norm", batch_norm ? "on" : "off"}}; }
  // A checkpoint without the key predates the flag: d2l's network, without batch norm.
  void take_recipe_from(const std::map<std::string, std::string>& meta) {
    const auto it = meta.find("batch_norm");
    if (!batch_norm_given) batch_norm = it != meta.end() && it->second == "on";
  }
  template <class Device>
  hnn::Sequential<float, Device> model(std::uint64_t seed) const {
    return googlenet<Device>(seed, 2, batch_norm);
  }
};

}  // namespace googlenet

int main(int argc, char** argv) {
  const std::string usage = hnn_example::example_usage(
      "googlenet",
      "Trains d2l's GoogLeNet (nine Inception blocks, 6.0 million parameters), a batch\n"
      "norm after every convolution, on Fashion-MNIST: Adam peaking at lr 0.003 under a\n"
      "one-cycle schedule, batch 128, 3 epochs unless told otherwise.\n"
      "  --batch-norm on|off     off: d2l's network as printed, constant Adam at lr 0.001\n");
  return hnn_example::example_main(argc, argv, usage, googlenet::Program{});
}
