// d2l's GoogLeNet ("Dive into Deep Learning", 8.4; Szegedy et al. 2015) sized for 28x28
// Fashion-MNIST: the five stages b1..b5 and nine Inception blocks with d2l's channel counts; the
// change is the stem, a 7x7 convolution (padding 3) of stride 2 by default, as d2l's on 96x96
// images, or 1. Optionally (googlenet's default) each convolution is followed by a batch norm,
// as in torchvision's GoogLeNet (BasicConv2d: the convolution without its bias, BatchNorm2d,
// ReLU); the shapes and multiply-adds are the same.
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
//   parameters: 5,977,530 (either stem); with batch norm 5,984,810 (7,280 conv biases out,
//               2 x 7,280 batch norm weights and biases in)
//   stem stride 2:  28,774,656 multiply-adds (57.5 MFLOP) forward, 3.1 times the ResNet example's
//   stem stride 1: 106,796,544 multiply-adds (213.6 MFLOP) forward, 11.4 times the ResNet example's
// (examples/resnet: 9.3 million multiply-adds, 18.69 MFLOP forward.)
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include <hnn/layers/batch_norm.hpp>
#include <hnn/model/concat.hpp>
#include <hnn/model/sequential.hpp>

namespace googlenet {

// One convolution and its ReLU. With batch norm, torchvision's GoogLeNet's BasicConv2d: the
// convolution without a bias (the batch norm's shift replaces it), then BatchNorm2d, then ReLU.
inline std::vector<hnn::LayerSpec> conv_relu(std::int64_t in, std::int64_t out, std::int64_t kernel,
                                             bool batch_norm, std::int64_t stride = 1) {
  const hnn::Conv2d conv = hnn::Conv2d(in, out, kernel).stride(stride).padding(kernel / 2);
  if (!batch_norm) return {conv, hnn::ReLU()};
  return {hnn::Conv2d(conv).bias(false), hnn::BatchNorm2d(out), hnn::ReLU()};
}

// d2l's Inception block (hnn::Inception's four branches), each convolution by conv_relu.
inline hnn::Concat inception(std::int64_t in, std::int64_t c1, std::pair<std::int64_t, std::int64_t> c2,
                             std::pair<std::int64_t, std::int64_t> c3, std::int64_t c4, bool batch_norm) {
  if (!batch_norm) return hnn::Inception(in, c1, c2, c3, c4);
  auto then = [](std::vector<hnn::LayerSpec> a, const std::vector<hnn::LayerSpec>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  return hnn::Concat(conv_relu(in, c1, 1, true),
                     then(conv_relu(in, c2.first, 1, true), conv_relu(c2.first, c2.second, 3, true)),
                     then(conv_relu(in, c3.first, 1, true), conv_relu(c3.first, c3.second, 5, true)),
                     then({hnn::MaxPool2d(3, 1).padding(1)}, conv_relu(in, c4, 1, true)));
}

// The layers, first to last, for a 7x7 stem convolution of stride `stem_stride` (2 or 1),
// with or without a batch norm after every convolution.
inline std::vector<hnn::LayerSpec> googlenet_layers(std::int64_t stem_stride = 2, bool batch_norm = false) {
  using namespace hnn;
  const bool bn = batch_norm;
  std::vector<LayerSpec> layers;
  auto add = [&layers](const std::vector<LayerSpec>& more) { layers.insert(layers.end(), more.begin(), more.end()); };
  // b1
  add(conv_relu(1, 64, 7, bn, stem_stride));
  add({MaxPool2d(3, 2).padding(1)});
  // b2
  add(conv_relu(64, 64, 1, bn));
  add(conv_relu(64, 192, 3, bn));
  add({MaxPool2d(3, 2).padding(1)});
  // b3
  add({inception(192, 64, {96, 128}, {16, 32}, 32, bn), inception(256, 128, {128, 192}, {32, 96}, 64, bn),
       MaxPool2d(3, 2).padding(1)});
  // b4
  add({inception(480, 192, {96, 208}, {16, 48}, 64, bn), inception(512, 160, {112, 224}, {24, 64}, 64, bn),
       inception(512, 128, {128, 256}, {24, 64}, 64, bn), inception(512, 112, {144, 288}, {32, 64}, 64, bn),
       inception(528, 256, {160, 320}, {32, 128}, 128, bn), MaxPool2d(3, 2).padding(1)});
  // b5
  add({inception(832, 256, {160, 320}, {32, 128}, 128, bn), inception(832, 384, {192, 384}, {48, 128}, 128, bn),
       GlobalAvgPool2d(), Flatten()});
  // classifier
  add({Linear(1024, 10)});
  return layers;
}

// The network on Device, its parameters drawn from `seed` (Xavier-uniform weights, PyTorch's
// default biases).
template <class Device>
hnn::Sequential<float, Device> googlenet(std::uint64_t seed, std::int64_t stem_stride = 2, bool batch_norm = false) {
  return hnn::Sequential<float, Device>(googlenet_layers(stem_stride, batch_norm), seed);
}

}  // namespace googlenet
