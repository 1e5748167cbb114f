// A small ResNet for 28x28 Fashion-MNIST images (He et al.'s basic blocks, sized for a
// 2-core CPU): a 3x3 stem, three stages of one residual block each (16, 32, 64 channels;
// the second and third halve the resolution with a strided conv and a strided 1x1
// projection shortcut), global average pooling and a Linear classifier.
//
//   (N, 1, 28, 28) -> stem (N, 16, 28, 28) -> block (N, 16, 28, 28) -> block (N, 32, 14, 14)
//                  -> block (N, 64, 7, 7) -> pool (N, 64, 1, 1) -> (N, 10)
//
// 8 weighted layers, 78k parameters, about 9.3 million multiply-adds (18.7 MFLOP) per image forward.
// tests/bench/peers/pytorch_resnet.py builds the identical network in PyTorch.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <hnn/model/residual.hpp>
#include <hnn/model/sequential.hpp>

#include "../common/cli.hpp"

namespace resnet {

// conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus the input (or its 1x1 projection when the
// shape changes); no conv bias, since BatchNorm's shift follows each conv.
inline hnn::Residual basic_block(std::int64_t in, std::int64_t out, std::int64_t stride) {
  using namespace hnn;
  std::vector<LayerSpec> body{Conv2d(in, out, 3).stride(stride).padding(1).bias(false), BatchNorm2d(out), ReLU(),
                              Conv2d(out, out, 3).padding(1).bias(false), BatchNorm2d(out)};
  if (in == out && stride == 1) return Residual(body);
  return Residual(body, {Conv2d(in, out, 1).stride(stride).bias(false), BatchNorm2d(out)});
}

template <class T, class Device>
hnn::Sequential<T, Device> resnet(std::uint64_t seed = 0) {
  using namespace hnn;
  return Sequential<T, Device>({Conv2d(1, 16, 3).padding(1).bias(false), BatchNorm2d(16), ReLU(),
                                basic_block(16, 16, 1), ReLU(),
                                basic_block(16, 32, 2), ReLU(),
                                basic_block(32, 64, 2), ReLU(),
                                GlobalAvgPool2d(), Flatten(), Linear(64, 10)},
                               seed);
}

// What the shared training run (examples/common/run.hpp) needs to know about resnet.
// The recipe is the usual one for ResNets: SGD with momentum 0.9 and weight decay 5e-4,
// lr 0.1 annealed to 0 by a cosine over the run, batch 256.
struct Program {
  static constexpr const char* name = "resnet";
  hnn_example::Recipe recipe() const {
    hnn_example::Recipe r;
    r.epochs = 10;
    r.batch_size = 256;
    r.lr = 0.1;
    r.momentum = 0.9;
    r.weight_decay = 5e-4;
    r.schedule = hnn::ScheduleKind::cosine;
    return r;
  }
  std::string title() const { return "ResNet (16-32-64 channels, one basic block per stage)"; }
  bool parse_flag(const std::string&, const std::string&) { return false; }  // no flags of its own
  std::map<std::string, std::string> metadata() const { return {}; }
  void take_recipe_from(const std::map<std::string, std::string>&) {}
  template <class Device>
  hnn::Sequential<float, Device> model(std::uint64_t seed) const {
    return resnet<float, Device>(seed);
  }
};

}  // namespace resnet
