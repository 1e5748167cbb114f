// The kernels that serve small batches (a latency-bound inference call) against plain loops:
// linear_forward's dot products of X's rows with W's rows (batches up to
// detail::linear_dots_up_to) and, beyond it, the transposed-weight GEMM, on odd sizes that
// leave partial packets at each end, in float and double; and parallel_region, which runs a
// kernel's body without an OpenMP region on one thread.
//
// Also compiled for a narrower instruction set (hnn_kernel_tests_<isa>, tests/CMakeLists.txt),
// where the packets and register blocks are narrower.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "hnn/init.hpp"
#include "hnn/kernels/cpu/linear.hpp"
#include "hnn/parallel.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;

namespace {

using hnn::testing::ThreadCount;


// Y = X W^T + b in long double, the straightforward way, and beside it the sum of the
// magnitudes of each output's terms (what its rounding error in T scales with).
template <class T>
std::vector<T> reference_linear(std::int64_t batch, std::int64_t in, std::int64_t out, const std::vector<T>& x,
                                const std::vector<T>& w, const std::vector<T>* b, std::vector<double>& magnitude) {
  std::vector<T> y(static_cast<std::size_t>(batch * out));
  magnitude.assign(y.size(), 0.0);
  for (std::int64_t n = 0; n < batch; ++n)
    for (std::int64_t o = 0; o < out; ++o) {
      long double sum = b ? static_cast<long double>((*b)[o]) : 0.0L;
      double size = b ? std::abs(static_cast<double>((*b)[o])) : 0.0;
      for (std::int64_t i = 0; i < in; ++i) {
        const long double term = static_cast<long double>(x[n * in + i]) * w[o * in + i];
        sum += term;
        size += std::abs(static_cast<double>(term));
      }
      y[n * out + o] = static_cast<T>(sum);
      magnitude[n * out + o] = size;
    }
  return y;
}

template <class T>
std::vector<T> uniform_values(std::int64_t n, Rng& rng) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (T& e : v) e = static_cast<T>(rng.uniform(-1, 1));
  return v;
}

template <class T>
void check_linear(std::int64_t batch, std::int64_t in, std::int64_t out, bool bias) {
  SCOPED_TRACE(std::string(std::is_same_v<T, float> ? "float" : "double") + ": batch " + std::to_string(batch) +
               ", " + std::to_string(in) + " -> " + std::to_string(out) + (bias ? "" : ", no bias"));
  Rng rng(static_cast<std::uint64_t>(batch * 1000003 + in * 1009 + out));
  const std::vector<T> x = uniform_values<T>(batch * in, rng), w = uniform_values<T>(out * in, rng),
                       b = uniform_values<T>(out, rng);
  std::vector<double> magnitude;
  const std::vector<T> expected = reference_linear(batch, in, out, x, w, bias ? &b : nullptr, magnitude);
  // One canary after the output: the kernels write exactly batch x out elements.
  const T canary = T(12345);
  std::vector<T> y(static_cast<std::size_t>(batch * out + 1), std::numeric_limits<T>::quiet_NaN());
  y.back() = canary;
  linear_forward(cpu{}, batch, in, out, x.data(), w.data(), bias ? b.data() : nullptr, y.data());
  // Rounding grows with the terms' magnitudes and about sqrt(in); a term dropped or taken
  // twice is off by its own size (~0.25 on average), far beyond this.
  const double eps = std::numeric_limits<T>::epsilon();
  for (std::int64_t e = 0; e < batch * out; ++e)
    ASSERT_NEAR(y[e], expected[e], 4 * eps * std::sqrt(static_cast<double>(in)) * magnitude[e] + 1e-30)
        << "element " << e << " (sample " << e / out << ", output " << e % out << ")";
  EXPECT_EQ(y.back(), canary) << "wrote past the output";
}

template <class T>
void check_linear_sizes() {
  // Batches either side of the dots/GEMM switch, and 1 and 3 (partial sample blocks); inputs
  // shorter than a packet, a packet and one, LeNet-5's; outputs around the blocks of 4.
  const std::int64_t batches[] = {1, 2, 3, 5, detail::linear_dots_up_to, detail::linear_dots_up_to + 1};
  const std::int64_t ins[] = {1, 7, 17, 84, 400};
  const std::int64_t outs[] = {1, 3, 10, 13};
  for (const std::int64_t batch : batches)
    for (const std::int64_t in : ins)
      for (const std::int64_t out : outs) check_linear<T>(batch, in, out, (batch + in + out) % 2 == 0);
}

TEST(SmallBatchLinear, ForwardMatchesPlainLoopsFloat) { check_linear_sizes<float>(); }
TEST(SmallBatchLinear, ForwardMatchesPlainLoopsDouble) { check_linear_sizes<double>(); }

// A layer large enough for the dot products to split its outputs between two threads
// (detail::linear_parallel_work), at a batch on each side of the switch.
TEST(SmallBatchLinear, LargeLayerSplitsOutputsBetweenThreads) {
  ThreadCount two(2);
  for (const std::int64_t batch : {std::int64_t{3}, detail::linear_dots_up_to, detail::linear_dots_up_to + 1}) {
    ASSERT_GE(batch * 1031 * 1037, detail::linear_parallel_work);
    check_linear<float>(batch, 1031, 1037, true);
    check_linear<double>(batch, 1031, 1037, false);
  }
}

// On one thread the body runs once, on the caller, and an orphaned `omp for` inside it still
// covers the whole range; on two (with OpenMP) it runs once per thread of a team of two.
TEST(ParallelRegion, OneThreadRunsTheBodyOnceOnTheCaller) {
  ThreadCount one(1);
  int runs = 0, team = 0;
  std::vector<int> seen(37, 0);
  parallel_region([&] {
    ++runs;
    team = team_size();
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (int i = 0; i < 37; ++i) ++seen[static_cast<std::size_t>(i)];
  });
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(team, 1);
  for (int i = 0; i < 37; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], 1) << "iteration " << i;
}

TEST(ParallelRegion, TwoThreadsRunTheBodyOnEach) {
#if defined(_OPENMP)
  ThreadCount two(2);
  std::vector<int> by_thread(2, 0);
  std::vector<int> seen(37, 0);
  parallel_region([&] {
    const int t = thread_index();
    if (team_size() == 2) by_thread[static_cast<std::size_t>(t)] = 1;
#pragma omp for schedule(static)
    for (int i = 0; i < 37; ++i) ++seen[static_cast<std::size_t>(i)];
  });
  EXPECT_EQ(by_thread[0] + by_thread[1], 2) << "the body did not run on a team of two";
  for (int i = 0; i < 37; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], 1) << "iteration " << i;
#else
  GTEST_SKIP() << "built without OpenMP";
#endif
}

}  // namespace
