// ops_bench: the speed floors of hnn/ops.hpp and hnn/autograd.hpp, each as a ratio
// against its reference measured in the same process, alternating, best (or median) of rounds.
//
//   ops_bench [--mode all|elementwise|matmul|lenet] [--threads N] [--rounds N] [--steps N] [--smoke]
//
// elementwise  16M floats (64 MB per operand): a + b, x * 2, exp(x) and a broadcast row add,
//              into an existing output (hnn::ops::binary_into / unary) and as a new tensor
//              (a + b). Bandwidth counts the bytes each reads and writes; the reference is
//              memcpy of 64 MB split over the same threads (and, printed beside, one memcpy
//              call). Floor: >= 0.70 of memcpy's bandwidth.
// matmul       square float products at 512, 1024 and 2048 through hnn::ops::matmul against
//              Eigen's C.noalias() = A * B on row-major matrices (preallocated C); also a batch
//              of 16 products at 512. Floor: >= 0.85 of Eigen's GFLOP/s at 512 and larger.
// lenet        LeNet-5 (sigmoid, d2l's recipe, SGD lr 0.9) training at batch 256 on random
//              images: (a) the hand-written step hnn::Trainer runs (forward,
//              SoftmaxCrossEntropy::forward_backward, backward, SGD step) against (b) the same
//              through the graph: cross_entropy(net(Var(x)), labels).backward(), SGD step; and
//              hnn::Trainer::train_epoch against an epoch of (b) gathering its batches from the
//              same device dataset. Floor: (b) within 5% of the trainer (ratio >= 0.95).
//
// --threads N sets hnn::set_num_threads (default: OpenMP's). --smoke shrinks every size and
// step count for a quick check that it runs (numbers meaningless).
#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include <hnn/autograd.hpp>
#include <hnn/kernels/batch.hpp>
#include <hnn/training/train.hpp>

#include "../support/lenet5.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using hnn::Shape;
using hnn::Tensor;

struct Options {
  std::string mode = "all";
  int threads = 0;
  int rounds = 7;
  int steps = 40;
  bool smoke = false;
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "ops_bench: %s\n", what.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(flag + " needs a value");
      return argv[++i];
    };
    const auto number = [&](int min) {
      const std::string text = value();
      char* end = nullptr;
      const long v = std::strtol(text.c_str(), &end, 10);
      if (text.empty() || *end != '\0' || v < min || v > 100000) fail(flag + " expects an integer >= " + std::to_string(min));
      return static_cast<int>(v);
    };
    if (flag == "--mode") o.mode = value();
    else if (flag == "--threads") o.threads = number(1);
    else if (flag == "--rounds") o.rounds = number(1);
    else if (flag == "--steps") o.steps = number(1);
    else if (flag == "--smoke") o.smoke = true;
    else if (flag == "--help" || flag == "-h") {
      std::puts("usage: ops_bench [--mode all|elementwise|matmul|lenet] [--threads N] [--rounds N] [--steps N] [--smoke]");
      std::exit(0);
    } else {
      fail("unknown flag " + flag + " (see --help)");
    }
  }
  if (o.mode != "all" && o.mode != "elementwise" && o.mode != "matmul" && o.mode != "lenet")
    fail("--mode must be all, elementwise, matmul or lenet, got " + o.mode);
  if (o.smoke) {
    o.rounds = std::min(o.rounds, 2);
    o.steps = std::min(o.steps, 2);
  }
  return o;
}

double seconds_of(const std::function<void()>& f) {
  const auto start = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Tensor<float> random_floats(const Shape& s, std::uint64_t seed, double low = -1, double high = 1) {
  hnn::Rng rng(seed);
  Tensor<float> t(s);
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.uniform(low, high));
  return t;
}

// ---------------------------------------------------------------------------------------------

void elementwise(const Options& o) {
  const std::int64_t n = o.smoke ? (1 << 16) : (std::int64_t{1} << 24);
  const double mb = static_cast<double>(n) * sizeof(float) / 1e6;
  const Tensor<float> a = random_floats(Shape{n}, 1), b = random_floats(Shape{n}, 2);
  const Tensor<float> row = random_floats(Shape{4096}, 3);
  Tensor<float> out(Shape{n}), copy(Shape{n});
  std::fill(out.data(), out.data() + n, 0.0f);  // touched: no page faults in the timed runs
  std::fill(copy.data(), copy.data() + n, 0.0f);
  const Tensor<float> a2 = a.reshape(Shape{n / 4096, 4096});
  Tensor<float> out2 = out.reshape(Shape{n / 4096, 4096});

  const auto memcpy_threads = [&] {
#if defined(_OPENMP)
#pragma omp parallel
#endif
    {
      const auto [begin, end] = hnn::detail::thread_range(n, hnn::thread_index(), hnn::team_size());
      std::memcpy(copy.data() + begin, a.data() + begin, static_cast<std::size_t>(end - begin) * sizeof(float));
    }
  };
  const auto memcpy_one = [&] { std::memcpy(copy.data(), a.data(), static_cast<std::size_t>(n) * sizeof(float)); };
  struct Case {
    const char* name;
    double streams;  // operands read + written, in units of n floats
    std::function<void()> run;
  };
  const std::vector<Case> cases = {
      {"add into (a + b -> out)", 3, [&] { hnn::ops::binary_into(hnn::BinaryOp::add, a, b, out); }},
      {"mul by a scalar into", 2, [&] { hnn::ops::detail::binary_into(hnn::BinaryOp::mul, hnn::ops::detail::operand(a),
                                                                      hnn::ops::detail::operand<float, hnn::cpu>(2.0f), out); }},
      {"exp into", 2, [&] { hnn::unary(hnn::cpu{}, hnn::UnaryOp::exp, n, a.data(), out.data()); }},
      {"broadcast row add into", 2, [&] { hnn::ops::binary_into(hnn::BinaryOp::add, a2, row, out2); }},
      {"a + b, a new tensor", 3, [&] { const Tensor<float> c = a + b; }},
  };
  std::vector<double> t_memcpy, t_memcpy_one;
  std::vector<std::vector<double>> t_cases(cases.size());
  for (int r = 0; r < o.rounds + 1; ++r) {  // round 0 warms up
    const double m = seconds_of(memcpy_threads), m1 = seconds_of(memcpy_one);
    if (r > 0) t_memcpy.push_back(m), t_memcpy_one.push_back(m1);
    for (std::size_t c = 0; c < cases.size(); ++c) {
      const double t = seconds_of(cases[c].run);
      if (r > 0) t_cases[c].push_back(t);
    }
  }
  const double best_memcpy = *std::min_element(t_memcpy.begin(), t_memcpy.end());
  const double memcpy_gbs = 2 * mb / best_memcpy / 1e3;
  const double memcpy_one_gbs = 2 * mb / *std::min_element(t_memcpy_one.begin(), t_memcpy_one.end()) / 1e3;
  std::printf("elementwise, %lld floats, %d threads: memcpy %.1f GB/s over the threads (one call: %.1f GB/s)\n",
              static_cast<long long>(n), hnn::num_threads(), memcpy_gbs, memcpy_one_gbs);
  for (std::size_t c = 0; c < cases.size(); ++c) {
    const double best = *std::min_element(t_cases[c].begin(), t_cases[c].end());
    const double gbs = cases[c].streams * mb / best / 1e3;
    std::printf("  %-28s %7.2f ms  %6.1f GB/s  ratio to memcpy %.2f%s\n", cases[c].name, best * 1e3, gbs,
                gbs / memcpy_gbs, c == 0 ? "   (floor 0.70)" : "");
  }
}

// ---------------------------------------------------------------------------------------------

void matmul(const Options& o) {
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::printf("matmul (float), %d threads: hnn::ops::matmul against Eigen's product, best of %d\n", hnn::num_threads(),
              o.rounds);
  const std::vector<std::int64_t> sizes = o.smoke ? std::vector<std::int64_t>{64} : std::vector<std::int64_t>{512, 1024, 2048};
  for (std::int64_t s : sizes) {
    const Tensor<float> a = random_floats(Shape{s, s}, 4), b = random_floats(Shape{s, s}, 5);
    const Eigen::Map<const Matrix> A(a.data(), s, s), B(b.data(), s, s);
    Matrix C(s, s);
    std::vector<double> t_eigen, t_hnn;
    for (int r = 0; r < o.rounds + 1; ++r) {
      const double te = seconds_of([&] { C.noalias() = A * B; });
      const double th = seconds_of([&] { const Tensor<float> c = hnn::ops::matmul(a, b); });
      if (r > 0) t_eigen.push_back(te), t_hnn.push_back(th);
    }
    const double flops = 2.0 * static_cast<double>(s) * static_cast<double>(s) * static_cast<double>(s);
    const double eigen = flops / *std::min_element(t_eigen.begin(), t_eigen.end()) / 1e9;
    const double ours = flops / *std::min_element(t_hnn.begin(), t_hnn.end()) / 1e9;
    std::printf("  %4lld x %-4lld  Eigen %7.1f GFLOP/s  hnn %7.1f GFLOP/s  ratio %.2f   (floor 0.85)\n",
                static_cast<long long>(s), static_cast<long long>(s), eigen, ours, ours / eigen);
  }
  const std::int64_t s = o.smoke ? 32 : 512, batch = 16;
  const Tensor<float> a = random_floats(Shape{batch, s, s}, 6), b = random_floats(Shape{batch, s, s}, 7);
  std::vector<Matrix> C(static_cast<std::size_t>(batch), Matrix(s, s));
  std::vector<double> t_eigen, t_hnn;
  for (int r = 0; r < o.rounds + 1; ++r) {
    const double te = seconds_of([&] {
      for (std::int64_t i = 0; i < batch; ++i)
        C[static_cast<std::size_t>(i)].noalias() = Eigen::Map<const Matrix>(a.data() + i * s * s, s, s) *
                                                   Eigen::Map<const Matrix>(b.data() + i * s * s, s, s);
    });
    const double th = seconds_of([&] { const Tensor<float> c = hnn::ops::matmul(a, b); });
    if (r > 0) t_eigen.push_back(te), t_hnn.push_back(th);
  }
  const double flops = 2.0 * static_cast<double>(batch * s * s * s);
  const double eigen = flops / *std::min_element(t_eigen.begin(), t_eigen.end()) / 1e9;
  const double ours = flops / *std::min_element(t_hnn.begin(), t_hnn.end()) / 1e9;
  std::printf("  %lld x (%lld x %lld) batched: Eigen loop %7.1f GFLOP/s  hnn %7.1f GFLOP/s  ratio %.2f\n",
              static_cast<long long>(batch), static_cast<long long>(s), static_cast<long long>(s), eigen, ours,
              ours / eigen);
}

// ---------------------------------------------------------------------------------------------

void lenet_training(const Options& o) {
  const std::int64_t batch = o.smoke ? 16 : 256, batches = o.smoke ? 2 : 16;
  const int steps = o.steps;
  // Random images and labels: a step's cost does not depend on the pixels.
  hnn::data::Dataset data;
  data.size = batch * batches;
  data.rows = data.cols = 28;
  data.class_names.assign(10, "class");
  hnn::Rng rng(8);
  data.images.resize(static_cast<std::size_t>(data.size * 784));
  for (float& p : data.images) p = static_cast<float>(rng.uniform());
  data.labels.resize(static_cast<std::size_t>(data.size));
  for (std::int32_t& l : data.labels) l = static_cast<std::int32_t>(rng.below(10));
  const hnn::DeviceDataset<float, hnn::cpu> set(data);
  std::vector<Tensor<float>> images;
  std::vector<Tensor<std::int32_t>> labels;
  for (std::int64_t b = 0; b < batches; ++b) {
    images.push_back(set.images.slice(b * batch, (b + 1) * batch).clone());
    labels.push_back(set.labels.slice(b * batch, (b + 1) * batch).clone());
  }

  auto hand_net = lenet::lenet5<float, hnn::cpu>(lenet::Variant::sigmoid, 0);
  auto graph_net = lenet::lenet5<float, hnn::cpu>(lenet::Variant::sigmoid, 0);
  hnn::SGD<float, hnn::cpu> hand_sgd(hand_net.parameters(), {0.9}), graph_sgd(graph_net.parameters(), {0.9});
  hnn::SoftmaxCrossEntropy<float, hnn::cpu> loss_fn;
  std::size_t next_hand = 0, next_graph = 0;
  const auto hand_step = [&] {
    const std::size_t i = next_hand++ % images.size();
    hand_net.backward(loss_fn.forward_backward(hand_net.forward(images[i]), labels[i]));
    hand_sgd.step();
  };
  const auto graph_step = [&] {
    const std::size_t i = next_graph++ % images.size();
    const hnn::Var<float> loss = cross_entropy(graph_net(hnn::Var<float>(images[i])), labels[i]);
    loss.backward();
    graph_sgd.step();
  };

  // The built-in trainer's epoch against an epoch of graph steps that gather their batches from
  // the same device dataset in a shuffled order, as the trainer does.
  auto trainer_net = lenet::lenet5<float, hnn::cpu>(lenet::Variant::sigmoid, 0);
  auto epoch_net = lenet::lenet5<float, hnn::cpu>(lenet::Variant::sigmoid, 0);
  hnn::TrainOptions options;
  options.batch_size = batch;
  options.lr = 0.9;
  hnn::Trainer<float, hnn::cpu> trainer(trainer_net, set, options);
  hnn::SGD<float, hnn::cpu> epoch_sgd(epoch_net.parameters(), {0.9});
  Tensor<std::int32_t> order(Shape{set.size()});
  std::iota(order.data(), order.data() + order.numel(), 0);
  Tensor<float> batch_images(Shape{batch, 1, 28, 28});
  Tensor<std::int32_t> batch_labels(Shape{batch});
  hnn::Rng shuffle(9);
  int epoch = 0;
  const auto trainer_epoch = [&] { trainer.train_epoch(++epoch); };
  const auto graph_epoch = [&] {
    for (std::int64_t i = order.numel() - 1; i > 0; --i)
      std::swap(order[i], order[static_cast<std::int64_t>(shuffle.below(static_cast<std::uint64_t>(i) + 1))]);
    for (std::int64_t b = 0; b < batches; ++b) {
      hnn::gather_batch(hnn::cpu{}, batch, 784, set.images.data(), set.labels.data(), order.data(), &b, batch,
                        batch_images.data(), batch_labels.data());
      const hnn::Var<float> loss = cross_entropy(epoch_net(hnn::Var<float>(batch_images)), batch_labels);
      loss.backward();
      epoch_sgd.step();
    }
  };

  for (int w = 0; w < 3; ++w) hand_step(), graph_step();  // plans compiled, buffers sized
  trainer_epoch();
  graph_epoch();
  std::vector<double> hand, graph, by_trainer, by_graph_epoch;
  for (int r = 0; r < o.rounds; ++r) {
    hand.push_back(seconds_of([&] { for (int s = 0; s < steps; ++s) hand_step(); }));
    graph.push_back(seconds_of([&] { for (int s = 0; s < steps; ++s) graph_step(); }));
    by_trainer.push_back(seconds_of(trainer_epoch));
    by_graph_epoch.push_back(seconds_of(graph_epoch));
  }
  const double per_step = static_cast<double>(batch * steps), per_epoch = static_cast<double>(set.size());
  const double hand_rate = per_step / median(hand), graph_rate = per_step / median(graph);
  const double trainer_rate = per_epoch / median(by_trainer), epoch_rate = per_epoch / median(by_graph_epoch);
  std::printf("lenet5 sigmoid training, batch %lld, %d threads, median of %d rounds (examples/sec):\n",
              static_cast<long long>(batch), hnn::num_threads(), o.rounds);
  std::printf("  hand-written step %9.0f   graph step %9.0f   ratio %.3f\n", hand_rate, graph_rate, graph_rate / hand_rate);
  std::printf("  Trainer epoch     %9.0f   graph epoch %8.0f   ratio %.3f   (floor 0.95)\n", trainer_rate, epoch_rate,
              epoch_rate / trainer_rate);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.threads > 0) hnn::set_num_threads(o.threads);
  if (o.mode == "all" || o.mode == "elementwise") elementwise(o);
  if (o.mode == "all" || o.mode == "matmul") matmul(o);
  if (o.mode == "all" || o.mode == "lenet") lenet_training(o);
  return 0;
}
