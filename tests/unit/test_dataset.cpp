// Datasets: TensorDataset (any sample shape, class labels or float targets, its checks),
// Subset and random_split, and fashion_mnist() against the older load_fashion_mnist().
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/data/dataset.hpp"
#include "hnn/data/mnist.hpp"
#include "hnn/data/subset.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;

namespace {

using hnn::testing::slice_dir;

using hnn::testing::expect_error;

Tensor<float> counting_tensor(const Shape& shape) {
  Tensor<float> t(shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(i);
  return t;
}

Tensor<std::int32_t> labels_of(const std::vector<std::int32_t>& v) {
  return Tensor<std::int32_t>::from_vector(Shape{static_cast<std::int64_t>(v.size())}, v);
}

// The value at flat position 0 of each sample identifies it in the tests below (iota inputs).
std::vector<std::int64_t> first_values(const data::Subset<data::TensorDataset<float>>& s) {
  std::vector<std::int64_t> out;
  std::vector<float> sample(static_cast<std::size_t>(s.sample_shape().numel()));
  std::int32_t label = 0;
  for (std::int64_t i = 0; i < s.size(); ++i) {
    s.get(i, sample.data(), &label);
    out.push_back(static_cast<std::int64_t>(sample[0]) / s.sample_shape().numel());
  }
  return out;
}

}  // namespace

static_assert(data::is_dataset_v<data::TensorDataset<float>>);
static_assert(data::is_dataset_v<data::TensorDataset<double, double>>);
static_assert(data::is_dataset_v<data::Subset<data::TensorDataset<float>>>);
static_assert(!data::is_dataset_v<int>);
static_assert(!data::is_dataset_v<Tensor<float>>);

TEST(TensorDataset, ImagesWithClassLabels) {
  const data::TensorDataset<float> set(counting_tensor(Shape{4, 3, 2, 2}), labels_of({2, 0, 1, 2}), {"a", "b", "c"},
                                       "here");
  EXPECT_EQ(set.size(), 4);
  EXPECT_EQ(set.sample_shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(set.target_shape(), Shape{});
  EXPECT_EQ(set.num_classes(), 3);
  EXPECT_EQ(set.source(), "here");
  EXPECT_EQ(set.max_label(), 2);
  EXPECT_EQ(set.max_label_index(), 0);
  std::vector<float> sample(12);
  std::int32_t label = -1;
  set.get(2, sample.data(), &label);
  EXPECT_EQ(label, 1);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(sample[static_cast<std::size_t>(i)], static_cast<float>(24 + i));
  expect_error<std::out_of_range>([&] { set.get(4, sample.data(), &label); }, {"index 4", "0..3"});
}

TEST(TensorDataset, FeatureVectorsWithRegressionTargets) {
  const data::TensorDataset<double, double> set(Tensor<double>::full(Shape{5, 7}, 0.5),
                                                Tensor<double>::full(Shape{5, 2, 3}, -1.0));
  EXPECT_EQ(set.sample_shape(), Shape{7});
  EXPECT_EQ(set.target_shape(), (Shape{2, 3}));
  std::vector<double> x(7), y(6);
  set.get(4, x.data(), y.data());
  EXPECT_EQ(x, std::vector<double>(7, 0.5));
  EXPECT_EQ(y, std::vector<double>(6, -1.0));
}

TEST(TensorDataset, CountsMustAgree) {
  expect_error<std::invalid_argument>(
      [] {
        data::TensorDataset<float>(counting_tensor(Shape{4, 2}), labels_of({0, 1, 2}));
      },
      {"inputs (4, 2) hold 4 examples", "targets (3) hold 3"});
  expect_error<std::invalid_argument>(
      [] {
        data::TensorDataset<float, float>(counting_tensor(Shape{4, 2}), counting_tensor(Shape{5, 1}));
      },
      {"hold 4 examples", "hold 5"});
}

TEST(TensorDataset, ExamplesComeFirst) {
  expect_error<std::invalid_argument>(
      [] { data::TensorDataset<float, float>(Tensor<float>(Shape{}), Tensor<float>(Shape{3})); },
      {"inputs must have between 1 and 5 dimensions", "got ()"});
  expect_error<std::invalid_argument>(
      [] { data::TensorDataset<float, float>(Tensor<float>(Shape{3, 1}), Tensor<float>(Shape{})); },
      {"targets must have between 1 and 5 dimensions"});
  expect_error<std::invalid_argument>(
      [] { data::TensorDataset<float, float>(Tensor<float>(Shape{1, 1, 1, 1, 1, 1}), Tensor<float>(Shape{1})); },
      {"inputs must have between 1 and 5 dimensions", "got (1, 1, 1, 1, 1, 1)"});
}

TEST(TensorDataset, NegativeLabelNamedWithItsIndex) {
  expect_error<std::invalid_argument>(
      [] {
        data::TensorDataset<float>(counting_tensor(Shape{4, 2}), labels_of({0, 1, -5, 2}), {}, "file.bin");
      },
      {"file.bin", "label -5 at index 2", "negative"});
}

TEST(TensorDataset, LabelBeyondTheClassNames) {
  expect_error<std::invalid_argument>(
      [] {
        data::TensorDataset<float>(counting_tensor(Shape{3, 2}), labels_of({0, 3, 1}), {"x", "y", "z"});
      },
      {"label 3 at index 1", "outside 0..2", "3 class names"});
  // Without class names, any label from 0 is accepted.
  EXPECT_NO_THROW(data::TensorDataset<float>(counting_tensor(Shape{3, 2}), labels_of({0, 300, 1})));
}

TEST(TensorDataset, ClassLabelsAreOnePerExample) {
  expect_error<std::invalid_argument>(
      [] {
        data::TensorDataset<float>(counting_tensor(Shape{3, 2}), Tensor<std::int32_t>::full(Shape{3, 1}, 0));
      },
      {"one per example, shape (3)", "got (3, 1)"});
}

TEST(Subset, ReadsThroughItsIndices) {
  const data::TensorDataset<float> set(counting_tensor(Shape{5, 2}), labels_of({0, 1, 2, 3, 4}));
  const data::Subset<data::TensorDataset<float>> part(set, {4, 1, 1});
  EXPECT_EQ(part.size(), 3);
  EXPECT_EQ(part.sample_shape(), Shape{2});
  std::vector<float> x(2);
  std::int32_t label = -1;
  part.get(0, x.data(), &label);
  EXPECT_EQ(label, 4);
  EXPECT_EQ(x, (std::vector<float>{8, 9}));
  part.get(2, x.data(), &label);
  EXPECT_EQ(label, 1);
  expect_error<std::out_of_range>([&] { part.get(3, x.data(), &label); }, {"index 3", "0..2"});
  expect_error<std::out_of_range>(
      [&] {
        data::Subset<data::TensorDataset<float>>(set, {0, 5});
      },
      {"index 5 at position 1", "0..4"});
  expect_error<std::out_of_range>([&] { data::Subset<data::TensorDataset<float>>(set, {-1}); },
                                  {"index -1 at position 0"});
}

TEST(RandomSplit, LengthsPartitionTheDatasetReproducibly) {
  const data::TensorDataset<float> set(counting_tensor(Shape{100, 3}), labels_of(std::vector<std::int32_t>(100, 0)));
  const auto parts = data::random_split(set, {70, 20, 10}, 42);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].size(), 70);
  EXPECT_EQ(parts[1].size(), 20);
  EXPECT_EQ(parts[2].size(), 10);
  std::vector<std::int64_t> all;
  for (const auto& p : parts) {
    const std::vector<std::int64_t> v = first_values(p);
    EXPECT_EQ(v, p.indices());  // the samples read are those of the indices
    all.insert(all.end(), v.begin(), v.end());
  }
  std::vector<std::int64_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> expected(100);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(sorted, expected);  // every example exactly once
  EXPECT_NE(all, expected);     // and shuffled

  // The permutation is one Fisher-Yates pass of Rng(seed) over the identity.
  std::vector<std::int64_t> order(100);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(42);
  for (std::int64_t i = 99; i > 0; --i)
    std::swap(order[static_cast<std::size_t>(i)], order[rng.below(static_cast<std::uint64_t>(i) + 1)]);
  EXPECT_EQ(all, order);

  EXPECT_EQ(data::random_split(set, {70, 20, 10}, 42)[1].indices(), parts[1].indices());
  EXPECT_NE(data::random_split(set, {70, 20, 10}, 43)[1].indices(), parts[1].indices());
}

TEST(RandomSplit, FractionsRoundAsPyTorch) {
  const data::TensorDataset<float> set(counting_tensor(Shape{10, 1}), labels_of(std::vector<std::int32_t>(10, 0)));
  // floor(10 x 0.25) = 2 for each part leaves 2 over, one each to the first two parts: the
  // lengths torch.utils.data.random_split(range(10), [0.25] * 4) gives, [3, 3, 2, 2].
  const auto quarters = data::random_split(set, {0.25, 0.25, 0.25, 0.25}, 0);
  ASSERT_EQ(quarters.size(), 4u);
  EXPECT_EQ(quarters[0].size(), 3);
  EXPECT_EQ(quarters[1].size(), 3);
  EXPECT_EQ(quarters[2].size(), 2);
  EXPECT_EQ(quarters[3].size(), 2);
  const auto split = data::random_split(set, {0.7, 0.3}, 5);
  EXPECT_EQ(split[0].size(), 7);
  EXPECT_EQ(split[1].size(), 3);
  // The same lengths as integers give the same subsets.
  EXPECT_EQ(data::random_split(set, {7, 3}, 5)[0].indices(), split[0].indices());
  // Vectors work as well as braced lists.
  EXPECT_EQ(data::random_split(set, std::vector<double>{0.7, 0.3}, 5)[1].indices(), split[1].indices());
  EXPECT_EQ(data::random_split(set, std::vector<std::int64_t>{7, 3}, 5)[1].indices(), split[1].indices());
}

TEST(RandomSplit, BadLengthsAndFractions) {
  const data::TensorDataset<float> set(counting_tensor(Shape{10, 1}), labels_of(std::vector<std::int32_t>(10, 0)));
  expect_error<std::invalid_argument>([&] { data::random_split(set, {6, 3}, 0); }, {"add up to 9", "10 examples"});
  expect_error<std::invalid_argument>(
      [&] {
        data::random_split(set, {12, -2}, 0);
      },
      {"length -2 at position 1", "negative"});
  expect_error<std::invalid_argument>([&] { data::random_split(set, {0.5, 0.4}, 0); }, {"fractions add up to 0.9"});
  expect_error<std::invalid_argument>(
      [&] {
        data::random_split(set, {1.5, -0.5}, 0);
      },
      {"fraction 1.5", "position 0", "outside [0, 1]"});
  expect_error<std::invalid_argument>([&] { data::random_split(set, std::vector<std::int64_t>{}, 0); }, {"no lengths"});
}

// fashion_mnist() holds what load_fashion_mnist() reads, as (N, 1, 28, 28) and (N).
TEST(FashionMnist, TensorDatasetFromTheSlice) {
  const data::Dataset old = data::load_fashion_mnist(slice_dir, data::Split::test, 300);
  const data::TensorDataset<float> set = data::fashion_mnist(slice_dir, data::Split::test, 300);
  EXPECT_EQ(set.inputs().shape(), (Shape{300, 1, 28, 28}));
  EXPECT_EQ(set.targets().shape(), Shape{300});
  EXPECT_EQ(set.inputs().to_vector(), old.images);
  EXPECT_EQ(set.targets().to_vector(), old.labels);
  EXPECT_EQ(set.class_names(), old.class_names);
  EXPECT_EQ(set.class_names()[9], "Ankle boot");
  EXPECT_EQ(set.source(), old.source);
  EXPECT_NE(set.source().find("t10k-images-idx3-ubyte"), std::string::npos);
  // Pixels are byte / 255: the slice's values are all of that form and span [0, 1].
  const auto [lo, hi] = std::minmax_element(set.inputs().data(), set.inputs().data() + set.inputs().numel());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);
  EXPECT_EQ(data::mnist(slice_dir, data::Split::test, 5).class_names()[3], "3");
  expect_error<data::IdxError>([] { data::fashion_mnist("/nonexistent-hnn-folder", data::Split::train); },
                               {"/nonexistent-hnn-folder", "does not exist"});
  expect_error<std::invalid_argument>([] { data::fashion_mnist(slice_dir, data::Split::test, -1); },
                                      {"limit must be >= 0"});
}
