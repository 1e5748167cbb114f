// Where lenet5 looks for Fashion-MNIST: the program's choice, not the library's (which
// loads from any folder it is given).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace hnn_example {

// The --data flag if given, else $HNN_DATA, else the repository's data/fashion-mnist when it
// holds the training files (the committed slice holds only test files), else the Debian
// package's folder. Whether the files are really there is left to the loader, which says so.
inline std::string find_data_dir(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("HNN_DATA"); env && *env) return env;
  const std::filesystem::path local = "data/fashion-mnist";
  std::error_code ec;
  const auto has = [&](const std::string& stem) {
    return std::filesystem::is_regular_file(local / stem, ec) ||
           std::filesystem::is_regular_file(local / (stem + ".gz"), ec);
  };
  if (has("train-images-idx3-ubyte") && has("train-labels-idx1-ubyte")) return local.string();
  return "/usr/share/datasets/fashion-mnist";
}

}  // namespace hnn_example
