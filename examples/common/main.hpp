// The main() of an example program, shared: parses the training flags (cli.hpp) and the
// program's own (Program::parse_flag), or `<program> predict`, and runs on the CPU or, when
// built with CUDA, on the GPU; a UsageError is one line on stderr and exit status 2, any
// other error exit status 1. A program's main.cpp is its usage text and
//   int main(int argc, char** argv) { return hnn_example::example_main(argc, argv, usage, MyProgram{}); }
// and its <name>_cuda.cu, for the GPU:
//   #include "../common/run_cuda.hpp"
//   template int hnn_example::run_training_cuda(const hnn_example::Options&, const MyProgram&);
//   (plus the one definition of hnn_example::run_predict_cuda, see predict.hpp)
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <hnn/parallel.hpp>

#include "cli.hpp"
#include "predict.hpp"
#include "run.hpp"

namespace hnn_example {

#if defined(HNN_WITH_CUDA)
// Defined in run_cuda.hpp, instantiated by the program's CUDA file; throws when no GPU is visible.
template <class Program>
int run_training_cuda(const Options& o, const Program& program);
#endif

// The training flags, then the program's: `program.parse_flag(flag, value)` returns whether
// it took the flag (and throws UsageError for a bad value).
template <class Program>
Options parse_training(int argc, char** argv, Program& program, const std::string& usage) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage.c_str(), stdout);
      std::exit(0);
    }
    if (flag.rfind("--", 0) != 0) throw UsageError("unexpected argument '" + flag + "' (see --help)");
    if (i + 1 >= argc) throw UsageError(flag + " needs a value (see --help)");
    const std::string value = argv[++i];
    if (parse_training_flag(flag, value, o)) continue;
    if (!program.parse_flag(flag, value)) throw UsageError("unknown flag " + flag + " (see --help)");
  }
  check_training_flags(o, program.recipe());
  return o;
}

// <program> predict --model PATH [--top K] [--device cpu|cuda] [--threads N] IMAGE...
inline PredictOptions parse_predict(int argc, char** argv, const std::string& usage) {
  PredictOptions o;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage.c_str(), stdout);
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0) {
      o.images.push_back(arg);
      continue;
    }
    if (i + 1 >= argc) throw UsageError(arg + " needs a value (see --help)");
    const std::string value = argv[++i];
    if (arg == "--model") o.model_path = nonempty(arg, value);
    else if (arg == "--top") o.top = static_cast<int>(parse_integer(arg, value, 1, 1000));
    else if (arg == "--threads") o.threads = static_cast<int>(parse_integer(arg, value, 1, 1024));
    else if (arg == "--device") {
      if (value != "cpu" && value != "cuda") throw UsageError("--device must be cpu or cuda, got '" + value + "'");
      o.device = value;
    } else {
      throw UsageError("unknown flag " + arg + " for predict (see --help)");
    }
  }
  if (o.model_path.empty()) throw UsageError("predict needs --model PATH (see --help)");
  if (o.images.empty()) throw UsageError("predict needs at least one image file (see --help)");
  return o;
}

inline UsageError no_cuda(const char* name) {
  return UsageError(std::string("--device cuda: this ") + name +
                    " was built without CUDA (configure with -DHNN_CUDA=ON on a machine with nvcc)");
}

template <class Program>
int predict_main(int argc, char** argv, const std::string& usage) {
  const PredictOptions options = parse_predict(argc, argv, usage);
  if (options.threads > 0) hnn::set_num_threads(options.threads);
  if (options.device == "cuda") {
#if defined(HNN_WITH_CUDA)
    return run_predict_cuda(options);
#else
    throw no_cuda(Program::name);
#endif
  }
  return run_predict<hnn::cpu>(options);
}

template <class Program>
int train_main(int argc, char** argv, const std::string& usage, Program program) {
  const Options options = parse_training(argc, argv, program, usage);
  if (options.threads > 0) hnn::set_num_threads(options.threads);
  if (options.device == "cuda") {
#if defined(HNN_WITH_CUDA)
    return run_training_cuda(options, program);
#else
    throw no_cuda(Program::name);
#endif
  }
  return run_training<hnn::cpu>(options, program);
}

// Runs `body`, turning its errors into "<name>: message" on stderr and exit status 2 (usage)
// or 1 (anything else).
template <class Body>
int guarded_main(const char* name, Body&& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
}

// The whole main() of a program that trains and predicts.
template <class Program>
int example_main(int argc, char** argv, const std::string& usage, Program program) {
  return guarded_main(Program::name, [&] {
    if (argc > 1 && std::string(argv[1]) == "predict") return predict_main<Program>(argc, argv, usage);
    return train_main(argc, argv, usage, program);
  });
}

}  // namespace hnn_example
