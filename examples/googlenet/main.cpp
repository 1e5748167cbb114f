// googlenet: trains d2l's GoogLeNet (model.hpp: nine Inception blocks, the stem sized for
// 28x28 images) on Fashion-MNIST, with lenet5's flags where they apply; saves, resumes and
// classifies image files.
//   googlenet [--epochs N] [--lr X] [--optimizer sgd|adam|adamw] [--save PATH] ...
//   googlenet predict --model PATH IMAGE...
#include <cstdint>
#include <map>
#include <string>

#include "../common/main.hpp"
#include "model.hpp"

namespace googlenet {

// What the shared training run (examples/common/run.hpp) needs to know about googlenet.
// The recipe: d2l trains this network with SGD at lr 0.1 on 96x96 images for 10 epochs. Here
// the budget is a few epochs on two CPU cores, with no room to tune SGD's rate for a 22-layer
// network without batch norm; Adam at PyTorch's default rate scales each parameter's step by
// its own gradients' size, the usual choice that needs no tuning. Batch 128, d2l's.
struct Program {
  static constexpr const char* name = "googlenet";
  hnn_example::Recipe recipe() const {
    hnn_example::Recipe r;
    r.epochs = 3;
    r.batch_size = 128;
    r.optimizer = "adam";
    r.lr = 1e-3;
    return r;
  }
  std::string title() const { return "GoogLeNet (d2l, nine Inception blocks, 7x7/2 stem)"; }
  bool batch_norm = false;
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
  void take_recipe_from(const std::map<std::string, std::string>& meta) {
    const auto it = meta.find("batch_norm");
    if (!batch_norm_given && it != meta.end() && !it->second.empty()) batch_norm = it->second == "on";
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
      "Trains d2l's GoogLeNet (nine Inception blocks, 6.0 million parameters) on\n"
      "Fashion-MNIST: Adam lr 0.001, batch 128, 3 epochs unless told otherwise.\n");
  return hnn_example::example_main(argc, argv, usage, googlenet::Program{});
}
