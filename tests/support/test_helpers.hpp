// Helpers shared by the unit tests (tests/unit/*.cpp). The unit tests are compiled together
// in batches (a unity build, tests/CMakeLists.txt), so a helper two files need lives here
// once; a file's own helpers need names no other test file uses.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "hnn/model/sequential.hpp"

namespace hnn::testing {

// The committed 1,000-image slice of Fashion-MNIST (data/fashion-mnist).
inline const std::string slice_dir = std::string(HNN_SOURCE_DIR) + "/data/fashion-mnist";

// A path in the temporary directory that no other test process uses: hnn-test-<pid>-<name>.
inline std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("hnn-test-" + std::to_string(::getpid()) + "-" + name)).string();
}

// Every parameter's values, one vector per parameter in the model's order.
template <class T, class Device>
std::vector<std::vector<T>> parameter_values(const Sequential<T, Device>& model) {
  std::vector<std::vector<T>> values;
  for (const auto& p : model.parameters()) values.push_back(p.value->to_vector());
  return values;
}

}  // namespace hnn::testing
