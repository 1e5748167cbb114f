// latency_bench: how long one inference call takes, the figure a program that embeds a trained
// network answers one request at a time cares about. LeNet-5 (sigmoid and relu) and the
// ResNet example, in evaluation mode, at batches 1, 8 and 64 on one thread and at batch 1000 on
// two; measured the way its peer (tests/bench/peers/onnxruntime_latency.py: onnxruntime on the
// same networks exported from PyTorch) measures, so that tests/bench/compare_latency.py
// (`make bench-peers`) can put the two side by side.
//
//   latency_bench [--data DIR] [--nets sigmoid,relu,resnet] [--cases 1x1,8x1,64x1,1000x2]
//                 [--reps 5] [--chunk-ms 200] [--warmup-ms 100] [--fusion on|off] [--json]
//   latency_bench --crossover [--max-batch 32] [--reps 5] [--chunk-ms 20] [--warmup-ms 10] [--json]
//
// A case BxT is batch B on T threads. Per case: warm-up calls for --warmup-ms (the first
// compiles the plan), then the number of calls that fills about --chunk-ms is timed --reps
// times; each chunk gives microseconds per call, and the median chunk is the figure (all
// chunks are in the JSON). Inputs are test images of Fashion-MNIST (a different batch each
// call, from a pool), or a fixed pattern when the data is not found.
//
// --crossover measures what the fused kernel's crossover (kernels/conv2d_act_pool.hpp) decides,
// on one thread: for each of LeNet-5's two Conv2d + activation + 2x2 pooling runs (sigmoid with
// average pooling, ReLU with max pooling) and each batch 1..--max-batch, the evaluation forward
// of the fused kernel against the three layers' kernels one after the other (the convolution's
// default algorithm, the activation, the pooling without argmax), the two timed in alternating
// chunks. It prints both times, their ratio, and the smallest batch from which the fused kernel
// is faster at every larger batch measured, beside the crossover this binary was built with.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <hnn/data/mnist.hpp>
#include <hnn/kernels/activation.hpp>
#include <hnn/kernels/conv2d.hpp>
#include <hnn/kernels/conv2d_act_pool.hpp>
#include <hnn/kernels/pool2d.hpp>
#include <hnn/parallel.hpp>
#include <hnn/model/sequential.hpp>

#include "../../examples/resnet/model.hpp"  // the example's own network
#include "../support/data_dir.hpp"
#include "../support/lenet5.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Case {
  std::int64_t batch;
  int threads;
};

struct Options {
  std::string data_dir;
  std::vector<std::string> nets{"sigmoid", "relu", "resnet"};
  std::vector<Case> cases{{1, 1}, {8, 1}, {64, 1}, {1000, 2}};
  int reps = 5;
  double chunk_ms = 200, warmup_ms = 100;
  bool fusion = true, json = false;
  bool crossover = false;
  std::int64_t max_batch = 32;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "latency_bench: %s\nusage: latency_bench [--data DIR] [--nets sigmoid,relu,resnet] "
                       "[--cases 1x1,8x1,64x1,1000x2] [--reps 5] [--chunk-ms 200] [--warmup-ms 100] "
                       "[--fusion on|off] [--json]\n"
                       "       latency_bench --crossover [--max-batch 32] [--reps 5] [--chunk-ms 20] "
                       "[--warmup-ms 10] [--json]\n",
               what.c_str());
  std::exit(2);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin <= s.size()) {
    const std::size_t comma = std::min(s.find(',', begin), s.size());
    if (comma > begin) out.push_back(s.substr(begin, comma - begin));
    begin = comma + 1;
  }
  return out;
}

long long positive(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v <= 0) usage_error(flag + " expects a positive integer, got '" + text + "'");
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--crossover") {  // its own defaults: short chunks
      o.crossover = true;
      o.chunk_ms = 20;
      o.warmup_ms = 10;
    }
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--json") {
      o.json = true;
      continue;
    }
    if (flag == "--crossover") continue;
    if (i + 1 >= argc) usage_error(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--data") o.data_dir = value;
    else if (flag == "--nets") {
      o.nets = split(value);
      for (const std::string& n : o.nets)
        if (n != "sigmoid" && n != "relu" && n != "resnet") usage_error("--nets: unknown network '" + n + "'");
    } else if (flag == "--cases") {
      o.cases.clear();
      for (const std::string& c : split(value)) {
        const std::size_t x = c.find('x');
        if (x == std::string::npos) usage_error("--cases: '" + c + "' is not BATCHxTHREADS");
        o.cases.push_back({positive("--cases", c.substr(0, x)), static_cast<int>(positive("--cases", c.substr(x + 1)))});
      }
    } else if (flag == "--reps") o.reps = static_cast<int>(positive(flag, value));
    else if (flag == "--chunk-ms") o.chunk_ms = static_cast<double>(positive(flag, value));
    else if (flag == "--warmup-ms") o.warmup_ms = static_cast<double>(positive(flag, value));
    else if (flag == "--max-batch") o.max_batch = positive(flag, value);
    else if (flag == "--fusion") {
      if (value != "on" && value != "off") usage_error("--fusion must be on or off");
      o.fusion = value == "on";
    } else usage_error("unknown flag " + flag);
  }
  if (o.nets.empty() || o.cases.empty()) usage_error("nothing to measure");
  return o;
}

hnn::Sequential<float, hnn::cpu> build(const std::string& net) {
  if (net == "resnet") return resnet::resnet<float, hnn::cpu>(0);
  return lenet::lenet5<float, hnn::cpu>(net == "sigmoid" ? lenet::Variant::sigmoid : lenet::Variant::relu, 0);
}

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

// The images a case cycles through: `count` batches of `batch` test images each (fewer distinct
// images when the test set is smaller: they repeat).
std::vector<hnn::Tensor<float, hnn::cpu>> input_pool(const std::vector<float>& images, std::int64_t batch, int count) {
  const std::int64_t pixels = 28 * 28;
  const std::int64_t available = static_cast<std::int64_t>(images.size()) / pixels;
  std::vector<hnn::Tensor<float, hnn::cpu>> pool;
  std::int64_t next = 0;
  for (int k = 0; k < count; ++k) {
    hnn::Tensor<float, hnn::cpu> t(hnn::Shape{batch, 1, 28, 28});
    for (std::int64_t i = 0; i < batch; ++i, next = (next + 1) % available)
      std::copy(images.begin() + next * pixels, images.begin() + (next + 1) * pixels, t.data() + i * pixels);
    pool.push_back(std::move(t));
  }
  return pool;
}

struct Result {
  std::string net;
  Case c;
  double median_us = 0;
  std::vector<double> chunks_us;
  long long calls_per_chunk = 0;
};

std::string json_list(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// ---------------------------------------------------------------------------------------------
// --crossover: the fused kernel against the three layers' kernels, per batch, one thread

struct ConvRun {
  const char* name;
  hnn::Conv2dGeometry g;  // batch set per measurement
  hnn::FusedActivation act;
  hnn::FusedPooling pool;
};

// One batch of one run: the buffers both paths need, filled once, and the two calls.
class CrossoverCase {
 public:
  CrossoverCase(const ConvRun& run, std::int64_t batch) : run_(run), g_(run.g) {
    g_.batch = batch;
    pool_.batch = batch;
    pool_.channels = g_.out_channels;
    pool_.in_height = g_.out_height();
    pool_.in_width = g_.out_width();
    pool_.kernel = 2;
    pool_.stride = 2;
    const std::int64_t in_n = batch * g_.in_channels * g_.in_pixels(), conv_n = batch * g_.out_channels * g_.out_pixels();
    input_.assign(static_cast<std::size_t>(in_n), 0);
    for (std::size_t i = 0; i < input_.size(); ++i) input_[i] = 0.5f + 0.5f * std::sin(0.37f * static_cast<float>(i));
    weight_.assign(static_cast<std::size_t>(g_.weight_count()), 0);
    for (std::size_t i = 0; i < weight_.size(); ++i) weight_[i] = 0.2f * std::cos(0.11f * static_cast<float>(i));
    bias_.assign(static_cast<std::size_t>(g_.out_channels), 0.01f);
    conv_.resize(static_cast<std::size_t>(conv_n));
    act_.resize(conv_.size());
    pooled_.resize(static_cast<std::size_t>(pool_.planes() * pool_.out_height() * pool_.out_width()));
    algorithm_ = hnn::choose<float>(hnn::cpu{}, g_);
    conv_workspace_.resize(static_cast<std::size_t>(std::max<std::int64_t>(1, hnn::conv2d_workspace_size(hnn::cpu{}, g_, algorithm_))));
    fused_workspace_.resize(static_cast<std::size_t>(hnn::conv2d_act_pool_workspace_size(hnn::cpu{}, g_)));
  }

  void fused() {
    hnn::conv2d_act_pool_forward(hnn::cpu{}, g_, run_.act, run_.pool, input_.data(), weight_.data(), bias_.data(),
                                 static_cast<float*>(nullptr), pooled_.data(), fused_workspace_.data());
  }
  void unfused() {
    hnn::conv2d_forward(hnn::cpu{}, g_, input_.data(), weight_.data(), bias_.data(), conv_.data(),
                        conv_workspace_.data(), algorithm_);
    const std::int64_t n = static_cast<std::int64_t>(conv_.size());
    if (run_.act == hnn::FusedActivation::sigmoid) hnn::sigmoid_forward(hnn::cpu{}, conv_.data(), act_.data(), n);
    else hnn::relu_forward(hnn::cpu{}, conv_.data(), act_.data(), n);
    if (run_.pool == hnn::FusedPooling::average) hnn::avg_pool2d_forward(hnn::cpu{}, pool_, act_.data(), pooled_.data());
    else hnn::max_pool2d_forward(hnn::cpu{}, pool_, act_.data(), pooled_.data(), static_cast<std::int32_t*>(nullptr));
  }
  float sink() const { return pooled_[0]; }

 private:
  ConvRun run_;
  hnn::Conv2dGeometry g_;
  hnn::Pool2dGeometry pool_;
  hnn::Conv2dAlgorithm algorithm_;
  std::vector<float> input_, weight_, bias_, conv_, act_, pooled_, conv_workspace_, fused_workspace_;
};

// Microseconds per call of f over a chunk of `calls` calls.
template <class F>
double chunk_us(F&& f, long long calls) {
  const auto start = Clock::now();
  for (long long i = 0; i < calls; ++i) f();
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / static_cast<double>(calls);
}

int run_crossover(const Options& o) {
  hnn::set_num_threads(1);
  const auto lenet_conv = [](std::int64_t in, std::int64_t out, std::int64_t size, std::int64_t padding) {
    hnn::Conv2dGeometry g;
    g.in_channels = in, g.out_channels = out, g.in_height = size, g.in_width = size, g.kernel = 5, g.padding = padding;
    return g;
  };
  const std::vector<ConvRun> runs{
      {"conv1 sigmoid avg", lenet_conv(1, 6, 28, 2), hnn::FusedActivation::sigmoid, hnn::FusedPooling::average},
      {"conv2 sigmoid avg", lenet_conv(6, 16, 14, 0), hnn::FusedActivation::sigmoid, hnn::FusedPooling::average},
      {"conv1 relu max", lenet_conv(1, 6, 28, 2), hnn::FusedActivation::relu, hnn::FusedPooling::max},
      {"conv2 relu max", lenet_conv(6, 16, 14, 0), hnn::FusedActivation::relu, hnn::FusedPooling::max}};
  const std::int64_t built = hnn::conv2d_act_pool_min_batch<float>(hnn::cpu{});
  const std::string load_start = load_average();
  if (!o.json)
    std::printf("hnn latency_bench --crossover on %s, load average %s; float, 1 thread, %lld floats a packet; "
                "crossover built in: %lld\n",
                cpu_model().c_str(), load_start.c_str(), static_cast<long long>(hnn::detail::packet_size<float>),
                static_cast<long long>(built));
  std::string json;
  volatile float sink = 0;
  for (const ConvRun& run : runs) {
    std::vector<double> fused_us, unfused_us;
    for (std::int64_t batch = 1; batch <= o.max_batch; ++batch) {
      CrossoverCase c(run, batch);
      // Warm-up of both, which also sizes the chunks.
      long long calls = 0;
      const auto t0 = Clock::now();
      double ms = 0;
      while (calls < 2 || ms < o.warmup_ms) {
        c.fused();
        c.unfused();
        ++calls;
        ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      }
      const long long per_chunk = std::max<long long>(1, static_cast<long long>(o.chunk_ms / 2 / (ms / static_cast<double>(calls))));
      std::vector<double> f, u;
      for (int rep = 0; rep < o.reps; ++rep) {  // alternating, so that a change of load hits both
        f.push_back(chunk_us([&] { c.fused(); }, per_chunk));
        u.push_back(chunk_us([&] { c.unfused(); }, per_chunk));
      }
      sink = sink + c.sink();
      fused_us.push_back(median(f));
      unfused_us.push_back(median(u));
      if (!o.json)
        std::printf("%-18s batch %3lld: fused %9.2f us, layers %9.2f us, fused/layers %.2f\n", run.name,
                    static_cast<long long>(batch), fused_us.back(), unfused_us.back(), fused_us.back() / unfused_us.back());
    }
    // The smallest batch from which the fused kernel is faster at every batch measured.
    std::int64_t measured = o.max_batch + 1;
    for (std::int64_t b = o.max_batch; b >= 1 && fused_us[static_cast<std::size_t>(b - 1)] < unfused_us[static_cast<std::size_t>(b - 1)]; --b)
      measured = b;
    if (!o.json)
      std::printf("%-18s fused faster from batch %lld on (crossover built in: %lld)\n", run.name,
                  static_cast<long long>(measured), static_cast<long long>(built));
    json += std::string(json.empty() ? "" : ", ") + "{\"run\": \"" + run.name + "\", \"fused_faster_from\": " +
            std::to_string(measured) + ", \"fused_us\": " + json_list(fused_us) + ", \"layers_us\": " +
            json_list(unfused_us) + "}";
  }
  if (o.json)
    std::printf("{\"program\": \"latency_bench --crossover\", \"cpu\": \"%s\", \"load_average_start\": \"%s\", "
                "\"load_average_end\": \"%s\", \"floats_per_packet\": %lld, \"crossover_built_in\": %lld, "
                "\"runs\": [%s]}\n",
                cpu_model().c_str(), load_start.c_str(), load_average().c_str(),
                static_cast<long long>(hnn::detail::packet_size<float>), static_cast<long long>(built), json.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.crossover) {
    try {
      return run_crossover(o);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "latency_bench: %s\n", e.what());
      return 1;
    }
  }
  try {
    const std::string load_start = load_average();
    std::vector<float> images;
    std::string source = "a fixed pattern (Fashion-MNIST not found)";
    try {
      const std::string dir = lenet::find_data_dir(o.data_dir);
      hnn::data::Dataset test = hnn::data::load_fashion_mnist(dir, hnn::data::Split::test);
      hnn::data::require_image_shape(test, 28, 28);
      images = std::move(test.images);
      source = "Fashion-MNIST test images from " + dir;
    } catch (const std::exception&) {
      images.resize(64 * 28 * 28);
      for (std::size_t i = 0; i < images.size(); ++i) images[i] = 0.5f + 0.5f * std::sin(0.37f * static_cast<float>(i));
    }
    if (!o.json)
      std::printf("hnn latency_bench on %s, load average %s; inputs: %s; fusion %s\n", cpu_model().c_str(),
                  load_start.c_str(), source.c_str(), o.fusion ? "on" : "off");
    std::vector<Result> results;
    for (const std::string& net : o.nets) {
      hnn::Sequential<float, hnn::cpu> model = build(net);
      model.eval();
      model.set_fusion(o.fusion);
      for (const Case& c : o.cases) {
        hnn::set_num_threads(c.threads);
        const std::vector<hnn::Tensor<float, hnn::cpu>> pool = input_pool(images, c.batch, c.batch >= 1000 ? 4 : 16);
        std::size_t k = 0;
        volatile float sink = 0;
        const auto call = [&] {
          const hnn::Tensor<float, hnn::cpu>& y = model.forward(pool[k++ % pool.size()]);
          sink = sink + y[0];
        };
        // Warm-up, which also measures a call to size the chunks.
        long long warm_calls = 0;
        const auto t0 = Clock::now();
        double warm_ms = 0;
        while (warm_calls < 2 || warm_ms < o.warmup_ms) {
          call();
          ++warm_calls;
          warm_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        }
        Result r{net, c, 0, {}, 0};
        r.calls_per_chunk = std::max<long long>(1, static_cast<long long>(o.chunk_ms / (warm_ms / static_cast<double>(warm_calls))));
        for (int rep = 0; rep < o.reps; ++rep) {
          const auto start = Clock::now();
          for (long long i = 0; i < r.calls_per_chunk; ++i) call();
          const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
          r.chunks_us.push_back(us / static_cast<double>(r.calls_per_chunk));
        }
        r.median_us = median(r.chunks_us);
        if (!o.json)
          std::printf("%-8s batch %5lld, %d thread%s: %10.1f us per call (median of %d chunks of %lld calls; "
                      "%.0f images/sec)\n",
                      net.c_str(), static_cast<long long>(c.batch), c.threads, c.threads == 1 ? " " : "s", r.median_us,
                      o.reps, r.calls_per_chunk, 1e6 * static_cast<double>(c.batch) / r.median_us);
        results.push_back(std::move(r));
      }
    }
    if (o.json) {
      std::printf("{\"program\": \"latency_bench\", \"cpu\": \"%s\", \"load_average_start\": \"%s\", "
                  "\"load_average_end\": \"%s\", \"inputs\": \"%s\", \"fusion\": %s, \"results\": [",
                  cpu_model().c_str(), load_start.c_str(), load_average().c_str(), source.c_str(),
                  o.fusion ? "true" : "false");
      for (std::size_t i = 0; i < results.size(); ++i) {
        const Result& r = results[i];
        std::printf("%s{\"net\": \"%s\", \"batch\": %lld, \"threads\": %d, \"median_us\": %.3f, \"calls_per_chunk\": %lld, "
                    "\"chunks_us\": %s}",
                    i ? ", " : "", r.net.c_str(), static_cast<long long>(r.c.batch), r.c.threads, r.median_us,
                    r.calls_per_chunk, json_list(r.chunks_us).c_str());
      }
      std::printf("]}\n");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "latency_bench: %s\n", e.what());
    return 1;
  }
}
