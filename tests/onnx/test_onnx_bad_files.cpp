// Bad ONNX files (hnn/onnx/import.hpp): each way a file can be broken gets an OnnxError
// naming the file and what is wrong, on one line, and nothing else happens: every prefix of a
// valid file, bytes overwritten anywhere, a graph with a cycle, a missing initializer, an
// initializer whose shape does not fit its layer, tensors that claim more data than they hold
// (2 GB and more), and models hnn does not read at all. tests/fuzz/onnx_fuzzer.cpp searches for
// the ways these miss.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "hnn/onnx.hpp"
#include "onnx_test_util.hpp"

using namespace hnn;
using namespace onnx_test;

namespace {

// A small valid model of every kind of layer the reader builds, as hnn writes it.
std::string valid_model() {
  Sequential<float, cpu> model({Conv2d(1, 2, 3).padding(1), BatchNorm2d(2), ReLU(),
                                Residual({Conv2d(2, 2, 3).padding(1).bias(false)}), MaxPool2d(2), Flatten(),
                                Linear(2 * 2 * 2, 3)},
                               4);
  return to_onnx(model, Shape{1, 1, 4, 4}).SerializeAsString();
}

std::string load_error(const std::string& bytes) {
  return onnx_error([&] { load_onnx_bytes<float>(bytes.data(), bytes.size(), "test"); });
}

// A Conv model whose weight initializer the caller spoils.
ModelBuilder conv_model() {
  ModelBuilder b(13);
  b.input("x", {1, 1, 8, 8}).output("y").init("w", {2, 1, 3, 3});
  b.node("Conv", {"x", "w"}, {"y"}, "conv");
  return b;
}

}  // namespace

TEST(OnnxBadFiles, EveryPrefixOfAValidFileIsRefused) {
  const std::string bytes = valid_model();
  ASSERT_NO_THROW(load_onnx_bytes<float>(bytes.data(), bytes.size(), "test"));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    const std::string cut = bytes.substr(0, n);
    try {
      load_onnx_bytes<float>(cut.data(), cut.size(), "test");
      ADD_FAILURE() << "the first " << n << " of " << bytes.size() << " bytes were accepted";
    } catch (const OnnxError& e) {
      ASSERT_EQ(std::string(e.what()).rfind("test: ", 0), 0u) << e.what();
    }
  }
  EXPECT_NE(load_error("").find("the file is empty"), std::string::npos);
  EXPECT_NE(load_error(bytes.substr(0, bytes.size() / 2)).find("not an ONNX model"), std::string::npos);
}

TEST(OnnxBadFiles, OverwrittenBytesGiveAnOnnxErrorOrAModel) {
  const std::string bytes = valid_model();
  std::uint64_t state = 12345;
  const auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  int refused = 0, read = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string spoiled = bytes;
    const int changes = 1 + static_cast<int>(next() % 4);
    for (int c = 0; c < changes; ++c) spoiled[next() % spoiled.size()] = static_cast<char>(next() & 0xff);
    try {
      (void)load_onnx_bytes<float>(spoiled.data(), spoiled.size(), "test");
      ++read;  // a weight's bytes changed, or a name nothing checks
    } catch (const OnnxError& e) {
      ++refused;
      ASSERT_EQ(std::string(e.what()).rfind("test: ", 0), 0u) << e.what();
    }
  }
  EXPECT_GT(refused, 100);
  EXPECT_GT(read, 100);
  std::string garbage(256, '\xff');
  EXPECT_NE(load_error(garbage).find("not an ONNX model"), std::string::npos);
}

TEST(OnnxBadFiles, AGraphWithACycle) {
  ModelBuilder b(13);
  b.input("x", {1, 4}).output("y");
  b.node("Relu", {"y"}, {"a"}, "first");
  b.node("Sigmoid", {"a"}, {"y"}, "second");
  const std::string message = load_error(b.bytes());
  EXPECT_NE(message.find("the graph has a cycle: node '"), std::string::npos) << message;
  EXPECT_NE(message.find("depends, through its inputs, on its own output"), std::string::npos) << message;
  // A node reading its own output.
  ModelBuilder self(13);
  self.input("x", {1, 4}).output("y");
  self.node("Add", {"x", "y"}, {"y"}, "loop");
  EXPECT_NE(load_error(self.bytes()).find("cycle: node 'loop' (Add)"), std::string::npos);
}

TEST(OnnxBadFiles, AMissingInitializer) {
  ModelBuilder b = conv_model();
  b.graph().clear_initializer();
  EXPECT_NE(load_error(b.bytes()).find("node 'conv' (Conv) reads 'w' (its input 1), which no node, initializer or "
                                       "graph input provides (a missing initializer?)"),
            std::string::npos);
}

TEST(OnnxBadFiles, AnInitializerWhoseShapeDisagreesWithItsLayer) {
  ModelBuilder wrong_channels(13);
  wrong_channels.input("x", {1, 1, 8, 8}).output("y").init("w", {2, 3, 3, 3});
  wrong_channels.node("Conv", {"x", "w"}, {"y"}, "conv");
  EXPECT_NE(load_error(wrong_channels.bytes()).find("node 'conv' (Conv): Conv2d(3, 2, kernel=3, padding=0, stride=1, "
                                                    "bias=False) expects 3 input channels, got input (1, 1, 8, 8)"),
            std::string::npos);

  ModelBuilder bias(13);
  bias.input("x", {1, 1, 8, 8}).output("y").init("w", {2, 1, 3, 3}).init("b", {3});
  bias.node("Conv", {"x", "w", "b"}, {"y"}, "conv");
  EXPECT_NE(load_error(bias.bytes()).find("node 'conv' (Conv): its bias 'b' has shape (3), expected (2)"),
            std::string::npos);

  ModelBuilder kernel = conv_model();
  ints(*kernel.graph().mutable_node(0), "kernel_shape", {5, 5});
  EXPECT_NE(load_error(kernel.bytes()).find("attribute kernel_shape = [5, 5]: does not match the weight (2, 1, 3, 3)"),
            std::string::npos);

  ModelBuilder features(13);
  features.input("x", {2, 1, 4, 4}).output("y").init("w", {10, 17});
  features.node("Flatten", {"x"}, {"f"});
  integer(features.node("Gemm", {"f", "w"}, {"y"}, "fc"), "transB", 1);
  EXPECT_NE(load_error(features.bytes()).find("node 'fc' (Gemm): Linear(17, 10, bias=False) expects 17 input features, got 16"),
            std::string::npos);

  ModelBuilder statistics(13);
  statistics.input("x", {2, 3, 2, 2}).output("y").init("s", {3}).init("b", {3}).init("m", {3}).init("v", {4});
  statistics.node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"}, "bn");
  EXPECT_NE(load_error(statistics.bytes()).find("node 'bn' (BatchNormalization): its variance 'v' has shape (4), expected (3)"),
            std::string::npos);

  ModelBuilder declared(13);
  declared.input("x", {2, 6}).output("y", {2, 5}).init("w", {4, 6});
  integer(declared.node("Gemm", {"x", "w"}, {"y"}, "fc"), "transB", 1);
  EXPECT_NE(load_error(declared.bytes()).find("the graph output 'y' is declared (N, 5), the layers compute (1, 4)"),
            std::string::npos);
}

TEST(OnnxBadFiles, TensorsClaimingMoreDataThanTheyHold) {
  // 2 GB of float claimed, 36 bytes held.
  ModelBuilder big = conv_model();
  big.graph().mutable_initializer(0)->set_dims(0, 1 << 27);
  EXPECT_NE(load_error(big.bytes()).find("initializer 'w' claims FLOAT x [134217728, 1, 3, 3] (4831838208 bytes), its "
                                         "raw_data holds 72 bytes"),
            std::string::npos);
  // Dimensions whose product overflows 64 bits.
  ModelBuilder overflow = conv_model();
  for (int d = 0; d < 4; ++d) overflow.graph().mutable_initializer(0)->set_dims(d, std::int64_t{1} << 40);
  EXPECT_NE(load_error(overflow.bytes()).find("more values than"), std::string::npos);
  // One value short, in raw_data and in float_data.
  ModelBuilder short_raw = conv_model();
  std::string* raw = short_raw.graph().mutable_initializer(0)->mutable_raw_data();
  raw->resize(raw->size() - 4);
  EXPECT_NE(load_error(short_raw.bytes()).find("claims FLOAT x [2, 1, 3, 3] (72 bytes), its raw_data holds 68 bytes"),
            std::string::npos);
  ModelBuilder short_floats = conv_model();
  onnx::TensorProto& t = *short_floats.graph().mutable_initializer(0);
  t.clear_raw_data();
  for (int i = 0; i < 17; ++i) t.add_float_data(0.5f);
  EXPECT_NE(load_error(short_floats.bytes()).find("claims FLOAT x [2, 1, 3, 3] (18 values), it holds 17"),
            std::string::npos);
  ModelBuilder negative = conv_model();
  negative.graph().mutable_initializer(0)->set_dims(1, -1);
  EXPECT_NE(load_error(negative.bytes()).find("has a negative dimension"), std::string::npos);
  ModelBuilder strings = conv_model();
  strings.graph().mutable_initializer(0)->set_data_type(onnx::TensorProto_DataType_STRING);
  EXPECT_NE(load_error(strings.bytes()).find("has data type STRING (8), which hnn does not read"), std::string::npos);
  // The graph input's claim: sizes that would overflow the layers' shape arithmetic.
  ModelBuilder huge_input(13);
  huge_input.input("x", {1, 1 << 20, 1 << 20, 1 << 20}).output("y");
  huge_input.node("Relu", {"x"}, {"y"});
  EXPECT_NE(load_error(huge_input.bytes()).find("graph input 'x' has shape (1, 1048576, 1048576, 1048576): too large"),
            std::string::npos);
}

TEST(OnnxBadFiles, ModelsHnnDoesNotRead) {
  ModelBuilder new_opset(23);
  new_opset.input("x", {1, 4}).output("y");
  new_opset.node("Relu", {"x"}, {"y"});
  EXPECT_NE(load_error(new_opset.bytes()).find("the model uses opset 23; hnn reads opsets 1 to 22"), std::string::npos);

  ModelBuilder two_inputs(13);
  two_inputs.input("x", {1, 4}).input("z", {1, 4}).output("y");
  two_inputs.node("Add", {"x", "z"}, {"y"});
  EXPECT_NE(load_error(two_inputs.bytes()).find("the graph has 2 inputs that are not initializers ('x', 'z', ...)"),
            std::string::npos);

  ModelBuilder two_outputs(13);
  two_outputs.input("x", {1, 4}).output("y").output("r");
  two_outputs.node("Relu", {"x"}, {"r"});
  two_outputs.node("Sigmoid", {"r"}, {"y"});
  EXPECT_NE(load_error(two_outputs.bytes()).find("the graph has 2 outputs"), std::string::npos);

  ModelBuilder no_shape(13);
  no_shape.input("x", {}).output("y");
  no_shape.node("Relu", {"x"}, {"y"});
  EXPECT_NE(load_error(no_shape.bytes()).find("graph input 'x' has no shape"), std::string::npos);

  ModelBuilder symbolic(13);
  symbolic.input("x", {1, 4}).output("y");
  symbolic.graph().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_param("C");
  symbolic.node("Relu", {"x"}, {"y"});
  EXPECT_NE(load_error(symbolic.bytes()).find("has a symbolic dimension 1 ('C')"), std::string::npos);

  ModelBuilder twice(13);
  twice.input("x", {1, 4}).output("y");
  twice.node("Relu", {"x"}, {"y"}, "a");
  twice.node("Sigmoid", {"x"}, {"y"}, "b");
  EXPECT_NE(load_error(twice.bytes()).find("tensor 'y' is written by two nodes: node 'a' (Relu) and node 'b' (Sigmoid)"),
            std::string::npos);

  ModelBuilder constant_output(13);
  constant_output.input("x", {1, 4}).output("y").init("w", {4, 4});
  constant_output.node("Relu", {"w"}, {"y"});
  EXPECT_NE(load_error(constant_output.bytes()).find("the graph output 'y' does not depend on the input 'x'"),
            std::string::npos);

  ModelBuilder only_identity(13);
  only_identity.input("x", {1, 4}).output("y");
  only_identity.node("Identity", {"x"}, {"y"});
  EXPECT_NE(load_error(only_identity.bytes()).find("without any layer hnn has"), std::string::npos);

  ModelBuilder duplicate_attribute = conv_model();
  integer(*duplicate_attribute.graph().mutable_node(0), "group", 1);
  integer(*duplicate_attribute.graph().mutable_node(0), "group", 1);
  EXPECT_NE(load_error(duplicate_attribute.bytes()).find("attribute 'group' is given twice"), std::string::npos);

  ModelBuilder wrong_type = conv_model();
  real(*wrong_type.graph().mutable_node(0), "group", 1.0f);
  EXPECT_NE(load_error(wrong_type.bytes()).find("node 'conv' (Conv): attribute group is not an integer"),
            std::string::npos);
}

TEST(OnnxBadFiles, FilesThatAreNotThere) {
  const std::string missing = "/nonexistent/hnn/model.onnx";
  EXPECT_NE(onnx_error([&] { load_onnx<float>(missing); }, missing).find("cannot open the file"), std::string::npos);
}
