// DataLoader<Dataset, cuda>: each batch copied into one pair of device tensors allocated once,
// holding exactly what the host loader's batch holds (the same seed, the same transforms), the
// last partial batch included, with the background thread and without. The copies are
// asynchronous (hnn/data/cuda/batch_copy.cuh); to_vector() reads on the same stream after them.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cuda_test_util.cuh"
#include "hnn/data/loader.hpp"

using namespace hnn;

namespace {

data::TensorDataset<float> numbered(std::int64_t n) {
  Tensor<float> x(Shape{n, 2, 5, 5});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i % 977) * 0.5f;
  Tensor<std::int32_t> y(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<std::int32_t>(i % 10);
  return data::TensorDataset<float>(x, y);
}

data::Compose<float> augment() { return data::Compose(data::RandomCrop(5, 1), data::RandomHorizontalFlip(0.5)); }

}  // namespace

TEST(DataLoaderCuda, DeviceBatchesEqualTheHostLoadersBatches) {
  HNN_REQUIRE_GPU();
  const data::TensorDataset<float> set = numbered(21);
  for (bool background : {true, false}) {
    const auto options = data::LoaderOptions(8).shuffle(true).seed(4).background(background);
    data::DataLoader<data::TensorDataset<float>, cuda> gpu(set, options, augment());
    data::DataLoader<data::TensorDataset<float>, cpu> host(set, options, augment());
    const float* inputs_address = nullptr;
    const std::int32_t* targets_address = nullptr;
    for (int epoch = 0; epoch < 2; ++epoch) {
      gpu.start_epoch();
      host.start_epoch();
      std::int64_t batches = 0;
      while (const auto* on_gpu = gpu.next()) {
        const auto* on_host = host.next();
        ASSERT_NE(on_host, nullptr);
        EXPECT_EQ(on_gpu->index, on_host->index);
        EXPECT_EQ(on_gpu->inputs.shape(), on_host->inputs.shape());
        EXPECT_EQ(on_gpu->inputs.to_vector(), on_host->inputs.to_vector()) << "epoch " << epoch << " batch " << batches;
        EXPECT_EQ(on_gpu->targets.to_vector(), on_host->targets.to_vector());
        if (inputs_address == nullptr) inputs_address = on_gpu->inputs.data(), targets_address = on_gpu->targets.data();
        EXPECT_EQ(on_gpu->inputs.data(), inputs_address) << "the device buffers stay where they are";
        EXPECT_EQ(on_gpu->targets.data(), targets_address);
        ++batches;
      }
      EXPECT_EQ(host.next(), nullptr);
      EXPECT_EQ(batches, 3);
    }
  }
}
