// ONNX in (hnn/onnx/import.hpp): files PyTorch's two exporters wrote (tests/fixtures/onnx,
// made by tests/interop/pytorch_onnx.py --write-fixtures) give PyTorch's logits; each form
// in which an exporter writes hnn's layers (MatMul + Add, Gemm's transB / alpha / beta,
// Reshape and ReduceMean, Constant and Identity weights, residual joins either way round,
// nested residual blocks, Dropout, initializers listed as inputs, external data) reads as the
// layer it is, with the numbers computed by hand; and what hnn has no layer for is refused with
// the node's name, its operator and the attribute.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hnn/data/mnist.hpp"
#include "hnn/onnx.hpp"
#include "onnx_test_util.hpp"

using namespace hnn;
using namespace onnx_test;

namespace {

const std::string fixtures = std::string(HNN_SOURCE_DIR) + "/tests/fixtures/onnx/";

std::size_t count_kind(const Sequential<float, cpu>& m, const std::string& kind) {
  std::size_t n = 0;
  for (const LayerSpec& s : m.specs()) {
    n += s.kind() == kind ? 1 : 0;
    for (const LayerSpec& c : s.children()) n += c.kind() == kind ? 1 : 0;
  }
  return n;
}

}  // namespace

// The first 16 test images of the committed slice, through files torch.onnx.export wrote.
TEST(OnnxImport, FilesPyTorchWroteGivePyTorchsLogits) {
  const data::Dataset test = data::load_fashion_mnist(std::string(HNN_SOURCE_DIR) + "/data/fashion-mnist",
                                                      data::Split::test, 16);
  const std::vector<float> first(test.images.begin(), test.images.begin() + 16 * 28 * 28);
  const Tensor<float, cpu> images = Tensor<float, cpu>::from_vector(Shape{16, 1, 28, 28}, first);
  struct Case {
    const char* name;
    std::size_t residuals, batch_norms, flattens;
  };
  for (const Case& c : {Case{"lenet5_sigmoid_dynamo18", 0, 0, 1}, Case{"resnet_tiny_torchscript17_bn", 3, 9, 1},
                        Case{"resnet_tiny_dynamo18", 3, 0, 1}}) {
    SCOPED_TRACE(c.name);
    OnnxModelInfo info;
    Sequential<float, cpu> model = load_onnx<float>(fixtures + c.name + ".onnx", &info);
    EXPECT_TRUE(info.symbolic_batch);
    EXPECT_EQ(info.input_shape, (Shape{1, 1, 28, 28}));
    EXPECT_NE(info.producer.find("pytorch"), std::string::npos) << info.producer;
    EXPECT_FALSE(model.training());
    EXPECT_EQ(count_kind(model, "Residual"), c.residuals) << model.describe_all();
    EXPECT_EQ(count_kind(model, "BatchNorm2d"), c.batch_norms) << model.describe_all();
    EXPECT_EQ(count_kind(model, "Flatten"), c.flattens) << model.describe_all();
    const Tensor<float, cpu> want = read_onnx_tensor<float>(fixtures + c.name + ".logits.pb");
    const Tensor<float, cpu> got = model.forward(images).to<cpu>();
    ASSERT_EQ(got.shape(), (Shape{16, 10}));
    EXPECT_LE(max_difference(got, want), 1e-4);
    for (std::int64_t i = 0; i < 16; ++i) {
      std::int64_t a = 0, b = 0;
      for (std::int64_t k = 1; k < 10; ++k) {
        if (got[i * 10 + k] > got[i * 10 + a]) a = k;
        if (want[i * 10 + k] > want[i * 10 + b]) b = k;
      }
      EXPECT_EQ(a, b) << "image " << i;
    }
  }
}

namespace {

// y = x W^T + b for x (rows, in), W (out, in) given as the builder's init() sequence.
std::vector<double> linear_by_hand(const Tensor<float, cpu>& x, const Tensor<float, cpu>& w, const std::vector<double>& b) {
  const std::int64_t rows = x.dim(0), in = x.dim(1), out = w.dim(0);
  std::vector<double> y(static_cast<std::size_t>(rows * out));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t o = 0; o < out; ++o) {
      double s = b.empty() ? 0 : b[static_cast<std::size_t>(o)];
      for (std::int64_t i = 0; i < in; ++i) s += static_cast<double>(x[r * in + i]) * w[o * in + i];
      y[static_cast<std::size_t>(r * out + o)] = s;
    }
  return y;
}

Tensor<float, cpu> initializer(const ModelBuilder& b, const std::string& name) {
  for (const onnx::TensorProto& t : b.model.graph().initializer())
    if (t.name() == name) return detail::onnx_io::read_floats<float>("test", t, name);
  ADD_FAILURE() << "no initializer " << name;
  return {};
}

Tensor<float, cpu> transpose(const Tensor<float, cpu>& m) {
  Tensor<float, cpu> t(Shape{m.dim(1), m.dim(0)});
  for (std::int64_t r = 0; r < m.dim(0); ++r)
    for (std::int64_t c = 0; c < m.dim(1); ++c) t[c * m.dim(0) + r] = m[r * m.dim(1) + c];
  return t;
}

void expect_near(const Tensor<float, cpu>& got, const std::vector<double>& want, double tolerance = 1e-5) {
  ASSERT_EQ(static_cast<std::size_t>(got.numel()), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[static_cast<std::int64_t>(i)], want[i], tolerance) << i;
}

}  // namespace

TEST(OnnxImport, MatMulAndTheAddOfABiasAreALinear) {
  ModelBuilder b(18);
  b.input("x", {2, 4}).output("y").init("W", {4, 3}).init("bias", {3}, 0.5f, 0.25f);
  b.node("MatMul", {"x", "W"}, {"m"});
  b.node("Add", {"bias", "m"}, {"y"});  // the bias first: either order is a bias
  Sequential<float, cpu> model = load(b);
  EXPECT_EQ(model.describe_all(), "Linear(4, 3)");
  const Tensor<float, cpu> x = wave(Shape{2, 4});
  const Tensor<float, cpu> bias = initializer(b, "bias");
  expect_near(model.forward(x).to<cpu>(),
              linear_by_hand(x, transpose(initializer(b, "W")), {bias[0], bias[1], bias[2]}));
  // Without the Add: no bias.
  ModelBuilder plain(13);
  plain.input("x", {2, 4}).output("y").init("W", {4, 3});
  plain.node("MatMul", {"x", "W"}, {"y"});
  EXPECT_EQ(load(plain).describe_all(), "Linear(4, 3, bias=False)");
}

TEST(OnnxImport, GemmTransposesAndScalesAsItsAttributesSay) {
  ModelBuilder b(13);
  b.input("x", {3, 4}).output("y").init("B", {4, 2}).init("C", {1, 2}, -0.3f, 0.2f);
  onnx::NodeProto& g = b.node("Gemm", {"x", "B", "C"}, {"y"});
  integer(g, "transB", 0);
  real(g, "alpha", 2.0f);
  real(g, "beta", 0.5f);
  Sequential<float, cpu> model = load(b);
  EXPECT_EQ(model.describe_all(), "Linear(4, 2)");
  Tensor<float, cpu> w = transpose(initializer(b, "B"));
  for (std::int64_t i = 0; i < w.numel(); ++i) w[i] *= 2.0f;
  const Tensor<float, cpu> c = initializer(b, "C");
  const Tensor<float, cpu> x = wave(Shape{3, 4});
  expect_near(model.forward(x).to<cpu>(), linear_by_hand(x, w, {0.5 * c[0], 0.5 * c[1]}));
}

TEST(OnnxImport, ReshapeToBatchAndFeaturesIsAFlatten) {
  struct Case {
    std::vector<std::int64_t> shape;
    bool symbolic, allow_zero, accepted;
  };
  for (const Case& c : {Case{{0, -1}, true, false, true}, Case{{-1, 48}, true, true, true},
                        Case{{0, 48}, true, false, true}, Case{{2, -1}, false, false, true},
                        Case{{2, 48}, false, true, true}, Case{{1, -1}, true, false, false},
                        Case{{-1, 24}, true, false, false}, Case{{0, -1}, true, true, false},
                        Case{{2, 3, 16}, false, false, false}}) {
    SCOPED_TRACE(::testing::PrintToString(c.shape) + (c.symbolic ? " symbolic" : " static") +
                 (c.allow_zero ? " allowzero" : ""));
    ModelBuilder b(14);
    b.input("x", {2, 3, 4, 4}, c.symbolic).output("y").init_ints("shape", c.shape);
    integer(b.node("Reshape", {"x", "shape"}, {"y"}, "flat"), "allowzero", c.allow_zero ? 1 : 0);
    if (c.accepted) {
      EXPECT_EQ(load(b).describe_all(), "Flatten()");
    } else {
      EXPECT_NE(onnx_error([&] { load(b); }).find("node 'flat' (Reshape): the reshape of"), std::string::npos);
    }
  }
}

TEST(OnnxImport, ReduceMeanOverHeightAndWidthIsAGlobalAveragePool) {
  ModelBuilder b(13);
  b.input("x", {2, 3, 4, 5}).output("y");
  onnx::NodeProto& r = b.node("ReduceMean", {"x"}, {"y"});
  ints(r, "axes", {3, 2});
  integer(r, "keepdims", 0);
  Sequential<float, cpu> model = load(b);
  EXPECT_EQ(model.describe_all(), "GlobalAvgPool2d() -> Flatten()");
  const Tensor<float, cpu> x = wave(Shape{2, 3, 4, 5});
  std::vector<double> means;
  for (std::int64_t p = 0; p < 6; ++p) {
    double s = 0;
    for (std::int64_t i = 0; i < 20; ++i) s += x[p * 20 + i];
    means.push_back(s / 20);
  }
  expect_near(model.forward(x).to<cpu>(), means);

  ModelBuilder opset18(18);  // axes as an input, as the dynamo exporter writes them
  opset18.input("x", {2, 3, 4, 5}).output("y").init_ints("axes", {-1, -2});
  integer(opset18.node("ReduceMean", {"x", "axes"}, {"y"}), "keepdims", 1);
  EXPECT_EQ(load(opset18).describe_all(), "GlobalAvgPool2d()");

  ModelBuilder channels(18);
  channels.input("x", {2, 3, 4, 5}).output("y").init_ints("axes", {1});
  channels.node("ReduceMean", {"x", "axes"}, {"y"}, "mean");
  EXPECT_NE(onnx_error([&] { load(channels); }).find("node 'mean' (ReduceMean): a mean over axes [1]"),
            std::string::npos);
}

TEST(OnnxImport, AnAddOfTwoBranchesIsAResidualBlockEitherWayRound) {
  for (bool body_first : {true, false}) {
    SCOPED_TRACE(body_first ? "Add(body, x)" : "Add(x, body)");
    ModelBuilder b(13);
    b.input("x", {1, 2, 3, 3}).output("y").init("w", {2, 2, 1, 1}, 0.3f, 0.1f);
    b.node("Conv", {"x", "w"}, {"c"});
    b.node("Relu", {"c"}, {"r"});
    if (body_first) b.node("Add", {"r", "x"}, {"s"});
    else b.node("Add", {"x", "r"}, {"s"});
    b.node("Relu", {"s"}, {"y"});
    Sequential<float, cpu> model = load(b);
    EXPECT_EQ(model.describe_all(),
              "Residual(body=[Conv2d(2, 2, kernel=1, padding=0, stride=1, bias=False), ReLU()], shortcut=identity) -> ReLU()");
    const Tensor<float, cpu> x = wave(Shape{1, 2, 3, 3});
    const Tensor<float, cpu> w = initializer(b, "w");
    std::vector<double> want;
    for (std::int64_t o = 0; o < 2; ++o)
      for (std::int64_t p = 0; p < 9; ++p) {
        const double conv = static_cast<double>(w[o * 2]) * x[p] + static_cast<double>(w[o * 2 + 1]) * x[9 + p];
        want.push_back(std::max(0.0, std::max(0.0, conv) + x[o * 9 + p]));
      }
    expect_near(model.forward(x).to<cpu>(), want);
  }
}

TEST(OnnxImport, ProjectionShortcutsAndNestedBlocks) {
  ModelBuilder b(13);
  b.input("x", {1, 2, 4, 4}).output("y");
  b.init("w1", {3, 2, 3, 3}).init("w2", {3, 3, 1, 1}).init("ws", {3, 2, 1, 1});
  onnx::NodeProto& c1 = b.node("Conv", {"x", "w1"}, {"a"});
  ints(c1, "pads", {1, 1, 1, 1});
  b.node("Relu", {"a"}, {"r"});
  b.node("Conv", {"r", "w2"}, {"inner"});
  b.node("Add", {"inner", "r"}, {"nested"});  // a block inside the body
  b.node("Conv", {"x", "ws"}, {"shortcut"});
  b.node("Add", {"nested", "shortcut"}, {"y"});
  Sequential<float, cpu> model = load(b);
  EXPECT_EQ(model.describe_all(),
            "Residual(body=[Conv2d(2, 3, kernel=3, padding=1, stride=1, bias=False), ReLU(), "
            "Residual(body=[Conv2d(3, 3, kernel=1, padding=0, stride=1, bias=False)], shortcut=identity)], "
            "shortcut=[Conv2d(2, 3, kernel=1, padding=0, stride=1, bias=False)])");
  // The tensors reach their layers: the same model built by hand gives the same output.
  Sequential<float, cpu> by_hand(
      {Residual({Conv2d(2, 3, 3).padding(1).bias(false), ReLU(), Residual({Conv2d(3, 3, 1).bias(false)})},
                {Conv2d(2, 3, 1).bias(false)})},
      1);
  by_hand.state_dict()[0].value->copy_from(initializer(b, "w1"));
  by_hand.state_dict()[1].value->copy_from(initializer(b, "w2"));
  by_hand.state_dict()[2].value->copy_from(initializer(b, "ws"));
  by_hand.eval();
  const Tensor<float, cpu> x = wave(Shape{2, 2, 4, 4});
  EXPECT_LE(max_difference(model.forward(x).to<cpu>(), by_hand.forward(x).to<cpu>()), 1e-6);
}

TEST(OnnxImport, WeightsFromConstantAndIdentityNodesAndInitializersListedAsInputs) {
  ModelBuilder b(11);
  b.input("x", {2, 3}).output("y").init("W", {2, 3});
  b.input("W", {2, 3}, false);  // an older exporter's habit: every initializer is also an input
  onnx::NodeProto& k = b.node("Constant", {}, {"bias"});
  onnx::AttributeProto& v = *k.add_attribute();
  v.set_name("value_floats");
  v.set_type(onnx::AttributeProto_AttributeType_FLOATS);
  v.add_floats(1.5f);
  v.add_floats(-2.5f);
  b.node("Identity", {"W"}, {"W2"});
  integer(b.node("Gemm", {"x", "W2", "bias"}, {"g"}), "transB", 1);
  onnx::NodeProto& d = b.node("Dropout", {"g"}, {"y"});
  real(d, "ratio", 0.25f);
  b.node("Softmax", {"g"}, {"unused"});  // nothing the output needs: ignored
  Sequential<float, cpu> model = load(b);
  EXPECT_EQ(model.describe_all(), "Linear(3, 2) -> Dropout(p=0.25)");
  const Tensor<float, cpu> x = wave(Shape{2, 3});
  expect_near(model.forward(x).to<cpu>(), linear_by_hand(x, initializer(b, "W"), {1.5, -2.5}));
}

TEST(OnnxImport, BatchNormalizationReadsItsStatisticsAndEpsilon) {
  ModelBuilder b(15);
  b.input("x", {2, 3}).output("y");
  b.init("scale", {3}, 1.5f, 0.25f).init("shift", {3}, -0.5f, 0.5f).init("mean", {3}, 0.2f, 0.1f).init("var", {3}, 0.5f, 0.25f);
  onnx::NodeProto& n = b.node("BatchNormalization", {"x", "scale", "shift", "mean", "var"}, {"y"});
  real(n, "epsilon", 1e-3f);
  real(n, "momentum", 0.8f);
  Sequential<float, cpu> model = load(b);
  EXPECT_EQ(model.describe_all(), "BatchNorm1d(3, eps=0.001, momentum=0.2)");
  const Tensor<float, cpu> x = wave(Shape{2, 3});
  const Tensor<float, cpu> g = initializer(b, "scale"), s = initializer(b, "shift"), m = initializer(b, "mean"),
                           v = initializer(b, "var");
  std::vector<double> want;
  for (std::int64_t r = 0; r < 2; ++r)
    for (std::int64_t c = 0; c < 3; ++c)
      want.push_back((x[r * 3 + c] - m[c]) / std::sqrt(static_cast<double>(v[c]) + 1e-3) * g[c] + s[c]);
  expect_near(model.forward(x).to<cpu>(), want);
}

// What hnn has no layer for: the node's name, operator and attribute in one line.
TEST(OnnxImport, RefusesWhatHnnHasNoLayerFor) {
  struct Case {
    std::string what, expected;
    std::function<void(ModelBuilder&)> build;
  };
  const auto conv = [](ModelBuilder& b, std::vector<std::int64_t> w = {2, 2, 3, 3}) -> onnx::NodeProto& {
    b.input("x", {1, 2, 6, 6}).output("y").init("w", w);
    return b.node("Conv", {"x", "w"}, {"y"}, "conv");
  };
  const auto pool = [](ModelBuilder& b, const char* op) -> onnx::NodeProto& {
    b.input("x", {1, 2, 6, 6}).output("y");
    onnx::NodeProto& n = b.node(op, {"x"}, {"y"}, "pool");
    ints(n, "kernel_shape", {3, 3});
    return n;
  };
  const std::vector<Case> cases{
      {"softmax", "node 'sm' (Softmax) has no hnn layer", [](ModelBuilder& b) {
         b.input("x", {1, 4}).output("y");
         b.node("Softmax", {"x"}, {"y"}, "sm");
       }},
      {"groups", "node 'conv' (Conv): attribute group = 2: hnn's Conv2d has no groups",
       [&](ModelBuilder& b) { integer(conv(b, {2, 1, 3, 3}), "group", 2); }},
      {"dilation", "node 'conv' (Conv): attribute dilations = [2, 2]",
       [&](ModelBuilder& b) { ints(conv(b), "dilations", {2, 2}); }},
      {"asymmetric pads", "node 'conv' (Conv): attribute pads = [0, 0, 1, 1]: hnn's Conv2d pads all four sides alike",
       [&](ModelBuilder& b) { ints(conv(b), "pads", {0, 0, 1, 1}); }},
      {"unequal strides", "node 'conv' (Conv): attribute strides = [1, 2]",
       [&](ModelBuilder& b) { ints(conv(b), "strides", {1, 2}); }},
      {"auto pad", "node 'conv' (Conv): attribute auto_pad = SAME_UPPER",
       [&](ModelBuilder& b) {
         onnx::AttributeProto& a = *conv(b).add_attribute();
         a.set_name("auto_pad");
         a.set_type(onnx::AttributeProto_AttributeType_STRING);
         a.set_s("SAME_UPPER");
       }},
      {"rectangular kernel", "node 'conv' (Conv): its kernel is 3x1", [&](ModelBuilder& b) { conv(b, {2, 2, 3, 1}); }},
      {"unknown attribute", "node 'conv' (Conv): attribute 'colour' is not one hnn reads",
       [&](ModelBuilder& b) { integer(conv(b), "colour", 3); }},
      {"average excluding padding",
       "node 'pool' (AveragePool): attribute count_include_pad = 0: with pads 1, hnn's AvgPool2d divides by the whole window",
       [&](ModelBuilder& b) { ints(pool(b, "AveragePool"), "pads", {1, 1, 1, 1}); }},
      {"ceil mode", "node 'pool' (MaxPool): attribute ceil_mode = 1",
       [&](ModelBuilder& b) { integer(pool(b, "MaxPool"), "ceil_mode", 1); }},
      {"pads over half the window", "node 'pool' (MaxPool): MaxPool2d: padding must be at most half the kernel size",
       [&](ModelBuilder& b) { ints(pool(b, "MaxPool"), "pads", {2, 2, 2, 2}); }},
      {"max pool indices", "node 'pool' (MaxPool): its output 1 ('idx') is used",
       [&](ModelBuilder& b) {
         b.input("x", {1, 2, 6, 6}).output("y");
         ints(b.node("MaxPool", {"x"}, {"p", "idx"}, "pool"), "kernel_shape", {2, 2});
         b.node("Add", {"p", "idx"}, {"y"}, "use");
       }},
      {"flatten axis 2", "node 'f' (Flatten): attribute axis = 2: hnn's Flatten keeps the batch dimension alone",
       [](ModelBuilder& b) {
         b.input("x", {1, 2, 3, 4}).output("y");
         integer(b.node("Flatten", {"x"}, {"y"}, "f"), "axis", 2);
       }},
      {"transA", "node 'g' (Gemm): attribute transA = 1", [](ModelBuilder& b) {
         b.input("x", {4, 3}).output("y").init("w", {4, 2});
         integer(b.node("Gemm", {"x", "w"}, {"y"}, "g"), "transA", 1);
       }},
      {"per-row bias", "node 'g' (Gemm): its bias has shape (3, 2); hnn's Linear adds one bias per output",
       [](ModelBuilder& b) {
         b.input("x", {3, 4}, false).output("y").init("w", {2, 4}).init("c", {3, 2});
         integer(b.node("Gemm", {"x", "w", "c"}, {"y"}, "g"), "transB", 1);
       }},
      {"training batch norm", "node 'bn' (BatchNormalization): attribute training_mode = 1", [](ModelBuilder& b) {
         b = ModelBuilder(15);
         b.input("x", {2, 3}).output("y").init("s", {3}).init("b", {3}).init("m", {3}).init("v", {3}, 1.f);
         integer(b.node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}, "bn"), "training_mode", 1);
       }},
      {"a constant added to the data", "node 'plus' (Add) adds a constant to the data", [](ModelBuilder& b) {
         b.input("x", {2, 3}).output("y").init("c", {3});
         b.node("Add", {"x", "c"}, {"y"}, "plus");
       }},
      {"a join other than Add", "node 'cat' (Concat) joins the branches that fork at tensor 'x'", [](ModelBuilder& b) {
         b.input("x", {2, 3}).output("y");
         b.node("Relu", {"x"}, {"r"});
         b.node("Sigmoid", {"x"}, {"s"});
         integer(b.node("Concat", {"r", "s"}, {"y"}, "cat"), "axis", 1);
       }},
      {"another domain", "node 'custom' (Relu) is from the operator domain 'com.example'", [](ModelBuilder& b) {
         b.input("x", {2, 3}).output("y");
         b.node("Relu", {"x"}, {"y"}, "custom").set_domain("com.example");
       }},
      {"weights computed from the input", "node 'mm' (MatMul) reads the data 'x' twice", [](ModelBuilder& b) {
         b.input("x", {3, 3}).output("y");
         b.node("MatMul", {"x", "x"}, {"y"}, "mm");
       }},
      {"weights computed by another node", "its weight 'wt' is computed by node 't' (Transpose)", [](ModelBuilder& b) {
         b.input("x", {2, 3}).output("y").init("w", {2, 3});
         b.node("Transpose", {"w"}, {"wt"}, "t");
         b.node("MatMul", {"x", "wt"}, {"y"}, "mm");
       }},
      {"training dropout", "node 'drop' (Dropout): its training_mode is not false", [](ModelBuilder& b) {
         b = ModelBuilder(13);
         b.input("x", {2, 3}).output("y");
         onnx::TensorProto& t = *b.graph().add_initializer();
         t.set_name("train");
         t.set_data_type(onnx::TensorProto_DataType_BOOL);
         t.add_int32_data(1);
         b.node("Dropout", {"x", "", "train"}, {"y"}, "drop");
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ModelBuilder b(13);
    c.build(b);
    const std::string message = onnx_error([&] { load(b); });
    EXPECT_NE(message.find(c.expected), std::string::npos) << message;
  }
}

class OnnxExternalData : public ScratchDir {};

// The dynamo exporter's default: initializers in F.onnx.data beside F.onnx.
TEST_F(OnnxExternalData, InitializersInAFileBesideTheModel) {
  ModelBuilder b(18);
  b.input("x", {2, 3}).output("y").init("W", {2, 3}, 0.5f, 0.125f);
  integer(b.node("Gemm", {"x", "W"}, {"y"}, "g"), "transB", 1);
  const Tensor<float, cpu> w = initializer(b, "W");
  onnx::TensorProto& t = *b.graph().mutable_initializer(0);
  const std::string raw = t.raw_data();
  write_file(path("m.onnx.data"), std::string(8, 'x') + raw);  // at offset 8
  t.clear_raw_data();
  t.set_data_location(onnx::TensorProto_DataLocation_EXTERNAL);
  const auto set = [&](const std::string& location, const std::string& offset, const std::string& length) {
    t.clear_external_data();
    for (const auto& [key, value] : {std::pair<std::string, std::string>{"location", location}, {"offset", offset},
                                     {"length", length}}) {
      if (value.empty()) continue;
      onnx::StringStringEntryProto& e = *t.add_external_data();
      e.set_key(key);
      e.set_value(value);
    }
    write_file(path("m.onnx"), b.bytes());
  };
  set("m.onnx.data", "8", "24");
  Sequential<float, cpu> model = load_onnx<float>(path("m.onnx"));
  const Tensor<float, cpu> x = wave(Shape{2, 3});
  expect_near(model.forward(x).to<cpu>(), linear_by_hand(x, w, {}));

  const std::string file = path("m.onnx");
  set("m.onnx.data", "8", "");  // the length is the rest of the file
  EXPECT_NO_THROW(load_onnx<float>(file));
  set("../m.onnx.data", "8", "24");
  EXPECT_NE(onnx_error([&] { load_onnx<float>(file); }, file).find("is not inside the model's folder"), std::string::npos);
  set("/etc/passwd", "0", "24");
  EXPECT_NE(onnx_error([&] { load_onnx<float>(file); }, file).find("is not inside the model's folder"), std::string::npos);
  set("none.data", "0", "24");
  EXPECT_NE(onnx_error([&] { load_onnx<float>(file); }, file).find("cannot open its external data file"), std::string::npos);
  set("m.onnx.data", "16", "24");
  EXPECT_NE(onnx_error([&] { load_onnx<float>(file); }, file).find("run past the end of m.onnx.data (32 bytes)"),
            std::string::npos);
  set("m.onnx.data", "4", "24");  // 24 bytes, but not where they are: still read, the claim fits
  EXPECT_NO_THROW(load_onnx<float>(file));
  set("m.onnx.data", "8", "20");
  EXPECT_NE(onnx_error([&] { load_onnx<float>(file); }, file).find("claims FLOAT x [2, 3], its external data in m.onnx.data holds 20 bytes"),
            std::string::npos);
  set("m.onnx.data", "-8", "24");
  EXPECT_NE(onnx_error([&] { load_onnx<float>(file); }, file).find("its external offset '-8' is not a byte count"),
            std::string::npos);
  // From memory there is no folder to read from.
  set("m.onnx.data", "8", "24");
  const std::string bytes = b.bytes();
  EXPECT_NE(onnx_error([&] { load_onnx_bytes<float>(bytes.data(), bytes.size(), "test"); })
                .find("hnn reads external data only with load_onnx(path)"),
            std::string::npos);
}
