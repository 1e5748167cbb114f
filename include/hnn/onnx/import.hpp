// ONNX in: a Sequential built from an ONNX file, such as torch.onnx.export writes for a
// network made of hnn's layers. Opt-in (CMake target hnn::onnx; hnn/onnx.hpp).
//
//   auto model = hnn::load_onnx<float>("lenet5.onnx");          // Sequential<float, cpu>, eval()
//   hnn::OnnxModelInfo info;
//   auto net = hnn::load_onnx<float>("resnet.onnx", &info);     // info.input_shape: (1, 1, 28, 28)
//
// What it reads: opsets 1 to 22 of the default domain (attributes of the older operator versions
// that change what a node computes -- is_test, consumed_inputs, AveragePool before count_include_pad
// -- are checked or refused), one graph input (the data; every other
// input of a node is a constant: an initializer, a Constant node, or an Identity of either),
// one graph output, and these operators as PyTorch's exporters (TorchScript and dynamo) write
// them:
//   Conv (square kernels, equal strides, symmetric pads, no dilation, no groups) -> Conv2d
//   MaxPool / AveragePool (square, symmetric pads <= kernel / 2, no ceil mode; an average
//     over padded windows must count the padding, count_include_pad=1) -> MaxPool2d / AvgPool2d
//   BatchNormalization (inference) -> BatchNorm2d on (N, C, H, W), BatchNorm1d on (N, C[, L])
//   Gemm (transA=0; alpha and beta scale the weights) -> Linear; MatMul with a constant right
//     side, and the Add of a constant bias after it -> Linear
//   Relu, Sigmoid, Tanh; Flatten (axis 1) and a Reshape to (N, features) -> Flatten
//   GlobalAveragePool, and ReduceMean over H and W -> GlobalAvgPool2d (+ Flatten without keepdims)
//   Dropout (inference) -> Dropout; Identity -> nothing
//   a tensor read by two branches that an Add joins -> Residual(body = the Add's first input's
//     branch, shortcut = the second's; an Add of the tensor itself is the identity shortcut)
// Initializers are inside the file, or in an external file beside it (F.onnx.data: the dynamo
// exporter's default), which load_onnx(path) reads from the model's folder only.
// Nodes the output does not depend on are ignored. Anything else is refused with an OnnxError
// naming the node, its operator and the attribute or input at fault; so are files that are
// not ONNX, truncated or corrupted, graphs with a cycle, a missing initializer, an initializer
// whose shape does not fit the layer it feeds, and tensors claiming more data than they hold.
// The model is returned in evaluation mode (ONNX describes inference); its tensors carry hnn's
// state_dict names ("0.weight"), not the file's initializer names.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

#include "hnn/model/residual.hpp"
#include "hnn/onnx/common.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/tensor.hpp"

namespace hnn {

// What load_onnx() learnt about the file besides the model.
struct OnnxModelInfo {
  std::string input_name, output_name;
  Shape input_shape;            // the graph input's shape; its batch is 1 where the file's is symbolic
  bool symbolic_batch = false;  // the file's first input dimension is a name ("N"), not a number
  std::int64_t opset = 0;       // of the default domain
  std::string producer;         // "pytorch 2.15.0"
};

// The opsets hnn reads.
inline constexpr std::int64_t onnx_min_read_opset = 1;
inline constexpr std::int64_t onnx_max_read_opset = 22;

namespace detail::onnx_io {

// Residual blocks nested deeper than this are refused (the reader recurses per level).
inline constexpr int max_residual_nesting = 32;
// Sizes an attribute or the graph input may give, so that shape arithmetic cannot overflow.
inline constexpr std::int64_t max_attribute_size = 1 << 24;
inline constexpr long double max_tensor_elements = 1099511627776.0L;  // 2^40

// Layers read from the file, each with its tensors under the names its state_dict gives them.
struct Chain {
  std::vector<LayerSpec> specs;
  std::vector<std::map<std::string, Tensor<double, cpu>>> tensors;

  void add(LayerSpec spec, std::map<std::string, Tensor<double, cpu>> t = {}) {
    specs.push_back(std::move(spec));
    tensors.push_back(std::move(t));
  }
};

// A node's attributes: read by name, each at most once; finish() refuses what is left.
class Attributes {
 public:
  Attributes(const std::string& source, const std::string& node, const onnx::NodeProto& n) : source_(source), node_(node) {
    for (const onnx::AttributeProto& a : n.attribute())
      if (!all_.emplace(a.name(), &a).second)
        throw OnnxError(source_, node_ + ": attribute " + in_quotes(a.name()) + " is given twice");
  }

  bool has(const std::string& name) const { return all_.count(name) != 0; }

  std::int64_t integer(const std::string& name, std::int64_t fallback) {
    const onnx::AttributeProto* a = take(name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto_AttributeType_INT &&
        !(a->type() == onnx::AttributeProto_AttributeType_UNDEFINED && a->has_i()))
      throw OnnxError(source_, node_ + ": attribute " + name + " is not an integer");
    return a->i();
  }
  std::vector<std::int64_t> integers(const std::string& name, std::vector<std::int64_t> fallback) {
    const onnx::AttributeProto* a = take(name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto_AttributeType_INTS &&
        !(a->type() == onnx::AttributeProto_AttributeType_UNDEFINED && a->ints_size() > 0))
      throw OnnxError(source_, node_ + ": attribute " + name + " is not a list of integers");
    return std::vector<std::int64_t>(a->ints().begin(), a->ints().end());
  }
  float real(const std::string& name, float fallback) {
    const onnx::AttributeProto* a = take(name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto_AttributeType_FLOAT &&
        !(a->type() == onnx::AttributeProto_AttributeType_UNDEFINED && a->has_f()))
      throw OnnxError(source_, node_ + ": attribute " + name + " is not a float");
    return a->f();
  }
  std::string text(const std::string& name, const std::string& fallback) {
    const onnx::AttributeProto* a = take(name);
    if (!a) return fallback;
    if (a->type() != onnx::AttributeProto_AttributeType_STRING &&
        !(a->type() == onnx::AttributeProto_AttributeType_UNDEFINED && a->has_s()))
      throw OnnxError(source_, node_ + ": attribute " + name + " is not a string");
    return a->s();
  }
  // An attribute that is known and changes nothing hnn computes (MaxPool's storage_order,
  // which orders the Indices output hnn refuses anyway; Dropout's seed).
  void ignore(const std::string& name) { take(name); }

  [[noreturn]] void refuse(const std::string& name, const std::string& value, const std::string& why) const {
    throw OnnxError(source_, node_ + ": attribute " + name + " = " + printable(value) + ": " + why);
  }

  // Refuses the first attribute nobody read.
  void finish() const {
    for (const auto& [name, a] : all_)
      if (!read_.count(name))
        throw OnnxError(source_, node_ + ": attribute " + in_quotes(name) + " is not one hnn reads for this operator");
  }

 private:
  const onnx::AttributeProto* take(const std::string& name) {
    const auto it = all_.find(name);
    if (it == all_.end()) return nullptr;
    read_.insert(name);
    return it->second;
  }

  std::string source_, node_;
  std::map<std::string, const onnx::AttributeProto*> all_;
  std::set<std::string> read_;
};

class GraphReader {
 public:
  // `folder`: where the model's external data files are (the .onnx file's folder); empty
  // when the model did not come from a file, and then external data is refused.
  GraphReader(const onnx::ModelProto& model, std::string source, std::string folder = "")
      : model_(model), graph_(model.graph()), source_(std::move(source)), folder_(std::move(folder)) {}

  Chain read(OnnxModelInfo& info) {
    check_model();
    tables();
    order();
    paths();
    Shape shape = input_shape_;
    auto [chain, end] = walk(input_, std::nullopt, -1, shape, 0);
    if (end != output_)
      throw OnnxError(source_, "the layers read end at " + in_quotes(end) + ", not at the graph output " + in_quotes(output_));
    if (chain.specs.empty())
      throw OnnxError(source_, "the graph computes its output without any layer hnn has (Identity nodes only)");
    check_declared_output(shape);
    info.input_name = input_;
    info.output_name = output_;
    info.input_shape = input_shape_;
    info.symbolic_batch = symbolic_batch_;
    info.opset = opset_;
    info.producer = printable(model_.producer_name() + " " + model_.producer_version());
    return std::move(chain);
  }

 private:
  using Tensor64 = Tensor<double, cpu>;

  [[noreturn]] void fail(const std::string& what) const { throw OnnxError(source_, what); }

  const onnx::NodeProto& node(int i) const { return graph_.node(i); }
  std::string desc(int i) const {
    const onnx::NodeProto& n = node(i);
    return "node " + (n.name().empty() ? "#" + std::to_string(i) : in_quotes(n.name())) + " (" + printable(n.op_type()) + ")";
  }
  bool is_op(int i, const char* op) const { return node(i).op_type() == op; }

  // --- The model as a whole -------------------------------------------------------------

  void check_model() {
    if (model_.ir_version() <= 0 || !model_.has_graph())
      fail("not an ONNX model: no ir_version or no graph (a truncated or corrupted file?)");
    bool found = false;
    for (const onnx::OperatorSetIdProto& op : model_.opset_import())
      if (op.domain().empty() || op.domain() == "ai.onnx") {
        opset_ = op.version();
        found = true;
      }
    if (!found) fail("the model imports no version of the default ONNX operator set (opset_import has no domain \"\")");
    if (opset_ < onnx_min_read_opset || opset_ > onnx_max_read_opset)
      fail("the model uses opset " + std::to_string(opset_) + "; hnn reads opsets " +
           std::to_string(onnx_min_read_opset) + " to " + std::to_string(onnx_max_read_opset));
  }

  // Initializers, Constant nodes, producers and graph inputs; every input of every node must
  // be one of them.
  void tables() {
    for (const onnx::TensorProto& t : graph_.initializer()) {
      if (t.name().empty()) fail("an initializer has no name");
      const onnx::TensorProto* value = t.data_location() == onnx::TensorProto_DataLocation_EXTERNAL ? external(t) : &t;
      if (!constants_.emplace(t.name(), value).second) fail("two initializers are named " + in_quotes(t.name()));
      (void)tensor_layout(source_, *value, "initializer " + in_quotes(t.name()));  // sizes checked before any use
    }
    if (graph_.sparse_initializer_size() > 0)
      fail("the graph has sparse initializers (" + in_quotes(graph_.sparse_initializer(0).values().name()) +
           "), which hnn does not read");

    const int n = graph_.node_size();
    producer_.clear();
    constant_node_.assign(static_cast<std::size_t>(n), 0);
    for (int i = 0; i < n; ++i) {
      const onnx::NodeProto& nd = node(i);
      if (nd.op_type().empty()) fail(desc(i) + " has no operator type");
      for (const std::string& out : nd.output()) {
        if (out.empty()) continue;
        if (constants_.count(out)) fail(desc(i) + " writes " + in_quotes(out) + ", which is also an initializer");
        const auto [it, fresh] = producer_.emplace(out, i);
        if (!fresh) fail("tensor " + in_quotes(out) + " is written by two nodes: " + desc(it->second) + " and " + desc(i));
      }
    }
    for (const onnx::ValueInfoProto& v : graph_.input()) {
      if (v.name().empty()) fail("a graph input has no name");
      if (!graph_inputs_.insert(v.name()).second) fail("two graph inputs are named " + in_quotes(v.name()));
      if (producer_.count(v.name()))
        fail("graph input " + in_quotes(v.name()) + " is also written by " + desc(producer_.at(v.name())));
    }
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < node(i).input_size(); ++k) {
        const std::string& in = node(i).input(k);
        if (in.empty() || producer_.count(in) || constants_.count(in) || graph_inputs_.count(in)) continue;
        fail(desc(i) + " reads " + in_quotes(in) + " (its input " + std::to_string(k) +
             "), which no node, initializer or graph input provides (a missing initializer?)");
      }

    // The data: the one graph input without an initializer (older exporters list the
    // initializers among the inputs too).
    std::vector<const onnx::ValueInfoProto*> data;
    for (const onnx::ValueInfoProto& v : graph_.input())
      if (!constants_.count(v.name())) data.push_back(&v);
    if (data.size() != 1)
      fail("the graph has " + std::to_string(data.size()) + " inputs that are not initializers" +
           (data.size() > 1 ? " (" + in_quotes(data[0]->name()) + ", " + in_quotes(data[1]->name()) + ", ...)" : "") +
           "; hnn reads models of one input");
    input_ = data[0]->name();
    read_input_type(*data[0]);
    if (graph_.output_size() != 1)
      fail("the graph has " + std::to_string(graph_.output_size()) + " outputs; hnn reads models of one output");
    output_ = graph_.output(0).name();
    if (output_ == input_) fail("the graph's output is its input: there is no layer to read");
    if (!producer_.count(output_))
      fail("the graph output " + in_quotes(output_) + " is written by no node" +
           (constants_.count(output_) ? " (it is an initializer)" : ""));
  }

  void read_input_type(const onnx::ValueInfoProto& v) {
    const std::string what = "graph input " + in_quotes(v.name());
    if (!v.type().has_tensor_type()) fail(what + " is not a tensor");
    const onnx::TypeProto_Tensor& t = v.type().tensor_type();
    if (t.elem_type() != onnx::TensorProto_DataType_FLOAT && t.elem_type() != onnx::TensorProto_DataType_DOUBLE)
      fail(what + " has element type " + data_type_name(t.elem_type()) + "; hnn reads FLOAT or DOUBLE inputs");
    if (!t.has_shape() || t.shape().dim_size() == 0)
      fail(what + " has no shape; hnn needs its rank and every dimension after the first");
    if (t.shape().dim_size() > Shape::max_rank)
      fail(what + " has rank " + std::to_string(t.shape().dim_size()) + ", more than hnn's maximum of " +
           std::to_string(Shape::max_rank));
    long double elements = 1;
    for (int d = 0; d < t.shape().dim_size(); ++d) {
      const onnx::TensorShapeProto_Dimension& dim = t.shape().dim(d);
      std::int64_t value = 1;
      if (dim.has_dim_value()) {
        value = dim.dim_value();
        if (value <= 0 || value > std::numeric_limits<std::int32_t>::max())
          fail(what + " has dimension " + std::to_string(d) + " = " + std::to_string(value) + ", outside 1 to 2^31 - 1");
      } else if (d == 0) {
        symbolic_batch_ = true;  // traced as a batch of 1
      } else {
        fail(what + " has a symbolic dimension " + std::to_string(d) + " (" + in_quotes(dim.dim_param()) +
             "); hnn needs every dimension after the batch as a number");
      }
      input_shape_.push_back(value);
      elements *= static_cast<long double>(value);
    }
    if (elements > max_tensor_elements) fail(what + " has shape " + input_shape_.str() + ": too large");
  }

  // A topological order of the nodes; a cycle is refused, naming a node on it.
  void order() {
    const int n = graph_.node_size();
    std::vector<std::vector<int>> dependents(static_cast<std::size_t>(n));
    std::vector<int> waiting(static_cast<std::size_t>(n), 0);
    for (int i = 0; i < n; ++i) {
      std::set<int> deps;
      for (const std::string& in : node(i).input()) {
        const auto it = producer_.find(in);
        if (it != producer_.end()) deps.insert(it->second);
      }
      waiting[static_cast<std::size_t>(i)] = static_cast<int>(deps.size());
      for (int d : deps) dependents[static_cast<std::size_t>(d)].push_back(i);
    }
    std::vector<int> ready;
    for (int i = n - 1; i >= 0; --i)
      if (waiting[static_cast<std::size_t>(i)] == 0) ready.push_back(i);
    position_.assign(static_cast<std::size_t>(n), -1);
    while (!ready.empty()) {
      const int i = ready.back();
      ready.pop_back();
      position_[static_cast<std::size_t>(i)] = static_cast<int>(topological_.size());
      topological_.push_back(i);
      for (int d : dependents[static_cast<std::size_t>(i)])
        if (--waiting[static_cast<std::size_t>(d)] == 0) ready.push_back(d);
    }
    if (static_cast<int>(topological_.size()) == n) return;
    // Walk from a node left over to one of its dependencies left over, n times: the walk is
    // then on the cycle.
    int at = 0;
    while (position_[static_cast<std::size_t>(at)] >= 0) ++at;
    for (int step = 0; step < n; ++step)
      for (const std::string& in : node(at).input()) {
        const auto it = producer_.find(in);
        if (it != producer_.end() && position_[static_cast<std::size_t>(it->second)] < 0) {
          at = it->second;
          break;
        }
      }
    fail("the graph has a cycle: " + desc(at) + " depends, through its inputs, on its own output");
  }

  // Which nodes are constants (Constant, and Identity of a constant), which the output needs
  // (live), and which compute from the data (on the path); the consumers of each data tensor.
  void paths() {
    const int n = graph_.node_size();
    for (int i : topological_) {
      const onnx::NodeProto& nd = node(i);
      if (!is_default_domain(nd)) continue;
      if (nd.op_type() == "Constant") {
        if (nd.output_size() != 1 || nd.output(0).empty()) fail(desc(i) + " must have one output");
        constants_[nd.output(0)] = constant_value(i);
        constant_node_[static_cast<std::size_t>(i)] = 1;
      } else if (nd.op_type() == "Identity" && nd.input_size() == 1 && constants_.count(nd.input(0)) &&
                 nd.output_size() == 1 && !nd.output(0).empty()) {
        constants_[nd.output(0)] = constants_.at(nd.input(0));
        constant_node_[static_cast<std::size_t>(i)] = 1;
      }
    }
    live_.assign(static_cast<std::size_t>(n), 0);
    std::vector<int> stack{producer_.at(output_)};
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      if (live_[static_cast<std::size_t>(i)]) continue;
      live_[static_cast<std::size_t>(i)] = 1;
      for (const std::string& in : node(i).input()) {
        const auto it = producer_.find(in);
        if (it != producer_.end()) stack.push_back(it->second);
      }
    }
    on_path_.assign(static_cast<std::size_t>(n), 0);
    used_.assign(static_cast<std::size_t>(n), 0);
    data_.insert(input_);
    for (int i : topological_) {
      const std::size_t s = static_cast<std::size_t>(i);
      if (!live_[s] || constant_node_[s]) continue;
      bool reads_data = false;
      for (const std::string& in : node(i).input()) reads_data = reads_data || data_.count(in) != 0;
      if (!reads_data) continue;
      on_path_[s] = 1;
      for (const std::string& out : node(i).output())
        if (!out.empty()) data_.insert(out);
      std::set<std::string> seen;
      for (const std::string& in : node(i).input())
        if (data_.count(in) && seen.insert(in).second) consumers_[in].push_back(i);
    }
    for (int i = 0; i < n; ++i)
      if (live_[static_cast<std::size_t>(i)])
        for (const std::string& in : node(i).input()) read_by_live_.insert(in);
    if (!data_.count(output_)) fail("the graph output " + in_quotes(output_) + " does not depend on the input " + in_quotes(input_));
  }

  // An initializer whose bytes are in another file (the dynamo exporter's default: F.onnx.data
  // beside F.onnx), read into a copy with raw_data; its claim is checked against the bytes the
  // file has before they are read.
  const onnx::TensorProto* external(const onnx::TensorProto& t) {
    const std::string what = "initializer " + in_quotes(t.name());
    std::string location;
    std::uint64_t offset = 0;
    std::optional<std::uint64_t> length;
    const auto number = [&](const std::string& text, const char* key) {
      if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
        fail(what + ": its external " + key + " " + in_quotes(text) + " is not a byte count");
      return static_cast<std::uint64_t>(std::stoull(text));
    };
    for (const onnx::StringStringEntryProto& kv : t.external_data()) {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = number(kv.value(), "offset");
      else if (kv.key() == "length") length = number(kv.value(), "length");
      else if (kv.key() != "checksum") fail(what + ": unknown external_data key " + in_quotes(kv.key()));
    }
    if (location.empty()) fail(what + " keeps its data in an external file but names none (no location)");
    if (folder_.empty())
      fail(what + " keeps its data in the external file " + in_quotes(location) +
           "; hnn reads external data only with load_onnx(path), from the model's folder");
    bool outside = location[0] == '/' || location.find('\\') != std::string::npos || location.find(':') != std::string::npos;
    for (std::size_t begin = 0; begin <= location.size();) {
      const std::size_t end = std::min(location.find('/', begin), location.size());
      outside = outside || location.compare(begin, end - begin, "..") == 0;
      begin = end + 1;
    }
    if (outside) fail(what + ": its external file " + in_quotes(location) + " is not inside the model's folder");
    const std::string path = folder_ + "/" + location;
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(what + ": cannot open its external data file " + path);
    in.seekg(0, std::ios::end);
    const std::streamoff end = in.tellg();
    if (end < 0) fail(what + ": cannot read the size of " + path);
    const std::uint64_t size = static_cast<std::uint64_t>(end);
    if (offset > size)
      fail(what + ": its external offset " + std::to_string(offset) + " is past the end of " + location + " (" +
           std::to_string(size) + " bytes)");
    const std::uint64_t bytes = length ? *length : size - offset;
    if (bytes > size - offset)
      fail(what + ": its external bytes [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) +
           ") run past the end of " + location + " (" + std::to_string(size) + " bytes)");
    const std::size_t element = element_bytes(t.data_type());
    if (element == 0) fail(what + " has data type " + data_type_name(t.data_type()) + ", which hnn does not read");
    std::uint64_t elements = 1;
    bool too_many = false;
    for (std::int64_t dim : t.dims()) {
      if (dim < 0) fail(what + " has a negative dimension: dims " + list_str(t.dims()));
      if (dim == 0) elements = 0;
      if (dim != 0 && elements > max_claimed_elements / static_cast<std::uint64_t>(dim)) too_many = true;
      else elements *= static_cast<std::uint64_t>(dim);
    }
    if (too_many || elements * element != bytes)
      fail(what + " claims " + data_type_name(t.data_type()) + " x " + list_str(t.dims()) + ", its external data in " +
           location + " holds " + std::to_string(bytes) + " bytes");
    if (bytes > max_file_bytes) fail(what + ": its external data is over 2 GB, more than hnn reads");
    onnx::TensorProto made;
    made.set_name(t.name());
    made.set_data_type(t.data_type());
    for (std::int64_t dim : t.dims()) made.add_dims(dim);
    std::string data(static_cast<std::size_t>(bytes), '\0');
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(data.data(), static_cast<std::streamsize>(bytes));
    if (static_cast<std::uint64_t>(in.gcount()) != bytes) fail(what + ": cannot read its external data from " + path);
    made.set_raw_data(std::move(data));
    made_constants_.push_back(std::move(made));
    return &made_constants_.back();
  }

  static bool is_default_domain(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

  const onnx::TensorProto* constant_value(int i) {
    Attributes a(source_, desc(i), node(i));
    onnx::TensorProto made;
    made.set_name(node(i).output(0));
    if (a.has("value")) {
      const onnx::AttributeProto* attr = nullptr;
      for (const onnx::AttributeProto& at : node(i).attribute())
        if (at.name() == "value") attr = &at;
      a.ignore("value");
      a.finish();
      if (!attr->has_t()) fail(desc(i) + ": attribute value is not a tensor");
      (void)tensor_layout(source_, attr->t(), desc(i) + "'s value");
      return &attr->t();
    }
    if (a.has("value_float")) {
      made.set_data_type(onnx::TensorProto_DataType_FLOAT);
      made.add_float_data(a.real("value_float", 0));
    } else if (a.has("value_floats")) {
      made.set_data_type(onnx::TensorProto_DataType_FLOAT);
      const onnx::AttributeProto* attr = nullptr;
      for (const onnx::AttributeProto& at : node(i).attribute())
        if (at.name() == "value_floats") attr = &at;
      a.ignore("value_floats");
      for (float f : attr->floats()) made.add_float_data(f);
      made.add_dims(attr->floats_size());
    } else if (a.has("value_int")) {
      made.set_data_type(onnx::TensorProto_DataType_INT64);
      made.add_int64_data(a.integer("value_int", 0));
    } else if (a.has("value_ints")) {
      made.set_data_type(onnx::TensorProto_DataType_INT64);
      const std::vector<std::int64_t> values = a.integers("value_ints", {});
      for (std::int64_t v : values) made.add_int64_data(v);
      made.add_dims(static_cast<std::int64_t>(values.size()));
    } else {
      a.finish();  // names the attribute it has (sparse_value, value_string...)
      fail(desc(i) + " has no value");
    }
    a.finish();
    made_constants_.push_back(std::move(made));
    return &made_constants_.back();
  }

  // --- Walking the data path --------------------------------------------------------------

  // The unconverted nodes on the path that read tensor x, but `stop` (a Residual's Add).
  std::vector<int> consumers_of(const std::string& x, int stop) const {
    std::vector<int> out;
    const auto it = consumers_.find(x);
    if (it == consumers_.end()) return out;
    for (int i : it->second)
      if (i != stop) out.push_back(i);
    return out;
  }

  // Converts layers from tensor x on until a tensor nothing (but `stop`) reads. `first`
  // overrides x's consumers (a branch of a fork). Returns the layers and the last tensor.
  std::pair<Chain, std::string> walk(std::string x, std::optional<std::vector<int>> first, int stop, Shape& shape,
                                     int depth) {
    Chain chain;
    bool at_start = true;
    for (;;) {
      const std::vector<int> next = at_start && first ? *first : consumers_of(x, stop);
      at_start = false;
      if (next.empty()) return {std::move(chain), x};
      if (next.size() == 1 && !(is_op(next[0], "Add") && data_inputs(next[0]) == 2))
        x = convert(next[0], x, shape, chain, stop);
      else
        x = residual(x, next, stop, shape, chain, depth);
    }
  }

  int data_inputs(int i) const {
    int count = 0;
    for (const std::string& in : node(i).input()) count += data_.count(in) ? 1 : 0;
    return count;
  }

  // Every path node reachable from node i, i included.
  std::vector<char> reachable(int i) const {
    std::vector<char> seen(static_cast<std::size_t>(graph_.node_size()), 0);
    std::vector<int> stack{i};
    while (!stack.empty()) {
      const int at = stack.back();
      stack.pop_back();
      if (seen[static_cast<std::size_t>(at)]) continue;
      seen[static_cast<std::size_t>(at)] = 1;
      for (const std::string& out : node(at).output()) {
        const auto it = consumers_.find(out);
        if (it != consumers_.end())
          for (int c : it->second) stack.push_back(c);
      }
    }
    return seen;
  }

  // Tensor x is read by several nodes: a residual block, whose branches an Add joins.
  std::string residual(const std::string& x, const std::vector<int>& readers, int stop, Shape& shape, Chain& chain,
                       int depth) {
    if (depth + 1 >= max_residual_nesting)
      fail("residual blocks nest more than " + std::to_string(max_residual_nesting) + " deep at tensor " + in_quotes(x));
    // The join: the first node, in topological order, that every reader reaches.
    std::vector<std::vector<char>> reach;
    for (int r : readers) reach.push_back(reachable(r));
    int join = -1;
    for (int i : topological_) {
      bool all = true;
      for (const auto& seen : reach) all = all && seen[static_cast<std::size_t>(i)];
      if (all) {
        join = i;
        break;
      }
    }
    const std::string fork = "tensor " + in_quotes(x) + ", which " + std::to_string(readers.size()) + " nodes read";
    if (join < 0 || join == stop) fail(fork + ", does not fork into branches that one Add joins");
    const onnx::NodeProto& j = node(join);
    if (!is_op(join, "Add") || j.input_size() != 2 || data_inputs(join) != 2)
      fail(desc(join) + " joins the branches that fork at " + fork +
           "; hnn joins branches only by adding two of them (a Residual)");
    if (used_[static_cast<std::size_t>(join)]) fail(desc(join) + " is reached twice: not a chain of residual blocks");
    Attributes join_attributes(source_, desc(join), j);
    if (opset_ < 7 && join_attributes.integer("broadcast", 0) != 0)
      join_attributes.refuse("broadcast", "1", "the branches of a residual block have the same shape");
    join_attributes.finish();
    require_one_output(join);
    const std::string& a = j.input(0);
    const std::string& b = j.input(1);
    if (a == x && b == x) fail(desc(join) + " adds " + in_quotes(x) + " to itself, which is not a residual block");

    // Which input of the join each reader leads to.
    std::vector<int> to_a, to_b;
    const auto leads_to = [&](std::size_t r, const std::string& t) {
      const auto p = producer_.find(t);
      if (t == x || p == producer_.end()) return false;  // (the graph input: no reader leads to it)
      return static_cast<bool>(reach[r][static_cast<std::size_t>(p->second)]);
    };
    for (std::size_t r = 0; r < readers.size(); ++r) {
      if (readers[r] == join) continue;
      const bool ra = leads_to(r, a), rb = leads_to(r, b);
      if (ra == rb)
        fail(desc(readers[r]) + " leads to " + (ra ? "both inputs" : "neither input") + " of " + desc(join) +
             ": the graph forking at " + fork + " is not a residual block");
      (ra ? to_a : to_b).push_back(readers[r]);
    }
    Shape shape_a = shape, shape_b = shape;
    auto branch = [&](const std::string& end, std::vector<int> first, Shape& s) {
      if (end == x) return Chain{};
      auto [c, last] = walk(x, std::move(first), join, s, depth + 1);
      if (last != end)
        fail("the branch from " + in_quotes(x) + " to " + desc(join) + " ends at " + in_quotes(last) + ", not at its input " +
             in_quotes(end));
      return std::move(c);
    };
    Chain branch_a = branch(a, to_a, shape_a);
    Chain branch_b = branch(b, to_b, shape_b);
    if (branch_a.specs.empty()) std::swap(branch_a, branch_b);  // the identity is the shortcut
    if (branch_a.specs.empty())
      fail(desc(join) + " adds " + in_quotes(x) + " to itself (through Identity or Dropout nodes only)");

    std::map<std::string, Tensor64> tensors;
    const auto take = [&](Chain& c, const char* prefix) {
      for (std::size_t k = 0; k < c.specs.size(); ++k)
        for (auto& [name, t] : c.tensors[k]) tensors[prefix + std::to_string(k) + "." + name] = std::move(t);
    };
    take(branch_a, "body.");
    take(branch_b, "shortcut.");
    std::optional<LayerSpec> spec;
    try {
      spec.emplace(Residual(branch_a.specs, branch_b.specs));
    } catch (const std::invalid_argument& e) {
      fail(desc(join) + ": " + e.what());
    }
    apply(*spec, join, shape);
    chain.add(*spec, std::move(tensors));
    used_[static_cast<std::size_t>(join)] = 1;
    return j.output(0);
  }

  // --- One node -----------------------------------------------------------------------------

  // The output shape of `spec` for the shape reaching it, or an OnnxError naming node i.
  void apply(const LayerSpec& spec, int i, Shape& shape) const {
    Shape out;
    try {
      out = spec.output_shape(shape);
    } catch (const std::invalid_argument& e) {
      fail(desc(i) + ": " + e.what());
    }
    long double elements = 1;
    for (int d = 0; d < out.rank(); ++d) elements *= static_cast<long double>(out[d]);
    if (elements > max_tensor_elements) fail(desc(i) + ": its output " + out.str() + " is too large");
    shape = out;
  }

  // Only output 0 of node i may be read.
  void require_one_output(int i) const {
    const onnx::NodeProto& n = node(i);
    if (n.output_size() < 1 || n.output(0).empty()) fail(desc(i) + " has no output");
    for (int k = 1; k < n.output_size(); ++k)
      if (!n.output(k).empty() && (read_by_live_.count(n.output(k)) || n.output(k) == output_))
        fail(desc(i) + ": its output " + std::to_string(k) + " (" + in_quotes(n.output(k)) +
             ") is used, and hnn computes only the first output of " + printable(n.op_type()));
  }

  // Input k of node i, which must be a constant; null when absent (optional).
  const onnx::TensorProto* constant_input(int i, int k, const char* role, bool required) const {
    const onnx::NodeProto& n = node(i);
    if (k >= n.input_size() || n.input(k).empty()) {
      if (required) fail(desc(i) + " has no input " + std::to_string(k) + " (" + role + ")");
      return nullptr;
    }
    const std::string& name = n.input(k);
    const auto it = constants_.find(name);
    if (it != constants_.end()) return it->second;
    if (data_.count(name))
      fail(desc(i) + ": its " + role + " " + in_quotes(name) + " (input " + std::to_string(k) +
           ") is computed from the model's input; hnn needs it constant (an initializer)");
    const auto p = producer_.find(name);
    if (p != producer_.end())
      fail(desc(i) + ": its " + role + " " + in_quotes(name) + " is computed by " + desc(p->second) +
           "; hnn reads constants only from initializers, Constant nodes and Identity nodes of those");
    fail(desc(i) + ": its " + role + " " + in_quotes(name) + " is a graph input, not an initializer");
  }

  Tensor64 floats(int i, const onnx::TensorProto& t, const char* role) const {
    return read_floats<double>(source_, t, desc(i) + ": its " + role + " " + in_quotes(t.name()));
  }

  // A per-channel tensor (bias, batch-norm statistics): shape (count).
  Tensor64 vector_of(int i, const onnx::TensorProto& t, const char* role, std::int64_t count) const {
    Tensor64 v = floats(i, t, role);
    if (v.rank() != 1 || v.dim(0) != count)
      fail(desc(i) + ": its " + role + " " + in_quotes(t.name()) + " has shape " + v.shape().str() + ", expected (" +
           std::to_string(count) + ")");
    return v;
  }

  // The two spatial values of a 2-D attribute that must be alike on both axes ("strides").
  std::int64_t square(Attributes& a, const char* name, std::int64_t fallback, std::size_t count, const char* why) const {
    const std::vector<std::int64_t> v = a.integers(name, std::vector<std::int64_t>(count, fallback));
    if (v.size() != count) a.refuse(name, list_str(v), "expected " + std::to_string(count) + " values for a 2-D operator");
    for (std::int64_t x : v)
      if (x != v[0]) a.refuse(name, list_str(v), why);
    if (v[0] < 0 || v[0] > max_attribute_size) a.refuse(name, list_str(v), "out of range");
    return v[0];
  }

  // auto_pad must leave the explicit pads in charge.
  void explicit_padding(Attributes& a, std::int64_t padding) const {
    const std::string mode = a.text("auto_pad", "NOTSET");
    if (mode == "NOTSET" || (mode == "VALID" && padding == 0)) return;
    a.refuse("auto_pad", mode, "hnn reads explicit, symmetric pads only (auto_pad NOTSET)");
  }

  // A traced shape as the file has it: "(N, 16, 5, 5)" where the batch is symbolic.
  std::string shown(const Shape& shape) const {
    if (!symbolic_batch_ || shape.rank() == 0) return shape.str();
    std::string s = "(N";
    for (int d = 1; d < shape.rank(); ++d) s += ", " + std::to_string(shape[d]);
    return s + ")";
  }

  std::int64_t dims_at(int i, const char* name, const Shape& shape, int d) const {
    if (d >= shape.rank()) fail(desc(i) + ": " + name + " needs an input of rank > " + std::to_string(d) + ", got " + shape.str());
    return shape[d];
  }

  // Converts node i, which reads tensor x; returns the tensor the next layer reads.
  std::string convert(int i, const std::string& x, Shape& shape, Chain& chain, int stop) {
    const std::size_t s = static_cast<std::size_t>(i);
    if (used_[s]) fail(desc(i) + " is reached twice: the graph is not a chain of layers and residual blocks");
    used_[s] = 1;
    const onnx::NodeProto& n = node(i);
    if (!is_default_domain(n))
      fail(desc(i) + " is from the operator domain " + in_quotes(n.domain()) + "; hnn reads the default ONNX domain only");
    require_one_output(i);
    const std::string& op = n.op_type();
    if (op != "Add" && (n.input_size() < 1 || n.input(0) != x))
      fail(desc(i) + " reads the data " + in_quotes(x) + " as another input than its first; hnn needs constant weights");
    for (int k = 1; k < n.input_size(); ++k)
      if (op != "Add" && n.input(k) == x) fail(desc(i) + " reads the data " + in_quotes(x) + " twice");
    Attributes a(source_, desc(i), n);
    const auto add = [&](LayerSpec spec, std::map<std::string, Tensor64> t = {}) {
      apply(spec, i, shape);
      chain.add(std::move(spec), std::move(t));
    };
    const auto guarded = [&](auto make) {  // a description's own checks, as this node's error
      try {
        return make();
      } catch (const std::invalid_argument& e) {
        fail(desc(i) + ": " + e.what());
      }
    };

    if (op == "Conv") {
      Tensor64 w = floats(i, *constant_input(i, 1, "weight", true), "weight");
      if (w.rank() != 4)
        fail(desc(i) + ": its weight has shape " + w.shape().str() + "; hnn reads 2-D convolutions, weights (out, in, kH, kW)");
      if (w.dim(2) != w.dim(3))
        fail(desc(i) + ": its kernel is " + std::to_string(w.dim(2)) + "x" + std::to_string(w.dim(3)) +
             "; hnn's Conv2d has square kernels");
      const std::int64_t k = w.dim(2);
      if (a.has("kernel_shape")) {
        const std::vector<std::int64_t> ks = a.integers("kernel_shape", {});
        if (ks != std::vector<std::int64_t>{k, k}) a.refuse("kernel_shape", list_str(ks), "does not match the weight " + w.shape().str());
      }
      const std::int64_t stride = square(a, "strides", 1, 2, "hnn's Conv2d strides both axes alike");
      const std::int64_t padding = square(a, "pads", 0, 4, "hnn's Conv2d pads all four sides alike");
      explicit_padding(a, padding);
      const std::vector<std::int64_t> dilations = a.integers("dilations", {1, 1});
      for (std::int64_t d : dilations)
        if (d != 1) a.refuse("dilations", list_str(dilations), "hnn's Conv2d has no dilation");
      const std::int64_t group = a.integer("group", 1);
      if (group != 1) a.refuse("group", std::to_string(group), "hnn's Conv2d has no groups (group 1 only)");
      a.finish();
      if (stride == 0) a.refuse("strides", "0", "strides must be positive");
      std::map<std::string, Tensor64> t;
      const onnx::TensorProto* b = constant_input(i, 2, "bias", false);
      if (b) t["bias"] = vector_of(i, *b, "bias", w.dim(0));
      const std::int64_t in = w.dim(1), out = w.dim(0);
      t["weight"] = std::move(w);
      add(guarded([&] { return LayerSpec(Conv2d(in, out, k).stride(stride).padding(padding).bias(b != nullptr)); }),
          std::move(t));
      return n.output(0);
    }

    if (op == "MaxPool" || op == "AveragePool") {
      const std::vector<std::int64_t> ks = a.integers("kernel_shape", {});
      if (ks.size() != 2 || ks[0] != ks[1] || ks[0] < 1 || ks[0] > max_attribute_size)
        a.refuse("kernel_shape", list_str(ks), "hnn pools with square 2-D windows");
      const std::int64_t stride = square(a, "strides", 1, 2, "hnn's pooling strides both axes alike");
      const std::int64_t padding = square(a, "pads", 0, 4, "hnn's pooling pads all four sides alike");
      explicit_padding(a, padding);
      const std::int64_t ceil = a.integer("ceil_mode", 0);
      if (ceil != 0) a.refuse("ceil_mode", std::to_string(ceil), "hnn's pooling rounds the output size down");
      const std::vector<std::int64_t> dilations = a.integers("dilations", {1, 1});
      for (std::int64_t d : dilations)
        if (d != 1) a.refuse("dilations", list_str(dilations), "hnn's pooling has no dilation");
      if (stride == 0) a.refuse("strides", "0", "strides must be positive");
      if (op == "MaxPool") {
        a.ignore("storage_order");
        a.finish();
        add(guarded([&] { return LayerSpec(MaxPool2d(ks[0], stride).padding(padding)); }));
      } else {
        const std::int64_t count_pad = a.integer("count_include_pad", 0);
        if (padding > 0 && opset_ < 7)
          fail(desc(i) + ": AveragePool of opset " + std::to_string(opset_) + " leaves the padding out of the "
               "average; hnn's AvgPool2d counts it (count_include_pad = 1, opset 7 on)");
        if (padding > 0 && count_pad == 0)
          a.refuse("count_include_pad", "0",
                   "with pads " + std::to_string(padding) + ", hnn's AvgPool2d divides by the whole window, padded "
                   "zeros included (count_include_pad = 1)");
        a.finish();
        add(guarded([&] { return LayerSpec(AvgPool2d(ks[0], stride).padding(padding)); }));
      }
      return n.output(0);
    }

    if (op == "BatchNormalization") {
      const std::int64_t channels = dims_at(i, "BatchNormalization", shape, 1);
      const char* roles[] = {"scale", "bias", "mean", "variance"};
      Tensor64 v[4];
      for (int k = 0; k < 4; ++k) v[k] = vector_of(i, *constant_input(i, k + 1, roles[k], true), roles[k], channels);
      // The attributes are floats that PyTorch's doubles were rounded to (1e-5 -> 9.99999975e-06):
      // read back as the shortest decimals that give the same floats (1e-5, 0.9), so that the
      // layer's description reads as PyTorch's. ONNX's momentum weighs the running value,
      // PyTorch's and hnn's the batch's.
      const double eps = shortest_decimal(a.real("epsilon", 1e-5f));
      const double momentum = decimal(1.0 - shortest_decimal(a.real("momentum", 0.9f)));
      if (opset_ < 7) {  // BatchNormalization-6 normalises by the batch's statistics unless is_test
        const std::int64_t is_test = a.integer("is_test", 0);
        if (is_test != 1) a.refuse("is_test", std::to_string(is_test), "hnn reads batch normalization for inference only");
      }
      const std::int64_t training = a.integer("training_mode", 0);
      if (training != 0)
        a.refuse("training_mode", std::to_string(training), "hnn reads batch normalization for inference only");
      const std::int64_t spatial = a.integer("spatial", 1);
      if (spatial != 1) a.refuse("spatial", std::to_string(spatial), "hnn normalises per channel (spatial = 1)");
      a.finish();
      if (!(momentum >= 0 && momentum <= 1)) a.refuse("momentum", std::to_string(1 - momentum), "outside [0, 1]");
      std::map<std::string, Tensor64> t{{"weight", std::move(v[0])},
                                        {"bias", std::move(v[1])},
                                        {"running_mean", std::move(v[2])},
                                        {"running_var", std::move(v[3])}};
      if (shape.rank() == 4)
        add(guarded([&] { return LayerSpec(BatchNorm2d(channels).eps(eps).momentum(momentum)); }), std::move(t));
      else if (shape.rank() == 2 || shape.rank() == 3)
        add(guarded([&] { return LayerSpec(BatchNorm1d(channels).eps(eps).momentum(momentum)); }), std::move(t));
      else
        fail(desc(i) + ": its input " + shape.str() + " is not (N, C), (N, C, L) or (N, C, H, W)");
      return n.output(0);
    }

    if (op == "Gemm") {
      const std::int64_t trans_a = a.integer("transA", 0);
      if (trans_a != 0) a.refuse("transA", std::to_string(trans_a), "hnn's Linear reads its input as (N, features)");
      const std::int64_t trans_b = a.integer("transB", 0);
      if (opset_ < 7) a.ignore("broadcast");  // Gemm-6's flag for a C to broadcast, which hnn's bias is
      if (trans_b != 0 && trans_b != 1) a.refuse("transB", std::to_string(trans_b), "must be 0 or 1");
      const double alpha = a.real("alpha", 1.0f), beta = a.real("beta", 1.0f);
      a.finish();
      Tensor64 w = floats(i, *constant_input(i, 1, "weight", true), "weight");
      if (w.rank() != 2) fail(desc(i) + ": its weight (input B) has shape " + w.shape().str() + ", not a matrix");
      if (trans_b == 0) w = transposed(w);
      for (std::int64_t e = 0; e < w.numel(); ++e) w[e] *= alpha;
      std::map<std::string, Tensor64> t;
      const onnx::TensorProto* c = constant_input(i, 2, "bias", false);
      if (c) {
        Tensor64 bias = broadcast_bias(i, floats(i, *c, "bias"), w.dim(0));
        for (std::int64_t e = 0; e < bias.numel(); ++e) bias[e] *= beta;
        t["bias"] = std::move(bias);
      }
      const std::int64_t in = w.dim(1), out = w.dim(0);
      t["weight"] = std::move(w);
      add(guarded([&] { return LayerSpec(Linear(in, out).bias(c != nullptr)); }), std::move(t));
      return n.output(0);
    }

    if (op == "MatMul") {
      a.finish();
      Tensor64 b = floats(i, *constant_input(i, 1, "weight", true), "weight");
      if (b.rank() != 2) fail(desc(i) + ": its right-hand side has shape " + b.shape().str() + ", not a matrix");
      std::map<std::string, Tensor64> t{{"weight", transposed(b)}};
      const std::int64_t in = b.dim(0), out = b.dim(1);
      std::string result = n.output(0);
      // The Add of a constant bias right after it (dynamo writes Linear so).
      const std::vector<int> next = consumers_of(result, stop);
      if (next.size() == 1 && is_op(next[0], "Add") && is_default_domain(node(next[0])) && data_inputs(next[0]) == 1 &&
          node(next[0]).input_size() == 2 && !used_[static_cast<std::size_t>(next[0])]) {
        const int add_node = next[0];
        const int k = node(add_node).input(0) == result ? 1 : 0;
        const auto it = constants_.find(node(add_node).input(k));
        if (it != constants_.end()) {
          Attributes(source_, desc(add_node), node(add_node)).finish();
          require_one_output(add_node);
          t["bias"] = broadcast_bias(add_node, floats(add_node, *it->second, "bias"), out);
          used_[static_cast<std::size_t>(add_node)] = 1;
          result = node(add_node).output(0);
        }
      }
      const bool has_bias = t.count("bias") != 0;
      add(guarded([&] { return LayerSpec(Linear(in, out).bias(has_bias)); }), std::move(t));
      return result;
    }

    if (op == "Relu" || op == "Sigmoid" || op == "Tanh") {
      a.finish();
      if (op == "Relu") add(ReLU());
      else if (op == "Sigmoid") add(Sigmoid());
      else add(Tanh());
      return n.output(0);
    }

    if (op == "Flatten") {
      std::int64_t axis = a.integer("axis", 1);
      a.finish();
      if (axis < 0) axis += shape.rank();
      if (axis != 1)
        a.refuse("axis", std::to_string(a.integer("axis", 1)), "hnn's Flatten keeps the batch dimension alone (axis 1)");
      add(Flatten());
      return n.output(0);
    }

    if (op == "Reshape") {
      const std::int64_t allow_zero = a.integer("allowzero", 0);
      a.finish();
      const onnx::TensorProto* target_proto = constant_input(i, 1, "shape", true);
      const std::vector<std::int64_t> target =
          read_ints(source_, *target_proto, desc(i) + ": its shape " + in_quotes(target_proto->name()));
      if (!is_flatten(target, allow_zero != 0, shape))
        fail(desc(i) + ": the reshape of " + shown(shape) + " to " + list_str(target) +
             " is not a flatten to (N, features), the only reshape hnn reads");
      add(Flatten());
      return n.output(0);
    }

    if (op == "GlobalAveragePool") {
      a.finish();
      add(GlobalAvgPool2d());
      return n.output(0);
    }

    if (op == "ReduceMean") {
      std::vector<std::int64_t> axes;
      bool have_axes = false;
      if (opset_ >= 18) {
        const std::int64_t noop = a.integer("noop_with_empty_axes", 0);
        if (noop != 0) a.refuse("noop_with_empty_axes", std::to_string(noop), "hnn reads a mean over H and W");
        const onnx::TensorProto* p = constant_input(i, 1, "axes", false);
        if (p) axes = read_ints(source_, *p, desc(i) + ": its axes"), have_axes = true;
      } else if (a.has("axes")) {
        axes = a.integers("axes", {}), have_axes = true;
      }
      const std::int64_t keep = a.integer("keepdims", 1);
      if (keep != 0 && keep != 1) a.refuse("keepdims", std::to_string(keep), "must be 0 or 1");
      a.finish();
      std::set<std::int64_t> normal;
      for (std::int64_t ax : axes) normal.insert(ax < 0 ? ax + shape.rank() : ax);
      if (!have_axes || shape.rank() != 4 || normal != std::set<std::int64_t>{2, 3} || axes.size() != 2)
        fail(desc(i) + ": a mean over axes " + (have_axes ? list_str(axes) : std::string("(all)")) + " of " +
             shape.str() + "; hnn reads ReduceMean only over H and W of (N, C, H, W) (a global average pooling)");
      add(GlobalAvgPool2d());
      if (keep == 0) add(Flatten());
      return n.output(0);
    }

    if (op == "Dropout") {
      double ratio = 0.5;
      if (opset_ < 12) {
        ratio = a.real("ratio", 0.5f);
        const std::int64_t is_test = opset_ < 7 ? a.integer("is_test", 0) : 1;
        if (is_test != 1) a.refuse("is_test", std::to_string(is_test), "hnn reads dropout for inference only");
      } else {
        a.ignore("seed");
        if (const onnx::TensorProto* r = constant_input(i, 1, "ratio", false)) {
          const Tensor64 v = floats(i, *r, "ratio");
          if (v.numel() != 1) fail(desc(i) + ": its ratio has shape " + v.shape().str() + ", not a scalar");
          ratio = v[0];
        }
        if (const onnx::TensorProto* m = constant_input(i, 2, "training_mode", false)) {
          const TensorLayout layout = tensor_layout(source_, *m, desc(i) + ": its training_mode");
          if (layout.elements != 1 || value_at(*m, layout, 0) != 0)
            fail(desc(i) + ": its training_mode is not false; hnn reads dropout for inference only");
        }
      }
      a.finish();
      ratio = shortest_decimal(static_cast<float>(ratio));  // (a float in the file: 0.1, not 0.100000001)
      add(guarded([&] { return LayerSpec(Dropout(ratio)); }));
      return n.output(0);
    }

    if (op == "Identity") {
      a.finish();
      return n.output(0);
    }

    if (op == "Add") {
      a.finish();
      fail(desc(i) + (data_inputs(i) == 2 ? " adds two computed tensors that do not fork from one as a residual block does"
                                          : " adds a constant to the data; hnn reads Add only as the join of a residual "
                                            "block or as the bias after a MatMul"));
    }

    fail(desc(i) + " has no hnn layer: hnn reads Conv, MaxPool, AveragePool, BatchNormalization, Gemm, MatMul (+ Add), "
                   "Relu, Sigmoid, Tanh, Flatten, Reshape (to (N, features)), GlobalAveragePool, ReduceMean (over H, W), "
                   "Dropout, Identity, and Add joining a residual block");
  }

  // The double of the shortest decimal that reads back as `value` (as Python prints a float).
  static double shortest_decimal(float value) {
    char text[32];
    for (int precision = 1; precision <= 9; ++precision) {
      std::snprintf(text, sizeof text, "%.*g", precision, static_cast<double>(value));
      if (std::strtof(text, nullptr) == value) break;
    }
    return std::strtod(text, nullptr);
  }
  // `value` to 15 significant digits, which undoes the rounding of a subtraction (1 - 0.9).
  static double decimal(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.15g", value);
    return std::strtod(text, nullptr);
  }

  static Tensor64 transposed(const Tensor64& m) {
    Tensor64 t(Shape{m.dim(1), m.dim(0)});
    for (std::int64_t r = 0; r < m.dim(0); ++r)
      for (std::int64_t c = 0; c < m.dim(1); ++c) t[c * m.dim(0) + r] = m[r * m.dim(1) + c];
    return t;
  }

  // A Gemm's C or an Add's bias as one value per output: shapes (), (1), (out), (1, 1), (1, out).
  Tensor64 broadcast_bias(int i, const Tensor64& c, std::int64_t out) const {
    const Shape& s = c.shape();
    const bool per_output = (s.rank() == 1 && s[0] == out) || (s.rank() == 2 && s[0] == 1 && s[1] == out);
    const bool single = c.numel() == 1 && s.rank() <= 2;
    if (!per_output && !single)
      fail(desc(i) + ": its bias has shape " + s.str() + "; hnn's Linear adds one bias per output (" +
           std::to_string(out) + "), the same for every row");
    Tensor64 b(Shape{out});
    for (std::int64_t e = 0; e < out; ++e) b[e] = single ? c[0] : c[e];
    return b;
  }

  // Whether Reshape to `target` turns `shape` into (batch, everything else).
  bool is_flatten(const std::vector<std::int64_t>& target, bool allow_zero, const Shape& shape) const {
    if (target.size() != 2 || shape.rank() < 1) return false;
    const std::int64_t features = shape.sample_size();
    const auto keeps_batch = [&](std::int64_t d0) {
      if (d0 == 0 && !allow_zero) return true;        // copies the input's first dimension
      return !symbolic_batch_ && d0 == shape[0];      // the same number
    };
    const std::int64_t d0 = target[0], d1 = target[1];
    const bool d1_features = d1 == features || (d1 == 0 && !allow_zero && shape.rank() > 1 && shape[1] == features);
    if (keeps_batch(d0)) return d1_features || d1 == -1;
    if (d0 == -1) return d1_features;
    return false;
  }

  void check_declared_output(const Shape& shape) const {
    const onnx::ValueInfoProto& v = graph_.output(0);
    if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
    const onnx::TensorShapeProto& declared = v.type().tensor_type().shape();
    bool differs = declared.dim_size() != shape.rank();
    for (int d = 0; !differs && d < declared.dim_size(); ++d) {
      if (!declared.dim(d).has_dim_value()) continue;
      if (d == 0 && symbolic_batch_) continue;
      differs = declared.dim(d).dim_value() != shape[d];
    }
    if (differs) {
      std::vector<std::string> dims;
      for (const auto& dim : declared.dim()) dims.push_back(dim.has_dim_value() ? std::to_string(dim.dim_value()) : dim.dim_param());
      std::string text = "(";
      for (const std::string& d : dims) text += (text.size() > 1 ? ", " : "") + printable(d, 20);
      fail("the graph output " + in_quotes(output_) + " is declared " + text + "), the layers compute " + shape.str() +
           (symbolic_batch_ ? " (batch 1)" : ""));
    }
  }

  const onnx::ModelProto& model_;
  const onnx::GraphProto& graph_;
  std::string source_, folder_;
  std::int64_t opset_ = 0;
  std::map<std::string, const onnx::TensorProto*> constants_;
  std::deque<onnx::TensorProto> made_constants_;
  std::map<std::string, int> producer_;
  std::set<std::string> graph_inputs_;
  std::string input_, output_;
  Shape input_shape_;
  bool symbolic_batch_ = false;
  std::vector<int> topological_, position_;
  std::vector<char> constant_node_, live_, on_path_, used_;
  std::set<std::string> data_, read_by_live_;
  std::map<std::string, std::vector<int>> consumers_;
};

// The Sequential of `chain`, its tensors copied in as T; evaluation mode.
template <class T, class Device>
Sequential<T, Device> build(const std::string& source, Chain& chain) {
  std::map<std::string, Tensor<double, cpu>*> named;
  for (std::size_t i = 0; i < chain.specs.size(); ++i)
    for (auto& [name, t] : chain.tensors[i]) named[std::to_string(i) + "." + name] = &t;
  Sequential<T, Device> model(chain.specs);
  for (const NamedTensor<T, Device>& entry : model.state_dict()) {
    const auto it = named.find(entry.name);
    if (it == named.end())
      throw OnnxError(source, "no tensor read for the layer tensor " + in_quotes(entry.name) + " (a bug in hnn's reader)");
    const Tensor<double, cpu>& from = *it->second;
    if (from.shape() != entry.value->shape())
      throw OnnxError(source, "tensor " + in_quotes(entry.name) + " has shape " + from.shape().str() + ", its layer needs " +
                                  entry.value->shape().str());
    Tensor<T, cpu> host(from.shape());
    for (std::int64_t e = 0; e < from.numel(); ++e) host[e] = static_cast<T>(from[e]);
    entry.value->copy_from(host);
    named.erase(it);
  }
  if (!named.empty())
    throw OnnxError(source, "tensor " + in_quotes(named.begin()->first) + " was read for no layer tensor (a bug in hnn's reader)");
  model.eval();
  return model;
}

}  // namespace detail::onnx_io

// The model in an ONNX ModelProto (see the top of this file); `source` names it in errors.
// `external_data_folder`: where initializers stored in external files are (empty: refused).
template <class T, class Device = cpu>
Sequential<T, Device> from_onnx(const onnx::ModelProto& model, const std::string& source = "onnx model",
                                OnnxModelInfo* info = nullptr, const std::string& external_data_folder = "") {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "hnn::from_onnx: T is float or double");
  OnnxModelInfo read_info;
  detail::onnx_io::GraphReader reader(model, source, external_data_folder);
  detail::onnx_io::Chain chain = reader.read(read_info);
  Sequential<T, Device> out = detail::onnx_io::build<T, Device>(source, chain);
  if (info) *info = std::move(read_info);
  return out;
}

// The model in `size` bytes of a serialized ONNX file held in memory.
template <class T, class Device = cpu>
Sequential<T, Device> load_onnx_bytes(const void* bytes, std::size_t size, const std::string& source,
                                      OnnxModelInfo* info = nullptr, const std::string& external_data_folder = "") {
  if (size == 0) throw OnnxError(source, "the file is empty: not an ONNX model");
  if (size > detail::onnx_io::max_file_bytes)
    throw OnnxError(source, "the file is over protobuf's 2 GB limit for one message");
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes, static_cast<int>(size)))
    throw OnnxError(source, "not an ONNX model: protobuf cannot parse its " + std::to_string(size) +
                                " bytes (a truncated or corrupted file?)");
  return from_onnx<T, Device>(model, source, info, external_data_folder);
}

// The model in the ONNX file at `path`; initializers in external files are read from its folder.
template <class T, class Device = cpu>
Sequential<T, Device> load_onnx(const std::string& path, OnnxModelInfo* info = nullptr) {
  const std::string bytes = detail::onnx_io::read_file_bytes(path);
  const std::size_t slash = path.find_last_of('/');
  const std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  return load_onnx_bytes<T, Device>(bytes.data(), bytes.size(), path, info, folder);
}

}  // namespace hnn
