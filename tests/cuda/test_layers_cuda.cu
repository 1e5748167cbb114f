// BatchNorm, Dropout, Tanh, GlobalAvgPool2d, padded pooling and residual blocks on CUDA against the same layers on the CPU: forward, backward
// (input and parameter gradients), running statistics and evaluation mode, on random inputs.
// Skipped without a GPU (HNN_REQUIRE_GPU).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda_test_util.cuh"
#include "hnn/model/residual.hpp"
#include "hnn/model/sequential.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

// One model on both devices, the same parameters (init seeds the dropout masks too), the same
// input and output gradient; compares everything the step computes, in training then in
// evaluation mode.
void expect_devices_agree(const std::vector<LayerSpec>& specs, const Shape& input, std::uint64_t seed) {
  Sequential<float, cpu> host(specs, seed);
  Sequential<float, cuda> device(specs, seed);
  SCOPED_TRACE(host.describe_all() + " on " + input.str());
  Rng rng(seed);
  for (const auto& p : host.parameters()) {  // random, so that no parameter sits at its initial ones or zeros
    const std::vector<float> v = random_floats(p.value->numel(), rng, -1, 1);
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

TEST(CudaLayers, BatchNorm) {
  HNN_REQUIRE_GPU();
  expect_devices_agree({BatchNorm2d(6)}, Shape{16, 6, 9, 7}, 1);
  expect_devices_agree({BatchNorm2d(3).affine(false).eps(1e-3).momentum(0.3)}, Shape{4, 3, 5, 5}, 2);
  expect_devices_agree({BatchNorm1d(120)}, Shape{32, 120}, 3);
  expect_devices_agree({BatchNorm1d(5).affine(false)}, Shape{3, 5, 4}, 4);
}

TEST(CudaLayers, DropoutSameMaskOnBothDevices) {
  HNN_REQUIRE_GPU();
  expect_devices_agree({Dropout(0.5)}, Shape{8, 1000}, 5);
  expect_devices_agree({Linear(30, 20), Dropout(0.2), ReLU(), Linear(20, 4), Dropout(0.7)}, Shape{9, 30}, 6);
}

TEST(CudaLayers, TanhAndGlobalAvgPool) {
  HNN_REQUIRE_GPU();
  expect_devices_agree({Tanh()}, Shape{7, 3, 11, 5}, 7);
  expect_devices_agree({GlobalAvgPool2d()}, Shape{16, 10, 7, 7}, 8);
}

TEST(CudaLayers, PaddedPools) {
  HNN_REQUIRE_GPU();
  expect_devices_agree({AvgPool2d(3, 2).padding(1)}, Shape{4, 3, 9, 8}, 9);
  expect_devices_agree({MaxPool2d(3, 2).padding(1)}, Shape{4, 3, 9, 8}, 10);
  expect_devices_agree({MaxPool2d(5, 1).padding(2)}, Shape{2, 2, 6, 6}, 11);
}

TEST(CudaLayers, BiaslessConvAndLinear) {
  HNN_REQUIRE_GPU();
  expect_devices_agree({Conv2d(3, 8, 3).padding(1).bias(false)}, Shape{4, 3, 10, 10}, 12);
  expect_devices_agree({Conv2d(2, 4, 5).stride(2).bias(false)}, Shape{3, 2, 13, 12}, 13);
  expect_devices_agree({Linear(50, 10).bias(false)}, Shape{16, 50}, 14);
  // The CPU fuses this run (bias-less); CUDA runs the three layers.
  expect_devices_agree({Conv2d(1, 6, 5).padding(2).bias(false), Sigmoid(), AvgPool2d(2), BatchNorm2d(6), Flatten(),
                        Linear(6 * 14 * 14, 10).bias(false)},
                       Shape{8, 1, 28, 28}, 15);
}

}  // namespace

// Evaluation mode folds each batch norm into the Conv2d or Linear before it, on both devices
// (the CPU also fuses the folded convolution with its activation and pooling at this batch).
TEST(CudaLayers, BatchNormFoldedInEvaluation) {
  HNN_REQUIRE_GPU();
  expect_devices_agree({Conv2d(1, 6, 5), BatchNorm2d(6), Sigmoid(), AvgPool2d(2), Flatten(), Linear(6 * 4 * 4, 8),
                        BatchNorm1d(8), ReLU(), Linear(8, 3)},
                       Shape{20, 1, 12, 12}, 14);
  expect_devices_agree({Conv2d(2, 4, 3).padding(1).bias(false), BatchNorm2d(4), ReLU(), Flatten(), Linear(4 * 25, 6),
                        BatchNorm1d(6)},
                       Shape{5, 2, 5, 5}, 15);
}

TEST(CudaLayers, ResidualBlocksWithBatchNorm) {
  HNN_REQUIRE_GPU();
  const std::vector<LayerSpec> identity{Conv2d(4, 4, 3).padding(1).bias(false), BatchNorm2d(4), ReLU(),
                                        Conv2d(4, 4, 3).padding(1).bias(false), BatchNorm2d(4)};
  expect_devices_agree({Residual(identity), ReLU()}, Shape{6, 4, 9, 9}, 12);
  expect_devices_agree({Residual({Conv2d(4, 8, 3).stride(2).padding(1).bias(false), BatchNorm2d(8), ReLU(),
                                  Conv2d(8, 8, 3).padding(1).bias(false), BatchNorm2d(8)},
                                 {Conv2d(4, 8, 1).stride(2).bias(false), BatchNorm2d(8)}),
                        ReLU(), GlobalAvgPool2d(), Flatten(), Linear(8, 3)},
                       Shape{6, 4, 9, 9}, 13);
}
