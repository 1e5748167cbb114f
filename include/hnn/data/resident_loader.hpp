// ResidentLoader: a whole dataset copied to the device once, and each batch gathered there, on
// the device, in the order a DataLoader follows (data/order.hpp): the same batches as
// DataLoader(dataset, options) without transforms, without a host copy per batch. On a GPU that
// keeps the data next to the kernels (LeNet-5's steps are shorter than a host-to-device copy of
// their batch); on the CPU the two do the same work.
//
//   data::ResidentLoader<float, std::int32_t, hnn::cuda> train(data::fashion_mnist(dir, Split::train),
//                                                             data::LoaderOptions(256).shuffle(true).seed(0));
//   for (const auto& batch : train.epoch()) step(batch.inputs, batch.targets);
//
// Every batch comes in the same two device tensors (allocated once), so a recorded CUDA graph
// may read them. For per-sample transforms use DataLoader.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "hnn/data/dataset.hpp"
#include "hnn/data/loader.hpp"
#include "hnn/data/order.hpp"
#include "hnn/device.hpp"
#include "hnn/kernels/batch.hpp"
#include "hnn/tensor.hpp"

namespace hnn::data {

template <class T, class Target = std::int32_t, class Device = cpu>
class ResidentLoader {
 public:
  using value_type = T;
  using target_type = Target;
  using BatchType = Batch<T, Target, Device>;

  ResidentLoader(const TensorDataset<T, Target>& dataset, const LoaderOptions& options)
      : options_(options), order_(dataset.size(), options.shuffle(), options.seed(), "hnn::data::ResidentLoader") {
    const auto fail = [](const std::string& what) { throw std::invalid_argument("hnn::data::ResidentLoader: " + what); };
    const std::int64_t n = dataset.size(), batch = options_.batch_size();
    if (batch < 1) fail("batch size must be at least 1, got " + std::to_string(batch));
    if (n < 1) fail("the dataset is empty");
    if (options_.drop_last() && batch > n)
      fail("batch size " + std::to_string(batch) + " with drop_last leaves no batch of the dataset's " +
           std::to_string(n) + " examples");
    inputs_ = dataset.inputs().template to<Device>();
    targets_ = dataset.targets().template to<Device>();
    sample_shape_ = dataset.sample_shape();
    target_shape_ = dataset.target_shape();
    batches_ = options_.drop_last() ? n / batch : (n + batch - 1) / batch;
    order_device_ = Tensor<std::int32_t, Device>(Shape{n});
    order_host_ = Tensor<std::int32_t, cpu>(Shape{n});
    const std::int64_t capacity = std::min(batch, n);
    batch_.inputs = Tensor<T, Device>(with_count(sample_shape_, capacity));
    batch_.targets = Tensor<Target, Device>(with_count(target_shape_, capacity));
  }

  // Begins an epoch: the next order, copied to the device.
  void start_epoch() {
    order_.next_epoch();
    std::copy(order_.order().begin(), order_.order().end(), order_host_.data());
    order_device_.copy_from(order_host_);
    next_batch_ = 0;
    in_epoch_ = true;
  }

  // The next batch of the epoch (gathered on the device), or nullptr when the epoch is over.
  const BatchType* next() {
    if (!in_epoch_) {
      if (order_.epochs_started() == 0)
        throw std::logic_error("hnn::data::ResidentLoader::next: no epoch started; call start_epoch() first");
      return nullptr;
    }
    if (next_batch_ == batches_) {
      in_epoch_ = false;
      return nullptr;
    }
    const std::int64_t b = next_batch_++;
    const std::int64_t first = b * options_.batch_size();
    const std::int64_t count = std::min(options_.batch_size(), size() - first);
    batch_.inputs.resize(with_count(sample_shape_, count));
    batch_.targets.resize(with_count(target_shape_, count));
    gather_rows(Device{}, count, sample_shape_.numel(), inputs_.data(), order_device_.data(), first, batch_.inputs.data());
    gather_rows(Device{}, count, target_shape_.numel(), targets_.data(), order_device_.data(), first,
                batch_.targets.data());
    batch_.index = b;
    return &batch_;
  }

  // for (const auto& batch : loader.epoch()): starts an epoch and walks its batches.
  using EpochRange = data::EpochRange<ResidentLoader, BatchType>;
  EpochRange epoch() {
    start_epoch();
    return EpochRange(this);
  }

  const LoaderOptions& options() const { return options_; }
  std::int64_t size() const { return inputs_.dim(0); }  // examples per epoch, before drop_last
  std::int64_t batches() const { return batches_; }
  const Shape& sample_shape() const { return sample_shape_; }
  const Shape& target_shape() const { return target_shape_; }
  std::int64_t epochs_started() const { return order_.epochs_started(); }
  // The whole set on the device: inputs (N, ...) and targets.
  const Tensor<T, Device>& inputs() const { return inputs_; }
  const Tensor<Target, Device>& targets() const { return targets_; }

  LoaderState state() const { return order_.state(); }
  // Continues from a state() of a loader over the same dataset; checks it first.
  void restore(const LoaderState& s) {
    order_.restore(s);
    in_epoch_ = false;
  }

 private:
  static Shape with_count(const Shape& sample, std::int64_t count) {
    Shape s{count};
    for (int i = 0; i < sample.rank(); ++i) s.push_back(sample[i]);
    return s;
  }

  LoaderOptions options_;
  ShuffledOrder order_;
  Tensor<T, Device> inputs_;
  Tensor<Target, Device> targets_;
  Shape sample_shape_, target_shape_;
  Tensor<std::int32_t, cpu> order_host_;
  Tensor<std::int32_t, Device> order_device_;
  BatchType batch_;
  std::int64_t batches_ = 0, next_batch_ = 0;
  bool in_epoch_ = false;
};

}  // namespace hnn::data
