// DataLoader: the trainer's shuffle order reproduced, batches and the last partial one,
// drop_last, transforms reproducible bit for bit with and without the background thread, state
// and restore, a user's own dataset read lazily from disk, exceptions thrown on the background
// thread, abandoning and destroying mid-epoch, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hnn/data/loader.hpp"
#include "hnn/data/subset.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;
namespace fs = std::filesystem;

namespace {

using hnn::testing::expect_error;

// n samples of shape `sample`; every value of sample i is i * 1000 + its flat position, and its
// label is i: a batch shows which examples it holds and that they arrived whole.
data::TensorDataset<float> numbered(std::int64_t n, const Shape& sample) {
  Shape shape{n};
  for (int i = 0; i < sample.rank(); ++i) shape.push_back(sample[i]);
  Tensor<float> x(shape);
  const std::int64_t size = sample.numel();
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>((i / size) * 1000 + i % size);
  Tensor<std::int32_t> y(Shape{n});
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<std::int32_t>(i);
  return data::TensorDataset<float>(x, y);
}

// The labels of each batch of one epoch.
template <class Loader>
std::vector<std::vector<std::int32_t>> epoch_labels(Loader& loader) {
  std::vector<std::vector<std::int32_t>> out;
  for (const auto& batch : loader.epoch()) out.push_back(batch.targets.to_vector());
  return out;
}

// Every value of every batch of `epochs` epochs, in order.
template <class Loader>
std::vector<float> run_epochs(Loader& loader, int epochs) {
  std::vector<float> all;
  for (int e = 0; e < epochs; ++e) {
    loader.start_epoch();
    while (const auto* batch = loader.next()) {
      const std::vector<float> x = batch->inputs.to_vector();
      const std::vector<std::int32_t> y = batch->targets.to_vector();
      all.insert(all.end(), x.begin(), x.end());
      for (std::int32_t label : y) all.push_back(static_cast<float>(label));
    }
  }
  return all;
}

}  // namespace

// The order Trainer::train_epoch has always used (include/hnn/training/train.hpp before the loader): one
// Rng(seed) kept across epochs, and each epoch a Fisher-Yates pass over the previous order.
TEST(DataLoader, ShuffleReproducesTheTrainersOrder) {
  const std::int64_t n = 1000;
  const auto set = numbered(n, Shape{1});
  for (std::uint64_t seed : {0ull, 7ull}) {
    data::DataLoader loader(set, data::LoaderOptions(64).shuffle(true).seed(seed));
    Rng shuffle(seed);
    std::vector<std::int32_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    for (int epoch = 0; epoch < 3; ++epoch) {
      for (std::int64_t i = n - 1; i > 0; --i)
        std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(static_cast<std::int64_t>(
                                                          shuffle.below(static_cast<std::uint64_t>(i) + 1)))]);
      std::vector<std::int32_t> seen;
      for (const auto& labels : epoch_labels(loader)) seen.insert(seen.end(), labels.begin(), labels.end());
      EXPECT_EQ(seen, order) << "seed " << seed << ", epoch " << epoch;
      EXPECT_EQ(loader.state().order, order);
      EXPECT_EQ(loader.state().shuffle_state, shuffle.state());
      EXPECT_EQ(loader.state().epoch, epoch + 1);
    }
  }
}

TEST(DataLoader, InOrderBatchesAndTheLastPartialOne) {
  const auto set = numbered(10, Shape{2, 3});
  data::DataLoader loader(set, data::LoaderOptions(4));
  EXPECT_EQ(loader.batches(), 3);
  EXPECT_EQ(loader.sample_shape(), (Shape{2, 3}));
  loader.start_epoch();
  for (std::int64_t b = 0; b < 3; ++b) {
    const auto* batch = loader.next();
    ASSERT_NE(batch, nullptr);
    const std::int64_t count = b < 2 ? 4 : 2;
    EXPECT_EQ(batch->index, b);
    EXPECT_EQ(batch->size(), count);
    EXPECT_EQ(batch->inputs.shape(), (Shape{count, 2, 3}));
    EXPECT_EQ(batch->targets.shape(), Shape{count});
    for (std::int64_t k = 0; k < count; ++k) {
      const std::int64_t i = b * 4 + k;
      EXPECT_EQ(batch->targets[k], i);
      for (std::int64_t v = 0; v < 6; ++v) EXPECT_EQ(batch->inputs[k * 6 + v], static_cast<float>(i * 1000 + v));
    }
  }
  EXPECT_EQ(loader.next(), nullptr);
  EXPECT_EQ(loader.next(), nullptr);  // and stays over until the next epoch
}

TEST(DataLoader, DropLastLeavesOutThePartialBatch) {
  const auto set = numbered(10, Shape{1});
  data::DataLoader loader(set, data::LoaderOptions(4).drop_last(true).shuffle(true).seed(3));
  EXPECT_EQ(loader.batches(), 2);
  const auto batches = epoch_labels(loader);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].size(), 4u);
  EXPECT_EQ(batches[1].size(), 4u);
  // The 8 examples are the first 8 of the epoch's order.
  const std::vector<std::int32_t> order = loader.state().order;
  EXPECT_EQ(batches[0], std::vector<std::int32_t>(order.begin(), order.begin() + 4));
  EXPECT_EQ(batches[1], std::vector<std::int32_t>(order.begin() + 4, order.begin() + 8));
  // An exact multiple drops nothing.
  data::DataLoader even(set, data::LoaderOptions(5).drop_last(true));
  EXPECT_EQ(even.batches(), 2);
  // A batch larger than the dataset without drop_last: one batch of everything.
  data::DataLoader whole(set, data::LoaderOptions(64));
  const auto one = epoch_labels(whole);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].size(), 10u);
}

TEST(DataLoader, RegressionTargetsOfAnyShape) {
  Tensor<double> x(Shape{5, 3}), y(Shape{5, 2, 2});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<double>(i);
  for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = -static_cast<double>(i);
  const data::TensorDataset<double, double> set(x, y);
  data::DataLoader loader(set, data::LoaderOptions(2).background(false));
  loader.start_epoch();
  loader.next();
  const auto* second = loader.next();
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->targets.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(second->targets.to_vector(), (std::vector<double>{-8, -9, -10, -11, -12, -13, -14, -15}));
  EXPECT_EQ(second->inputs.to_vector(), (std::vector<double>{6, 7, 8, 9, 10, 11}));
}

// With crop, flip and a user's noise, the batches are the same bit for bit with and without
// the background thread, and each sample is the transforms applied to the example at that
// position with sample_rng(seed, epoch, position).
TEST(DataLoader, TransformsReproducibleWithAndWithoutTheThread) {
  const auto set = numbered(37, Shape{2, 5, 6});
  const auto transforms = [] {
    return data::Compose(data::RandomCrop({4, 5}, 2), data::RandomHorizontalFlip(0.5),
                         [](float* s, const Shape& shape, Rng& rng) {
                           for (std::int64_t i = 0; i < shape.numel(); ++i) s[i] += static_cast<float>(rng.uniform());
                         });
  };
  const auto options = data::LoaderOptions(8).shuffle(true).seed(11);
  data::DataLoader threaded(set, options, transforms());
  data::DataLoader inline_(set, data::LoaderOptions(options).background(false), transforms());
  data::DataLoader again(set, options, transforms());
  const std::vector<float> a = run_epochs(threaded, 3), b = run_epochs(inline_, 3), c = run_epochs(again, 3);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);

  // By hand: epoch 0 of a fresh loader.
  data::DataLoader check(set, options, transforms());
  check.start_epoch();
  const std::vector<std::int32_t> order = check.state().order;
  const data::Compose<float> chain = transforms();
  std::int64_t position = 0;
  while (const auto* batch = check.next()) {
    for (std::int64_t k = 0; k < batch->size(); ++k, ++position) {
      Tensor<float> sample(set.sample_shape());
      std::int32_t label = 0;
      set.get(order[static_cast<std::size_t>(position)], sample.data(), &label);
      Rng rng = data::sample_rng(11, 0, static_cast<std::uint64_t>(position));
      const std::vector<float> expected = chain(sample, rng).to_vector();
      const std::vector<float> all = batch->inputs.to_vector();
      const std::vector<float> got(all.begin() + k * 40, all.begin() + (k + 1) * 40);
      ASSERT_EQ(got, expected) << "position " << position;
      EXPECT_EQ(batch->targets[k], label);
    }
  }
  EXPECT_EQ(position, 37);
  // Two epochs do not repeat their augmentations.
  EXPECT_NE(std::vector<float>(a.begin(), a.begin() + 100),
            std::vector<float>(a.begin() + a.size() / 3, a.begin() + a.size() / 3 + 100));
}

// Identical examples come out with different augmentations: each position of each epoch has a
// generator of its own.
TEST(DataLoader, EachPositionAndEpochHasItsOwnRandomness) {
  const data::TensorDataset<float> zeros(Tensor<float>::zeros(Shape{16, 1, 4}), Tensor<std::int32_t>::zeros(Shape{16}));
  data::DataLoader loader(zeros, data::LoaderOptions(16),
                          data::Compose<float>([](float* s, const Shape& shape, Rng& rng) {
                            for (std::int64_t i = 0; i < shape.numel(); ++i) s[i] = static_cast<float>(rng.uniform());
                          }));
  std::set<std::vector<float>> seen;
  for (int epoch = 0; epoch < 2; ++epoch)
    for (const auto& batch : loader.epoch())
      for (std::int64_t k = 0; k < batch.size(); ++k)
        seen.insert(std::vector<float>(batch.inputs.data() + k * 4, batch.inputs.data() + (k + 1) * 4));
  EXPECT_EQ(seen.size(), 32u);
}

TEST(DataLoader, StateAndRestoreContinueTheSameRun) {
  const auto set = numbered(50, Shape{3});
  const auto options = data::LoaderOptions(16).shuffle(true).seed(5);
  const auto transforms = [] { return data::Compose(data::RandomHorizontalFlip(0.5)); };
  data::DataLoader straight(set, options, transforms());
  const std::vector<float> all = run_epochs(straight, 4);

  data::DataLoader first(set, options, transforms());
  const std::vector<float> head = run_epochs(first, 2);
  const data::LoaderState saved = first.state();
  EXPECT_EQ(saved.epoch, 2);
  data::DataLoader resumed(set, options, transforms());
  resumed.restore(saved);
  const std::vector<float> tail = run_epochs(resumed, 2);
  std::vector<float> joined = head;
  joined.insert(joined.end(), tail.begin(), tail.end());
  EXPECT_EQ(joined, all);
}

TEST(DataLoader, RestoreChecksWhatItIsGiven) {
  const auto set = numbered(4, Shape{1});
  data::DataLoader loader(set, data::LoaderOptions(2).shuffle(true));
  expect_error<std::invalid_argument>(
      [&] {
        loader.restore({0, 1, {0, 1, 2}});
      },
      {"order has 3 entries", "dataset has 4 examples"});
  expect_error<std::invalid_argument>(
      [&] {
        loader.restore({0, 1, {0, 1, 1, 3}});
      },
      {"not a permutation of 0..3", "entry 2 is 1, seen before"});
  expect_error<std::invalid_argument>([&] { loader.restore({0, 1, {0, 1, 4, 3}}); }, {"entry 2 is 4, out of range"});
  expect_error<std::invalid_argument>([&] { loader.restore({-1, 1, {0, 1, 2, 3}}); }, {"negative epoch count -1"});
  // Nothing changed: the first epoch is still the first shuffle of Rng(0).
  data::DataLoader fresh(set, data::LoaderOptions(2).shuffle(true));
  EXPECT_EQ(epoch_labels(loader), epoch_labels(fresh));
}

// A user's own dataset that reads each example from its own file when asked.
class FilesDataset {
 public:
  using value_type = float;
  using target_type = std::int32_t;
  explicit FilesDataset(std::string dir, std::int64_t n) : dir_(std::move(dir)), n_(n) {}
  std::int64_t size() const { return n_; }
  Shape sample_shape() const { return Shape{1, 2, 2}; }
  Shape target_shape() const { return Shape{}; }
  void get(std::int64_t index, float* sample, std::int32_t* target) const {
    std::ifstream in(dir_ + "/" + std::to_string(index) + ".txt");
    if (!in) throw std::runtime_error("cannot open example " + std::to_string(index));
    for (int i = 0; i < 4; ++i) in >> sample[i];
    in >> *target;
    ++reads;
  }
  mutable std::atomic<int> reads{0};

 private:
  std::string dir_;
  std::int64_t n_;
};
static_assert(data::is_dataset_v<FilesDataset>);

TEST(DataLoader, UserDatasetReadFromDiskLazily) {
  const fs::path dir = fs::temp_directory_path() / ("hnn_loader_" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  for (int i = 0; i < 7; ++i)
    std::ofstream(dir / (std::to_string(i) + ".txt")) << i << " " << i + 0.5 << " 2 3 " << i % 3;
  FilesDataset files(dir.string(), 7);
  data::DataLoader loader(files, data::LoaderOptions(3).shuffle(true).seed(1),
                          data::Compose(data::Normalize({1.0}, {0.5})));
  EXPECT_EQ(files.reads.load(), 0);  // nothing read before an epoch starts
  std::vector<std::int32_t> labels;
  std::vector<float> firsts;
  for (const auto& batch : loader.epoch())
    for (std::int64_t k = 0; k < batch.size(); ++k) {
      labels.push_back(batch.targets[k]);
      firsts.push_back(batch.inputs[k * 4]);
      EXPECT_EQ(batch.inputs[k * 4 + 2], 2.0f);  // (2 - 1) / 0.5
    }
  EXPECT_EQ(files.reads.load(), 7);
  const std::vector<std::int32_t> order = loader.state().order;
  for (std::size_t p = 0; p < order.size(); ++p) {
    EXPECT_EQ(labels[p], order[p] % 3);
    EXPECT_EQ(firsts[p], (static_cast<float>(order[p]) - 1) / 0.5f);
  }
  // A file gone mid-run: the next epoch's next() rethrows the dataset's own error.
  fs::remove(dir / "4.txt");
  expect_error<std::runtime_error>([&] { run_epochs(loader, 1); }, {"cannot open example 4"});
  fs::remove_all(dir);
}

// A dataset that throws when asked for one index, and can be slowed down.
struct Troublesome {
  using value_type = float;
  using target_type = std::int32_t;
  std::int64_t bad = -1;
  int delay_us = 0;
  std::int64_t size() const { return 40; }
  Shape sample_shape() const { return Shape{2}; }
  Shape target_shape() const { return Shape{}; }
  void get(std::int64_t index, float* sample, std::int32_t* target) const {
    if (delay_us) std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    if (index == bad) throw std::domain_error("example " + std::to_string(index) + " is broken");
    sample[0] = sample[1] = static_cast<float>(index);
    *target = static_cast<std::int32_t>(index);
  }
};

TEST(DataLoader, ExceptionOnTheWorkerReachesTheCallerAtItsBatch) {
  for (bool background : {true, false}) {
    Troublesome set;
    set.bad = 21;  // batch 2 of batches of 8, in order
    data::DataLoader loader(set, data::LoaderOptions(8).background(background));
    loader.start_epoch();
    ASSERT_NE(loader.next(), nullptr);
    ASSERT_NE(loader.next(), nullptr);
    expect_error<std::domain_error>([&] { loader.next(); }, {"example 21 is broken"});
    EXPECT_EQ(loader.next(), nullptr) << "the epoch ends with the exception";
    // Once the example is readable, the next epoch runs whole.
    set.bad = -1;
    EXPECT_EQ(epoch_labels(loader).size(), 5u);
  }
}

TEST(DataLoader, ExceptionFromATransformReachesTheCaller) {
  const auto set = numbered(20, Shape{1, 2, 2});
  data::DataLoader loader(set, data::LoaderOptions(4).shuffle(true),
                          data::Compose<float>([](float* s, const Shape&, Rng&) {
                            if (s[0] == 13000.0f) throw std::range_error("transform refused example 13");
                          }));
  expect_error<std::range_error>([&] { run_epochs(loader, 1); }, {"transform refused example 13"});
}

TEST(DataLoader, AbandonAndDestroyMidEpoch) {
  Troublesome slow;
  slow.delay_us = 2000;  // 40 examples: about 80 ms an epoch on the worker
  {
    data::DataLoader loader(slow, data::LoaderOptions(8).shuffle(true));
    loader.start_epoch();
    ASSERT_NE(loader.next(), nullptr);
    // Starting again while the worker fills batch 1: the new epoch is whole and correct.
    const auto labels = epoch_labels(loader);
    ASSERT_EQ(labels.size(), 5u);
    std::vector<std::int32_t> seen;
    for (const auto& b : labels) seen.insert(seen.end(), b.begin(), b.end());
    EXPECT_EQ(seen, loader.state().order);
    loader.start_epoch();
    ASSERT_NE(loader.next(), nullptr);
  }  // destroyed with the worker busy on batch 1
  const auto start = std::chrono::steady_clock::now();
  {
    data::DataLoader loader(slow, data::LoaderOptions(40));
    loader.start_epoch();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }  // the worker is part way through the one 40-example batch: it stops between examples
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(70));
  { data::DataLoader never_started(slow, data::LoaderOptions(8)); }
}

// While the caller holds a batch, the background thread fills only the other buffer: a batch
// held for a while (a slow step) still holds its own examples.
TEST(DataLoader, HeldBatchIsNotOverwritten) {
  const auto set = numbered(40, Shape{3});
  data::DataLoader loader(set, data::LoaderOptions(4));
  loader.start_epoch();
  for (std::int64_t b = 0; b < 10; ++b) {
    const auto* batch = loader.next();
    ASSERT_NE(batch, nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(b < 3 ? 30 : 0));
    for (std::int64_t k = 0; k < 4; ++k) {
      EXPECT_EQ(batch->targets[k], b * 4 + k) << "batch " << b;
      EXPECT_EQ(batch->inputs[k * 3 + 2], static_cast<float>((b * 4 + k) * 1000 + 2)) << "batch " << b;
    }
  }
}

TEST(DataLoader, BuffersAreFixedAndAlternate) {
  const auto set = numbered(30, Shape{4});
  data::DataLoader loader(set, data::LoaderOptions(8).shuffle(true),
                          data::Compose(data::Normalize({0.0, 0, 0, 0}, {1.0, 1, 1, 1})));
  std::vector<const float*> seen;
  for (int e = 0; e < 3; ++e)
    for (const auto& batch : loader.epoch()) seen.push_back(batch.inputs.data());
  ASSERT_EQ(seen.size(), 12u);
  EXPECT_NE(seen[0], seen[1]);
  for (std::size_t i = 2; i < seen.size(); ++i) EXPECT_EQ(seen[i], seen[i % 2]) << "batch " << i;
}

TEST(DataLoader, BadInput) {
  const auto set = numbered(10, Shape{1, 4, 4});
  expect_error<std::invalid_argument>([&] { data::DataLoader(set, data::LoaderOptions(0)); },
                                      {"batch size must be at least 1, got 0"});
  expect_error<std::invalid_argument>([&] { data::DataLoader(set, data::LoaderOptions(-3)); }, {"got -3"});
  expect_error<std::invalid_argument>([&] { data::DataLoader(set, data::LoaderOptions(11).drop_last(true)); },
                                      {"batch size 11 with drop_last leaves no batch", "10 examples"});
  const data::TensorDataset<float> empty(Tensor<float>(Shape{0, 3}), Tensor<std::int32_t>(Shape{0}));
  expect_error<std::invalid_argument>([&] { data::DataLoader(empty, data::LoaderOptions(1)); }, {"dataset is empty"});
  // Transforms are checked against the samples when the loader is built.
  expect_error<std::invalid_argument>(
      [&] {
        data::DataLoader(set, data::LoaderOptions(2), data::Compose(data::Normalize({0.5, 0.5, 0.5}, {1.0, 1, 1})));
      },
      {"transform 0 of 1", "3 channels given", "(1, 4, 4) with 1 channels"});
  expect_error<std::invalid_argument>(
      [&] { data::DataLoader(set, data::LoaderOptions(2), data::Compose(data::RandomCrop(7, 1))); },
      {"RandomCrop(7x7, padding 1)", "larger than the padded image, 6x6"});
  data::DataLoader loader(set, data::LoaderOptions(2));
  expect_error<std::logic_error>([&] { loader.next(); }, {"call start_epoch() first"});
}

// A dataset that only says how large it is: the loader refuses it before allocating anything.
struct Huge {
  using value_type = float;
  using target_type = std::int32_t;
  std::int64_t n = 1;
  Shape sample = Shape{1};
  std::int64_t size() const { return n; }
  Shape sample_shape() const { return sample; }
  Shape target_shape() const { return Shape{}; }
  void get(std::int64_t, float*, std::int32_t*) const { throw std::logic_error("not read"); }
};

TEST(DataLoader, LimitsOfSizeAndRank) {
  Huge huge;
  huge.n = std::int64_t{1} << 31;
  expect_error<std::invalid_argument>([&] { data::DataLoader(huge, data::LoaderOptions(8)); },
                                      {"2147483648 examples", "limit of 2^31 - 1"});
  Huge deep;
  deep.sample = Shape{1, 1, 1, 1, 1, 1};
  expect_error<std::invalid_argument>([&] { data::DataLoader(deep, data::LoaderOptions(8)); },
                                      {"samples (1, 1, 1, 1, 1, 1)", "more than 6 dimensions"});
}

TEST(DataLoader, WorksOnASubset) {
  const auto set = numbered(20, Shape{1});
  const auto parts = data::random_split(set, {15, 5}, 3);
  data::DataLoader loader(parts[1], data::LoaderOptions(2));
  std::vector<std::int32_t> seen;
  for (const auto& b : epoch_labels(loader)) seen.insert(seen.end(), b.begin(), b.end());
  EXPECT_EQ(seen, std::vector<std::int32_t>(parts[1].indices().begin(), parts[1].indices().end()));
}
