// Helpers the vectorised CPU kernels share: Eigen's SIMD packet of the widest instruction set
// the compiler targets (AVX-512, AVX, SSE, NEON, or a plain scalar when there is none), and
// the slice of a range that the calling OpenMP thread owns.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>
#if defined(EIGEN_VECTORIZE_SSE)
#include <immintrin.h>
#endif

#include "hnn/parallel.hpp"

namespace hnn {
namespace detail {

template <class T>
using Packet = typename Eigen::internal::packet_traits<T>::type;
template <class T>
constexpr std::int64_t packet_size = Eigen::internal::unpacket_traits<Packet<T>>::size;

inline std::int64_t round_up(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

// The SIMD registers the target has: register-blocked kernels size their blocks of
// accumulators from it (accumulators + loaded packets must fit).
constexpr int registers = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS;

// Calls f(std::integral_constant<int, n>{}) for a run-time n in [1, Max], so that a kernel's
// block size is a compile-time constant (its accumulators stay in registers).
template <int Max, class F>
void with_constant(int n, F&& f) {
  if constexpr (Max >= 1) {
    if (n == Max) {
      f(std::integral_constant<int, Max>{});
      return;
    }
    with_constant<Max - 1>(n, std::forward<F>(f));
  }
}

// [begin, end) of [0, n) for the calling thread of a parallel region of `threads` threads;
// the boundaries fall on multiples of `grain` so that no two threads share a cache line.
inline std::pair<std::int64_t, std::int64_t> thread_range(std::int64_t n, int thread, int threads,
                                                          std::int64_t grain = 16) {
  const std::int64_t chunk = round_up((n + threads - 1) / threads, grain);
  const std::int64_t begin = std::min(n, chunk * thread);
  return {begin, std::min(n, begin + chunk)};
}

// 1 / d for packets of positive, finite d: on x86 a reciprocal estimate refined by Newton
// steps (a few ulps for float; cheaper than a full division, tests/bench/NOTES.md),
// elsewhere a division.
template <class P>
inline P reciprocal(const P& d) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<P>::type;
  const P one = pset1<P>(T(1));
#if defined(EIGEN_VECTORIZE_AVX512)
  if constexpr (std::is_same_v<T, float> && unpacket_traits<P>::size == 16) {  // Packet16f
    const P r = _mm512_mask_rcp14_ps(d, 0xFFFF, d);  // 14 bits; one Newton step gives ~full precision
    return pmadd(r, psub(one, pmul(d, r)), r);
  }
#endif
#if defined(EIGEN_VECTORIZE_AVX)
  if constexpr (std::is_same_v<T, float> && unpacket_traits<P>::size == 8) {  // Packet8f
    P r = _mm256_rcp_ps(d);  // 12 bits; two Newton steps
    r = pmadd(r, psub(one, pmul(d, r)), r);
    return pmadd(r, psub(one, pmul(d, r)), r);
  }
#endif
#if defined(EIGEN_VECTORIZE_SSE)
  if constexpr (std::is_same_v<T, float> && unpacket_traits<P>::size == 4) {  // Packet4f
    P r = _mm_rcp_ps(d);
    r = pmadd(r, psub(one, pmul(d, r)), r);
    return pmadd(r, psub(one, pmul(d, r)), r);
  }
#endif
  return pdiv(one, d);
}

// e^r for |r| <= 0.347 (r = x - n ln 2 below) by its degree-6 Taylor polynomial: error < 1.2e-7.
template <class P>
inline P exp_reduced(const P& r) {
  using namespace Eigen::internal;
  P p = pset1<P>(1.0f / 720);
  p = pmadd(p, r, pset1<P>(1.0f / 120));
  p = pmadd(p, r, pset1<P>(1.0f / 24));
  p = pmadd(p, r, pset1<P>(1.0f / 6));
  p = pmadd(p, r, pset1<P>(0.5f));
  p = pmadd(p, r, pset1<P>(1.0f));
  return pmadd(p, r, pset1<P>(1.0f));
}

// exp(x) of a float packet with |x| <= 80, on AVX-512 and on AVX2: e^r * 2^n with
// n = round(x log2 e), r = x - n ln 2 (ln 2 in two parts, so r is exact to a few ulps), e^r by
// exp_reduced and the scaling by 2^n exact (|n| <= 116, so 2^n and the result are normal
// floats). About 12 instructions instead of Eigen's general pexp, whose range handling (an
// ldexp split in four) cost LeNet-5's sigmoid conv1 a fifth of its time on AVX2; both
// widths give the same values.
template <class P>
inline P exp_bounded(const P& x) {
  using namespace Eigen::internal;
  [[maybe_unused]] constexpr bool float_packet = std::is_same_v<typename unpacket_traits<P>::type, float>;
#if defined(EIGEN_VECTORIZE_AVX512)
  if constexpr (float_packet && unpacket_traits<P>::size == 16) {  // Packet16f
    // The masked forms with an explicit source: GCC 12 warns (falsely) about the unmasked
    // ones' undefined source operand under -Wall.
    const P t = pmul(x, pset1<P>(1.44269504088896341f));
    const P n = _mm512_mask_roundscale_ps(t, 0xFFFF, t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    P r = pmadd(n, pset1<P>(-0.693359375f), x);  // ln 2 = 0.693359375 - 2.12194440e-4
    r = pmadd(n, pset1<P>(2.12194440e-4f), r);
    const P p = exp_reduced(r);
    return _mm512_mask_scalef_ps(p, 0xFFFF, p, n);
  }
#endif
#if defined(EIGEN_VECTORIZE_AVX2)
  if constexpr (float_packet && unpacket_traits<P>::size == 8) {  // Packet8f
    const P n = _mm256_round_ps(pmul(x, pset1<P>(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    P r = pmadd(n, pset1<P>(-0.693359375f), x);
    r = pmadd(n, pset1<P>(2.12194440e-4f), r);
    // 2^n: the biased exponent n + 127 in the float's exponent bits.
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return pmul(exp_reduced(r), _mm256_castsi256_ps(e));
  }
#endif
  return pexp(x);
}

// The logistic function 1 / (1 + exp(-x)) of a packet. Float inputs are clamped to
// [-80, 80], where the result is within 2e-35 of 0 or 1: no infinities, no denormals.
template <class P>
inline P logistic(const P& x) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<P>::type;
  const P one = pset1<P>(T(1));
  if constexpr (std::is_same_v<T, float>) {
    const P z = pmax(pmin(x, pset1<P>(T(80))), pset1<P>(T(-80)));
    return reciprocal(padd(one, exp_bounded(pnegate(z))));
  }
  const P d = padd(one, pexp(pnegate(x)));
  return pdiv(one, d);
}

// out[i] = logistic(in[i]) for i < n, every element through the packet function (a scalar
// tail goes through a padded packet), so that results do not depend on where an element sits.
template <class T>
void logistic(const T* in, T* out, std::int64_t n) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  std::int64_t i = 0;
  for (; i + S <= n; i += S) pstoreu(out + i, logistic(ploadu<P>(in + i)));
  if (i < n) {
    const std::int64_t rest = std::min(n - i, S);
    T tmp[S] = {};
    for (std::int64_t j = 0; j < rest; ++j) tmp[j] = in[i + j];
    pstoreu(tmp, logistic(ploadu<P>(tmp)));
    for (std::int64_t j = 0; j < rest; ++j) out[i + j] = tmp[j];
  }
}

#if defined(EIGEN_VECTORIZE_AVX512)
// The permute indices of one round of transpose_block: rows i and i + B (bit B of i clear)
// exchange sub-blocks of B lanes. Row i takes row i + B's lane c - B where bit B of c is set
// (Low), row i + B takes row i's lane c + B where it is clear (High); an index >= N picks
// from the second source.
template <class Index, int N, int B, bool High>
struct SwapIndices {
  static constexpr std::array<Index, N> values = [] {
    std::array<Index, N> v{};
    for (int c = 0; c < N; ++c)
      v[c] = static_cast<Index>(High ? ((c & B) ? N + c : c + B) : ((c & B) ? N + c - B : c));
    return v;
  }();
};

template <int B, class P, int N>
inline void swap_sub_blocks(Eigen::internal::PacketBlock<P, N>& block) {
  if constexpr (B >= 1) {
    constexpr bool floats = N == 16;  // Packet16f, else Packet8d
    using Index = std::conditional_t<floats, std::int32_t, std::int64_t>;
    const __m512i low = _mm512_loadu_si512(SwapIndices<Index, N, B, false>::values.data());
    const __m512i high = _mm512_loadu_si512(SwapIndices<Index, N, B, true>::values.data());
    for (int i = 0; i < N; ++i) {
      if (i & B) continue;
      P& x = block.packet[i];
      P& y = block.packet[i + B];
      if constexpr (floats) {
        const P new_x = _mm512_permutex2var_ps(x, low, y);
        y = _mm512_permutex2var_ps(x, high, y);
        x = new_x;
      } else {
        const P new_x = _mm512_permutex2var_pd(x, low, y);
        y = _mm512_permutex2var_pd(x, high, y);
        x = new_x;
      }
    }
    swap_sub_blocks<B / 2>(block);
  }
}
#endif

// dst[i] = src[i] for i < n (the two not overlapping), for the short rows (tens of elements)
// the conv kernels copy: whole packets, the last one overlapping the one before. A plain
// loop or std::copy becomes a memmove call, which costs more than such a copy.
template <class T>
inline void copy_row(const T* src, std::int64_t n, T* dst) {
  using namespace Eigen::internal;
  constexpr std::int64_t S = packet_size<T>;
  if (n < S) {
    for (std::int64_t i = 0; i < n; ++i) dst[i] = src[i];
    return;
  }
  for (std::int64_t i = 0; i < n; i += S) {
    const std::int64_t at = std::min(i, n - S);
    pstoreu(dst + at, ploadu<Packet<T>>(src + at));
  }
}

// Transposes a block of N packets of N lanes in registers: Eigen's ptranspose, except on
// AVX-512, whose version there makes GCC 12 report its unpacks' undefined source operand
// (-Wuninitialized, which the build keeps as an error). There the off-diagonal sub-blocks of
// N/2, N/4, ..., 1 lanes are swapped with two-source permutes (N log2 N of them, as many
// shuffles as the unpack version).
template <class P, int N>
inline void transpose_block(Eigen::internal::PacketBlock<P, N>& block) {
#if defined(EIGEN_VECTORIZE_AVX512)
  using Scalar = typename Eigen::internal::unpacket_traits<P>::type;
  constexpr int lanes = Eigen::internal::unpacket_traits<P>::size;
  constexpr bool floats = std::is_same_v<Scalar, float> && lanes == 16 && N == 16;   // Packet16f
  constexpr bool doubles = std::is_same_v<Scalar, double> && lanes == 8 && N == 8;  // Packet8d
  if constexpr (floats || doubles) {
    swap_sub_blocks<N / 2>(block);
    return;
  }
#endif
  Eigen::internal::ptranspose(block);
}

// Moves P channels x `height` x `width` pixels between channel-major planes and pixel-major
// packets, a P x P block at a time transposed through registers (a scalar copy of the same
// reads one cache line per element). For the block of P pixels starting at pixel `first`
// (row-major; the last block overlaps the one before when P does not divide the plane, so the
// plane needs at least P pixels), packet l = from(l, first, h[l], w[l]) is loaded for l < P,
// the block transposed, and to(first, i, h[i], w[i], packet i) called for i < P, with h[k],
// w[k] the row and column of the block's pixel k.
template <class T, class From, class To>
void transpose_pixels(std::int64_t height, std::int64_t width, From&& from, To&& to) {
  using namespace Eigen::internal;
  constexpr int S = static_cast<int>(packet_size<T>);
  const std::int64_t pixels = height * width;
#if defined(__GNUC__)  // a SIMD type as a class template argument drops its alignment attribute: harmless here
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
  PacketBlock<Packet<T>, S> block;
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
  std::int64_t row[S], column[S];
  for (std::int64_t first = 0; first < pixels; first += S) {
    first = std::min(first, pixels - S);
    row[0] = first / width;
    column[0] = first % width;
    for (int l = 1; l < S; ++l) {
      const bool wrap = column[l - 1] + 1 == width;
      row[l] = row[l - 1] + (wrap ? 1 : 0);
      column[l] = wrap ? 0 : column[l - 1] + 1;
    }
    for (int l = 0; l < S; ++l) block.packet[l] = from(l, first, row[l], column[l]);
    transpose_block(block);
    for (int i = 0; i < S; ++i) to(first, i, row[i], column[i], block.packet[i]);
  }
}

// The sum of a packet's lanes: Eigen's predux, except on AVX-512, where its halving (and the
// cast to the lower half) take an undefined source operand that GCC 12 reports as used
// uninitialized (-Wuninitialized, an error here) once inlined into a kernel: here both halves
// come from masked extracts with an explicit zero source.
template <class P>
inline typename Eigen::internal::unpacket_traits<P>::type sum_lanes(const P& x) {
  using namespace Eigen::internal;
#if defined(EIGEN_VECTORIZE_AVX512)
  using T = typename unpacket_traits<P>::type;
  constexpr int lanes = unpacket_traits<P>::size;
  if constexpr ((std::is_same_v<T, float> && lanes == 16) || (std::is_same_v<T, double> && lanes == 8)) {
    __m512d bits;
    if constexpr (lanes == 16) bits = _mm512_castps_pd(x);  // Packet16f: the halves as 4 doubles' bits
    else bits = x;
    const __m256d low = _mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), 0xFF, bits, 0);
    const __m256d high = _mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), 0xFF, bits, 1);
    if constexpr (lanes == 16) return predux(Packet8f(_mm256_add_ps(_mm256_castpd_ps(low), _mm256_castpd_ps(high))));
    else return predux(Packet4d(_mm256_add_pd(low, high)));
  }
#endif
  return predux(x);
}

// Per-thread partial sums kept as packets of lanes (a kernel's weight and bias gradients):
// partial[i] = the sum of the lanes of partial[i * S .. i * S + S) for i < count. In place,
// in order: entry i is written after the lanes of entries <= i have been read.
template <class T>
void sum_lanes_in_place(T* partial, std::int64_t count) {
  using namespace Eigen::internal;
  for (std::int64_t i = 0; i < count; ++i) partial[i] = predux(ploadu<Packet<T>>(partial + i * packet_size<T>));
}

// The sum over threads t of workspace[t * per_thread + at]: a kernel's per-thread partial sums,
// each thread's in its own slice of the workspace, added in thread order (the same result on
// every run).
template <class T>
T sum_over_threads(const T* workspace, std::int64_t per_thread, int threads, std::int64_t at) {
  T sum = 0;
  for (int t = 0; t < threads; ++t) sum += workspace[t * per_thread + at];
  return sum;
}

// out[i] = sum_over_threads(workspace, per_thread, threads, at + i) for i < count.
template <class T>
void sum_thread_partials(const T* workspace, std::int64_t per_thread, std::int64_t at, int threads,
                         std::int64_t count, T* out) {
  for (std::int64_t i = 0; i < count; ++i) out[i] = sum_over_threads(workspace, per_thread, threads, at + i);
}

// A convolution's weight and bias gradients from the threads' partial sums: weight_count of
// them at `at`, the out_channels of the bias right after. grad_bias may be null (no bias).
template <class T>
void sum_parameter_partials(const T* workspace, std::int64_t per_thread, std::int64_t at, int threads,
                            std::int64_t weight_count, std::int64_t out_channels, T* grad_weight, T* grad_bias) {
  sum_thread_partials(workspace, per_thread, at, threads, weight_count, grad_weight);
  if (grad_bias != nullptr)
    sum_thread_partials(workspace, per_thread, at + weight_count, threads, out_channels, grad_bias);
}

}  // namespace detail
}  // namespace hnn
