// Helpers shared by the unit tests (tests/unit/*.cpp). The unit tests are compiled together
// in batches (a unity build, tests/CMakeLists.txt), so a helper two files need lives here
// once; a file's own helpers need names no other test file uses.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "hnn/model/sequential.hpp"
#include "hnn/parallel.hpp"

namespace hnn::testing {

// Sets hnn's thread count and restores the previous one however the test ends.
class ThreadCount {
 public:
  explicit ThreadCount(int threads) : saved_(num_threads()) { set_num_threads(threads); }
  ~ThreadCount() { set_num_threads(saved_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

 private:
  int saved_;
};

// The committed 1,000-image slice of Fashion-MNIST (data/fashion-mnist).
inline const std::string slice_dir = std::string(HNN_SOURCE_DIR) + "/data/fashion-mnist";

// A path in the temporary directory that no other test process uses: hnn-test-<pid>-<name>.
inline std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("hnn-test-" + std::to_string(::getpid()) + "-" + name)).string();
}

// Calls f and checks that it throws E with every one of `words` in its message.
template <class E, class F>
void expect_error(F&& f, const std::vector<std::string>& words) {
  try {
    f();
    ADD_FAILURE() << "expected an exception";
  } catch (const E& e) {
    for (const std::string& w : words) EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << e.what();
  }
}

// A fresh folder under the system's temporary one, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::random_device entropy;
    for (int attempt = 0;; ++attempt) {
      path_ = std::filesystem::temp_directory_path() /
              ("hnn-test-" + std::to_string(::getpid()) + "-" + std::to_string(entropy()) + "-" + std::to_string(attempt));
      if (std::filesystem::create_directory(path_)) break;
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;  // a test may have taken the owner's permissions away
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The same values in another element type (the double tests' inputs for a float model).
template <class T>
Tensor<T> as(const Tensor<double>& x) {
  Tensor<T> out(x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) out[i] = static_cast<T>(x[i]);
  return out;
}

// Every parameter's values, one vector per parameter in the model's order.
template <class T, class Device>
std::vector<std::vector<T>> parameter_values(const Sequential<T, Device>& model) {
  std::vector<std::vector<T>> values;
  for (const auto& p : model.parameters()) values.push_back(p.value->to_vector());
  return values;
}

}  // namespace hnn::testing
