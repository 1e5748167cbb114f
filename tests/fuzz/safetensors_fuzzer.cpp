// libFuzzer target for the safetensors reader (hnn/safetensors.hpp): the whole validation of
// a file held in memory, the conversion of every tensor it accepts, and the decoding of an
// "hnn.architecture" it carries.
//
// The reader's contract for untrusted input: it returns a layout whose tensors tile the data
// section exactly, or throws SafetensorsError naming the source. Anything else -- another
// exception (nlohmann's, std::bad_alloc, std::length_error...), a crash, a sanitizer report,
// a leak, a hang, memory beyond -rss_limit_mb / -malloc_limit_mb -- is a bug libFuzzer reports.
//
// Build (clang only): cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DHNN_FUZZ=ON
//   && cmake --build build-fuzz --target safetensors_fuzzer
// Run:  build-fuzz/safetensors_fuzzer -max_len=4096 -rss_limit_mb=512 -malloc_limit_mb=256
//         -max_total_time=60 build-fuzz/safetensors_corpus tests/fuzz/safetensors_corpus
// (the first corpus folder receives new inputs; keep the committed seeds read-only).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "hnn/safetensors.hpp"

namespace {

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "safetensors reader accepted an inconsistent file: %s\n", what);
    std::abort();
  }
}

void require_named(const hnn::SafetensorsError& e) {
  if (std::string(e.what()).rfind("fuzz: ", 0) != 0 || std::string(e.what()).find('\n') != std::string::npos) {
    std::fprintf(stderr, "SafetensorsError without the source name, or on more than one line: %s\n", e.what());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace st = hnn::detail::safetensors;
  // An empty input arrives with data possibly null; parse() reads nothing before checking the size.
  st::Layout layout;
  try {
    layout = st::parse(data, size, "fuzz");
  } catch (const hnn::SafetensorsError& e) {
    require_named(e);
    return 0;
  }
  // Accepted: the tensors lie in the data section, in offset order, each exactly its bytes.
  const std::uint64_t header = size >= 8 ? static_cast<std::uint64_t>(layout.data - data) : 0;
  require(header >= 8 && header <= size, "data section outside the input");
  std::uint64_t previous_end = 0;
  for (const st::Entry& e : layout.entries) {
    require(e.begin >= previous_end && e.end >= e.begin && e.end <= size - header, "a tensor outside the data");
    previous_end = e.end;
    const hnn::Tensor<float, hnn::cpu> t = st::convert<float>(layout, e);
    require(t.shape() == e.shape, "converted tensor of another shape");
    double sum = 0;  // touch every value
    for (std::int64_t i = 0; i < t.numel(); ++i) sum += t[i];
    (void)sum;
  }
  const auto it = layout.metadata.find("hnn.architecture");
  if (it != layout.metadata.end()) {
    try {
      const auto specs = st::specs_from_architecture<hnn::cpu>("fuzz", it->second);
      require(!specs.empty(), "an empty architecture");
      (void)st::parameter_elements(specs);
    } catch (const hnn::SafetensorsError& e) {
      require_named(e);
    }
  }
  return 0;
}
