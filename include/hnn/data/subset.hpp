// Part of a dataset: Subset (a dataset seen through a list of indices) and random_split, which
// cuts a dataset into non-overlapping random subsets, as torch.utils.data's.
//
//   auto parts = data::random_split(train, {50000, 10000}, /*seed=*/0);   // or {0.8, 0.2}
//   data::DataLoader loader(parts[0], data::LoaderOptions(256).shuffle(true));
//
// A Subset refers to its dataset, which must outlive it (a temporary is refused at compile time).
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "hnn/data/dataset.hpp"
#include "hnn/init.hpp"

namespace hnn::data {

template <class Dataset>
class Subset {
  static_assert(is_dataset_v<Dataset>,
                "hnn::data::Subset: the type does not meet the dataset contract (data/dataset.hpp)");

 public:
  using value_type = typename Dataset::value_type;
  using target_type = typename Dataset::target_type;

  // Every index is checked against the dataset's size (the first bad one is named with its position).
  Subset(const Dataset& dataset, std::vector<std::int64_t> indices) : dataset_(&dataset), indices_(std::move(indices)) {
    const std::int64_t n = dataset.size();
    for (std::size_t k = 0; k < indices_.size(); ++k)
      if (indices_[k] < 0 || indices_[k] >= n)
        throw std::out_of_range("hnn::data::Subset: index " + std::to_string(indices_[k]) + " at position " +
                                std::to_string(k) + " is outside the dataset's 0.." + std::to_string(n - 1));
  }
  // A subset of a temporary would refer to a dataset already gone.
  Subset(const Dataset&&, std::vector<std::int64_t>) = delete;

  std::int64_t size() const { return static_cast<std::int64_t>(indices_.size()); }
  Shape sample_shape() const { return dataset_->sample_shape(); }
  Shape target_shape() const { return dataset_->target_shape(); }
  void get(std::int64_t index, value_type* sample, target_type* target) const {
    if (index < 0 || index >= size())
      throw std::out_of_range("hnn::data::Subset::get: index " + std::to_string(index) + " is outside 0.." +
                              std::to_string(size() - 1));
    dataset_->get(indices_[static_cast<std::size_t>(index)], sample, target);
  }

  const Dataset& dataset() const { return *dataset_; }
  const std::vector<std::int64_t>& indices() const { return indices_; }

 private:
  const Dataset* dataset_;
  std::vector<std::int64_t> indices_;
};

namespace detail {

// A seeded permutation of 0..n-1: one Fisher-Yates pass over the identity, from the last
// position down, as the loader shuffles (data/loader.hpp).
inline std::vector<std::int64_t> random_permutation(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  Rng rng(seed);
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(order[static_cast<std::size_t>(i)], order[rng.below(static_cast<std::uint64_t>(i) + 1)]);
  return order;
}

template <class Dataset>
std::vector<Subset<Dataset>> split_by_lengths(const Dataset& dataset, const std::vector<std::int64_t>& lengths,
                                              std::uint64_t seed) {
  if (lengths.empty()) throw std::invalid_argument("hnn::data::random_split: no lengths given");
  std::int64_t total = 0;
  for (std::size_t k = 0; k < lengths.size(); ++k) {
    if (lengths[k] < 0)
      throw std::invalid_argument("hnn::data::random_split: length " + std::to_string(lengths[k]) + " at position " +
                                  std::to_string(k) + " is negative");
    total += lengths[k];
  }
  if (total != dataset.size())
    throw std::invalid_argument("hnn::data::random_split: the lengths add up to " + std::to_string(total) +
                                " but the dataset has " + std::to_string(dataset.size()) +
                                " examples (give lengths that add up to it, or fractions that add up to 1)");
  const std::vector<std::int64_t> order = random_permutation(dataset.size(), seed);
  std::vector<Subset<Dataset>> parts;
  parts.reserve(lengths.size());
  auto begin = order.begin();
  for (std::int64_t length : lengths) {
    parts.emplace_back(dataset, std::vector<std::int64_t>(begin, begin + length));
    begin += length;
  }
  return parts;
}

// PyTorch's rule for fractions: each part gets floor(fraction x size) examples, and what that
// leaves over goes one example each to the parts in order, from the first.
inline std::vector<std::int64_t> lengths_from_fractions(const std::vector<double>& fractions, std::int64_t size) {
  if (fractions.empty()) throw std::invalid_argument("hnn::data::random_split: no fractions given");
  double sum = 0;
  for (std::size_t k = 0; k < fractions.size(); ++k) {
    if (!(fractions[k] >= 0 && fractions[k] <= 1))
      throw std::invalid_argument("hnn::data::random_split: fraction " + std::to_string(fractions[k]) +
                                  " at position " + std::to_string(k) + " is outside [0, 1]");
    sum += fractions[k];
  }
  if (std::abs(sum - 1) > 1e-9)
    throw std::invalid_argument("hnn::data::random_split: the fractions add up to " + std::to_string(sum) +
                                ", not 1 (give fractions that add up to 1, or lengths that add up to the dataset's " +
                                std::to_string(size) + " examples)");
  std::vector<std::int64_t> lengths;
  std::int64_t given = 0;
  for (double f : fractions) {
    lengths.push_back(static_cast<std::int64_t>(std::floor(f * static_cast<double>(size))));
    given += lengths.back();
  }
  for (std::size_t k = 0; given < size; k = (k + 1) % lengths.size(), ++given) ++lengths[k];
  return lengths;
}

}  // namespace detail

// Cuts `dataset` into lengths.size() non-overlapping subsets of those lengths, which must add
// up to its size; the examples are assigned by a random permutation drawn from `seed`, so a
// seed gives the same split on every machine.
template <class Dataset>
std::vector<Subset<Dataset>> random_split(const Dataset& dataset, const std::vector<std::int64_t>& lengths,
                                          std::uint64_t seed) {
  return detail::split_by_lengths(dataset, lengths, seed);
}

// The same with fractions that add up to 1 (PyTorch's rounding: see lengths_from_fractions).
template <class Dataset>
std::vector<Subset<Dataset>> random_split(const Dataset& dataset, const std::vector<double>& fractions,
                                          std::uint64_t seed) {
  return detail::split_by_lengths(dataset, detail::lengths_from_fractions(fractions, dataset.size()), seed);
}

// A braced list, {50000, 10000} or {0.8, 0.2}: lengths when its numbers are integers,
// fractions when they are floating point (either vector overload alone would make
// {50000, 10000} ambiguous).
template <class Dataset, class Number>
std::vector<Subset<Dataset>> random_split(const Dataset& dataset, std::initializer_list<Number> lengths,
                                          std::uint64_t seed) {
  static_assert(std::is_arithmetic_v<Number>, "hnn::data::random_split: lengths are integers or fractions");
  if constexpr (std::is_integral_v<Number>)
    return random_split(dataset, std::vector<std::int64_t>(lengths.begin(), lengths.end()), seed);
  else
    return random_split(dataset, std::vector<double>(lengths.begin(), lengths.end()), seed);
}

// Subsets of a temporary would refer to a dataset already gone.
template <class Dataset, class Lengths>
void random_split(const Dataset&&, const Lengths&, std::uint64_t) = delete;
template <class Dataset, class Number>
void random_split(const Dataset&&, std::initializer_list<Number>, std::uint64_t) = delete;

}  // namespace hnn::data
