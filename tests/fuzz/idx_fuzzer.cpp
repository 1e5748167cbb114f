// libFuzzer target for the IDX / gzip reader: hnn::data::parse_idx on arbitrary bytes.
//
// The reader's contract for untrusted input: it returns a consistent IdxArray or throws
// IdxError. Anything else -- another exception (std::bad_alloc from a size taken on
// trust, std::length_error...), a crash, a sanitizer report, a leak, a hang, memory
// beyond -rss_limit_mb / -malloc_limit_mb -- is a bug that libFuzzer reports.
//
// Build (clang only): cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DHNN_FUZZ=ON
//   && cmake --build build-fuzz --target idx_fuzzer
// Run:  build-fuzz/idx_fuzzer -max_len=4096 -rss_limit_mb=512 -malloc_limit_mb=256
//         -max_total_time=60 build-fuzz/idx_corpus tests/fuzz/corpus
// (the first corpus folder receives new inputs; keep the committed seeds read-only).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "hnn/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // An empty input arrives with data possibly null; parse_idx must handle both.
  try {
    const hnn::data::IdxArray array = hnn::data::parse_idx(data, size, "fuzz");
    // Accepted input must be self-consistent: the dims describe exactly the values.
    std::uint64_t count = 1;
    for (const std::uint32_t d : array.dims) count *= d;
    if (array.dims.empty() || array.dims.size() > 4 || count != array.values.size()) {
      std::fprintf(stderr, "parse_idx accepted an inconsistent array: %zu dims, %llu values\n",
                   array.dims.size(), static_cast<unsigned long long>(array.values.size()));
      std::abort();
    }
  } catch (const hnn::data::IdxError& e) {
    // The documented way to refuse input. Its message must name the source.
    if (std::string(e.what()).rfind("fuzz: ", 0) != 0) {
      std::fprintf(stderr, "IdxError without the source name: %s\n", e.what());
      std::abort();
    }
  }
  // Any other exception escapes: libFuzzer reports it as a crash (uncaught exception).
  return 0;
}
