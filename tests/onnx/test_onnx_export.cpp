// ONNX out (hnn/onnx/export.hpp): every example network passes ONNX's own checker with the
// operators, attributes and initializer names expected, and reads back into hnn with the same
// outputs; the layers beyond the examples (BatchNorm without affine, padded pools, Dropout,
// Tanh, bias-less Linear, BatchNorm1d, nested Residual); the symbolic batch; and the refusals.
// That onnxruntime computes what hnn does on these files is tests/interop/pytorch_onnx.py's (c).
#include <gtest/gtest.h>

#include <onnx/checker.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "../../examples/lenet5_bn/model.hpp"
#include "../../examples/resnet/model.hpp"
#include "../support/lenet5.hpp"
#include "hnn/onnx.hpp"
#include "blocks_model.hpp"
#include "onnx_test_util.hpp"
#include "vary_batch_norms.hpp"

using namespace hnn;
using namespace onnx_test;

namespace {

struct Example {
  std::string name;
  std::function<Sequential<float, cpu>()> make;
  std::vector<std::string> ops;
};

std::vector<std::string> ops_of(const onnx::ModelProto& m) {
  std::vector<std::string> ops;
  for (const onnx::NodeProto& n : m.graph().node()) ops.push_back(n.op_type());
  return ops;
}

std::vector<Example> examples() {
  const std::vector<std::string> lenet_sigmoid{"Conv", "Sigmoid", "AveragePool", "Conv", "Sigmoid", "AveragePool",
                                               "Flatten", "Gemm", "Sigmoid", "Gemm", "Sigmoid", "Gemm"};
  const std::vector<std::string> lenet_relu{"Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool",
                                            "Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm"};
  const std::vector<std::string> lenet_bn{"Conv", "BatchNormalization", "Sigmoid", "AveragePool",
                                          "Conv", "BatchNormalization", "Sigmoid", "AveragePool", "Flatten",
                                          "Gemm", "BatchNormalization", "Sigmoid",
                                          "Gemm", "BatchNormalization", "Sigmoid", "Gemm"};
  const std::vector<std::string> identity_block{"Conv", "BatchNormalization", "Relu", "Conv", "BatchNormalization",
                                                "Add", "Relu"};
  const std::vector<std::string> projection_block{"Conv", "BatchNormalization", "Relu", "Conv", "BatchNormalization",
                                                  "Conv", "BatchNormalization", "Add", "Relu"};
  std::vector<std::string> resnet_ops{"Conv", "BatchNormalization", "Relu"};
  for (const auto* block : {&identity_block, &projection_block, &projection_block})
    resnet_ops.insert(resnet_ops.end(), block->begin(), block->end());
  for (const char* op : {"GlobalAveragePool", "Flatten", "Gemm"}) resnet_ops.push_back(op);
  return {
      {"lenet5 sigmoid", [] { return lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 3); }, lenet_sigmoid},
      {"lenet5 relu", [] { return lenet::lenet5<float, cpu>(lenet::Variant::relu, 4); }, lenet_relu},
      {"lenet5_bn", [] { return lenet5_bn::lenet5_bn<float, cpu>(5); }, lenet_bn},
      {"resnet", [] { return resnet::resnet<float, cpu>(6); }, resnet_ops},
  };
}

}  // namespace

TEST(OnnxExport, EveryExampleNetworkPassesTheCheckerWithItsOperatorsAndStateDictNames) {
  for (const Example& e : examples()) {
    SCOPED_TRACE(e.name);
    Sequential<float, cpu> model = e.make();
    const onnx::ModelProto m = to_onnx(model, Shape{1, 1, 28, 28});
    EXPECT_NO_THROW(onnx::checker::check_model(m));
    EXPECT_EQ(ops_of(m), e.ops);
    EXPECT_EQ(m.opset_import(0).version(), onnx_export_opset);

    std::set<std::string> initializers, state;
    for (const onnx::TensorProto& t : m.graph().initializer()) {
      initializers.insert(t.name());
      EXPECT_EQ(t.data_type(), onnx::TensorProto_DataType_FLOAT) << t.name();
    }
    for (const NamedTensor<float, cpu>& t : model.state_dict()) state.insert(t.name);
    EXPECT_EQ(initializers, state);

    const auto& in = m.graph().input(0).type().tensor_type().shape();
    ASSERT_EQ(in.dim_size(), 4);
    EXPECT_EQ(in.dim(0).dim_param(), "N");
    EXPECT_EQ(in.dim(2).dim_value(), 28);
    const auto& out = m.graph().output(0).type().tensor_type().shape();
    ASSERT_EQ(out.dim_size(), 2);
    EXPECT_EQ(out.dim(0).dim_param(), "N");
    EXPECT_EQ(out.dim(1).dim_value(), 10);
  }
}

TEST(OnnxExport, ConvAndPoolAttributesAreHnns) {
  Sequential<float, cpu> model({Conv2d(1, 4, 3).stride(2).padding(1).bias(false), AvgPool2d(3, 2).padding(1),
                                MaxPool2d(3, 1).padding(1), Flatten()},
                               1);
  const onnx::ModelProto m = to_onnx(model, Shape{1, 1, 9, 9});
  std::map<std::string, std::map<std::string, std::vector<std::int64_t>>> attrs;
  for (const onnx::NodeProto& n : m.graph().node())
    for (const onnx::AttributeProto& a : n.attribute())
      attrs[n.op_type()][a.name()] = a.ints_size() ? std::vector<std::int64_t>(a.ints().begin(), a.ints().end())
                                                   : std::vector<std::int64_t>{a.i()};
  using V = std::vector<std::int64_t>;
  EXPECT_EQ(attrs["Conv"]["kernel_shape"], (V{3, 3}));
  EXPECT_EQ(attrs["Conv"]["strides"], (V{2, 2}));
  EXPECT_EQ(attrs["Conv"]["pads"], (V{1, 1, 1, 1}));
  EXPECT_EQ(m.graph().node(0).input_size(), 2);  // no bias
  EXPECT_EQ(attrs["AveragePool"]["pads"], (V{1, 1, 1, 1}));
  EXPECT_EQ(attrs["AveragePool"]["strides"], (V{2, 2}));
  // hnn's average pooling divides padded windows by k*k, which ONNX calls count_include_pad.
  EXPECT_EQ(attrs["AveragePool"]["count_include_pad"], (V{1}));
  EXPECT_EQ(attrs["MaxPool"]["kernel_shape"], (V{3, 3}));
  EXPECT_EQ(attrs["MaxPool"]["strides"], (V{1, 1}));
}

TEST(OnnxExport, EveryExampleReadsBackWithTheSameOutputs) {
  for (const Example& e : examples()) {
    SCOPED_TRACE(e.name);
    Sequential<float, cpu> model = e.make();
    vary_batch_norms(model);
    const std::string bytes = to_onnx(model, Shape{1, 1, 28, 28}).SerializeAsString();
    OnnxModelInfo info;
    Sequential<float, cpu> back = load_onnx_bytes<float>(bytes.data(), bytes.size(), "test", &info);
    EXPECT_EQ(back.describe_all(), model.describe_all());
    EXPECT_TRUE(info.symbolic_batch);
    EXPECT_EQ(info.input_shape, (Shape{1, 1, 28, 28}));
    EXPECT_EQ(info.opset, onnx_export_opset);
    model.eval();
    const Tensor<float, cpu> x = wave(Shape{3, 1, 28, 28});
    const Tensor<float, cpu> want = model.forward(x).to<cpu>();
    EXPECT_LE(max_difference(back.forward(x).to<cpu>(), want), 1e-6);
  }
}

TEST(OnnxExport, LayersBeyondTheExamplesReadBackWithTheSameOutputs) {
  Sequential<float, cpu> model(
      {Conv2d(2, 3, 3).padding(1).bias(false), BatchNorm2d(3).affine(false).eps(1e-3), Tanh(),
       AvgPool2d(3, 2).padding(1), MaxPool2d(3, 1).padding(1), Dropout(0.3),
       Residual({Conv2d(3, 3, 1), ReLU(), Residual({Conv2d(3, 3, 3).padding(1)}), BatchNorm2d(3)}),
       Residual({Conv2d(3, 4, 3).stride(2).padding(1)}, {Conv2d(3, 4, 1).stride(2)}), ReLU(), Flatten(),
       Linear(4 * 2 * 2, 5).bias(false), BatchNorm1d(5).momentum(0.25), Sigmoid(), Linear(5, 3)},
      11);
  vary_batch_norms(model);
  const onnx::ModelProto m = to_onnx(model, Shape{1, 2, 7, 7});
  for (const onnx::NodeProto& n : m.graph().node()) EXPECT_NE(n.op_type(), "Dropout");
  const std::string bytes = m.SerializeAsString();
  Sequential<float, cpu> back = load_onnx_bytes<float>(bytes.data(), bytes.size(), "test");
  // Dropout is not in the file (the identity in evaluation mode), and ONNX's batch norm always
  // scales and shifts (by 1 and 0 here, which read back as parameters); the rest is the same.
  std::string expected = model.describe_all();
  for (const std::string cut : {" -> Dropout(p=0.3)", ", affine=False"}) expected.replace(expected.find(cut), cut.size(), "");
  EXPECT_EQ(back.describe_all(), expected);
  model.eval();
  for (std::int64_t batch : {1, 4}) {
    const Tensor<float, cpu> x = wave(Shape{batch, 2, 7, 7}, 0.5f);
    EXPECT_LE(max_difference(back.forward(x).to<cpu>(), model.forward(x).to<cpu>()), 1e-6) << "batch " << batch;
  }
}

TEST(OnnxExport, ADoubleModelIsWrittenAsFloat) {
  Sequential<double, cpu> model({Linear(4, 3), Tanh()}, 2);
  const onnx::ModelProto m = to_onnx(model, Shape{1, 4});
  for (const onnx::TensorProto& t : m.graph().initializer()) EXPECT_EQ(t.data_type(), onnx::TensorProto_DataType_FLOAT);
  const std::string bytes = m.SerializeAsString();
  Sequential<double, cpu> back = load_onnx_bytes<double>(bytes.data(), bytes.size(), "test");
  const Tensor<double, cpu> w = back.state_dict()[0].value->to<cpu>(), original = model.state_dict()[0].value->to<cpu>();
  for (std::int64_t i = 0; i < w.numel(); ++i) EXPECT_EQ(w[i], static_cast<double>(static_cast<float>(original[i])));
}

TEST(OnnxExport, AModelOfDropoutAloneCopiesItsInput) {
  Sequential<float, cpu> model({Dropout(0.5)}, 1);
  const onnx::ModelProto m = to_onnx(model, Shape{1, 6});
  ASSERT_EQ(m.graph().node_size(), 1);
  EXPECT_EQ(m.graph().node(0).op_type(), "Identity");
  EXPECT_EQ(m.graph().output(0).name(), "output");
}

namespace {
// A layer of a user's own, which ONNX has no operator for.
template <class T, class Device>
class HalveLayer final : public Layer<T, Device> {
 public:
  template <class D>
  explicit HalveLayer(const D&) {}
  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override { return input; }
  const Tensor<T, Device>& backward(const Tensor<T, Device>& g) override { return g; }
};
struct Halve : detail::SizelessSpec<Halve> {
  static constexpr const char* kind = "Halve";
  template <class T, class Device>
  using layer = HalveLayer<T, Device>;
  Shape output_shape(const Shape& input) const { return input; }
};
}  // namespace

TEST(OnnxExport, RefusesALayerWithoutAnOnnxFormAndAShapeThatDoesNotFit) {
  Sequential<float, cpu> model({Linear(4, 3), Halve()}, 1);
  EXPECT_NE(onnx_error([&] { to_onnx(model, Shape{1, 4}, "test"); }).find("layer 1 (Halve()) has no ONNX form"),
            std::string::npos);
  Sequential<float, cpu> linear({Linear(4, 3)}, 1);
  EXPECT_NE(onnx_error([&] { to_onnx(linear, Shape{1, 5}, "test"); }).find("layer 0 (Linear(4, 3)): Linear(4, 3) expects 4 input features"),
            std::string::npos);
  EXPECT_NE(onnx_error([&] { to_onnx(linear, Shape{4}, "test"); }).find("needs a batch dimension"), std::string::npos);
}

class OnnxExportFile : public ScratchDir {};

TEST_F(OnnxExportFile, WritesAFileTheCheckerAndTheReaderAccept) {
  Sequential<float, cpu> model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 9);
  const std::string file = path("lenet5.onnx");
  export_onnx(model, file, Shape{1, 1, 28, 28});
  EXPECT_NO_THROW(onnx::checker::check_model(file));
  Sequential<float, cpu> back = load_onnx<float>(file);
  model.eval();
  const Tensor<float, cpu> x = wave(Shape{2, 1, 28, 28});
  EXPECT_LE(max_difference(back.forward(x).to<cpu>(), model.forward(x).to<cpu>()), 1e-6);
  // No temporary file is left beside it.
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) files += entry.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1u);

  const std::string nowhere = path("no/such/folder/m.onnx");
  EXPECT_NE(onnx_error([&] { export_onnx(model, nowhere, Shape{1, 1, 28, 28}); }, nowhere).find("cannot"),
            std::string::npos);
}

// A file hnn wrote and that is committed (tests/fixtures/onnx/hnn_blocks.onnx): ONNX's C++
// checker accepts it, hnn reads it back to the outputs stored beside it, and hnn still writes
// it byte for byte (a change in what hnn writes shows here first; onnxruntime's reading of the
// same file is tests/interop/pytorch_onnx.py's).
TEST(OnnxExport, TheCommittedFileOfEveryLayerKind) {
  const std::string stem = std::string(HNN_SOURCE_DIR) + "/tests/fixtures/onnx/hnn_blocks";
  EXPECT_NO_THROW(onnx::checker::check_model(stem + ".onnx"));
  Sequential<float, cpu> back = load_onnx<float>(stem + ".onnx");
  const Tensor<float, cpu> x = read_onnx_tensor<float>(stem + ".input.pb");
  EXPECT_LE(max_difference(back.forward(x).to<cpu>(), read_onnx_tensor<float>(stem + ".output.pb")), 1e-6);
  Sequential<float, cpu> model = blocks_model();
  EXPECT_LE(max_difference(model.forward(blocks_input()).to<cpu>(), read_onnx_tensor<float>(stem + ".output.pb")), 1e-6);
  // The byte-for-byte check is of what hnn writes (nodes, attributes, names, tensor layout), so
  // the model takes its numbers from the committed file: how a build rounds the seeded
  // initialisation is not part of it (GCC contracts a * b + c into one FMA from -O2 up, not at
  // the sanitizer stage's -O1, and the last bit of a weight differs).
  onnx::ModelProto committed;
  ASSERT_TRUE(committed.ParseFromString(read_file(stem + ".onnx")));
  std::map<std::string, const onnx::TensorProto*> stored;
  for (const onnx::TensorProto& t : committed.graph().initializer()) stored[t.name()] = &t;
  for (const NamedTensor<float, cpu>& t : model.state_dict()) {
    const auto it = stored.find(t.name);
    if (it != stored.end()) t.value->copy_from(detail::onnx_io::read_floats<float>(stem, *it->second, t.name));
  }
  EXPECT_TRUE(to_onnx(model, Shape{1, 1, 8, 8}).SerializeAsString() == read_file(stem + ".onnx"))
      << "hnn no longer writes " << stem << ".onnx byte for byte; if the change is meant, rewrite it with "
      << "hnn_onnx_tool blocks tests/fixtures/onnx (and check it with tests/interop/pytorch_onnx.py)";
}
