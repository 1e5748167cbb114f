// ONNX out and in: hnn models for the deployment ecosystem (onnxruntime, TensorRT, OpenVINO),
// and models exported from PyTorch (torch.onnx.export) as hnn models. Opt-in: hnn/hnn.hpp does
// not include this header, which needs ONNX's protobuf classes (link the CMake target
// hnn::onnx; Debian: libonnx-dev and libprotobuf-dev, which scripts/install-deps.sh installs;
// find_package(hnn REQUIRED COMPONENTS onnx) for an installed hnn).
//
//   hnn::export_onnx(model, "lenet5.onnx", hnn::Shape{1, 1, 28, 28});   // hnn/onnx/export.hpp
//   auto net = hnn::load_onnx<float>("model.onnx");                     // hnn/onnx/import.hpp
//
// Errors in either direction are hnn::OnnxError ("<file>: <what is wrong>").
#pragma once

#include "hnn/onnx/common.hpp"
#include "hnn/onnx/export.hpp"
#include "hnn/onnx/import.hpp"
