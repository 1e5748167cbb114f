// lenet5_bench: how fast hnn trains and runs d2l's LeNet-5 on this CPU, measured the way the
// PyTorch peer (tests/bench/peers/pytorch_lenet.py --mode bench) measures it, so that
// `make bench-peers` can divide one by the other. `--variant resnet` measures the ResNet
// example's network instead (examples/resnet/model.hpp; its peer is pytorch_resnet.py).
//
//   lenet5_bench [--data DIR] [--variant sigmoid|relu|both|resnet] [--threads 1,2] [--steps 200]
//                [--reps 5] [--warmup 20] [--infer-steps 50] [--infer-warmup 5]
//                [--pool 32] [--profile] [--profile-runs 50] [--no-ceiling] [--json]
//
// Training: a pool of random batches of 256 is gathered from the real training set first;
// after the warm-up steps, `--steps` steps (forward, loss, backward, SGD update: what d2l
// counts) are timed in `--reps` chunks and the median chunk rate is reported.
// Inference: the same for forward passes over batches of 1,000 test images.
// Work: the multiply-adds of every Conv2d and Linear, counted from the layer shapes
// (forward; backward = weight gradients + input gradients except for the first layer).
// Ceiling: the best rate of a large Eigen float GEMM in this same program, per thread count.
#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>
#if defined(__unix__)
#include <sys/resource.h>
#endif

#include <hnn/data/mnist.hpp>
#include <hnn/training/train.hpp>

#include "../../examples/resnet/model.hpp"  // the benchmark measures the example's own network
#include "../support/data_dir.hpp"
#include "../support/lenet5.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using hnn::Shape;
using hnn::Tensor;

// The networks measured, each with the recipe its peer uses too: LeNet-5's two variants, and
// the ResNet example (SGD lr 0.1, momentum 0.9, weight decay 5e-4, its defaults).
enum class Net { sigmoid, relu, resnet };

const char* name(Net n) { return n == Net::sigmoid ? "sigmoid" : n == Net::relu ? "relu" : "resnet"; }

hnn::Sequential<float, hnn::cpu> build(Net n) {
  if (n == Net::resnet) return resnet::resnet<float, hnn::cpu>(0);
  return lenet::lenet5<float, hnn::cpu>(n == Net::sigmoid ? lenet::Variant::sigmoid : lenet::Variant::relu, 0);
}

hnn::SgdOptions recipe(Net n) {
  if (n == Net::sigmoid) return {0.9, 0, 0};
  if (n == Net::relu) return {0.05, 0.9, 0};
  return {0.1, 0.9, 5e-4};
}

struct Options {
  std::string data_dir;
  std::vector<Net> variants{Net::sigmoid, Net::relu};
  std::vector<int> threads{1, 2};
  int warmup = 20, steps = 200, reps = 5;
  int infer_warmup = 5, infer_steps = 50;
  std::int64_t batch = 256, infer_batch = 1000;
  int pool = 32;
  bool profile = false;
  int profile_runs = 50;
  bool ceiling = true;
  bool json = false;
  bool fusion = true;
};

const char* const usage =
    "usage: lenet5_bench [options]\n"
    "LeNet-5 (d2l.ai) on Fashion-MNIST: training examples/sec (batch 256) and inference\n"
    "images/sec (batch 1000) per variant and thread count, the work per example, this\n"
    "machine's FP32 GEMM ceiling, peak RSS.\n"
    "\n"
    "  --data DIR            Fashion-MNIST folder (default: $HNN_DATA, data/fashion-mnist,\n"
    "                        /usr/share/datasets/fashion-mnist)\n"
    "  --variant V           sigmoid, relu or both (LeNet-5; default both), or resnet (the ResNet example)\n"
    "  --threads LIST        comma-separated thread counts (default 1,2)\n"
    "  --warmup N            untimed training steps first (default 20)\n"
    "  --steps N             timed training steps (default 200), split into --reps chunks\n"
    "  --reps N              chunks; the median chunk rate is reported (default 5)\n"
    "  --infer-warmup N      untimed inference batches (default 5)\n"
    "  --infer-steps N       timed inference batches of 1000 (default 50)\n"
    "  --pool N              distinct random batches gathered up front and cycled (default 32)\n"
    "  --profile             also time every layer's forward and backward at batch 256\n"
    "  --profile-runs N      steps the profile takes the median of (default 50)\n"
    "  --no-ceiling          skip the Eigen GEMM ceiling measurement\n"
    "  --no-fusion           run Conv2d, activation and pooling as three layers (Sequential::set_fusion)\n"
    "  --json                print one JSON object line with every figure at the end\n";

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "lenet5_bench: %s\n", what.c_str());
  std::exit(2);
}

int parse_int(const std::string& flag, const std::string& text, int min) {
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < min || v > 1000000)
    fail(flag + " expects an integer >= " + std::to_string(min) + ", got '" + text + "'");
  return static_cast<int>(v);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    if (flag == "--profile") { o.profile = true; continue; }
    if (flag == "--no-ceiling") { o.ceiling = false; continue; }
    if (flag == "--json") { o.json = true; continue; }
    if (flag == "--no-fusion") { o.fusion = false; continue; }
    if (i + 1 >= argc) fail(flag + " needs a value (see --help)");
    const std::string value = argv[++i];
    if (flag == "--data") o.data_dir = value;
    else if (flag == "--variant") {
      if (value == "sigmoid") o.variants = {Net::sigmoid};
      else if (value == "relu") o.variants = {Net::relu};
      else if (value == "both") o.variants = {Net::sigmoid, Net::relu};
      else if (value == "resnet") o.variants = {Net::resnet};
      else fail("--variant must be sigmoid, relu, both or resnet, got '" + value + "'");
    } else if (flag == "--threads") {
      o.threads.clear();
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) o.threads.push_back(parse_int(flag, item, 1));
      if (o.threads.empty()) fail("--threads needs at least one count");
    } else if (flag == "--warmup") o.warmup = parse_int(flag, value, 0);
    else if (flag == "--steps") o.steps = parse_int(flag, value, 1);
    else if (flag == "--reps") o.reps = parse_int(flag, value, 1);
    else if (flag == "--infer-warmup") o.infer_warmup = parse_int(flag, value, 0);
    else if (flag == "--infer-steps") o.infer_steps = parse_int(flag, value, 1);
    else if (flag == "--pool") o.pool = parse_int(flag, value, 1);
    else if (flag == "--profile-runs") o.profile_runs = parse_int(flag, value, 1);
    else fail("unknown flag " + flag + " (see --help)");
  }
  o.reps = std::min(o.reps, std::min(o.steps, o.infer_steps));
  return o;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  return "unknown CPU";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  if (!(in >> a >> b >> c)) return "unknown";
  return a + " " + b + " " + c;
}

double rss_mb(bool peak) {
#if defined(__unix__)
  if (peak) {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;  // kilobytes on Linux
  }
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
#else
  (void)peak;
#endif
  return 0;
}

// ---------------------------------------------------------------------------------------
// The work: multiply-adds of the Conv2d and Linear layers, from the shapes the model infers.
struct Work {
  double forward = 0;   // FLOP per example, forward
  double backward = 0;  // FLOP per example, weight gradients + input gradients
  double training() const { return forward + backward; }
};

// `first_with_input`: whether the chain starts the model (Sequential skips that layer's input gradient).
void count_work(const std::vector<hnn::LayerSpec>& specs, Shape shape, bool first_with_input, Work& w) {
  for (const hnn::LayerSpec& spec : specs) {
    double macs = 0;
    if (const auto* c = spec.get_if<hnn::Conv2d>()) {
      const hnn::Conv2dGeometry g = c->geometry(shape);
      macs = static_cast<double>(g.out_channels * g.out_pixels() * g.patch_size());
    } else if (const auto* l = spec.get_if<hnn::Linear>()) {
      macs = static_cast<double>(l->in_features * l->out_features);
    } else if (const auto* r = spec.get_if<hnn::Residual>()) {
      count_work(r->body(), shape, first_with_input, w);
      count_work(r->shortcut(), shape, first_with_input, w);
    }
    w.forward += 2 * macs;
    w.backward += 2 * macs * (first_with_input ? 1 : 2);
    first_with_input = false;
    shape = spec.output_shape(shape);
  }
}

Work count_work(const std::vector<hnn::LayerSpec>& specs, const Shape& shape) {
  Work w;
  count_work(specs, shape, true, w);
  return w;
}

// ---------------------------------------------------------------------------------------
// The machine's FP32 ceiling: the best rate of a large Eigen GEMM, per thread count.
double gemm_ceiling_gflops(int threads) {
  hnn::set_num_threads(threads);
  double best = 0;
  for (const int n : {1024, 2048}) {
    Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
    c.noalias() = a * b;  // warm-up
    for (int r = 0; r < 3; ++r) {
      const auto t0 = Clock::now();
      c.noalias() = a * b;
      best = std::max(best, 2.0 * n * n * n / seconds_since(t0) / 1e9);
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------
// Batches gathered up front, as the PyTorch peer does, so that no data loading is timed.
struct BatchPool {
  Tensor<float> images;
  Tensor<std::int32_t> labels;
  std::int64_t batch = 0, count = 0;

  BatchPool(const hnn::data::Dataset& d, std::int64_t batch_size, int batches, std::uint64_t seed)
      : batch(batch_size), count(std::max<std::int64_t>(1, std::min<std::int64_t>(batches, d.size / batch_size))) {
    const std::int64_t pixels = d.rows * d.cols;
    std::vector<std::int32_t> order(static_cast<std::size_t>(d.size));
    for (std::int64_t i = 0; i < d.size; ++i) order[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i);
    hnn::Rng rng(seed);
    for (std::int64_t i = d.size - 1; i > 0; --i)
      std::swap(order[static_cast<std::size_t>(i)], order[rng.below(static_cast<std::uint64_t>(i) + 1)]);
    images = Tensor<float>(Shape{count * batch, 1, d.rows, d.cols});
    labels = Tensor<std::int32_t>(Shape{count * batch});
    for (std::int64_t i = 0; i < count * batch; ++i) {
      const std::int32_t src = order[static_cast<std::size_t>(i)];
      std::copy_n(d.images.data() + static_cast<std::int64_t>(src) * pixels, pixels, images.data() + i * pixels);
      labels[i] = d.labels[static_cast<std::size_t>(src)];
    }
  }
  Tensor<float> x(std::int64_t k) const { return images.slice((k % count) * batch, (k % count + 1) * batch); }
  Tensor<std::int32_t> y(std::int64_t k) const { return labels.slice((k % count) * batch, (k % count + 1) * batch); }
};

struct Result {
  Net variant = Net::sigmoid;
  int threads = 1;
  std::vector<double> train_rates, infer_rates;
  double train = 0, infer = 0, last_loss = 0;
};

Result measure(const Options& o, Net variant, int threads, const BatchPool& train, const BatchPool& test) {
  hnn::set_num_threads(threads);
  auto model = build(variant);
  model.set_fusion(o.fusion);
  hnn::SGD<float, hnn::cpu> sgd(model.parameters(), recipe(variant));
  hnn::SoftmaxCrossEntropy<float, hnn::cpu> loss;
  // Size every buffer for the largest batch first, as hnn::Trainer does (in evaluation mode,
  // which leaves batch-norm statistics alone).
  model.eval();
  model.forward(test.x(0));
  model.train();

  std::int64_t k = 0;
  auto train_step = [&] {
    const Tensor<float>& logits = model.forward(train.x(k));
    model.backward(loss.forward_backward(logits, train.y(k)));
    sgd.step();
    ++k;
  };
  Result r;
  r.variant = variant;
  r.threads = threads;
  for (int i = 0; i < o.warmup; ++i) train_step();
  const int chunk = o.steps / o.reps;
  for (int rep = 0; rep < o.reps; ++rep) {
    loss.reset();
    const auto t0 = Clock::now();
    for (int i = 0; i < chunk; ++i) train_step();
    r.train_rates.push_back(static_cast<double>(chunk * train.batch) / seconds_since(t0));
    r.last_loss = loss.totals().loss_sum / static_cast<double>(chunk * train.batch);
  }
  if (!(r.last_loss < 10)) throw std::runtime_error("training diverged in the benchmark (loss " + std::to_string(r.last_loss) + ")");

  model.eval();
  std::int64_t j = 0;
  for (int i = 0; i < o.infer_warmup; ++i) model.forward(test.x(j++));
  const int ichunk = o.infer_steps / o.reps;
  for (int rep = 0; rep < o.reps; ++rep) {
    const auto t0 = Clock::now();
    for (int i = 0; i < ichunk; ++i) model.forward(test.x(j++));
    r.infer_rates.push_back(static_cast<double>(ichunk * test.batch) / seconds_since(t0));
  }
  r.train = median(r.train_rates);
  r.infer = median(r.infer_rates);
  return r;
}

// ---------------------------------------------------------------------------------------
// Where a training step's time goes: each step of the model's plan (a layer, or a fused
// Conv2d + activation + pooling run as Sequential executes it), forward and backward; the
// loss; SGD.
void profile(const Options& o, Net variant, int threads, const BatchPool& train) {
  hnn::set_num_threads(threads);
  auto model = build(variant);
  hnn::SGD<float, hnn::cpu> sgd(model.parameters(), recipe(variant));
  hnn::SoftmaxCrossEntropy<float, hnn::cpu> loss;
  model.set_fusion(o.fusion);
  const hnn::Plan<float, hnn::cpu>& plan_of_model = model.plan(train.x(0).shape());
  struct Step {
    hnn::Stage<float, hnn::cpu>* stage;
    std::string name;
  };
  std::vector<Step> plan;
  for (const auto& step : plan_of_model.steps()) {
    std::string name;
    for (std::size_t k = step.first; k < step.first + step.count; ++k)
      name += (k == step.first ? "" : " + ") + model.spec(k).str();
    plan.push_back({step.stage, name});
  }
  const std::size_t n = plan.size();
  // rows: forward of each step, backward of each step, loss, SGD
  std::vector<std::vector<double>> t(2 * n + 2);
  std::vector<double> whole;  // each step from the first forward to the end of SGD
  for (int run = 0; run < o.warmup + o.profile_runs; ++run) {
    const bool keep = run >= o.warmup;
    const auto step_start = Clock::now();
    const Tensor<float> input = train.x(run);
    const Tensor<float>* x = &input;
    for (std::size_t i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      x = &plan[i].stage->forward(*x);
      if (keep) t[i].push_back(seconds_since(t0));
    }
    auto t0 = Clock::now();
    const Tensor<float>* g = &loss.forward_backward(*x, train.y(run));
    if (keep) t[2 * n].push_back(seconds_since(t0));
    for (std::size_t i = n; i-- > 0;) {
      t0 = Clock::now();
      g = &plan[i].stage->backward(*g);
      if (keep) t[n + i].push_back(seconds_since(t0));
    }
    t0 = Clock::now();
    sgd.step();
    if (keep) t[2 * n + 1].push_back(seconds_since(t0));
    if (keep) whole.push_back(seconds_since(step_start));
  }
  std::vector<double> med(t.size());
  double total = 0;
  for (std::size_t i = 0; i < t.size(); ++i) total += med[i] = median(t[i]);
  std::printf("\nprofile: %s, %d thread%s, batch %lld, %s, median of %d steps (microseconds; share of the step)\n",
              name(variant), threads, threads == 1 ? "" : "s", static_cast<long long>(train.batch),
              o.fusion ? "fused" : "layer by layer", o.profile_runs);
  std::printf("  %-76s %9s %6s %9s %6s\n", "step", "forward", "", "backward", "");
  for (std::size_t i = 0; i < n; ++i)
    std::printf("  %-76s %9.1f %5.1f%% %9.1f %5.1f%%\n", plan[i].name.c_str(), 1e6 * med[i], 100 * med[i] / total,
                1e6 * med[n + i], 100 * med[n + i] / total);
  std::printf("  %-76s %9.1f %5.1f%%\n", "softmax cross-entropy (forward + gradient)", 1e6 * med[2 * n],
              100 * med[2 * n] / total);
  std::printf("  %-76s %9.1f %5.1f%%\n", "SGD update", 1e6 * med[2 * n + 1], 100 * med[2 * n + 1] / total);
  std::printf("  %-76s %9.1f us per step = %.0f examples/sec\n", "sum of medians", 1e6 * total,
              static_cast<double>(train.batch) / total);
  const double step = median(whole);
  std::printf("  %-76s %9.1f us per step = %.0f examples/sec (min %.1f us, max %.1f us)\n", "median whole step",
              1e6 * step, static_cast<double>(train.batch) / step, 1e6 * *std::min_element(whole.begin(), whole.end()),
              1e6 * *std::max_element(whole.begin(), whole.end()));
}

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    const std::string load_start = load_average();
    const std::string dir = lenet::find_data_dir(o.data_dir);
    const auto t_load = Clock::now();
    const hnn::data::Dataset train_set = hnn::data::load_fashion_mnist(dir, hnn::data::Split::train);
    const hnn::data::Dataset test_set = hnn::data::load_fashion_mnist(dir, hnn::data::Split::test);
    hnn::data::require_image_shape(train_set, 28, 28);
    hnn::data::require_image_shape(test_set, 28, 28);
    const BatchPool train(train_set, o.batch, o.pool, 0), test(test_set, o.infer_batch, o.pool, 1);
    const double load_seconds = seconds_since(t_load), rss_data = rss_mb(false);

    // The work of the first network measured (LeNet-5's variants all do the same work).
    const Work work = count_work(build(o.variants.front()).specs(), Shape{1, 1, 28, 28});
    std::printf("hnn lenet5_bench on %s (%d hardware threads), load average %s\n", cpu_model().c_str(),
                hnn::num_threads(), load_start.c_str());
    std::printf("data: %s (%lld train, %lld test images, loaded in %.2f s)\n", dir.c_str(),
                static_cast<long long>(train_set.size), static_cast<long long>(test_set.size), load_seconds);
    std::printf("work per example (multiply-adds of Conv2d and Linear x 2, from the layer shapes): "
                "forward %.3f MFLOP, training %.3f MFLOP (forward + weight gradients + input gradients "
                "but the first layer's)\n",
                work.forward / 1e6, work.training() / 1e6);

    std::vector<std::pair<int, double>> ceiling;
    if (o.ceiling) {
      for (int t : o.threads) ceiling.emplace_back(t, gemm_ceiling_gflops(t));
      std::printf("FP32 ceiling (Eigen GEMM, n = 1024 and 2048, best of 3):");
      for (const auto& [t, g] : ceiling) std::printf("  %d thread%s %.1f GFLOP/s", t, t == 1 ? "" : "s", g);
      std::printf("\n");
    }
    auto ceiling_for = [&](int t) {
      for (const auto& [tt, g] : ceiling)
        if (tt == t) return g;
      return 0.0;
    };

    std::printf("\n%-8s %7s %14s %20s %8s %6s %14s %8s %6s\n", "variant", "threads", "train ex/s", "(chunks min-max)",
                "GFLOP/s", "ceil%", "infer img/s", "GFLOP/s", "ceil%");
    std::vector<Result> results;
    for (Net v : o.variants)
      for (int t : o.threads) {
        const Result r = measure(o, v, t, train, test);
        results.push_back(r);
        const double tg = r.train * work.training() / 1e9, ig = r.infer * work.forward / 1e9, c = ceiling_for(t);
        char range[64];
        std::snprintf(range, sizeof range, "(%.0f-%.0f)", *std::min_element(r.train_rates.begin(), r.train_rates.end()),
                      *std::max_element(r.train_rates.begin(), r.train_rates.end()));
        std::printf("%-8s %7d %14.0f %20s %8.1f %5.0f%% %14.0f %8.1f %5.0f%%\n", name(v), t, r.train, range, tg,
                    c > 0 ? 100 * tg / c : 0.0, r.infer, ig, c > 0 ? 100 * ig / c : 0.0);
        std::fflush(stdout);
      }
    for (Net v : o.variants) {
      double one = 0, two = 0;
      for (const Result& r : results)
        if (r.variant == v) (r.threads == 1 ? one : r.threads == 2 ? two : one) = r.train;
      if (one > 0 && two > 0) std::printf("%s: 2 threads train %.2fx 1 thread\n", name(v), two / one);
    }
    const double peak = rss_mb(true);
    std::printf("peak RSS %.1f MiB (after loading the data %.1f MiB); load average now %s\n", peak, rss_data,
                load_average().c_str());

    if (o.profile)
      for (Net v : o.variants)
        for (int t : o.threads) profile(o, v, t, train);

    if (o.json) {
      std::printf("{\"peer\": \"hnn\", \"cpu\": \"%s\", \"load_average_start\": \"%s\", \"load_average_end\": \"%s\", "
                  "\"forward_flop_per_example\": %.0f, \"training_flop_per_example\": %.0f, \"ceiling_gflops\": {",
                  cpu_model().c_str(), load_start.c_str(), load_average().c_str(), work.forward, work.training());
      for (std::size_t i = 0; i < ceiling.size(); ++i)
        std::printf("%s\"%d\": %.2f", i ? ", " : "", ceiling[i].first, ceiling[i].second);
      std::printf("}, \"simd_floats\": %lld, \"fusion\": %s, \"peak_rss_mb\": %.1f, \"rss_after_data_mb\": %.1f, "
                  "\"results\": [",
                  static_cast<long long>(hnn::detail::packet_size<float>), o.fusion ? "true" : "false", peak, rss_data);
      for (std::size_t i = 0; i < results.size(); ++i) {
        const Result& r = results[i];
        std::printf("%s{\"variant\": \"%s\", \"threads\": %d, \"train_examples_per_sec\": %.1f, "
                    "\"train_chunk_rates\": %s, \"infer_images_per_sec\": %.1f, \"infer_chunk_rates\": %s, "
                    "\"train_gflops\": %.2f, \"infer_gflops\": %.2f, \"last_loss\": %.4f}",
                    i ? ", " : "", name(r.variant), r.threads, r.train, json_list(r.train_rates).c_str(), r.infer,
                    json_list(r.infer_rates).c_str(), r.train * work.training() / 1e9, r.infer * work.forward / 1e9,
                    r.last_loss);
      }
      std::printf("]}\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lenet5_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
