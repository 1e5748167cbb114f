// hnn/autograd.hpp's engine and every op's gradient: the engine (order, accumulation within a
// pass and across passes, shared gradients never written through, no-grad scopes, detach,
// retain_grad), then central finite differences in double for every op, every kind of
// broadcast, views and slices along each dimension and reductions over each dimension; then
// the error every op gives for bad shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd_test_util.hpp"
#include "hnn/autograd.hpp"
#include "ops_test_util.hpp"

using namespace hnn;
using namespace hnn::testing;
using V = Var<double>;
using Vs = std::vector<V>;

namespace {

using hnn::testing::rand_t;

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

TEST(AutogradEngine, SquareSumGivesTwiceTheInput) {
  const Tensor<double> x0 = rand_t(Shape{2, 3}, 1);
  V x(x0, true);
  const V loss = (x * x).sum();
  EXPECT_FALSE(loss.is_leaf());
  loss.backward();
  EXPECT_TRUE(all_near(x.grad(), ops::mul(x0, 2.0), 1e-15));
}

TEST(AutogradEngine, AnInputUsedTwiceGetsBothShares) {
  const Tensor<double> x0 = rand_t(Shape{4}, 2);
  V x(x0, true);
  // A diamond: b and c both read a, d reads both. dd/dx = 2 * 3 + 2 * 2x * 3 ... checked by value:
  const V a = x * 2.0;
  const V d = (a * a + a * 3.0).sum();  // sum(4x^2 + 6x): gradient 8x + 6
  d.backward();
  EXPECT_TRUE(all_near(x.grad(), ops::add(ops::mul(x0, 8.0), 6.0), 1e-14));
}

TEST(AutogradEngine, LeafGradientsAddUpAcrossPassesUntilZeroed) {
  const Tensor<double> x0 = rand_t(Shape{3}, 3);
  V x(x0, true);
  (x * 3.0).sum().backward();
  (x * 3.0).sum().backward();
  EXPECT_TRUE(all_near(x.grad(), ops::full<double>(Shape{3}, 6.0), 0));
  const double* storage = x.grad().data();
  x.zero_grad();
  EXPECT_EQ(x.grad().data(), storage);  // zeroed in place
  EXPECT_TRUE(all_near(x.grad(), ops::zeros<double>(Shape{3}), 0));
  (x * 2.0).sum().backward();
  EXPECT_TRUE(all_near(x.grad(), ops::full<double>(Shape{3}, 2.0), 0));
}

// c = a + b hands both inputs the same gradient tensor: a later write into one (a second pass
// adding, or zero_grad) must not show through the other.
TEST(AutogradEngine, SharedGradientsAreNeverWrittenThrough) {
  V a(ops::zeros<double>(Shape{3}), true), b(ops::zeros<double>(Shape{3}), true);
  const Tensor<double> seed = ops::full<double>(Shape{3}, 1.5);
  (a + b).backward(seed);
  EXPECT_TRUE(all_near(a.grad(), seed, 0));
  EXPECT_TRUE(all_near(b.grad(), seed, 0));
  a.zero_grad();
  EXPECT_TRUE(all_near(b.grad(), seed, 0));
  (a * 2.0).sum().backward();
  EXPECT_TRUE(all_near(b.grad(), seed, 0));
  EXPECT_TRUE(all_near(seed, ops::full<double>(Shape{3}, 1.5), 0));  // the caller's seed untouched
  (b * 1.0).sum().backward();
  EXPECT_TRUE(all_near(b.grad(), ops::full<double>(Shape{3}, 2.5), 0));
  EXPECT_TRUE(all_near(a.grad(), ops::full<double>(Shape{3}, 2.0), 0));
}

TEST(AutogradEngine, NoGradScopeRecordsNothingAndNests) {
  V x(rand_t(Shape{2}, 4), true);
  EXPECT_TRUE(autograd::grad_enabled());
  {
    NoGradGuard outer;
    {
      NoGradGuard inner;
      EXPECT_FALSE(autograd::grad_enabled());
    }
    EXPECT_FALSE(autograd::grad_enabled());
    const V y = (x * x).sum();
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
    EXPECT_THROW(y.backward(), std::logic_error);
  }
  EXPECT_TRUE(autograd::grad_enabled());
  EXPECT_TRUE((x * x).sum().requires_grad());
}

TEST(AutogradEngine, DetachCutsTheGraphAndComparisonsCarryNoGradient) {
  const Tensor<double> x0 = rand_t(Shape{3}, 5);
  V x(x0, true);
  const V y = (x * x.detach()).sum();  // d/dx = x (the detached factor is a constant)
  y.backward();
  EXPECT_TRUE(all_near(x.grad(), x0, 0));
  EXPECT_FALSE((x > 0.0).requires_grad());
  EXPECT_FALSE(eq(x, x).requires_grad());
}

TEST(AutogradEngine, RetainGradKeepsAnIntermediateGradient) {
  V x(rand_t(Shape{2, 2}, 6), true);
  V h = x * 2.0;
  h.retain_grad();
  V other = x * 3.0;
  (h.sum() + other.sum()).backward();
  EXPECT_TRUE(all_near(h.grad(), ops::ones<double>(Shape{2, 2}), 0));
  EXPECT_THROW(other.grad(), std::logic_error);  // released after its backward
  EXPECT_TRUE(all_near(x.grad(), ops::full<double>(Shape{2, 2}, 5.0), 0));
}

TEST(AutogradEngine, MisuseIsNamed) {
  V x(rand_t(Shape{2, 3}, 7), true);
  const V y = x * 2.0;
  EXPECT_TRUE(throws_naming([&] { y.backward(); }, {"backward", "(2, 3)", "not a scalar"}));
  EXPECT_TRUE(throws_naming([&] { y.backward(ops::ones<double>(Shape{3, 2})); }, {"backward", "(3, 2)", "(2, 3)"}));
  EXPECT_THROW(V(y).set_requires_grad(false), std::logic_error);
  V fresh(rand_t(Shape{2}, 8), true);
  try {
    fresh.grad();
    FAIL() << "no gradient yet";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("backward()"), std::string::npos) << e.what();
  }
  V constant(rand_t(Shape{2}, 9));
  EXPECT_THROW((constant * 2.0).sum().backward(), std::logic_error);
}

TEST(AutogradEngine, PyTorchSpelling) {
  // pred and y as in a regression: ((pred - y) * (pred - y)).mean()
  const Tensor<double> x0 = rand_t(Shape{5, 3}, 10), y0 = rand_t(Shape{5, 1}, 11), w0 = rand_t(Shape{3, 1}, 12);
  V w(w0, true);
  const V x(x0);
  const V pred = matmul(x, w);
  const V loss = ((pred - y0) * (pred - y0)).mean();
  loss.backward();
  // d/dw = 2/N x^T (x w - y)
  const Tensor<double> expected = ops::mul(ops::matmul(ops::transpose(x0, 0, 1), ops::sub(ops::matmul(x0, w0), y0)), 2.0 / 5);
  EXPECT_TRUE(all_near(w.grad(), expected, 1e-14));
  EXPECT_NEAR(loss.item(), ops::item(ops::mean(ops::pow(ops::sub(ops::matmul(x0, w0), y0), 2.0))), 1e-15);
}

// ---------------------------------------------------------------------------------------------
// Finite differences for every op
// ---------------------------------------------------------------------------------------------

const std::vector<std::pair<Shape, Shape>> broadcasts = {
    {Shape{2, 3}, Shape{2, 3}}, {Shape{2, 3, 4}, Shape{4}}, {Shape{4}, Shape{2, 3, 4}}, {Shape{2, 1, 4}, Shape{3, 1}},
    {Shape{}, Shape{2, 3}},     {Shape{2, 3}, Shape{1}},    {Shape{3, 1, 2}, Shape{1, 4, 1}},
};

TEST(AutogradGradients, ArithmeticOverEveryBroadcast) {
  std::uint64_t seed = 100;
  for (const auto& [sa, sb] : broadcasts) {
    SCOPED_TRACE(sa.str() + " with " + sb.str());
    const Tensor<double> a = rand_t(sa, ++seed), b = rand_t(sb, ++seed, 0.5, 2);
    EXPECT_TRUE(gradients_match([](const Vs& v) { return v[0] + v[1]; }, {a, b})) << "add";
    EXPECT_TRUE(gradients_match([](const Vs& v) { return v[0] - v[1]; }, {a, b})) << "sub";
    EXPECT_TRUE(gradients_match([](const Vs& v) { return v[0] * v[1]; }, {a, b})) << "mul";
    EXPECT_TRUE(gradients_match([](const Vs& v) { return v[0] / v[1]; }, {a, b})) << "div";
    EXPECT_TRUE(gradients_match([](const Vs& v) { return pow(v[1], v[0]); }, {a, b})) << "pow";
    EXPECT_TRUE(gradients_match([](const Vs& v) { return maximum(v[0], v[1] - 1.25); }, {a, b})) << "maximum";
    EXPECT_TRUE(gradients_match([](const Vs& v) { return minimum(v[0], v[1] - 1.25); }, {a, b})) << "minimum";
    EXPECT_TRUE(gradients_match([](const Vs& v) { return where(v[0] > 0.0, v[0] * 3.0, v[1]); }, {a, b})) << "where";
  }
}

TEST(AutogradGradients, ScalarsOnEitherSideAndTensorsBeside) {
  const Tensor<double> a = rand_t(Shape{2, 3}, 200, 0.5, 2), t = rand_t(Shape{3}, 201, 0.5, 2);
  EXPECT_TRUE(gradients_match([](const Vs& v) { return 2.0 + v[0]; }, {a}));
  EXPECT_TRUE(gradients_match([](const Vs& v) { return 2.0 - v[0]; }, {a}));
  EXPECT_TRUE(gradients_match([](const Vs& v) { return 2.0 * v[0] * 3.0; }, {a}));
  EXPECT_TRUE(gradients_match([](const Vs& v) { return 2.0 / v[0]; }, {a}));
  EXPECT_TRUE(gradients_match([](const Vs& v) { return v[0] / 4.0 - 1.0; }, {a}));
  EXPECT_TRUE(gradients_match([](const Vs& v) { return v[0].pow(3.0); }, {a}));
  EXPECT_TRUE(gradients_match([](const Vs& v) { return pow(2.0, v[0]); }, {a}));
  EXPECT_TRUE(gradients_match([](const Vs& v) { return -v[0]; }, {a}));
  EXPECT_TRUE(gradients_match([&](const Vs& v) { return v[0] * t - t / v[0]; }, {a}));
  EXPECT_TRUE(gradients_match([](const Vs& v) { return where(v[0] > 1.0, v[0], 0.0); }, {a}));
  EXPECT_TRUE(gradients_match([](const Vs& v) { return where(v[0] > 1.0, -1.0, v[0] * v[0]); }, {a}));
  EXPECT_TRUE(gradients_match([](const Vs& v) { return maximum(v[0], 1.2); }, {a}));
}

// A tie shares the gradient equally, as PyTorch's maximum does.
TEST(AutogradGradients, MaximumTiesShareTheGradient) {
  V a(Tensor<double>::from_vector(Shape{2}, {1, 2}), true), b(Tensor<double>::from_vector(Shape{2}, {1, 3}), true);
  maximum(a, b).sum().backward();
  EXPECT_TRUE(all_near(a.grad(), std::vector<double>{0.5, 0}, 0));
  EXPECT_TRUE(all_near(b.grad(), std::vector<double>{0.5, 1}, 0));
}

TEST(AutogradGradients, UnaryOps) {
  const Tensor<double> x = rand_t(Shape{3, 4}, 300, -2, 2), positive = rand_t(Shape{3, 4}, 301, 0.2, 2);
  Tensor<double> away = x;  // away from the kinks of abs, relu and clamp
  for (std::int64_t i = 0; i < away.numel(); ++i)
    if (std::abs(away[i]) < 0.05 || std::abs(std::abs(away[i]) - 1) < 0.05) away[i] += 0.2;
  EXPECT_TRUE(gradients_match([](const Vs& v) { return neg(v[0]); }, {x})) << "neg";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return exp(v[0]); }, {x})) << "exp";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return log(v[0]); }, {positive})) << "log";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return sqrt(v[0]); }, {positive})) << "sqrt";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return abs(v[0]); }, {away})) << "abs";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return relu(v[0]); }, {away})) << "relu";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return sigmoid(v[0]); }, {x})) << "sigmoid";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return tanh(v[0]); }, {x})) << "tanh";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return clamp(v[0], -1, 1); }, {away})) << "clamp";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return sign(v[0]) * v[0]; }, {away})) << "sign";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return v[0].exp().log().sqrt(); }, {positive})) << "members";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return v[0].abs().relu().sigmoid().tanh(); }, {away})) << "members";
}

TEST(AutogradGradients, ReductionsOverEachDimension) {
  const Tensor<double> x = rand_t(Shape{2, 3, 4}, 400, -2, 2);
  const std::vector<ops::Dims> dim_sets = {ops::Dims(0), ops::Dims(1), ops::Dims(2), ops::Dims(-1), ops::Dims{0, 2},
                                           ops::Dims{}};
  for (const ops::Dims& dims : dim_sets) {
    for (bool keepdim : {false, true}) {
      SCOPED_TRACE("dims " + std::to_string(dims.list().size()) + " first " +
                   (dims.all() ? std::string("all") : std::to_string(dims.list()[0])) + " keepdim " + std::to_string(keepdim));
      EXPECT_TRUE(gradients_match([&](const Vs& v) { return sum(v[0], dims, keepdim); }, {x})) << "sum";
      EXPECT_TRUE(gradients_match([&](const Vs& v) { return mean(v[0], dims, keepdim); }, {x})) << "mean";
      EXPECT_TRUE(gradients_match([&](const Vs& v) { return amax(v[0], dims, keepdim); }, {x})) << "amax";
      EXPECT_TRUE(gradients_match([&](const Vs& v) { return amin(v[0], dims, keepdim); }, {x})) << "amin";
      EXPECT_TRUE(gradients_match([&](const Vs& v) { return logsumexp(v[0], dims, keepdim); }, {x})) << "logsumexp";
    }
  }
  for (int d : {0, 1, 2, -1}) {
    SCOPED_TRACE("dim " + std::to_string(d));
    EXPECT_TRUE(gradients_match([&](const Vs& v) { return softmax(v[0], d); }, {x})) << "softmax";
    EXPECT_TRUE(gradients_match([&](const Vs& v) { return log_softmax(v[0], d); }, {x})) << "log_softmax";
    EXPECT_TRUE(gradients_match([&](const Vs& v) { return v[0].softmax(d) * v[0].log_softmax(d); }, {x})) << "members";
  }
  EXPECT_TRUE(gradients_match([](const Vs& v) { return v[0].sum(1).mean() + v[0].amax(0).amin() + v[0].logsumexp(); }, {x}));
}

// amax over values with a tie: the tied elements share the gradient equally (PyTorch's amax).
TEST(AutogradGradients, AmaxTiesShareTheGradient) {
  V x(Tensor<double>::from_vector(Shape{2, 3}, {1, 4, 4, 2, 0, 1}), true);
  amax(x, 1).sum().backward();
  EXPECT_TRUE(all_near(x.grad(), std::vector<double>{0, 0.5, 0.5, 1, 0, 0}, 0));
}

TEST(AutogradGradients, MatrixProducts) {
  struct Case {
    Shape a, b;
  };
  std::uint64_t seed = 500;
  for (const Case& c : {Case{Shape{3, 4}, Shape{4, 2}}, Case{Shape{2, 3, 4}, Shape{2, 4, 5}}, Case{Shape{2, 3, 4}, Shape{4, 5}},
                        Case{Shape{3, 4}, Shape{2, 4, 5}}, Case{Shape{2, 1, 3, 4}, Shape{3, 4, 2}}, Case{Shape{4}, Shape{4, 3}},
                        Case{Shape{3, 4}, Shape{4}}, Case{Shape{4}, Shape{4}}, Case{Shape{4}, Shape{2, 4, 3}}}) {
    SCOPED_TRACE(c.a.str() + " @ " + c.b.str());
    EXPECT_TRUE(gradients_match([](const Vs& v) { return matmul(v[0], v[1]); }, {rand_t(c.a, ++seed), rand_t(c.b, ++seed)}));
  }
  // One side constant (a Tensor beside a Var).
  const Tensor<double> m = rand_t(Shape{4, 3}, 520);
  EXPECT_TRUE(gradients_match([&](const Vs& v) { return matmul(v[0], m); }, {rand_t(Shape{2, 4}, 521)}));
  EXPECT_TRUE(gradients_match([&](const Vs& v) { return matmul(m, v[0]); }, {rand_t(Shape{3, 2}, 522)}));
}

TEST(AutogradGradients, ViewsSlicesAndJoins) {
  const Tensor<double> x = rand_t(Shape{2, 3, 4}, 600), y = rand_t(Shape{2, 3, 4}, 601);
  EXPECT_TRUE(gradients_match([](const Vs& v) { return reshape(v[0], {4, -1}) * 2.0; }, {x})) << "reshape";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return v[0].reshape({6, 4}).exp(); }, {x})) << "reshape member";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return squeeze(unsqueeze(v[0], 1) * 2.0, 1); }, {x})) << "(un)squeeze";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return contiguous(v[0] * v[0]); }, {x})) << "contiguous";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return permute(v[0], {2, 0, 1}) * 3.0; }, {x})) << "permute";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return v[0].permute({-1, 1, 0}).exp(); }, {x})) << "permute member";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return transpose(v[0], 0, 2).exp(); }, {x})) << "transpose";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return broadcast_to(v[0], Shape{5, 2, 3, 4}); }, {x})) << "broadcast_to";
  EXPECT_TRUE(gradients_match([](const Vs& v) { return broadcast_to(slice(v[0], 2, 0, 1), Shape{2, 3, 4}); }, {x}));
  for (int d = 0; d < 3; ++d) {
    SCOPED_TRACE("dim " + std::to_string(d));
    EXPECT_TRUE(gradients_match([&](const Vs& v) { return slice(v[0], d, 1, x.dim(d)); }, {x})) << "slice";
    EXPECT_TRUE(gradients_match([&](const Vs& v) { return slice(v[0], d, 0, x.dim(d), 2).exp(); }, {x})) << "slice step";
    // Overlapping slices of one input add up.
    EXPECT_TRUE(gradients_match([&](const Vs& v) { return slice(v[0], d, 0, 2) * slice(v[0], d, -2, x.dim(d)); }, {x}));
    EXPECT_TRUE(gradients_match([&](const Vs& v) { return cat({v[0], v[1] * 2.0, v[0]}, d); }, {x, y})) << "cat";
    EXPECT_TRUE(gradients_match([&](const Vs& v) { return stack({v[0], v[1]}, d).exp(); }, {x, y})) << "stack";
  }
  EXPECT_TRUE(gradients_match([](const Vs& v) { return stack({v[0], v[1]}, -1); }, {x, y})) << "stack -1";
}

// A composition: layer normalisation and a softmax attention, all through the engine.
TEST(AutogradGradients, Compositions) {
  const Tensor<double> x = rand_t(Shape{2, 3, 5}, 700), gamma = rand_t(Shape{5}, 701), beta = rand_t(Shape{5}, 702);
  EXPECT_TRUE(gradients_match(
      [](const Vs& v) {
        const V mu = v[0].mean(-1, true);
        const V centred = v[0] - mu;
        const V var = (centred * centred).mean(-1, true);
        return centred / sqrt(var + 1e-5) * v[1] + v[2];
      },
      {x, gamma, beta}));
  const Tensor<double> q = rand_t(Shape{2, 4, 3}, 703), k = rand_t(Shape{2, 5, 3}, 704), val = rand_t(Shape{2, 5, 6}, 705);
  EXPECT_TRUE(gradients_match(
      [](const Vs& v) { return matmul(softmax(matmul(v[0], transpose(v[1], -2, -1)) / std::sqrt(3.0), -1), v[2]); },
      {q, k, val}));
}

// ---------------------------------------------------------------------------------------------
// Bad shapes: every op on Vars names the op and both shapes (the same checks as hnn::ops).
// ---------------------------------------------------------------------------------------------

TEST(AutogradErrors, EveryOpNamesBadShapes) {
  const V a(Tensor<double>(Shape{2, 3}), true), b(Tensor<double>(Shape{4, 3}), true);
  const std::vector<std::string> both = {"(2, 3)", "(4, 3)"};
  const auto names = [&](const char* op) {
    std::vector<std::string> parts = both;
    parts.push_back(op);
    return parts;
  };
  EXPECT_TRUE(throws_naming([&] { a + b; }, names("add")));
  EXPECT_TRUE(throws_naming([&] { a - b; }, names("sub")));
  EXPECT_TRUE(throws_naming([&] { a * b; }, names("mul")));
  EXPECT_TRUE(throws_naming([&] { a / b; }, names("div")));
  EXPECT_TRUE(throws_naming([&] { pow(a, b); }, names("pow")));
  EXPECT_TRUE(throws_naming([&] { maximum(a, b); }, names("maximum")));
  EXPECT_TRUE(throws_naming([&] { minimum(a, b); }, names("minimum")));
  EXPECT_TRUE(throws_naming([&] { a < b; }, names("lt")));
  EXPECT_TRUE(throws_naming([&] { a <= b; }, names("le")));
  EXPECT_TRUE(throws_naming([&] { a > b; }, names("gt")));
  EXPECT_TRUE(throws_naming([&] { a >= b; }, names("ge")));
  EXPECT_TRUE(throws_naming([&] { eq(a, b); }, names("eq")));
  EXPECT_TRUE(throws_naming([&] { ne(a, b); }, names("ne")));
  EXPECT_TRUE(throws_naming([&] { where(a, a, b); }, names("where")));
  EXPECT_TRUE(throws_naming([&] { a + Tensor<double>(Shape{4, 3}); }, names("add")));
  EXPECT_TRUE(throws_naming([&] { clamp(a, 1, -1); }, {"clamp", "lower bound"}));
  EXPECT_TRUE(throws_naming([&] { matmul(a, b); }, {"matmul", "(2, 3)", "(4, 3)", "3 and 4"}));
  EXPECT_TRUE(throws_naming([&] { sum(a, 2); }, {"sum", "dimension 2", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { mean(a, -3); }, {"mean", "dimension -3", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { amax(a, 3); }, {"amax", "dimension 3"}));
  EXPECT_TRUE(throws_naming([&] { amin(a, {1, 1}); }, {"amin", "named twice"}));
  EXPECT_TRUE(throws_naming([&] { logsumexp(a, 2); }, {"logsumexp", "dimension 2"}));
  EXPECT_TRUE(throws_naming([&] { softmax(a, 2); }, {"softmax", "dimension 2", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { log_softmax(a, 2); }, {"log_softmax", "dimension 2"}));
  EXPECT_TRUE(throws_naming([&] { argmax(a, 2); }, {"argmax", "dimension 2"}));
  EXPECT_TRUE(throws_naming([&] { reshape(a, {4, -1}); }, {"reshape", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { reshape(a, Shape{5}); }, {"reshape", "(2, 3)", "(5)"}));
  EXPECT_TRUE(throws_naming([&] { squeeze(a, 0); }, {"squeeze", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { unsqueeze(a, 4); }, {"unsqueeze", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { permute(a, {0}); }, {"permute", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { transpose(a, 0, 2); }, {"transpose", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { slice(a, 1, 0, 4); }, {"slice", "[0, 4)", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { cat({a, b}, 1); }, {"cat", "(4, 3)", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { stack({a, b}, 0); }, {"stack", "(4, 3)", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { broadcast_to(a, Shape{3, 3}); }, {"broadcast_to", "(2, 3)", "(3, 3)"}));
}

}  // namespace
