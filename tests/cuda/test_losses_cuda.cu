// Every loss's CUDA kernels against their CPU twins (hnn/kernels/cross_entropy.hpp,
// pointwise_loss.hpp): values, gradients and the running totals, through the loss classes on
// both devices, on shapes of one block and of many; the batch judged as a whole for
// divergence; and an invalid label, which a GPU kernel cannot throw for: it skips the sample,
// records the label and its index in device memory, and the next read of the totals throws.
// The error measure is described in cuda_test_util.cuh.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "cuda_test_util.cuh"
#include "hnn/kernels/cross_entropy.hpp"
#include "hnn/loss.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

std::vector<float> host_buffer(std::int64_t n) { return std::vector<float>(static_cast<std::size_t>(n)); }

// The same loss's totals on both devices.
::testing::AssertionResult same_totals(const LossTotals& gpu, const LossTotals& cpu_totals) {
  if (!relatively_close(gpu.loss_sum, cpu_totals.loss_sum, 1e-5)) return relatively_close(gpu.loss_sum, cpu_totals.loss_sum, 1e-5) << " (loss sum)";
  if (!relatively_close(gpu.count, cpu_totals.count, 1e-6)) return relatively_close(gpu.count, cpu_totals.count, 1e-6) << " (count)";
  if (gpu.correct != cpu_totals.correct || gpu.samples != cpu_totals.samples || gpu.first_bad_batch != cpu_totals.first_bad_batch)
    return ::testing::AssertionFailure() << "correct " << gpu.correct << " vs " << cpu_totals.correct << ", samples "
                                         << gpu.samples << " vs " << cpu_totals.samples << ", first bad batch "
                                         << gpu.first_bad_batch << " vs " << cpu_totals.first_bad_batch;
  return ::testing::AssertionSuccess();
}

// -------------------------------------------------------------------------------------
// Cross-entropy, every option, through the class
// -------------------------------------------------------------------------------------

struct CrossEntropyCase {
  const char* name;
  std::int64_t batch, classes;
  double logit_scale;
  Reduction reduction;
  double smoothing;
  bool weighted;
  std::uint64_t seed;
};
std::ostream& operator<<(std::ostream& out, const CrossEntropyCase& c) { return out << c.name; }

class CudaCrossEntropy : public ::testing::TestWithParam<CrossEntropyCase> {};

TEST_P(CudaCrossEntropy, LossGradientAndTotalsMatchCpu) {
  HNN_REQUIRE_GPU();
  const CrossEntropyCase& c = GetParam();
  Rng rng(c.seed);
  const auto logits = random_floats(c.batch * c.classes, rng, -c.logit_scale, c.logit_scale);
  const auto labels = random_labels(c.batch, c.classes, rng);
  std::vector<double> weight;
  if (c.weighted)
    for (std::int64_t k = 0; k < c.classes; ++k) weight.push_back(0.25 + 0.5 * static_cast<double>(k % 4));
  const Shape shape{c.batch, c.classes};
  const auto x = Tensor<float, cpu>::from_vector(shape, logits);
  const auto y = Tensor<std::int32_t, cpu>::from_vector(Shape{c.batch}, labels);
  CrossEntropyLoss<float, cpu> on_cpu(c.reduction, c.smoothing, weight);
  CrossEntropyLoss<float, cuda> on_gpu(c.reduction, c.smoothing, weight);
  const double expected = on_cpu(x, y);
  const double actual = on_gpu(x.to<cuda>(), y.to<cuda>());
  EXPECT_TRUE(relatively_close(actual, expected, 1e-5)) << "the batch's loss";
  EXPECT_TRUE(all_close(to_host(on_gpu.gradient()), on_cpu.gradient().to_vector())) << "the gradient";
  // A second batch through accumulate (no gradient) adds to both totals.
  on_cpu.accumulate(x, y);
  on_gpu.accumulate(x.to<cuda>(), y.to<cuda>());
  EXPECT_TRUE(same_totals(on_gpu.totals(), on_cpu.totals()));
}

INSTANTIATE_TEST_SUITE_P(
    Options, CudaCrossEntropy,
    ::testing::Values(CrossEntropyCase{"lenet_batch256", 256, 10, 3.0, Reduction::mean, 0, false, 501},
                      CrossEntropyCase{"batch1000_sum", 1000, 10, 3.0, Reduction::sum, 0, false, 502},
                      CrossEntropyCase{"batch3_classes7", 3, 7, 3.0, Reduction::mean, 0, false, 503},
                      CrossEntropyCase{"batch1", 1, 10, 3.0, Reduction::mean, 0, false, 504},
                      CrossEntropyCase{"large_logits", 64, 10, 200.0, Reduction::mean, 0, false, 505},
                      CrossEntropyCase{"smoothing", 300, 10, 3.0, Reduction::mean, 0.1, false, 506},
                      CrossEntropyCase{"smoothing_sum", 300, 10, 3.0, Reduction::sum, 0.3, false, 507},
                      // The weighted mean divides by a sum known only once every block is done.
                      CrossEntropyCase{"weighted_mean", 700, 12, 3.0, Reduction::mean, 0, true, 508},
                      CrossEntropyCase{"weighted_sum", 700, 12, 3.0, Reduction::sum, 0, true, 509},
                      CrossEntropyCase{"weighted_smoothing", 513, 5, 3.0, Reduction::mean, 0.2, true, 510}),
    [](const ::testing::TestParamInfo<CrossEntropyCase>& info) { return std::string(info.param.name); });

// -------------------------------------------------------------------------------------
// The elementwise losses, through the classes
// -------------------------------------------------------------------------------------

TEST(CudaElementwiseLosses, LossGradientAndTotalsMatchCpu) {
  HNN_REQUIRE_GPU();
  std::uint64_t seed = 520;
  for (const std::int64_t rows : {1, 77, 9000}) {  // one element per class-row of 3 up to a many-block grid
    const Shape shape{rows, 3};
    Rng rng(++seed);
    const auto p = Tensor<float, cpu>::from_vector(shape, random_floats(shape.numel(), rng, -3, 3));
    const auto t = Tensor<float, cpu>::from_vector(shape, random_floats(shape.numel(), rng, -3, 3));
    const auto probability = Tensor<float, cpu>::from_vector(shape, random_floats(shape.numel(), rng, 0, 1));
    for (Reduction r : {Reduction::mean, Reduction::sum}) {
      const auto both = [&](auto make, const Tensor<float, cpu>& target, const char* what) {
        SCOPED_TRACE(std::string(what) + ", " + reduction_name(r) + ", rows " + std::to_string(rows));
        auto on_cpu = make(cpu{});
        auto on_gpu = make(cuda{});
        const double expected = (*on_cpu)(p, target);
        const double actual = (*on_gpu)(p.to<cuda>(), target.to<cuda>());
        EXPECT_TRUE(relatively_close(actual, expected, 1e-5)) << "the batch's loss";
        EXPECT_TRUE(all_close(to_host(on_gpu->gradient()), on_cpu->gradient().to_vector())) << "the gradient";
        EXPECT_TRUE(same_totals(on_gpu->totals(), on_cpu->totals()));
      };
      both([&](auto d) { return std::make_unique<MSELoss<float, decltype(d)>>(r); }, t, "MSE");
      both([&](auto d) { return std::make_unique<L1Loss<float, decltype(d)>>(r); }, t, "L1");
      both([&](auto d) { return std::make_unique<HuberLoss<float, decltype(d)>>(r, 0.8); }, t, "Huber");
      both([&](auto d) { return std::make_unique<SmoothL1Loss<float, decltype(d)>>(r, 0.6); }, t, "SmoothL1");
      both([&](auto d) { return std::make_unique<SmoothL1Loss<float, decltype(d)>>(r, 0.0); }, t, "SmoothL1 beta 0");
      both([&](auto d) { return std::make_unique<BCEWithLogitsLoss<float, decltype(d)>>(r); }, probability, "BCE");
      both([&](auto d) { return std::make_unique<BCEWithLogitsLoss<float, decltype(d)>>(r, std::vector<double>{0.5, 2, 3}); },
           probability, "BCE pos_weight");
    }
  }
}

// -------------------------------------------------------------------------------------
// Invalid labels: recorded on the device, thrown at the next read
// -------------------------------------------------------------------------------------

TEST(CudaLossChecks, AnInvalidLabelIsRecordedAndThrownAtTheNextReadNamingItAndItsIndex) {
  HNN_REQUIRE_GPU();
  const std::int64_t batch = 600, classes = 10;  // three blocks
  Rng rng(530);
  const auto logits = Tensor<float, cuda>::from_vector(Shape{batch, classes}, random_floats(batch * classes, rng));
  std::vector<std::int32_t> labels = random_labels(batch, classes, rng);
  labels[513] = 12;  // block 2
  labels[517] = -5;
  labels[300] = 10;  // block 1: the smallest bad index wins
  const auto labels_d = to_device(labels).reshape(Shape{batch});
  CrossEntropyLoss<float, cuda> loss;
  const auto batch_number = to_device(std::vector<std::int64_t>{6});
  // Queued without a check: a GPU cannot throw from a kernel. Nothing is read out of bounds.
  EXPECT_NO_THROW(loss.forward_backward(logits, labels_d, batch_number.data()));
  try {
    loss.totals();
    FAIL() << "totals() did not report the invalid label";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("hnn::CrossEntropyLoss: label 10 at index 300 of batch 6 is outside [0, 10)"), std::string::npos)
        << what;
  }
  EXPECT_THROW(loss.totals(), std::invalid_argument) << "the record stays until reset()";
  // The bad samples' gradient rows are zeros, the others written.
  const std::vector<float> grad = to_host(loss.gradient());
  for (std::int64_t c = 0; c < classes; ++c) EXPECT_EQ(grad[static_cast<std::size_t>(300 * classes + c)], 0.0f);
  EXPECT_TRUE(std::isfinite(grad[0]));
  loss.reset();
  EXPECT_EQ(loss.totals().samples, 0);
  // The hand-written call reads back at once, so it throws at once; without a batch number
  // the message names none.
  labels[300] = 3;
  labels[513] = 3;
  const auto labels_d2 = to_device(labels).reshape(Shape{batch});
  try {
    loss(logits, labels_d2);
    FAIL() << "the loss call did not report the invalid label";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("label -5 at index 517 is outside [0, 10)"), std::string::npos) << what;
  }
  loss.reset();
  labels[517] = 1;
  EXPECT_NO_THROW(loss(logits, to_device(labels).reshape(Shape{batch})));
}

// -------------------------------------------------------------------------------------
// Divergence: the first bad batch, judged on the whole batch's mean
// -------------------------------------------------------------------------------------

std::vector<double> fresh_stats() {
  std::vector<double> s(LossStats::size);
  for (int i = 0; i < LossStats::size; ++i) s[static_cast<std::size_t>(i)] = LossStats::initial(i);
  return s;
}

// A NaN or infinite loss records the batch number read from device memory, only the first time.
TEST(CudaLossDivergence, RecordsTheFirstBadBatchAsTheCpuDoes) {
  HNN_REQUIRE_GPU();
  const std::int64_t batch = 8, classes = 10, bad_sample = 3;
  Rng rng(506);
  auto logits = random_floats(batch * classes, rng, -3, 3);
  logits[static_cast<std::size_t>(bad_sample * classes + 2)] = std::numeric_limits<float>::quiet_NaN();
  const auto labels = random_labels(batch, classes, rng);
  const auto logits_d = to_device(logits);
  const auto labels_d = to_device(labels);
  const auto ce = [&](auto device, const float* z, const std::int32_t* y, float* g, double* stats,
                      const std::int64_t* number) {
    cross_entropy(device, batch, classes, z, y, static_cast<const float*>(nullptr), 0.0f, Reduction::mean, g, stats,
                  nullptr, number);
  };

  const std::vector<std::int64_t> seven = {7};
  auto grad = host_buffer(batch * classes);
  std::vector<double> stats = fresh_stats();
  ce(cpu{}, logits.data(), labels.data(), grad.data(), stats.data(), seven.data());
  ASSERT_EQ(stats[LossStats::first_bad_batch], 7.0) << "the CPU twin itself";
  const auto seven_d = to_device(seven);
  auto grad_d = poisoned<float>(batch * classes);
  auto stats_d = to_device(fresh_stats());
  ce(cuda{}, logits_d.data(), labels_d.data(), grad_d.data(), stats_d.data(), seven_d.data());
  std::vector<double> stats_cuda = to_host(stats_d);
  EXPECT_EQ(stats_cuda[LossStats::first_bad_batch], 7.0);
  EXPECT_FALSE(std::isfinite(stats_cuda[LossStats::loss_sum])) << "a NaN loss makes the sum NaN, as on the CPU";
  const std::vector<float> grad_cuda = to_host(grad_d);
  for (std::int64_t n = 0; n < batch; ++n) {
    if (n == bad_sample) continue;
    const auto row = [&](const std::vector<float>& v) {
      return std::vector<float>(v.begin() + n * classes, v.begin() + (n + 1) * classes);
    };
    EXPECT_TRUE(all_close(row(grad_cuda), row(grad))) << "gradient of sample " << n;
  }
  const auto nine_d = to_device(std::vector<std::int64_t>{9});
  ce(cuda{}, logits_d.data(), labels_d.data(), grad_d.data(), stats_d.data(), nine_d.data());
  stats_cuda = to_host(stats_d);
  EXPECT_EQ(stats_cuda[LossStats::first_bad_batch], 7.0) << "the first bad batch is kept";
  EXPECT_EQ(stats_cuda[LossStats::samples], 2.0 * batch);
}

// A finite loss that explodes: the batch's MEAN over all its blocks is compared with the limit,
// so a bad block inside a good batch is not enough. Batch 1000 runs as 4 blocks of 256; the
// huge losses (about 600 each) all sit in block 0. Two launches on one buffer, as a replayed
// graph makes them.
TEST(CudaLossDivergence, JudgesTheWholeBatchMeanAgainstTheLimitAsTheCpuDoes) {
  HNN_REQUIRE_GPU();
  const std::int64_t batch = 1000, classes = 10;
  Rng rng(507);
  auto logits = random_floats(batch * classes, rng, -3, 3);
  const auto labels = random_labels(batch, classes, rng);
  for (std::int64_t n = 0; n < 256; ++n) logits[static_cast<std::size_t>(n * classes + labels[static_cast<std::size_t>(n)])] = -600;
  const auto logits_d = to_device(logits);
  const auto labels_d = to_device(labels);
  auto grad = host_buffer(batch * classes);
  auto grad_d = poisoned<float>(batch * classes);
  std::vector<double> stats = fresh_stats();
  auto stats_d = to_device(fresh_stats());
  const std::vector<std::int64_t> three = {3}, four = {4};
  const auto three_d = to_device(three), four_d = to_device(four);
  const auto run = [&](const std::vector<std::int64_t>& number, const Tensor<std::int64_t, cuda>& number_d, double limit) {
    cross_entropy(cpu{}, batch, classes, logits.data(), labels.data(), static_cast<const float*>(nullptr), 0.0f,
                  Reduction::mean, grad.data(), stats.data(), nullptr, number.data(), limit);
    cross_entropy(cuda{}, batch, classes, logits_d.data(), labels_d.data(), static_cast<const float*>(nullptr), 0.0f,
                  Reduction::mean, grad_d.data(), stats_d.data(), nullptr, number_d.data(), limit);
  };
  run(three, three_d, 230.0);
  ASSERT_EQ(stats[LossStats::first_bad_batch], -1.0) << "the CPU twin: mean " << stats[LossStats::loss_sum] / batch;
  std::vector<double> stats_cuda = to_host(stats_d);
  EXPECT_EQ(stats_cuda[LossStats::first_bad_batch], -1.0) << "one bad block does not make the batch bad";
  EXPECT_TRUE(relatively_close(stats_cuda[LossStats::last_loss_sum], stats[LossStats::last_loss_sum], 1e-5));
  EXPECT_EQ(stats_cuda[LossStats::last_count], static_cast<double>(batch));
  for (int slot : {LossStats::batch_loss_sum, LossStats::batch_count, LossStats::blocks_done})
    EXPECT_EQ(stats_cuda[static_cast<std::size_t>(slot)], 0.0) << "scratch slot " << slot << " cleared for the next launch";

  run(four, four_d, 100.0);
  ASSERT_EQ(stats[LossStats::first_bad_batch], 4.0) << "the CPU twin itself";
  stats_cuda = to_host(stats_d);
  EXPECT_EQ(stats_cuda[LossStats::first_bad_batch], 4.0);
  EXPECT_TRUE(relatively_close(stats_cuda[LossStats::bad_batch_loss], stats[LossStats::bad_batch_loss], 1e-5));
  EXPECT_GT(stats[LossStats::bad_batch_loss], 140.0);  // ~604 x 256 / 1000 plus ~3 x 744 / 1000
  EXPECT_LT(stats[LossStats::bad_batch_loss], 170.0);
  EXPECT_TRUE(relatively_close(stats_cuda[LossStats::loss_sum], stats[LossStats::loss_sum], 1e-5));
  EXPECT_EQ(stats_cuda[LossStats::samples], 2.0 * batch);
  EXPECT_TRUE(all_close(to_host(grad_d), grad)) << "a bad batch still gets its gradient";
}

}  // namespace
