// Fashion-MNIST and MNIST: the four IDX files of a split, checked and turned
// into float images in [0, 1] and int32 labels.
//
// fashion_mnist() and mnist() return a TensorDataset (hnn/data/dataset.hpp) of images
// (N, 1, 28, 28) and labels (N). load_fashion_mnist() and load_mnist() return the older
// data::Dataset struct and are kept while the trainer moves over.
//
// Both datasets use the same file names and layout, so one loader serves both;
// only the class names differ. Every file may be raw or gzip; the loader checks
// that the two files of a split agree with each other, so that a mismatched or
// damaged download fails here with a sentence rather than later as a wrong
// accuracy.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hnn/data/dataset.hpp"
#include "hnn/data/idx.hpp"
#include "hnn/tensor.hpp"

namespace hnn::data {

inline const std::array<std::string_view, 10>& fashion_mnist_classes() {
  static constexpr std::array<std::string_view, 10> names{
      "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  return names;
}

inline const std::array<std::string_view, 10>& mnist_classes() {
  static constexpr std::array<std::string_view, 10> names{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  return names;
}

// A whole split held in host memory.
struct Dataset {
  std::vector<float> images;          // size * rows * cols, row-major, pixel / 255
  std::vector<std::int32_t> labels;   // size entries, each in [0, num_classes())
  std::int64_t size = 0, rows = 0, cols = 0;
  std::vector<std::string> class_names;
  std::string source;                 // the images file it was read from, for messages ("" if built in memory)

  std::int64_t num_classes() const { return static_cast<std::int64_t>(class_names.size()); }
};

namespace detail {

// The file for `stem` in `dir`: the uncompressed one if it exists (it reads
// faster), otherwise the .gz one.
inline std::string find_idx_file(const std::filesystem::path& dir, const std::string& stem) {
  std::error_code ec;
  const std::filesystem::path raw = dir / stem;
  const std::filesystem::path gz = dir / (stem + ".gz");
  if (std::filesystem::is_regular_file(raw, ec)) return raw.string();
  if (std::filesystem::is_regular_file(gz, ec)) return gz.string();
  throw IdxError(dir.string(), "dataset file missing: neither " + raw.string() + " nor " + gz.string() + " exists");
}

// The two files of a split, read and checked against each other and the class count.
struct IdxSplit {
  IdxArray images, labels;
  std::string images_path;
  std::int64_t size = 0, rows = 0, cols = 0;  // size: the examples kept (limit applied)
};

inline IdxSplit read_idx_split(const std::string& dir, Split split, std::int64_t limit, std::size_t classes) {
  if (limit < 0)
    throw std::invalid_argument("hnn::data: limit must be >= 0 (0 means all), got " + std::to_string(limit));
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw IdxError(dir, "dataset folder does not exist (pass another folder, or set HNN_DATA)");

  const std::string prefix = split == Split::train ? "train" : "t10k";
  IdxSplit s;
  s.images_path = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  s.images = read_idx(s.images_path);
  s.labels = read_idx(labels_path);
  const IdxArray& images = s.images;
  const IdxArray& labels = s.labels;

  if (images.dims.size() != 3)
    throw IdxError(s.images_path, "images must have 3 dimensions (count, rows, cols), this file has " +
                                      std::to_string(images.dims.size()) + " (" + dims_to_string(images.dims) + ")");
  if (labels.dims.size() != 1)
    throw IdxError(labels_path, "labels must have 1 dimension (count), this file has " +
                                    std::to_string(labels.dims.size()) + " (" + dims_to_string(labels.dims) + ")");
  const std::int64_t count = images.dims[0];
  if (count != static_cast<std::int64_t>(labels.dims[0]))
    throw IdxError(s.images_path, "image count " + std::to_string(count) + " does not match the label count " +
                                      std::to_string(labels.dims[0]) + " of " + labels_path);
  if (count == 0 || images.values.empty())
    throw IdxError(s.images_path, "empty dataset: the file holds no images (" + dims_to_string(images.dims) + ")");
  // Every label is checked, not only those kept by `limit`: a bad one means a damaged file.
  for (std::size_t i = 0; i < labels.values.size(); ++i)
    if (labels.values[i] >= classes)
      throw IdxError(labels_path, "label at index " + std::to_string(i) + " is " + std::to_string(labels.values[i]) +
                                      ", but there are only " + std::to_string(classes) +
                                      " classes (labels must be 0.." + std::to_string(classes - 1) + ")");
  s.rows = images.dims[1];
  s.cols = images.dims[2];
  s.size = limit > 0 && limit < count ? limit : count;
  return s;
}

// pixel / 255.0f for each of the 256 byte values: exactly the quotient, and faster than
// dividing 47 million times.
inline const std::array<float, 256>& byte_to_unit_float() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (std::size_t v = 0; v < t.size(); ++v) t[v] = static_cast<float>(v) / 255.0f;
    return t;
  }();
  return table;
}

inline Dataset load_idx_dataset(const std::string& dir, Split split, std::int64_t limit,
                                const std::array<std::string_view, 10>& class_names) {
  const IdxSplit s = read_idx_split(dir, split, limit, class_names.size());
  Dataset data;
  data.rows = s.rows;
  data.cols = s.cols;
  data.size = s.size;
  const std::size_t pixels = static_cast<std::size_t>(data.size * data.rows * data.cols);
  const std::array<float, 256>& scaled = byte_to_unit_float();
  data.images.resize(pixels);
  for (std::size_t i = 0; i < pixels; ++i) data.images[i] = scaled[s.images.values[i]];
  data.labels.assign(s.labels.values.begin(), s.labels.values.begin() + static_cast<std::ptrdiff_t>(data.size));
  data.class_names.assign(class_names.begin(), class_names.end());
  data.source = s.images_path;
  return data;
}

inline TensorDataset<float, std::int32_t> load_idx_tensor_dataset(const std::string& dir, Split split,
                                                                   std::int64_t limit,
                                                                   const std::array<std::string_view, 10>& class_names) {
  const IdxSplit s = read_idx_split(dir, split, limit, class_names.size());
  Tensor<float, cpu> images(Shape{s.size, 1, s.rows, s.cols});
  Tensor<std::int32_t, cpu> labels(Shape{s.size});
  const std::array<float, 256>& scaled = byte_to_unit_float();
  for (std::int64_t i = 0; i < images.numel(); ++i) images[i] = scaled[s.images.values[static_cast<std::size_t>(i)]];
  for (std::int64_t i = 0; i < s.size; ++i) labels[i] = s.labels.values[static_cast<std::size_t>(i)];
  return TensorDataset<float, std::int32_t>(images, labels, std::vector<std::string>(class_names.begin(), class_names.end()),
                                            s.images_path);
}

}  // namespace detail

// Loads a split of Fashion-MNIST from `dir`; limit > 0 keeps the first `limit` examples.
inline Dataset load_fashion_mnist(const std::string& dir, Split split, std::int64_t limit = 0) {
  return detail::load_idx_dataset(dir, split, limit, fashion_mnist_classes());
}

// Loads a split of the MNIST digits from `dir` (same file names as Fashion-MNIST).
inline Dataset load_mnist(const std::string& dir, Split split, std::int64_t limit = 0) {
  return detail::load_idx_dataset(dir, split, limit, mnist_classes());
}

// A split of Fashion-MNIST from `dir` as images (N, 1, 28, 28), pixel / 255, and labels (N);
// limit > 0 keeps the first `limit` examples.
inline TensorDataset<float, std::int32_t> fashion_mnist(const std::string& dir, Split split, std::int64_t limit = 0) {
  return detail::load_idx_tensor_dataset(dir, split, limit, fashion_mnist_classes());
}

// A split of the MNIST digits from `dir`, the same way.
inline TensorDataset<float, std::int32_t> mnist(const std::string& dir, Split split, std::int64_t limit = 0) {
  return detail::load_idx_tensor_dataset(dir, split, limit, mnist_classes());
}

// Throws when a dataset's images are not the size a model was built for (naming the
// file they came from, when known).
inline void require_image_shape(const Dataset& data, std::int64_t rows, std::int64_t cols) {
  if (data.rows != rows || data.cols != cols)
    throw std::invalid_argument((data.source.empty() ? "" : data.source + ": ") + "images are " +
                                std::to_string(data.rows) + "x" + std::to_string(data.cols) + " but the model expects " +
                                std::to_string(rows) + "x" + std::to_string(cols));
}

}  // namespace hnn::data
