// examples/googlenet/model.hpp: d2l's GoogLeNet for 28x28 images traces d2l's stage shapes,
// has the parameters and multiply-adds its header states, and runs a training step's forward
// and backward on a batch of 2.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <cstdint>
#include <string>
#include <vector>

#include "../../examples/googlenet/model.hpp"
#include "hnn/layers/batch_norm.hpp"
#include "hnn/model/concat.hpp"
#include "hnn/model/sequential.hpp"

#include "../support/test_helpers.hpp"

namespace googlenet_test {

// Multiply-adds per image of the convolutions and Linear layers in `specs` (Concat branches
// walked), for inputs of `s` (batch 1); returns the output shape.
hnn::Shape count_multiply_adds(const std::vector<hnn::LayerSpec>& specs, hnn::Shape s, std::int64_t& macs) {
  for (const hnn::LayerSpec& spec : specs) {
    if (const auto* concat = spec.get_if<hnn::Concat>()) {
      for (const hnn::Concat::Branch& branch : concat->branches()) count_multiply_adds(branch, s, macs);
    } else if (const auto* conv = spec.get_if<hnn::Conv2d>()) {
      const hnn::Shape out = conv->output_shape(s);
      macs += out[1] * out[2] * out[3] * conv->in_channels() * conv->kernel() * conv->kernel();
    } else if (const auto* linear = spec.get_if<hnn::Linear>()) {
      macs += linear->in_features * linear->out_features;
    }
    s = spec.output_shape(s);
  }
  return s;
}

// A training step's forward and backward on a batch of 2: finite logits that differ, finite
// gradients everywhere, and a gradient that reaches the stem and the input.
void forward_and_backward(hnn::Sequential<float, hnn::cpu> model) {
  model.set_input_gradient(true);
  hnn::Tensor<float> x(hnn::Shape{2, 1, 28, 28});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  const hnn::Tensor<float> y = model.forward(x).clone();
  ASSERT_EQ(y.shape(), (hnn::Shape{2, 10}));
  for (std::int64_t i = 0; i < y.numel(); ++i) EXPECT_TRUE(std::isfinite(y[i])) << "logit " << i;
  EXPECT_NE(y.to_vector(), std::vector<float>(20, y[0])) << "every logit the same";

  const hnn::Tensor<float> dy = hnn::Tensor<float>::full(y.shape(), 0.1f);
  const hnn::Tensor<float>& dx = model.backward(dy);
  ASSERT_EQ(dx.shape(), x.shape());
  for (const auto& p : model.parameters()) {
    const std::vector<float> g = p.grad->to_vector();
    for (std::size_t i = 0; i < g.size(); ++i) ASSERT_TRUE(std::isfinite(g[i])) << p.name << " [" << i << "]";
  }
  const std::vector<float> stem = model.parameters().front().grad->to_vector();
  EXPECT_NE(stem, std::vector<float>(stem.size(), 0.0f)) << model.parameter_names().front();
  double dx_norm = 0;
  for (std::int64_t i = 0; i < dx.numel(); ++i) dx_norm += std::abs(dx[i]);
  EXPECT_GT(dx_norm, 0);
}


TEST(GoogLeNetModel, TracesD2lsStagesOn28x28) {
  // The default, a stride-2 stem: b4 ends at 1x1.
  EXPECT_EQ(googlenet::googlenet<hnn::cpu>(0).trace(hnn::Shape{1, 1, 28, 28}),
            "Conv2d output shape: (1, 64, 14, 14)\n"
            "ReLU output shape: (1, 64, 14, 14)\n"
            "MaxPool2d output shape: (1, 64, 7, 7)\n"
            "Conv2d output shape: (1, 64, 7, 7)\n"
            "ReLU output shape: (1, 64, 7, 7)\n"
            "Conv2d output shape: (1, 192, 7, 7)\n"
            "ReLU output shape: (1, 192, 7, 7)\n"
            "MaxPool2d output shape: (1, 192, 4, 4)\n"
            "Concat output shape: (1, 256, 4, 4)\n"
            "Concat output shape: (1, 480, 4, 4)\n"
            "MaxPool2d output shape: (1, 480, 2, 2)\n"
            "Concat output shape: (1, 512, 2, 2)\n"
            "Concat output shape: (1, 512, 2, 2)\n"
            "Concat output shape: (1, 512, 2, 2)\n"
            "Concat output shape: (1, 528, 2, 2)\n"
            "Concat output shape: (1, 832, 2, 2)\n"
            "MaxPool2d output shape: (1, 832, 1, 1)\n"
            "Concat output shape: (1, 832, 1, 1)\n"
            "Concat output shape: (1, 1024, 1, 1)\n"
            "GlobalAvgPool2d output shape: (1, 1024, 1, 1)\n"
            "Flatten output shape: (1, 1024)\n"
            "Linear output shape: (1, 10)\n");
  // A stride-1 stem.
  EXPECT_EQ(googlenet::googlenet<hnn::cpu>(0, 1).trace(hnn::Shape{1, 1, 28, 28}),
            "Conv2d output shape: (1, 64, 28, 28)\n"
            "ReLU output shape: (1, 64, 28, 28)\n"
            "MaxPool2d output shape: (1, 64, 14, 14)\n"
            "Conv2d output shape: (1, 64, 14, 14)\n"
            "ReLU output shape: (1, 64, 14, 14)\n"
            "Conv2d output shape: (1, 192, 14, 14)\n"
            "ReLU output shape: (1, 192, 14, 14)\n"
            "MaxPool2d output shape: (1, 192, 7, 7)\n"
            "Concat output shape: (1, 256, 7, 7)\n"
            "Concat output shape: (1, 480, 7, 7)\n"
            "MaxPool2d output shape: (1, 480, 4, 4)\n"
            "Concat output shape: (1, 512, 4, 4)\n"
            "Concat output shape: (1, 512, 4, 4)\n"
            "Concat output shape: (1, 512, 4, 4)\n"
            "Concat output shape: (1, 528, 4, 4)\n"
            "Concat output shape: (1, 832, 4, 4)\n"
            "MaxPool2d output shape: (1, 832, 2, 2)\n"
            "Concat output shape: (1, 832, 2, 2)\n"
            "Concat output shape: (1, 1024, 2, 2)\n"
            "GlobalAvgPool2d output shape: (1, 1024, 1, 1)\n"
            "Flatten output shape: (1, 1024)\n"
            "Linear output shape: (1, 10)\n");
}

// The numbers at the top of examples/googlenet/model.hpp.
TEST(GoogLeNetModel, ParametersAndMultiplyAddsAsDocumented) {
  EXPECT_EQ(googlenet::googlenet<hnn::cpu>(0).parameter_count(), 5977530);
  EXPECT_EQ(googlenet::googlenet<hnn::cpu>(0, 1).parameter_count(), 5977530);
  std::int64_t stride1 = 0, stride2 = 0;
  EXPECT_EQ(count_multiply_adds(googlenet::googlenet_layers(1), hnn::Shape{1, 1, 28, 28}, stride1), (hnn::Shape{1, 10}));
  EXPECT_EQ(count_multiply_adds(googlenet::googlenet_layers(2), hnn::Shape{1, 1, 28, 28}, stride2), (hnn::Shape{1, 10}));
  EXPECT_EQ(stride1, 106796544);
  EXPECT_EQ(stride2, 28774656);
}

// With batch norm (torchvision's BasicConv2d): each of the 57 convolutions loses its bias
// and gains a BatchNorm2d's weight and bias, 7,280 output channels in all; the stages' shapes
// and the multiply-adds are the same.
TEST(GoogLeNetModel, BatchNormAfterEveryConvolution) {
  const std::vector<hnn::LayerSpec> layers = googlenet::googlenet_layers(2, true);
  EXPECT_EQ(googlenet::googlenet<hnn::cpu>(0, 2, true).parameter_count(), 5977530 + 7280);
  std::int64_t macs = 0;
  EXPECT_EQ(count_multiply_adds(layers, hnn::Shape{1, 1, 28, 28}, macs), (hnn::Shape{1, 10}));
  EXPECT_EQ(macs, 28774656);
  std::int64_t convolutions = 0, batch_norms = 0;
  const std::function<void(const std::vector<hnn::LayerSpec>&)> walk = [&](const std::vector<hnn::LayerSpec>& specs) {
    for (std::size_t i = 0; i < specs.size(); ++i) {
      if (const auto* concat = specs[i].get_if<hnn::Concat>()) {
        for (const hnn::Concat::Branch& branch : concat->branches()) walk(branch);
      } else if (const auto* conv = specs[i].get_if<hnn::Conv2d>()) {
        ++convolutions;
        EXPECT_FALSE(conv->bias()) << "convolution " << convolutions;
        ASSERT_LT(i + 2, specs.size());
        const auto* bn = specs[i + 1].get_if<hnn::BatchNorm2d>();
        ASSERT_NE(bn, nullptr) << "convolution " << convolutions << " is not followed by a BatchNorm2d";
        EXPECT_EQ(bn->num_features, conv->out_channels());
        EXPECT_NE(specs[i + 2].get_if<hnn::ReLU>(), nullptr);
        ++batch_norms;
      }
    }
  };
  walk(layers);
  EXPECT_EQ(convolutions, 57);
  EXPECT_EQ(batch_norms, 57);
  EXPECT_NE(googlenet::googlenet<hnn::cpu>(0, 2, true).trace(hnn::Shape{1, 1, 28, 28}).find("Concat output shape: (1, 1024, 1, 1)\n"),
            std::string::npos);
}

TEST(GoogLeNetModel, ForwardAndBackwardOfABatchOfTwo) {
  for (const std::int64_t stem_stride : {2, 1}) {
    SCOPED_TRACE("stem stride " + std::to_string(stem_stride));
    forward_and_backward(googlenet::googlenet<hnn::cpu>(7, stem_stride));
  }
  SCOPED_TRACE("batch norm");
  forward_and_backward(googlenet::googlenet<hnn::cpu>(7, 2, true));
}

}  // namespace googlenet_test
