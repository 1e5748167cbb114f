// lenet5 and safetensors: weights to and from PyTorch; and ONNX, for deployment runtimes.
//
//   lenet5 export --model m.hnn --out m.safetensors
//       a checkpoint written by --save, as safetensors (F32, PyTorch's state_dict names,
//       the architecture and the checkpoint's metadata in __metadata__)
//   lenet5 export --model m.hnn --out m.onnx [--format onnx]
//       the same model as an ONNX file (hnn/onnx.hpp: opset 13, batch dimension symbolic),
//       for onnxruntime and the rest; the format follows --out's suffix unless --format says
//   lenet5 predict --model m.onnx IMAGE... | --test-set DIR [--logits FILE]
//       an ONNX file (one hnn wrote, or torch.onnx.export wrote for a network of hnn's layers)
//   lenet5 predict --model m.safetensors IMAGE...
//       a file hnn wrote: the architecture comes from its metadata
//   lenet5 predict --model m.safetensors --variant sigmoid|relu IMAGE...
//       a file PyTorch wrote from the same nn.Sequential: the caller names the network
//   lenet5 predict --model M --test-set DIR [--logits FILE]
//       the Fashion-MNIST test split in DIR instead of images: prints the accuracy and
//       writes every logit, float32 little-endian, (N, 10) row-major, to FILE
//
// A bad flag prints one line and returns 2; a bad file throws (main prints it, exit 1).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include <hnn/io/checkpoint.hpp>
#include <hnn/data/mnist.hpp>
#include <hnn/parallel.hpp>
#include <hnn/training/predict.hpp>
#include <hnn/safetensors.hpp>
#if defined(HNN_EXAMPLE_ONNX)
#include <hnn/onnx.hpp>
#endif

#include "../common/predict.hpp"
#include "model.hpp"

namespace lenet {

namespace safetensors_cli {

struct FlagError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline bool is_safetensors_path(const std::string& path) {
  const std::string suffix = ".safetensors";
  return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

inline bool is_onnx_path(const std::string& path) {
  const std::string suffix = ".onnx";
  return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// What --format onnx needs when this lenet5 was built without ONNX.
inline const char* const no_onnx =
    "this lenet5 was built without ONNX support (install libonnx-dev and libprotobuf-dev, then reconfigure)";

inline int flag_error(const FlagError& e) {
  std::fprintf(stderr, "lenet5: %s\n", e.what());
  return 2;
}

inline long long integer_flag(const std::string& flag, const std::string& text, long long min, long long max) {
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) throw FlagError(flag + " expects an integer, got '" + text + "'");
  if (v < min || v > max)
    throw FlagError(flag + " must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + text);
  return v;
}

}  // namespace safetensors_cli

// Whether `lenet5 predict ...` is for a safetensors or ONNX model: --model ends with
// .safetensors or .onnx, or a flag only that path has (--variant, --test-set, --logits) is given.
inline bool is_safetensors_predict(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "predict") return false;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--variant" || arg == "--test-set" || arg == "--logits") return true;
    if (arg == "--model" && i + 1 < argc &&
        (safetensors_cli::is_safetensors_path(argv[i + 1]) || safetensors_cli::is_onnx_path(argv[i + 1])))
      return true;
  }
  return false;
}

// lenet5 export --model M.hnn --out M.safetensors|M.onnx [--format safetensors|onnx]
inline int export_main(int argc, char** argv) {
  using safetensors_cli::FlagError;
  std::string model_path, out_path, format;
  try {
    for (int i = 2; i < argc; ++i) {
      const std::string flag = argv[i];
      if (flag == "--help" || flag == "-h") {
        std::fputs("usage: lenet5 export --model M.hnn --out M.safetensors|M.onnx [--format safetensors|onnx]\n"
                   "Writes a checkpoint's model as safetensors, for PyTorch's load_state_dict, or as ONNX\n"
                   "(opset 13, input (N, 1, 28, 28)), for onnxruntime and other runtimes. The format\n"
                   "follows --out's suffix (.onnx) unless --format names it.\n",
                   stdout);
        return 0;
      }
      if (i + 1 >= argc) throw FlagError(flag + " needs a value (see lenet5 export --help)");
      const std::string value = argv[++i];
      if (value.empty()) throw FlagError(flag + " needs a file name, got an empty one");
      if (flag == "--model") model_path = value;
      else if (flag == "--out") out_path = value;
      else if (flag == "--format") {
        if (value != "safetensors" && value != "onnx")
          throw FlagError("--format must be safetensors or onnx, got '" + value + "'");
        format = value;
      } else throw FlagError("unknown flag " + flag + " for export (see lenet5 export --help)");
    }
    if (model_path.empty()) throw FlagError("export needs --model PATH (a checkpoint written by --save)");
    if (out_path.empty()) throw FlagError("export needs --out PATH (the .safetensors or .onnx file to write)");
    if (format.empty()) format = safetensors_cli::is_onnx_path(out_path) ? "onnx" : "safetensors";
#if !defined(HNN_EXAMPLE_ONNX)
    if (format == "onnx") throw FlagError(std::string("--format onnx: ") + safetensors_cli::no_onnx);
#endif
  } catch (const FlagError& e) {
    return safetensors_cli::flag_error(e);
  }
  hnn::CheckpointExtras extras;
  const auto model = hnn::load_model<float, hnn::cpu>(model_path, &extras);
#if defined(HNN_EXAMPLE_ONNX)
  if (format == "onnx") {
    hnn::export_onnx(model, out_path, hnn::Shape{1, 1, 28, 28});
    std::printf("wrote %s: ONNX opset %lld, input (N, 1, 28, 28), %zu tensors, %lld parameters (%s)\n",
                out_path.c_str(), static_cast<long long>(hnn::onnx_export_opset), model.state_dict().size(),
                static_cast<long long>(model.parameter_count()), model.describe_all().c_str());
    return 0;
  }
#endif
  std::map<std::string, std::string> metadata;
  for (const auto& [key, value] : extras.metadata)
    if (key.rfind("hnn.", 0) != 0) metadata[key] = value;
  hnn::save_safetensors(model, out_path, metadata);
  std::printf("wrote %s: %zu tensors, %lld parameters (%s)\n", out_path.c_str(), model.parameters().size(),
              static_cast<long long>(model.parameter_count()), model.describe_all().c_str());
  return 0;
}

// lenet5 predict for a safetensors model (see the top of this file).
inline int predict_safetensors_main(int argc, char** argv) {
  using safetensors_cli::FlagError;
  PredictOptions o;
  std::string variant, test_dir, logits_path;
  try {
    for (int i = 2; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0) {
        o.images.push_back(arg);
        continue;
      }
      if (i + 1 >= argc) throw FlagError(arg + " needs a value (see --help)");
      const std::string value = argv[++i];
      if (arg == "--model") o.model_path = value;
      else if (arg == "--variant") {
        if (value != "sigmoid" && value != "relu") throw FlagError("--variant must be sigmoid or relu, got '" + value + "'");
        variant = value;
      } else if (arg == "--test-set") test_dir = value;
      else if (arg == "--logits") logits_path = value;
      else if (arg == "--top") o.top = static_cast<int>(safetensors_cli::integer_flag(arg, value, 1, 1000));
      else if (arg == "--threads") o.threads = static_cast<int>(safetensors_cli::integer_flag(arg, value, 1, 1024));
      else if (arg == "--device") {
        if (value != "cpu") throw FlagError("--device " + value + ": a safetensors or ONNX model runs on the CPU only");
      } else {
        throw FlagError("unknown flag " + arg + " for predict (see --help)");
      }
    }
    if (o.model_path.empty()) throw FlagError("predict needs --model PATH (see --help)");
    if (!logits_path.empty() && test_dir.empty()) throw FlagError("--logits needs --test-set DIR (see --help)");
    if (test_dir.empty() && o.images.empty()) throw FlagError("predict needs at least one image file or --test-set DIR (see --help)");
    if (!test_dir.empty() && !o.images.empty()) throw FlagError("predict takes image files or --test-set DIR, not both");
    if (!variant.empty() && safetensors_cli::is_onnx_path(o.model_path))
      throw FlagError("--variant is for .safetensors files PyTorch wrote; an ONNX file holds its network");
#if !defined(HNN_EXAMPLE_ONNX)
    if (safetensors_cli::is_onnx_path(o.model_path)) throw FlagError(std::string("--model *.onnx: ") + safetensors_cli::no_onnx);
#endif
  } catch (const FlagError& e) {
    return safetensors_cli::flag_error(e);
  }
  if (o.threads > 0) hnn::set_num_threads(o.threads);

  // The network: named by --variant (a file PyTorch wrote), else recorded in the file.
  hnn::CheckpointExtras extras;
  hnn::Sequential<float, hnn::cpu> model = [&] {
#if defined(HNN_EXAMPLE_ONNX)
    if (safetensors_cli::is_onnx_path(o.model_path)) return hnn::load_onnx<float, hnn::cpu>(o.model_path);
#endif
    if (!variant.empty()) {
      auto m = lenet5<float, hnn::cpu>(variant == "relu" ? Variant::relu : Variant::sigmoid);
      extras.metadata = hnn::load_safetensors(m, o.model_path);
      return m;
    }
    try {
      return hnn::load_model_safetensors<float, hnn::cpu>(o.model_path, &extras.metadata);
    } catch (const hnn::SafetensorsError& e) {
      if (std::string(e.what()).find("no hnn.architecture") == std::string::npos) throw;
      throw hnn::SafetensorsError(o.model_path, "no hnn.architecture in __metadata__ (not written by hnn): name the "
                                                "network with --variant sigmoid|relu");
    }
  }();

  if (test_dir.empty()) {
    std::fputs(predict_report(model, extras, o).c_str(), stdout);
    return 0;
  }
  const hnn::data::Dataset test = hnn::data::load_fashion_mnist(test_dir, hnn::data::Split::test);
  hnn::data::require_image_shape(test, 28, 28);
  const auto images = hnn::Tensor<float, hnn::cpu>::from_vector(hnn::Shape{test.size, 1, 28, 28}, test.images);
  const hnn::Tensor<float, hnn::cpu> logits = hnn::predict_logits(model, images, 1000);
  const std::vector<std::int32_t> predicted = hnn::argmax(logits);
  std::int64_t right = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) right += predicted[i] == test.labels[i];
  if (!logits_path.empty()) {
    std::string bytes;
    for (std::int64_t i = 0; i < logits.numel(); ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, &logits[i], sizeof bits);
      for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<char>(bits >> (8 * b)));
    }
    std::ofstream out(logits_path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) throw std::runtime_error(logits_path + ": cannot write the logits");
  }
  std::printf("test acc %.4f (%lld of %lld images)\n", static_cast<double>(right) / static_cast<double>(test.size),
              static_cast<long long>(right), static_cast<long long>(test.size));
  return 0;
}

}  // namespace lenet
