// ONNX out: an hnn Sequential as an ONNX model, for onnxruntime, TensorRT, OpenVINO and the
// rest of the deployment ecosystem. Opt-in (CMake target hnn::onnx; hnn/onnx.hpp).
//
//   hnn::export_onnx(model, "lenet5.onnx", hnn::Shape{1, 1, 28, 28});
//   onnx::ModelProto m = hnn::to_onnx(model, hnn::Shape{1, 1, 28, 28});   // in memory
//
// The file describes the model in evaluation mode, whatever mode it is in: BatchNorm
// normalises with its running statistics and Dropout is the identity (no node). The input is
// named "input", the output "output"; their first dimension is the symbolic batch "N" (the
// batch size of `input_shape` is ignored, the rest of it fixes C, H, W). Initializers carry
// the model's state_dict() names ("0.weight", "3.body.1.running_var"), as FLOAT (a double
// model's values are rounded to float: runtimes run convolutions in float). Opset 13 (IR
// version 7): the oldest opset that PyTorch's exporters write, so every runtime of the last
// years reads the file; none of the operators used changed meaning after it.
//
// Layers and their operators:
//   Conv2d -> Conv (pads, strides; B when it has a bias); MaxPool2d -> MaxPool;
//   AvgPool2d -> AveragePool (count_include_pad=1: padded zeros are counted, as hnn pools);
//   BatchNorm2d / BatchNorm1d -> BatchNormalization (not folded into the preceding Conv: the
//   file keeps the trained network's structure and statistics, a BatchNorm1d after a Linear
//   has no Conv to fold into, and runtimes fold Conv + BatchNormalization themselves when they
//   load the model; one without affine parameters is written with scale 1 and shift 0, which
//   ONNX's operator always has, and so reads back as an affine one); Residual -> its body's and its shortcut's nodes, then Add(body, shortcut);
//   GlobalAvgPool2d -> GlobalAveragePool; Linear -> Gemm (transB=1); Flatten -> Flatten (axis 1);
//   Sigmoid, ReLU, Tanh -> Sigmoid, Relu, Tanh; Dropout -> nothing.
// Any other layer (a user-defined one) is refused with an OnnxError naming it. The model is
// passed through ONNX's own checker (onnx::checker::check_model) before it is returned or
// written.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>
// <sys/mman.h> (which hnn/device.hpp includes) defines MAP_TYPE, a name in an enum of ONNX's
// parser.h, which the checker includes: the macro is set aside while it is read.
#if defined(MAP_TYPE)
#pragma push_macro("MAP_TYPE")
#undef MAP_TYPE
#include <onnx/checker.h>
#pragma pop_macro("MAP_TYPE")
#else
#include <onnx/checker.h>
#endif

#include "hnn/io/file.hpp"
#include "hnn/model/residual.hpp"
#include "hnn/onnx/common.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/tensor.hpp"

namespace hnn {

// The opset and IR version hnn writes.
inline constexpr std::int64_t onnx_export_opset = 13;
inline constexpr std::int64_t onnx_export_ir_version = 7;

namespace detail::onnx_io {

template <class T, class Device>
class Exporter {
 public:
  Exporter(const Sequential<T, Device>& model, std::string source, onnx::ModelProto& out)
      : source_(std::move(source)), graph_(*out.mutable_graph()) {
    for (const NamedTensor<T, Device>& t : model.state_dict()) state_[t.name] = t.value;
  }

  // The nodes of `specs` (a Sequential's layers, or a Residual's branch) reading tensor `x`
  // of shape `shape`; `prefix` is the layers' state_dict prefix ("" or "3.body."). Returns
  // the name of the last tensor; `shape` becomes its shape.
  std::string layers(const std::vector<LayerSpec>& specs, const std::vector<std::string>& names, std::string x,
                     Shape& shape) {
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const std::string& path = names[i];
      try {
        x = layer(specs[i], path, x, shape);
        shape = specs[i].output_shape(shape);
      } catch (const std::invalid_argument& e) {
        throw OnnxError(source_, "layer " + path + " (" + specs[i].str() + "): " + e.what());
      }
    }
    return x;
  }

 private:
  std::string layer(const LayerSpec& spec, const std::string& path, const std::string& x, const Shape& shape) {
    if (const auto* c = spec.get_if<Conv2d>()) {
      std::vector<std::string> inputs{x, initializer(path + ".weight")};
      if (c->bias()) inputs.push_back(initializer(path + ".bias"));
      onnx::NodeProto& n = node("Conv", path, inputs);
      ints(n, "kernel_shape", {c->kernel(), c->kernel()});
      ints(n, "strides", {c->stride(), c->stride()});
      ints(n, "pads", {c->padding(), c->padding(), c->padding(), c->padding()});
      return n.output(0);
    }
    if (const auto* p = spec.get_if<MaxPool2d>()) {
      onnx::NodeProto& n = node("MaxPool", path, {x});
      pool_attributes(n, *p);
      return n.output(0);
    }
    if (const auto* p = spec.get_if<AvgPool2d>()) {
      onnx::NodeProto& n = node("AveragePool", path, {x});
      pool_attributes(n, *p);
      integer(n, "count_include_pad", 1);
      return n.output(0);
    }
    if (const auto* b = spec.get_if<BatchNorm2d>()) return batch_norm(*b, path, x);
    if (const auto* b = spec.get_if<BatchNorm1d>()) return batch_norm(*b, path, x);
    if (const auto* l = spec.get_if<Linear>()) {
      std::vector<std::string> inputs{x, initializer(path + ".weight")};
      if (l->bias()) inputs.push_back(initializer(path + ".bias"));
      onnx::NodeProto& n = node("Gemm", path, inputs);
      integer(n, "transB", 1);
      return n.output(0);
    }
    if (spec.get_if<Flatten>()) {
      onnx::NodeProto& n = node("Flatten", path, {x});
      integer(n, "axis", 1);
      return n.output(0);
    }
    if (spec.get_if<GlobalAvgPool2d>()) return node("GlobalAveragePool", path, {x}).output(0);
    if (spec.get_if<Sigmoid>()) return node("Sigmoid", path, {x}).output(0);
    if (spec.get_if<ReLU>()) return node("Relu", path, {x}).output(0);
    if (spec.get_if<Tanh>()) return node("Tanh", path, {x}).output(0);
    if (spec.get_if<Dropout>()) return x;  // evaluation mode: the identity
    if (const auto* r = spec.get_if<Residual>()) {
      const auto branch = [&](const std::vector<LayerSpec>& specs, std::size_t first) {
        std::vector<std::string> names;
        for (std::size_t k = 0; k < specs.size(); ++k) names.push_back(path + "." + spec.child_name(first + k));
        Shape s = shape;
        return layers(specs, names, x, s);
      };
      const std::string body = branch(r->body(), 0);
      const std::string shortcut = r->shortcut().empty() ? x : branch(r->shortcut(), r->body().size());
      return node("Add", path, {body, shortcut}).output(0);
    }
    throw OnnxError(source_, "layer " + path + " (" + spec.str() + ") has no ONNX form: hnn exports Conv2d, MaxPool2d, "
                             "AvgPool2d, BatchNorm2d, BatchNorm1d, Residual, GlobalAvgPool2d, Linear, Flatten, "
                             "Sigmoid, ReLU, Tanh and Dropout");
  }

  template <class Spec>
  std::string batch_norm(const Spec& b, const std::string& path, const std::string& x) {
    std::string scale, shift;
    if (b.affine()) {
      scale = initializer(path + ".weight");
      shift = initializer(path + ".bias");
    } else {  // ONNX's operator always scales and shifts: by 1 and 0
      scale = constant(path + ".weight", Tensor<T, cpu>::full(Shape{b.num_features}, T(1)));
      shift = constant(path + ".bias", Tensor<T, cpu>::full(Shape{b.num_features}, T(0)));
    }
    onnx::NodeProto& n = node("BatchNormalization", path,
                              {x, scale, shift, initializer(path + ".running_mean"), initializer(path + ".running_var")});
    real(n, "epsilon", static_cast<float>(b.eps()));
    real(n, "momentum", static_cast<float>(1.0 - b.momentum()));  // ONNX weighs the running value, PyTorch the batch's
    return n.output(0);
  }

  void pool_attributes(onnx::NodeProto& n, const detail::Pool2dSpec& p) {
    ints(n, "kernel_shape", {p.kernel, p.kernel});
    ints(n, "strides", {p.stride, p.stride});
    ints(n, "pads", {p.padding_, p.padding_, p.padding_, p.padding_});
  }

  // The state_dict tensor `name` as an initializer (once); its name.
  std::string initializer(const std::string& name) {
    const auto it = state_.find(name);
    if (it == state_.end())
      throw std::logic_error("hnn::to_onnx: the model has no tensor '" + name + "' (its state_dict names changed?)");
    if (written_.insert({name, true}).second)
      write_floats(*graph_.add_initializer(), name, it->second->template to<cpu>());
    return name;
  }
  std::string constant(const std::string& name, const Tensor<T, cpu>& values) {
    write_floats(*graph_.add_initializer(), name, values);
    return name;
  }

  // A node named "<path>/<op>" whose one output is "<path>/<op>:0".
  onnx::NodeProto& node(const std::string& op, const std::string& path, const std::vector<std::string>& inputs) {
    onnx::NodeProto& n = *graph_.add_node();
    n.set_op_type(op);
    n.set_name(path + "/" + op);
    for (const std::string& in : inputs) n.add_input(in);
    n.add_output(n.name() + ":0");
    return n;
  }
  static void ints(onnx::NodeProto& n, const char* name, const std::vector<std::int64_t>& values) {
    onnx::AttributeProto& a = *n.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto_AttributeType_INTS);
    for (std::int64_t v : values) a.add_ints(v);
  }
  static void integer(onnx::NodeProto& n, const char* name, std::int64_t value) {
    onnx::AttributeProto& a = *n.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto_AttributeType_INT);
    a.set_i(value);
  }
  static void real(onnx::NodeProto& n, const char* name, float value) {
    onnx::AttributeProto& a = *n.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto_AttributeType_FLOAT);
    a.set_f(value);
  }

  std::string source_;
  onnx::GraphProto& graph_;
  std::map<std::string, const Tensor<T, Device>*> state_;
  std::map<std::string, bool> written_;
};

// A FLOAT tensor value's type with the first dimension the symbolic batch "N".
inline void batched_float(onnx::ValueInfoProto& v, const std::string& name, const Shape& shape) {
  v.set_name(name);
  onnx::TypeProto_Tensor& t = *v.mutable_type()->mutable_tensor_type();
  t.set_elem_type(onnx::TensorProto_DataType_FLOAT);
  for (int d = 0; d < shape.rank(); ++d) {
    onnx::TensorShapeProto_Dimension& dim = *t.mutable_shape()->add_dim();
    if (d == 0) dim.set_dim_param("N");
    else dim.set_dim_value(shape[d]);
  }
}

}  // namespace detail::onnx_io

// The model as an ONNX ModelProto for inputs of `input_shape` (N, C, H, W) or (N, features):
// N becomes the symbolic batch. Throws OnnxError naming a layer that has no ONNX form or
// does not fit the shape reaching it.
template <class T, class Device>
onnx::ModelProto to_onnx(const Sequential<T, Device>& model, const Shape& input_shape,
                         const std::string& source = "hnn::to_onnx") {
  if (input_shape.rank() < 2)
    throw OnnxError(source, "the input shape " + input_shape.str() + " needs a batch dimension and at least one more");
  Shape batch_one = input_shape;
  batch_one[0] = 1;  // the traced shapes; the file's batch is symbolic
  onnx::ModelProto m;
  m.set_ir_version(onnx_export_ir_version);
  m.set_producer_name("hnn");
  m.set_producer_version("0.1");
  m.set_doc_string(model.describe_all());
  onnx::OperatorSetIdProto& opset = *m.add_opset_import();
  opset.set_domain("");
  opset.set_version(onnx_export_opset);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("hnn");

  detail::onnx_io::Exporter<T, Device> exporter(model, source, m);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < model.size(); ++i) names.push_back(std::to_string(i));
  Shape shape = batch_one;
  const std::string last = exporter.layers(model.specs(), names, "input", shape);

  // The last tensor is renamed "output"; a model of Dropouts alone copies its input.
  if (last == "input") {
    onnx::NodeProto& n = *g.add_node();
    n.set_op_type("Identity");
    n.set_name("output/Identity");
    n.add_input("input");
    n.add_output("output");
  } else {
    for (onnx::NodeProto& n : *g.mutable_node()) {
      for (std::string& in : *n.mutable_input())
        if (in == last) in = "output";
      for (std::string& out : *n.mutable_output())
        if (out == last) out = "output";
    }
  }
  detail::onnx_io::batched_float(*g.add_input(), "input", batch_one);
  detail::onnx_io::batched_float(*g.add_output(), "output", shape);

  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    throw OnnxError(source, std::string("ONNX's checker refuses the model hnn wrote (a bug in hnn): ") +
                                detail::onnx_io::printable(e.what(), 300));
  }
  return m;
}

// Writes the model to `path` as an ONNX file (see the top of this file), atomically.
template <class T, class Device>
void export_onnx(const Sequential<T, Device>& model, const std::string& path, const Shape& input_shape) {
  const onnx::ModelProto m = to_onnx(model, input_shape, path);
  if (m.ByteSizeLong() > detail::onnx_io::max_file_bytes)
    throw OnnxError(path, "the model takes " + std::to_string(m.ByteSizeLong()) +
                              " bytes, over protobuf's 2 GB limit for one file");
  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw OnnxError(path, "protobuf could not serialize the model");
  io::write_file_atomically<OnnxError>(path, "ONNX file", std::vector<unsigned char>(bytes.begin(), bytes.end()));
}

}  // namespace hnn
