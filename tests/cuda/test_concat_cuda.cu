// Concat on CUDA against the CPU: the channel-range copy kernels (kernels/channel_concat.hpp),
// exactly, on buffers poisoned with NaN; and whole models with Concat blocks (an Inception
// block, a DenseNet-style block with an identity branch and a BatchNorm) on both devices:
// forward, input and parameter gradients, running statistics, evaluation mode. Skipped without
// a GPU (HNN_REQUIRE_GPU).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cuda_test_util.cuh"
#include "hnn/kernels/channel_concat.hpp"
#include "hnn/model/concat.hpp"
#include "hnn/model/sequential.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

struct ChannelRangeCase {
  std::int64_t outer, channels, first, count, inner;
};

TEST(CudaConcat, ChannelCopiesMatchCpu) {
  HNN_REQUIRE_GPU();
  Rng rng(41);
  for (const ChannelRangeCase c : {ChannelRangeCase{3, 7, 2, 3, 5}, ChannelRangeCase{1, 4, 1, 2, 70001},
                                   ChannelRangeCase{5, 9, 0, 9, 20000}, ChannelRangeCase{2, 3, 2, 1, 1},
                                   ChannelRangeCase{64, 256, 192, 32, 49}}) {
    SCOPED_TRACE("channels [" + std::to_string(c.first) + ", " + std::to_string(c.first + c.count) + ") of " +
                 std::to_string(c.channels) + ", outer " + std::to_string(c.outer) + ", inner " +
                 std::to_string(c.inner));
    const std::int64_t piece_size = c.outer * c.count * c.inner, whole_size = c.outer * c.channels * c.inner;
    const std::vector<float> piece = random_floats(piece_size, rng);
    const std::vector<float> whole_before = random_floats(whole_size, rng);

    // Into the whole: the other channels keep their values.
    std::vector<float> whole_cpu = whole_before;
    copy_into_channels(cpu{}, c.outer, c.channels, c.first, c.count, c.inner, piece.data(), whole_cpu.data());
    Tensor<float, cuda> whole_gpu = to_device(whole_before);
    const Tensor<float, cuda> piece_gpu = to_device(piece);
    copy_into_channels(cuda{}, c.outer, c.channels, c.first, c.count, c.inner, piece_gpu.data(), whole_gpu.data());
    EXPECT_TRUE(all_equal(to_host(whole_gpu), whole_cpu)) << "copy_into_channels";

    // Out of it, into a poisoned buffer: every element written.
    std::vector<float> back_cpu(static_cast<std::size_t>(piece_size));
    copy_from_channels(cpu{}, c.outer, c.channels, c.first, c.count, c.inner, whole_before.data(), back_cpu.data());
    const Tensor<float, cuda> whole_source = to_device(whole_before);
    Tensor<float, cuda> back_gpu = poisoned<float>(piece_size);
    copy_from_channels(cuda{}, c.outer, c.channels, c.first, c.count, c.inner, whole_source.data(), back_gpu.data());
    EXPECT_TRUE(all_equal(to_host(back_gpu), back_cpu)) << "copy_from_channels";
  }
}

// One model on both devices with the same parameters, input and output gradient, two steps in
// training mode then a forward in evaluation mode.
void expect_concat_devices_agree(const std::vector<LayerSpec>& specs, const Shape& input, std::uint64_t seed) {
  Sequential<float, cpu> host(specs, seed);
  Sequential<float, cuda> device(specs, seed);
  SCOPED_TRACE(host.describe_all() + " on " + input.str());
  Rng rng(seed);
  for (const auto& p : host.parameters()) {
    const std::vector<float> v = random_floats(p.value->numel(), rng, -0.5, 0.5);
    std::copy(v.begin(), v.end(), p.value->data());
  }
  device.copy_parameters_from(host);
  host.set_input_gradient(true);
  device.set_input_gradient(true);

  const std::vector<float> x = random_floats(input.numel(), rng, -2, 2);
  const Tensor<float, cpu> x_h = Tensor<float, cpu>::from_vector(input, x);
  const Tensor<float, cuda> x_d = Tensor<float, cuda>::from_vector(input, x);
  for (int step = 0; step < 2; ++step) {
    const Tensor<float, cpu>& y_h = host.forward(x_h);
    const Tensor<float, cuda>& y_d = device.forward(x_d);
    EXPECT_TRUE(all_close(to_host(y_d), y_h.to_vector())) << "forward, step " << step;
    const std::vector<float> dy = random_floats(y_h.numel(), rng);
    const Tensor<float, cpu>& dx_h = host.backward(Tensor<float, cpu>::from_vector(y_h.shape(), dy));
    const Tensor<float, cuda> dy_d = Tensor<float, cuda>::from_vector(y_h.shape(), dy);
    const Tensor<float, cuda>& dx_d = device.backward(dy_d);
    EXPECT_TRUE(all_close(to_host(dx_d), dx_h.to_vector())) << "input gradient, step " << step;
    for (std::size_t i = 0; i < host.parameters().size(); ++i)
      EXPECT_TRUE(all_close(to_host(*device.parameters()[i].grad), host.parameters()[i].grad->to_vector()))
          << host.parameter_names()[i] << " gradient, step " << step;
    for (std::size_t i = 0; i < host.state_dict().size(); ++i)
      EXPECT_TRUE(all_close(to_host(*device.state_dict()[i].value), host.state_dict()[i].value->to_vector()))
          << host.state_dict()[i].name << " after step " << step;
  }
  host.eval();
  device.eval();
  EXPECT_TRUE(all_close(to_host(device.forward(x_d)), host.forward(x_h).to_vector())) << "evaluation forward";
}

TEST(CudaConcat, InceptionAndDenseBlocksMatchCpu) {
  HNN_REQUIRE_GPU();
  expect_concat_devices_agree({Inception(3, 4, {3, 5}, {2, 3}, 2)}, Shape{4, 3, 9, 7}, 1);
  expect_concat_devices_agree({Conv2d(1, 4, 3).padding(1), ReLU(), Inception(4, 2, {2, 3}, {1, 2}, 2),
                               Concat({}, {BatchNorm2d(9), ReLU(), Conv2d(9, 3, 3).padding(1)}), MaxPool2d(2),
                               GlobalAvgPool2d(), Flatten(), Linear(12, 5)},
                              Shape{6, 1, 10, 10}, 2);
}

}  // namespace
