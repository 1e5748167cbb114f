// BatchNorm2d/1d, Dropout, Tanh, GlobalAvgPool2d, padded pooling and bias-less
// Conv2d/Linear. Backward against finite differences (double, training mode),
// forward and running statistics against values computed by hand, names, descriptions,
// checkpoints and bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "hnn/io/checkpoint.hpp"
#include "hnn/kernels/batch_norm.hpp"
#include "hnn/kernels/conv2d_act_pool.hpp"
#include "hnn/parallel.hpp"
#include "hnn/model/sequential.hpp"

using namespace hnn;
using hnn::testing::expect_gradients_match;
using hnn::testing::random_tensor;
using hnn::testing::randomize_parameters;

namespace {

template <class D>
void check_layer(const D& description, const Shape& input_shape, std::uint64_t seed, bool random_parameters = true) {
  typename D::template layer<double, cpu> layer(description);
  Rng rng(seed);
  if (random_parameters) randomize_parameters(layer, rng);
  expect_gradients_match(layer, random_tensor(input_shape, rng), seed + 1, 1e-7, description.str());
}

// Dropout's mask changes with the step counter, which each training forward advances: for
// finite differences, every forward here runs at the same step (so sees the same mask).
class FixedStepDropout final : public Layer<double, cpu> {
 public:
  FixedStepDropout(const Dropout& d, std::uint64_t seed, std::int64_t step) : layer_(d), step_(step) {
    layer_.set_seed(seed);
  }
  const Tensor<double>& forward(const Tensor<double>& x) override {
    layer_.set_step(step_ - 1);  // forward advances it to step_
    return layer_.forward(x);
  }
  const Tensor<double>& backward(const Tensor<double>& g) override { return layer_.backward(g); }
  std::int64_t step() const { return layer_.step(); }

 private:
  DropoutLayer<double, cpu> layer_;
  std::int64_t step_;
};

template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Finite differences
// ---------------------------------------------------------------------------------------------

TEST(NormDropoutPoolGradients, BatchNorm2d) {
  check_layer(BatchNorm2d(3), Shape{4, 3, 3, 2}, 11);
  check_layer(BatchNorm2d(2).affine(false).eps(1e-3).momentum(0.3), Shape{3, 2, 2, 2}, 12);
}

TEST(NormDropoutPoolGradients, BatchNorm1d) {
  check_layer(BatchNorm1d(5), Shape{6, 5}, 13);
  check_layer(BatchNorm1d(4).affine(false), Shape{3, 4}, 14);
  check_layer(BatchNorm1d(3), Shape{2, 3, 4}, 15);  // (N, C, L)
}

TEST(NormDropoutPoolGradients, DropoutWithAFixedMask) {
  FixedStepDropout layer(Dropout(0.4), 1234, 7);
  Rng rng(16);
  expect_gradients_match(layer, random_tensor(Shape{3, 4, 5}, rng), 17, 1e-7, "Dropout(p=0.4)");
  EXPECT_EQ(layer.step(), 7);
}

TEST(NormDropoutPoolGradients, Tanh) { check_layer(Tanh(), Shape{3, 2, 4}, 18); }

TEST(NormDropoutPoolGradients, GlobalAvgPool2d) { check_layer(GlobalAvgPool2d(), Shape{2, 3, 4, 5}, 19); }

TEST(NormDropoutPoolGradients, PaddedPools) {
  check_layer(AvgPool2d(3, 2).padding(1), Shape{2, 2, 5, 6}, 20);
  check_layer(AvgPool2d(2, 1).padding(1), Shape{1, 2, 3, 3}, 21);
  check_layer(MaxPool2d(3, 2).padding(1), Shape{2, 2, 5, 6}, 22);
  check_layer(MaxPool2d(3, 1).padding(1), Shape{1, 3, 4, 4}, 23);
}

TEST(NormDropoutPoolGradients, BiaslessConv2dAndLinear) {
  check_layer(Conv2d(2, 3, 3).padding(1).bias(false), Shape{2, 2, 5, 5}, 24);
  check_layer(Conv2d(2, 3, 3).stride(2).bias(false), Shape{2, 2, 7, 6}, 25);
  check_layer(Linear(6, 4).bias(false), Shape{3, 6}, 26);
}

TEST(NormDropoutPoolGradients, FusedBiaslessConvSigmoidAvgPool) {
  Sequential<double, cpu> model(Conv2d(2, 3, 3).bias(false), Sigmoid(), AvgPool2d(2), BatchNorm2d(3), Flatten(),
                                Linear(12, 2).bias(false));
  model.set_input_gradient(true);
  const Shape shape{conv2d_act_pool_min_batch<double>(cpu{}) + 1, 2, 6, 6};  // fused from the crossover on
  EXPECT_NE(model.plan(shape).describe(model.specs()).find("[fused]"), std::string::npos)
      << model.plan(shape).describe(model.specs());
  ASSERT_EQ(model.parameter_names(), (std::vector<std::string>{"0.weight", "3.weight", "3.bias", "5.weight"}));
  Rng rng(27);
  randomize_parameters(model, rng);
  const Tensor<double> x = random_tensor(shape, rng);
  expect_gradients_match(model, x, 28, 1e-7, "fused bias-less model");

  // The fused stage computes what the layers compute one by one.
  const Tensor<double> fused = model.forward(x).clone();
  model.set_fusion(false);
  EXPECT_EQ(model.plan(shape).describe(model.specs()).find("[fused]"), std::string::npos);
  const Tensor<double>& plain = model.forward(x);
  for (std::int64_t i = 0; i < plain.numel(); ++i) EXPECT_NEAR(fused[i], plain[i], 1e-12) << i;
}

TEST(NormDropoutPoolGradients, PaddedPoolIsNotFused) {
  Sequential<double, cpu> model(Conv2d(1, 2, 3), ReLU(), MaxPool2d(2).padding(1));
  const std::string plan = model.plan(Shape{conv2d_act_pool_min_batch<double>(cpu{}), 1, 6, 6}).describe(model.specs());
  EXPECT_EQ(plan.find("[fused]"), std::string::npos) << plan;
}

// ---------------------------------------------------------------------------------------------
// Batch norm by hand
// ---------------------------------------------------------------------------------------------

// x = [[1, 2], [3, 6]] (N = 2, C = 2): channel 0 holds 1, 3 (mean 2, biased var 1, unbiased
// 2), channel 1 holds 2, 6 (mean 4, biased var 4, unbiased 8).
TEST(BatchNormByHand, TrainingRunningStatisticsAndEval) {
  BatchNormLayer<double, cpu, BatchNorm1d> bn(BatchNorm1d(2));
  auto params = bn.parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ((*params[0].value)[0], 1.0);  // weight ones, bias zeros
  EXPECT_EQ((*params[1].value)[1], 0.0);
  (*params[0].value)[0] = 2, (*params[0].value)[1] = 3;   // weight
  (*params[1].value)[0] = 0.5, (*params[1].value)[1] = -1;  // bias
  const Tensor<double> x = Tensor<double>::from_vector(Shape{2, 2}, {1, 2, 3, 6});
  const double eps = 1e-5;

  const Tensor<double>& y = bn.forward(x);
  EXPECT_NEAR(y[0], 2 * (-1 / std::sqrt(1 + eps)) + 0.5, 1e-12);
  EXPECT_NEAR(y[1], 3 * (-2 / std::sqrt(4 + eps)) - 1, 1e-12);
  EXPECT_NEAR(y[2], 2 * (1 / std::sqrt(1 + eps)) + 0.5, 1e-12);
  EXPECT_NEAR(y[3], 3 * (2 / std::sqrt(4 + eps)) - 1, 1e-12);
  auto buffers = bn.buffers();
  ASSERT_EQ(buffers.size(), 2u);
  EXPECT_EQ(buffers[0].name, "running_mean");
  EXPECT_EQ(buffers[1].name, "running_var");
  const Tensor<double>& mean = *buffers[0].value;
  const Tensor<double>& var = *buffers[1].value;
  EXPECT_NEAR(mean[0], 0.2, 1e-15);  // 0.9 * 0 + 0.1 * 2
  EXPECT_NEAR(mean[1], 0.4, 1e-15);
  EXPECT_NEAR(var[0], 1.1, 1e-15);  // 0.9 * 1 + 0.1 * 2 (unbiased)
  EXPECT_NEAR(var[1], 1.7, 1e-15);  // 0.9 * 1 + 0.1 * 8

  bn.forward(x);
  EXPECT_NEAR(mean[0], 0.38, 1e-15);  // 0.9 * 0.2 + 0.1 * 2
  EXPECT_NEAR(mean[1], 0.76, 1e-15);
  EXPECT_NEAR(var[0], 1.19, 1e-15);  // 0.9 * 1.1 + 0.1 * 2
  EXPECT_NEAR(var[1], 2.33, 1e-15);  // 0.9 * 1.7 + 0.1 * 8

  bn.set_training(false);
  const Tensor<double>& e = bn.forward(x);
  EXPECT_NEAR(e[0], 2 * (1 - 0.38) / std::sqrt(1.19 + eps) + 0.5, 1e-12);
  EXPECT_NEAR(e[3], 3 * (6 - 0.76) / std::sqrt(2.33 + eps) - 1, 1e-12);
  EXPECT_NEAR(mean[0], 0.38, 1e-15) << "evaluation must not update the running statistics";
  EXPECT_NEAR(var[1], 2.33, 1e-15);
  // A single sample is fine in evaluation mode.
  bn.forward(Tensor<double>::from_vector(Shape{1, 2}, {1, 2}));
  EXPECT_NEAR(mean[1], 0.76, 1e-15);
  EXPECT_THROW(bn.backward(Tensor<double>::from_vector(Shape{1, 2}, {1, 1})), std::logic_error);

  Rng rng(1);
  bn.reset_parameters(rng);
  EXPECT_EQ(mean[0], 0.0);
  EXPECT_EQ(var[0], 1.0);
  EXPECT_EQ((*params[0].value)[1], 1.0);
  EXPECT_EQ((*params[1].value)[0], 0.0);
}

// (N, C, H, W) = (2, 2, 1, 2): channel 0 holds 1, 2 | 3, 4 (mean 2.5, biased var 1.25,
// unbiased 5/3), channel 1 holds 0, 0 | 0, 4 (mean 1, biased var 3, unbiased 4).
TEST(BatchNormByHand, TwoDimensionalStatisticsOverBatchAndPixels) {
  BatchNormLayer<double, cpu, BatchNorm2d> bn(BatchNorm2d(2).momentum(0.5).affine(false));
  EXPECT_TRUE(bn.parameters().empty());
  const Tensor<double> x = Tensor<double>::from_vector(Shape{2, 2, 1, 2}, {1, 2, 0, 0, 3, 4, 0, 4});
  const Tensor<double>& y = bn.forward(x);
  EXPECT_NEAR(y[0], -1.5 / std::sqrt(1.25 + 1e-5), 1e-12);
  EXPECT_NEAR(y[7], 3 / std::sqrt(3 + 1e-5), 1e-12);
  const auto buffers = bn.buffers();
  EXPECT_NEAR((*buffers[0].value)[0], 1.25, 1e-15);            // 0.5 * 0 + 0.5 * 2.5
  EXPECT_NEAR((*buffers[0].value)[1], 0.5, 1e-15);
  EXPECT_NEAR((*buffers[1].value)[0], 0.5 + 0.5 * 5.0 / 3, 1e-15);  // unbiased
  EXPECT_NEAR((*buffers[1].value)[1], 0.5 + 0.5 * 4, 1e-15);
}

// ---------------------------------------------------------------------------------------------
// Padded pooling and global average pooling by hand
// ---------------------------------------------------------------------------------------------

// The 3x3 input 1..9, windows 3x3 at stride 1 with one pixel of padding.
// The 3x3 input 1..9, windows 3x3 at stride 1 with one pixel of padding.
// The kernels split the batch between threads (each keeping per-channel partial sums): on
// one and two threads, with a batch that splits unevenly and a tensor large enough for a
// parallel region, every output against the formulas, computed here plane by plane.
TEST(BatchNormByHand, KernelsOnOneAndTwoThreadsMatchTheFormulas) {
  const std::int64_t batch = 37, channels = 5, spatial = 13 * 17, count = batch * spatial;
  ASSERT_GE(batch * channels * spatial, detail::batch_norm_parallel_work);  // else one thread runs it all
  Rng rng(23);
  const Tensor<double> x = random_tensor(Shape{batch, channels, spatial}, rng), dy = random_tensor(x.shape(), rng);
  const Tensor<double> weight = random_tensor(Shape{channels}, rng), bias = random_tensor(Shape{channels}, rng);
  const auto at = [&](std::int64_t n, std::int64_t c, std::int64_t k) { return (n * channels + c) * spatial + k; };
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    std::vector<double> running_mean(channels, 0.5), running_var(channels, 2.0), save_mean(channels),
        save_inv_std(channels), grad_weight(channels), grad_bias(channels), relu_grad_weight(channels),
        relu_grad_bias(channels);
    Tensor<double> y(x.shape()), dx(x.shape()), relu_y(x.shape()), relu_dx(x.shape());
    batch_norm_forward_training(cpu{}, batch, channels, spatial, x.data(), weight.data(), bias.data(),
                                running_mean.data(), running_var.data(), 0.1, 1e-5, y.data(), save_mean.data(),
                                save_inv_std.data());
    batch_norm_backward(cpu{}, batch, channels, spatial, x.data(), weight.data(), save_mean.data(), save_inv_std.data(),
                        dy.data(), dx.data(), grad_weight.data(), grad_bias.data());
    batch_norm_relu_forward_training(cpu{}, batch, channels, spatial, x.data(), weight.data(), bias.data(),
                                     static_cast<double*>(nullptr), static_cast<double*>(nullptr), 0.1, 1e-5,
                                     relu_y.data(), save_mean.data(), save_inv_std.data());
    batch_norm_relu_backward(cpu{}, batch, channels, spatial, x.data(), weight.data(), save_mean.data(),
                             save_inv_std.data(), relu_y.data(), dy.data(), relu_dx.data(), relu_grad_weight.data(),
                             relu_grad_bias.data());
    const std::string where = std::to_string(threads) + " thread(s), channel ";
    for (std::int64_t c = 0; c < channels; ++c) {
      double sum = 0, squares = 0;
      for (std::int64_t n = 0; n < batch; ++n)
        for (std::int64_t k = 0; k < spatial; ++k) sum += x[at(n, c, k)];
      const double mean = sum / count;
      for (std::int64_t n = 0; n < batch; ++n)
        for (std::int64_t k = 0; k < spatial; ++k) squares += (x[at(n, c, k)] - mean) * (x[at(n, c, k)] - mean);
      const double inv_std = 1 / std::sqrt(squares / count + 1e-5);
      ASSERT_NEAR(save_mean[c], mean, 1e-12) << where << c;
      ASSERT_NEAR(save_inv_std[c], inv_std, 1e-12 * inv_std) << where << c;
      ASSERT_NEAR(running_mean[c], 0.9 * 0.5 + 0.1 * mean, 1e-12) << where << c;
      ASSERT_NEAR(running_var[c], 0.9 * 2.0 + 0.1 * squares / (count - 1), 1e-12) << where << c;
      // dL/dx = w * inv_std * (g - mean(g) - x_hat * mean(g * x_hat)), g = dy (masked by the
      // ReLU's output for the fused kernels)
      for (const bool relu : {false, true}) {
        const auto g = [&](std::int64_t i) { return !relu || relu_y[i] > 0 ? dy[i] : 0.0; };
        double sum_g = 0, sum_g_xhat = 0;
        for (std::int64_t n = 0; n < batch; ++n)
          for (std::int64_t k = 0; k < spatial; ++k) {
            const std::int64_t i = at(n, c, k);
            const double x_hat = (x[i] - mean) * inv_std, y_expected = x_hat * weight[c] + bias[c];
            ASSERT_NEAR(relu ? relu_y[i] : y[i], relu ? std::max(y_expected, 0.0) : y_expected, 1e-12) << where << c;
            sum_g += g(i);
            sum_g_xhat += g(i) * x_hat;
          }
        ASSERT_NEAR(relu ? relu_grad_bias[c] : grad_bias[c], sum_g, 1e-10) << where << c << (relu ? " relu" : "");
        ASSERT_NEAR(relu ? relu_grad_weight[c] : grad_weight[c], sum_g_xhat, 1e-10) << where << c;
        for (std::int64_t n = 0; n < batch; ++n)
          for (std::int64_t k = 0; k < spatial; ++k) {
            const std::int64_t i = at(n, c, k);
            const double x_hat = (x[i] - mean) * inv_std;
            const double expected = weight[c] * inv_std * (g(i) - sum_g / count - x_hat * sum_g_xhat / count);
            ASSERT_NEAR(relu ? relu_dx[i] : dx[i], expected, 1e-10) << where << c << " sample " << n;
          }
      }
    }
  }
  set_num_threads(1);
}

TEST(PaddedPoolByHand, AverageCountsThePaddingMaxIgnoresIt) {
  Tensor<double> x(Shape{1, 1, 3, 3});
  for (std::int64_t i = 0; i < 9; ++i) x[i] = static_cast<double>(i + 1);
  AvgPool2dLayer<double, cpu> avg(AvgPool2d(3, 1).padding(1));
  const Tensor<double>& a = avg.forward(x);
  ASSERT_EQ(a.shape(), Shape({1, 1, 3, 3}));
  EXPECT_DOUBLE_EQ(a[0], (1 + 2 + 4 + 5) / 9.0);  // count_include_pad: divided by 9, not 4
  EXPECT_DOUBLE_EQ(a[4], 45 / 9.0);
  EXPECT_DOUBLE_EQ(a[5], (2 + 3 + 5 + 6 + 8 + 9) / 9.0);

  for (std::int64_t i = 0; i < 9; ++i) x[i] = -x[i];  // all negative: a zero pad would win a max
  MaxPool2dLayer<double, cpu> max(MaxPool2d(3, 1).padding(1));
  const Tensor<double>& m = max.forward(x);
  ASSERT_EQ(m.shape(), Shape({1, 1, 3, 3}));
  EXPECT_EQ(m.to_vector(), (std::vector<double>{-1, -1, -2, -1, -1, -2, -4, -4, -5}));

  MaxPool2dLayer<double, cpu> strided(MaxPool2d(2).padding(1));  // 3x3 -> 2x2: windows {-1}, {-2,-3}, ...
  EXPECT_EQ(strided.forward(x).to_vector(), (std::vector<double>{-1, -2, -4, -5}));
}

TEST(GlobalAvgPoolByHand, MeanOfEachPlane) {
  Tensor<double> x(Shape{2, 2, 2, 3});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<double>(i);
  GlobalAvgPool2dLayer<double, cpu> gap(GlobalAvgPool2d{});
  const Tensor<double>& y = gap.forward(x);
  ASSERT_EQ(y.shape(), Shape({2, 2, 1, 1}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{2.5, 8.5, 14.5, 20.5}));
}

// ---------------------------------------------------------------------------------------------
// Dropout
// ---------------------------------------------------------------------------------------------

TEST(DropoutLayer, DropsAboutPAndScalesTheRest) {
  const double p = 0.3;
  DropoutLayer<double, cpu> d(Dropout{p});
  d.set_seed(99);
  const Tensor<double> x = Tensor<double>::full(Shape{200, 500}, 1.0);
  const Tensor<double>& y = d.forward(x);
  EXPECT_EQ(d.step(), 1);
  std::int64_t dropped = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    if (y[i] == 0) ++dropped;
    else ASSERT_EQ(y[i], 1.0 / (1.0 - p)) << i;
  }
  EXPECT_NEAR(static_cast<double>(dropped) / static_cast<double>(y.numel()), p, 0.01);

  // Backward applies the forward's mask and scale.
  const Tensor<double> ones = Tensor<double>::full(y.shape(), 1.0);
  const Tensor<double> y_copy = y.clone();
  const Tensor<double>& g = d.backward(ones);
  for (std::int64_t i = 0; i < g.numel(); ++i) ASSERT_EQ(g[i], y_copy[i]) << i;
}

TEST(DropoutLayer, IdentityInEvaluation) {
  DropoutLayer<double, cpu> d(Dropout(0.5));
  d.set_training(false);
  Rng rng(3);
  const Tensor<double> x = random_tensor(Shape{4, 7}, rng);
  const Tensor<double>& y = d.forward(x);
  for (std::int64_t i = 0; i < x.numel(); ++i) EXPECT_EQ(y[i], x[i]);
  EXPECT_EQ(d.step(), 0) << "evaluation does not advance the step";
  // Evaluation keeps nothing for a backward pass, as in every layer (tests/unit/test_inference.cpp).
  EXPECT_THROW(d.backward(x), std::logic_error);
}

TEST(DropoutLayer, MaskIsAFunctionOfSeedAndStep) {
  const Tensor<double> x = Tensor<double>::full(Shape{1000}, 1.0);
  DropoutLayer<double, cpu> a(Dropout(0.5)), b(Dropout(0.5)), c(Dropout(0.5));
  a.set_seed(5), b.set_seed(5), c.set_seed(6);
  const std::vector<double> ya = a.forward(x).to_vector(), yb = b.forward(x).to_vector(),
                            yc = c.forward(x).to_vector();
  EXPECT_EQ(ya, yb) << "same seed, same step: same mask";
  EXPECT_NE(ya, yc) << "another seed: another mask";
  const std::vector<double> ya2 = a.forward(x).to_vector();
  EXPECT_EQ(a.step(), 2);
  EXPECT_NE(ya, ya2) << "the next step: another mask";
  b.set_step(1);  // replays step 2
  EXPECT_EQ(b.forward(x).to_vector(), ya2);
}

TEST(DropoutLayer, SequentialInitSeedReproducesTheMasks) {
  auto run = [](std::uint64_t seed) {
    Sequential<double, cpu> m(Linear(8, 64), Dropout(0.5), ReLU(), Linear(64, 4), Dropout(0.2));
    m.init(seed);
    Tensor<double> x = Tensor<double>::full(Shape{16, 8}, 0.5);
    std::vector<double> out = m.forward(x).to_vector();
    const std::vector<double> second = m.forward(x).to_vector();
    out.insert(out.end(), second.begin(), second.end());
    return out;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

// ---------------------------------------------------------------------------------------------
// Names, descriptions, checkpoints
// ---------------------------------------------------------------------------------------------

TEST(NormDropoutPool, StateDictNamesArePyTorchs) {
  Sequential<float, cpu> m(Conv2d(1, 6, 5).bias(false), BatchNorm2d(6), ReLU(), GlobalAvgPool2d(), Flatten(),
                           Dropout(0.5), Linear(6, 10).bias(false), BatchNorm1d(10).affine(false), Tanh());
  std::vector<std::string> names;
  for (const auto& t : m.state_dict()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                             "6.weight", "7.running_mean", "7.running_var"}));
  EXPECT_EQ(m.parameter_names(), (std::vector<std::string>{"0.weight", "1.weight", "1.bias", "6.weight"}));
  EXPECT_EQ(m.output_shape(Shape{2, 1, 28, 28}), Shape({2, 10}));
}

TEST(NormDropoutPool, DescriptionsPrintAndRoundTrip) {
  EXPECT_EQ(BatchNorm2d(6).str(), "BatchNorm2d(6)");
  EXPECT_EQ(BatchNorm2d(6).eps(1e-3).momentum(0.2).affine(false).str(),
            "BatchNorm2d(6, eps=0.001, momentum=0.2, affine=False)");
  EXPECT_EQ(BatchNorm1d(4).momentum(0.01).str(), "BatchNorm1d(4, momentum=0.01)");
  EXPECT_EQ(Dropout(0.5).str(), "Dropout(p=0.5)");
  EXPECT_EQ(Dropout(0.1).str(), "Dropout(p=0.1)");
  EXPECT_EQ(Tanh().str(), "Tanh()");
  EXPECT_EQ(GlobalAvgPool2d().str(), "GlobalAvgPool2d()");
  EXPECT_EQ(AvgPool2d(2).str(), "AvgPool2d(kernel=2, stride=2)");
  EXPECT_EQ(AvgPool2d(3, 1).padding(1).str(), "AvgPool2d(kernel=3, stride=1, padding=1)");
  EXPECT_EQ(MaxPool2d(3, 2).padding(1).str(), "MaxPool2d(kernel=3, stride=2, padding=1)");
  EXPECT_EQ(Conv2d(1, 6, 5).str(), "Conv2d(1, 6, kernel=5, padding=0, stride=1)");
  EXPECT_EQ(Conv2d(1, 6, 5).bias(false).str(), "Conv2d(1, 6, kernel=5, padding=0, stride=1, bias=False)");
  EXPECT_EQ(Linear(3, 4).str(), "Linear(3, 4)");
  EXPECT_EQ(Linear(3, 4).bias(false).str(), "Linear(3, 4, bias=False)");

  const std::vector<LayerSpec> specs{BatchNorm2d(6).eps(1.2345678901234567e-4).momentum(0.3).affine(false),
                                     BatchNorm1d(3),
                                     Dropout(0.123456789),
                                     Tanh(),
                                     GlobalAvgPool2d(),
                                     AvgPool2d(3, 2).padding(1),
                                     MaxPool2d(5).padding(2),
                                     Conv2d(2, 3, 3).bias(false).padding(1).stride(2),
                                     Conv2d(2, 3, 3),
                                     Linear(3, 4).bias(false),
                                     Linear(3, 4)};
  for (const LayerSpec& s : specs) {
    const LayerSpec back = decode_layer<cpu>(s.kind(), s.sizes());
    EXPECT_EQ(back.str(), s.str());
    EXPECT_EQ(back.sizes(), s.sizes()) << s.str();
  }
  const LayerSpec decoded = decode_layer<cpu>("BatchNorm2d", specs[0].sizes());  // get_if points into it
  const auto* bn = decoded.get_if<BatchNorm2d>();
  ASSERT_NE(bn, nullptr);
  EXPECT_EQ(bn->eps(), 1.2345678901234567e-4);
  EXPECT_EQ(bn->momentum(), 0.3);
  EXPECT_EQ(Conv2d(1, 2, 3).sizes().size(), 6u);
  EXPECT_EQ(Linear(1, 2).sizes().size(), 3u);
  EXPECT_EQ(AvgPool2d(2).sizes(), (std::vector<std::int64_t>{2, 2, 0}));
}

TEST(NormDropoutPool, PreviousReleaseSizesStillDecode) {
  EXPECT_TRUE(Conv2d::from_sizes({1, 6, 5, 2, 1}).bias());
  EXPECT_EQ(Conv2d::from_sizes({1, 6, 5, 2, 1}).str(), Conv2d(1, 6, 5).padding(2).str());
  EXPECT_FALSE(Conv2d::from_sizes({1, 6, 5, 2, 1, 0}).bias());
  EXPECT_TRUE(Linear::from_sizes({3, 4}).bias());
  EXPECT_FALSE(Linear::from_sizes({3, 4, 0}).bias());
  EXPECT_EQ(AvgPool2d::from_sizes({2, 2}).padding(), 0);
  EXPECT_EQ(MaxPool2d::from_sizes({3, 1}).str(), "MaxPool2d(kernel=3, stride=1)");
  EXPECT_EQ(MaxPool2d::from_sizes({3, 2, 1}).padding(), 1);
  EXPECT_THROW(Conv2d::from_sizes({1, 6, 5, 2}), std::invalid_argument);
  EXPECT_THROW(Conv2d::from_sizes({1, 6, 5, 2, 1, 2}), std::invalid_argument);
  EXPECT_THROW(Linear::from_sizes({3}), std::invalid_argument);
  EXPECT_THROW(AvgPool2d::from_sizes({2, 2, 2}), std::invalid_argument);  // padding > kernel / 2
  EXPECT_THROW(BatchNorm2d::from_sizes({3, 2, 0, 0}), std::invalid_argument);
  EXPECT_THROW(Dropout::from_sizes({}), std::invalid_argument);
}

class NormDropoutPoolCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("hnn-layers-ext-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

Sequential<float, cpu> extended_model() {
  return Sequential<float, cpu>(Conv2d(1, 4, 3).padding(1).bias(false), BatchNorm2d(4), ReLU(),
                                MaxPool2d(3, 2).padding(1), AvgPool2d(3, 1).padding(1), Dropout(0.25), Tanh(),
                                Flatten(), Linear(64, 10).bias(false), BatchNorm1d(10).momentum(0.2));
}

TEST_F(NormDropoutPoolCheckpoint, SaveLoadAndLoadModelRoundTrip) {
  auto model = extended_model();
  model.init(3);
  Rng rng(4);
  Tensor<float, cpu> x(Shape{5, 1, 8, 8});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.uniform(-1, 2));
  for (int step = 0; step < 3; ++step) {  // a few SGD steps: non-trivial parameters and running stats
    const Tensor<float, cpu>& y = model.forward(x);
    Tensor<float, cpu> g(y.shape());
    for (std::int64_t i = 0; i < g.numel(); ++i) g[i] = static_cast<float>(rng.uniform(-1, 1));
    model.backward(g);
    for (const auto& p : model.parameters())
      for (std::int64_t i = 0; i < p.value->numel(); ++i) (*p.value)[i] -= 0.1f * (*p.grad)[i];
  }
  const Tensor<float, cpu>& mean = *model.state_dict()[3].value;  // "1.running_mean"
  ASSERT_EQ(model.state_dict()[3].name, "1.running_mean");
  EXPECT_NE(mean[0], 0.0f);
  model.eval();
  const std::vector<float> expected = model.forward(x).to_vector();
  const std::string path = (dir_ / "extended.hnn").string();
  save(model, path);

  auto fresh = extended_model();
  fresh.init(99);
  load(fresh, path);
  auto loaded = load_model<float, cpu>(path);
  EXPECT_EQ(loaded.describe_all(), model.describe_all());
  for (auto* other : {&fresh, &loaded}) {
    ASSERT_EQ(other->state_dict().size(), model.state_dict().size());
    for (std::size_t i = 0; i < model.state_dict().size(); ++i)
      EXPECT_EQ(other->state_dict()[i].value->to_vector(), model.state_dict()[i].value->to_vector())
          << model.state_dict()[i].name;
    other->eval();
    EXPECT_EQ(other->forward(x).to_vector(), expected);
  }
}

// ---------------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------------

TEST(NormDropoutPoolBadInput, MessagesNameTheLayer) {
  auto has = [](const std::string& message, const std::string& part) {
    return message.find(part) != std::string::npos ? ::testing::AssertionSuccess()
                                                   : ::testing::AssertionFailure() << "'" << message << "'";
  };
  EXPECT_TRUE(has(message_of<std::invalid_argument>([] { Dropout(1.0); }), "Dropout: p must be in [0, 1)"));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([] { Dropout(-0.1); }), "Dropout"));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([] { BatchNorm2d(0); }), "BatchNorm2d: num_features"));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([] { BatchNorm1d(-2); }), "BatchNorm1d: num_features"));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([] { BatchNorm2d(3).eps(0); }), "BatchNorm2d: eps"));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([] { BatchNorm2d(3).momentum(1.5); }), "BatchNorm2d: momentum"));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([] { AvgPool2d(3).padding(2); }),
                  "AvgPool2d: padding must be at most half the kernel size"));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([] { MaxPool2d(2).padding(2); }), "MaxPool2d: padding"));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([] { MaxPool2d(2).padding(-1); }), "MaxPool2d: padding"));

  Sequential<float, cpu> bn2(BatchNorm2d(3));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([&] { bn2.forward(Tensor<float, cpu>(Shape{2, 4, 2, 2})); }),
                  "BatchNorm2d(3) expects 3 channels"));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([&] { bn2.forward(Tensor<float, cpu>(Shape{2, 3})); }),
                  "BatchNorm2d(3) expects input of shape (N, C, H, W)"));
  Sequential<float, cpu> bn1(BatchNorm1d(3));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([&] { bn1.forward(Tensor<float, cpu>(Shape{2, 4})); }),
                  "BatchNorm1d(3) expects 3 channels"));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([&] { bn1.forward(Tensor<float, cpu>::zeros(Shape{1, 3})); }),
                  "BatchNorm1d(3): training needs more than one value per channel"));
  Sequential<float, cpu> gap{GlobalAvgPool2d()};
  EXPECT_TRUE(has(message_of<std::invalid_argument>([&] { gap.forward(Tensor<float, cpu>(Shape{2, 3})); }),
                  "GlobalAvgPool2d() expects input of shape (N, C, H, W)"));
  Sequential<float, cpu> pool(MaxPool2d(5).padding(1));
  EXPECT_TRUE(has(message_of<std::invalid_argument>([&] { pool.forward(Tensor<float, cpu>(Shape{1, 1, 2, 2})); }),
                  "MaxPool2d(kernel=5, stride=5, padding=1): input (1, 1, 2, 2) (padded) is smaller"));
}
