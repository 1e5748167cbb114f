// Helpers the vectorised CPU kernels share: Eigen's SIMD packet of the widest instruction set
// the compiler targets (AVX-512, AVX, SSE, NEON, or a plain scalar when there is none), and
// the slice of a range that the calling OpenMP thread owns.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <utility>

#include "hnn/parallel.hpp"

namespace hnn {
namespace detail {

template <class T>
using Packet = typename Eigen::internal::packet_traits<T>::type;
template <class T>
constexpr std::int64_t packet_size = Eigen::internal::unpacket_traits<Packet<T>>::size;

inline std::int64_t round_up(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

// [begin, end) of [0, n) for the calling thread of a parallel region of `threads` threads;
// the boundaries fall on multiples of `grain` so that no two threads share a cache line.
inline std::pair<std::int64_t, std::int64_t> thread_range(std::int64_t n, int thread, int threads,
                                                          std::int64_t grain = 16) {
  const std::int64_t chunk = round_up((n + threads - 1) / threads, grain);
  const std::int64_t begin = std::min(n, chunk * thread);
  return {begin, std::min(n, begin + chunk)};
}

// The number of threads in the current parallel region (1 outside one).
inline int team_size() {
#if defined(_OPENMP)
  return omp_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace detail
}  // namespace hnn
