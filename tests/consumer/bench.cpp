// consumer_bench: LeNet-5 training throughput as a user of the installed package gets it
// (find_package(hnn) + target_link_libraries(... hnn::hnn hnn::native), nothing else).
// `make bench` (tests/consumer/bench.sh) runs it beside build/lenet5_bench and prints the
// ratio. It times what lenet5_bench times: after warm-up steps, training steps (forward,
// softmax cross-entropy, backward, SGD) at batch 256, the median of 5 chunks; sigmoid LeNet-5
// with d2l's recipe (lr 0.9). The batches are synthetic (uniform pixels in [0, 1], uniform
// labels): the work per step does not depend on the values.
//
//   consumer_bench [--threads N] [--steps 200] [--warmup 20] [--reps 5] [--pool 32]
#include <hnn/hnn.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

hnn::Sequential<float, hnn::cpu> lenet5() {  // the README's definition
  using namespace hnn;
  return Sequential<float, cpu>(
      Conv2d(1, 6, 5).padding(2), Sigmoid(), AvgPool2d(2, /*stride=*/2),
      Conv2d(6, 16, 5), Sigmoid(), AvgPool2d(2, 2), Flatten(),
      Linear(16 * 5 * 5, 120), Sigmoid(), Linear(120, 84), Sigmoid(), Linear(84, 10));
}

int int_flag(int argc, char** argv, int& i) {
  if (i + 1 >= argc) {
    std::fprintf(stderr, "consumer_bench: %s needs a value\n", argv[i]);
    std::exit(2);
  }
  const int v = std::atoi(argv[++i]);
  if (v < 0) {
    std::fprintf(stderr, "consumer_bench: %s must not be negative\n", argv[i - 1]);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, steps = 200, warmup = 20, reps = 5, pool = 32;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--threads") threads = int_flag(argc, argv, i);
    else if (flag == "--steps") steps = std::max(1, int_flag(argc, argv, i));
    else if (flag == "--warmup") warmup = int_flag(argc, argv, i);
    else if (flag == "--reps") reps = std::max(1, int_flag(argc, argv, i));
    else if (flag == "--pool") pool = std::max(1, int_flag(argc, argv, i));
    else {
      std::fprintf(stderr, "usage: consumer_bench [--threads N] [--steps 200] [--warmup 20] [--reps 5] [--pool 32]\n");
      return flag == "--help" ? 0 : 2;
    }
  }
  reps = std::min(reps, steps);
  if (threads > 0) hnn::set_num_threads(threads);

  constexpr std::int64_t batch = 256;
  hnn::Rng rng(1);
  hnn::Tensor<float> images(hnn::Shape{pool * batch, 1, 28, 28});
  hnn::Tensor<std::int32_t> labels(hnn::Shape{pool * batch});
  for (std::int64_t i = 0; i < images.numel(); ++i) images.data()[i] = static_cast<float>(rng.uniform());
  for (std::int64_t i = 0; i < labels.numel(); ++i) labels.data()[i] = static_cast<std::int32_t>(rng.below(10));

  auto net = lenet5();
  hnn::SGD<float, hnn::cpu> sgd(net.parameters(), hnn::SgdOptions{0.9, 0, 0});
  hnn::SoftmaxCrossEntropy<float, hnn::cpu> loss;
  std::int64_t k = 0;
  auto step = [&] {
    const std::int64_t b = k++ % pool;
    const hnn::Tensor<float>& logits = net.forward(images.slice(b * batch, (b + 1) * batch));
    net.backward(loss.forward_backward(logits, labels.slice(b * batch, (b + 1) * batch)));
    sgd.step();
  };
  for (int i = 0; i < warmup; ++i) step();
  const int chunk = steps / reps;
  std::vector<double> rates;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < chunk; ++i) step();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(chunk * batch) / s);
  }
  std::sort(rates.begin(), rates.end());
  const double median = reps % 2 ? rates[static_cast<std::size_t>(reps / 2)]
                                 : 0.5 * (rates[static_cast<std::size_t>(reps / 2 - 1)] + rates[static_cast<std::size_t>(reps / 2)]);
  std::printf("consumer_bench: sigmoid LeNet-5, batch 256, %d thread%s: %.0f examples/sec (median of %d chunks of %d steps, "
              "after %d warm-up; chunks %.0f-%.0f)\n",
              hnn::num_threads(), hnn::num_threads() == 1 ? "" : "s", median, reps, chunk, warmup, rates.front(),
              rates.back());
  std::printf("{\"train_examples_per_sec\": %.1f, \"threads\": %d}\n", median, hnn::num_threads());
  return 0;
}
