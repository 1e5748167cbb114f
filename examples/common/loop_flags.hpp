// The few flags of the programs written on hnn::TrainLoop (mlp, regression): each program
// gives its defaults, the user may override them.
//   --epochs N --lr X --batch-size N --seed N --threads N --data DIR
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli.hpp"

namespace hnn_example {

struct LoopFlags {
  int epochs = 10;
  double lr = 0.1;
  std::int64_t batch_size = 256;
  std::uint64_t seed = 0;
  int threads = 0;       // 0: the library's default
  std::string data_dir;  // find_data_dir (data_dir.hpp) resolves it
};

inline const char* const loop_flags_help =
    "  --epochs N        passes over the training set\n"
    "  --lr X            the optimizer's learning rate\n"
    "  --batch-size N    examples per step\n"
    "  --seed N          initial weights, shuffling and dropout\n"
    "  --threads N       CPU threads (default: all)\n"
    "  --data DIR        Fashion-MNIST's folder (default: $HNN_DATA or Debian's)\n";

// Parses argv over `defaults`; prints `usage` and exits for --help; throws UsageError.
inline LoopFlags parse_loop_flags(int argc, char** argv, LoopFlags defaults, const std::string& usage) {
  LoopFlags f = defaults;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage.c_str(), stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) throw UsageError(flag + " needs a value (see --help)");
    const std::string value = argv[++i];
    if (flag == "--epochs") f.epochs = static_cast<int>(parse_integer(flag, value, 1, 100000));
    else if (flag == "--lr") f.lr = parse_positive(flag, value);
    else if (flag == "--batch-size") f.batch_size = parse_integer(flag, value, 1, 1 << 24);
    else if (flag == "--seed") f.seed = static_cast<std::uint64_t>(parse_integer(flag, value, 0, 1LL << 62));
    else if (flag == "--threads") f.threads = static_cast<int>(parse_integer(flag, value, 1, 1024));
    else if (flag == "--data") f.data_dir = nonempty(flag, value);
    else throw UsageError("unknown flag " + flag + " (see --help)");
  }
  return f;
}

}  // namespace hnn_example
