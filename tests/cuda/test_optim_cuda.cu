// The optimizers' and gradient clipping's CUDA kernels against their CPU twins, through the
// optimizer classes on both devices (SGD with every option, Adam, AdamW, RMSprop centered with
// momentum, parameter groups), their state, and their steps recorded once as a CUDA graph and
// replayed: the step count lives in device memory, so Adam's bias correction and SGD's first
// momentum step come out right on every replay. The error measure is in cuda_test_util.cuh.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cuda_test_util.cuh"
#include "hnn/training/cuda_graph.cuh"
#include "hnn/optim.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

// A weight and a bias with gradients, on one device, from the same host values.
template <class Device>
struct Parameters {
  Tensor<float, Device> w, gw, b, gb;
  explicit Parameters(std::int64_t n, std::uint64_t seed) {
    Rng rng(seed);
    w = Tensor<float, cpu>::from_vector(Shape{n}, random_floats(n, rng)).template to<Device>();
    b = Tensor<float, cpu>::from_vector(Shape{7}, random_floats(7, rng)).template to<Device>();
    gw = Tensor<float, Device>::zeros(Shape{n});
    gb = Tensor<float, Device>::zeros(Shape{7});
  }
  std::vector<Parameter<float, Device>> list() { return {{"weight", &w, &gw}, {"bias", &b, &gb}}; }
  // Fresh gradients for step k, the same on both devices.
  void gradients_for(int k) {
    Rng rng(1000 + static_cast<std::uint64_t>(k));
    gw.copy_from(Tensor<float, cpu>::from_vector(gw.shape(), random_floats(gw.numel(), rng)));
    gb.copy_from(Tensor<float, cpu>::from_vector(gb.shape(), random_floats(gb.numel(), rng)));
  }
};

struct OptimizerCase {
  const char* name;
  const char* optimizer;
  OptimizerArgs args;
};

const std::vector<OptimizerCase> optimizer_cases = {
    {"sgd_plain", "sgd", {{"lr", 0.9}}},
    {"sgd_momentum_weight_decay", "sgd", {{"lr", 0.05}, {"momentum", 0.9}, {"weight_decay", 5e-4}}},
    {"sgd_dampening", "sgd", {{"lr", 0.1}, {"momentum", 0.9}, {"dampening", 0.4}}},
    {"sgd_nesterov", "sgd", {{"lr", 0.1}, {"momentum", 0.8}, {"nesterov", 1}, {"weight_decay", 0.01}}},
    {"adam", "adam", {{"lr", 0.01}, {"weight_decay", 0.01}}},
    {"adamw", "adamw", {{"lr", 0.01}, {"beta1", 0.3}}},
    {"rmsprop", "rmsprop", {{"lr", 0.01}}},
    {"rmsprop_centered_momentum", "rmsprop", {{"lr", 0.01}, {"momentum", 0.5}, {"centered", 1}, {"weight_decay", 0.1}}},
};

TEST(CudaOptimizers, EveryOptimizerStepsAsOnTheCpu) {
  HNN_REQUIRE_GPU();
  for (const OptimizerCase& c : optimizer_cases)
    for (const std::int64_t n : {61706, 1001, 1}) {
      SCOPED_TRACE(std::string(c.name) + ", n = " + std::to_string(n));
      Parameters<cpu> host(n, 600);
      Parameters<cuda> device(n, 600);
      auto on_cpu = make_optimizer<float, cpu>(c.optimizer, host.list(), c.args);
      auto on_gpu = make_optimizer<float, cuda>(c.optimizer, device.list(), c.args);
      for (int k = 0; k < 3; ++k) {
        host.gradients_for(k);
        device.gradients_for(k);
        on_cpu->step();
        on_gpu->step();
      }
      EXPECT_TRUE(all_close(to_host(device.w), host.w.to_vector())) << "weight";
      EXPECT_TRUE(all_close(to_host(device.b), host.b.to_vector())) << "bias";
      const OptimizerState a = on_gpu->state(), b = on_cpu->state();
      EXPECT_EQ(a.step, 3);
      ASSERT_EQ(a.buffers.size(), b.buffers.size());
      for (std::size_t i = 0; i < a.buffers.size(); ++i)
        EXPECT_TRUE(all_close(a.buffers[i].to_vector(), b.buffers[i].to_vector())) << "buffer " << i;
    }
}

// Recorded on its second call and replayed after (StepLauncher<cuda>), every optimizer
// follows its eager CPU twin: nothing a step depends on is frozen into the graph.
TEST(CudaOptimizers, AStepReplayedAsAGraphTakesEachStepsOwnBiasCorrection) {
  HNN_REQUIRE_GPU();
  for (const OptimizerCase& c : optimizer_cases) {
    SCOPED_TRACE(c.name);
    Parameters<cpu> host(4099, 610);
    Parameters<cuda> device(4099, 610);
    auto on_cpu = make_optimizer<float, cpu>(c.optimizer, host.list(), c.args);
    auto on_gpu = make_optimizer<float, cuda>(c.optimizer, device.list(), c.args);
    ASSERT_TRUE(on_gpu->replayable());
    host.gradients_for(0);
    device.gradients_for(0);
    StepLauncher<cuda> launcher;
    for (int k = 0; k < 6; ++k) {
      on_cpu->step();
      launcher.run([&] { on_gpu->step(); });  // the same gradients every step: only the step count changes
    }
    EXPECT_EQ(on_gpu->steps(), 6);
    EXPECT_TRUE(all_close(to_host(device.w), host.w.to_vector(), 1e-3)) << "weight after 6 steps";
    EXPECT_TRUE(all_close(to_host(device.b), host.b.to_vector(), 1e-3)) << "bias after 6 steps";
  }
}

TEST(CudaOptimizers, ParameterGroupsAndARestoredStateAsOnTheCpu) {
  HNN_REQUIRE_GPU();
  Parameters<cpu> host(3001, 620);
  Parameters<cuda> device(3001, 620);
  const auto groups = [](auto& p) {
    auto list = p.list();
    using Group = typename decltype(one_group(list))::value_type;
    return std::vector<Group>{{{list[0]}, {}}, {{list[1]}, {{"lr", 0.02}, {"weight_decay", 0}}}};
  };
  auto on_cpu = make_optimizer<float, cpu>("adamw", groups(host), {{"lr", 0.01}, {"weight_decay", 0.1}});
  auto on_gpu = make_optimizer<float, cuda>("adamw", groups(device), {{"lr", 0.01}, {"weight_decay", 0.1}});
  for (int k = 0; k < 2; ++k) {
    host.gradients_for(k);
    device.gradients_for(k);
    on_cpu->step();
    on_gpu->step();
  }
  // The GPU optimizer resumes from the CPU's state (as from a checkpoint) and both go on.
  auto resumed = make_optimizer<float, cuda>("adamw", groups(device), {{"lr", 0.01}, {"weight_decay", 0.1}});
  resumed->restore(on_cpu->state());
  EXPECT_EQ(resumed->steps(), 2);
  host.gradients_for(2);
  device.gradients_for(2);
  on_cpu->step();
  resumed->step();
  EXPECT_TRUE(all_close(to_host(device.w), host.w.to_vector())) << "weight";
  EXPECT_TRUE(all_close(to_host(device.b), host.b.to_vector())) << "bias";
}

// -------------------------------------------------------------------------------------
// Gradient clipping
// -------------------------------------------------------------------------------------

TEST(CudaClipGradNorm, NormAndClippedGradientsMatchCpu) {
  HNN_REQUIRE_GPU();
  for (const double p : {2.0, 1.0, 3.0, static_cast<double>(INFINITY)})
    for (const double max_norm : {0.5, 1e6}) {
      SCOPED_TRACE("p = " + std::to_string(p) + ", max_norm " + std::to_string(max_norm));
      Parameters<cpu> host(70001, 630);
      Parameters<cuda> device(70001, 630);
      host.gradients_for(3);
      device.gradients_for(3);
      const double expected = clip_grad_norm(host.list(), max_norm, p);
      const double actual = clip_grad_norm(device.list(), max_norm, p);
      EXPECT_TRUE(relatively_close(actual, expected, 1e-6)) << "total norm";
      EXPECT_TRUE(all_close(to_host(device.gw), host.gw.to_vector())) << "weight gradient";
      EXPECT_TRUE(all_close(to_host(device.gb), host.gb.to_vector())) << "bias gradient";
    }
  // In a replayed graph the clipper reads nothing back; its norm is there afterwards.
  Parameters<cuda> device(5000, 631);
  GradNormClipper<float, cuda> clipper(0.1);
  StepLauncher<cuda> launcher;
  for (int k = 0; k < 3; ++k) {
    device.gradients_for(k);
    launcher.run([&] { clipper.clip(device.list()); });
    Parameters<cpu> host(5000, 631);
    host.gradients_for(k);
    EXPECT_TRUE(relatively_close(clipper.last_norm(), clip_grad_norm(host.list(), 0.1), 1e-6)) << "step " << k;
    EXPECT_TRUE(all_close(to_host(device.gw), host.gw.to_vector())) << "step " << k;
  }
}

}  // namespace
