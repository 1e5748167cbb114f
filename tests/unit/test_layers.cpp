// Each layer's forward on small hand-computed cases, and its backward against finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "gradient_check.hpp"
#include "hnn/kernels/sgd.hpp"
#include "hnn/loss.hpp"
#include "hnn/model/sequential.hpp"

using namespace hnn;
using hnn::testing::expect_gradients_match;
using hnn::testing::random_tensor;
using hnn::testing::randomize_parameters;

namespace {

Tensor<double> iota_tensor(const Shape& shape, double start = 1) {
  Tensor<double> t(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = start + static_cast<double>(i);
  return t;
}

std::vector<double> values(const Tensor<double>& t) { return t.to_vector(); }

}  // namespace

TEST(AvgPool2d, SeedExampleFourByFour) {
  AvgPool2dLayer<double, cpu> pool(AvgPool2d(2, 2));
  const Tensor<double>& y = pool.forward(iota_tensor(Shape{1, 1, 4, 4}));
  EXPECT_EQ(y.shape(), Shape({1, 1, 2, 2}));
  EXPECT_EQ(values(y), (std::vector<double>{3.5, 5.5, 11.5, 13.5}));
}

TEST(AvgPool2d, OverlappingWindowsWithStrideOne) {
  AvgPool2dLayer<double, cpu> pool(AvgPool2d(3, 1));
  const Tensor<double>& y = pool.forward(iota_tensor(Shape{1, 1, 4, 4}));
  // Windows centred on 6, 7, 10, 11 of the 1..16 grid: the mean equals the centre.
  EXPECT_EQ(values(y), (std::vector<double>{6, 7, 10, 11}));
}

TEST(MaxPool2d, PicksTheLargestOfEachWindow) {
  MaxPool2dLayer<double, cpu> pool(MaxPool2d(2));
  Tensor<double> x = iota_tensor(Shape{1, 2, 4, 4});
  x.at(0, 1, 0, 0) = 100;  // top-left window of the second channel
  EXPECT_EQ(values(pool.forward(x)), (std::vector<double>{6, 8, 14, 16, 100, 24, 30, 32}));
}

TEST(Conv2d, D2lCrossCorrelationExample) {
  // d2l's corr2d: X = [[0,1,2],[3,4,5],[6,7,8]], K = [[0,1],[2,3]] -> [[19,25],[37,43]].
  Conv2dLayer<double, cpu> conv(Conv2d(1, 1, 2));
  auto params = conv.parameters();
  *params[0].value = iota_tensor(Shape{1, 1, 2, 2}, 0);
  params[1].value->at(0) = 0;
  EXPECT_EQ(values(conv.forward(iota_tensor(Shape{1, 1, 3, 3}, 0))), (std::vector<double>{19, 25, 37, 43}));
}

TEST(Conv2d, ZeroPaddingStrideAndBias) {
  Conv2dLayer<double, cpu> conv(Conv2d(1, 1, 3).padding(1));
  auto params = conv.parameters();
  *params[0].value = Tensor<double>::full(Shape{1, 1, 3, 3}, 1.0);
  params[1].value->at(0) = 0.5;
  // Sum of the ones that each 3x3 window covers inside a padded 3x3 image of ones.
  EXPECT_EQ(values(conv.forward(Tensor<double>::full(Shape{1, 1, 3, 3}, 1.0))),
            (std::vector<double>{4.5, 6.5, 4.5, 6.5, 9.5, 6.5, 4.5, 6.5, 4.5}));

  Conv2dLayer<double, cpu> strided(Conv2d(1, 1, 3).padding(1).stride(2));
  auto sp = strided.parameters();
  *sp[0].value = Tensor<double>::full(Shape{1, 1, 3, 3}, 1.0);
  sp[1].value->at(0) = 0;
  EXPECT_EQ(values(strided.forward(Tensor<double>::full(Shape{1, 1, 3, 3}, 1.0))),
            (std::vector<double>{4, 4, 4, 4}));
}

TEST(Conv2d, SumsOverInputChannelsPerOutputChannel) {
  Conv2dLayer<double, cpu> conv(Conv2d(2, 2, 1));
  auto params = conv.parameters();
  *params[0].value = Tensor<double>::from_vector(Shape{2, 2, 1, 1}, {1, 10, -1, 0});
  *params[1].value = Tensor<double>::from_vector(Shape{2}, {0, 100});
  // Input channels [1, 2] and [3, 4] (1x2 images).
  const Tensor<double> x = Tensor<double>::from_vector(Shape{1, 2, 1, 2}, {1, 2, 3, 4});
  EXPECT_EQ(values(conv.forward(x)), (std::vector<double>{31, 42, 99, 98}));
}

TEST(Sigmoid, KnownValues) {
  SigmoidLayer<double, cpu> s(Sigmoid{});
  const auto y = values(s.forward(Tensor<double>::from_vector(Shape{3}, {0, std::log(3.0), -std::log(3.0)})));
  EXPECT_DOUBLE_EQ(y[0], 0.5);
  EXPECT_DOUBLE_EQ(y[1], 0.75);
  EXPECT_DOUBLE_EQ(y[2], 0.25);
}

TEST(ReLU, ClampsNegativesToZero) {
  ReLULayer<double, cpu> r(ReLU{});
  EXPECT_EQ(values(r.forward(Tensor<double>::from_vector(Shape{4}, {-2, 0, 0.5, 3}))),
            (std::vector<double>{0, 0, 0.5, 3}));
}

TEST(Linear, ComputesXWTransposePlusBias) {
  LinearLayer<double, cpu> fc(Linear(2, 3));
  auto params = fc.parameters();
  *params[0].value = Tensor<double>::from_vector(Shape{3, 2}, {1, 2, 3, 4, 5, 6});
  *params[1].value = Tensor<double>::from_vector(Shape{3}, {1, 0, -1});
  const Tensor<double> x = Tensor<double>::from_vector(Shape{2, 2}, {1, 1, 2, -1});
  EXPECT_EQ(values(fc.forward(x)), (std::vector<double>{4, 7, 10, 1, 2, 3}));
}

TEST(Flatten, KeepsTheBatchAndJoinsTheRest) {
  FlattenLayer<double, cpu> f(Flatten{});
  const Tensor<double> x = iota_tensor(Shape{2, 3, 2, 2});
  const Tensor<double>& y = f.forward(x);
  EXPECT_EQ(y.shape(), Shape({2, 12}));
  EXPECT_EQ(y.data(), x.data());  // a view, not a copy
  EXPECT_EQ(f.backward(y).shape(), x.shape());
}

// ---- backward against central finite differences, double precision, random inputs ----

TEST(Gradients, Conv2dPaddedStrided) {
  Rng rng(1);
  Conv2dLayer<double, cpu> conv(Conv2d(2, 3, 3).padding(1).stride(2));
  randomize_parameters(conv, rng);
  expect_gradients_match(conv, random_tensor(Shape{2, 2, 5, 5}, rng), 11);
}

TEST(Gradients, Conv2dLeNetFirstLayerShape) {
  Rng rng(2);
  Conv2dLayer<double, cpu> conv(Conv2d(1, 2, 5).padding(2));
  randomize_parameters(conv, rng);
  expect_gradients_match(conv, random_tensor(Shape{3, 1, 7, 6}, rng), 12);
}

TEST(Gradients, AvgPool2d) {
  Rng rng(3);
  AvgPool2dLayer<double, cpu> pool(AvgPool2d(2, 2));
  expect_gradients_match(pool, random_tensor(Shape{2, 3, 4, 6}, rng), 13);
  AvgPool2dLayer<double, cpu> overlapping(AvgPool2d(3, 1));
  expect_gradients_match(overlapping, random_tensor(Shape{2, 2, 5, 4}, rng), 14);
}

TEST(Gradients, MaxPool2d) {
  Rng rng(4);
  MaxPool2dLayer<double, cpu> pool(MaxPool2d(2, 2));
  // Random values are distinct, so each window's maximum is unique and the function is smooth there.
  expect_gradients_match(pool, random_tensor(Shape{2, 3, 4, 4}, rng), 15);
}

TEST(Gradients, Sigmoid) {
  Rng rng(5);
  SigmoidLayer<double, cpu> s(Sigmoid{});
  expect_gradients_match(s, random_tensor(Shape{4, 7}, rng, -4, 4), 16);
}

TEST(Gradients, ReLU) {
  Rng rng(6);
  ReLULayer<double, cpu> r(ReLU{});
  Tensor<double> x = random_tensor(Shape{5, 6}, rng);
  for (std::int64_t i = 0; i < x.numel(); ++i)
    if (std::abs(x[i]) < 0.05) x[i] = 0.3;  // keep away from the kink, where no derivative exists
  expect_gradients_match(r, x, 17);
}

TEST(Gradients, Linear) {
  Rng rng(7);
  LinearLayer<double, cpu> fc(Linear(7, 4));
  randomize_parameters(fc, rng);
  expect_gradients_match(fc, random_tensor(Shape{3, 7}, rng), 18);
}

TEST(Gradients, FlattenPassesThrough) {
  Rng rng(8);
  FlattenLayer<double, cpu> f(Flatten{});
  expect_gradients_match(f, random_tensor(Shape{2, 2, 3, 2}, rng), 19);
}

TEST(Gradients, FirstLayerSkipsTheInputGradientButKeepsParameterGradients) {
  Rng rng(9);
  Conv2dLayer<double, cpu> with(Conv2d(1, 2, 3)), without(Conv2d(1, 2, 3));
  randomize_parameters(with, rng);
  for (std::size_t p = 0; p < 2; ++p) *without.parameters()[p].value = with.parameters()[p].value->clone();
  without.set_input_gradient(false);
  const Tensor<double> x = random_tensor(Shape{2, 1, 5, 5}, rng);
  const Tensor<double> dy = random_tensor(Shape{2, 2, 3, 3}, rng);
  with.forward(x);
  with.backward(dy);
  without.forward(x);
  EXPECT_TRUE(without.backward(dy).empty());
  EXPECT_EQ(without.parameters()[0].grad->to_vector(), with.parameters()[0].grad->to_vector());
}

TEST(Layers, RejectWrongInputShapesNamingTheLayer) {
  Conv2dLayer<float, cpu> conv(Conv2d(1, 6, 5).padding(2));
  try {
    conv.forward(Tensor<float>(Shape{2, 3, 28, 28}));
    FAIL() << "expected a shape error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("Conv2d(1, 6"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(2, 3, 28, 28)"), std::string::npos) << e.what();
  }
  LinearLayer<float, cpu> fc(Linear(400, 120));
  EXPECT_THROW(fc.forward(Tensor<float>(Shape{2, 576})), std::invalid_argument);
  AvgPool2dLayer<float, cpu> pool(AvgPool2d(2));
  EXPECT_THROW(pool.forward(Tensor<float>(Shape{2, 1, 1, 1})), std::invalid_argument);
  EXPECT_THROW(Conv2d(1, 0, 5), std::invalid_argument);
  EXPECT_THROW(AvgPool2d(-2), std::invalid_argument);
}

TEST(Threads, LinearGivesTheSameResultsOnOneAndTwoThreads) {
  // Each thread sums its own samples' weight gradient and the partial sums are added at the
  // end. Shapes big enough for two threads: padded rows (77 inputs), and a batch too small to
  // give the second thread any sample.
  struct Case {
    std::int64_t batch, in, out;
  };
  for (const Case c : {Case{256, 77, 60}, Case{256, 400, 120}, Case{5, 1000, 300}}) {
    Rng rng(11);
    const Tensor<double> x = random_tensor(Shape{c.batch, c.in}, rng);
    const Tensor<double> dy = random_tensor(Shape{c.batch, c.out}, rng);
    std::vector<std::vector<double>> results;
    for (const int threads : {1, 2}) {
      set_num_threads(threads);
      LinearLayer<double, cpu> fc(Linear(c.in, c.out));
      Rng init(5);
      randomize_parameters(fc, init);
      results.push_back(values(fc.forward(x)));
      results.push_back(values(fc.backward(dy)));
      results.push_back(values(*fc.parameters()[0].grad));
      results.push_back(values(*fc.parameters()[1].grad));
    }
    set_num_threads(1);
    // The weight gradient against its definition, sum over samples of dy^T x.
    const std::vector<double> xs = values(x), dys = values(dy);
    for (std::int64_t o = 0; o < c.out; o += 7)
      for (std::int64_t i = 0; i < c.in; i += 5) {
        double expected = 0;
        for (std::int64_t n = 0; n < c.batch; ++n) expected += dys[n * c.out + o] * xs[n * c.in + i];
        ASSERT_NEAR(results[6][o * c.in + i], expected, 1e-10 * (1 + std::abs(expected)))
            << "batch " << c.batch << ", dW[" << o << "][" << i << "] on two threads";
      }
    for (std::size_t i = 0; i < 4; ++i)
      for (std::size_t j = 0; j < results[i].size(); ++j)
        ASSERT_NEAR(results[i][j], results[i + 4][j], 1e-12 * (1 + std::abs(results[i][j])))
            << "batch " << c.batch << ", result " << i;
  }
}

TEST(Threads, LossAndSgdOnTwoThreadsMatchTheirDefinitions) {
  // The loss splits the batch between the threads and adds their sums; SGD splits large
  // tensors. Both against the formulas, on two threads.
  Rng rng(21);
  const std::int64_t batch = 256, classes = 10;
  const Tensor<double> logits = random_tensor(Shape{batch, classes}, rng, -3, 3);
  Tensor<std::int32_t> labels(Shape{batch});
  for (std::int64_t n = 0; n < batch; ++n) labels.data()[n] = static_cast<std::int32_t>((n * 7) % classes);
  double expected_loss = 0, expected_correct = 0;
  std::vector<double> expected_grad(static_cast<std::size_t>(batch * classes));
  for (std::int64_t n = 0; n < batch; ++n) {
    const double* z = logits.data() + n * classes;
    double sum = 0;
    for (std::int64_t c = 0; c < classes; ++c) sum += std::exp(z[c]);
    expected_loss += std::log(sum) - z[labels.data()[n]];
    expected_correct += (std::max_element(z, z + classes) - z) == labels.data()[n] ? 1 : 0;
    for (std::int64_t c = 0; c < classes; ++c)
      expected_grad[n * classes + c] = (std::exp(z[c]) / sum - (c == labels.data()[n] ? 1 : 0)) / batch;
  }
  set_num_threads(2);
  SoftmaxCrossEntropy<double, cpu> loss;
  const std::vector<double> grad = values(loss.forward_backward(logits, labels));
  EXPECT_NEAR(loss.totals().loss_sum, expected_loss, 1e-9 * expected_loss);
  EXPECT_EQ(loss.totals().correct, expected_correct);
  for (std::size_t i = 0; i < grad.size(); ++i) ASSERT_NEAR(grad[i], expected_grad[i], 1e-14) << "gradient " << i;

  const std::int64_t n = 40000;  // above the size SGD splits
  std::vector<float> param(n), grads(n), velocity(n), expected_param(n), expected_velocity(n);
  for (std::int64_t i = 0; i < n; ++i) {
    param[i] = 0.001f * static_cast<float>(i % 997);
    grads[i] = 0.01f * static_cast<float>((i * 31) % 101) - 0.5f;
    velocity[i] = 0.1f * static_cast<float>(i % 7);
    expected_velocity[i] = 0.9f * velocity[i] + (grads[i] + 0.01f * param[i]);
    expected_param[i] = param[i] - 0.5f * expected_velocity[i];
  }
  const std::int64_t second_step = 2;  // not the buffer's first step (first_step 1): the buffer is used
  sgd_update(cpu{}, n, param.data(), grads.data(), velocity.data(), SgdHyper<float>{0.5f, 0.9f, 0.0f, 0.01f, false},
             &second_step, 1);
  set_num_threads(1);
  for (std::int64_t i = 0; i < n; ++i) {
    ASSERT_FLOAT_EQ(velocity[i], expected_velocity[i]) << "velocity " << i;
    ASSERT_FLOAT_EQ(param[i], expected_param[i]) << "parameter " << i;
  }
}

TEST(Threads, ConvAndPoolGiveTheSameResultsOnOneAndTwoThreads) {
  // The CPU kernels split the batch across threads and sum per-thread partial gradients;
  // the tests otherwise run single-threaded (ctest runs two test processes at once).
  Rng rng(31);
  const Tensor<double> x = random_tensor(Shape{7, 3, 9, 9}, rng);
  const Tensor<double> dy = random_tensor(Shape{7, 4, 9, 9}, rng);
  std::vector<std::vector<double>> results;
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    Conv2dLayer<double, cpu> conv(Conv2d(3, 4, 3).padding(1));
    Rng init(5);
    randomize_parameters(conv, init);
    results.push_back(values(conv.forward(x)));
    results.push_back(values(conv.backward(dy)));
    results.push_back(values(*conv.parameters()[0].grad));
    results.push_back(values(*conv.parameters()[1].grad));
  }
  set_num_threads(1);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < results[i].size(); ++j)
      ASSERT_NEAR(results[i][j], results[i + 4][j], 1e-12 * (1 + std::abs(results[i][j]))) << "result " << i;
}
