// Every CUDA kernel against its CPU twin (the reference), forward and backward, on fresh
// random inputs of LeNet-5's real shapes and of odd ones (batch 1 and 3, stride 2,
// padding, non-square images, stride larger than the window, overlapping windows).
// Every CUDA output buffer starts as NaN so that an element the kernel skips fails the
// comparison. The error measure and tolerance are described in cuda_test_util.cuh.
#include <gtest/gtest.h>

#include <cstdlib>

#include <cmath>
#include <cstdint>
#include <limits>
#include <ostream>
#include <vector>

#include "cuda_test_util.cuh"
#include "hnn/kernels/activation.hpp"
#include "hnn/kernels/batch.hpp"
#include "hnn/kernels/conv2d.hpp"
#include "hnn/kernels/linear.hpp"
#include "hnn/kernels/pool2d.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

std::vector<float> host_buffer(std::int64_t n) { return std::vector<float>(static_cast<std::size_t>(n)); }

// -------------------------------------------------------------------------------------
// Conv2d
// -------------------------------------------------------------------------------------

struct ConvCase {
  const char* name;
  Conv2dGeometry g;
  bool input_gradient;  // false: dx_or_null = nullptr, as for a network's first layer
  std::uint64_t seed;
};
std::ostream& operator<<(std::ostream& out, const ConvCase& c) { return out << c.name; }

Conv2dGeometry conv(std::int64_t batch, std::int64_t in_channels, std::int64_t height, std::int64_t width,
                    std::int64_t out_channels, std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  Conv2dGeometry g;
  g.batch = batch;
  g.in_channels = in_channels;
  g.in_height = height;
  g.in_width = width;
  g.out_channels = out_channels;
  g.kernel = kernel;
  g.stride = stride;
  g.padding = padding;
  return g;
}

class CudaConv2d : public ::testing::TestWithParam<ConvCase> {};

TEST_P(CudaConv2d, ForwardAndBackwardMatchCpu) {
  HNN_REQUIRE_GPU();
  const ConvCase& c = GetParam();
  const Conv2dGeometry& g = c.g;
  Rng rng(c.seed);
  const std::int64_t out_n = g.batch * g.out_channels * g.out_pixels();
  const auto x = random_floats(g.batch * g.in_channels * g.in_pixels(), rng);
  const auto w = random_floats(g.weight_count(), rng, -0.5, 0.5);
  const auto b = random_floats(g.out_channels, rng);
  const auto dy = random_floats(out_n, rng);

  // The reference: the CPU's im2col algorithm, which runs every geometry.
  const Conv2dAlgorithm reference = Conv2dAlgorithm::im2col;
  auto workspace = host_buffer(conv2d_workspace_size(cpu{}, g, reference));
  auto y = host_buffer(out_n), dx = host_buffer(g.batch * g.in_channels * g.in_pixels());
  auto dw = host_buffer(g.weight_count()), db = host_buffer(g.out_channels);
  conv2d_forward(cpu{}, g, x.data(), w.data(), b.data(), y.data(), workspace.data(), reference);
  conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), c.input_gradient ? dx.data() : nullptr, dw.data(),
                  db.data(), workspace.data(), reference);

  const auto x_d = to_device(x), w_d = to_device(w), b_d = to_device(b), dy_d = to_device(dy);
  auto workspace_d = poisoned<float>(conv2d_workspace_size(cuda{}, g));
  // Both CUDA algorithms: "staged" (shared memory, the default where it fits) and "direct"
  // (any size); both must match the CPU.
  for (const Conv2dAlgorithm algorithm : {Conv2dAlgorithm::staged, Conv2dAlgorithm::direct}) {
    SCOPED_TRACE(std::string("algorithm ") + name(algorithm));
    auto y_d = poisoned<float>(out_n);
    conv2d_forward(cuda{}, g, x_d.data(), w_d.data(), b_d.data(), y_d.data(), workspace_d.data(), algorithm);
    EXPECT_TRUE(all_close(to_host(y_d), y)) << "forward output";

    // The backward pass gets its inputs as arguments; it must not depend on what the
    // forward pass left in the workspace, so poison that too.
    Memory<cuda>::fill_bytes(workspace_d.data(), 0xFF, workspace_d.bytes());
    auto dx_d = poisoned<float>(static_cast<std::int64_t>(dx.size()));
    auto dw_d = poisoned<float>(g.weight_count()), db_d = poisoned<float>(g.out_channels);
    conv2d_backward(cuda{}, g, x_d.data(), w_d.data(), dy_d.data(), c.input_gradient ? dx_d.data() : nullptr,
                    dw_d.data(), db_d.data(), workspace_d.data(), algorithm);
    EXPECT_TRUE(all_close(to_host(dw_d), dw)) << "weight gradient";
    EXPECT_TRUE(all_close(to_host(db_d), db)) << "bias gradient";
    if (c.input_gradient) EXPECT_TRUE(all_close(to_host(dx_d), dx)) << "input gradient";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaConv2d,
    ::testing::Values(
        // LeNet-5 at batch 256: conv1 as the first layer (no input gradient), and with one.
        ConvCase{"lenet_conv1_no_dx", conv(256, 1, 28, 28, 6, 5, 1, 2), false, 101},
        ConvCase{"lenet_conv1", conv(256, 1, 28, 28, 6, 5, 1, 2), true, 102},
        ConvCase{"lenet_conv2", conv(256, 6, 14, 14, 16, 5, 1, 0), true, 103},
        // Batch 3, stride 2, padding 1, a non-square 7x9 image, kernel 3.
        ConvCase{"batch3_7x9_k3_stride2_pad1", conv(3, 3, 7, 9, 5, 3, 2, 1), true, 104},
        ConvCase{"batch3_7x9_k3_stride2_pad1_no_dx", conv(3, 3, 7, 9, 5, 3, 2, 1), false, 105},
        ConvCase{"batch1_9x7_k3_pad1", conv(1, 2, 9, 7, 4, 3, 1, 1), true, 106},
        // A stride that skips input pixels (they must get a zero gradient), padding 2.
        ConvCase{"batch2_5x6_k4_stride3_pad2", conv(2, 4, 5, 6, 3, 4, 3, 2), true, 107},
        ConvCase{"batch4_6x6_k1", conv(4, 8, 6, 6, 3, 1, 1, 0), true, 108},
        // A 16x16 kernel has 257 taps with the bias: the direct weight-gradient kernel even
        // when staged kernels are asked for (the staged forward and input gradient still run).
        ConvCase{"batch2_20x20_k16", conv(2, 1, 20, 20, 2, 16, 1, 0), true, 109},
        // Many channels: conv2's slicing with more (ci, co) pairs than a GPU has blocks.
        ConvCase{"batch5_8x8_32to24_k3_pad1", conv(5, 32, 8, 8, 24, 3, 1, 1), true, 110}),
    [](const ::testing::TestParamInfo<ConvCase>& info) { return std::string(info.param.name); });

// -------------------------------------------------------------------------------------
// Pooling
// -------------------------------------------------------------------------------------

struct PoolCase {
  const char* name;
  Pool2dGeometry g;
  std::uint64_t seed;
};
std::ostream& operator<<(std::ostream& out, const PoolCase& c) { return out << c.name; }

Pool2dGeometry pool(std::int64_t batch, std::int64_t channels, std::int64_t height, std::int64_t width,
                    std::int64_t kernel, std::int64_t stride) {
  Pool2dGeometry g;
  g.batch = batch;
  g.channels = channels;
  g.in_height = height;
  g.in_width = width;
  g.kernel = kernel;
  g.stride = stride;
  return g;
}

std::int64_t input_size(const Pool2dGeometry& g) { return g.planes() * g.in_height * g.in_width; }
std::int64_t output_size(const Pool2dGeometry& g) { return g.planes() * g.out_height() * g.out_width(); }

// n distinct values in random order, so that every max-pool window has one clear winner:
// integers of a random permutation scaled by a power of two, hence exact in float32.
std::vector<float> distinct_floats(std::int64_t n, Rng& rng) {
  const std::vector<std::int32_t> order = random_permutation(n, rng);
  std::vector<float> v(order.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::ldexp(static_cast<float>(order[i] - n / 2), -20);
  return v;
}

class CudaPool2d : public ::testing::TestWithParam<PoolCase> {};

TEST_P(CudaPool2d, AvgForwardAndBackwardMatchCpu) {
  HNN_REQUIRE_GPU();
  const Pool2dGeometry& g = GetParam().g;
  Rng rng(GetParam().seed);
  const auto x = random_floats(input_size(g), rng), dy = random_floats(output_size(g), rng);
  auto y = host_buffer(output_size(g)), dx = host_buffer(input_size(g));
  avg_pool2d_forward(cpu{}, g, x.data(), y.data());
  avg_pool2d_backward(cpu{}, g, dy.data(), dx.data());

  const auto x_d = to_device(x), dy_d = to_device(dy);
  auto y_d = poisoned<float>(output_size(g)), dx_d = poisoned<float>(input_size(g));
  avg_pool2d_forward(cuda{}, g, x_d.data(), y_d.data());
  EXPECT_TRUE(all_close(to_host(y_d), y)) << "forward output";
  avg_pool2d_backward(cuda{}, g, dy_d.data(), dx_d.data());
  EXPECT_TRUE(all_close(to_host(dx_d), dx)) << "input gradient";
}

TEST_P(CudaPool2d, MaxForwardAndBackwardMatchCpu) {
  HNN_REQUIRE_GPU();
  const Pool2dGeometry& g = GetParam().g;
  Rng rng(GetParam().seed + 50);
  const auto x = distinct_floats(input_size(g), rng);
  const auto dy = random_floats(output_size(g), rng);
  auto y = host_buffer(output_size(g)), dx = host_buffer(input_size(g));
  std::vector<std::int32_t> argmax(y.size());
  max_pool2d_forward(cpu{}, g, x.data(), y.data(), argmax.data());
  max_pool2d_backward(cpu{}, g, dy.data(), argmax.data(), dx.data());

  const auto x_d = to_device(x), dy_d = to_device(dy);
  auto y_d = poisoned<float>(output_size(g)), dx_d = poisoned<float>(input_size(g));
  auto argmax_d = poisoned<std::int32_t>(output_size(g));  // 0xFF bytes: -1, never a valid index
  max_pool2d_forward(cuda{}, g, x_d.data(), y_d.data(), argmax_d.data());
  EXPECT_TRUE(all_equal(to_host(y_d), y)) << "forward output (a maximum is exact)";
  EXPECT_TRUE(all_equal(to_host(argmax_d), argmax)) << "argmax";

  // Backward from the CPU's argmax, so that it is tested even if the forward failed.
  const auto reference_argmax_d = to_device(argmax);
  max_pool2d_backward(cuda{}, g, dy_d.data(), reference_argmax_d.data(), dx_d.data());
  EXPECT_TRUE(all_close(to_host(dx_d), dx)) << "input gradient";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaPool2d,
    ::testing::Values(PoolCase{"lenet_pool1", pool(256, 6, 28, 28, 2, 2), 201},
                      PoolCase{"lenet_pool2", pool(256, 16, 10, 10, 2, 2), 202},
                      // Overlapping windows: an input pixel collects several gradients.
                      PoolCase{"batch3_7x9_k3_stride1", pool(3, 5, 7, 9, 3, 1), 203},
                      PoolCase{"batch2_9x7_k3_stride2", pool(2, 4, 9, 7, 3, 2), 204},
                      // Stride larger than the window: rows and columns no window covers
                      // must still receive a (zero) gradient.
                      PoolCase{"batch1_8x9_k2_stride3", pool(1, 3, 8, 9, 2, 3), 205}),
    [](const ::testing::TestParamInfo<PoolCase>& info) { return std::string(info.param.name); });

// The CPU documents that ties go to the first maximum in the window (as in PyTorch).
TEST(CudaMaxPool2d, TiesGoToTheFirstMaximumAsOnTheCpu) {
  HNN_REQUIRE_GPU();
  const Pool2dGeometry g = pool(2, 3, 6, 7, 3, 1);
  Rng rng(206);
  std::vector<float> x(static_cast<std::size_t>(input_size(g)));
  for (float& v : x) v = static_cast<float>(rng.below(3));  // three values: ties everywhere
  const auto dy = random_floats(output_size(g), rng);
  auto y = host_buffer(output_size(g)), dx = host_buffer(input_size(g));
  std::vector<std::int32_t> argmax(y.size());
  max_pool2d_forward(cpu{}, g, x.data(), y.data(), argmax.data());
  max_pool2d_backward(cpu{}, g, dy.data(), argmax.data(), dx.data());

  const auto x_d = to_device(x), dy_d = to_device(dy);
  auto y_d = poisoned<float>(output_size(g)), dx_d = poisoned<float>(input_size(g));
  auto argmax_d = poisoned<std::int32_t>(output_size(g));
  max_pool2d_forward(cuda{}, g, x_d.data(), y_d.data(), argmax_d.data());
  EXPECT_TRUE(all_equal(to_host(y_d), y)) << "forward output";
  EXPECT_TRUE(all_equal(to_host(argmax_d), argmax)) << "argmax";
  max_pool2d_backward(cuda{}, g, dy_d.data(), argmax_d.data(), dx_d.data());
  EXPECT_TRUE(all_close(to_host(dx_d), dx)) << "input gradient";
}

// -------------------------------------------------------------------------------------
// Activations
// -------------------------------------------------------------------------------------

struct ElementwiseCase {
  const char* name;
  std::int64_t n;
  std::uint64_t seed;
};
std::ostream& operator<<(std::ostream& out, const ElementwiseCase& c) { return out << c.name; }

class CudaActivation : public ::testing::TestWithParam<ElementwiseCase> {};

TEST_P(CudaActivation, SigmoidForwardAndBackwardMatchCpu) {
  HNN_REQUIRE_GPU();
  const std::int64_t n = GetParam().n;
  Rng rng(GetParam().seed);
  const auto x = random_floats(n, rng, -8, 8), dy = random_floats(n, rng);
  auto y = host_buffer(n), dx = host_buffer(n);
  sigmoid_forward(cpu{}, x.data(), y.data(), n);
  sigmoid_backward(cpu{}, y.data(), dy.data(), dx.data(), n);

  const auto x_d = to_device(x), dy_d = to_device(dy);
  auto y_d = poisoned<float>(n), dx_d = poisoned<float>(n);
  sigmoid_forward(cuda{}, x_d.data(), y_d.data(), n);
  EXPECT_TRUE(all_close(to_host(y_d), y)) << "forward output";
  // Backward from the CPU's output, so that it is tested even if the forward failed.
  const auto y_reference_d = to_device(y);
  sigmoid_backward(cuda{}, y_reference_d.data(), dy_d.data(), dx_d.data(), n);
  EXPECT_TRUE(all_close(to_host(dx_d), dx)) << "input gradient";
}

TEST_P(CudaActivation, ReluForwardAndBackwardMatchCpuExactly) {
  HNN_REQUIRE_GPU();
  const std::int64_t n = GetParam().n;
  Rng rng(GetParam().seed + 50);
  const auto x = random_floats(n, rng), dy = random_floats(n, rng);
  auto y = host_buffer(n), dx = host_buffer(n);
  relu_forward(cpu{}, x.data(), y.data(), n);
  relu_backward(cpu{}, x.data(), dy.data(), dx.data(), n);

  const auto x_d = to_device(x), dy_d = to_device(dy);
  auto y_d = poisoned<float>(n), dx_d = poisoned<float>(n);
  relu_forward(cuda{}, x_d.data(), y_d.data(), n);
  EXPECT_TRUE(all_equal(to_host(y_d), y)) << "forward output";
  relu_backward(cuda{}, x_d.data(), dy_d.data(), dx_d.data(), n);
  EXPECT_TRUE(all_equal(to_host(dx_d), dx)) << "input gradient";
}

INSTANTIATE_TEST_SUITE_P(Sizes, CudaActivation,
                         ::testing::Values(ElementwiseCase{"lenet_conv1_output", 256 * 6 * 28 * 28, 301},
                                           ElementwiseCase{"n1001", 1001, 302}, ElementwiseCase{"n1", 1, 303}),
                         [](const ::testing::TestParamInfo<ElementwiseCase>& info) {
                           return std::string(info.param.name);
                         });

// -------------------------------------------------------------------------------------
// Linear
// -------------------------------------------------------------------------------------

struct LinearCase {
  const char* name;
  std::int64_t batch, in_features, out_features;
  bool input_gradient;  // false: dx_or_null = nullptr
  std::uint64_t seed;
};
std::ostream& operator<<(std::ostream& out, const LinearCase& c) { return out << c.name; }

class CudaLinear : public ::testing::TestWithParam<LinearCase> {};

TEST_P(CudaLinear, ForwardAndBackwardMatchCpu) {
  HNN_REQUIRE_GPU();
  const LinearCase& c = GetParam();
  Rng rng(c.seed);
  const auto x = random_floats(c.batch * c.in_features, rng);
  const auto w = random_floats(c.out_features * c.in_features, rng, -0.5, 0.5);
  const auto b = random_floats(c.out_features, rng);
  const auto dy = random_floats(c.batch * c.out_features, rng);
  auto y = host_buffer(c.batch * c.out_features), dx = host_buffer(c.batch * c.in_features);
  auto dw = host_buffer(c.out_features * c.in_features), db = host_buffer(c.out_features);
  linear_forward(cpu{}, c.batch, c.in_features, c.out_features, x.data(), w.data(), b.data(), y.data());
  linear_backward(cpu{}, c.batch, c.in_features, c.out_features, x.data(), w.data(), dy.data(),
                  c.input_gradient ? dx.data() : nullptr, dw.data(), db.data());

  const auto x_d = to_device(x), w_d = to_device(w), b_d = to_device(b), dy_d = to_device(dy);
  auto y_d = poisoned<float>(static_cast<std::int64_t>(y.size()));
  linear_forward(cuda{}, c.batch, c.in_features, c.out_features, x_d.data(), w_d.data(), b_d.data(), y_d.data());
  EXPECT_TRUE(all_close(to_host(y_d), y)) << "forward output";

  auto dx_d = poisoned<float>(static_cast<std::int64_t>(dx.size()));
  auto dw_d = poisoned<float>(static_cast<std::int64_t>(dw.size())), db_d = poisoned<float>(c.out_features);
  linear_backward(cuda{}, c.batch, c.in_features, c.out_features, x_d.data(), w_d.data(), dy_d.data(),
                  c.input_gradient ? dx_d.data() : nullptr, dw_d.data(), db_d.data());
  EXPECT_TRUE(all_close(to_host(dw_d), dw)) << "weight gradient";
  EXPECT_TRUE(all_close(to_host(db_d), db)) << "bias gradient";
  if (c.input_gradient) EXPECT_TRUE(all_close(to_host(dx_d), dx)) << "input gradient";
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaLinear,
                         ::testing::Values(LinearCase{"lenet_fc1", 256, 400, 120, true, 401},
                                           LinearCase{"lenet_fc1_no_dx", 256, 400, 120, false, 402},
                                           LinearCase{"lenet_fc2", 256, 120, 84, true, 403},
                                           LinearCase{"lenet_fc3", 256, 84, 10, true, 404},
                                           LinearCase{"batch3_7_to_5", 3, 7, 5, true, 405},
                                           LinearCase{"batch3_7_to_5_no_dx", 3, 7, 5, false, 406},
                                           LinearCase{"batch1_33_to_17", 1, 33, 17, true, 407}),
                         [](const ::testing::TestParamInfo<LinearCase>& info) { return std::string(info.param.name); });

// -------------------------------------------------------------------------------------
// Batch assembly
// -------------------------------------------------------------------------------------

TEST(CudaBatch, GatherBatchMatchesCpuExactly) {
  HNN_REQUIRE_GPU();
  const std::int64_t samples = 18, sample_size = 28 * 28, stride = 5;
  Rng rng(701);
  const auto images = random_floats(samples * sample_size, rng, 0, 1);
  const auto labels = random_labels(samples, 10, rng);
  const auto order = random_permutation(samples, rng);
  const auto images_d = to_device(images);
  const auto labels_d = to_device(labels);
  const auto order_d = to_device(order);

  // Batch 2 of 5 samples, then the partial last batch: batch 3 holds the 3 samples left.
  struct Case {
    std::int64_t batch_number, count;
  };
  for (const Case c : {Case{2, 5}, Case{3, 3}}) {
    SCOPED_TRACE("batch " + std::to_string(c.batch_number) + " of " + std::to_string(c.count) + " samples");
    auto batch_images = host_buffer(c.count * sample_size);
    std::vector<std::int32_t> batch_labels(static_cast<std::size_t>(c.count));
    gather_batch(cpu{}, c.count, sample_size, images.data(), labels.data(), order.data(), &c.batch_number, stride,
                 batch_images.data(), batch_labels.data());

    const auto batch_number_d = to_device(std::vector<std::int64_t>{c.batch_number});
    auto batch_images_d = poisoned<float>(c.count * sample_size);
    auto batch_labels_d = poisoned<std::int32_t>(c.count);
    gather_batch(cuda{}, c.count, sample_size, images_d.data(), labels_d.data(), order_d.data(),
                 batch_number_d.data(), stride, batch_images_d.data(), batch_labels_d.data());
    EXPECT_TRUE(all_equal(to_host(batch_images_d), batch_images)) << "images";
    EXPECT_TRUE(all_equal(to_host(batch_labels_d), batch_labels)) << "labels";
  }
}

TEST(CudaBatch, AdvanceBatchNumberIncrementsAndGatherReadsTheNewValue) {
  HNN_REQUIRE_GPU();
  std::int64_t batch_number = 41;
  auto batch_number_d = to_device(std::vector<std::int64_t>{batch_number});
  advance_batch_number(cpu{}, &batch_number);
  advance_batch_number(cuda{}, batch_number_d.data());
  EXPECT_EQ(batch_number, 42);
  EXPECT_EQ(to_host(batch_number_d), std::vector<std::int64_t>{42});
  advance_batch_number(cuda{}, batch_number_d.data());
  EXPECT_EQ(to_host(batch_number_d), std::vector<std::int64_t>{43});

  // The trainer's step queues advance -> gather with no host read in between (a replayed
  // CUDA graph cannot pass a new value): gather must read the number when it runs.
  const std::int64_t samples = 12, sample_size = 6, stride = 2, count = 2;
  Rng rng(702);
  const auto images = random_floats(samples * sample_size, rng);
  const auto labels = random_labels(samples, 10, rng);
  const auto order = random_permutation(samples, rng);
  const auto images_d = to_device(images);
  const auto labels_d = to_device(labels);
  const auto order_d = to_device(order);
  auto number_d = to_device(std::vector<std::int64_t>{3});
  auto batch_images_d = poisoned<float>(count * sample_size);
  auto batch_labels_d = poisoned<std::int32_t>(count);
  advance_batch_number(cuda{}, number_d.data());  // 3 -> 4, still queued when gather is queued
  gather_batch(cuda{}, count, sample_size, images_d.data(), labels_d.data(), order_d.data(), number_d.data(), stride,
               batch_images_d.data(), batch_labels_d.data());

  const std::int64_t four = 4;
  auto batch_images = host_buffer(count * sample_size);
  std::vector<std::int32_t> batch_labels(static_cast<std::size_t>(count));
  gather_batch(cpu{}, count, sample_size, images.data(), labels.data(), order.data(), &four, stride,
               batch_images.data(), batch_labels.data());
  EXPECT_TRUE(all_equal(to_host(batch_images_d), batch_images)) << "images of batch 4";
  EXPECT_TRUE(all_equal(to_host(batch_labels_d), batch_labels)) << "labels of batch 4";
}

}  // namespace
