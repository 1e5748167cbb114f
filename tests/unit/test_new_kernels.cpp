// The kernels of batch norm, dropout, tanh, global average pooling, padded pooling, and
// convolutions / linear maps without bias, called directly (layers come later): values
// computed by hand or from the defining formula, and backward passes against central finite
// differences in double precision on random inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/init.hpp"
#include "hnn/kernels/batch_norm.hpp"
#include "hnn/kernels/conv2d.hpp"
#include "hnn/kernels/conv2d_act_pool.hpp"
#include "hnn/kernels/dropout.hpp"
#include "hnn/kernels/global_avg_pool.hpp"
#include "hnn/kernels/linear.hpp"
#include "hnn/kernels/pool2d.hpp"
#include "hnn/kernels/tanh.hpp"
#include "hnn/kernels/geometry.hpp"

using namespace hnn;

namespace {

using Vec = std::vector<double>;

Vec random_vector(std::int64_t n, Rng& rng, double low = -1, double high = 1) {
  Vec v(static_cast<std::size_t>(n));
  for (double& x : v) x = rng.uniform(low, high);
  return v;
}

double relative_error(double a, double b) { return std::abs(a - b) / std::max(1.0, std::abs(a) + std::abs(b)); }

// For every element v[i] of `values`: (loss(v + h) - loss(v - h)) / 2h against analytic[i].
void expect_gradient(Vec& values, const std::function<double()>& loss, const Vec& analytic, const std::string& what,
                     double tolerance = 1e-7) {
  ASSERT_EQ(values.size(), analytic.size()) << what;
  const double h = 1e-6;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double saved = values[i];
    values[i] = saved + h;
    const double up = loss();
    values[i] = saved - h;
    const double down = loss();
    values[i] = saved;
    const double numeric = (up - down) / (2 * h);
    ASSERT_LT(relative_error(numeric, analytic[i]), tolerance)
        << what << "[" << i << "]: numeric " << numeric << " vs analytic " << analytic[i];
  }
}

double dot(const Vec& a, const Vec& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// -------------------------------------------------------------------------------------
// Batch norm
// -------------------------------------------------------------------------------------

constexpr double bn_eps = 1e-5, bn_momentum = 0.1;

// BatchNorm1d over 3 samples of 2 features: feature 0 is {1, 2, 3} (mean 2, biased variance
// 2/3, unbiased 1), feature 1 is {0, 4, 8} (mean 4, biased 32/3, unbiased 16).
TEST(BatchNorm, TrainingForwardOnATinyBatchByHand) {
  const Vec x = {1, 0, 2, 4, 3, 8};  // (N=3, C=2)
  const Vec weight = {2, 0.5}, bias = {1, -1};
  Vec running_mean = {0, 0}, running_var = {1, 1}, y(6), mean(2), inv_std(2);
  batch_norm_forward_training(cpu{}, 3, 2, 1, x.data(), weight.data(), bias.data(), running_mean.data(),
                              running_var.data(), bn_momentum, bn_eps, y.data(), mean.data(), inv_std.data());
  EXPECT_DOUBLE_EQ(mean[0], 2);
  EXPECT_DOUBLE_EQ(mean[1], 4);
  EXPECT_NEAR(inv_std[0], 1 / std::sqrt(2.0 / 3 + bn_eps), 1e-12);
  EXPECT_NEAR(inv_std[1], 1 / std::sqrt(32.0 / 3 + bn_eps), 1e-12);
  const double s0 = 1 / std::sqrt(2.0 / 3 + bn_eps), s1 = 1 / std::sqrt(32.0 / 3 + bn_eps);
  const Vec expected = {2 * -1 * s0 + 1, 0.5 * -4 * s1 - 1, 1, -1, 2 * 1 * s0 + 1, 0.5 * 4 * s1 - 1};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(y[i], expected[i], 1e-12) << i;
  // running = 0.9 * running + 0.1 * stat, the variance unbiased.
  EXPECT_NEAR(running_mean[0], 0.2, 1e-15);
  EXPECT_NEAR(running_mean[1], 0.4, 1e-15);
  EXPECT_NEAR(running_var[0], 0.9 * 1 + 0.1 * 1, 1e-15);
  EXPECT_NEAR(running_var[1], 0.9 * 1 + 0.1 * 16, 1e-15);

  // A second step on the same batch.
  batch_norm_forward_training(cpu{}, 3, 2, 1, x.data(), weight.data(), bias.data(), running_mean.data(),
                              running_var.data(), bn_momentum, bn_eps, y.data(), mean.data(), inv_std.data());
  EXPECT_NEAR(running_mean[0], 0.38, 1e-15);
  EXPECT_NEAR(running_mean[1], 0.76, 1e-15);
  EXPECT_NEAR(running_var[0], 1.0, 1e-15);
  EXPECT_NEAR(running_var[1], 0.9 * 2.5 + 0.1 * 16, 1e-14);
}

TEST(BatchNorm, Spatial2dStatisticsArePerChannelOverBatchAndPixels) {
  // (N=2, C=2, 1x2): channel 0 holds {1, 3, 5, 7}, channel 1 {10, 10, 20, 40}.
  const Vec x = {1, 3, 10, 10, 5, 7, 20, 40};
  Vec y(8), mean(2), inv_std(2), running_mean = {0, 0}, running_var = {1, 1};
  batch_norm_forward_training(cpu{}, 2, 2, 2, x.data(), static_cast<const double*>(nullptr),
                              static_cast<const double*>(nullptr), running_mean.data(), running_var.data(),
                              bn_momentum, bn_eps, y.data(), mean.data(), inv_std.data());
  EXPECT_DOUBLE_EQ(mean[0], 4);
  EXPECT_DOUBLE_EQ(mean[1], 20);
  EXPECT_NEAR(inv_std[0], 1 / std::sqrt(5 + bn_eps), 1e-12);    // (9 + 1 + 1 + 9) / 4
  EXPECT_NEAR(inv_std[1], 1 / std::sqrt(150 + bn_eps), 1e-12);  // (100 + 100 + 0 + 400) / 4
  EXPECT_NEAR(running_var[0], 0.9 + 0.1 * 20.0 / 3, 1e-14);
  EXPECT_NEAR(running_var[1], 0.9 + 0.1 * 200, 1e-12);
  // No affine: y = x_hat, so each channel's outputs have mean 0.
  EXPECT_NEAR(y[0] + y[1] + y[4] + y[5], 0, 1e-12);
  EXPECT_NEAR(y[7], 20 / std::sqrt(150 + bn_eps), 1e-12);
}

TEST(BatchNorm, EvaluationUsesAndKeepsTheRunningStatistics) {
  const Vec x = {1, 0, 2, 4, 3, 8}, weight = {2, 0.5}, bias = {1, -1};
  const Vec running_mean = {0.5, -1}, running_var = {4, 0.25};
  const Vec mean_before = running_mean, var_before = running_var;
  Vec y(6);
  batch_norm_forward_eval(cpu{}, 3, 2, 1, x.data(), weight.data(), bias.data(), running_mean.data(),
                          running_var.data(), bn_eps, y.data());
  for (int n = 0; n < 3; ++n)
    for (int c = 0; c < 2; ++c)
      EXPECT_NEAR(y[n * 2 + c], (x[n * 2 + c] - running_mean[c]) / std::sqrt(running_var[c] + bn_eps) * weight[c] + bias[c],
                  1e-12);
  EXPECT_EQ(running_mean, mean_before);
  EXPECT_EQ(running_var, var_before);
  // A single sample is fine in evaluation mode, not in training (as in PyTorch).
  Vec one(2), mean(2), inv_std(2);
  batch_norm_forward_eval(cpu{}, 1, 2, 1, x.data(), weight.data(), bias.data(), running_mean.data(),
                          running_var.data(), bn_eps, one.data());
  EXPECT_THROW(batch_norm_forward_training(cpu{}, 1, 2, 1, x.data(), weight.data(), bias.data(),
                                           static_cast<double*>(nullptr), static_cast<double*>(nullptr), bn_momentum,
                                           bn_eps, one.data(), mean.data(), inv_std.data()),
               std::invalid_argument);
}

void check_batch_norm_gradients(std::int64_t batch, std::int64_t channels, std::int64_t spatial, bool affine,
                                std::uint64_t seed) {
  SCOPED_TRACE("batch " + std::to_string(batch) + ", channels " + std::to_string(channels) + ", spatial " +
               std::to_string(spatial) + (affine ? ", affine" : ", no affine"));
  Rng rng(seed);
  const std::int64_t n = batch * channels * spatial;
  Vec x = random_vector(n, rng, -2, 2), weight = random_vector(channels, rng, 0.5, 1.5),
      bias = random_vector(channels, rng);
  const Vec probe = random_vector(n, rng);
  Vec y(n), mean(channels), inv_std(channels);
  auto forward = [&] {
    batch_norm_forward_training(cpu{}, batch, channels, spatial, x.data(), affine ? weight.data() : nullptr,
                                affine ? bias.data() : nullptr, static_cast<double*>(nullptr),
                                static_cast<double*>(nullptr), bn_momentum, bn_eps, y.data(), mean.data(),
                                inv_std.data());
    return dot(y, probe);
  };
  forward();
  Vec dx(n), dw(channels), db(channels);
  batch_norm_backward(cpu{}, batch, channels, spatial, x.data(), affine ? weight.data() : nullptr, mean.data(),
                      inv_std.data(), probe.data(), dx.data(), affine ? dw.data() : nullptr,
                      affine ? db.data() : nullptr);
  expect_gradient(x, forward, dx, "d/dinput", 1e-6);
  if (affine) {
    expect_gradient(weight, forward, dw, "d/dweight", 1e-6);
    expect_gradient(bias, forward, db, "d/dbias", 1e-6);
  }
}

TEST(BatchNormGradients, OneDimensionalWithAndWithoutAffine) {
  check_batch_norm_gradients(5, 3, 1, true, 11);
  check_batch_norm_gradients(4, 2, 1, false, 12);
}

TEST(BatchNormGradients, TwoDimensionalWithAndWithoutAffine) {
  check_batch_norm_gradients(3, 2, 9, true, 13);
  check_batch_norm_gradients(2, 3, 6, false, 14);
}

// -------------------------------------------------------------------------------------
// Dropout
// -------------------------------------------------------------------------------------

TEST(Dropout, DropsAboutPAndScalesTheRestByOneOverOneMinusP) {
  const std::int64_t n = 200000;
  const double p = 0.3;
  const std::vector<float> x(n, 2.0f);
  std::vector<float> y(n);
  const std::int64_t step = 7;
  dropout_forward(cpu{}, n, x.data(), y.data(), p, 42, &step);
  std::int64_t dropped = 0;
  for (float v : y) {
    if (v == 0) ++dropped;
    else ASSERT_EQ(v, 2.0f * static_cast<float>(1 / (1 - p)));
  }
  // Binomial(n, p): standard deviation ~ 205 elements; allow 5 of them.
  EXPECT_NEAR(static_cast<double>(dropped) / n, p, 0.005);
}

TEST(Dropout, TheMaskIsTheReplayOfAnRngAndChangesWithTheStep) {
  const std::int64_t n = 1000;
  const double p = 0.5;
  const std::uint64_t seed = 2024;
  const Vec x(n, 1.0);
  Vec y(n), again(n), next(n);
  std::int64_t step = 3;
  dropout_forward(cpu{}, n, x.data(), y.data(), p, seed, &step);
  dropout_forward(cpu{}, n, x.data(), again.data(), p, seed, &step);
  EXPECT_EQ(y, again);
  Rng rng(dropout_stream(seed, step));
  for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i] != 0, rng.uniform() >= p) << i;
  ++step;
  dropout_forward(cpu{}, n, x.data(), next.data(), p, seed, &step);
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < n; ++i) differ += (y[i] != 0) != (next[i] != 0);
  EXPECT_GT(differ, n / 4);  // independent masks differ in half the elements
}

TEST(Dropout, ZeroIsTheIdentityAndOneGivesZeros) {
  Rng rng(5);
  const Vec x = random_vector(1000, rng);
  Vec y(1000);
  const std::int64_t step = 0;
  dropout_forward(cpu{}, 1000, x.data(), y.data(), 0.0, 1, &step);
  EXPECT_EQ(y, x);
  dropout_forward(cpu{}, 1000, x.data(), y.data(), 1.0, 1, &step);
  for (double v : y) ASSERT_EQ(v, 0.0);
  dropout_backward(cpu{}, 1000, x.data(), y.data(), 1.0, 1, &step);
  for (double v : y) ASSERT_EQ(v, 0.0);
  EXPECT_THROW(dropout_forward(cpu{}, 1000, x.data(), y.data(), 1.5, 1, &step), std::invalid_argument);
  EXPECT_THROW(dropout_forward(cpu{}, 1000, x.data(), y.data(), -0.1, 1, &step), std::invalid_argument);
}

TEST(DropoutGradients, BackwardAppliesTheForwardMask) {
  Rng rng(21);
  const std::int64_t n = 300, step = 11;
  Vec x = random_vector(n, rng);
  const Vec probe = random_vector(n, rng);
  Vec y(n), dx(n);
  auto loss = [&] {
    dropout_forward(cpu{}, n, x.data(), y.data(), 0.4, 99, &step);
    return dot(y, probe);
  };
  dropout_backward(cpu{}, n, probe.data(), dx.data(), 0.4, 99, &step);
  expect_gradient(x, loss, dx, "d/dinput");
}

// -------------------------------------------------------------------------------------
// Tanh
// -------------------------------------------------------------------------------------

TEST(Tanh, MatchesStdTanhInFloatAndDouble) {
  const std::int64_t n = 4001;
  std::vector<float> xf(n), yf(n);
  Vec xd(n), yd(n);
  for (std::int64_t i = 0; i < n; ++i) xd[i] = xf[i] = static_cast<float>(-10 + 20.0 * i / (n - 1));
  tanh_forward(cpu{}, xf.data(), yf.data(), n);
  tanh_forward(cpu{}, xd.data(), yd.data(), n);
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_NEAR(yd[i], std::tanh(xd[i]), 1e-15) << xd[i];
    ASSERT_NEAR(yf[i], std::tanh(static_cast<double>(xf[i])), 1e-6 * std::max(1e-3, std::abs(yd[i]))) << xf[i];
  }
  EXPECT_EQ(yd[n / 2], 0.0);
}

TEST(TanhGradients, BackwardFromTheOutput) {
  Rng rng(31);
  const std::int64_t n = 257;
  Vec x = random_vector(n, rng, -3, 3);
  const Vec probe = random_vector(n, rng);
  Vec y(n), dx(n);
  auto loss = [&] {
    tanh_forward(cpu{}, x.data(), y.data(), n);
    return dot(y, probe);
  };
  loss();
  tanh_backward(cpu{}, y.data(), probe.data(), dx.data(), n);
  expect_gradient(x, loss, dx, "d/dinput");
}

// -------------------------------------------------------------------------------------
// Global average pooling
// -------------------------------------------------------------------------------------

TEST(GlobalAvgPool, MeanOfEachPlane) {
  const Vec x = {1, 2, 3, 4, 10, 20, 30, 40, -1, 1, -1, 5};  // 3 planes of 2x2
  Vec y(3), dx(12);
  global_avg_pool_forward(cpu{}, 3, 4, x.data(), y.data());
  EXPECT_EQ(y, (Vec{2.5, 25, 1}));
  const Vec dy = {4, -8, 2};
  global_avg_pool_backward(cpu{}, 3, 4, dy.data(), dx.data());
  EXPECT_EQ(dx, (Vec{1, 1, 1, 1, -2, -2, -2, -2, 0.5, 0.5, 0.5, 0.5}));
}

TEST(GlobalAvgPoolGradients, RandomPlanes) {
  Rng rng(41);
  const std::int64_t planes = 2 * 3, pixels = 5 * 7;
  Vec x = random_vector(planes * pixels, rng);
  const Vec probe = random_vector(planes, rng);
  Vec y(planes), dx(planes * pixels);
  auto loss = [&] {
    global_avg_pool_forward(cpu{}, planes, pixels, x.data(), y.data());
    return dot(y, probe);
  };
  global_avg_pool_backward(cpu{}, planes, pixels, probe.data(), dx.data());
  expect_gradient(x, loss, dx, "d/dinput");
}

// -------------------------------------------------------------------------------------
// Padded pooling
// -------------------------------------------------------------------------------------

Pool2dGeometry pool(std::int64_t batch, std::int64_t channels, std::int64_t height, std::int64_t width,
                    std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  Pool2dGeometry g;
  g.batch = batch;
  g.channels = channels;
  g.in_height = height;
  g.in_width = width;
  g.kernel = kernel;
  g.stride = stride;
  g.padding = padding;
  return g;
}

// 3x3 input 1..9, kernel 2, stride 2, padding 1: output 2x2 of windows {1}, {2,3}, {4,7},
// {5,6,8,9}, each divided by 4 for average pooling (count_include_pad=True).
TEST(PaddedPool2d, AverageCountsThePaddingMaxIgnoresIt) {
  const Pool2dGeometry g = pool(1, 1, 3, 3, 2, 2, 1);
  ASSERT_EQ(g.out_height(), 2);
  ASSERT_EQ(g.out_width(), 2);
  const Vec x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  Vec avg(4), max(4);
  std::vector<std::int32_t> argmax(4);
  avg_pool2d_forward(cpu{}, g, x.data(), avg.data());
  EXPECT_EQ(avg, (Vec{0.25, 1.25, 2.75, 7}));
  max_pool2d_forward(cpu{}, g, x.data(), max.data(), argmax.data());
  EXPECT_EQ(max, (Vec{1, 3, 7, 9}));
  EXPECT_EQ(argmax, (std::vector<std::int32_t>{0, 2, 6, 8}));

  // All negative: padding is -infinity for max pooling, not zero.
  Vec negative(9);
  for (int i = 0; i < 9; ++i) negative[i] = -x[i];
  max_pool2d_forward(cpu{}, g, negative.data(), max.data(), argmax.data());
  EXPECT_EQ(max, (Vec{-1, -2, -4, -5}));

  // Backward: the gradient of each window's kept pixels.
  const Vec dy = {4, 8, 12, 16};
  Vec dx(9);
  avg_pool2d_backward(cpu{}, g, dy.data(), dx.data());
  EXPECT_EQ(dx, (Vec{1, 2, 2, 3, 4, 4, 3, 4, 4}));
}

TEST(PaddedPool2d, KernelThreeStrideOnePaddingOneKeepsTheSize) {
  const Pool2dGeometry g = pool(1, 1, 3, 3, 3, 1, 1);
  ASSERT_EQ(g.out_height(), 3);
  const Vec x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  Vec avg(9);
  avg_pool2d_forward(cpu{}, g, x.data(), avg.data());
  EXPECT_DOUBLE_EQ(avg[0], 12.0 / 9);  // 1 + 2 + 4 + 5 over the whole 3x3 window
  EXPECT_DOUBLE_EQ(avg[4], 5);
  EXPECT_DOUBLE_EQ(avg[8], 28.0 / 9);
}

TEST(PaddedPool2d, ValidationFollowsPyTorch) {
  EXPECT_NO_THROW(validate_pool2d(pool(1, 1, 4, 4, 2, 2, 1)));
  EXPECT_NO_THROW(validate_pool2d(pool(1, 1, 4, 4, 3, 1, 1)));
  EXPECT_NO_THROW(validate_pool2d(pool(1, 1, 4, 4, 2, 2, 0)));
  EXPECT_THROW(validate_pool2d(pool(1, 1, 4, 4, 3, 1, 2)), std::invalid_argument);  // 2 > 3 / 2
  EXPECT_THROW(validate_pool2d(pool(1, 1, 4, 4, 2, 2, -1)), std::invalid_argument);
  EXPECT_THROW(validate_pool2d(pool(1, 1, 4, 4, 2, 0, 0)), std::invalid_argument);
  EXPECT_THROW(validate_pool2d(pool(1, 1, 1, 4, 4, 1, 1)), std::invalid_argument);  // 1 + 2 < 4
  try {
    validate_pool2d(pool(1, 1, 4, 4, 3, 1, 2), "MaxPool2d(3, stride=1, padding=2)");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("MaxPool2d(3, stride=1, padding=2)"), std::string::npos) << e.what();
  }
}

void check_padded_pool_gradients(const Pool2dGeometry& g, std::uint64_t seed) {
  SCOPED_TRACE("kernel " + std::to_string(g.kernel) + ", stride " + std::to_string(g.stride) + ", padding " +
               std::to_string(g.padding));
  Rng rng(seed);
  const std::int64_t in_n = g.planes() * g.in_height * g.in_width, out_n = g.planes() * g.out_height() * g.out_width();
  Vec x = random_vector(in_n, rng);
  const Vec probe = random_vector(out_n, rng);
  Vec y(out_n), dx(in_n);
  std::vector<std::int32_t> argmax(out_n);
  auto avg_loss = [&] {
    avg_pool2d_forward(cpu{}, g, x.data(), y.data());
    return dot(y, probe);
  };
  avg_pool2d_backward(cpu{}, g, probe.data(), dx.data());
  expect_gradient(x, avg_loss, dx, "avg d/dinput");
  auto max_loss = [&] {
    max_pool2d_forward(cpu{}, g, x.data(), y.data(), argmax.data());
    return dot(y, probe);
  };
  max_loss();
  max_pool2d_backward(cpu{}, g, probe.data(), argmax.data(), dx.data());
  expect_gradient(x, max_loss, dx, "max d/dinput");
}

TEST(PaddedPool2dGradients, AverageAndMax) {
  check_padded_pool_gradients(pool(2, 2, 5, 6, 3, 2, 1), 51);
  check_padded_pool_gradients(pool(1, 3, 4, 4, 2, 2, 1), 52);  // 2x2 stride 2 padded: not the fast path
  check_padded_pool_gradients(pool(2, 1, 5, 5, 3, 1, 1), 53);
  check_padded_pool_gradients(pool(1, 2, 7, 6, 4, 3, 2), 54);
}

// -------------------------------------------------------------------------------------
// Conv2d and Linear without bias
// -------------------------------------------------------------------------------------

Conv2dGeometry conv(std::int64_t batch, std::int64_t in_channels, std::int64_t size, std::int64_t out_channels,
                    std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  Conv2dGeometry g;
  g.batch = batch;
  g.in_channels = in_channels;
  g.in_height = size;
  g.in_width = size + 1;
  g.out_channels = out_channels;
  g.kernel = kernel;
  g.stride = stride;
  g.padding = padding;
  return g;
}

// No bias must equal a zero bias, and a null grad_bias must leave the other gradients as
// they are. Covers the direct path (stride 1) and the im2col path (stride 2).
TEST(NoBias, Conv2dSkipsTheBiasOnBothPaths) {
  for (const Conv2dGeometry& g : {conv(3, 2, 7, 4, 3, 1, 1), conv(3, 2, 7, 4, 3, 2, 1)}) {
    SCOPED_TRACE("stride " + std::to_string(g.stride));
    Rng rng(61);
    const std::int64_t in_n = g.batch * g.in_channels * g.in_pixels(), out_n = g.batch * g.out_channels * g.out_pixels();
    const Vec x = random_vector(in_n, rng), w = random_vector(g.weight_count(), rng), dy = random_vector(out_n, rng);
    const Vec zero_bias(g.out_channels, 0.0);
    Vec workspace(conv2d_workspace_size(cpu{}, g)), y_zero(out_n), y_none(out_n, 123.0);
    conv2d_forward(cpu{}, g, x.data(), w.data(), zero_bias.data(), y_zero.data(), workspace.data());
    conv2d_forward(cpu{}, g, x.data(), w.data(), static_cast<const double*>(nullptr), y_none.data(), workspace.data());
    EXPECT_EQ(y_none, y_zero);
    Vec dx_with(in_n), dw_with(g.weight_count()), db(g.out_channels), dx_none(in_n), dw_none(g.weight_count());
    conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), dx_with.data(), dw_with.data(), db.data(),
                    workspace.data());
    conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), dx_none.data(), dw_none.data(),
                    static_cast<double*>(nullptr), workspace.data());
    EXPECT_EQ(dx_none, dx_with);
    EXPECT_EQ(dw_none, dw_with);
  }
}

TEST(NoBias, FusedConvActivationPoolSkipsTheBias) {
  const Conv2dGeometry g = conv(5, 2, 8, 3, 3, 1, 1);  // output 8x9
  Pool2dGeometry p = pool(g.batch, g.out_channels, g.out_height(), g.out_width(), 2, 2, 0);
  ASSERT_TRUE(conv2d_act_pool_fits(cpu{}, g, p));
  p.padding = 1;
  EXPECT_FALSE(conv2d_act_pool_fits(cpu{}, g, p));  // the fused kernels have no padded pooling
  p.padding = 0;
  Rng rng(62);
  const std::int64_t in_n = g.batch * g.in_channels * g.in_pixels(), out_n = p.planes() * p.out_height() * p.out_width();
  const Vec x = random_vector(in_n, rng), w = random_vector(g.weight_count(), rng), dy = random_vector(out_n, rng);
  const Vec zero_bias(g.out_channels, 0.0);
  Vec workspace(conv2d_act_pool_workspace_size(cpu{}, g)), act_zero(conv2d_act_pool_activation_size<double>(cpu{}, g)),
      act_none(act_zero.size()), y_zero(out_n), y_none(out_n);
  for (FusedActivation a : {FusedActivation::sigmoid, FusedActivation::relu})
    for (FusedPooling pooling : {FusedPooling::average, FusedPooling::max}) {
      conv2d_act_pool_forward(cpu{}, g, a, pooling, x.data(), w.data(), zero_bias.data(), act_zero.data(),
                              y_zero.data(), workspace.data());
      conv2d_act_pool_forward(cpu{}, g, a, pooling, x.data(), w.data(), static_cast<const double*>(nullptr),
                              act_none.data(), y_none.data(), workspace.data());
      EXPECT_EQ(y_none, y_zero);
      Vec dx_with(in_n), dw_with(g.weight_count()), db(g.out_channels), dx_none(in_n), dw_none(g.weight_count());
      conv2d_act_pool_backward(cpu{}, g, a, pooling, x.data(), w.data(), act_zero.data(), dy.data(), dx_with.data(),
                               dw_with.data(), db.data(), workspace.data());
      conv2d_act_pool_backward(cpu{}, g, a, pooling, x.data(), w.data(), act_none.data(), dy.data(), dx_none.data(),
                               dw_none.data(), static_cast<double*>(nullptr), workspace.data());
      EXPECT_EQ(dx_none, dx_with);
      EXPECT_EQ(dw_none, dw_with);
    }
}

TEST(NoBias, LinearSkipsTheBias) {
  Rng rng(63);
  const std::int64_t batch = 4, in = 7, out = 5;
  const Vec x = random_vector(batch * in, rng), w = random_vector(out * in, rng), dy = random_vector(batch * out, rng);
  const Vec zero_bias(out, 0.0);
  Vec y_zero(batch * out), y_none(batch * out, 123.0);
  linear_forward(cpu{}, batch, in, out, x.data(), w.data(), zero_bias.data(), y_zero.data());
  linear_forward(cpu{}, batch, in, out, x.data(), w.data(), static_cast<const double*>(nullptr), y_none.data());
  EXPECT_EQ(y_none, y_zero);
  Vec dx_with(batch * in), dw_with(out * in), db(out), dx_none(batch * in), dw_none(out * in);
  linear_backward(cpu{}, batch, in, out, x.data(), w.data(), dy.data(), dx_with.data(), dw_with.data(), db.data());
  linear_backward(cpu{}, batch, in, out, x.data(), w.data(), dy.data(), dx_none.data(), dw_none.data(),
                  static_cast<double*>(nullptr));
  EXPECT_EQ(dx_none, dx_with);
  EXPECT_EQ(dw_none, dw_with);
}

}  // namespace
