// The fused Conv2d + activation + 2x2 pooling kernels (conv2d_act_pool_forward/backward,
// the batch in the SIMD lanes) against the three unfused CPU kernels run one after the
// other, at the batch sizes around the packet size S where the lanes kernel's edges are
// (S - 1, S, S + 1, 2S + 3, 256), in float and double, both activations, both poolings,
// LeNet-5's conv1 and conv2 and an odd geometry (partial register blocks), on one and on two
// OpenMP threads.
//
// This file is also compiled a second time for a narrower instruction set
// (hnn_kernel_tests_<isa>, tests/CMakeLists.txt); PacketSize.IsTheWidthThisBinaryWasBuiltFor
// checks that each binary really runs the width it is named after.
//
// Float runs on dyadic inputs, weights and biases (multiples of 1/8, 1/64): every partial sum
// of the convolution is exact in float, so both paths compute bit-identical pre-activations
// and take the same max-pooling winners and ReLU cut-offs, also on exact ties (which such
// data produce, and which must go to the first maximum in both). Random continuous values
// would make a near-tie decided differently by the two summation orders a spurious failure.
// Double runs on continuous random values. The pooled gradient is continuous in both.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "hnn/init.hpp"
#include "hnn/kernels/activation.hpp"
#include "hnn/kernels/conv2d.hpp"
#include "hnn/kernels/conv2d_act_pool.hpp"
#include "hnn/kernels/pool2d.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/parallel.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;

namespace {

// The packet size (in floats) this binary is expected to run with: set by tests/CMakeLists.txt
// from the instruction set it compiles the binary for.
TEST(PacketSize, IsTheWidthThisBinaryWasBuiltFor) {
#if defined(HNN_EXPECTED_FLOAT_PACKET)
  EXPECT_EQ(detail::packet_size<float>, HNN_EXPECTED_FLOAT_PACKET)
      << "built for " << HNN_EXPECTED_ISA << ", but Eigen's float packet has " << detail::packet_size<float>
      << " lanes: the compiler flags did not give the instruction set this binary is named after";
  EXPECT_EQ(detail::packet_size<double>, HNN_EXPECTED_FLOAT_PACKET / 2);
#else
  GTEST_SKIP() << "no expected packet size for this compiler/architecture (tests/CMakeLists.txt)";
#endif
}

// The packet sigmoid every float path uses (detail::logistic, with exp_bounded's own exp on
// AVX-512 and AVX2) against the double formula over [-100, 100] in steps of 1/128, at the clamp
// (+-80) and past it: within 4e-7 relative and 2e-7 absolute (3 ulps of a value near 1), never
// above 1, never below 0.
TEST(PacketSigmoid, FloatMatchesTheDoubleFormulaOverTheWholeRange) {
  std::vector<float> x;
  for (int i = -12800; i <= 12800; ++i) x.push_back(static_cast<float>(i) / 128.0f);
  for (float v : {79.99f, 80.0f, 80.01f, -79.99f, -80.0f, -80.01f, 1e30f, -1e30f, 1e-30f, -1e-30f,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})
    x.push_back(v);
  std::vector<float> y(x.size());
  detail::logistic(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
  double worst_relative = 0, worst_absolute = 0;
  float worst_at = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = 1 / (1 + std::exp(-static_cast<double>(std::max(-80.0f, std::min(80.0f, x[i])))));
    const double error = std::abs(static_cast<double>(y[i]) - want);
    ASSERT_TRUE(y[i] >= 0.0f && y[i] <= 1.0f) << "sigmoid(" << x[i] << ") = " << y[i];
    worst_absolute = std::max(worst_absolute, error);
    if (error / want > worst_relative) {
      worst_relative = error / want;
      worst_at = x[i];
    }
  }
  EXPECT_LT(worst_relative, 4e-7) << "at x = " << worst_at;
  EXPECT_LT(worst_absolute, 2e-7);
  std::printf("packet sigmoid, %lld lanes: worst relative error %.3g at x = %g, worst absolute %.3g\n",
              static_cast<long long>(detail::packet_size<float>), worst_relative, worst_at, worst_absolute);
}

using hnn::testing::ThreadCount;

// The number of threads a parallel region gets now.
[[maybe_unused]] int team_now() {
  int team = 1;
#if defined(_OPENMP)
#pragma omp parallel
  {
#pragma omp master
    team = team_size();
  }
#endif
  return team;
}

// LeNet-5's two convolutions, and an odd one whose shapes fit none of the register blocks
// whole: 5 out channels and 9 columns leave partial blocks on every instruction set (and on
// 16 registers reach the 3 x 3 fallback), the 9 x 9 map a row and a column no pooling window covers.
enum class LeNetConv { conv1, conv2, odd };

Conv2dGeometry geometry(LeNetConv layer, std::int64_t batch) {
  Conv2dGeometry g;
  g.batch = batch;
  g.stride = 1;
  g.kernel = 5;
  if (layer == LeNetConv::conv1) {
    g.in_channels = 1, g.in_height = 28, g.in_width = 28, g.out_channels = 6, g.padding = 2;
  } else if (layer == LeNetConv::conv2) {
    g.in_channels = 6, g.in_height = 14, g.in_width = 14, g.out_channels = 16, g.padding = 0;
  } else {
    g.in_channels = 3, g.in_height = 9, g.in_width = 9, g.out_channels = 5, g.padding = 1, g.kernel = 3;
  }
  return g;
}

// k / denominator for a random integer k in [-16, 16] \ {0}: exact in float, never zero.
template <class T>
T dyadic(Rng& rng, double denominator) {
  const auto k = static_cast<std::int64_t>(rng.below(32));
  return static_cast<T>((k < 16 ? k - 16 : k - 15) / denominator);
}

// Non-zero uniform values in [-scale, scale] (dyadic for float, see the top of the file).
template <class T>
std::vector<T> random_sample_values(std::int64_t n, Rng& rng, double scale, double denominator) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (T& x : v) {
    if constexpr (std::is_same_v<T, float>) {
      x = dyadic<T>(rng, denominator);
    } else {
      do x = static_cast<T>(rng.uniform(-scale, scale)); while (x == T(0));
    }
  }
  return v;
}

// Extra elements after every output the fused kernels write, which must stay untouched.
constexpr std::int64_t kCanary = 64;
constexpr double kCanaryValue = 12345.0;

template <class T>
std::vector<T> output_buffer(std::int64_t n) {
  std::vector<T> v(static_cast<std::size_t>(n + kCanary), std::numeric_limits<T>::quiet_NaN());
  std::fill(v.end() - kCanary, v.end(), static_cast<T>(kCanaryValue));
  return v;
}

// actual[0, n) within tolerance of expected (relative to the element and to the tensor's
// root mean square, so that sums that cancel are not held to a relative bound), and the
// canary after actual's n elements untouched.
template <class T>
::testing::AssertionResult close(const std::vector<T>& actual, const std::vector<T>& expected, double tolerance) {
  const std::size_t n = expected.size();
  double sum_sq = 0;
  for (const T e : expected) sum_sq += static_cast<double>(e) * e;
  const double rms = std::sqrt(sum_sq / static_cast<double>(n));
  if (!(rms > 0)) return ::testing::AssertionFailure() << "the reference is all zeros: the test data are degenerate";
  std::size_t bad = 0, first = n;
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double a = actual[i], e = expected[i];
    const double err = std::abs(a - e) / (std::abs(e) + rms);
    if (!(err <= tolerance)) {  // NaN (never written) fails too
      if (bad++ == 0) first = i;
      if (!(err <= worst)) worst = err;
    }
  }
  for (std::size_t i = n; i < actual.size(); ++i)
    if (actual[i] != static_cast<T>(kCanaryValue))
      return ::testing::AssertionFailure() << "wrote past the end: element " << i << " of " << n;
  if (bad != 0)
    return ::testing::AssertionFailure() << bad << " of " << n << " elements off, the first [" << first << "] "
                                         << actual[first] << " vs " << expected[first] << ", worst relative error "
                                         << worst << " (tolerance " << tolerance << ")";
  return ::testing::AssertionSuccess();
}

struct Case {
  LeNetConv layer;
  FusedActivation act;
  FusedPooling pool;
  int threads;
};

std::string name_of(const Case& c) {
  std::ostringstream out;
  out << (c.layer == LeNetConv::conv1 ? "Conv1" : c.layer == LeNetConv::conv2 ? "Conv2" : "Odd")
      << (c.act == FusedActivation::sigmoid ? "Sigmoid" : "Relu")
      << (c.pool == FusedPooling::average ? "Avg" : "Max") << c.threads << "Thread" << (c.threads > 1 ? "s" : "");
  return out.str();
}

// One batch size: the unfused kernels on one thread, then the fused ones on c.threads.
template <class T>
void check_batch(const Case& c, std::int64_t batch, double tolerance) {
  constexpr std::int64_t S = detail::packet_size<T>;
  const Conv2dGeometry g = geometry(c.layer, batch);
  const std::int64_t blocks = (batch + S - 1) / S;
  SCOPED_TRACE(std::string(std::is_same_v<T, float> ? "float" : "double") + ", S = " + std::to_string(S) +
               ", batch " + std::to_string(batch) + " (" + std::to_string(blocks) + " blocks of S)");
  if (c.threads > 1) {
    // Static scheduling over blocks of S samples: each of the threads gets one only when
    // there are at least as many blocks as threads.
    ASSERT_GE(blocks, c.threads) << "this batch leaves a thread without work";
  }
  Pool2dGeometry p;
  p.batch = batch, p.channels = g.out_channels, p.in_height = g.out_height(), p.in_width = g.out_width();
  p.kernel = 2, p.stride = 2;
  ASSERT_TRUE(conv2d_act_pool_fits(cpu{}, g, p));
  const std::int64_t in_n = batch * g.in_channels * g.in_pixels(), conv_n = batch * g.out_channels * g.out_pixels(),
                     pooled_n = p.planes() * p.out_height() * p.out_width();

  Rng rng(1000 * static_cast<std::uint64_t>(batch) + 17 * static_cast<std::uint64_t>(c.layer) + 5);
  const std::vector<T> x = random_sample_values<T>(in_n, rng, 2, 8), w = random_sample_values<T>(g.weight_count(), rng, 0.25, 64),
                       b = random_sample_values<T>(g.out_channels, rng, 0.25, 64);
  std::vector<T> dy(static_cast<std::size_t>(pooled_n));
  for (T& v : dy) do v = static_cast<T>(rng.uniform(-1, 1)); while (v == T(0));

  // The reference: conv2d, the activation, the pooling, and back, on one thread.
  std::vector<T> z(conv_n), a(conv_n), y(pooled_n), da(conv_n), dz(conv_n), dx(in_n), dw(g.weight_count()),
      db(g.out_channels);
  std::vector<std::int32_t> argmax(static_cast<std::size_t>(pooled_n));
  {
    ThreadCount one(1);
    std::vector<T> ws(static_cast<std::size_t>(conv2d_workspace_size(cpu{}, g, choose<T>(cpu{}, g), 1)));
    conv2d_forward(cpu{}, g, x.data(), w.data(), b.data(), z.data(), ws.data());
    if (c.act == FusedActivation::sigmoid) sigmoid_forward(cpu{}, z.data(), a.data(), conv_n);
    else relu_forward(cpu{}, z.data(), a.data(), conv_n);
    if (c.pool == FusedPooling::average) avg_pool2d_forward(cpu{}, p, a.data(), y.data());
    else max_pool2d_forward(cpu{}, p, a.data(), y.data(), argmax.data());
    if (c.pool == FusedPooling::average) avg_pool2d_backward(cpu{}, p, dy.data(), da.data());
    else max_pool2d_backward(cpu{}, p, dy.data(), argmax.data(), da.data());
    if (c.act == FusedActivation::sigmoid) sigmoid_backward(cpu{}, a.data(), da.data(), dz.data(), conv_n);
    else relu_backward(cpu{}, z.data(), da.data(), dz.data(), conv_n);
    conv2d_backward(cpu{}, g, x.data(), w.data(), dz.data(), dx.data(), dw.data(), db.data(), ws.data());
  }

  // The fused kernels on c.threads threads, into NaN-filled buffers with canaries.
  ThreadCount threads(c.threads);
#if defined(_OPENMP)
  ASSERT_EQ(team_now(), c.threads) << "OpenMP did not give the threads asked for";
#else
  if (c.threads > 1) GTEST_SKIP() << "built without OpenMP";
#endif
  std::vector<T> ws(static_cast<std::size_t>(conv2d_act_pool_workspace_size(cpu{}, g, c.threads)));
  std::vector<T> activation(static_cast<std::size_t>(conv2d_act_pool_activation_size<T>(cpu{}, g)));
  std::vector<T> fy = output_buffer<T>(pooled_n), fdx = output_buffer<T>(in_n),
                 fdw = output_buffer<T>(g.weight_count()), fdb = output_buffer<T>(g.out_channels);
  conv2d_act_pool_forward(cpu{}, g, c.act, c.pool, x.data(), w.data(), b.data(), activation.data(), fy.data(),
                          ws.data());
  EXPECT_TRUE(close(fy, y, tolerance)) << "pooled output";
  // Evaluation (no activation kept): the same pooled values bit for bit, the activation buffer
  // untouched.
  {
    std::vector<T> kept = activation, eval_y = output_buffer<T>(pooled_n);
    conv2d_act_pool_forward(cpu{}, g, c.act, c.pool, x.data(), w.data(), b.data(), static_cast<T*>(nullptr),
                            eval_y.data(), ws.data());
    EXPECT_EQ(0, std::memcmp(eval_y.data(), fy.data(), fy.size() * sizeof(T))) << "pooled output without the activation";
    EXPECT_EQ(0, std::memcmp(kept.data(), activation.data(), kept.size() * sizeof(T))) << "activation buffer written";
  }
  conv2d_act_pool_backward(cpu{}, g, c.act, c.pool, x.data(), w.data(), activation.data(), dy.data(), fdx.data(),
                           fdw.data(), fdb.data(), ws.data());
  EXPECT_TRUE(close(fdx, dx, tolerance)) << "input gradient";
  EXPECT_TRUE(close(fdw, dw, tolerance)) << "weight gradient";
  EXPECT_TRUE(close(fdb, db, tolerance)) << "bias gradient";

  // Without the input gradient (the first layer): the same weight and bias gradients.
  std::vector<T> fdw2 = output_buffer<T>(g.weight_count()), fdb2 = output_buffer<T>(g.out_channels);
  conv2d_act_pool_backward(cpu{}, g, c.act, c.pool, x.data(), w.data(), activation.data(), dy.data(),
                           static_cast<T*>(nullptr), fdw2.data(), fdb2.data(), ws.data());
  EXPECT_TRUE(close(fdw2, dw, tolerance)) << "weight gradient, no input gradient";
  EXPECT_TRUE(close(fdb2, db, tolerance)) << "bias gradient, no input gradient";
}

// The batch sizes around the lanes kernel's edges for packets of S; with more than one
// thread only those with a block of S samples for every thread.
std::vector<std::int64_t> batches(std::int64_t S, int threads) {
  std::vector<std::int64_t> all{S - 1, S, S + 1, 2 * S + 3, 256}, out;
  for (const std::int64_t n : all)
    if (n >= 1 && (threads == 1 || (n + S - 1) / S >= threads)) out.push_back(n);
  return out;
}

class FusedKernels : public ::testing::TestWithParam<Case> {};

TEST_P(FusedKernels, LanesKernelMatchesConvActivationPool) {
  const Case& c = GetParam();
  for (const std::int64_t n : batches(detail::packet_size<float>, c.threads)) {
    check_batch<float>(c, n, 1e-4);
    if (::testing::Test::HasFatalFailure()) return;
  }
  for (const std::int64_t n : batches(detail::packet_size<double>, c.threads)) {
    check_batch<double>(c, n, 1e-10);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// The 2-thread runs must include the batches around the block edges, not only 256.
TEST(FusedKernels, TwoThreadBatchesGiveEveryThreadABlock) {
  for (const std::int64_t S : {detail::packet_size<float>, detail::packet_size<double>}) {
    const auto two = batches(S, 2);
    EXPECT_GE(two.size(), 3u) << "S = " << S;
    for (const std::int64_t n : two) EXPECT_GE((n + S - 1) / S, 2) << "S = " << S << ", batch " << n;
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const LeNetConv layer : {LeNetConv::conv1, LeNetConv::conv2, LeNetConv::odd})
    for (const FusedActivation act : {FusedActivation::sigmoid, FusedActivation::relu})
      for (const FusedPooling pool : {FusedPooling::average, FusedPooling::max})
        for (const int threads : {1, 2}) cases.push_back({layer, act, pool, threads});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(LeNet5, FusedKernels, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return name_of(info.param); });

}  // namespace
