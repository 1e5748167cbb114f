// hnn_onnx_tool: hnn's side of tests/interop/pytorch_onnx.py (built with hnn::onnx).
//
//   hnn_onnx_tool roundtrip IN.onnx OUT.onnx
//       reads IN (any file hnn reads, e.g. one torch.onnx.export wrote) and writes what hnn
//       read back out with hnn::export_onnx, for the same input shape
//   hnn_onnx_tool examples DIR
//       writes every example network (lenet5 sigmoid and relu, lenet5_bn, resnet; fixed random
//       weights, batch-norm statistics away from their initial values) as DIR/<name>.onnx, with
//       a batch of 8 inputs DIR/<name>.input.pb and hnn's outputs for it DIR/<name>.output.pb
//       (serialized ONNX TensorProtos)
//   hnn_onnx_tool blocks DIR
//       writes DIR/hnn_blocks.onnx, .input.pb and .output.pb the same way for the network of
//       every layer kind in tests/onnx/blocks_model.hpp (the committed tests/fixtures/onnx/ ones)
// Exit status 0, or 1 with the error on stderr.
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>

#include <hnn/onnx.hpp>

#include "../../examples/lenet5_bn/model.hpp"
#include "../../examples/resnet/model.hpp"
#include "../onnx/blocks_model.hpp"
#include "../onnx/vary_batch_norms.hpp"
#include "../support/lenet5.hpp"

namespace {

int examples(const std::string& dir) {
  struct Example {
    const char* name;
    hnn::Sequential<float, hnn::cpu> model;
  };
  Example all[] = {{"lenet5_sigmoid", lenet::lenet5<float, hnn::cpu>(lenet::Variant::sigmoid, 1)},
                   {"lenet5_relu", lenet::lenet5<float, hnn::cpu>(lenet::Variant::relu, 2)},
                   {"lenet5_bn", lenet5_bn::lenet5_bn<float, hnn::cpu>(3)},
                   {"resnet", resnet::resnet<float, hnn::cpu>(4)}};
  hnn::Tensor<float, hnn::cpu> x(hnn::Shape{8, 1, 28, 28});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = 0.5f + 0.5f * std::sin(0.731f * static_cast<float>(i));
  for (Example& e : all) {
    onnx_test::vary_batch_norms(e.model);
    e.model.eval();
    const std::string stem = dir + "/" + e.name;
    hnn::export_onnx(e.model, stem + ".onnx", hnn::Shape{1, 1, 28, 28});
    hnn::write_onnx_tensor(x, stem + ".input.pb", "input");
    hnn::write_onnx_tensor(e.model.forward(x).to<hnn::cpu>(), stem + ".output.pb", "output");
    std::printf("wrote %s.onnx (%s)\n", stem.c_str(), e.model.describe_all().c_str());
  }
  return 0;
}

int blocks(const std::string& dir) {
  hnn::Sequential<float, hnn::cpu> model = onnx_test::blocks_model();
  const hnn::Tensor<float, hnn::cpu> x = onnx_test::blocks_input();
  const std::string stem = dir + "/hnn_blocks";
  hnn::export_onnx(model, stem + ".onnx", hnn::Shape{1, 1, 8, 8});
  hnn::write_onnx_tensor(x, stem + ".input.pb", "input");
  hnn::write_onnx_tensor(model.forward(x).to<hnn::cpu>(), stem + ".output.pb", "output");
  std::printf("wrote %s.onnx (%s)\n", stem.c_str(), model.describe_all().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string command = argc > 1 ? argv[1] : "";
    if (command == "roundtrip" && argc == 4) {
      hnn::OnnxModelInfo info;
      hnn::Sequential<float, hnn::cpu> model = hnn::load_onnx<float>(argv[2], &info);
      hnn::export_onnx(model, argv[3], info.input_shape);
      std::printf("read %s (opset %lld, %s): %s; wrote %s\n", argv[2], static_cast<long long>(info.opset),
                  info.producer.c_str(), model.describe_all().c_str(), argv[3]);
      return 0;
    }
    if (command == "examples" && argc == 3) return examples(argv[2]);
    if (command == "blocks" && argc == 3) return blocks(argv[2]);
    std::fprintf(stderr, "usage: hnn_onnx_tool roundtrip IN.onnx OUT.onnx | examples DIR | blocks DIR\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hnn_onnx_tool: %s\n", e.what());
    return 1;
  }
}
