// hnn/ops.hpp's matrix products and shape ops on the CPU against their definitions: matmul in
// 2-D, batched, with broadcast batch dimensions, with vectors, with transposed operands, on
// two threads; reshape (-1), unsqueeze/squeeze, permute/transpose, slicing along every
// dimension with steps and negative bounds, unslice, cat/stack along every dimension,
// broadcast_to, contiguous; and the error each names for bad shapes and arguments.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "hnn/ops.hpp"
#include "hnn/parallel.hpp"
#include "ops_test_util.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

// C = A B by the definition, batch dimensions broadcast, for operands of rank >= 2.
Tensor<double> reference_matmul(const Tensor<double>& a, const Tensor<double>& b) {
  const int ra = a.rank(), rb = b.rank();
  const std::int64_t m = a.dim(ra - 2), k = a.dim(ra - 1), n = b.dim(rb - 1);
  Shape ba, bb;
  for (int d = 0; d < ra - 2; ++d) ba.push_back(a.dim(d));
  for (int d = 0; d < rb - 2; ++d) bb.push_back(b.dim(d));
  const Shape batch = broadcast_shapes(ba, bb, "reference");
  Shape out = batch;
  out.push_back(m);
  out.push_back(n);
  Tensor<double> c(out);
  for_each_index(out, [&](const std::vector<std::int64_t>& i) {
    const std::vector<std::int64_t> bi(i.begin(), i.end() - 2);
    const std::int64_t r = i[i.size() - 2], col = i[i.size() - 1];
    double s = 0;
    for (std::int64_t j = 0; j < k; ++j)
      s += a[broadcast_offset(ba, bi) * m * k + r * k + j] * b[broadcast_offset(bb, bi) * k * n + j * n + col];
    c[flat_offset(out, i)] = s;
  });
  return c;
}

TEST(OpsMatmul, ProductsAgainstTheDefinition) {
  Rng rng(31);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {Shape{3, 4}, Shape{4, 5}},          {Shape{1, 1}, Shape{1, 1}},          {Shape{2, 3, 4}, Shape{2, 4, 5}},
      {Shape{2, 3, 4}, Shape{4, 5}},       {Shape{4, 3}, Shape{2, 3, 6}},       {Shape{2, 1, 3, 4}, Shape{5, 4, 2}},
      {Shape{37, 19}, Shape{19, 23}},      {Shape{3, 0}, Shape{0, 2}},
  };
  for (const auto& [sa, sb] : cases) {
    SCOPED_TRACE(sa.str() + " @ " + sb.str());
    const Tensor<double> a = random_values<double>(sa, rng), b = random_values<double>(sb, rng);
    EXPECT_TRUE(all_near(ops::matmul(a, b), reference_matmul(a, b), 1e-13));
    // The same in float, against the double definition.
    Tensor<float> af(sa), bf(sb);
    for (std::int64_t i = 0; i < a.numel(); ++i) af[i] = static_cast<float>(a[i]);
    for (std::int64_t i = 0; i < b.numel(); ++i) bf[i] = static_cast<float>(b[i]);
    const Tensor<double> ref = reference_matmul(a, b);
    const Tensor<float> c = ops::matmul(af, bf);
    std::vector<double> r(ref.data(), ref.data() + ref.numel());
    EXPECT_TRUE(all_near(c, r, 1e-5));
  }
}

TEST(OpsMatmul, VectorsAsPyTorchReadsThem) {
  Rng rng(32);
  const Tensor<double> m = random_values<double>(Shape{3, 4}, rng), v = random_values<double>(Shape{4}, rng);
  const Tensor<double> w = random_values<double>(Shape{3}, rng), batch = random_values<double>(Shape{2, 4, 3}, rng);
  const Tensor<double> mv = ops::matmul(m, v);
  ASSERT_EQ(mv.shape(), (Shape{3}));
  EXPECT_TRUE(all_near(mv, reference_matmul(m, v.reshape(Shape{4, 1})).reshape(Shape{3}), 1e-14));
  const Tensor<double> wm = ops::matmul(w, m);
  ASSERT_EQ(wm.shape(), (Shape{4}));
  EXPECT_TRUE(all_near(wm, reference_matmul(w.reshape(Shape{1, 3}), m).reshape(Shape{4}), 1e-14));
  const Tensor<double> dot = ops::matmul(v, v);
  ASSERT_EQ(dot.shape(), Shape{});
  double d = 0;
  for (int i = 0; i < 4; ++i) d += v[i] * v[i];
  EXPECT_NEAR(dot[0], d, 1e-14);
  EXPECT_EQ(ops::matmul(v, batch).shape(), (Shape{2, 3}));
  EXPECT_EQ(ops::matmul(batch, w).shape(), (Shape{2, 4}));
}

TEST(OpsMatmul, TransposedOperandsNeedNoCopy) {
  Rng rng(33);
  const Tensor<double> a = random_values<double>(Shape{2, 5, 3}, rng), b = random_values<double>(Shape{5, 4}, rng);
  const Tensor<double> bt = random_values<double>(Shape{4, 3}, rng);
  EXPECT_TRUE(all_near(ops::matmul_transposed(a, true, b, false), reference_matmul(ops::transpose(a, 1, 2), b), 1e-14));
  EXPECT_TRUE(all_near(ops::matmul_transposed(a, false, bt, true), reference_matmul(a, ops::transpose(bt, 0, 1)), 1e-14));
  EXPECT_TRUE(all_near(ops::matmul_transposed(a, true, ops::transpose(b, 0, 1), true), reference_matmul(ops::transpose(a, 1, 2), b),
                       1e-14));
}

TEST(OpsMatmul, ABatchOnTwoThreadsEqualsOneThread) {
  Rng rng(34);
  const Tensor<float> a = random_values<float>(Shape{8, 40, 50}, rng), b = random_values<float>(Shape{8, 50, 30}, rng);
  const int saved = num_threads();
  set_num_threads(1);
  const Tensor<float> one = ops::matmul(a, b);
  set_num_threads(2);
  const Tensor<float> two = ops::matmul(a, b);
  set_num_threads(saved);
  EXPECT_TRUE(all_near(two, one, 0));
}

TEST(OpsMatmul, BadShapesAreNamed) {
  const Tensor<float> a(Shape{2, 3}), b(Shape{4, 5}), c(Shape{2, 3, 4}), d(Shape{3, 4, 5});
  EXPECT_TRUE(throws_naming([&] { ops::matmul(a, b); }, {"matmul", "(2, 3)", "(4, 5)", "3 and 4"}));
  EXPECT_TRUE(throws_naming([&] { ops::matmul(c, d); }, {"matmul", "(2, 3, 4)", "(3, 4, 5)", "batch"}));
  EXPECT_TRUE(throws_naming([&] { ops::matmul(Tensor<float>(Shape{}), a); }, {"matmul", "()", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::matmul(Tensor<float>(Shape{4}), a); }, {"matmul", "(1, 4)", "(2, 3)"}));
}

TEST(OpsShape, ReshapeViewsAndInfers) {
  Rng rng(35);
  const Tensor<double> x = random_values<double>(Shape{2, 3, 4}, rng);
  const Tensor<double> y = ops::reshape(x, {4, -1});
  EXPECT_EQ(y.shape(), (Shape{4, 6}));
  EXPECT_EQ(y.data(), x.data());  // a view
  EXPECT_EQ(ops::reshape(x, Shape{24}).shape(), (Shape{24}));
  EXPECT_EQ(ops::unsqueeze(x, 1).shape(), (Shape{2, 1, 3, 4}));
  EXPECT_EQ(ops::unsqueeze(x, -1).shape(), (Shape{2, 3, 4, 1}));
  EXPECT_EQ(ops::squeeze(ops::unsqueeze(x, 0), 0).shape(), x.shape());
  EXPECT_EQ(ops::contiguous(x).data(), x.data());
  EXPECT_TRUE(throws_naming([&] { ops::reshape(x, {5, -1}); }, {"reshape", "(2, 3, 4)", "-1"}));
  EXPECT_TRUE(throws_naming([&] { ops::reshape(x, {-1, -1}); }, {"reshape", "one size"}));
  EXPECT_TRUE(throws_naming([&] { ops::reshape(x, {5, 5}); }, {"reshape", "(2, 3, 4)", "(5, 5)"}));
  EXPECT_TRUE(throws_naming([&] { ops::reshape(x, Shape{7}); }, {"reshape", "(2, 3, 4)", "(7)"}));
  EXPECT_TRUE(throws_naming([&] { ops::squeeze(x, 1); }, {"squeeze", "(2, 3, 4)", "size 3"}));
  EXPECT_TRUE(throws_naming([&] { ops::unsqueeze(x, 5); }, {"unsqueeze", "dimension 5"}));
}

TEST(OpsShape, PermuteAndTranspose) {
  Rng rng(36);
  const Tensor<double> x = random_values<double>(Shape{2, 3, 4, 5}, rng);
  const std::vector<int> order = {2, 0, 3, 1};
  const Tensor<double> p = ops::permute(x, order);
  ASSERT_EQ(p.shape(), (Shape{4, 2, 5, 3}));
  for_each_index(p.shape(), [&](const std::vector<std::int64_t>& i) {
    std::vector<std::int64_t> j(4);
    for (int k = 0; k < 4; ++k) j[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])] = i[static_cast<std::size_t>(k)];
    EXPECT_EQ(p[flat_offset(p.shape(), i)], x[flat_offset(x.shape(), j)]);
  });
  const Tensor<double> t = ops::transpose(x, -1, 1);
  ASSERT_EQ(t.shape(), (Shape{2, 5, 4, 3}));
  EXPECT_EQ(t.at(1, 4, 2, 0), x.at(1, 0, 2, 4));
  EXPECT_TRUE(throws_naming([&] { ops::permute(x, {0, 1, 2}); }, {"permute", "3 dimensions", "(2, 3, 4, 5)"}));
  EXPECT_TRUE(throws_naming([&] { ops::permute(x, {0, 1, 1, 2}); }, {"permute", "named twice"}));
  EXPECT_TRUE(throws_naming([&] { ops::transpose(x, 0, 4); }, {"transpose", "dimension 4", "(2, 3, 4, 5)"}));
}

TEST(OpsShape, SlicingAlongEveryDimensionWithSteps) {
  Rng rng(37);
  const Tensor<double> x = random_values<double>(Shape{4, 5, 6}, rng);
  struct Case {
    int dim;
    std::int64_t begin, end, step;
  };
  for (const Case& c : {Case{0, 1, 3, 1}, Case{1, 0, 5, 2}, Case{2, 2, 6, 3}, Case{-1, -4, -1, 1}, Case{1, 3, 3, 1},
                        Case{0, 0, 4, 5}}) {
    SCOPED_TRACE("dim " + std::to_string(c.dim) + " [" + std::to_string(c.begin) + ", " + std::to_string(c.end) +
                 ") step " + std::to_string(c.step));
    const Tensor<double> s = ops::slice(x, c.dim, c.begin, c.end, c.step);
    const int d = c.dim < 0 ? c.dim + 3 : c.dim;
    const std::int64_t begin = c.begin < 0 ? c.begin + x.dim(d) : c.begin;
    for_each_index(s.shape(), [&](const std::vector<std::int64_t>& i) {
      std::vector<std::int64_t> j = i;
      j[static_cast<std::size_t>(d)] = begin + i[static_cast<std::size_t>(d)] * c.step;
      EXPECT_EQ(s[flat_offset(s.shape(), i)], x[flat_offset(x.shape(), j)]);
    });
    // unslice puts it back, zeros elsewhere.
    const Tensor<double> back = ops::unslice(s, x.shape(), c.dim, c.begin, c.end, c.step);
    std::int64_t nonzero = 0;
    for (std::int64_t i = 0; i < back.numel(); ++i) nonzero += back[i] != 0;
    EXPECT_EQ(nonzero, s.numel());
    EXPECT_TRUE(all_near(ops::slice(back, c.dim, c.begin, c.end, c.step), s, 0));
  }
  EXPECT_TRUE(throws_naming([&] { ops::slice(x, 1, 2, 7); }, {"slice", "[2, 7)", "dimension 1", "(4, 5, 6)"}));
  EXPECT_TRUE(throws_naming([&] { ops::slice(x, 1, 3, 2); }, {"slice", "[3, 2)"}));
  EXPECT_TRUE(throws_naming([&] { ops::slice(x, 0, 0, 2, 0); }, {"slice", "step"}));
  EXPECT_TRUE(throws_naming([&] { ops::slice(x, 3, 0, 1); }, {"slice", "dimension 3"}));
  EXPECT_TRUE(throws_naming([&] { ops::unslice(x, Shape{4, 5, 6}, 0, 0, 2); }, {"unslice", "(4, 5, 6)", "(2, 5, 6)"}));
}

TEST(OpsShape, CatAndStackAlongEveryDimension) {
  Rng rng(38);
  for (int d = 0; d < 3; ++d) {
    SCOPED_TRACE("dim " + std::to_string(d));
    Shape s1{2, 3, 4}, s2{2, 3, 4};
    s2[d] = 5;
    const Tensor<double> a = random_values<double>(s1, rng), b = random_values<double>(s2, rng);
    const Tensor<double> c = ops::cat({a, b}, d);
    Shape expected = s1;
    expected[d] += 5;
    ASSERT_EQ(c.shape(), expected);
    EXPECT_TRUE(all_near(ops::slice(c, d, 0, s1[d]), a, 0));
    EXPECT_TRUE(all_near(ops::slice(c, d, s1[d], expected[d]), b, 0));
    const Tensor<double> st = ops::stack({a, a, a}, d);
    Shape stacked = s1;
    stacked = ops::unsqueeze(a, d).shape();
    stacked[d] = 3;
    ASSERT_EQ(st.shape(), stacked);
    EXPECT_TRUE(all_near(ops::squeeze(ops::slice(st, d, 2, 3), d), a, 0));
  }
  EXPECT_EQ(ops::stack({Tensor<double>(Shape{2}), Tensor<double>(Shape{2})}, -1).shape(), (Shape{2, 2}));
  const Tensor<double> a(Shape{2, 3}), b(Shape{2, 4});
  EXPECT_TRUE(throws_naming([&] { ops::cat({a, b}, 0); }, {"cat", "tensor 1", "(2, 4)", "(2, 3)", "dimension 0"}));
  EXPECT_TRUE(throws_naming([&] { ops::cat({a, Tensor<double>(Shape{6})}, 0); }, {"cat", "(6)"}));
  EXPECT_TRUE(throws_naming([&] { ops::cat(std::vector<Tensor<double>>{}, 0); }, {"cat", "at least one"}));
  EXPECT_TRUE(throws_naming([&] { ops::stack({a, b}, 0); }, {"stack", "(2, 4)", "(2, 3)"}));
}

TEST(OpsShape, BroadcastTo) {
  Rng rng(39);
  const Tensor<double> x = random_values<double>(Shape{3, 1}, rng);
  const Tensor<double> y = ops::broadcast_to(x, Shape{2, 3, 4});
  for_each_index(y.shape(), [&](const std::vector<std::int64_t>& i) {
    EXPECT_EQ(y[flat_offset(y.shape(), i)], x[broadcast_offset(x.shape(), i)]);
  });
  EXPECT_TRUE(throws_naming([&] { ops::broadcast_to(x, Shape{2, 4}); }, {"broadcast_to", "(3, 1)", "(2, 4)"}));
}

}  // namespace
