// DataLoader: batches from a dataset (hnn/data/dataset.hpp), shuffled or in order, each sample
// through a chain of transforms (hnn/data/transforms.hpp), the next batch prepared on a
// background thread while the caller's step runs, and on a GPU copied to the device.
//
//   data::DataLoader loader(train, data::LoaderOptions(256).shuffle(true).seed(0),
//                           data::Compose(data::RandomCrop(28, 2), data::RandomHorizontalFlip(0.5)));
//   for (int epoch = 0; epoch < 10; ++epoch)
//     for (const auto& batch : loader.epoch())       // batch.inputs (256, 1, 28, 28), batch.targets (256)
//       step(batch.inputs, batch.targets);
//
// Or by hand: loader.start_epoch(); while (const auto* batch = loader.next()) { ... }.
// A batch stays valid until the next call to next() (or start_epoch(), restore(), the
// destructor); the loader refers to its dataset, which must outlive it.
//
// The order is data/order.hpp's (a seed gives the batches hnn's trainer has always used);
// state() and restore() carry it through a checkpoint.
//
// The work. Batches are filled into two fixed host buffers (double buffering): while the caller
// holds batch b, the background thread fills batch b + 1 into the other one. Nothing is
// allocated per batch once the loader is built (a dataset's own get() may allocate; a
// TensorDataset's does not). Each sample's transforms draw from sample_rng(seed, epoch,
// position), so the batches are the same bit for bit with or without the thread. An exception
// thrown on the thread by the dataset or a transform is rethrown by the next() that asks for
// that batch, and ends the epoch. The destructor stops the thread cleanly, mid-epoch too.
//
// On a device (DataLoader<Dataset, cuda>, compiled by nvcc), next() copies the host batch into
// one pair of device tensors allocated once, so every batch has the same device addresses (a
// recorded CUDA graph may read them). On CUDA the copy is asynchronous, queued on the caller's
// stream behind the work already there (hnn/data/batch_copy.hpp): the batch is ready for the
// kernels the caller queues next, and the host does not wait.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "hnn/data/batch_copy.hpp"
#include "hnn/data/dataset.hpp"
#include "hnn/data/order.hpp"
#include "hnn/data/transforms.hpp"
#include "hnn/device.hpp"
#include "hnn/init.hpp"
#include "hnn/tensor.hpp"

namespace hnn::data {

// How a DataLoader batches, as named setters:
//   LoaderOptions(256).shuffle(true).seed(7).drop_last(true).background(false)
class LoaderOptions {
 public:
  explicit LoaderOptions(std::int64_t batch_size = 1) : batch_size_(batch_size) {}

  // Examples per batch (PyTorch's default: 1).
  LoaderOptions& batch_size(std::int64_t v) { return batch_size_ = v, *this; }
  std::int64_t batch_size() const { return batch_size_; }
  // A new order every epoch (see the loader's comment); off: the dataset's order.
  LoaderOptions& shuffle(bool v) { return shuffle_ = v, *this; }
  bool shuffle() const { return shuffle_; }
  // Leaves out the last batch when it would be smaller than batch_size.
  LoaderOptions& drop_last(bool v) { return drop_last_ = v, *this; }
  bool drop_last() const { return drop_last_; }
  // Drives the shuffle and the transforms' randomness.
  LoaderOptions& seed(std::uint64_t v) { return seed_ = v, *this; }
  std::uint64_t seed() const { return seed_; }
  // Prepares the next batch on a background thread (on by default); off: next() fills each
  // batch on the caller's thread. Both give the same batches.
  LoaderOptions& background(bool v) { return background_ = v, *this; }
  bool background() const { return background_; }

 private:
  std::int64_t batch_size_;
  bool shuffle_ = false, drop_last_ = false;
  std::uint64_t seed_ = 0;
  bool background_ = true;
};

// One batch: inputs (n, ...sample shape after the transforms) and targets (n) of class labels
// or (n, ...target shape), on Device.
template <class T, class Target, class Device = cpu>
struct Batch {
  Tensor<T, Device> inputs;
  Tensor<Target, Device> targets;
  std::int64_t index = 0;  // which batch of the epoch, from 0

  std::int64_t size() const { return inputs.dim(0); }
};

template <class Dataset, class Device = cpu>
class DataLoader {
  static_assert(is_dataset_v<Dataset>,
                "hnn::data::DataLoader: the type does not meet the dataset contract (see hnn/data/dataset.hpp: "
                "value_type, target_type, size(), sample_shape(), target_shape(), get(index, sample, target))");

 public:
  using value_type = typename Dataset::value_type;
  using target_type = typename Dataset::target_type;
  using BatchType = Batch<value_type, target_type, Device>;

  // Checks the options and the transforms against the dataset's sample shape, and allocates
  // every buffer; nothing later allocates.
  DataLoader(const Dataset& dataset, const LoaderOptions& options, Compose<value_type> transforms = {})
      : dataset_(dataset),
        options_(options),
        transforms_(std::move(transforms)),
        order_(dataset.size(), options.shuffle(), options.seed(), "hnn::data::DataLoader") {
    const auto fail = [](const std::string& what) { throw std::invalid_argument("hnn::data::DataLoader: " + what); };
    const std::int64_t n = dataset_.size();
    const std::int64_t batch = options_.batch_size();
    if (batch < 1) fail("batch size must be at least 1, got " + std::to_string(batch));
    if (n < 1) fail("the dataset is empty");
    if (options_.drop_last() && batch > n)
      fail("batch size " + std::to_string(batch) + " with drop_last leaves no batch of the dataset's " +
           std::to_string(n) + " examples");
    const Shape input_shape = dataset_.sample_shape();
    target_shape_ = dataset_.target_shape();
    shapes_ = transforms_.shapes(input_shape);  // throws when a transform cannot take the samples
    sample_shape_ = shapes_.back();
    if (sample_shape_.rank() >= Shape::max_rank || target_shape_.rank() >= Shape::max_rank)
      fail("a batch of samples " + sample_shape_.str() + " and targets " + target_shape_.str() +
           " would have more than " + std::to_string(Shape::max_rank) + " dimensions");

    batches_ = options_.drop_last() ? n / batch : (n + batch - 1) / batch;
    capacity_ = std::min(batch, n);
    for (Slot& slot : slots_) {
      slot.inputs = Tensor<value_type, cpu>(with_count(sample_shape_, capacity_));
      slot.targets = Tensor<target_type, cpu>(with_count(target_shape_, capacity_));
    }
    if (!transforms_.empty()) {
      std::int64_t largest = 0;
      for (const Shape& s : shapes_) largest = std::max(largest, s.numel());
      for (std::vector<value_type>& s : scratch_) s.resize(static_cast<std::size_t>(largest));
    }
    if constexpr (!std::is_same_v<Device, cpu>) {
      device_inputs_ = Tensor<value_type, Device>(with_count(sample_shape_, capacity_));
      device_targets_ = Tensor<target_type, Device>(with_count(target_shape_, capacity_));
      for (int s = 0; s < 2; ++s) {
        copier_.register_buffer(s, slots_[s].inputs.data(), slots_[s].inputs.bytes());
        copier_.register_buffer(s, slots_[s].targets.data(), slots_[s].targets.bytes());
      }
    }
  }
  // A loader of a temporary would refer to a dataset already gone.
  DataLoader(const Dataset&&, const LoaderOptions&, Compose<value_type> = {}) = delete;

  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  ~DataLoader() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      cancel_.store(true, std::memory_order_relaxed);
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  // Begins an epoch: the next order (shuffle on) and, with the background thread, the first
  // batches start filling. An epoch in progress is abandoned.
  void start_epoch() {
    halt_epoch();
    running_epoch_ = order_.epochs_started();
    order_.next_epoch();
    next_batch_ = 0;
    if (options_.background() && !worker_.joinable()) worker_ = std::thread([this] { work(); });
    in_epoch_ = true;
    if (!options_.background()) return;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      filled_ = 0;
      released_ = 0;
      error_ = nullptr;
      epoch_active_ = true;
    }
    wake_.notify_all();
  }

  // The next batch of the epoch, or nullptr when the epoch is over. Rethrows an exception the
  // dataset or a transform threw while preparing this batch (the epoch then ends).
  const BatchType* next() {
    if (!in_epoch_) {
      if (order_.epochs_started() == 0)
        throw std::logic_error("hnn::data::DataLoader::next: no epoch started; call start_epoch() first");
      return nullptr;
    }
    if (next_batch_ == batches_) {
      end_epoch();
      return nullptr;
    }
    const std::int64_t b = next_batch_;
    if (options_.background()) {
      std::unique_lock<std::mutex> lock(mutex_);
      released_ = b;  // the caller is done with the batches before b
      wake_.notify_all();
      wake_.wait(lock, [&] { return filled_ > b || error_; });
      if (filled_ <= b) {  // the worker failed on batch b
        std::exception_ptr error = error_;
        lock.unlock();
        end_epoch();
        std::rethrow_exception(error);
      }
    } else {
      try {
        fill(b);
      } catch (...) {
        end_epoch();
        throw;
      }
    }
    ++next_batch_;
    Slot& slot = slots_[b % 2];
    const std::int64_t count = count_of(b);
    slot.batch.inputs = slot.inputs.slice(0, count);
    slot.batch.targets = slot.targets.slice(0, count);
    slot.batch.index = b;
    if constexpr (std::is_same_v<Device, cpu>) {
      return &slot.batch;
    } else {
      device_inputs_.resize(slot.batch.inputs.shape());
      device_targets_.resize(slot.batch.targets.shape());
      copier_.copy(device_inputs_, slot.batch.inputs);
      copier_.copy(device_targets_, slot.batch.targets);
      copier_.copied_from(static_cast<int>(b % 2));  // fill() waits for this before refilling the slot
      device_batch_.inputs = device_inputs_;
      device_batch_.targets = device_targets_;
      device_batch_.index = b;
      if (options_.background()) {
        {
          const std::lock_guard<std::mutex> lock(mutex_);
          released_ = b + 1;  // the host copy of b is no longer needed
        }
        wake_.notify_all();
      }
      return &device_batch_;
    }
  }

  // for (const auto& batch : loader.epoch()): starts an epoch and walks its batches.
  using EpochRange = data::EpochRange<DataLoader, BatchType>;
  EpochRange epoch() {
    start_epoch();
    return EpochRange(this);
  }

  const Dataset& dataset() const { return dataset_; }
  const LoaderOptions& options() const { return options_; }
  const Compose<value_type>& transforms() const { return transforms_; }
  std::int64_t size() const { return dataset_.size(); }        // examples per epoch, before drop_last
  std::int64_t batches() const { return batches_; }            // batches per epoch
  const Shape& sample_shape() const { return sample_shape_; }  // one sample after the transforms
  const Shape& target_shape() const { return target_shape_; }
  std::int64_t epochs_started() const { return order_.epochs_started(); }

  // The state the next epoch depends on. Taken between epochs it continues exactly; taken in
  // the middle of one, a restore continues as if that epoch had ended.
  LoaderState state() const { return order_.state(); }

  // Continues from a state() of a loader over the same dataset with the same options. Checks
  // everything before changing anything; abandons an epoch in progress.
  void restore(const LoaderState& s) {
    ShuffledOrder checked = order_;
    checked.restore(s);  // throws, changing nothing, when `s` does not fit
    halt_epoch();
    order_ = std::move(checked);
  }

 private:
  struct Slot {
    Tensor<value_type, cpu> inputs;  // capacity x sample, allocated once
    Tensor<target_type, cpu> targets;
    Batch<value_type, target_type, cpu> batch;  // views of the filled part
  };

  static Shape with_count(const Shape& sample, std::int64_t count) {
    Shape s{count};
    for (int i = 0; i < sample.rank(); ++i) s.push_back(sample[i]);
    return s;
  }

  std::int64_t count_of(std::int64_t b) const {
    return std::min(options_.batch_size(), dataset_.size() - b * options_.batch_size());
  }

  // Fills batch b into slot b % 2; returns false when told to stop part way.
  bool fill(std::int64_t b) {
    copier_.wait_until_read(static_cast<int>(b % 2));  // a device copy may still be reading the slot
    Slot& slot = slots_[b % 2];
    const std::int64_t begin = b * options_.batch_size(), count = count_of(b);
    const std::int64_t sample_size = sample_shape_.numel(), target_size = target_shape_.numel();
    const std::size_t last = transforms_.size();
    for (std::int64_t k = 0; k < count; ++k) {
      if (cancel_.load(std::memory_order_relaxed)) return false;
      const std::int64_t position = begin + k;
      const std::int64_t index = order_[position];
      value_type* out = slot.inputs.data() + k * sample_size;
      target_type* target = slot.targets.data() + k * target_size;
      if (last == 0) {
        dataset_.get(index, out, target);
        continue;
      }
      dataset_.get(index, scratch_[0].data(), target);
      Rng rng =
          sample_rng(options_.seed(), static_cast<std::uint64_t>(running_epoch_), static_cast<std::uint64_t>(position));
      const value_type* src = scratch_[0].data();
      for (std::size_t t = 0; t < last; ++t) {
        value_type* dst = t + 1 == last ? out : scratch_[(t + 1) % 2].data();
        transforms_[t].apply(src, shapes_[t], dst, rng);
        src = dst;
      }
    }
    return true;
  }

  // The background thread: fills batch filled_ whenever its slot is free (the caller has
  // released the batch two before it), until told to stop.
  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock,
                 [&] { return stop_ || (epoch_active_ && !error_ && filled_ < batches_ && filled_ < released_ + 2); });
      if (stop_) return;
      const std::int64_t b = filled_;
      const std::uint64_t generation = generation_;
      busy_ = true;
      lock.unlock();
      std::exception_ptr failure;
      bool done = false;
      try {
        done = fill(b);
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      busy_ = false;
      if (generation == generation_ && !stop_) {
        if (failure)
          error_ = failure;
        else if (done)
          ++filled_;
      }
      wake_.notify_all();
    }
  }

  // Stops the background thread's work on the current epoch and waits until it is idle, so the
  // order and the buffers may change.
  void halt_epoch() {
    in_epoch_ = false;
    if (!worker_.joinable()) return;
    std::unique_lock<std::mutex> lock(mutex_);
    ++generation_;
    epoch_active_ = false;
    cancel_.store(true, std::memory_order_relaxed);
    wake_.wait(lock, [&] { return !busy_; });
    cancel_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
  }

  void end_epoch() {
    in_epoch_ = false;
    if (!worker_.joinable()) return;
    const std::lock_guard<std::mutex> lock(mutex_);
    epoch_active_ = false;
    error_ = nullptr;
  }

  const Dataset& dataset_;
  LoaderOptions options_;
  Compose<value_type> transforms_;
  std::vector<Shape> shapes_;  // the shape before each transform, then after the last
  Shape sample_shape_, target_shape_;
  std::int64_t batches_ = 0, capacity_ = 0;

  // Caller's side.
  ShuffledOrder order_;
  std::int64_t running_epoch_ = 0;  // the one in progress (read by the worker: set while it is idle)
  std::int64_t next_batch_ = 0;
  bool in_epoch_ = false;

  Slot slots_[2];
  std::vector<value_type> scratch_[2];  // a sample between two transforms
  Tensor<value_type, Device> device_inputs_;
  Tensor<target_type, Device> device_targets_;
  BatchType device_batch_;
  // After the slots: destroyed first, it waits for any copy still reading them.
  BatchCopy<Device> copier_;

  // Shared with the background thread, under mutex_.
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false, epoch_active_ = false, busy_ = false;
  std::uint64_t generation_ = 0;
  std::int64_t filled_ = 0, released_ = 0;  // batches of the epoch filled; released by the caller
  std::exception_ptr error_;                // what filling batch filled_ threw
  std::atomic<bool> cancel_{false};         // tells fill() to stop between samples
  std::thread worker_;
};

}  // namespace hnn::data
