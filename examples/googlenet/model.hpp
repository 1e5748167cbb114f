// d2l's GoogLeNet ("Dive into Deep Learning", 8.4; Szegedy et al. 2015) sized for 28x28
// Fashion-MNIST: the five stages b1..b5 and nine Inception blocks with d2l's channel counts; the
// change is the stem, a 7x7 convolution (padding 3) of stride 2 by default, as d2l's on 96x96
// images, or 1.
//
// Stem stride 2 (the default):
//   (N, 1, 28, 28) -> b1 conv 7x7/2, ReLU, max pool 3/2   (N, 64, 7, 7)
//                  -> b2 1x1, 3x3, max pool 3/2            (N, 192, 4, 4)
//                  -> b3 2 Inception, max pool 3/2         (N, 480, 2, 2)
//                  -> b4 5 Inception, max pool 3/2         (N, 832, 1, 1)
//                  -> b5 2 Inception, global avg pool      (N, 1024)      -> Linear (N, 10)
// Stem stride 1: the stages end at 14/7/4/2/2 pixels a side (d2l's at 24/12/6/3/3 on 96x96
// images), b4 at (N, 832, 2, 2).
//
// What one image costs, counted from the layers' shapes by tests/unit/test_googlenet_model.cpp
// (and by PyTorch hooks on the same network): the multiply-adds of the convolutions and the
// Linear in a forward pass; a training step's backward adds about twice as many.
//   parameters: 5,977,530 (either stem)
//   stem stride 2:  28,774,656 multiply-adds (57.5 MFLOP) forward, 3.1 times the ResNet example's
//   stem stride 1: 106,796,544 multiply-adds (213.6 MFLOP) forward, 11.4 times the ResNet example's
// (examples/resnet: 9.3 million multiply-adds, 18.69 MFLOP forward.)
#pragma once

#include <cstdint>
#include <vector>

#include <hnn/model/concat.hpp>
#include <hnn/model/sequential.hpp>

namespace googlenet {

// The layers, first to last, for a 7x7 stem convolution of stride `stem_stride` (2 or 1).
inline std::vector<hnn::LayerSpec> googlenet_layers(std::int64_t stem_stride = 2) {
  using namespace hnn;
  return {// b1
          Conv2d(1, 64, 7).stride(stem_stride).padding(3), ReLU(), MaxPool2d(3, 2).padding(1),
          // b2
          Conv2d(64, 64, 1), ReLU(), Conv2d(64, 192, 3).padding(1), ReLU(), MaxPool2d(3, 2).padding(1),
          // b3
          Inception(192, 64, {96, 128}, {16, 32}, 32), Inception(256, 128, {128, 192}, {32, 96}, 64),
          MaxPool2d(3, 2).padding(1),
          // b4
          Inception(480, 192, {96, 208}, {16, 48}, 64), Inception(512, 160, {112, 224}, {24, 64}, 64),
          Inception(512, 128, {128, 256}, {24, 64}, 64), Inception(512, 112, {144, 288}, {32, 64}, 64),
          Inception(528, 256, {160, 320}, {32, 128}, 128), MaxPool2d(3, 2).padding(1),
          // b5
          Inception(832, 256, {160, 320}, {32, 128}, 128), Inception(832, 384, {192, 384}, {48, 128}, 128),
          GlobalAvgPool2d(), Flatten(),
          // classifier
          Linear(1024, 10)};
}

// The network on Device, its parameters drawn from `seed` (Xavier-uniform weights, PyTorch's
// default biases).
template <class Device>
hnn::Sequential<float, Device> googlenet(std::uint64_t seed, std::int64_t stem_stride = 2) {
  return hnn::Sequential<float, Device>(googlenet_layers(stem_stride), seed);
}

}  // namespace googlenet
