// Batch-norm state away from its initial values (running mean 0, variance 1, weight 1, bias 0),
// so that evaluation mode is not the identity and every batch-norm tensor of a model matters
// to its output: for hnn's ONNX tests and tests/interop/hnn_onnx_tool.cpp.
#pragma once

#include <cmath>
#include <map>
#include <string>

#include "hnn/model/sequential.hpp"

namespace onnx_test {

template <class T>
void vary_batch_norms(hnn::Sequential<T, hnn::cpu>& model) {
  std::map<std::string, hnn::Tensor<T, hnn::cpu>*> state;
  for (const hnn::NamedTensor<T, hnn::cpu>& t : model.state_dict()) state[t.name] = t.value;
  const std::string mean = "running_mean";
  for (const auto& [name, value] : state) {
    if (name.size() < mean.size() || name.compare(name.size() - mean.size(), mean.size(), mean) != 0) continue;
    const std::string prefix = name.substr(0, name.size() - mean.size());
    const auto set = [&](const std::string& n, T base, T scale, T rate) {
      const auto it = state.find(prefix + n);
      if (it == state.end()) return;  // a batch norm without affine parameters
      hnn::Tensor<T, hnn::cpu> v(it->second->shape());
      for (std::int64_t i = 0; i < v.numel(); ++i) v[i] = base + scale * std::sin(rate * static_cast<T>(i + 1));
      it->second->copy_from(v);
    };
    set("running_mean", T(0), T(0.2), T(1.3));
    set("running_var", T(0.6), T(0.3), T(0.7));
    set("weight", T(1), T(0.25), T(2.1));
    set("bias", T(0), T(0.1), T(0.9));
  }
}

}  // namespace onnx_test
