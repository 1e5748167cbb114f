// The optimizers (hnn/optim/): PyTorch's defaults, every option check with its message (typed,
// by name and per parameter group), the registry, parameter groups, the momentum a cyclic
// schedule varies, gradient clipping by hand, and the state a checkpoint carries: a round trip
// for each optimizer and the files of earlier releases. PyTorch's own numbers:
// test_optim_pytorch.cpp; schedules: test_schedules.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "hnn/io/checkpoint.hpp"
#include "hnn/layers/batch_norm.hpp"
#include "hnn/layers/conv2d.hpp"
#include "hnn/layers/flatten.hpp"
#include "hnn/layers/linear.hpp"
#include "hnn/optim.hpp"

using namespace hnn;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument was thrown";
  return "";
}

constexpr double inf = std::numeric_limits<double>::infinity();

#define EXPECT_CONTAINS(text, ...) EXPECT_NE(std::string(text).find(__VA_ARGS__), std::string::npos) << (text)

// Two parameters (a 2x3 weight, a bias of 3) with values and gradients, owned here.
struct TwoParameters {
  Tensor<double> w = Tensor<double>::from_vector(Shape{2, 3}, {0.5, -1.0, 2.0, 0.25, -0.75, 1.5});
  Tensor<double> gw = Tensor<double>::from_vector(Shape{2, 3}, {0.1, -0.2, 0.3, 0.05, 0.4, -0.6});
  Tensor<double> b = Tensor<double>::from_vector(Shape{3}, {0.1, 0.2, -0.3});
  Tensor<double> gb = Tensor<double>::from_vector(Shape{3}, {-1.0, 0.5, 0.25});
  std::vector<Parameter<double, cpu>> parameters() { return {{"weight", &w, &gw}, {"bias", &b, &gb}}; }
  std::vector<double> values() const {
    std::vector<double> v = w.to_vector(), vb = b.to_vector();
    v.insert(v.end(), vb.begin(), vb.end());
    return v;
  }
  // New gradients for step k, so that momentum and moments see changing inputs.
  void gradients_for(int k) {
    for (std::int64_t i = 0; i < gw.numel(); ++i) gw[i] = std::sin(1.3 * static_cast<double>(i + 7 * k));
    for (std::int64_t i = 0; i < gb.numel(); ++i) gb[i] = std::cos(0.7 * static_cast<double>(i + 5 * k));
  }
};

// -------------------------------------------------------------------------------------
// Defaults and checks
// -------------------------------------------------------------------------------------

TEST(OptimizerOptions, DefaultsArePytorchsAndNoneIsD2lsRate) {
  EXPECT_EQ(optimizer_defaults("sgd"),
            (OptimizerArgs{{"lr", 1e-3}, {"momentum", 0}, {"weight_decay", 0}, {"dampening", 0}, {"nesterov", 0}}));
  EXPECT_EQ(optimizer_defaults("adam"),
            (OptimizerArgs{{"lr", 1e-3}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8}, {"weight_decay", 0}}));
  EXPECT_EQ(optimizer_defaults("adamw"),
            (OptimizerArgs{{"lr", 1e-3}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8}, {"weight_decay", 0.01}}));
  EXPECT_EQ(optimizer_defaults("rmsprop"), (OptimizerArgs{{"lr", 1e-2},
                                                          {"alpha", 0.99},
                                                          {"eps", 1e-8},
                                                          {"weight_decay", 0},
                                                          {"momentum", 0},
                                                          {"centered", 0}}));
  for (const std::string& name : optimizer_names()) EXPECT_NE(optimizer_defaults(name).at("lr"), 0.9) << name;
  EXPECT_EQ(optimizer_names(), (std::vector<std::string>{"adam", "adamw", "rmsprop", "sgd"}));
}

// Each check once through the typed options and once by name, with the value in the message.
TEST(OptimizerOptions, EveryCheckRefusesWithAMessage) {
  TwoParameters t;
  const auto by_name = [&](const std::string& optimizer, const OptimizerArgs& args) {
    return message_of([&] { make_optimizer<double, cpu>(optimizer, t.parameters(), args); });
  };
  for (const std::string& optimizer : optimizer_names()) {
    SCOPED_TRACE(optimizer);
    for (double lr : {0.0, -0.1, inf, std::nan("")})
      EXPECT_CONTAINS(by_name(optimizer, {{"lr", lr}}), "learning rate must be positive and finite");
    for (double wd : {-1e-4, inf})
      EXPECT_CONTAINS(by_name(optimizer, {{"weight_decay", wd}}), "weight decay must be at least 0");
    EXPECT_CONTAINS(by_name(optimizer, {{"lr", 0.1}, {"lion", 1}}), "unknown option 'lion'");
  }
  EXPECT_CONTAINS(by_name("sgd", {{"momentum", 1.0}}), "momentum must be at least 0 and below 1, got 1.000000");
  EXPECT_CONTAINS(by_name("sgd", {{"momentum", -0.5}}), "momentum must be at least 0 and below 1");
  EXPECT_CONTAINS(by_name("sgd", {{"nesterov", 1}}), "Nesterov momentum needs a momentum above 0 and zero dampening");
  EXPECT_CONTAINS(by_name("sgd", {{"nesterov", 1}, {"momentum", 0.9}, {"dampening", 0.1}}), "zero dampening");
  EXPECT_CONTAINS(by_name("sgd", {{"dampening", std::nan("")}}), "dampening must be finite");
  EXPECT_CONTAINS(by_name("sgd", {{"nesterov", 2}}), "'nesterov' is a yes/no option");
  EXPECT_CONTAINS(by_name("sgd", {{"beta1", 0.9}}), "unknown option 'beta1' (SGD takes lr, momentum, weight_decay, dampening, nesterov)");
  for (const std::string adam : {"adam", "adamw"}) {
    EXPECT_CONTAINS(by_name(adam, {{"beta1", 1.0}}), "beta1 must be at least 0 and below 1");
    EXPECT_CONTAINS(by_name(adam, {{"beta2", -0.1}}), "beta2 must be at least 0 and below 1");
    EXPECT_CONTAINS(by_name(adam, {{"eps", -1e-8}}), "eps must be at least 0");
    EXPECT_CONTAINS(by_name(adam, {{"momentum", 0.9}}), "unknown option 'momentum'");
  }
  EXPECT_CONTAINS(by_name("rmsprop", {{"alpha", 1.5}}), "alpha must be at least 0 and at most 1, got 1.5");
  EXPECT_CONTAINS(by_name("rmsprop", {{"alpha", -0.5}}), "alpha must be at least 0");
  EXPECT_CONTAINS(by_name("rmsprop", {{"momentum", 1.0}}), "momentum must be at least 0 and below 1");
  EXPECT_CONTAINS(by_name("rmsprop", {{"eps", std::nan("")}}), "eps must be at least 0");
  EXPECT_CONTAINS(by_name("rmsprop", {{"centered", 0.5}}), "'centered' is a yes/no option");

  // The typed constructors run the same checks.
  EXPECT_CONTAINS(message_of([&] { SGD<double>(t.parameters(), SgdOptions{0.1, 1.5}); }), "hnn::SGD: momentum");
  EXPECT_CONTAINS(message_of([&] { Adam<double>(t.parameters(), AdamOptions{0.1, 0.9, 1.0}); }), "hnn::Adam: beta2");
  EXPECT_CONTAINS(message_of([&] { AdamW<double>(t.parameters(), AdamWOptions{-1.0}); }), "hnn::AdamW: learning rate");
  RmspropOptions r;
  r.alpha = 2;
  EXPECT_CONTAINS(message_of([&] { RMSprop<double>(t.parameters(), r); }), "hnn::RMSprop: alpha");
  // A group's own options are checked too, naming the group.
  std::vector<ParameterGroup<double, cpu>> groups = {{{t.parameters()[0]}, {}}, {{t.parameters()[1]}, {{"momentum", 7}}}};
  EXPECT_CONTAINS(message_of([&] { SGD<double>(groups, SgdOptions{0.1}); }), "hnn::SGD (parameter group 1): momentum");
  // check_optimizer_args: the same checks, nothing built.
  EXPECT_CONTAINS(message_of([] { check_optimizer_args("adamw", {{"beta1", 2}}, "hnn::Trainer"); }),
                  "hnn::Trainer: beta1 must be at least 0 and below 1");
  EXPECT_NO_THROW(check_optimizer_args("adamw", {{"lr", 0.1}}, "who"));
  // A parameter whose gradient has another shape is refused before any step.
  Tensor<double> wrong(Shape{3, 2});
  std::vector<Parameter<double, cpu>> mismatched = {{"weight", &t.w, &wrong}};
  EXPECT_CONTAINS(message_of([&] { SGD<double>(mismatched, SgdOptions{0.1}); }),
                  "parameter 'weight' is " + Shape{2, 3}.str() + " but its gradient is " + Shape{3, 2}.str());
}

TEST(OptimizerOptions, SetLrIsCheckedAndReachesEveryGroup) {
  TwoParameters t;
  std::vector<ParameterGroup<double, cpu>> groups = {{{t.parameters()[0]}, {}}, {{t.parameters()[1]}, {{"lr", 0.5}}}};
  SGD<double> sgd(groups, SgdOptions{0.1});
  EXPECT_EQ(sgd.group_count(), 2u);
  EXPECT_EQ(sgd.lr(0), 0.1);
  EXPECT_EQ(sgd.lr(1), 0.5);
  for (double bad : {-0.1, std::nan(""), inf})
    EXPECT_CONTAINS(message_of([&] { sgd.set_lr(bad); }), "hnn::SGD::set_lr: the learning rate must be at least 0");
  EXPECT_EQ(sgd.lr(1), 0.5) << "a refused rate changes nothing";
  sgd.set_lr(1, 0.25);
  EXPECT_EQ(sgd.lr(1), 0.25);
  sgd.set_lr(0.0);  // a schedule may end at 0
  EXPECT_EQ(sgd.lr(0), 0.0);
  EXPECT_EQ(sgd.lr(1), 0.0);
  EXPECT_EQ(sgd.initial_lr(1), 0.5) << "the schedules' base rate stays";
  EXPECT_THROW(sgd.set_lr(2, 0.1), std::out_of_range);
  EXPECT_THROW(sgd.lr(2), std::out_of_range);
}

// -------------------------------------------------------------------------------------
// The registry
// -------------------------------------------------------------------------------------

TEST(OptimizerRegistry, MakesEachOptimizerByNameAndRefusesAnUnknownOneListingTheKnown) {
  TwoParameters t;
  for (const std::string& name : optimizer_names()) {
    auto opt = make_optimizer<double, cpu>(name, t.parameters(), {{"lr", 0.05}});
    EXPECT_EQ(opt->name(), name);
    EXPECT_EQ(opt->lr(), 0.05);
    EXPECT_TRUE(opt->replayable());
  }
  using RmspropDouble = RMSprop<double, cpu>;
  using AdamWDouble = AdamW<double, cpu>;
  EXPECT_NE(dynamic_cast<RmspropDouble*>(make_optimizer<double, cpu>("rmsprop", t.parameters()).get()), nullptr);
  EXPECT_NE(dynamic_cast<AdamWDouble*>(make_optimizer<double, cpu>("adamw", t.parameters()).get()), nullptr);
  const std::string m = message_of([&] { make_optimizer<double, cpu>("lion", t.parameters()); });
  EXPECT_CONTAINS(m, "unknown optimizer 'lion' (adam, adamw, rmsprop, sgd");
  EXPECT_THROW(optimizer_defaults("Adam"), std::invalid_argument) << "names are exact";
}

// -------------------------------------------------------------------------------------
// Parameter groups
// -------------------------------------------------------------------------------------

TEST(ParameterGroups, NoDecayGroupsPutBiasesAndNormWeightsApart) {
  Sequential<double, cpu> model({Conv2d(1, 2, 3), BatchNorm2d(2), Flatten(), Linear(2 * 4 * 4, 3)}, 1);
  const auto groups = no_decay_groups(model);
  ASSERT_EQ(groups.size(), 2u);
  const auto names = [&](const ParameterGroup<double, cpu>& g) {
    std::vector<std::string> out;
    for (const auto& p : g.parameters)
      for (std::size_t i = 0; i < model.parameters().size(); ++i)
        if (model.parameters()[i].value == p.value) out.push_back(model.parameter_names()[i]);
    return out;
  };
  EXPECT_EQ(names(groups[0]), (std::vector<std::string>{"0.weight", "3.weight"}));
  EXPECT_EQ(names(groups[1]), (std::vector<std::string>{"0.bias", "1.weight", "1.bias", "3.bias"}));
  EXPECT_EQ(groups[0].options, OptimizerArgs{});
  EXPECT_EQ(groups[1].options, (OptimizerArgs{{"weight_decay", 0}}));

  // AdamW with these groups: with zero gradients only the decayed weights move, by (1 - lr wd).
  for (const auto& p : model.parameters()) Memory<cpu>::fill_bytes(p.grad->data(), 0, p.grad->bytes());
  const std::vector<double> conv_before = model.parameters()[0].value->to_vector();
  const std::vector<double> bias_before = model.parameters()[1].value->to_vector();
  AdamW<double> adamw(groups, AdamWOptions{0.1, 0.9, 0.999, 1e-8, 0.5});
  adamw.step();
  for (std::size_t i = 0; i < conv_before.size(); ++i) EXPECT_DOUBLE_EQ((*model.parameters()[0].value)[static_cast<std::int64_t>(i)], conv_before[i] * 0.95);
  EXPECT_EQ(model.parameters()[1].value->to_vector(), bias_before);
  EXPECT_THROW(no_decay_groups(model.parameters(), std::vector<std::string>{"a"}), std::invalid_argument);
}

TEST(ParameterGroups, EachGroupUpdatesWithItsOwnOptions) {
  TwoParameters t;
  TwoParameters reference;
  std::vector<ParameterGroup<double, cpu>> groups = {{{t.parameters()[0]}, {{"lr", 0.2}}}, {{t.parameters()[1]}, {}}};
  SGD<double> sgd(groups, SgdOptions{0.05});
  sgd.step();
  for (std::int64_t i = 0; i < t.w.numel(); ++i) EXPECT_DOUBLE_EQ(t.w[i], reference.w[i] - 0.2 * reference.gw[i]);
  for (std::int64_t i = 0; i < t.b.numel(); ++i) EXPECT_DOUBLE_EQ(t.b[i], reference.b[i] - 0.05 * reference.gb[i]);
}

// -------------------------------------------------------------------------------------
// Momentum for cyclic schedules
// -------------------------------------------------------------------------------------

TEST(OptimizerMomentum, SgdGainsBuffersWhenGivenMomentumAndAdamCyclesBeta1) {
  TwoParameters t, reference;
  SGD<double> sgd(t.parameters(), SgdOptions{0.1});
  EXPECT_EQ(sgd.state().buffers.size(), 0u);
  sgd.set_momentum(0, 0.9);
  EXPECT_EQ(sgd.momentum(0), 0.9);
  EXPECT_EQ(sgd.state().buffers.size(), 2u);
  sgd.step();  // the buffer's first step takes the gradient as it is
  for (std::int64_t i = 0; i < t.w.numel(); ++i) EXPECT_DOUBLE_EQ(t.w[i], reference.w[i] - 0.1 * reference.gw[i]);
  EXPECT_CONTAINS(message_of([&] { sgd.set_momentum(0, 1.0); }), "momentum must be at least 0 and below 1");
  EXPECT_EQ(sgd.momentum(0), 0.9);

  Adam<double> adam(t.parameters());
  EXPECT_TRUE(adam.has_momentum());
  adam.set_momentum(0, 0.85);
  EXPECT_EQ(adam.options().beta1, 0.85);
  EXPECT_CONTAINS(message_of([&] { adam.set_momentum(0, 1.0); }), "beta1");
}

// -------------------------------------------------------------------------------------
// State: round trips, refusals, earlier files
// -------------------------------------------------------------------------------------

// Two steps, the state saved, a third step; then a fresh optimizer over copies of the values
// after two steps, restored from that state, takes the third step: identical bit for bit.
TEST(OptimizerState, EveryOptimizerResumesExactlyFromItsState) {
  const std::vector<std::pair<std::string, OptimizerArgs>> cases = {
      {"sgd", {{"lr", 0.1}, {"momentum", 0.9}, {"dampening", 0.3}}},
      {"sgd", {{"lr", 0.1}, {"momentum", 0.8}, {"nesterov", 1}, {"weight_decay", 0.01}}},
      {"adam", {{"lr", 0.01}, {"weight_decay", 0.1}}},
      {"adamw", {{"lr", 0.01}}},
      {"rmsprop", {{"lr", 0.01}, {"momentum", 0.5}, {"centered", 1}}},
  };
  const std::vector<std::size_t> expected_buffers = {2, 2, 4, 4, 6};
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const auto& [name, args] = cases[c];
    SCOPED_TRACE(name + " case " + std::to_string(c));
    TwoParameters straight;
    auto opt = make_optimizer<double, cpu>(name, straight.parameters(), args);
    for (int k = 0; k < 2; ++k) {
      straight.gradients_for(k);
      opt->step();
    }
    const OptimizerState saved = opt->state();
    EXPECT_EQ(saved.name, name);
    EXPECT_EQ(saved.step, 2);
    EXPECT_EQ(saved.buffers.size(), expected_buffers[c]);
    TwoParameters resumed = straight;  // the values after two steps (Tensor copies share storage: clone)
    resumed.w = straight.w.clone();
    resumed.b = straight.b.clone();
    resumed.gw = straight.gw.clone();
    resumed.gb = straight.gb.clone();
    straight.gradients_for(2);
    opt->step();

    auto fresh = make_optimizer<double, cpu>(name, resumed.parameters(), args);
    fresh->restore(saved);
    EXPECT_EQ(fresh->steps(), 2);
    resumed.gradients_for(2);
    fresh->step();
    // Buffers go through float32 in a state (as in a checkpoint): equal to that rounding.
    const std::vector<double> a = straight.values(), b = resumed.values();
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6 * std::max(1.0, std::abs(a[i]))) << i;
  }
}

TEST(OptimizerState, AStateThatDoesNotFitIsRefusedNamingWhy) {
  TwoParameters t;
  SGD<double> momentum(t.parameters(), SgdOptions{0.1, 0.9});
  momentum.step();
  OptimizerState s = momentum.state();
  Adam<double> adam(t.parameters());
  EXPECT_CONTAINS(message_of([&] { adam.check(s, "resume"); }), "resume: the saved state is optimizer sgd's, this run uses adam");
  SGD<double> plain(t.parameters(), SgdOptions{0.1});
  EXPECT_CONTAINS(message_of([&] { plain.check(s, "resume"); }), "holds 2 sgd buffers, this optimizer has 0");
  OptimizerState wrong_shape = s;
  wrong_shape.buffers[1] = Tensor<float, cpu>(Shape{4});
  EXPECT_CONTAINS(message_of([&] { momentum.restore(wrong_shape); }), "buffer 1 has shape " + Shape{4}.str());
  OptimizerState negative = s;
  negative.step = -1;
  EXPECT_CONTAINS(message_of([&] { momentum.check(negative, "resume"); }), "negative optimizer step count");
  EXPECT_EQ(momentum.steps(), 1) << "refused states change nothing";
}

// The file of the release before the layer registry (version 1: SGD momentum buffers only,
// no step count) restores into today's SGD with momentum.
TEST(OptimizerState, AVersion1CheckpointsSgdStateStillLoads) {
  CheckpointExtras extras;
  auto net = load_model<float, cpu>(std::string(HNN_SOURCE_DIR) + "/tests/fixtures/checkpoint_v1_small.hnn", &extras);
  ASSERT_TRUE(extras.training.has_value());
  EXPECT_TRUE(extras.training->schedule.name.empty());
  SGD<float> sgd(net.parameters(), SgdOptions{0.1, 0.9});
  sgd.restore(extras.training->optimizer);
  EXPECT_EQ(sgd.steps(), 0);
  EXPECT_FLOAT_EQ((*sgd.buffer("momentum_buffer", 0))[3], 0.03f);
  SGD<float> without(net.parameters(), SgdOptions{0.1});
  EXPECT_THROW(without.restore(extras.training->optimizer), std::invalid_argument);
}

// A version 2 file (hnn a649bd3, tests/fixtures/make_checkpoint_v2.cpp): Adam's step count and
// moments restore into today's Adam, and the run continues from them.
TEST(OptimizerState, AVersion2CheckpointsAdamStateStillLoads) {
  CheckpointExtras extras;
  auto net = load_model<float, cpu>(std::string(HNN_SOURCE_DIR) + "/tests/fixtures/checkpoint_v2_adam.hnn", &extras);
  ASSERT_TRUE(extras.training.has_value());
  const OptimizerState& s = extras.training->optimizer;
  EXPECT_EQ(s.name, "adam");
  EXPECT_EQ(s.step, 3);
  ASSERT_EQ(s.buffers.size(), 2 * net.parameters().size());
  EXPECT_TRUE(extras.training->schedule.name.empty());
  EXPECT_EQ(extras.training->schedule.steps, 0);
  Adam<float> adam(net.parameters(), AdamOptions{0.01});
  adam.restore(s);
  EXPECT_EQ(adam.steps(), 3);
  EXPECT_EQ(adam.buffer("exp_avg_sq", 1)->to_vector(), s.buffers[net.parameters().size() + 1].to_vector());
}

// -------------------------------------------------------------------------------------
// Gradient clipping by hand (PyTorch's numbers: test_optim_pytorch.cpp)
// -------------------------------------------------------------------------------------

TEST(ClipGradNorm, ScalesToTheMaximumAndReturnsTheNormBefore) {
  Tensor<double> w = Tensor<double>::from_vector(Shape{1}, {0}), gw = Tensor<double>::from_vector(Shape{1}, {3});
  Tensor<double> b = Tensor<double>::from_vector(Shape{1}, {0}), gb = Tensor<double>::from_vector(Shape{1}, {-4});
  const std::vector<Parameter<double, cpu>> p = {{"w", &w, &gw}, {"b", &b, &gb}};
  EXPECT_DOUBLE_EQ(clip_grad_norm(p, 1.0), 5.0);
  EXPECT_DOUBLE_EQ(gw[0], 3 / (5 + 1e-6));
  EXPECT_DOUBLE_EQ(gb[0], -4 / (5 + 1e-6));
  GradNormClipper<double, cpu> clipper(10.0, INFINITY);
  clipper.clip(p);
  EXPECT_DOUBLE_EQ(clipper.last_norm(), 4 / (5 + 1e-6));
  EXPECT_DOUBLE_EQ(gb[0], -4 / (5 + 1e-6)) << "below the maximum: unchanged";
  EXPECT_CONTAINS(message_of([&] { clip_grad_norm(p, -1.0); }), "max_norm must be at least 0");
  EXPECT_CONTAINS(message_of([&] { clip_grad_norm(p, 1.0, 0.0); }), "norm_type must be positive");
}

}  // namespace
