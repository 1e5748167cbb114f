// Datasets on the host: the small contract a DataLoader takes (hnn/data/loader.hpp), and
// TensorDataset, a dataset of examples of any shape held in two tensors.
//
// The contract, as torch.utils.data.Dataset's __len__ and __getitem__ put in C++ terms. A type
// is a dataset when it has:
//
//   using value_type = T;           // a sample's element type (float, double)
//   using target_type = Target;     // std::int32_t (a class label) or T (a regression target)
//   std::int64_t size() const;      // the number of examples
//   Shape sample_shape() const;     // one sample's shape, e.g. (3, 32, 32) or (13); the same for all
//   Shape target_shape() const;     // one target's shape: () for a class label, e.g. (1) for y in R
//   void get(std::int64_t index, T* sample, Target* target) const;
//       // copies example `index` (0 <= index < size()) into `sample` (sample_shape().numel()
//       // values, row-major) and `target` (target_shape().numel() values)
//
// Nothing else: a user's own type (one that reads each example from disk when asked, say)
// works with the loader as TensorDataset does. A loader calls get() from one thread at a time,
// its background thread when it has one, so get() need not be thread-safe; it may throw, and the
// loader hands the exception to its caller.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "hnn/device.hpp"
#include "hnn/tensor.hpp"

namespace hnn::data {

// Which part of a dataset to read.
enum class Split { train, test };

// True when D meets the dataset contract above.
template <class D, class = void>
struct is_dataset : std::false_type {};
template <class D>
struct is_dataset<
    D, std::void_t<
           typename D::value_type, typename D::target_type,
           std::enable_if_t<std::is_convertible_v<decltype(std::declval<const D&>().size()), std::int64_t>>,
           std::enable_if_t<std::is_same_v<std::decay_t<decltype(std::declval<const D&>().sample_shape())>, Shape>>,
           std::enable_if_t<std::is_same_v<std::decay_t<decltype(std::declval<const D&>().target_shape())>, Shape>>,
           decltype(std::declval<const D&>().get(std::int64_t{0}, std::declval<typename D::value_type*>(),
                                                 std::declval<typename D::target_type*>()))>> : std::true_type {};
template <class D>
inline constexpr bool is_dataset_v = is_dataset<D>::value;

// The two kinds of target a dataset may have: class labels (std::int32_t, one per example) or
// values of the sample's own floating-point type (regression, or per-class probabilities).
template <class T, class Target>
inline constexpr bool is_valid_target_v = std::is_same_v<Target, std::int32_t> ||
                                          (std::is_floating_point_v<Target> && std::is_same_v<Target, T>);

// A dataset held in memory as two host tensors: inputs (N, ...) and targets (N) of class labels
// or (N, ...) of values. Copies share the tensors' storage, as Tensor copies do.
//
//   data::TensorDataset<float> images(inputs /* (N, 3, 32, 32) */, labels /* (N), int32 */);
//   data::TensorDataset<float, float> curve(x /* (N, 1) */, y /* (N, 1) */);
template <class T, class Target = std::int32_t>
class TensorDataset {
  static_assert(std::is_floating_point_v<T>, "hnn::data::TensorDataset: samples are float or double");
  static_assert(is_valid_target_v<T, Target>,
                "hnn::data::TensorDataset: targets are std::int32_t class labels or values of the samples' type");

 public:
  using value_type = T;
  using target_type = Target;
  static constexpr bool has_class_labels = std::is_same_v<Target, std::int32_t>;

  // Checks that the two tensors hold the same number of examples and, for class labels, that
  // every label is at least 0 and, when class names are given, below their count (the first
  // bad label is named with its index). `source` names where the data came from, for messages.
  TensorDataset(Tensor<T, cpu> inputs, Tensor<Target, cpu> targets, std::vector<std::string> class_names = {},
                std::string source = "")
      : inputs_(std::move(inputs)),
        targets_(std::move(targets)),
        class_names_(std::move(class_names)),
        source_(std::move(source)) {
    if (inputs_.rank() < 1 || inputs_.rank() >= Shape::max_rank)
      fail("inputs must have between 1 and " + std::to_string(Shape::max_rank - 1) +
           " dimensions (examples first, so that a batch of them fits a tensor), got " + inputs_.shape().str());
    if (targets_.rank() < 1 || targets_.rank() >= Shape::max_rank)
      fail("targets must have between 1 and " + std::to_string(Shape::max_rank - 1) +
           " dimensions (examples first), got " + targets_.shape().str());
    if (targets_.dim(0) != inputs_.dim(0))
      fail("inputs " + inputs_.shape().str() + " hold " + std::to_string(inputs_.dim(0)) + " examples but targets " +
           targets_.shape().str() + " hold " + std::to_string(targets_.dim(0)));
    if constexpr (has_class_labels) {
      if (targets_.rank() != 1)
        fail("class labels are one per example, shape (" + std::to_string(inputs_.dim(0)) + "), got " +
             targets_.shape().str());
      const std::int64_t classes = static_cast<std::int64_t>(class_names_.size());
      for (std::int64_t i = 0; i < targets_.numel(); ++i) {
        const std::int32_t label = targets_[i];
        if (label < 0)
          fail("label " + std::to_string(label) + " at index " + std::to_string(i) +
               " is negative; class labels are numbered from 0");
        if (classes > 0 && label >= classes)
          fail("label " + std::to_string(label) + " at index " + std::to_string(i) + " is outside 0.." +
               std::to_string(classes - 1) + " (" + std::to_string(classes) + " class names)");
        if (label > max_label_) max_label_ = label, max_label_index_ = i;
      }
    }
  }

  std::int64_t size() const { return inputs_.dim(0); }
  Shape sample_shape() const { return drop_first(inputs_.shape()); }
  Shape target_shape() const { return drop_first(targets_.shape()); }

  void get(std::int64_t index, T* sample, Target* target) const {
    if (index < 0 || index >= size())
      throw std::out_of_range(where() + "hnn::data::TensorDataset::get: index " + std::to_string(index) +
                              " is outside 0.." + std::to_string(size() - 1));
    const std::int64_t sample_size = inputs_.shape().sample_size(), target_size = targets_.shape().sample_size();
    std::memcpy(sample, inputs_.data() + index * sample_size, static_cast<std::size_t>(sample_size) * sizeof(T));
    std::memcpy(target, targets_.data() + index * target_size, static_cast<std::size_t>(target_size) * sizeof(Target));
  }

  const Tensor<T, cpu>& inputs() const { return inputs_; }
  const Tensor<Target, cpu>& targets() const { return targets_; }
  const std::vector<std::string>& class_names() const { return class_names_; }
  std::int64_t num_classes() const { return static_cast<std::int64_t>(class_names_.size()); }
  // Where the data came from (a file), for messages; "" if built in memory.
  const std::string& source() const { return source_; }

  // The largest class label and the index of its first occurrence (-1 and -1 when there are
  // none), so that a trainer can check the labels against a model's outputs without a pass.
  std::int32_t max_label() const { return max_label_; }
  std::int64_t max_label_index() const { return max_label_index_; }

 private:
  static Shape drop_first(const Shape& s) {
    Shape rest;
    for (int i = 1; i < s.rank(); ++i) rest.push_back(s[i]);
    return rest;
  }
  std::string where() const { return source_.empty() ? std::string() : source_ + ": "; }
  [[noreturn]] void fail(const std::string& what) const {
    throw std::invalid_argument(where() + "hnn::data::TensorDataset: " + what);
  }

  Tensor<T, cpu> inputs_;
  Tensor<Target, cpu> targets_;
  std::vector<std::string> class_names_;
  std::string source_;
  std::int32_t max_label_ = -1;
  std::int64_t max_label_index_ = -1;
};

}  // namespace hnn::data
