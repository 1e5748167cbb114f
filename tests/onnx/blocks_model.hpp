// A small network with every kind of layer hnn writes to ONNX, for the committed file
// tests/fixtures/onnx/hnn_blocks.onnx (tests/interop/hnn_onnx_tool.cpp writes it,
// tests/onnx/test_onnx_export.cpp checks that hnn still writes it byte for byte, and
// tests/interop/pytorch_onnx.py that onnxruntime computes what hnn does on it).
#pragma once

#include <cmath>
#include <cstdint>

#include <hnn/model/residual.hpp>
#include <hnn/model/sequential.hpp>

#include "vary_batch_norms.hpp"

namespace onnx_test {

// Input (N, 1, 8, 8); output (N, 3).
inline hnn::Sequential<float, hnn::cpu> blocks_model() {
  using namespace hnn;
  Sequential<float, cpu> model(
      {Conv2d(1, 4, 3).padding(1).bias(false), BatchNorm2d(4), ReLU(), AvgPool2d(3, 2).padding(1),
       Residual({Conv2d(4, 4, 3).padding(1), BatchNorm2d(4).affine(false).eps(1e-3), Tanh()}),
       Residual({Conv2d(4, 6, 3).stride(2).padding(1)}, {Conv2d(4, 6, 1).stride(2)}), ReLU(),
       MaxPool2d(3, 1).padding(1), Dropout(0.25), GlobalAvgPool2d(), Flatten(), Linear(6, 5).bias(false),
       BatchNorm1d(5).momentum(0.25), Sigmoid(), Linear(5, 3)},
      7);
  vary_batch_norms(model);
  model.eval();
  return model;
}

inline hnn::Tensor<float, hnn::cpu> blocks_input() {
  hnn::Tensor<float, hnn::cpu> x(hnn::Shape{4, 1, 8, 8});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = 0.5f + 0.5f * std::sin(0.731f * static_cast<float>(i));
  return x;
}

}  // namespace onnx_test
