// hnn/ops.hpp's reductions on the CPU against their definitions: sum, mean, amax, amin and
// logsumexp over every single dimension, pairs of dimensions and all of them, with and without
// keepdim; argmax/argmin (ties, NaN); softmax and log_softmax along each dimension; sum_to;
// the threaded paths; and the errors (a dimension out of range, named twice, an empty max).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "hnn/ops.hpp"
#include "hnn/parallel.hpp"
#include "ops_test_util.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

// The reference reduction: for each output index (keepdim layout), fold every input element
// whose index agrees on the kept dimensions.
std::vector<double> fold(const Tensor<double>& x, const std::vector<bool>& reduced, double start,
                         const std::function<double(double, double)>& f) {
  Shape kept;
  for (int d = 0; d < x.rank(); ++d) kept.push_back(reduced[static_cast<std::size_t>(d)] ? 1 : x.dim(d));
  std::vector<double> out(static_cast<std::size_t>(kept.numel()), start);
  for_each_index(x.shape(), [&](const std::vector<std::int64_t>& i) {
    double& o = out[static_cast<std::size_t>(broadcast_offset(kept, i))];
    o = f(o, x[flat_offset(x.shape(), i)]);
  });
  return out;
}

std::vector<bool> flags_of(int rank, const std::vector<int>& dims) {
  std::vector<bool> f(static_cast<std::size_t>(rank), dims.empty());
  for (int d : dims) f[static_cast<std::size_t>(d < 0 ? d + rank : d)] = true;
  return f;
}

const std::vector<std::vector<int>> dim_sets = {{0}, {1}, {2}, {3}, {-1}, {0, 2}, {1, 3}, {0, 1, 2, 3}, {}, {3, 0}};

TEST(OpsReduce, SumMeanMaxMinLogsumexpOverEveryDimensionSet) {
  Rng rng(21);
  const Tensor<double> x = random_values<double>(Shape{3, 4, 5, 6}, rng, -3, 3);
  for (const std::vector<int>& dims : dim_sets) {
    for (bool keepdim : {false, true}) {
      std::string name = "dims {";
      for (int d : dims) name += std::to_string(d) + " ";
      SCOPED_TRACE(name + "} keepdim " + std::to_string(keepdim));
      const ops::Dims ds(dims);
      const std::vector<bool> f = flags_of(x.rank(), dims);
      const std::vector<double> sums = fold(x, f, 0, [](double a, double b) { return a + b; });
      const std::vector<double> maxes = fold(x, f, -INFINITY, [](double a, double b) { return std::max(a, b); });
      const std::vector<double> mins = fold(x, f, INFINITY, [](double a, double b) { return std::min(a, b); });
      std::int64_t count = 1;
      for (int d = 0; d < x.rank(); ++d)
        if (f[static_cast<std::size_t>(d)]) count *= x.dim(d);
      std::vector<double> means, lse;
      for (std::size_t i = 0; i < sums.size(); ++i) means.push_back(sums[i] / static_cast<double>(count));
      const std::vector<double> exp_sums = fold(x, f, 0, [](double a, double b) { return a + std::exp(b); });
      for (double s : exp_sums) lse.push_back(std::log(s));

      const Tensor<double> s = ops::sum(x, ds, keepdim);
      Shape expected;
      for (int d = 0; d < x.rank(); ++d) {
        if (!f[static_cast<std::size_t>(d)]) expected.push_back(x.dim(d));
        else if (keepdim) expected.push_back(1);
      }
      ASSERT_EQ(s.shape(), expected);
      EXPECT_TRUE(all_near(s, sums, 1e-13));
      EXPECT_TRUE(all_near(ops::mean(x, ds, keepdim), means, 1e-13));
      EXPECT_TRUE(all_near(ops::amax(x, ds, keepdim), maxes, 0));
      EXPECT_TRUE(all_near(ops::amin(x, ds, keepdim), mins, 0));
      EXPECT_TRUE(all_near(ops::logsumexp(x, ds, keepdim), lse, 1e-13));
    }
  }
}

TEST(OpsReduce, FloatSumsAndSingleDimensionShorthand) {
  Rng rng(22);
  const Tensor<float> x = random_values<float>(Shape{7, 33}, rng);
  const Tensor<float> s = ops::sum(x, 1);
  ASSERT_EQ(s.shape(), (Shape{7}));
  for (std::int64_t r = 0; r < 7; ++r) {
    double ref = 0;
    for (std::int64_t c = 0; c < 33; ++c) ref += x.at(r, c);
    EXPECT_NEAR(s[r], ref, 1e-5);
  }
  EXPECT_EQ(ops::sum(x).shape(), Shape{});
  EXPECT_EQ(ops::sum(x, {}, true).shape(), (Shape{1, 1}));
}

TEST(OpsReduce, LogsumexpOfInfinities) {
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor<double> x = Tensor<double>::from_vector(Shape{3, 2}, {-inf, -inf, 1000, 1000, inf, 0});
  const Tensor<double> r = ops::logsumexp(x, 1);
  EXPECT_EQ(r[0], -inf);
  EXPECT_NEAR(r[1], 1000 + std::log(2.0), 1e-12);  // no overflow
  EXPECT_EQ(r[2], inf);
}

TEST(OpsReduce, MaxAndMinPropagateNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor<double> x = Tensor<double>::from_vector(Shape{2, 3}, {1, nan, 3, 4, 5, 6});
  EXPECT_TRUE(std::isnan(ops::amax(x, 1)[0]));
  EXPECT_EQ(ops::amax(x, 1)[1], 6);
  EXPECT_TRUE(std::isnan(ops::amin(x, 0)[1]));
  EXPECT_TRUE(std::isnan(ops::amax(x)[0]));
}

TEST(OpsReduce, ArgmaxAndArgminAlongEachDimension) {
  Rng rng(23);
  const Tensor<double> x = random_values<double>(Shape{3, 4, 5}, rng);
  for (int d = 0; d < 3; ++d) {
    SCOPED_TRACE("dim " + std::to_string(d));
    const Tensor<std::int64_t> best = ops::argmax(x, d), worst = ops::argmin(x, d, true);
    Shape kept = x.shape();
    kept[d] = 1;
    EXPECT_EQ(worst.shape(), kept);
    for_each_index(kept, [&](const std::vector<std::int64_t>& i) {
      std::vector<std::int64_t> j = i;
      std::int64_t hi = 0, lo = 0;
      for (std::int64_t k = 0; k < x.dim(d); ++k) {
        j[static_cast<std::size_t>(d)] = k;
        const double v = x[flat_offset(x.shape(), j)];
        std::vector<std::int64_t> jh = i, jl = i;
        jh[static_cast<std::size_t>(d)] = hi;
        jl[static_cast<std::size_t>(d)] = lo;
        if (v > x[flat_offset(x.shape(), jh)]) hi = k;
        if (v < x[flat_offset(x.shape(), jl)]) lo = k;
      }
      EXPECT_EQ(best[flat_offset(kept, i)], hi);
      EXPECT_EQ(worst[flat_offset(kept, i)], lo);
    });
  }
  const Tensor<double> ties = Tensor<double>::from_vector(Shape{5}, {1, 3, 3, std::nan(""), 0});
  EXPECT_EQ(ops::argmax(ties.slice(0, 3))[0], 1);  // the first of equal values
  EXPECT_EQ(ops::argmax(ties)[0], 3);               // NaN is the largest, as in PyTorch
  EXPECT_EQ(ops::argmin(ties)[0], 3);
  const Tensor<double> m = Tensor<double>::from_vector(Shape{2, 2}, {1, 5, 7, 2});
  EXPECT_EQ(ops::argmax(m)[0], 2);  // into the flattened tensor
  EXPECT_EQ(ops::argmax(m).shape(), Shape{});
}

TEST(OpsReduce, SoftmaxAndLogSoftmaxAlongEachDimension) {
  Rng rng(24);
  const Tensor<double> x = random_values<double>(Shape{2, 3, 4}, rng, -5, 5);
  for (int d : {0, 1, 2, -1}) {
    SCOPED_TRACE("dim " + std::to_string(d));
    const int dd = d < 0 ? d + 3 : d;
    std::vector<double> soft, log_soft;
    for_each_index(x.shape(), [&](const std::vector<std::int64_t>& i) {
      double total = 0;
      std::vector<std::int64_t> j = i;
      for (std::int64_t k = 0; k < x.dim(dd); ++k) {
        j[static_cast<std::size_t>(dd)] = k;
        total += std::exp(x[flat_offset(x.shape(), j)]);
      }
      const double v = x[flat_offset(x.shape(), i)];
      soft.push_back(std::exp(v) / total);
      log_soft.push_back(v - std::log(total));
    });
    EXPECT_TRUE(all_near(ops::softmax(x, d), soft, 1e-14));
    EXPECT_TRUE(all_near(ops::log_softmax(x, d), log_soft, 1e-13));
  }
  // Large logits do not overflow.
  const Tensor<float> big = Tensor<float>::from_vector(Shape{1, 2}, {1000, 1000});
  EXPECT_TRUE(all_near(ops::softmax(big, 1), std::vector<double>{0.5, 0.5}, 1e-7));
}

TEST(OpsReduce, SumToUndoesEachBroadcast) {
  Rng rng(25);
  const Tensor<double> g = random_values<double>(Shape{2, 3, 4}, rng);
  for (const Shape& target : {Shape{2, 3, 4}, Shape{4}, Shape{3, 1}, Shape{1, 3, 1}, Shape{2, 1, 4}, Shape{}, Shape{1}}) {
    SCOPED_TRACE(target.str());
    const Tensor<double> r = ops::sum_to(g, target);
    ASSERT_EQ(r.shape(), target);
    std::vector<double> ref(static_cast<std::size_t>(target.numel()), 0.0);
    for_each_index(g.shape(), [&](const std::vector<std::int64_t>& i) {
      ref[static_cast<std::size_t>(broadcast_offset(target, i))] += g[flat_offset(g.shape(), i)];
    });
    EXPECT_TRUE(all_near(r, ref, 1e-14));
  }
  EXPECT_TRUE(throws_naming([&] { ops::sum_to(g, Shape{5}); }, {"sum_to", "(5)", "(2, 3, 4)"}));
}

// Reductions large enough to be split between two threads (outer dimension kept: by outputs;
// reduced: per-thread partials) against one thread and the definition.
TEST(OpsReduce, ThreadedReductionsAgreeWithOneThread) {
  Rng rng(26);
  const Tensor<double> x = random_values<double>(Shape{64, 40, 33}, rng);
  const int saved = num_threads();
  for (const std::vector<int>& dims : std::vector<std::vector<int>>{{0}, {1}, {2}, {0, 2}, {}}) {
    const ops::Dims ds(dims);
    set_num_threads(1);
    const Tensor<double> one = ops::sum(x, ds), one_max = ops::amax(x, ds);
    set_num_threads(2);
    const Tensor<double> two = ops::sum(x, ds), two_max = ops::amax(x, ds);
    set_num_threads(saved);
    EXPECT_TRUE(all_near(two, one, 1e-12));
    EXPECT_TRUE(all_near(two_max, one_max, 0));
    EXPECT_TRUE(all_near(two, fold(x, flags_of(3, dims), 0, [](double a, double b) { return a + b; }), 1e-12));
  }
}

TEST(OpsReduce, BadDimensionsAreNamed) {
  const Tensor<float> x(Shape{2, 3});
  EXPECT_TRUE(throws_naming([&] { ops::sum(x, 2); }, {"sum", "dimension 2", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::mean(x, -3); }, {"mean", "dimension -3", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::amax(x, {0, 0}); }, {"amax", "named twice"}));
  EXPECT_TRUE(throws_naming([&] { ops::amin(x, 5); }, {"amin", "dimension 5"}));
  EXPECT_TRUE(throws_naming([&] { ops::logsumexp(x, 2); }, {"logsumexp", "dimension 2"}));
  EXPECT_TRUE(throws_naming([&] { ops::softmax(x, 2); }, {"softmax", "dimension 2", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::log_softmax(x, -3); }, {"log_softmax", "dimension -3"}));
  EXPECT_TRUE(throws_naming([&] { ops::argmax(x, 2); }, {"argmax", "dimension 2"}));
  EXPECT_TRUE(throws_naming([&] { ops::argmin(x, {0, 1}); }, {"argmin", "one dimension"}));
  EXPECT_TRUE(throws_naming([&] { ops::amax(Tensor<float>(Shape{0, 3}), 0); }, {"amax", "empty", "(0, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::argmax(Tensor<float>(Shape{0})); }, {"argmax", "empty"}));
  EXPECT_EQ(ops::sum(Tensor<float>(Shape{0, 3}), 0)[1], 0.0f);  // an empty sum is 0
}

}  // namespace
