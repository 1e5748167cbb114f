// Helpers the vectorised CPU kernels share: Eigen's SIMD packet of the widest instruction set
// the compiler targets (AVX-512, AVX, SSE, NEON, or a plain scalar when there is none), and
// the slice of a range that the calling OpenMP thread owns.
#pragma once

#include <Eigen/Core>
#include <algorithm>
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

// 1 / d for packets of positive, finite d: on x86 a reciprocal estimate refined by one
// Newton step (a few ulps for float; a full division is several times slower on AVX-512),
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

// exp(x) of a packet with |x| <= 80. On AVX-512 (float): e^r * 2^n with n = round(x log2 e),
// r = x - n ln 2 (ln 2 in two parts, so r is exact to a few ulps), e^r by its degree-6 Taylor
// polynomial (|r| <= 0.347: error < 1.2e-7) and the scaling by 2^n in one vscalefps: about
// 12 instructions instead of Eigen's general pexp.
template <class P>
inline P exp_bounded(const P& x) {
  using namespace Eigen::internal;
#if defined(EIGEN_VECTORIZE_AVX512)
  using T = typename unpacket_traits<P>::type;
  if constexpr (std::is_same_v<T, float> && unpacket_traits<P>::size == 16) {  // Packet16f
    // The masked forms with an explicit source: GCC 12 warns (falsely) about the unmasked
    // ones' undefined source operand under -Wall.
    const P t = pmul(x, pset1<P>(1.44269504088896341f));
    const P n = _mm512_mask_roundscale_ps(t, 0xFFFF, t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    P r = pmadd(n, pset1<P>(-0.693359375f), x);  // ln 2 = 0.693359375 - 2.12194440e-4
    r = pmadd(n, pset1<P>(2.12194440e-4f), r);
    P p = pset1<P>(1.0f / 720);
    p = pmadd(p, r, pset1<P>(1.0f / 120));
    p = pmadd(p, r, pset1<P>(1.0f / 24));
    p = pmadd(p, r, pset1<P>(1.0f / 6));
    p = pmadd(p, r, pset1<P>(0.5f));
    p = pmadd(p, r, pset1<P>(1.0f));
    p = pmadd(p, r, pset1<P>(1.0f));
    return _mm512_mask_scalef_ps(p, 0xFFFF, p, n);
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

// Per-thread partial sums kept as packets of lanes (a kernel's weight and bias gradients):
// partial[i] = the sum of the lanes of partial[i * S .. i * S + S) for i < count. In place,
// in order: entry i is written after the lanes of entries <= i have been read.
template <class T>
void sum_lanes_in_place(T* partial, std::int64_t count) {
  using namespace Eigen::internal;
  for (std::int64_t i = 0; i < count; ++i) partial[i] = predux(ploadu<Packet<T>>(partial + i * packet_size<T>));
}

// out[i] = the sum over threads t of workspace[t * per_thread + at + i], in thread order (the
// same result on every run).
template <class T>
void sum_thread_partials(const T* workspace, std::int64_t per_thread, std::int64_t at, int threads,
                         std::int64_t count, T* out) {
  for (std::int64_t i = 0; i < count; ++i) {
    T sum = 0;
    for (int t = 0; t < threads; ++t) sum += workspace[t * per_thread + at + i];
    out[i] = sum;
  }
}

}  // namespace detail
}  // namespace hnn
