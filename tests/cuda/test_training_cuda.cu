// One model definition, two devices: LeNet-5 built for hnn::cuda must start from the same
// weights as on hnn::cpu, compute the same forward pass, and follow the same trajectory
// through SGD, both when the steps are driven by hand and through hnn::train (which
// captures the CUDA step into a graph and replays it, and ends each epoch on a partial
// batch). The error measure is described in cuda_test_util.cuh.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "../support/lenet5.hpp"
#include "cuda_test_util.cuh"
#include "hnn/data/mnist.hpp"
#include "hnn/loss.hpp"
#include "hnn/optim.hpp"
#include "hnn/training/train.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

// Ten steps of float32 rounding differences, amplified a little by the training itself.
constexpr double trajectory_tolerance = 1e-3;
constexpr std::int64_t batch_size = 64;

struct LeNetCase {
  const char* name;
  lenet::Variant variant;
  SgdOptions sgd;
  std::uint64_t seed;
};
std::ostream& operator<<(std::ostream& out, const LeNetCase& c) { return out << c.name; }

// A batch of random images in [0, 1], as pixels are, and random labels.
struct Batch {
  Tensor<float, cpu> images;
  Tensor<std::int32_t, cpu> labels;
};
Batch random_batch(Rng& rng) {
  const std::vector<float> pixels = random_floats(batch_size * 28 * 28, rng, 0, 1);
  const std::vector<std::int32_t> labels = random_labels(batch_size, 10, rng);
  return {Tensor<float, cpu>::from_vector(Shape{batch_size, 1, 28, 28}, pixels),
          Tensor<std::int32_t, cpu>::from_vector(Shape{batch_size}, labels)};
}

template <class Device>
std::vector<std::vector<float>> parameter_values(const Sequential<float, Device>& model) {
  std::vector<std::vector<float>> values;
  for (const auto& p : model.parameters()) values.push_back(p.value->template to<cpu>().to_vector());
  return values;
}

// One hand-driven training step; returns the batch's mean loss.
template <class Device>
double train_step(Sequential<float, Device>& model, SoftmaxCrossEntropy<float, Device>& loss, SGD<float, Device>& sgd,
                  const Batch& batch) {
  const Tensor<float, Device> images = batch.images.to<Device>();
  const Tensor<std::int32_t, Device> labels = batch.labels.to<Device>();
  loss.reset();
  model.backward(loss.forward_backward(model.forward(images), labels));
  sgd.step();
  return loss.totals().loss_sum / static_cast<double>(batch_size);
}

class LeNetOnBothDevices : public ::testing::TestWithParam<LeNetCase> {};

TEST_P(LeNetOnBothDevices, SameInitSameForwardSameTenSgdSteps) {
  HNN_REQUIRE_GPU();
  const LeNetCase& c = GetParam();
  auto cpu_model = lenet::lenet5<float, cpu>(c.variant, c.seed);
  auto cuda_model = lenet::lenet5<float, cuda>(c.variant, c.seed);

  // The initial weights are drawn on the host from the seed, so they agree bit for bit.
  const auto initial_cpu = parameter_values(cpu_model), initial_cuda = parameter_values(cuda_model);
  ASSERT_EQ(initial_cuda.size(), initial_cpu.size());
  for (std::size_t i = 0; i < initial_cpu.size(); ++i)
    ASSERT_TRUE(all_equal(initial_cuda[i], initial_cpu[i])) << "initial parameter " << i;

  Rng rng(c.seed + 1000);
  const Batch first = random_batch(rng);
  const std::vector<float> logits_cpu = cpu_model.forward(first.images).to_vector();
  const std::vector<float> logits_cuda = to_host(cuda_model.forward(first.images.to<cuda>()));
  EXPECT_TRUE(all_close(logits_cuda, logits_cpu, kernel_tolerance)) << "logits of the first forward pass";

  SoftmaxCrossEntropy<float, cpu> cpu_loss;
  SoftmaxCrossEntropy<float, cuda> cuda_loss;
  SGD<float, cpu> cpu_sgd(cpu_model.parameters(), c.sgd);
  SGD<float, cuda> cuda_sgd(cuda_model.parameters(), c.sgd);
  for (int step = 0; step < 10; ++step) {
    const Batch batch = step == 0 ? first : random_batch(rng);
    const double loss_cpu = train_step(cpu_model, cpu_loss, cpu_sgd, batch);
    const double loss_cuda = train_step(cuda_model, cuda_loss, cuda_sgd, batch);
    EXPECT_TRUE(relatively_close(loss_cuda, loss_cpu, trajectory_tolerance)) << "loss of step " << step + 1;
  }

  const auto final_cpu = parameter_values(cpu_model), final_cuda = parameter_values(cuda_model);
  for (std::size_t i = 0; i < final_cpu.size(); ++i) {
    EXPECT_FALSE(all_equal(final_cpu[i], initial_cpu[i])) << "training moved parameter " << i;
    EXPECT_TRUE(all_close(final_cuda[i], final_cpu[i], trajectory_tolerance))
        << "parameter " << i << " (" << cpu_model.parameters()[i].name << ") after ten steps";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, LeNetOnBothDevices,
    ::testing::Values(
        // d2l's settings for the original network.
        LeNetCase{"sigmoid", lenet::Variant::sigmoid, SgdOptions{0.9, 0.0, 0.0}, 11},
        // The modern variant, with momentum and weight decay so that the velocity path runs too.
        LeNetCase{"relu", lenet::Variant::relu, SgdOptions{0.05, 0.9, 1e-4}, 12}),
    [](const ::testing::TestParamInfo<LeNetCase>& info) { return std::string(info.param.name); });

// hnn::train end to end on the 1,000 real images of the committed slice: 15 full batches
// of 64 (the first runs eagerly, the second is captured into a CUDA graph, the rest replay
// it) and a partial batch of 40, per epoch.
TEST(TrainOnBothDevices, SameHistoryOnTheCommittedSlice) {
  HNN_REQUIRE_GPU();
  const data::Dataset all =
      data::load_fashion_mnist(std::string(HNN_SOURCE_DIR) + "/data/fashion-mnist", data::Split::test);
  ASSERT_EQ(all.size, 1000);
  const DeviceDataset<float, cpu> cpu_set(all);
  const DeviceDataset<float, cuda> cuda_set(all);

  TrainOptions options;
  options.epochs = 2;
  options.batch_size = batch_size;
  options.lr = 0.9;
  options.seed = 21;
  auto cpu_model = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 22);
  auto cuda_model = lenet::lenet5<float, cuda>(lenet::Variant::sigmoid, 22);
  // Evaluated on the training images: the slice is small, and agreement is what is tested.
  const auto cpu_history = train(cpu_model, cpu_set, cpu_set, options);
  const auto cuda_history = train(cuda_model, cuda_set, cuda_set, options);

  ASSERT_EQ(cpu_history.size(), 2u);
  ASSERT_EQ(cuda_history.size(), 2u);
  for (std::size_t e = 0; e < cpu_history.size(); ++e) {
    SCOPED_TRACE("epoch " + std::to_string(e + 1));
    EXPECT_TRUE(std::isfinite(cuda_history[e].train_loss));
    EXPECT_TRUE(relatively_close(cuda_history[e].train_loss, cpu_history[e].train_loss, trajectory_tolerance))
        << "mean training loss";
    EXPECT_NEAR(cuda_history[e].train_acc, cpu_history[e].train_acc, 0.01) << "training accuracy";
    EXPECT_NEAR(cuda_history[e].test_acc, cpu_history[e].test_acc, 0.01) << "test accuracy";
  }
}

// Adam under a cosine schedule, and SGD with momentum under a step schedule, on both devices:
// both are recorded and replayed as CUDA graphs (Adam's bias correction reads the step count
// from device memory), and a new rate drops the recorded step so the next one records it.
TEST(TrainOnBothDevices, OptimizersAndSchedulesAgree) {
  HNN_REQUIRE_GPU();
  const data::Dataset all =
      data::load_fashion_mnist(std::string(HNN_SOURCE_DIR) + "/data/fashion-mnist", data::Split::test);
  const DeviceDataset<float, cpu> cpu_set(all);
  const DeviceDataset<float, cuda> cuda_set(all);
  for (const std::string kind : {"adam", "sgd"}) {
    SCOPED_TRACE(kind);
    TrainOptions options;
    options.epochs = 3;
    options.batch_size = batch_size;
    options.seed = 23;
    options.optimizer = kind;
    if (kind == "adam") {
      options.lr = 2e-3;
      options.schedule = ScheduleKind::cosine;
    } else {
      options.lr = 0.1;
      options.momentum = 0.9;
      options.schedule = ScheduleKind::step;
      options.step_size = 1;
      options.gamma = 0.5;
    }
    auto cpu_model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 24);
    auto cuda_model = lenet::lenet5<float, cuda>(lenet::Variant::relu, 24);
    const auto cpu_history = train(cpu_model, cpu_set, cpu_set, options);
    const auto cuda_history = train(cuda_model, cuda_set, cuda_set, options);
    ASSERT_EQ(cuda_history.size(), 3u);
    for (std::size_t e = 0; e < cpu_history.size(); ++e) {
      SCOPED_TRACE("epoch " + std::to_string(e + 1));
      EXPECT_TRUE(relatively_close(cuda_history[e].train_loss, cpu_history[e].train_loss, trajectory_tolerance))
          << "mean training loss " << cuda_history[e].train_loss << " vs " << cpu_history[e].train_loss;
      EXPECT_NEAR(cuda_history[e].test_acc, cpu_history[e].test_acc, 0.02) << "test accuracy";
    }
  }
}

// A diverging run stops at the same batch on both devices: the sigmoid net at lr 1000 whose
// loss explodes but stays finite. On the GPU the check runs inside the replayed graph and is
// read at the end of the epoch; the message names the first bad batch either way.
TEST(TrainOnBothDevices, ADivergingRunStopsAtTheSameBatch) {
  HNN_REQUIRE_GPU();
  const data::Dataset all =
      data::load_fashion_mnist(std::string(HNN_SOURCE_DIR) + "/data/fashion-mnist", data::Split::test);
  const DeviceDataset<float, cpu> cpu_set(all);
  const DeviceDataset<float, cuda> cuda_set(all);
  TrainOptions options;
  options.epochs = 1;
  options.batch_size = batch_size;
  options.lr = 1000;
  const auto stop = [&](auto& model, const auto& set) -> std::string {
    try {
      train(model, set, set, options);
    } catch (const DivergedError& e) {
      const std::string what = e.what();
      return what.substr(0, what.find(':'));  // "training diverged at epoch E, batch B"
    }
    return "no DivergedError";
  };
  auto cpu_model = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 0);
  auto cuda_model = lenet::lenet5<float, cuda>(lenet::Variant::sigmoid, 0);
  const std::string on_cpu = stop(cpu_model, cpu_set);
  EXPECT_EQ(on_cpu.rfind("training diverged at epoch 1, batch ", 0), 0u) << on_cpu;
  EXPECT_EQ(stop(cuda_model, cuda_set), on_cpu);
}

}  // namespace
