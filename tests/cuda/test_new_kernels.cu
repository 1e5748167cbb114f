// The CUDA twins of batch norm, dropout, tanh, global average pooling, padded pooling, the
// bias-less convolution and linear map, and the Adam update, against their CPU kernels on
// random inputs (see cuda_test_util.cuh for the comparison). Dropout must agree bit for bit:
// both devices decide each element with the same dropout_keep.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda_test_util.cuh"
#include "hnn/kernels/batch_norm.hpp"
#include "hnn/kernels/conv2d.hpp"
#include "hnn/kernels/dropout.hpp"
#include "hnn/kernels/global_avg_pool.hpp"
#include "hnn/kernels/linear.hpp"
#include "hnn/kernels/pool2d.hpp"
#include "hnn/kernels/tanh.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

std::vector<float> host_buffer(std::int64_t n) { return std::vector<float>(static_cast<std::size_t>(n)); }

struct BatchNormCase {
  std::int64_t batch, channels, spatial;
  bool affine;
};

TEST(CudaBatchNorm, TrainingEvalAndBackwardMatchCpu) {
  HNN_REQUIRE_GPU();
  for (const BatchNormCase& c : {BatchNormCase{256, 6, 28 * 28, true}, BatchNormCase{3, 5, 7, false},
                                 BatchNormCase{64, 120, 1, true}, BatchNormCase{2, 300, 1, false}}) {
    SCOPED_TRACE("batch " + std::to_string(c.batch) + ", channels " + std::to_string(c.channels) + ", spatial " +
                 std::to_string(c.spatial));
    Rng rng(c.batch * 131 + c.channels);
    const std::int64_t n = c.batch * c.channels * c.spatial;
    const auto x = random_floats(n, rng, -2, 3), dy = random_floats(n, rng);
    const auto weight = random_floats(c.channels, rng, 0.5, 1.5), bias = random_floats(c.channels, rng);
    auto running_mean = random_floats(c.channels, rng), running_var = random_floats(c.channels, rng, 0.5, 2);
    const float* w = c.affine ? weight.data() : nullptr;
    const float* b = c.affine ? bias.data() : nullptr;

    const auto x_d = to_device(x), dy_d = to_device(dy), w_d = to_device(weight), b_d = to_device(bias);
    auto rm_d = to_device(running_mean), rv_d = to_device(running_var);
    auto y_d = poisoned<float>(n), mean_d = poisoned<float>(c.channels), inv_std_d = poisoned<float>(c.channels);

    auto y = host_buffer(n), mean = host_buffer(c.channels), inv_std = host_buffer(c.channels);
    batch_norm_forward_training(cpu{}, c.batch, c.channels, c.spatial, x.data(), w, b, running_mean.data(),
                                running_var.data(), 0.1f, 1e-5f, y.data(), mean.data(), inv_std.data());
    batch_norm_forward_training(cuda{}, c.batch, c.channels, c.spatial, x_d.data(), c.affine ? w_d.data() : nullptr,
                                c.affine ? b_d.data() : nullptr, rm_d.data(), rv_d.data(), 0.1f, 1e-5f, y_d.data(),
                                mean_d.data(), inv_std_d.data());
    EXPECT_TRUE(all_close(to_host(y_d), y)) << "training output";
    EXPECT_TRUE(all_close(to_host(mean_d), mean)) << "saved mean";
    EXPECT_TRUE(all_close(to_host(inv_std_d), inv_std)) << "saved inverse std";
    EXPECT_TRUE(all_close(to_host(rm_d), running_mean)) << "running mean";
    EXPECT_TRUE(all_close(to_host(rv_d), running_var)) << "running var";

    auto dx = host_buffer(n), dw = host_buffer(c.channels), db = host_buffer(c.channels);
    auto dx_d = poisoned<float>(n), dw_d = poisoned<float>(c.channels), db_d = poisoned<float>(c.channels);
    batch_norm_backward(cpu{}, c.batch, c.channels, c.spatial, x.data(), w, mean.data(), inv_std.data(), dy.data(),
                        dx.data(), dw.data(), db.data());
    batch_norm_backward(cuda{}, c.batch, c.channels, c.spatial, x_d.data(), c.affine ? w_d.data() : nullptr,
                        mean_d.data(), inv_std_d.data(), dy_d.data(), dx_d.data(), dw_d.data(), db_d.data());
    EXPECT_TRUE(all_close(to_host(dx_d), dx)) << "input gradient";
    EXPECT_TRUE(all_close(to_host(dw_d), dw)) << "weight gradient";
    EXPECT_TRUE(all_close(to_host(db_d), db)) << "bias gradient";

    auto y_eval_d = poisoned<float>(n);
    batch_norm_forward_eval(cpu{}, c.batch, c.channels, c.spatial, x.data(), w, b, running_mean.data(),
                            running_var.data(), 1e-5f, y.data());
    batch_norm_forward_eval(cuda{}, c.batch, c.channels, c.spatial, x_d.data(), c.affine ? w_d.data() : nullptr,
                            c.affine ? b_d.data() : nullptr, rm_d.data(), rv_d.data(), 1e-5f, y_eval_d.data());
    EXPECT_TRUE(all_close(to_host(y_eval_d), y)) << "evaluation output";
  }
}

// Batch norm folded into the weights and bias of the layer before it (evaluation mode).
TEST(CudaBatchNorm, FoldMatchesCpu) {
  HNN_REQUIRE_GPU();
  const std::int64_t channels = 16, per_channel = 6 * 25;
  Rng rng(9);
  const auto w = random_floats(channels * per_channel, rng), b = random_floats(channels, rng);
  const auto gamma = random_floats(channels, rng, 0.5, 1.5), beta = random_floats(channels, rng);
  const auto mean = random_floats(channels, rng), var = random_floats(channels, rng, 0.5, 2);
  const auto w_d = to_device(w), b_d = to_device(b), gamma_d = to_device(gamma), beta_d = to_device(beta),
             mean_d = to_device(mean), var_d = to_device(var);
  for (const bool with_bias : {true, false})
    for (const bool affine : {true, false}) {
      SCOPED_TRACE(std::string("bias ") + (with_bias ? "yes" : "no") + ", affine " + (affine ? "yes" : "no"));
      auto fw = host_buffer(channels * per_channel), fb = host_buffer(channels);
      auto fw_d = poisoned<float>(channels * per_channel), fb_d = poisoned<float>(channels);
      batch_norm_fold(cpu{}, channels, per_channel, w.data(), with_bias ? b.data() : nullptr,
                      affine ? gamma.data() : nullptr, affine ? beta.data() : nullptr, mean.data(), var.data(), 1e-5f,
                      fw.data(), fb.data());
      batch_norm_fold(cuda{}, channels, per_channel, w_d.data(), with_bias ? b_d.data() : nullptr,
                      affine ? gamma_d.data() : nullptr, affine ? beta_d.data() : nullptr, mean_d.data(),
                      var_d.data(), 1e-5f, fw_d.data(), fb_d.data());
      EXPECT_TRUE(all_close(to_host(fw_d), fw)) << "folded weight";
      EXPECT_TRUE(all_close(to_host(fb_d), fb)) << "folded bias";
    }
}

// Max pooling without winners (an evaluation forward): the same output as with them.
TEST(CudaMaxPool2d, WithoutArgmaxMatchesCpu) {
  HNN_REQUIRE_GPU();
  Pool2dGeometry g;
  g.batch = 3, g.channels = 4, g.in_height = 9, g.in_width = 7, g.kernel = 3, g.stride = 2, g.padding = 1;
  const std::int64_t in_n = g.planes() * g.in_height * g.in_width, out_n = g.planes() * g.out_height() * g.out_width();
  Rng rng(10);
  const auto x = random_floats(in_n, rng);
  auto y = host_buffer(out_n);
  max_pool2d_forward(cpu{}, g, x.data(), y.data(), static_cast<std::int32_t*>(nullptr));
  const auto x_d = to_device(x);
  auto y_d = poisoned<float>(out_n);
  max_pool2d_forward(cuda{}, g, x_d.data(), y_d.data(), static_cast<std::int32_t*>(nullptr));
  EXPECT_TRUE(all_equal(to_host(y_d), y));
}

TEST(CudaDropout, DrawsTheSameMaskAsTheCpu) {
  HNN_REQUIRE_GPU();
  Rng rng(7);
  const std::int64_t n = 100003;
  const auto x = random_floats(n, rng);
  const auto x_d = to_device(x);
  for (double p : {0.0, 0.1, 0.5, 0.9, 1.0}) {
    SCOPED_TRACE("p = " + std::to_string(p));
    for (std::int64_t step : {0, 1, 12345}) {
      const std::int64_t step_host = step;
      const auto step_d = Tensor<std::int64_t, cuda>::from_host(Shape{1}, &step_host);
      auto y = host_buffer(n), dx = host_buffer(n);
      auto y_d = poisoned<float>(n), dx_d = poisoned<float>(n);
      dropout_forward(cpu{}, n, x.data(), y.data(), p, 77, &step_host);
      dropout_forward(cuda{}, n, x_d.data(), y_d.data(), p, 77, step_d.data());
      EXPECT_TRUE(all_equal(to_host(y_d), y)) << "forward, step " << step;
      dropout_backward(cpu{}, n, x.data(), dx.data(), p, 77, &step_host);
      dropout_backward(cuda{}, n, x_d.data(), dx_d.data(), p, 77, step_d.data());
      EXPECT_TRUE(all_equal(to_host(dx_d), dx)) << "backward, step " << step;
    }
  }
}

TEST(CudaTanh, ForwardAndBackwardMatchCpu) {
  HNN_REQUIRE_GPU();
  Rng rng(8);
  const std::int64_t n = 70001;
  const auto x = random_floats(n, rng, -5, 5), dy = random_floats(n, rng);
  auto y = host_buffer(n), dx = host_buffer(n);
  tanh_forward(cpu{}, x.data(), y.data(), n);
  tanh_backward(cpu{}, y.data(), dy.data(), dx.data(), n);
  const auto x_d = to_device(x), dy_d = to_device(dy), y_cpu_d = to_device(y);
  auto y_d = poisoned<float>(n), dx_d = poisoned<float>(n);
  tanh_forward(cuda{}, x_d.data(), y_d.data(), n);
  tanh_backward(cuda{}, y_cpu_d.data(), dy_d.data(), dx_d.data(), n);
  EXPECT_TRUE(all_close(to_host(y_d), y));
  EXPECT_TRUE(all_close(to_host(dx_d), dx));
}

TEST(CudaGlobalAvgPool, ForwardAndBackwardMatchCpu) {
  HNN_REQUIRE_GPU();
  for (auto [planes, pixels] : {std::pair<std::int64_t, std::int64_t>{256 * 16, 5 * 5}, {3, 1000}, {7, 1}}) {
    Rng rng(static_cast<std::uint64_t>(planes * pixels));
    const auto x = random_floats(planes * pixels, rng), dy = random_floats(planes, rng);
    auto y = host_buffer(planes), dx = host_buffer(planes * pixels);
    global_avg_pool_forward(cpu{}, planes, pixels, x.data(), y.data());
    global_avg_pool_backward(cpu{}, planes, pixels, dy.data(), dx.data());
    const auto x_d = to_device(x), dy_d = to_device(dy);
    auto y_d = poisoned<float>(planes), dx_d = poisoned<float>(planes * pixels);
    global_avg_pool_forward(cuda{}, planes, pixels, x_d.data(), y_d.data());
    global_avg_pool_backward(cuda{}, planes, pixels, dy_d.data(), dx_d.data());
    EXPECT_TRUE(all_close(to_host(y_d), y)) << planes << " planes of " << pixels;
    EXPECT_TRUE(all_close(to_host(dx_d), dx)) << planes << " planes of " << pixels;
  }
}

Pool2dGeometry pool(std::int64_t batch, std::int64_t channels, std::int64_t height, std::int64_t width,
                    std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
  Pool2dGeometry g;
  g.batch = batch;
  g.channels = channels;
  g.in_height = height;
  g.in_width = width;
  g.kernel = kernel;
  g.stride = stride;
  g.padding = padding;
  return g;
}

TEST(CudaPaddedPool2d, AverageAndMaxMatchCpu) {
  HNN_REQUIRE_GPU();
  for (const Pool2dGeometry& g : {pool(4, 3, 9, 7, 3, 2, 1), pool(2, 2, 8, 8, 2, 2, 1), pool(3, 1, 6, 5, 3, 1, 1),
                                  pool(2, 4, 11, 10, 4, 3, 2)}) {
    SCOPED_TRACE("kernel " + std::to_string(g.kernel) + " stride " + std::to_string(g.stride) + " padding " +
                 std::to_string(g.padding));
    Rng rng(static_cast<std::uint64_t>(g.in_height * 100 + g.kernel));
    const std::int64_t in_n = g.planes() * g.in_height * g.in_width, out_n = g.planes() * g.out_height() * g.out_width();
    const auto x = random_floats(in_n, rng, -3, -1), dy = random_floats(out_n, rng);  // negative: padding is not 0
    auto y = host_buffer(out_n), dx = host_buffer(in_n);
    std::vector<std::int32_t> argmax(static_cast<std::size_t>(out_n));
    const auto x_d = to_device(x), dy_d = to_device(dy);

    avg_pool2d_forward(cpu{}, g, x.data(), y.data());
    avg_pool2d_backward(cpu{}, g, dy.data(), dx.data());
    auto y_d = poisoned<float>(out_n), dx_d = poisoned<float>(in_n);
    avg_pool2d_forward(cuda{}, g, x_d.data(), y_d.data());
    avg_pool2d_backward(cuda{}, g, dy_d.data(), dx_d.data());
    EXPECT_TRUE(all_close(to_host(y_d), y)) << "average forward";
    EXPECT_TRUE(all_close(to_host(dx_d), dx)) << "average backward";

    max_pool2d_forward(cpu{}, g, x.data(), y.data(), argmax.data());
    max_pool2d_backward(cpu{}, g, dy.data(), argmax.data(), dx.data());
    auto argmax_d = poisoned<std::int32_t>(out_n);
    max_pool2d_forward(cuda{}, g, x_d.data(), y_d.data(), argmax_d.data());
    max_pool2d_backward(cuda{}, g, dy_d.data(), argmax_d.data(), dx_d.data());
    EXPECT_TRUE(all_equal(to_host(argmax_d), argmax)) << "max argmax";
    EXPECT_TRUE(all_close(to_host(y_d), y)) << "max forward";
    EXPECT_TRUE(all_close(to_host(dx_d), dx)) << "max backward";
  }
}

TEST(CudaNoBias, Conv2dAndLinearMatchCpu) {
  HNN_REQUIRE_GPU();
  Conv2dGeometry g;
  g.batch = 3;
  g.in_channels = 2;
  g.in_height = 9;
  g.in_width = 8;
  g.out_channels = 4;
  g.kernel = 3;
  g.stride = 1;
  g.padding = 1;
  Rng rng(9);
  const std::int64_t in_n = g.batch * g.in_channels * g.in_pixels(), out_n = g.batch * g.out_channels * g.out_pixels();
  const auto x = random_floats(in_n, rng), w = random_floats(g.weight_count(), rng), dy = random_floats(out_n, rng);
  auto workspace = host_buffer(conv2d_workspace_size(cpu{}, g));
  auto y = host_buffer(out_n), dx = host_buffer(in_n), dw = host_buffer(g.weight_count());
  conv2d_forward(cpu{}, g, x.data(), w.data(), static_cast<const float*>(nullptr), y.data(), workspace.data());
  conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), static_cast<float*>(nullptr),
                  workspace.data());
  const auto x_d = to_device(x), w_d = to_device(w), dy_d = to_device(dy);
  auto workspace_d = poisoned<float>(conv2d_workspace_size(cuda{}, g));
  auto y_d = poisoned<float>(out_n), dx_d = poisoned<float>(in_n), dw_d = poisoned<float>(g.weight_count());
  conv2d_forward(cuda{}, g, x_d.data(), w_d.data(), static_cast<const float*>(nullptr), y_d.data(), workspace_d.data());
  conv2d_backward(cuda{}, g, x_d.data(), w_d.data(), dy_d.data(), dx_d.data(), dw_d.data(),
                  static_cast<float*>(nullptr), workspace_d.data());
  EXPECT_TRUE(all_close(to_host(y_d), y)) << "conv forward";
  EXPECT_TRUE(all_close(to_host(dx_d), dx)) << "conv input gradient";
  EXPECT_TRUE(all_close(to_host(dw_d), dw)) << "conv weight gradient";

  const std::int64_t batch = 5, in = 33, out = 7;
  const auto lx = random_floats(batch * in, rng), lw = random_floats(out * in, rng), ldy = random_floats(batch * out, rng);
  auto ly = host_buffer(batch * out), ldx = host_buffer(batch * in), ldw = host_buffer(out * in);
  linear_forward(cpu{}, batch, in, out, lx.data(), lw.data(), static_cast<const float*>(nullptr), ly.data());
  linear_backward(cpu{}, batch, in, out, lx.data(), lw.data(), ldy.data(), ldx.data(), ldw.data(),
                  static_cast<float*>(nullptr));
  const auto lx_d = to_device(lx), lw_d = to_device(lw), ldy_d = to_device(ldy);
  auto ly_d = poisoned<float>(batch * out), ldx_d = poisoned<float>(batch * in), ldw_d = poisoned<float>(out * in);
  linear_forward(cuda{}, batch, in, out, lx_d.data(), lw_d.data(), static_cast<const float*>(nullptr), ly_d.data());
  linear_backward(cuda{}, batch, in, out, lx_d.data(), lw_d.data(), ldy_d.data(), ldx_d.data(), ldw_d.data(),
                  static_cast<float*>(nullptr));
  EXPECT_TRUE(all_close(to_host(ly_d), ly)) << "linear forward";
  EXPECT_TRUE(all_close(to_host(ldx_d), ldx)) << "linear input gradient";
  EXPECT_TRUE(all_close(to_host(ldw_d), ldw)) << "linear weight gradient";
}

}  // namespace
