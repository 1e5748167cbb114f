// hnn/ops.hpp's elementwise ops on the CPU against their definitions, element by element: every
// binary op over same shapes, every kind of broadcast and scalars on either side; every unary
// op; where; the large-tensor path split between threads; and a sentence naming both shapes
// for every op given shapes that do not broadcast.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "hnn/ops.hpp"
#include "hnn/parallel.hpp"
#include "ops_test_util.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

struct BinaryCase {
  BinaryOp op;
  std::function<double(double, double)> definition;
};

std::vector<BinaryCase> binary_cases() {
  return {
      {BinaryOp::add, [](double a, double b) { return a + b; }},
      {BinaryOp::sub, [](double a, double b) { return a - b; }},
      {BinaryOp::mul, [](double a, double b) { return a * b; }},
      {BinaryOp::div, [](double a, double b) { return a / b; }},
      {BinaryOp::pow, [](double a, double b) { return std::pow(a, b); }},
      {BinaryOp::maximum, [](double a, double b) { return a > b ? a : b; }},
      {BinaryOp::minimum, [](double a, double b) { return a < b ? a : b; }},
      {BinaryOp::eq, [](double a, double b) { return a == b ? 1.0 : 0.0; }},
      {BinaryOp::ne, [](double a, double b) { return a != b ? 1.0 : 0.0; }},
      {BinaryOp::lt, [](double a, double b) { return a < b ? 1.0 : 0.0; }},
      {BinaryOp::le, [](double a, double b) { return a <= b ? 1.0 : 0.0; }},
      {BinaryOp::gt, [](double a, double b) { return a > b ? 1.0 : 0.0; }},
      {BinaryOp::ge, [](double a, double b) { return a >= b ? 1.0 : 0.0; }},
      {BinaryOp::relu_backward, [](double a, double b) { return a > 0 ? b : 0.0; }},
      {BinaryOp::sigmoid_backward, [](double a, double b) { return b * a * (1 - a); }},
      {BinaryOp::tanh_backward, [](double a, double b) { return b * (1 - a * a); }},
  };
}

// Operand values in [0.5, 2) so that pow and div are defined; a few exact ties so that the
// comparisons see equal operands.
template <class T>
Tensor<T> operand(const Shape& shape, Rng& rng) {
  Tensor<T> t = random_values<T>(shape, rng, 0.5, 2.0);
  for (std::int64_t i = 0; i < t.numel(); i += 3) t[i] = T(1);
  return t;
}

template <class T>
std::vector<double> reference(const BinaryCase& c, const Tensor<T>& a, const Tensor<T>& b, const Shape& out) {
  std::vector<double> r;
  for_each_index(out, [&](const std::vector<std::int64_t>& index) {
    r.push_back(c.definition(static_cast<double>(a[broadcast_offset(a.shape(), index)]),
                             static_cast<double>(b[broadcast_offset(b.shape(), index)])));
  });
  return r;
}

const std::vector<std::pair<Shape, Shape>> broadcast_pairs = {
    {Shape{2, 3, 4}, Shape{2, 3, 4}},        // same shapes
    {Shape{2, 3, 4}, Shape{4}},              // a row repeated
    {Shape{4}, Shape{2, 3, 4}},              // on the left
    {Shape{2, 3, 4}, Shape{3, 1}},           // a column, leading dimension missing
    {Shape{2, 1, 4}, Shape{3, 1}},           // both operands grow
    {Shape{5, 1}, Shape{1, 6}},              // outer product
    {Shape{}, Shape{3, 2}},                  // a 0-d tensor
    {Shape{3, 2}, Shape{1}},                 // a one-element tensor
    {Shape{2, 3, 1, 5}, Shape{3, 4, 1}},     // middle dimensions
    {Shape{2, 1, 3, 1, 2}, Shape{2, 1, 2, 1}},
    {Shape{0, 3}, Shape{3}},                 // empty
};

template <class T>
void check_binary_ops(double tolerance) {
  Rng rng(11);
  for (const BinaryCase& c : binary_cases()) {
    for (const auto& [sa, sb] : broadcast_pairs) {
      SCOPED_TRACE(std::string(op_name(c.op)) + " " + sa.str() + " with " + sb.str());
      const Tensor<T> a = operand<T>(sa, rng), b = operand<T>(sb, rng);
      const Tensor<T> out = ops::binary(c.op, a, b);
      const Shape expected_shape = broadcast_shapes(sa, sb, "test");
      ASSERT_EQ(out.shape(), expected_shape);
      EXPECT_TRUE(all_near(out, reference(c, a, b, expected_shape), tolerance));
    }
  }
}

TEST(OpsElementwise, EveryBinaryOpOverEveryBroadcastFloat) { check_binary_ops<float>(1e-6); }
TEST(OpsElementwise, EveryBinaryOpOverEveryBroadcastDouble) { check_binary_ops<double>(1e-14); }

TEST(OpsElementwise, BroadcastResultShapes) {
  EXPECT_EQ(broadcast_shapes(Shape{2, 1, 4}, Shape{3, 1}, "t"), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcast_shapes(Shape{}, Shape{5}, "t"), (Shape{5}));
  EXPECT_EQ(broadcast_shapes(Shape{0, 1}, Shape{1, 7}, "t"), (Shape{0, 7}));
}

template <class T>
void check_scalars(double tolerance) {
  Rng rng(12);
  const Tensor<T> x = operand<T>(Shape{3, 5}, rng);
  for (const BinaryCase& c : binary_cases()) {
    SCOPED_TRACE(op_name(c.op));
    const T s = T(1.5);
    const Tensor<T> scalar = Tensor<T>::full(Shape{}, s);
    EXPECT_TRUE(all_near(ops::binary(c.op, x, s), reference(c, x, scalar, x.shape()), tolerance)) << "tensor op scalar";
    EXPECT_TRUE(all_near(ops::binary(c.op, s, x), reference(c, scalar, x, x.shape()), tolerance)) << "scalar op tensor";
  }
  // The operators, with an int standing for T.
  EXPECT_TRUE(all_near(x + 2, ops::add(x, T(2)), 0));
  EXPECT_TRUE(all_near(2 - x, ops::sub(T(2), x), 0));
  EXPECT_TRUE(all_near(x * x, ops::mul(x, x), 0));
  EXPECT_TRUE(all_near(1 / x, ops::div(T(1), x), 0));
  EXPECT_TRUE(all_near(-x, ops::neg(x), 0));
  EXPECT_TRUE(all_near(x < T(1.2), ops::lt(x, T(1.2)), 0));
  EXPECT_TRUE(all_near(x >= x, ops::ones_like(x), 0));
}

TEST(OpsElementwise, ScalarsOnEitherSideFloat) { check_scalars<float>(1e-6); }
TEST(OpsElementwise, ScalarsOnEitherSideDouble) { check_scalars<double>(1e-14); }

TEST(OpsElementwise, PowOfNegativeBasesWithWholeExponents) {
  const Tensor<double> base = Tensor<double>::from_vector(Shape{4}, {-2, -1.5, 0, 3});
  EXPECT_TRUE(all_near(ops::pow(base, 2.0), std::vector<double>{4, 2.25, 0, 9}, 1e-15));
  EXPECT_TRUE(all_near(ops::pow(base, 3.0), std::vector<double>{-8, -3.375, 0, 27}, 1e-15));
  EXPECT_TRUE(std::isnan(ops::pow(base, 0.5)[0]));
}

TEST(OpsElementwise, MaximumAndMinimumPropagateNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor<double> a = Tensor<double>::from_vector(Shape{3}, {nan, 1, 2});
  const Tensor<double> b = Tensor<double>::from_vector(Shape{3}, {0, nan, 3});
  for (const Tensor<double>& r : {ops::maximum(a, b), ops::minimum(a, b), ops::maximum(b, a)}) {
    EXPECT_TRUE(std::isnan(r[0]));
    EXPECT_TRUE(std::isnan(r[1]));
  }
  EXPECT_EQ(ops::maximum(a, b)[2], 3);
  EXPECT_EQ(ops::minimum(a, b)[2], 2);
}

struct UnaryCase {
  UnaryOp op;
  std::function<double(double)> definition;
};

template <class T>
void check_unary(double tolerance) {
  Rng rng(13);
  const std::vector<UnaryCase> cases = {
      {UnaryOp::neg, [](double x) { return -x; }},
      {UnaryOp::exp, [](double x) { return std::exp(x); }},
      {UnaryOp::log, [](double x) { return std::log(x); }},
      {UnaryOp::sqrt, [](double x) { return std::sqrt(x); }},
      {UnaryOp::abs, [](double x) { return std::abs(x); }},
      {UnaryOp::sign, [](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }},
      {UnaryOp::relu, [](double x) { return x > 0 ? x : 0.0; }},
      {UnaryOp::sigmoid, [](double x) { return 1 / (1 + std::exp(-x)); }},
      {UnaryOp::tanh, [](double x) { return std::tanh(x); }},
  };
  for (const UnaryCase& c : cases) {
    SCOPED_TRACE(op_name(c.op));
    // Positive values for log and sqrt; others over both signs, with an exact 0. The length
    // (37) leaves a tail after every packet width.
    const bool positive = c.op == UnaryOp::log || c.op == UnaryOp::sqrt;
    Tensor<T> x = random_values<T>(Shape{37}, rng, positive ? 0.1 : -4, 4);
    if (!positive) x[5] = T(0);
    std::vector<double> r;
    for (std::int64_t i = 0; i < x.numel(); ++i) r.push_back(c.definition(static_cast<double>(x[i])));
    EXPECT_TRUE(all_near(ops::unary(c.op, x), r, tolerance));
  }
  const Tensor<T> x = random_values<T>(Shape{4, 9}, rng, -3, 3);
  std::vector<double> clamped, inside;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const double v = static_cast<double>(x[i]);
    clamped.push_back(std::min(std::max(v, -1.0), 0.5));
    inside.push_back(v >= -1 && v <= 0.5 ? 1.0 : 0.0);
  }
  EXPECT_TRUE(all_near(ops::clamp(x, -1, 0.5), clamped, 0));
  EXPECT_TRUE(all_near(ops::unary(UnaryOp::inside, x, -1, 0.5), inside, 0));
  // The named functions are the unary op.
  EXPECT_TRUE(all_near(ops::exp(x), ops::unary(UnaryOp::exp, x), 0));
  EXPECT_TRUE(all_near(ops::tanh(x), ops::unary(UnaryOp::tanh, x), 0));
  EXPECT_TRUE(all_near(ops::sigmoid(x), ops::unary(UnaryOp::sigmoid, x), 0));
  EXPECT_TRUE(all_near(ops::relu(x), ops::unary(UnaryOp::relu, x), 0));
}

TEST(OpsElementwise, EveryUnaryOpFloat) { check_unary<float>(2e-6); }
TEST(OpsElementwise, EveryUnaryOpDouble) { check_unary<double>(1e-14); }

TEST(OpsElementwise, WhereBroadcastsAllThreeAndTakesScalars) {
  Rng rng(14);
  const Tensor<double> condition = ops::gt(random_values<double>(Shape{3, 1}, rng), 0.0);
  const Tensor<double> a = random_values<double>(Shape{2, 1, 4}, rng), b = random_values<double>(Shape{4}, rng);
  const Tensor<double> out = ops::where(condition, a, b);
  ASSERT_EQ(out.shape(), (Shape{2, 3, 4}));
  std::vector<double> r, r_scalar;
  for_each_index(out.shape(), [&](const std::vector<std::int64_t>& i) {
    const bool c = condition[broadcast_offset(condition.shape(), i)] != 0;
    r.push_back(c ? a[broadcast_offset(a.shape(), i)] : b[broadcast_offset(b.shape(), i)]);
    r_scalar.push_back(c ? a[broadcast_offset(a.shape(), i)] : -7.0);
  });
  EXPECT_TRUE(all_near(out, r, 0));
  EXPECT_TRUE(all_near(ops::where(condition, a, -7.0), r_scalar, 0));
  const Tensor<double> fives = ops::where(condition, 5.0, ops::zeros<double>(Shape{3, 4}));
  for_each_index(fives.shape(), [&](const std::vector<std::int64_t>& i) {
    EXPECT_EQ(fives[flat_offset(fives.shape(), i)], condition[broadcast_offset(condition.shape(), i)] != 0 ? 5.0 : 0.0);
  });
}

TEST(OpsElementwise, FullOnesZerosAndItem) {
  EXPECT_TRUE(all_near(ops::full<float>(Shape{2, 3}, 2.5), std::vector<double>(6, 2.5), 0));
  EXPECT_TRUE(all_near(ops::ones<double>(Shape{4}), std::vector<double>(4, 1), 0));
  EXPECT_EQ(ops::item(ops::full<double>(Shape{}, 3.25)), 3.25);
  EXPECT_TRUE(throws_naming([] { ops::item(ops::ones<double>(Shape{2})); }, {"item", "(2)"}));
}

// Large tensors take the threaded path: the pieces of broadcast rows meet at thread boundaries
// that do not fall on row ends. Same numbers as one thread.
TEST(OpsElementwise, LargeBroadcastsOnTwoThreadsEqualOneThread) {
  Rng rng(15);
  const Tensor<float> a = random_values<float>(Shape{3, 257, 131}, rng), b = random_values<float>(Shape{257, 1}, rng);
  const Tensor<float> c = random_values<float>(Shape{100003}, rng, 0.5, 2);
  const int saved = num_threads();
  set_num_threads(1);
  const Tensor<float> one_sum = ops::add(a, b), one_pow = ops::pow(c, 1.5f), one_exp = ops::exp(c);
  const Tensor<float> one_where = ops::where(ops::gt(a, 0.0f), a, b);
  set_num_threads(2);
  const Tensor<float> two_sum = ops::add(a, b), two_pow = ops::pow(c, 1.5f), two_exp = ops::exp(c);
  const Tensor<float> two_where = ops::where(ops::gt(a, 0.0f), a, b);
  set_num_threads(saved);
  EXPECT_TRUE(all_near(two_sum, one_sum, 0));
  EXPECT_TRUE(all_near(two_pow, one_pow, 0));
  EXPECT_TRUE(all_near(two_exp, one_exp, 0));
  EXPECT_TRUE(all_near(two_where, one_where, 0));
  std::vector<double> r;
  for_each_index(a.shape(), [&](const std::vector<std::int64_t>& i) {
    r.push_back(static_cast<double>(a[flat_offset(a.shape(), i)]) + b[broadcast_offset(b.shape(), i)]);
  });
  EXPECT_TRUE(all_near(two_sum, r, 1e-6));
}

// Outputs of 16 MB and more are written with non-temporal stores (kernels/cpu/elementwise.hpp):
// the same numbers, also where the output does not start on a packet boundary (scalar head)
// or end on one (scalar tail), on one and two threads.
TEST(OpsElementwise, LargeOutputsStreamedToMemoryHoldTheSameNumbers) {
  Rng rng(17);
  const std::int64_t n = (std::int64_t{16} << 20) / sizeof(float) + 37;
  const Tensor<float> a = random_values<float>(Shape{n}, rng), b = random_values<float>(Shape{n}, rng);
  Tensor<float> out(Shape{n + 1});
  const StridedLoop<3> loop = make_loop<3>(Shape{n}, {contiguous_strides(Shape{n}), contiguous_strides(Shape{n}),
                                                        contiguous_strides(Shape{n})});
  const int saved = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (std::int64_t shift : {0, 1}) {
      SCOPED_TRACE(std::to_string(threads) + " threads, output shifted by " + std::to_string(shift));
      float* o = out.data() + shift;
      hnn::binary(cpu{}, BinaryOp::add, loop, o, a.data(), 0.0f, b.data(), 0.0f);
      std::int64_t wrong = 0;
      for (std::int64_t i = 0; i < n; ++i) wrong += o[i] != a[i] + b[i];
      EXPECT_EQ(wrong, 0);
      hnn::unary(cpu{}, UnaryOp::exp, n, a.data(), o);
      // Below the threshold: ordinary stores. (A scalar tail's exp may round differently from
      // the packet one, hence the tolerance.)
      const Tensor<float> small = ops::exp(a.slice(0, 1000));
      for (std::int64_t i = 0; i < 1000; ++i) ASSERT_NEAR(o[i], small[i], 2e-7f * small[i]) << i;
      for (std::int64_t i = n - 40; i < n; ++i) ASSERT_NEAR(o[i], std::exp(a[i]), 2e-7f * std::exp(a[i])) << i;
    }
  }
  set_num_threads(saved);
}

TEST(OpsElementwise, BinaryIntoReusesStorage) {
  Rng rng(16);
  Tensor<double> a = random_values<double>(Shape{4, 5}, rng);
  const Tensor<double> b = random_values<double>(Shape{5}, rng);
  const Tensor<double> expected = ops::add(a, b);
  const double* storage = a.data();
  ops::binary_into(BinaryOp::add, a, b, a);
  EXPECT_EQ(a.data(), storage);
  EXPECT_TRUE(all_near(a, expected, 0));
}

// Every binary op, every overload, on shapes that do not broadcast: one sentence naming the op
// and both shapes.
TEST(OpsElementwise, ShapesThatDoNotBroadcastAreNamed) {
  const Tensor<float> a(Shape{2, 3}), b(Shape{4, 3});
  for (const BinaryCase& c : binary_cases()) {
    SCOPED_TRACE(op_name(c.op));
    EXPECT_TRUE(throws_naming([&] { ops::binary(c.op, a, b); }, {op_name(c.op), "(2, 3)", "(4, 3)", "2 against 4"}));
  }
  EXPECT_TRUE(throws_naming([&] { (void)(a + b); }, {"add", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(throws_naming([&] { (void)(a - b); }, {"sub", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(throws_naming([&] { (void)(a * b); }, {"mul", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(throws_naming([&] { (void)(a / b); }, {"div", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::pow(a, b); }, {"pow", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::maximum(a, b); }, {"maximum", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::minimum(a, b); }, {"minimum", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(throws_naming([&] { (void)(a < b); }, {"lt", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::eq(a, b); }, {"eq", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::where(a, a, b); }, {"where", "(2, 3)", "(4, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::where(Tensor<float>(Shape{5}), a, a); }, {"where", "(5)", "(2, 3)"}));
  EXPECT_TRUE(throws_naming([&] { ops::clamp(a, 1, 0); }, {"clamp", "lower bound"}));
  const Tensor<float> c(Shape{3, 1, 2}), d(Shape{3, 4, 3});
  EXPECT_TRUE(throws_naming([&] { ops::add(c, d); }, {"(3, 1, 2)", "(3, 4, 3)", "dimension 2"}));
}

}  // namespace
