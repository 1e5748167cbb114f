// Adam and AdamW against torch.optim's update written out in double precision (two steps,
// so the bias corrections matter), the optimiser classes' state round trip, and the
// learning-rate schedules against PyTorch's definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "hnn/adam.hpp"
#include "hnn/kernels/adam.hpp"
#include "hnn/lr_schedule.hpp"
#include "hnn/optim.hpp"
#include "hnn/tensor.hpp"

using namespace hnn;

namespace {

struct Hyper {
  double lr, beta1, beta2, eps, weight_decay;
  bool decoupled;
};

// One torch.optim.Adam / AdamW step (t counts from 1), as written in PyTorch's documentation.
void reference_step(std::vector<double>& p, const std::vector<double>& grad, std::vector<double>& m,
                    std::vector<double>& v, const Hyper& h, int t) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    double g = grad[i];
    if (h.decoupled) p[i] -= h.lr * h.weight_decay * p[i];
    else g += h.weight_decay * p[i];
    m[i] = h.beta1 * m[i] + (1 - h.beta1) * g;
    v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g;
    const double m_hat = m[i] / (1 - std::pow(h.beta1, t)), v_hat = v[i] / (1 - std::pow(h.beta2, t));
    p[i] -= h.lr * m_hat / (std::sqrt(v_hat) + h.eps);
  }
}

void check_two_steps(const Hyper& h) {
  std::vector<double> p = {0.5, -1.25, 2.0, 0.0}, m(4, 0.0), v(4, 0.0);
  std::vector<double> ref_p = p, ref_m = m, ref_v = v;
  const std::vector<std::vector<double>> grads = {{0.1, -0.3, 0.02, 1.5}, {-0.2, -0.1, 0.4, 1.0}};
  for (int t = 1; t <= 2; ++t) {
    adam_update(cpu{}, 4, p.data(), grads[t - 1].data(), m.data(), v.data(), h.lr, h.beta1, h.beta2, h.eps,
                h.weight_decay, h.decoupled, t);
    reference_step(ref_p, grads[t - 1], ref_m, ref_v, h, t);
    for (int i = 0; i < 4; ++i) {
      EXPECT_NEAR(p[i], ref_p[i], 1e-14) << "step " << t << " param " << i;
      EXPECT_NEAR(m[i], ref_m[i], 1e-15) << "step " << t << " exp_avg " << i;
      EXPECT_NEAR(v[i], ref_v[i], 1e-15) << "step " << t << " exp_avg_sq " << i;
    }
  }
  // The second step moves by more than the first would without bias correction: a check
  // that the correction is there at all (lr * m_hat / sqrt(v_hat) ~ lr per step).
  EXPECT_GT(std::abs(p[3] - 0.0), 1.5 * h.lr);
}

TEST(AdamUpdate, TwoStepsMatchTorchAdamWithL2WeightDecay) { check_two_steps({0.01, 0.9, 0.999, 1e-8, 0.1, false}); }
TEST(AdamUpdate, TwoStepsMatchTorchAdamWithoutWeightDecay) { check_two_steps({1e-3, 0.9, 0.999, 1e-8, 0, false}); }
TEST(AdamUpdate, TwoStepsMatchTorchAdamW) { check_two_steps({0.01, 0.8, 0.99, 1e-6, 0.05, true}); }

TEST(AdamUpdate, FirstStepByHand) {
  // t = 1: m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps) = lr * sign(g) (nearly).
  double p = 1, m = 0, v = 0;
  const double g = 0.25;
  adam_update(cpu{}, 1, &p, &g, &m, &v, 0.1, 0.9, 0.999, 1e-8, 0.0, false, 1);
  EXPECT_NEAR(m, 0.025, 1e-16);
  EXPECT_NEAR(v, 0.001 * 0.0625, 1e-18);
  EXPECT_NEAR(p, 1 - 0.1 * 0.25 / (0.25 + 1e-8), 1e-15);
  EXPECT_THROW(adam_update(cpu{}, 1, &p, &g, &m, &v, 0.1, 0.9, 0.999, 1e-8, 0.0, false, 0), std::invalid_argument);
}

TEST(AdamOptimizer, DefaultsAreTorchs) {
  const AdamOptions adam;
  EXPECT_EQ(adam.lr, 1e-3);
  EXPECT_EQ(adam.beta1, 0.9);
  EXPECT_EQ(adam.beta2, 0.999);
  EXPECT_EQ(adam.eps, 1e-8);
  EXPECT_EQ(adam.weight_decay, 0);
  const AdamWOptions adamw;
  EXPECT_EQ(adamw.lr, 1e-3);
  EXPECT_EQ(adamw.weight_decay, 0.01);
}

// The class takes the same steps as the kernel and, restored from its state, continues as
// if it had never stopped.
TEST(AdamOptimizer, StepsAndRestoresItsState) {
  for (bool decoupled : {false, true}) {
    SCOPED_TRACE(decoupled ? "AdamW" : "Adam");
    Tensor<double> w = Tensor<double>::from_vector(Shape{2, 2}, {0.5, -1.0, 2.0, 0.25});
    Tensor<double> gw = Tensor<double>::from_vector(Shape{2, 2}, {0.1, -0.2, 0.3, 0.05});
    Tensor<double> b = Tensor<double>::from_vector(Shape{2}, {0.1, 0.2});
    Tensor<double> gb = Tensor<double>::from_vector(Shape{2}, {-1.0, 0.5});
    std::vector<Parameter<double, cpu>> params = {{"weight", &w, &gw}, {"bias", &b, &gb}};
    auto make = [&](std::vector<Parameter<double, cpu>> ps) -> Adam<double> {
      if (decoupled) return AdamW<double>(std::move(ps), AdamWOptions{0.01, 0.9, 0.999, 1e-8, 0.1});
      return Adam<double>(std::move(ps), AdamOptions{0.01, 0.9, 0.999, 1e-8, 0.1});
    };
    Adam<double> opt = make(params);
    EXPECT_EQ(opt.decoupled_weight_decay(), decoupled);

    std::vector<double> ref = w.to_vector(), m(4, 0.0), v(4, 0.0);
    const Hyper h{0.01, 0.9, 0.999, 1e-8, 0.1, decoupled};
    opt.step();
    reference_step(ref, gw.to_vector(), m, v, h, 1);
    EXPECT_EQ(opt.step_count(), 1);

    // Save, take a step, then restore a fresh optimiser (on copies of the values) and take the same step.
    const Tensor<double> w_saved = w.clone(), b_saved = b.clone();
    std::vector<Tensor<double>> avg, avg_sq;
    for (std::size_t i = 0; i < 2; ++i) {
      avg.push_back(opt.exp_avg()[i].clone());
      avg_sq.push_back(opt.exp_avg_sq()[i].clone());
    }
    opt.step();
    reference_step(ref, gw.to_vector(), m, v, h, 2);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(w[i], ref[i], 1e-14) << i;

    Tensor<double> w2 = w_saved.clone(), b2 = b_saved.clone();
    Adam<double> resumed = make({{"weight", &w2, &gw}, {"bias", &b2, &gb}});
    resumed.set_step_count(1);
    for (std::size_t i = 0; i < 2; ++i) resumed.set_moments(i, avg[i], avg_sq[i]);
    resumed.step();
    EXPECT_EQ(w2.to_vector(), w.to_vector());
    EXPECT_EQ(b2.to_vector(), b.to_vector());
    EXPECT_THROW(resumed.set_moments(2, avg[0], avg_sq[0]), std::invalid_argument);
    EXPECT_THROW(resumed.set_moments(0, avg[1], avg_sq[1]), std::invalid_argument);  // wrong shape
  }
}

// -------------------------------------------------------------------------------------
// Learning-rate schedules
// -------------------------------------------------------------------------------------

TEST(LrSchedule, StepLrDecaysEveryStepSizeEpochs) {
  const StepLR schedule(0.1, 3, 0.5);
  const double expected[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125};
  for (int epoch = 0; epoch < 10; ++epoch) EXPECT_DOUBLE_EQ(schedule.lr(epoch), expected[epoch]) << epoch;
  EXPECT_DOUBLE_EQ(StepLR(1.0, 30).lr(95), 1e-3);  // gamma 0.1 by default
}

// torch.optim.lr_scheduler.CosineAnnealingLR.get_lr, the recursive form, epoch by epoch.
std::vector<double> torch_cosine_recursive(double base, int t_max, double eta_min, int epochs) {
  const double pi = std::acos(-1.0);
  std::vector<double> lr = {base};
  for (int e = 1; e < epochs; ++e) {
    const double last = lr.back();
    if ((e - 1 - t_max) % (2 * t_max) == 0)
      lr.push_back(last + (base - eta_min) * (1 - std::cos(pi / t_max)) / 2);
    else
      lr.push_back((1 + std::cos(pi * e / t_max)) / (1 + std::cos(pi * (e - 1) / t_max)) * (last - eta_min) + eta_min);
  }
  return lr;
}

TEST(LrSchedule, CosineAnnealingEqualsTorchsRecursiveForm) {
  for (double eta_min : {0.0, 1e-4}) {
    const CosineAnnealingLR schedule(0.1, 10, eta_min);
    const auto recursive = torch_cosine_recursive(0.1, 10, eta_min, 35);
    for (int epoch = 0; epoch < 35; ++epoch) EXPECT_NEAR(schedule.lr(epoch), recursive[epoch], 1e-12) << epoch;
    EXPECT_DOUBLE_EQ(schedule.lr(0), 0.1);
    EXPECT_NEAR(schedule.lr(5), eta_min + (0.1 - eta_min) / 2, 1e-15);
    EXPECT_NEAR(schedule.lr(10), eta_min, 1e-15);
  }
  EXPECT_THROW(CosineAnnealingLR(0.1, 0), std::invalid_argument);
  EXPECT_THROW(StepLR(0.1, 0), std::invalid_argument);
}

TEST(LrSchedule, SetsTheLearningRateOfSgdAndAdam) {
  Tensor<double> w = Tensor<double>::from_vector(Shape{1}, {1.0});
  Tensor<double> g = Tensor<double>::from_vector(Shape{1}, {1.0});
  SGD<double> sgd({{"weight", &w, &g}}, SgdOptions{0.1, 0, 0});
  const StepLR schedule(0.1, 1, 0.5);
  sgd.set_lr(schedule.lr(1));
  sgd.step();
  EXPECT_DOUBLE_EQ(w[0], 1.0 - 0.05);
  Adam<double> adam({{"weight", &w, &g}});
  adam.set_lr(CosineAnnealingLR(1e-3, 4).lr(4));
  EXPECT_EQ(adam.options().lr, 0.0);
  EXPECT_THROW(adam.set_lr(-1), std::invalid_argument);
}

}  // namespace
