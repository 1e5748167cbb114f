// ONNX's own backend tests (Debian: libonnx-testdata) through hnn's reader: every test whose
// nodes are all operators hnn reads is either run -- each test_data_set_*: input_0.pb in,
// output_0.pb out, within ONNX's backend tolerances (rtol 1e-3, atol 1e-7) -- or refused by
// the reader with an OnnxError, and then it must be listed in the skip list with its reason.
// A listed test that hnn reads fails too (the list must shrink when the reader grows), as does
// one refused but not listed.
//
// The tests give a node's other inputs (weights, biases, statistics, shapes) as graph inputs
// with their values in input_<k>.pb; hnn needs them constant, so they become initializers.
//
//   hnn_onnx_node_tests DATA SKIP_LIST      DATA: the folder with node/, pytorch-converted/, ...
// Exit status: 0 all good, 1 a failure, 77 the data is not installed (a loud SKIP line).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "hnn/onnx.hpp"

namespace fs = std::filesystem;

namespace {

// What hnn's reader turns into layers (hnn/onnx/import.hpp).
const std::set<std::string> hnn_operators{"Conv",    "MaxPool",  "AveragePool", "BatchNormalization", "Gemm",
                                          "MatMul",  "Add",      "Relu",        "Sigmoid",            "Tanh",
                                          "Flatten", "Reshape",  "GlobalAveragePool", "ReduceMean",   "Dropout",
                                          "Identity", "Constant"};
// The suites of the data folder that hold single models with test data.
const char* const suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool parse_tensor(const fs::path& p, onnx::TensorProto& t) { return t.ParseFromString(read_all(p)); }

// The skip list: "<test>  <reason>" per line, # comments.
std::map<std::string, std::string> read_skip_list(const std::string& path, bool& ok) {
  std::map<std::string, std::string> list;
  std::ifstream in(path);
  if (!in) {
    std::printf("FAIL: cannot read the skip list %s\n", path.c_str());
    ok = false;
    return list;
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t space = line.find_first_of(" \t");
    const std::string name = line.substr(0, space);
    std::string reason = space == std::string::npos ? "" : line.substr(line.find_first_not_of(" \t", space));
    if (reason.empty()) {
      std::printf("FAIL: skip list entry %s gives no reason\n", name.c_str());
      ok = false;
    }
    list[name] = reason;
  }
  return list;
}

struct Outcome {
  enum Kind { passed, refused, failed } kind;
  std::string detail;
};

Outcome run_test(const fs::path& dir) {
  onnx::ModelProto model;
  if (!model.ParseFromString(read_all(dir / "model.onnx"))) return {Outcome::failed, "model.onnx does not parse"};
  std::vector<fs::path> sets;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(entry.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return {Outcome::failed, "no test_data_set_*"};

  std::string detail;
  for (const fs::path& set : sets) {
    // Every graph input but the first (and those with initializers) becomes an initializer.
    onnx::ModelProto m = model;
    onnx::GraphProto& g = *m.mutable_graph();
    std::set<std::string> initialized;
    for (const onnx::TensorProto& t : g.initializer()) initialized.insert(t.name());
    int k = 0;
    onnx::TensorProto input;
    for (const onnx::ValueInfoProto& v : model.graph().input()) {
      if (initialized.count(v.name())) continue;
      onnx::TensorProto t;
      const fs::path file = set / ("input_" + std::to_string(k) + ".pb");
      if (!parse_tensor(file, t)) return {Outcome::failed, file.string() + " does not parse"};
      if (k == 0) {
        input = t;
      } else {
        t.set_name(v.name());
        *g.add_initializer() = t;
      }
      ++k;
    }
    hnn::Sequential<float, hnn::cpu> net = hnn::from_onnx<float>(m, dir.filename().string());  // OnnxError: refused
    onnx::TensorProto expected_proto;
    if (!parse_tensor(set / "output_0.pb", expected_proto)) return {Outcome::failed, "output_0.pb does not parse"};
    const hnn::Tensor<float, hnn::cpu> x = hnn::detail::onnx_io::read_floats<float>("input_0.pb", input, "input 0");
    const hnn::Tensor<float, hnn::cpu> want =
        hnn::detail::onnx_io::read_floats<float>("output_0.pb", expected_proto, "output 0");
    const hnn::Tensor<float, hnn::cpu> got = net.forward(x).to<hnn::cpu>();
    if (got.numel() != want.numel())
      return {Outcome::failed, set.filename().string() + ": output " + got.shape().str() + ", expected " + want.shape().str()};
    double worst = 0;
    for (std::int64_t i = 0; i < got.numel(); ++i) {
      const double a = got[i], b = want[i];
      const double excess = std::fabs(a - b) - (1e-7 + 1e-3 * std::fabs(b));
      if (!(excess <= 0)) {
        std::ostringstream s;
        s << set.filename().string() << ": output " << i << " is " << a << ", expected " << b;
        return {Outcome::failed, s.str()};
      }
      worst = std::max(worst, std::fabs(a - b));
    }
    std::ostringstream s;
    s << (detail.empty() ? "" : detail + "; ") << set.filename().string() << " max |difference| " << worst << " ("
      << net.describe_all() << ")";
    detail = s.str();
  }
  return {Outcome::passed, detail};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: hnn_onnx_node_tests DATA SKIP_LIST\n");
    return 2;
  }
  const fs::path data = argv[1];
  if (!fs::is_directory(data / "node")) {
    std::printf("onnx_backend_node_tests: ##############################################################\n"
                "onnx_backend_node_tests: SKIP: ONNX's backend test data is not installed (%s/node is missing;\n"
                "onnx_backend_node_tests: Debian: apt-get install libonnx-testdata). hnn's ONNX reader is NOT\n"
                "onnx_backend_node_tests: checked against ONNX's own operator tests in this run.\n"
                "onnx_backend_node_tests: ##############################################################\n",
                data.string().c_str());
    return 77;
  }
  bool ok = true;
  const std::map<std::string, std::string> skip = read_skip_list(argv[2], ok);
  std::set<std::string> seen;
  int passed = 0, refused = 0, failed = 0;
  std::map<std::string, int> per_operator;
  for (const char* suite : suites) {
    if (!fs::is_directory(data / suite)) continue;
    std::vector<fs::path> tests;
    for (const auto& entry : fs::directory_iterator(data / suite))
      if (entry.is_directory() && fs::exists(entry.path() / "model.onnx")) tests.push_back(entry.path());
    std::sort(tests.begin(), tests.end());
    for (const fs::path& dir : tests) {
      onnx::ModelProto model;
      if (!model.ParseFromString(read_all(dir / "model.onnx"))) continue;  // not a model this protobuf reads
      bool ours = model.graph().node_size() > 0;
      std::set<std::string> ops;
      for (const onnx::NodeProto& n : model.graph().node()) {
        ours = ours && (n.domain().empty() || n.domain() == "ai.onnx") && hnn_operators.count(n.op_type());
        ops.insert(n.op_type());
      }
      if (!ours) continue;
      const std::string name = dir.filename().string();
      const std::string label = std::string(suite) + "/" + name;
      seen.insert(name);
      Outcome outcome{Outcome::failed, ""};
      try {
        outcome = run_test(dir);
      } catch (const hnn::OnnxError& e) {
        outcome = {Outcome::refused, e.what()};
      } catch (const std::exception& e) {
        outcome = {Outcome::failed, std::string("an exception other than OnnxError: ") + e.what()};
      }
      const auto listed = skip.find(name);
      if (outcome.kind == Outcome::passed) {
        if (listed != skip.end()) {
          std::printf("FAIL %s: listed as skipped (%s), but hnn reads it and passes: remove it from the list\n",
                      label.c_str(), listed->second.c_str());
          ok = false;
          ++failed;
        } else {
          std::printf("ok   %s: %s\n", label.c_str(), outcome.detail.c_str());
          ++passed;
          for (const std::string& op : ops) ++per_operator[op];
        }
      } else if (outcome.kind == Outcome::refused) {
        if (listed == skip.end()) {
          std::printf("FAIL %s: refused but not in the skip list: %s\n", label.c_str(), outcome.detail.c_str());
          ok = false;
          ++failed;
        } else {
          std::printf("skip %s: %s [%s]\n", label.c_str(), listed->second.c_str(), outcome.detail.c_str());
          ++refused;
        }
      } else {
        std::printf("FAIL %s: %s\n", label.c_str(), outcome.detail.c_str());
        ok = false;
        ++failed;
      }
    }
  }
  for (const auto& [name, reason] : skip)
    if (!seen.count(name)) std::printf("note: the skip list names %s, which this data does not have\n", name.c_str());
  std::printf("\nonnx backend tests: %d passed, %d skipped as listed, %d failed; passed per operator:", passed, refused,
              failed);
  for (const auto& [op, n] : per_operator) std::printf(" %s %d", op.c_str(), n);
  std::printf("\n");
  return ok && passed > 0 ? 0 : 1;
}
