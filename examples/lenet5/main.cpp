// lenet5: trains d2l's LeNet-5 on Fashion-MNIST and reports as d2l does.
//   lenet5 [--epochs N] [--lr X] [--batch-size N] [--seed N] [--data DIR]
//          [--variant sigmoid|relu] [--threads N] [--device cpu|cuda]
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>

#include <hnn/parallel.hpp>

#include "run.hpp"

namespace {

const char* const usage =
    "usage: lenet5 [options]\n"
    "Trains LeNet-5 (d2l.ai) on Fashion-MNIST and prints loss, accuracy and speed.\n"
    "\n"
    "  --epochs N              epochs to train (default 10)\n"
    "  --lr X                  SGD learning rate (default 0.9 for sigmoid, 0.05 for relu)\n"
    "  --momentum X            SGD momentum, 0 <= X < 1 (default 0 for sigmoid, 0.9 for relu)\n"
    "  --batch-size N          examples per step (default 256)\n"
    "  --seed N                seed for weights and shuffling (default 0)\n"
    "  --data DIR              Fashion-MNIST folder (default: $HNN_DATA, then data/fashion-mnist,\n"
    "                          then /usr/share/datasets/fashion-mnist)\n"
    "  --variant sigmoid|relu  sigmoid + average pooling (d2l), or ReLU + max pooling\n"
    "  --threads N             CPU threads (default: all cores)\n"
    "  --device cpu|cuda       where to train (default cpu)\n"
    "  --help                  this text\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

long long parse_integer(const std::string& flag, const std::string& text, long long min, long long max) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    throw UsageError(flag + " expects an integer, got '" + text + "'");
  if (v < min || v > max)
    throw UsageError(flag + " must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + text);
  return v;
}

double parse_positive(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE) throw UsageError(flag + " expects a number, got '" + text + "'");
  if (!(v > 0) || v == std::numeric_limits<double>::infinity())
    throw UsageError(flag + " must be a positive finite number, got " + text);
  return v;
}

double parse_fraction(const std::string& flag, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE) throw UsageError(flag + " expects a number, got '" + text + "'");
  if (!(v >= 0 && v < 1)) throw UsageError(flag + " must be at least 0 and below 1, got " + text);
  return v;
}

lenet::Options parse(int argc, char** argv) {
  lenet::Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    if (flag.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + flag + "' (see --help)");
    if (i + 1 >= argc) throw UsageError(flag + " needs a value (see --help)");
    const std::string value = argv[++i];
    if (flag == "--epochs") o.epochs = static_cast<int>(parse_integer(flag, value, 1, 100000));
    else if (flag == "--lr") o.lr = parse_positive(flag, value), o.lr_given = true;
    else if (flag == "--momentum") o.momentum = parse_fraction(flag, value), o.momentum_given = true;
    else if (flag == "--batch-size") o.batch_size = parse_integer(flag, value, 1, 1 << 20);
    else if (flag == "--seed") o.seed = static_cast<std::uint64_t>(parse_integer(flag, value, 0, std::numeric_limits<long long>::max()));
    else if (flag == "--data") o.data_dir = value;
    else if (flag == "--threads") o.threads = static_cast<int>(parse_integer(flag, value, 1, 1024));
    else if (flag == "--variant") {
      if (value == "sigmoid") o.variant = lenet::Variant::sigmoid;
      else if (value == "relu") o.variant = lenet::Variant::relu;
      else throw UsageError("--variant must be sigmoid or relu, got '" + value + "'");
    } else if (flag == "--device") {
      if (value != "cpu" && value != "cuda") throw UsageError("--device must be cpu or cuda, got '" + value + "'");
      o.device = value;
    } else {
      throw UsageError("unknown flag " + flag + " (see --help)");
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const lenet::Options options = parse(argc, argv);
    if (options.threads > 0) hnn::set_num_threads(options.threads);
    if (options.device == "cuda") {
#if defined(HNN_WITH_CUDA)
      return lenet::run_training_cuda(options);
#else
      throw UsageError("--device cuda: this lenet5 was built without CUDA (configure with -DHNN_CUDA=ON on a machine with nvcc)");
#endif
    }
    return lenet::run_training<hnn::cpu>(options);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "lenet5: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lenet5: %s\n", e.what());
    return 1;
  }
}
