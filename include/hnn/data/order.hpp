// The order in which a loader visits a dataset's examples, epoch after epoch, and the state
// that carries it through a checkpoint. DataLoader (data/loader.hpp) and ResidentLoader
// (data/resident_loader.hpp) both follow it, so a seed gives the same batches on either.
//
// With shuffling on, each epoch permutes the previous epoch's order (the identity before the
// first) by one Fisher-Yates pass, for i = n-1 down to 1: swap(order[i], order[below(i + 1)]),
// from one Rng(seed) kept across epochs. That is the order hnn's trainer has always used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hnn/init.hpp"

namespace hnn::data {

// What a loader's next epoch depends on, for a checkpoint (TrainingState's shuffle_state and
// order are these two).
struct LoaderState {
  std::int64_t epoch = 0;           // epochs started
  std::uint64_t shuffle_state = 0;  // the shuffle generator after them
  std::vector<std::int32_t> order;  // the order the last shuffle left; the next epoch permutes it
};

class ShuffledOrder {
 public:
  // `who` prefixes error messages ("hnn::data::DataLoader").
  ShuffledOrder(std::int64_t size, bool shuffle, std::uint64_t seed, std::string who)
      : shuffle_(shuffle), rng_(seed), who_(std::move(who)) {
    if (size > std::numeric_limits<std::int32_t>::max())
      throw std::invalid_argument(who_ + ": the dataset has " + std::to_string(size) +
                                  " examples, more than the loader's limit of 2^31 - 1");
    order_.resize(static_cast<std::size_t>(size));
    for (std::int64_t i = 0; i < size; ++i) order_[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i);
  }

  // The next epoch's order (a new permutation with shuffling on, the same one without).
  void next_epoch() {
    if (shuffle_)
      for (std::size_t i = order_.size() - 1; i > 0 && i < order_.size(); --i)
        std::swap(order_[i], order_[static_cast<std::size_t>(rng_.below(static_cast<std::uint64_t>(i) + 1))]);
    ++epoch_;
  }

  const std::vector<std::int32_t>& order() const { return order_; }
  std::int32_t operator[](std::int64_t position) const { return order_[static_cast<std::size_t>(position)]; }
  std::int64_t size() const { return static_cast<std::int64_t>(order_.size()); }
  std::int64_t epochs_started() const { return epoch_; }

  LoaderState state() const { return LoaderState{epoch_, rng_.state(), order_}; }

  // Continues from a state() of the same dataset. Checks everything before changing anything.
  void restore(const LoaderState& s) {
    const std::int64_t n = size();
    const auto fail = [&](const std::string& what) { throw std::invalid_argument(who_ + "::restore: " + what); };
    if (s.epoch < 0) fail("negative epoch count " + std::to_string(s.epoch));
    if (static_cast<std::int64_t>(s.order.size()) != n)
      fail("the saved order has " + std::to_string(s.order.size()) + " entries, but the dataset has " +
           std::to_string(n) + " examples");
    std::vector<bool> seen(static_cast<std::size_t>(n), false);
    for (std::size_t k = 0; k < s.order.size(); ++k) {
      const std::int32_t i = s.order[k];
      if (i < 0 || i >= n || seen[static_cast<std::size_t>(i)])
        fail("the saved order is not a permutation of 0.." + std::to_string(n - 1) + ": entry " + std::to_string(k) +
             " is " + std::to_string(i) + (i < 0 || i >= n ? ", out of range" : ", seen before"));
      seen[static_cast<std::size_t>(i)] = true;
    }
    order_ = s.order;
    rng_.set_state(s.shuffle_state);
    epoch_ = s.epoch;
  }

 private:
  bool shuffle_;
  Rng rng_;
  std::string who_;
  std::vector<std::int32_t> order_;
  std::int64_t epoch_ = 0;
};

// for (const auto& batch : loader.epoch()): the batches of one epoch of any loader whose
// next() returns a pointer to the next batch, or nullptr at the epoch's end. epoch() starts
// the epoch, then hands out this range.
template <class Loader, class BatchType>
class EpochRange {
 public:
  struct End {};
  class Iterator {
   public:
    const BatchType& operator*() const { return *batch_; }
    const BatchType* operator->() const { return batch_; }
    Iterator& operator++() {
      batch_ = loader_->next();
      return *this;
    }
    bool operator!=(End) const { return batch_ != nullptr; }
    bool operator==(End) const { return batch_ == nullptr; }

   private:
    friend class EpochRange;
    Iterator(Loader* loader, const BatchType* batch) : loader_(loader), batch_(batch) {}
    Loader* loader_;
    const BatchType* batch_;
  };

  explicit EpochRange(Loader* loader) : loader_(loader) {}
  Iterator begin() { return Iterator(loader_, loader_->next()); }
  End end() const { return {}; }

 private:
  Loader* loader_;
};

}  // namespace hnn::data
