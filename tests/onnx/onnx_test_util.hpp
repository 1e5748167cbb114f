// Small ONNX graphs written by hand (with ONNX's protobuf classes) for hnn's ONNX tests, and
// the helpers those tests share.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#include "hnn/onnx.hpp"

namespace onnx_test {

namespace fs = std::filesystem;

// A model under construction: one data input, one output, nodes and initializers.
class ModelBuilder {
 public:
  explicit ModelBuilder(std::int64_t opset = 13) {
    model.set_ir_version(opset >= 18 ? 8 : 7);
    model.set_producer_name("hnn-tests");
    onnx::OperatorSetIdProto& o = *model.add_opset_import();
    o.set_domain("");
    o.set_version(opset);
    model.mutable_graph()->set_name("test");
  }

  // A FLOAT input or output; dim 0 symbolic ("N") when `symbolic_batch`.
  ModelBuilder& input(const std::string& name, const std::vector<std::int64_t>& dims, bool symbolic_batch = true) {
    value(*graph().add_input(), name, dims, symbolic_batch);
    return *this;
  }
  ModelBuilder& output(const std::string& name, const std::vector<std::int64_t>& dims = {}, bool symbolic_batch = true) {
    value(*graph().add_output(), name, dims, symbolic_batch);
    return *this;
  }

  // A FLOAT initializer of `dims`, its values the sequence start, start + step, ...
  ModelBuilder& init(const std::string& name, const std::vector<std::int64_t>& dims, float start = 0.1f,
                     float step = 0.01f) {
    hnn::Shape shape;
    for (std::int64_t d : dims) shape.push_back(d);
    hnn::Tensor<float, hnn::cpu> t(shape);
    for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = start + step * static_cast<float>(i % 97) * (i % 2 ? -1.f : 1.f);
    hnn::detail::onnx_io::write_floats(*graph().add_initializer(), name, t);
    return *this;
  }
  ModelBuilder& init_ints(const std::string& name, const std::vector<std::int64_t>& values) {
    onnx::TensorProto& t = *graph().add_initializer();
    t.set_name(name);
    t.set_data_type(onnx::TensorProto_DataType_INT64);
    t.add_dims(static_cast<std::int64_t>(values.size()));
    for (std::int64_t v : values) t.add_int64_data(v);
    return *this;
  }

  onnx::NodeProto& node(const std::string& op, std::initializer_list<std::string> inputs,
                        std::initializer_list<std::string> outputs, const std::string& name = "") {
    onnx::NodeProto& n = *graph().add_node();
    n.set_op_type(op);
    n.set_name(name.empty() ? op + "_" + std::to_string(graph().node_size()) : name);
    for (const std::string& in : inputs) n.add_input(in);
    for (const std::string& out : outputs) n.add_output(out);
    return n;
  }

  onnx::GraphProto& graph() { return *model.mutable_graph(); }
  std::string bytes() const { return model.SerializeAsString(); }

  onnx::ModelProto model;

 private:
  static void value(onnx::ValueInfoProto& v, const std::string& name, const std::vector<std::int64_t>& dims,
                    bool symbolic_batch) {
    v.set_name(name);
    onnx::TypeProto_Tensor& t = *v.mutable_type()->mutable_tensor_type();
    t.set_elem_type(onnx::TensorProto_DataType_FLOAT);
    if (dims.empty()) return;
    for (std::size_t d = 0; d < dims.size(); ++d) {
      onnx::TensorShapeProto_Dimension& dim = *t.mutable_shape()->add_dim();
      if (d == 0 && symbolic_batch) dim.set_dim_param("N");
      else dim.set_dim_value(dims[d]);
    }
  }
};

inline void ints(onnx::NodeProto& n, const std::string& name, const std::vector<std::int64_t>& values) {
  onnx::AttributeProto& a = *n.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto_AttributeType_INTS);
  for (std::int64_t v : values) a.add_ints(v);
}
inline void integer(onnx::NodeProto& n, const std::string& name, std::int64_t value) {
  onnx::AttributeProto& a = *n.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto_AttributeType_INT);
  a.set_i(value);
}
inline void real(onnx::NodeProto& n, const std::string& name, float value) {
  onnx::AttributeProto& a = *n.add_attribute();
  a.set_name(name);
  a.set_type(onnx::AttributeProto_AttributeType_FLOAT);
  a.set_f(value);
}

// The message of the OnnxError that `f` throws ("" and a test failure when it throws none or
// another type). It must name `source` first and stay on one line.
template <class F>
std::string onnx_error(F&& f, const std::string& source = "test") {
  try {
    f();
  } catch (const hnn::OnnxError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(source + ": ", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected hnn::OnnxError, got " << typeid(e).name() << ": " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected hnn::OnnxError, nothing was thrown";
  return "";
}

// Loads a model held in memory, named "test" in errors.
inline hnn::Sequential<float, hnn::cpu> load(const ModelBuilder& b, hnn::OnnxModelInfo* info = nullptr) {
  const std::string bytes = b.bytes();
  return hnn::load_onnx_bytes<float>(bytes.data(), bytes.size(), "test", info);
}

// A deterministic input batch of `shape`.
inline hnn::Tensor<float, hnn::cpu> wave(const hnn::Shape& shape, float phase = 0.f) {
  hnn::Tensor<float, hnn::cpu> x(shape);
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i) + phase);
  return x;
}

// The largest |a - b| over two tensors of the same shape.
inline double max_difference(const hnn::Tensor<float, hnn::cpu>& a, const hnn::Tensor<float, hnn::cpu>& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double worst = 0;
  for (std::int64_t i = 0; i < a.numel() && i < b.numel(); ++i)
    worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return worst;
}

// A scratch folder per test, removed after it.
class ScratchDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hnn-onnx-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace onnx_test
