// libFuzzer target for the ONNX reader (hnn/onnx/import.hpp): protobuf parsing, the graph's
// validation (names, cycles, constants, shapes, tensor claims), the conversion of every node,
// and, for a model it accepts whose activations are small, a forward pass.
//
// The reader's contract for untrusted input: it returns a Sequential (in evaluation mode), or
// throws OnnxError naming the source, on one line. Anything else -- another exception, a
// crash, a sanitizer report, a leak, a hang, memory beyond -rss_limit_mb / -malloc_limit_mb --
// is a bug libFuzzer reports.
//
// Build (clang only; needs libonnx-dev): cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++
//   -DHNN_FUZZ=ON && cmake --build build-fuzz --target onnx_fuzzer
// Run:  build-fuzz/onnx_fuzzer -max_len=4096 -rss_limit_mb=512 -malloc_limit_mb=256
//         -max_total_time=60 build-fuzz/onnx_corpus tests/fuzz/onnx_corpus
// (the first corpus folder receives new inputs; keep the committed seeds read-only).
// tests/fuzz/make_onnx_corpus.py regenerates the seeds.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "hnn/onnx.hpp"

namespace {

// A forward pass allocates every layer's output; past this many values per activation the
// fuzzer only builds the model (the sizes are the file's to claim, not a bug to find).
constexpr std::int64_t max_forward_elements = 1 << 16;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hnn::OnnxModelInfo info;
  try {
    hnn::Sequential<float, hnn::cpu> model = hnn::load_onnx_bytes<float>(data, size, "fuzz", &info);
    if (model.training()) {
      std::fprintf(stderr, "the ONNX reader returned a model in training mode\n");
      std::abort();
    }
    hnn::Shape shape = info.input_shape;
    bool small = shape.numel() <= max_forward_elements;
    for (std::size_t i = 0; small && i < model.size(); ++i) {
      shape = model.spec(i).output_shape(shape);  // the reader checked that every layer fits
      small = shape.numel() <= max_forward_elements;
    }
    if (small) {
      hnn::Tensor<float, hnn::cpu> x(info.input_shape);
      for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
      const hnn::Tensor<float, hnn::cpu>& y = model.forward(x);
      if (y.shape() != shape) {
        std::fprintf(stderr, "forward gave %s, the traced shape is %s\n", y.shape().str().c_str(), shape.str().c_str());
        std::abort();
      }
    }
  } catch (const hnn::OnnxError& e) {
    const std::string message = e.what();
    if (message.rfind("fuzz: ", 0) != 0 || message.find('\n') != std::string::npos) {
      std::fprintf(stderr, "OnnxError without the source name, or on more than one line: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
