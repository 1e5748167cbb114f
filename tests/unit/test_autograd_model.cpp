// Models and layers as nodes of the autograd graph (hnn/autograd/model.hpp) and the fused
// cross-entropy node (hnn/autograd/loss.hpp): a LeNet-5 step through net(x) and cross_entropy
// equals the hand-written step bit for bit; input and parameter gradients against finite
// differences; a shared encoder applied twice (one input needing its gradient, one not)
// trained by hnn::SGD and checked against finite differences; batch norm's running statistics
// and dropout's masks when an application runs its forward again; cross_entropy against the
// same loss written with ops; free Vars trained as optimizer parameters.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "../support/lenet5.hpp"
#include "autograd_test_util.hpp"
#include "hnn/autograd.hpp"
#include "hnn/loss.hpp"
#include "hnn/optim.hpp"
#include "hnn/model/sequential.hpp"
#include "ops_test_util.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

using hnn::testing::rand_t;

template <class Model>
void randomize(Model& model, std::uint64_t seed) {
  Rng rng(seed);
  for (auto& p : model.parameters())
    for (std::int64_t i = 0; i < p.value->numel(); ++i) (*p.value)[i] = rng.uniform(-1, 1);
}

// Compares each parameter's gradient (already written) with central differences of `loss`
// (evaluated without recording).
::testing::AssertionResult parameter_gradients_match(const std::vector<Parameter<double, cpu>>& params,
                                                     const std::function<double()>& loss, double tolerance = 1e-7) {
  std::vector<Tensor<double>> analytic;
  for (const auto& p : params) analytic.push_back(p.grad->clone());
  const double h = 1e-6;
  for (std::size_t k = 0; k < params.size(); ++k) {
    Tensor<double>& v = *params[k].value;
    for (std::int64_t i = 0; i < v.numel(); ++i) {
      const double saved = v[i];
      v[i] = saved + h;
      const double up = loss();
      v[i] = saved - h;
      const double down = loss();
      v[i] = saved;
      const double numeric = (up - down) / (2 * h);
      const double a = analytic[k][i];
      if (!(std::abs(numeric - a) / std::max(1.0, std::abs(numeric) + std::abs(a)) < tolerance))
        return ::testing::AssertionFailure() << "parameter " << k << " (" << params[k].name << ") element " << i
                                             << ": numeric " << numeric << ", analytic " << a;
    }
  }
  return ::testing::AssertionSuccess();
}

double no_grad_value(const std::function<Var<double>()>& f) {
  NoGradGuard no_grad;
  return f().item();
}

// ---------------------------------------------------------------------------------------------
// One node per model
// ---------------------------------------------------------------------------------------------

TEST(ModelNode, LeNetStepsEqualTheHandWrittenStepsBitForBit) {
  auto by_hand = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 3);
  auto by_graph = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 3);
  SGD<float, cpu> sgd_hand(by_hand.parameters(), {0.9}), sgd_graph(by_graph.parameters(), {0.9});
  SoftmaxCrossEntropy<float, cpu> loss_fn;
  Rng rng(4);
  for (int step = 0; step < 3; ++step) {
    const Tensor<float> images = random_values<float>(Shape{8, 1, 28, 28}, rng, 0, 1);
    Tensor<std::int32_t> labels(Shape{8});
    for (int i = 0; i < 8; ++i) labels[i] = static_cast<std::int32_t>(rng.below(10));
    // The trainer's step: forward, the fused loss and its gradient, backward, update.
    const double hand_loss = loss_fn(by_hand.forward(images), labels);
    by_hand.backward(loss_fn.gradient());
    sgd_hand.step();
    // The same through the graph.
    const Var<float> loss = cross_entropy(by_graph(Var<float>(images)), labels);
    loss.backward();
    sgd_graph.step();
    EXPECT_FLOAT_EQ(loss.item(), static_cast<float>(hand_loss)) << "step " << step;
    for (std::size_t p = 0; p < by_hand.parameters().size(); ++p) {
      EXPECT_TRUE(all_near(*by_graph.parameters()[p].grad, *by_hand.parameters()[p].grad, 0))
          << "step " << step << ": " << by_hand.parameter_names()[p];
      EXPECT_TRUE(all_near(*by_graph.parameters()[p].value, *by_hand.parameters()[p].value, 0))
          << "step " << step << ": " << by_hand.parameter_names()[p];
    }
  }
}

TEST(ModelNode, InputAndParameterGradientsMatchFiniteDifferences) {
  Sequential<double, cpu> net(Linear(5, 4), Tanh(), Linear(4, 3), Sigmoid());
  randomize(net, 10);
  const Tensor<double> x = rand_t(Shape{3, 5}, 11), probe = rand_t(Shape{3, 3}, 12);
  EXPECT_TRUE(gradients_match([&](const std::vector<Var<double>>& v) { return net(v[0]); }, {x}, 13));
  Var<double> input(x, true);
  (net(input) * probe).sum().backward();
  EXPECT_TRUE(parameter_gradients_match(net.parameters(),
                                        [&] { return no_grad_value([&] { return (net(Var<double>(x)) * probe).sum(); }); }));
}

TEST(ModelNode, ALayerAloneIsANode) {
  std::unique_ptr<Layer<double, cpu>> layer = LayerSpec(Linear(4, 3)).make_layer<double, cpu>();
  randomize(*layer, 20);
  const Tensor<double> x = rand_t(Shape{2, 4}, 21), probe = rand_t(Shape{2, 3}, 22);
  EXPECT_TRUE(gradients_match([&](const std::vector<Var<double>>& v) { return exp((*layer)(v[0])); }, {x}, 23));
  ((*layer)(Var<double>(x)) * probe).sum().backward();
  EXPECT_TRUE(parameter_gradients_match(
      layer->parameters(), [&] { return no_grad_value([&] { return ((*layer)(Var<double>(x)) * probe).sum(); }); }));
}

// Layers overwrite their parameter gradients: each pass writes them afresh (no zero_grad needed),
// as the hand-written step does.
TEST(ModelNode, EachPassWritesTheParameterGradientsAfresh) {
  Sequential<double, cpu> net(Linear(3, 2));
  randomize(net, 30);
  const Tensor<double> x = rand_t(Shape{4, 3}, 31);
  net(Var<double>(x)).sum().backward();
  const Tensor<double> once = net.parameters()[0].grad->clone();
  net(Var<double>(x)).sum().backward();
  EXPECT_TRUE(all_near(*net.parameters()[0].grad, once, 0));
}

TEST(ModelNode, EvaluationUnderNoGradRecordsNothing) {
  Sequential<double, cpu> net(Linear(3, 2));
  randomize(net, 40);
  const Tensor<double> x = rand_t(Shape{4, 3}, 41);
  NoGradGuard no_grad;
  const Var<double> y = net(Var<double>(x, true));
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(all_near(y.value(), net.forward(x), 0));
}

// The node keeps its own copy of the output: the model's buffer is overwritten by the next forward.
TEST(ModelNode, OutputsSurviveTheNextForward) {
  Sequential<double, cpu> net(Linear(3, 2));
  randomize(net, 50);
  const Tensor<double> x1 = rand_t(Shape{4, 3}, 51), x2 = rand_t(Shape{4, 3}, 52);
  const Var<double> y1 = net(Var<double>(x1));
  const Tensor<double> expected = net.forward(x1).clone();
  net(Var<double>(x2));
  EXPECT_TRUE(all_near(y1.value(), expected, 0));
}

// ---------------------------------------------------------------------------------------------
// A model as a function over tensors: two inputs, a shared encoder applied twice
// ---------------------------------------------------------------------------------------------

struct Siamese {
  Sequential<double, cpu> encoder{Linear(6, 5), Tanh(), Linear(5, 4)};
  Sequential<double, cpu> head{Linear(8, 2)};
  Siamese() {
    randomize(encoder, 60);
    randomize(head, 61);
  }
  // The first input's encoding, and the product of both, side by side into the head.
  Var<double> operator()(const Var<double>& x1, const Var<double>& x2) {
    const Var<double> e1 = encoder(x1), e2 = encoder(x2);
    return head(cat({e1, e1 * e2}, 1));
  }
  std::vector<Parameter<double, cpu>> parameters() {
    std::vector<Parameter<double, cpu>> all = encoder.parameters();
    for (const auto& p : head.parameters()) all.push_back(p);
    return all;
  }
};

Var<double> squared_error(const Var<double>& z, const Tensor<double>& target) {
  return ((z - target) * (z - target)).mean();
}

TEST(SharedEncoder, GradientsMatchFiniteDifferences) {
  Siamese model;
  const Tensor<double> x1 = rand_t(Shape{3, 6}, 62), x2 = rand_t(Shape{3, 6}, 63), target = rand_t(Shape{3, 2}, 64);
  Var<double> v1(x1, true);  // the first input needs its gradient, the second does not
  squared_error(model(v1, Var<double>(x2)), target).backward();
  EXPECT_TRUE(parameter_gradients_match(model.parameters(), [&] {
    return no_grad_value([&] { return squared_error(model(Var<double>(x1), Var<double>(x2)), target); });
  }));
  EXPECT_TRUE(gradients_match(
      [&](const std::vector<Var<double>>& v) { return squared_error(model(v[0], v[1]), target); }, {x1, x2}, 65));
}

TEST(SharedEncoder, TrainedBySgd) {
  Siamese model;
  const Tensor<double> x1 = rand_t(Shape{8, 6}, 66), x2 = rand_t(Shape{8, 6}, 67), target = rand_t(Shape{8, 2}, 68);
  SGD<double, cpu> sgd(model.parameters(), {0.2});
  std::vector<double> losses;
  for (int step = 0; step < 30; ++step) {
    const Var<double> loss = squared_error(model(Var<double>(x1), Var<double>(x2)), target);
    losses.push_back(loss.item());
    // One step checked against the update it must make: every parameter moves by -lr * grad.
    std::vector<Tensor<double>> before;
    if (step == 0)
      for (const auto& p : model.parameters()) before.push_back(p.value->clone());
    loss.backward();
    sgd.step();
    for (std::size_t k = 0; k < before.size(); ++k) {
      EXPECT_TRUE(all_near(*model.parameters()[k].value, ops::sub(before[k], ops::mul(*model.parameters()[k].grad, 0.2)),
                           1e-15));
    }
  }
  EXPECT_LT(losses.back(), 0.5 * losses.front()) << losses.front() << " -> " << losses.back();
}

// An application whose forward ran before another's runs it again before its backward; batch
// norm's running statistics must end as after the two forwards alone.
TEST(SharedEncoder, RunningStatisticsUntouchedByTheSecondForward) {
  Sequential<double, cpu> encoder(Linear(4, 3), BatchNorm1d(3), ReLU(), Linear(3, 2));
  Sequential<double, cpu> twin(Linear(4, 3), BatchNorm1d(3), ReLU(), Linear(3, 2));
  randomize(encoder, 70);
  twin.copy_parameters_from(encoder);
  const Tensor<double> x1 = rand_t(Shape{5, 4}, 71), x2 = rand_t(Shape{5, 4}, 72);
  const auto loss_of = [&](Sequential<double, cpu>& e, const Tensor<double>& a, const Tensor<double>& b) {
    const Var<double> first = e(Var<double>(a));  // in this order (the operands of * may run in either)
    const Var<double> second = e(Var<double>(b));
    return (first * second.exp()).sum();
  };
  loss_of(encoder, x1, x2).backward();
  twin.forward(x1);
  twin.forward(x2);
  for (std::size_t i = 0; i < encoder.state_dict().size(); ++i)
    EXPECT_TRUE(all_near(*encoder.state_dict()[i].value, *twin.state_dict()[i].value, 0)) << encoder.state_dict()[i].name;
  // And the gradients through batch norm's batch statistics are right.
  loss_of(encoder, x1, x2).backward();
  EXPECT_TRUE(parameter_gradients_match(encoder.parameters(),
                                        [&] { return no_grad_value([&] { return loss_of(encoder, x1, x2); }); }));
}

// Each application's backward uses its own dropout mask, and the layer's counter ends where the
// forwards left it (later steps draw new masks).
TEST(SharedEncoder, DropoutMasksFollowTheirApplication) {
  Sequential<double, cpu> net(Linear(6, 8), Dropout(0.5));
  Sequential<double, cpu> twin(Linear(6, 8), Dropout(0.5));
  randomize(net, 80);
  twin.copy_parameters_from(net);
  auto& dropout = dynamic_cast<DropoutLayer<double, cpu>&>(net.layer(1));
  auto& twin_dropout = dynamic_cast<DropoutLayer<double, cpu>&>(twin.layer(1));
  twin_dropout.set_seed(dropout.seed());
  const Tensor<double> x1 = rand_t(Shape{4, 6}, 81), x2 = rand_t(Shape{4, 6}, 82);
  const Tensor<double> p1 = rand_t(Shape{4, 8}, 83), p2 = rand_t(Shape{4, 8}, 84);
  const Var<double> y1 = net(Var<double>(x1));  // the first mask (in this order: the operands of + may run in either)
  const Var<double> y2 = net(Var<double>(x2));
  ((y1 * p1).sum() + (y2 * p2).sum()).backward();
  EXPECT_EQ(dropout.step(), 2);
  // By hand: each application's forward and backward, the gradients summed.
  twin.forward(x1);
  twin.backward(p1);
  std::vector<Tensor<double>> first;
  for (const auto& p : twin.parameters()) first.push_back(p.grad->clone());
  twin.forward(x2);
  twin.backward(p2);
  for (std::size_t k = 0; k < first.size(); ++k)
    EXPECT_TRUE(all_near(*net.parameters()[k].grad, ops::add(first[k], *twin.parameters()[k].grad), 1e-14));
}

// ---------------------------------------------------------------------------------------------
// The cross-entropy node
// ---------------------------------------------------------------------------------------------

template <class T>
void check_cross_entropy_against_expression(double tolerance) {
  Rng rng(90);
  const Tensor<T> logits = random_values<T>(Shape{6, 4}, rng, -3, 3);
  Tensor<std::int32_t> labels(Shape{6});
  Tensor<T> onehot = Tensor<T>::zeros(Shape{6, 4});
  for (int i = 0; i < 6; ++i) {
    labels[i] = static_cast<std::int32_t>(rng.below(4));
    onehot.at(i, labels[i]) = T(1);
  }
  Var<T> z1(logits, true), z2(logits, true);
  const Var<T> fused = cross_entropy(z1, labels);
  const Var<T> written = -(onehot * log_softmax(z2, 1)).sum() / 6.0;
  EXPECT_NEAR(fused.item(), written.item(), tolerance);
  fused.backward();
  written.backward();
  EXPECT_TRUE(all_near(z1.grad(), z2.grad(), tolerance));
  // Under another expression (dOut != 1): the kernel's gradient is scaled.
  Var<T> z3(logits, true);
  (cross_entropy(z3, labels) * 3.0).backward();
  EXPECT_TRUE(all_near(z3.grad(), ops::mul(z2.grad(), T(3)), tolerance));
}

TEST(CrossEntropy, EqualsTheLossWrittenWithOpsFloat) { check_cross_entropy_against_expression<float>(2e-6); }
TEST(CrossEntropy, EqualsTheLossWrittenWithOpsDouble) { check_cross_entropy_against_expression<double>(1e-14); }

TEST(CrossEntropy, BadInputIsNamed) {
  const Var<float> z(Tensor<float>::zeros(Shape{3, 4}), true);
  Tensor<std::int32_t> labels = Tensor<std::int32_t>::zeros(Shape{3});
  labels[2] = 4;
  EXPECT_TRUE(throws_naming([&] { cross_entropy(z, labels); }, {"cross_entropy", "label 4", "index 2", "0..3"}));
  labels[2] = -1;
  EXPECT_TRUE(throws_naming([&] { cross_entropy(z, labels); }, {"cross_entropy", "label -1", "index 2"}));
  EXPECT_TRUE(throws_naming([&] { cross_entropy(z, Tensor<std::int32_t>::zeros(Shape{2})); }, {"(3, 4)", "(2)"}));
  EXPECT_TRUE(throws_naming([&] { cross_entropy(Var<float>(Tensor<float>(Shape{3})), Tensor<std::int32_t>::zeros(Shape{3})); },
                            {"(3)", "(N, classes)"}));
  EXPECT_TRUE(throws_naming([&] { cross_entropy(Var<float>(Tensor<float>(Shape{0, 4})), Tensor<std::int32_t>(Shape{0})); },
                            {"cross_entropy", "empty"}));
}

// ---------------------------------------------------------------------------------------------
// Free Vars as optimizer parameters
// ---------------------------------------------------------------------------------------------

TEST(AsParameter, SgdTrainsFreeVars) {
  const Tensor<double> x = rand_t(Shape{16, 3}, 100), true_w = rand_t(Shape{3, 1}, 101);
  const Tensor<double> y = ops::add(ops::matmul(x, true_w), 0.5);
  Var<double> w(ops::zeros<double>(Shape{3, 1}), true), b(ops::zeros<double>(Shape{1}), true);
  SGD<double, cpu> sgd({autograd::as_parameter(w, "w"), autograd::as_parameter(b, "b")}, {0.3});
  double first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    w.zero_grad();
    b.zero_grad();
    const Var<double> pred = matmul(Var<double>(x), w) + b;
    const Var<double> loss = ((pred - y) * (pred - y)).mean();
    if (step == 0) first = loss.item();
    last = loss.item();
    loss.backward();
    sgd.step();
  }
  EXPECT_LT(last, 1e-6 * first);
  EXPECT_TRUE(all_near(w.value(), true_w, 1e-3));
  EXPECT_NEAR(ops::item(b.value()), 0.5, 1e-3);
  Var<double> not_a_leaf = w * 2.0;
  EXPECT_TRUE(throws_naming([&] { autograd::as_parameter(not_a_leaf, "x"); }, {"as_parameter", "'x'", "leaf"}));
}

}  // namespace
