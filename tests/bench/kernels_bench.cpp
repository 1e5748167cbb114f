// hnn_kernels_bench: one Google Benchmark per CPU kernel at LeNet-5's shapes (batch 256
// for training, the second argument is the thread count), so that a regression shows up
// in the op where it happens.
//
//   build/hnn_kernels_bench                       every kernel, 1 and 2 threads
//   build/hnn_kernels_bench --benchmark_filter=Conv2   one family
//
// items_per_second counts samples of the batch; FLOP/s (where shown) counts multiply-adds x 2.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include <hnn/init.hpp>
#include <hnn/kernels/activation.hpp>
#include <hnn/kernels/conv2d.hpp>
#include <hnn/kernels/conv2d_act_pool.hpp>
#include <hnn/kernels/linear.hpp>
#include <hnn/kernels/cross_entropy.hpp>
#include <hnn/kernels/pool2d.hpp>
#include <hnn/kernels/sgd.hpp>
#include <hnn/parallel.hpp>

namespace {

using namespace hnn;

constexpr std::int64_t batch = 256;

std::vector<float> random_vector(std::int64_t n, std::uint64_t seed, double low = -1, double high = 1) {
  Rng rng(seed);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<float>(rng.uniform(low, high));
  return v;
}

// conv1: (256, 1, 28, 28) -> (256, 6, 28, 28), 5x5, padding 2.
// conv2: (256, 6, 14, 14) -> (256, 16, 10, 10), 5x5.
Conv2dGeometry conv_geometry(int which) {
  Conv2dGeometry g;
  g.batch = batch;
  g.kernel = 5;
  if (which == 1) {
    g.in_channels = 1, g.in_height = g.in_width = 28, g.out_channels = 6, g.padding = 2;
  } else {
    g.in_channels = 6, g.in_height = g.in_width = 14, g.out_channels = 16, g.padding = 0;
  }
  return g;
}

void set_counters(benchmark::State& state, double flop_per_iteration) {
  state.SetItemsProcessed(state.iterations() * batch);
  if (flop_per_iteration > 0)
    state.counters["FLOP/s"] = benchmark::Counter(flop_per_iteration * static_cast<double>(state.iterations()),
                                                  benchmark::Counter::kIsRate);
}

double conv_macs(const Conv2dGeometry& g) {
  return static_cast<double>(g.batch * g.out_channels * g.out_pixels() * g.patch_size());
}

void BM_Conv2dForward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(1)));
  const Conv2dGeometry g = conv_geometry(static_cast<int>(state.range(0)));
  const auto x = random_vector(g.batch * g.in_channels * g.in_pixels(), 1);
  const auto w = random_vector(g.weight_count(), 2), b = random_vector(g.out_channels, 3);
  std::vector<float> y(static_cast<std::size_t>(g.batch * g.out_channels * g.out_pixels()));
  std::vector<float> ws(static_cast<std::size_t>(conv2d_workspace_size(cpu{}, g)));
  for (auto _ : state) {
    conv2d_forward(cpu{}, g, x.data(), w.data(), b.data(), y.data(), ws.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2 * conv_macs(g));
}

// conv1 needs no input gradient (it is the first layer); conv2 does.
void BM_Conv2dBackward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(1)));
  const int which = static_cast<int>(state.range(0));
  const Conv2dGeometry g = conv_geometry(which);
  const auto x = random_vector(g.batch * g.in_channels * g.in_pixels(), 1);
  const auto w = random_vector(g.weight_count(), 2);
  const auto dy = random_vector(g.batch * g.out_channels * g.out_pixels(), 4);
  std::vector<float> dx(x.size()), dw(w.size()), db(static_cast<std::size_t>(g.out_channels));
  std::vector<float> ws(static_cast<std::size_t>(conv2d_workspace_size(cpu{}, g)));
  for (auto _ : state) {
    conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), which == 1 ? nullptr : dx.data(), dw.data(), db.data(),
                    ws.data());
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2 * conv_macs(g) * (which == 1 ? 1 : 2));
}

// The ResNet example's 3x3 stride-1 convolutions (padding 1, no bias) at batch 256:
// 0: the stem 1 -> 16 at 28x28, 1: 16 -> 16 at 28x28, 2: 32 -> 32 at 14x14, 3: 64 -> 64 at 7x7.
Conv2dGeometry resnet_geometry(int which) {
  static const std::int64_t channels[] = {16, 16, 32, 64}, sides[] = {28, 28, 14, 7};
  Conv2dGeometry g;
  g.batch = batch;
  g.in_channels = which == 0 ? 1 : channels[which];
  g.out_channels = channels[which];
  g.in_height = g.in_width = sides[which];
  g.kernel = 3;
  g.padding = 1;
  return g;
}
const Conv2dAlgorithm resnet_algorithms[] = {Conv2dAlgorithm::direct, Conv2dAlgorithm::channel_major,
                                             Conv2dAlgorithm::winograd, Conv2dAlgorithm::im2col};

// {shape, algorithm (0 direct, 1 channel_major, 2 winograd, 3 im2col), threads}
void BM_ResNetConvForward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(2)));
  const Conv2dGeometry g = resnet_geometry(static_cast<int>(state.range(0)));
  const Conv2dAlgorithm algorithm = resnet_algorithms[state.range(1)];
  if (!supports<float>(cpu{}, algorithm, g)) return state.SkipWithError("not supported");
  const auto x = random_vector(g.batch * g.in_channels * g.in_pixels(), 1);
  const auto w = random_vector(g.weight_count(), 2);
  std::vector<float> y(static_cast<std::size_t>(g.batch * g.out_channels * g.out_pixels()));
  std::vector<float> ws(static_cast<std::size_t>(conv2d_workspace_size(cpu{}, g, algorithm)));
  for (auto _ : state) {
    conv2d_forward(cpu{}, g, x.data(), w.data(), static_cast<const float*>(nullptr), y.data(), ws.data(), algorithm);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2 * conv_macs(g));
}

// The backward with the default weight gradient and the input gradient by the named algorithm
// (0 direct, 1 channel_major, 2 winograd, 3 im2col): the differences are the input gradient's.
void BM_ResNetConvBackward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(2)));
  const Conv2dGeometry g = resnet_geometry(static_cast<int>(state.range(0)));
  Conv2dBackwardAlgorithms algorithms = choose_backward<float>(cpu{}, g);
  algorithms.input_gradient = resnet_algorithms[state.range(1)];
  if (algorithms.input_gradient == Conv2dAlgorithm::im2col) algorithms.weight_gradient = Conv2dAlgorithm::im2col;
  if (!supports<float>(cpu{}, algorithms, g)) return state.SkipWithError("not supported");
  const auto x = random_vector(g.batch * g.in_channels * g.in_pixels(), 1);
  const auto w = random_vector(g.weight_count(), 2);
  const auto dy = random_vector(g.batch * g.out_channels * g.out_pixels(), 4);
  std::vector<float> dx(x.size()), dw(w.size());
  std::vector<float> ws(static_cast<std::size_t>(conv2d_workspace_size(cpu{}, g, algorithms)));
  for (auto _ : state) {
    conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), static_cast<float*>(nullptr),
                    ws.data(), algorithms);
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 4 * conv_macs(g));
}

// The fused Conv2d + sigmoid + 2x2 average pooling that LeNet-5's training step runs
// (cpu/conv2d/fused_act_pool.hpp); the plain conv benchmarks above time the unfused direct kernels.
void BM_ConvSigmoidPoolForward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(1)));
  const Conv2dGeometry g = conv_geometry(static_cast<int>(state.range(0)));
  const auto x = random_vector(g.batch * g.in_channels * g.in_pixels(), 1);
  const auto w = random_vector(g.weight_count(), 2), b = random_vector(g.out_channels, 3);
  std::vector<float> act(static_cast<std::size_t>(conv2d_act_pool_activation_size<float>(cpu{}, g)));
  std::vector<float> pooled(static_cast<std::size_t>(g.batch * g.out_channels * (g.out_pixels() / 4)));
  std::vector<float> ws(static_cast<std::size_t>(conv2d_act_pool_workspace_size(cpu{}, g)));
  for (auto _ : state) {
    conv2d_act_pool_forward(cpu{}, g, FusedActivation::sigmoid, FusedPooling::average, x.data(), w.data(), b.data(),
                            act.data(), pooled.data(), ws.data());
    benchmark::DoNotOptimize(pooled.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2 * conv_macs(g));
}

void BM_ConvSigmoidPoolBackward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(1)));
  const int which = static_cast<int>(state.range(0));
  const Conv2dGeometry g = conv_geometry(which);
  const auto x = random_vector(g.batch * g.in_channels * g.in_pixels(), 1);
  const auto w = random_vector(g.weight_count(), 2), b = random_vector(g.out_channels, 3);
  std::vector<float> act(static_cast<std::size_t>(conv2d_act_pool_activation_size<float>(cpu{}, g)));
  std::vector<float> pooled(static_cast<std::size_t>(g.batch * g.out_channels * (g.out_pixels() / 4)));
  std::vector<float> ws(static_cast<std::size_t>(conv2d_act_pool_workspace_size(cpu{}, g)));
  conv2d_act_pool_forward(cpu{}, g, FusedActivation::sigmoid, FusedPooling::average, x.data(), w.data(), b.data(),
                          act.data(), pooled.data(), ws.data());
  const auto dp = random_vector(static_cast<std::int64_t>(pooled.size()), 4);
  std::vector<float> dx(x.size()), dw(w.size()), db(b.size());
  for (auto _ : state) {
    conv2d_act_pool_backward(cpu{}, g, FusedActivation::sigmoid, FusedPooling::average, x.data(), w.data(),
                             act.data(), dp.data(), which == 1 ? nullptr : dx.data(), dw.data(), db.data(), ws.data());
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2 * conv_macs(g) * (which == 1 ? 1 : 2));
}

// pool1: (256, 6, 28, 28) -> 14x14; pool2: (256, 16, 10, 10) -> 5x5.
Pool2dGeometry pool_geometry(int which) {
  Pool2dGeometry g;
  g.batch = batch;
  g.channels = which == 1 ? 6 : 16;
  g.in_height = g.in_width = which == 1 ? 28 : 10;
  return g;
}

void BM_AvgPool2dForward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(1)));
  const Pool2dGeometry g = pool_geometry(static_cast<int>(state.range(0)));
  const auto x = random_vector(g.planes() * g.in_height * g.in_width, 1);
  std::vector<float> y(static_cast<std::size_t>(g.planes() * g.out_height() * g.out_width()));
  for (auto _ : state) {
    avg_pool2d_forward(cpu{}, g, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 0);
}

void BM_AvgPool2dBackward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(1)));
  const Pool2dGeometry g = pool_geometry(static_cast<int>(state.range(0)));
  const auto dy = random_vector(g.planes() * g.out_height() * g.out_width(), 1);
  std::vector<float> dx(static_cast<std::size_t>(g.planes() * g.in_height * g.in_width));
  for (auto _ : state) {
    avg_pool2d_backward(cpu{}, g, dy.data(), dx.data());
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 0);
}

void BM_MaxPool2dForward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(1)));
  const Pool2dGeometry g = pool_geometry(static_cast<int>(state.range(0)));
  const auto x = random_vector(g.planes() * g.in_height * g.in_width, 1);
  std::vector<float> y(static_cast<std::size_t>(g.planes() * g.out_height() * g.out_width()));
  std::vector<std::int32_t> argmax(y.size());
  for (auto _ : state) {
    max_pool2d_forward(cpu{}, g, x.data(), y.data(), argmax.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 0);
}

void BM_MaxPool2dBackward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(1)));
  const Pool2dGeometry g = pool_geometry(static_cast<int>(state.range(0)));
  const auto x = random_vector(g.planes() * g.in_height * g.in_width, 1);
  std::vector<float> y(static_cast<std::size_t>(g.planes() * g.out_height() * g.out_width()));
  std::vector<std::int32_t> argmax(y.size());
  max_pool2d_forward(cpu{}, g, x.data(), y.data(), argmax.data());
  const auto dy = random_vector(static_cast<std::int64_t>(y.size()), 2);
  std::vector<float> dx(x.size());
  for (auto _ : state) {
    max_pool2d_backward(cpu{}, g, dy.data(), argmax.data(), dx.data());
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 0);
}

// Elementwise ops at conv1's output size: 256 x 6 x 28 x 28.
constexpr std::int64_t act_size = batch * 6 * 28 * 28;

void BM_SigmoidForward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(0)));
  const auto x = random_vector(act_size, 1, -6, 6);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    sigmoid_forward(cpu{}, x.data(), y.data(), act_size);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 0);
}

void BM_SigmoidBackward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(0)));
  const auto y = random_vector(act_size, 1, 0, 1), dy = random_vector(act_size, 2);
  std::vector<float> dx(y.size());
  for (auto _ : state) {
    sigmoid_backward(cpu{}, y.data(), dy.data(), dx.data(), act_size);
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 0);
}

void BM_ReluForward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(0)));
  const auto x = random_vector(act_size, 1);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    relu_forward(cpu{}, x.data(), y.data(), act_size);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 0);
}

void BM_ReluBackward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(0)));
  const auto x = random_vector(act_size, 1), dy = random_vector(act_size, 2);
  std::vector<float> dx(x.size());
  for (auto _ : state) {
    relu_backward(cpu{}, x.data(), dy.data(), dx.data(), act_size);
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 0);
}

// Linear layers of LeNet-5: 400 -> 120, 120 -> 84, 84 -> 10 (argument 0 picks one).
struct LinearShape {
  std::int64_t in, out;
};
LinearShape linear_shape(int which) { return which == 1 ? LinearShape{400, 120} : which == 2 ? LinearShape{120, 84} : LinearShape{84, 10}; }

void BM_LinearForward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(1)));
  const LinearShape s = linear_shape(static_cast<int>(state.range(0)));
  const auto x = random_vector(batch * s.in, 1), w = random_vector(s.out * s.in, 2), b = random_vector(s.out, 3);
  std::vector<float> y(static_cast<std::size_t>(batch * s.out));
  for (auto _ : state) {
    linear_forward(cpu{}, batch, s.in, s.out, x.data(), w.data(), b.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2.0 * batch * s.in * s.out);
}

void BM_LinearBackward(benchmark::State& state) {
  set_num_threads(static_cast<int>(state.range(1)));
  const LinearShape s = linear_shape(static_cast<int>(state.range(0)));
  const auto x = random_vector(batch * s.in, 1), w = random_vector(s.out * s.in, 2);
  const auto dy = random_vector(batch * s.out, 3);
  std::vector<float> dx(x.size()), dw(w.size()), db(static_cast<std::size_t>(s.out));
  for (auto _ : state) {
    linear_backward(cpu{}, batch, s.in, s.out, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 4.0 * batch * s.in * s.out);
}

void BM_SoftmaxCrossEntropy(benchmark::State& state) {
  const auto z = random_vector(batch * 10, 1, -3, 3);
  std::vector<std::int32_t> labels(batch);
  for (std::int64_t i = 0; i < batch; ++i) labels[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % 10);
  std::vector<float> dz(z.size());
  double stats[LossStats::size] = {};
  stats[LossStats::first_bad_batch] = -1;
  for (auto _ : state) {
    cross_entropy(cpu{}, batch, 10, z.data(), labels.data(), static_cast<const float*>(nullptr), 0.0f, Reduction::mean,
                  dz.data(), stats, nullptr, nullptr);
    benchmark::DoNotOptimize(dz.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 0);
}

// The SGD update over all 61,706 parameters of LeNet-5 (one call per tensor in a real step).
void BM_SgdUpdate(benchmark::State& state) {
  const std::int64_t n = 61706;
  auto p = random_vector(n, 1);
  const auto g = random_vector(n, 2);
  std::vector<float> v(p.size(), 0.0f);
  const bool with_momentum = state.range(0) != 0;
  const std::int64_t step = 2;  // past the momentum buffer's first step
  for (auto _ : state) {
    sgd_update(cpu{}, n, p.data(), g.data(), with_momentum ? v.data() : nullptr,
               SgdHyper<float>{1e-6f, with_momentum ? 0.9f : 0.0f, 0.0f, 0.0f, false}, &step, 1);
    benchmark::DoNotOptimize(p.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 0);
}

// {layer (1 or 2), threads}
BENCHMARK(BM_Conv2dForward)->ArgsProduct({{1, 2}, {1, 2}})->ArgNames({"conv", "threads"})->UseRealTime();
BENCHMARK(BM_Conv2dBackward)->ArgsProduct({{1, 2}, {1, 2}})->ArgNames({"conv", "threads"})->UseRealTime();
BENCHMARK(BM_ResNetConvForward)
    ->ArgsProduct({{0, 1, 2, 3}, {0, 1, 2, 3}, {1, 2}})
    ->ArgNames({"shape", "algorithm", "threads"})
    ->UseRealTime();
BENCHMARK(BM_ResNetConvBackward)
    ->ArgsProduct({{0, 1, 2, 3}, {0, 1, 2, 3}, {1, 2}})
    ->ArgNames({"shape", "algorithm", "threads"})
    ->UseRealTime();
BENCHMARK(BM_ConvSigmoidPoolForward)->ArgsProduct({{1, 2}, {1, 2}})->ArgNames({"conv", "threads"})->UseRealTime();
BENCHMARK(BM_ConvSigmoidPoolBackward)->ArgsProduct({{1, 2}, {1, 2}})->ArgNames({"conv", "threads"})->UseRealTime();
BENCHMARK(BM_AvgPool2dForward)->ArgsProduct({{1, 2}, {1, 2}})->ArgNames({"pool", "threads"})->UseRealTime();
BENCHMARK(BM_AvgPool2dBackward)->ArgsProduct({{1, 2}, {1, 2}})->ArgNames({"pool", "threads"})->UseRealTime();
BENCHMARK(BM_MaxPool2dForward)->ArgsProduct({{1, 2}, {1, 2}})->ArgNames({"pool", "threads"})->UseRealTime();
BENCHMARK(BM_MaxPool2dBackward)->ArgsProduct({{1, 2}, {1, 2}})->ArgNames({"pool", "threads"})->UseRealTime();
BENCHMARK(BM_SigmoidForward)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_SigmoidBackward)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_ReluForward)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_ReluBackward)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();
BENCHMARK(BM_LinearForward)->ArgsProduct({{1, 2, 3}, {1, 2}})->ArgNames({"fc", "threads"})->UseRealTime();
BENCHMARK(BM_LinearBackward)->ArgsProduct({{1, 2, 3}, {1, 2}})->ArgNames({"fc", "threads"})->UseRealTime();
BENCHMARK(BM_SoftmaxCrossEntropy);
BENCHMARK(BM_SgdUpdate)->Arg(0)->Arg(1)->ArgName("momentum");

}  // namespace

BENCHMARK_MAIN();
