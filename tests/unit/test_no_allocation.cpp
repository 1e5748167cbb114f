// A steady training step allocates nothing on the heap: every buffer is sized by the first
// steps and reused. Checked with replaced global allocation functions that count calls while
// a test asks them to.
//
// What the counter sees: every operator new (std::string, std::vector, std::function, the
// shared_ptr control block that each hnn::Tensor allocation comes with, the kernels' scratch
// buffers). It does not see plain malloc, which Eigen's matrix products use internally; the
// CPU step calls no Eigen product (kernels/cpu/gemm.hpp and the conv2d algorithms do the work).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "../support/lenet5.hpp"
#include "hnn/data/loader.hpp"
#include "hnn/kernels/conv2d_act_pool.hpp"
#include "hnn/data/mnist.hpp"
#include "hnn/model/concat.hpp"
#include "hnn/parallel.hpp"
#include "hnn/training/train.hpp"

#include "../support/test_helpers.hpp"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void* allocate(std::size_t n) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n == 0 ? 1 : n);
}
void* allocate_aligned(std::size_t n, std::align_val_t alignment) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  const std::size_t a = std::max(static_cast<std::size_t>(alignment), sizeof(void*));
  return std::aligned_alloc(a, (std::max<std::size_t>(n, 1) + a - 1) / a * a);
}
}  // namespace

// GCC sees malloc in these replacements and free in the deletes below, and warns that they
// do not match, which is what replacing them means.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  if (void* p = allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = allocate_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = allocate_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return allocate_aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return allocate_aligned(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

using namespace hnn;

namespace {

using hnn::testing::slice_dir;

// Counts the allocations `f` makes.
template <class F>
long allocations_in(F&& f) {
  allocations = 0;
  counting = true;
  f();
  counting = false;
  return allocations.load();
}

struct Case {
  lenet::Variant variant;
  int threads;
};

class NoAllocation : public ::testing::TestWithParam<Case> {
 protected:
  void TearDown() override { set_num_threads(1); }
};

TEST(NoAllocationCounter, SeesAllocations) {
  EXPECT_GE(allocations_in([] {
              int* volatile p = new int(3);  // volatile: the compiler may not elide the pair
              delete p;
            }),
            1);
  EXPECT_GE(allocations_in([] { Tensor<float> t(Shape{16}); }), 1);
}

TEST_P(NoAllocation, TrainingEpochAfterTheFirst) {
  set_num_threads(GetParam().threads);
  // 520 images in batches of 64: 8 full steps and a partial one of 8.
  const DeviceDataset<float, cpu> set(data::load_fashion_mnist(slice_dir, data::Split::test, 520));
  auto model = lenet::lenet5<float, cpu>(GetParam().variant, 1);
  TrainOptions options;
  options.batch_size = 64;
  options.lr = 0.1;
  options.momentum = GetParam().variant == lenet::Variant::relu ? 0.9 : 0.0;
  options.eval_batch_size = 100;
  Trainer<float, cpu> trainer(model, set, options);
  trainer.train_epoch(1);  // warm-up: the first steps size every buffer
  EXPECT_EQ(allocations_in([&] { trainer.train_epoch(2); }), 0) << "heap allocations in the second epoch's steps";
  EXPECT_EQ(allocations_in([&] { trainer.train_epoch(3); }), 0) << "heap allocations in the third epoch's steps";

  SoftmaxCrossEntropy<float, cpu> loss;
  evaluate(model, set, options.eval_batch_size, loss);  // warm-up of the evaluation path
  EXPECT_EQ(allocations_in([&] { evaluate(model, set, options.eval_batch_size, loss); }), 0)
      << "heap allocations in an evaluation pass";
}

// The newer layers (batch norm, dropout, tanh, global average pooling, padded pooling,
// bias-less conv and linear), in training and evaluation mode.
TEST(NoAllocationLayers, ExtendedLayersSteadyStep) {
  Sequential<float, cpu> model(Conv2d(1, 4, 3).padding(1).bias(false), BatchNorm2d(4), Tanh(),
                               MaxPool2d(3, 2).padding(1), AvgPool2d(3, 1).padding(1), Dropout(0.3), Conv2d(4, 4, 3),
                               GlobalAvgPool2d(), Flatten(), Linear(4, 6).bias(false), BatchNorm1d(6));
  Tensor<float> x = Tensor<float>::full(Shape{8, 1, 12, 12}, 0.5f);
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i % 7) * 0.25f;
  const Tensor<float> g = Tensor<float>::full(Shape{8, 6}, 0.1f);
  auto step = [&] {
    model.forward(x);
    model.backward(g);
  };
  step();
  step();
  EXPECT_EQ(allocations_in(step), 0) << "heap allocations in a steady training step";
  model.eval();
  model.forward(x);
  EXPECT_EQ(allocations_in([&] { model.forward(x); }), 0) << "heap allocations in an evaluation forward";
}

// Concat blocks (hnn/model/concat.hpp): an Inception block, then a DenseNet-style block (the
// identity beside BatchNorm + ReLU + Conv2d), in training and evaluation mode.
TEST(NoAllocationLayers, ConcatSteadyStep) {
  Sequential<float, cpu> model(Conv2d(1, 4, 3).padding(1), ReLU(), Inception(4, 2, {2, 3}, {1, 2}, 2),
                               Concat({}, {BatchNorm2d(9), ReLU(), Conv2d(9, 3, 3).padding(1)}), MaxPool2d(2),
                               GlobalAvgPool2d(), Flatten(), Linear(12, 5));
  model.set_input_gradient(true);  // the first layer's input gradient too
  Tensor<float> x(Shape{6, 1, 10, 10});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i % 11) * 0.2f - 1.0f;
  const Tensor<float> g = Tensor<float>::full(Shape{6, 5}, 0.1f);
  auto step = [&] {
    model.forward(x);
    model.backward(g);
  };
  step();
  step();
  EXPECT_EQ(allocations_in(step), 0) << "heap allocations in a steady training step";
  model.eval();
  model.forward(x);
  EXPECT_EQ(allocations_in([&] { model.forward(x); }), 0) << "heap allocations in an evaluation forward";
}

// Plans across the fused kernel's crossover and in both modes, batch norm folded into the layer
// before it in evaluation: once each plan has run, a loop that alternates them (full and last
// partial training batches, evaluation batches) allocates nothing. The folded weights are
// computed again after each mode switch, into the buffers they were first computed into.
TEST(NoAllocationLayers, PlansAcrossTheCrossoverAndModes) {
  Sequential<float, cpu> model(Conv2d(1, 6, 5), BatchNorm2d(6), Sigmoid(), AvgPool2d(2), Flatten(),
                               Linear(6 * 12 * 12, 10), BatchNorm1d(10), ReLU(), Linear(10, 4));
  const std::int64_t full = 64, partial = std::max<std::int64_t>(2, conv2d_act_pool_min_batch<float>(cpu{}) - 1);
  const auto input = [](std::int64_t batch) {
    Tensor<float> x(Shape{batch, 1, 28, 28});
    for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i % 11) * 0.1f;
    return x;
  };
  const Tensor<float> x_full = input(full), x_partial = input(partial), x_one = input(1);
  const Tensor<float> g_full = Tensor<float>::full(Shape{full, 4}, 0.1f), g_partial = Tensor<float>::full(Shape{partial, 4}, 0.1f);
  const auto loop = [&] {
    model.train();
    model.forward(x_full);
    model.backward(g_full);
    model.forward(x_partial);
    model.backward(g_partial);
    model.eval();
    model.forward(x_full);
    model.forward(x_partial);
    model.forward(x_one);
  };
  loop();
  loop();
  EXPECT_EQ(allocations_in(loop), 0) << "heap allocations in a loop over kept plans";
}

// The DataLoader fills its batches into buffers sized when it is built: an epoch after the first
// allocates nothing, with the background thread or without, transforms included.
TEST(NoAllocationLoader, EpochsAfterTheFirst) {
  const data::TensorDataset<float> set = data::fashion_mnist(slice_dir, data::Split::test, 520);
  for (bool background : {true, false}) {
    data::DataLoader loader(set, data::LoaderOptions(64).shuffle(true).background(background),
                            data::Compose(data::RandomCrop(28, 2), data::RandomHorizontalFlip(0.5),
                                          data::Normalize({0.286}, {0.353})));
    const auto epoch = [&] {
      loader.start_epoch();
      while (loader.next()) {
      }
    };
    epoch();  // starts the background thread
    EXPECT_EQ(allocations_in(epoch), 0) << "heap allocations in a loader epoch, background " << background;
  }
}

// Every loss, optimizer, schedule and the gradient clipper: a steady step allocates nothing
// (the first steps size the gradients and the optimizers' buffers).
TEST(NoAllocationTrainingParts, LossesOptimizersSchedulesAndClipping) {
  Tensor<float> x = Tensor<float>::full(Shape{16, 5}, 0.5f), y = Tensor<float>::full(Shape{16, 5}, 0.25f);
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i % 7) * 0.25f - 0.5f;
  const auto labels = Tensor<std::int32_t>::from_vector(Shape{16}, std::vector<std::int32_t>(16, 3));
  CrossEntropyLoss<float> ce(Reduction::mean, 0.1, {1, 2, 1, 0.5, 1});
  MSELoss<float> mse;
  L1Loss<float> l1(Reduction::sum);
  HuberLoss<float> huber;
  SmoothL1Loss<float> smooth;
  BCEWithLogitsLoss<float> bce(Reduction::mean, {1, 2, 3, 4, 5});
  const auto losses = [&] {
    ce.forward_backward(x, labels);
    mse.forward_backward(x, y);
    l1.forward_backward(x, y);
    huber.forward_backward(x, y);
    smooth.forward_backward(x, y);
    bce.forward_backward(x, y);
    ce.accumulate(x, labels);
    mse(x, y);
  };
  losses();
  EXPECT_EQ(allocations_in(losses), 0) << "heap allocations in the losses' steady calls";

  Tensor<float> w = Tensor<float>::full(Shape{40, 30}, 0.5f), gw = Tensor<float>::full(Shape{40, 30}, 0.1f);
  Tensor<float> b = Tensor<float>::full(Shape{30}, 0.5f), gb = Tensor<float>::full(Shape{30}, -0.1f);
  const std::vector<Parameter<float, cpu>> parameters = {{"weight", &w, &gw}, {"bias", &b, &gb}};
  for (const std::string& name : optimizer_names()) {
    auto optimizer = make_optimizer<float, cpu>(name, parameters, {{"lr", 0.01}});
    OneCycleLR schedule(*optimizer, 0.1, 100);
    GradNormClipper<float, cpu> clipper(1.0);
    const auto step = [&] {
      clipper.clip(parameters);
      optimizer->step();
      schedule.step();
    };
    step();
    EXPECT_EQ(allocations_in(step), 0) << "heap allocations in a steady " << name << " step";
  }
}

INSTANTIATE_TEST_SUITE_P(LeNet5, NoAllocation,
                         ::testing::Values(Case{lenet::Variant::sigmoid, 1}, Case{lenet::Variant::sigmoid, 2},
                                           Case{lenet::Variant::relu, 1}, Case{lenet::Variant::relu, 2}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(lenet::name(info.param.variant)) + "_" +
                                  std::to_string(info.param.threads) + "_threads";
                         });

}  // namespace
