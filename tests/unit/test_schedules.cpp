// The learning-rate schedules (hnn/optim/*_lr.hpp) against torch.optim.lr_scheduler's rates
// (tests/fixtures/pytorch_optim.safetensors, "sched.*", written by
// tests/reference/make_pytorch_optim.py): every group's rate (and, for OneCycleLR, momentum)
// after construction and after each step, to 1e-10 relative. Then the checks, the state a
// checkpoint carries, and the per-batch / per-epoch intervals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hnn/optim.hpp"
#include "pytorch_fixture.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

const PytorchFixture& fixture() { return pytorch_fixture("pytorch_optim.safetensors"); }

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument was thrown";
  return "";
}

#define EXPECT_CONTAINS(text, ...) EXPECT_NE(std::string(text).find(__VA_ARGS__), std::string::npos) << (text)

// Two parameter groups, as the fixture's script builds them: lr 0.1 and 0.02 (SGD with
// momentum 0.9, or Adam).
struct TwoGroups {
  Tensor<double> a = Tensor<double>::zeros(Shape{2}), ga = Tensor<double>::zeros(Shape{2});
  Tensor<double> b = Tensor<double>::zeros(Shape{2}), gb = Tensor<double>::zeros(Shape{2});
  std::vector<ParameterGroup<double, cpu>> groups() {
    return {{{{"a", &a, &ga}}, {}}, {{{"b", &b, &gb}}, {{"lr", 0.02}}}};
  }
  std::unique_ptr<Optimizer<double, cpu>> make(const std::string& optimizer) {
    if (optimizer == "adam") return std::make_unique<Adam<double>>(groups(), AdamOptions{0.1});
    return std::make_unique<SGD<double>>(groups(), SgdOptions{0.1, 0.9});
  }
};

std::vector<double> numbers(const std::string& text) {
  std::vector<double> out;
  for (const std::string& part : PytorchFixture::split(text, ',')) out.push_back(std::stod(part));
  return out;
}

// The schedule a fixture case describes ("StepLR;step_size=3;gamma=0.5").
std::unique_ptr<LRScheduler> make_schedule(OptimizerBase& optimizer, const std::string& description) {
  const std::string kind = PytorchFixture::split(description, ';')[1];
  const auto o = PytorchFixture::options(description);
  const auto num = [&](const char* key) { return std::stod(o.at(key)); };
  const auto integer = [&](const char* key) { return static_cast<std::int64_t>(std::stoll(o.at(key))); };
  if (kind == "StepLR") return std::make_unique<StepLR>(optimizer, integer("step_size"), num("gamma"));
  if (kind == "MultiStepLR") {
    std::vector<std::int64_t> milestones;
    for (double m : numbers(o.at("milestones"))) milestones.push_back(static_cast<std::int64_t>(m));
    return std::make_unique<MultiStepLR>(optimizer, milestones, num("gamma"));
  }
  if (kind == "CosineAnnealingLR") return std::make_unique<CosineAnnealingLR>(optimizer, integer("t_max"), num("eta_min"));
  if (kind == "LinearLR")
    return std::make_unique<LinearLR>(optimizer, num("start_factor"), num("end_factor"), integer("total_iters"));
  if (kind == "warmup_cosine")
    return warmup_cosine(optimizer, integer("warmup"), integer("total"), num("start_factor"), num("eta_min"));
  if (kind == "OneCycleLR") {
    OneCycleOptions options;
    if (o.count("pct_start")) options.pct_start = num("pct_start");
    if (o.count("cosine")) options.cosine = num("cosine") != 0;
    if (o.count("three_phase")) options.three_phase = num("three_phase") != 0;
    if (o.count("base_momentum")) options.base_momentum = num("base_momentum");
    if (o.count("max_momentum")) options.max_momentum = num("max_momentum");
    if (o.count("div_factor")) options.div_factor = num("div_factor");
    if (o.count("final_div_factor")) options.final_div_factor = num("final_div_factor");
    return std::make_unique<OneCycleLR>(optimizer, numbers(o.at("max_lr")), integer("total_steps"), options);
  }
  throw std::runtime_error("unknown schedule " + kind);
}

TEST(SchedulesAgainstPytorch, EveryGroupsRateAtEveryStep) {
  const auto cases = fixture().list("sched.cases");
  ASSERT_EQ(cases.size(), 9u);
  for (const std::string& name : cases) {
    SCOPED_TRACE(name);
    const std::string description = fixture().meta("sched." + name);
    const Tensor<double, cpu>& lr = fixture().at("sched." + name + ".lr");
    const Tensor<double, cpu>& momentum = fixture().at("sched." + name + ".momentum");
    TwoGroups t;
    auto optimizer = t.make(PytorchFixture::options(description).at("optimizer"));
    auto schedule = make_schedule(*optimizer, description);
    const bool cycles_momentum = description.find("OneCycleLR") != std::string::npos;
    for (std::int64_t k = 0; k < lr.dim(0); ++k) {
      if (k > 0) {
        optimizer->step();
        schedule->step();
      }
      EXPECT_EQ(schedule->steps(), k);
      // OneCycleLR's step to total_steps keeps the last step's rate where PyTorch extrapolates
      // (a rate never used: no batch follows it).
      const bool past_the_cycle = cycles_momentum && k == lr.dim(0) - 1;
      for (std::size_t g = 0; g < 2; ++g) {
        const double expected = lr.at(past_the_cycle ? k - 1 : k, g);
        EXPECT_LT(relative_error_to(optimizer->lr(g), expected), 1e-10)
            << "step " << k << " group " << g << ": " << optimizer->lr(g) << " vs " << expected;
        EXPECT_EQ(schedule->lr(g), optimizer->lr(g));
        if (cycles_momentum) {
          EXPECT_LT(relative_error_to(optimizer->momentum(g), momentum.at(past_the_cycle ? k - 1 : k, g)), 1e-10)
              << "momentum, step " << k;
        }
      }
    }
  }
}

// -------------------------------------------------------------------------------------
// Checks, state, intervals
// -------------------------------------------------------------------------------------

TEST(Schedules, EveryCheckRefusesWithAMessage) {
  TwoGroups t;
  auto sgd = t.make("sgd");
  EXPECT_CONTAINS(message_of([&] { StepLR(*sgd, 0); }), "hnn::StepLR: step_size must be at least 1, got 0");
  EXPECT_CONTAINS(message_of([&] { StepLR(*sgd, 2, 0.0); }), "gamma must be positive");
  EXPECT_CONTAINS(message_of([&] { MultiStepLR(*sgd, {3, 2}); }), "milestones must be increasing");
  EXPECT_CONTAINS(message_of([&] { MultiStepLR(*sgd, {2}, -1); }), "gamma must be positive");
  EXPECT_CONTAINS(message_of([&] { CosineAnnealingLR(*sgd, 0); }), "T_max must be at least 1");
  EXPECT_CONTAINS(message_of([&] { CosineAnnealingLR(*sgd, 5, -0.1); }), "eta_min must be at least 0");
  EXPECT_CONTAINS(message_of([&] { LinearLR(*sgd, 0.0); }), "start_factor must be above 0 and at most 1");
  EXPECT_CONTAINS(message_of([&] { LinearLR(*sgd, 0.5, 1.5); }), "end_factor must be at least 0 and at most 1");
  EXPECT_CONTAINS(message_of([&] { LinearLR(*sgd, 0.5, 1.0, 0); }), "total_iters must be at least 1");
  EXPECT_CONTAINS(message_of([&] { warmup_cosine(*sgd, 5, 5); }), "1 <= warmup_steps < total_steps");
  EXPECT_CONTAINS(message_of([&] { OneCycleLR(*sgd, 0.1, 0); }), "total_steps must be at least 1");
  EXPECT_CONTAINS(message_of([&] { OneCycleLR(*sgd, {0.1, 0.2, 0.3}, 10); }), "3 max_lr values for 2 parameter groups");
  OneCycleOptions bad_pct;
  bad_pct.pct_start = 1.5;
  EXPECT_CONTAINS(message_of([&] { OneCycleLR(*sgd, 0.1, 10, bad_pct); }), "pct_start must be between 0 and 1");
  OneCycleOptions bad_momentum;
  bad_momentum.base_momentum = 0.99;
  EXPECT_CONTAINS(message_of([&] { OneCycleLR(*sgd, 0.1, 10, bad_momentum); }), "base_momentum <= max_momentum");
  {
    std::vector<std::unique_ptr<LRScheduler>> one;
    one.push_back(std::make_unique<StepLR>(*sgd, 2));
    EXPECT_CONTAINS(message_of([&] { SequentialLR(*sgd, std::move(one), {3}); }), "1 schedules need 0 milestones, got 1");
  }
  {
    TwoGroups other;
    auto elsewhere = other.make("sgd");
    std::vector<std::unique_ptr<LRScheduler>> two;
    two.push_back(std::make_unique<StepLR>(*sgd, 2));
    two.push_back(std::make_unique<StepLR>(*elsewhere, 2));
    EXPECT_CONTAINS(message_of([&] { SequentialLR(*sgd, std::move(two), {3}); }), "schedule 1 is not attached");
  }
  // OneCycleLR ends at total_steps, as PyTorch's does.
  OneCycleLR one_cycle(*sgd, 0.5, 3);
  for (int k = 0; k < 3; ++k) one_cycle.step();
  EXPECT_CONTAINS(message_of([&] { one_cycle.step(); }), "stepped 4 times, past total_steps = 3");
  EXPECT_EQ(one_cycle.steps(), 3);
}

TEST(Schedules, OneCycleNeedsAMomentumToCycleOrLeavesItAlone) {
  struct NoMomentum final : OptimizerBase {
    const char* name() const override { return "plain"; }
    std::size_t group_count() const override { return 1; }
    double lr(std::size_t) const override { return rate; }
    double initial_lr(std::size_t) const override { return 0.1; }
    void set_lr(std::size_t, double r) override { rate = r; }
    std::int64_t steps() const override { return 0; }
    double rate = 0.1;
  } plain;
  EXPECT_CONTAINS(message_of([&] { OneCycleLR(plain, 0.5, 10); }), "optimizer plain has no momentum to cycle");
  OneCycleOptions no_cycle;
  no_cycle.cycle_momentum = false;
  OneCycleLR schedule(plain, 0.5, 10, no_cycle);
  EXPECT_NEAR(plain.rate, 0.5 / 25, 1e-15);  // PyTorch's formula, rounding included
}

// A schedule's state is its step count: a fresh schedule restored from it sets the same rates.
TEST(Schedules, StateRestoresTheRatesOfItsStep) {
  TwoGroups t1, t2;
  auto a = t1.make("sgd"), b = t2.make("sgd");
  OneCycleLR first(*a, {0.4, 0.2}, 20), second(*b, {0.4, 0.2}, 20);
  for (int k = 0; k < 7; ++k) first.step();
  const ScheduleState s = first.state();
  EXPECT_EQ(s.name, "OneCycleLR");
  EXPECT_EQ(s.steps, 7);
  second.restore(s);
  EXPECT_EQ(second.steps(), 7);
  for (std::size_t g = 0; g < 2; ++g) {
    EXPECT_EQ(b->lr(g), a->lr(g));
    EXPECT_EQ(b->momentum(g), a->momentum(g));
  }
  first.step();
  second.step();
  EXPECT_EQ(b->lr(1), a->lr(1));
  CosineAnnealingLR cosine(*b, 10);
  EXPECT_CONTAINS(message_of([&] { cosine.restore(s); }), "the saved state is schedule OneCycleLR's");
  EXPECT_CONTAINS(message_of([&] { second.restore({"OneCycleLR", 21}); }), "past total_steps");
  EXPECT_CONTAINS(message_of([&] { second.restore({"OneCycleLR", -1}); }), "negative step count");
  EXPECT_EQ(second.steps(), 8) << "refused states change nothing";
}

TEST(Schedules, OneCycleStepsPerBatchTheOthersPerEpochUnlessTold) {
  TwoGroups t;
  auto sgd = t.make("sgd");
  EXPECT_EQ(OneCycleLR(*sgd, 0.5, 10).interval(), LRScheduler::Interval::per_batch);
  EXPECT_EQ(StepLR(*sgd, 3).interval(), LRScheduler::Interval::per_epoch);
  CosineAnnealingLR per_batch(*sgd, 1000, 0, LRScheduler::Interval::per_batch);
  EXPECT_EQ(per_batch.interval(), LRScheduler::Interval::per_batch);
  EXPECT_EQ(warmup_cosine(*sgd, 2, 10)->interval(), LRScheduler::Interval::per_epoch);
  // The closed forms a trainer without an optimizer at hand can use.
  EXPECT_DOUBLE_EQ(StepLR::formula(0.1, 7, 3, 0.5), 0.025);
  EXPECT_DOUBLE_EQ(CosineAnnealingLR::formula(0.1, 5, 10), 0.05);
  EXPECT_NEAR(CosineAnnealingLR::formula(0.1, 10, 10, 0.001), 0.001, 1e-17);
  EXPECT_CONTAINS(message_of([] { StepLR::formula(0.1, 3, 0, 0.5); }), "step_size must be at least 1");
  EXPECT_CONTAINS(message_of([] { CosineAnnealingLR::formula(0.1, 3, 0); }), "T_max must be at least 1");
}

}  // namespace
