// Where the benchmarks look for Fashion-MNIST: the same order as the lenet5 program
// (examples/lenet5/data_dir.hpp, tested there), so that `make bench` finds what `make train` finds.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace lenet {

// The --data flag if given, else $HNN_DATA, else data/fashion-mnist when it holds the
// training files, else the Debian package's folder.
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

}  // namespace lenet
