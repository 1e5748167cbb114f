// CIFAR-10 and CIFAR-100 in their binary format (the "binary version" archives from
// https://www.cs.toronto.edu/~kriz/cifar.html), as TensorDatasets of images (N, 3, 32, 32),
// pixel / 255, and int32 labels (N).
//
//   auto train = data::cifar10("/data/cifar-10-batches-bin", data::Split::train);   // 50,000 images
//   auto test = data::cifar100("/data/cifar-100-binary", data::Split::test);        // fine labels
//
// The folder is the one the archive unpacks to (cifar-10-batches-bin, cifar-100-binary), or the
// folder holding it. CIFAR-10: data_batch_1.bin .. data_batch_5.bin (train) and test_batch.bin
// (test), each record 1 label byte then 3072 pixel bytes; CIFAR-100: train.bin and test.bin,
// each record a coarse and a fine label byte then 3072 pixel bytes. The pixels are the red, the
// green, then the blue plane, each 32 rows of 32, which is (3, 32, 32) as it stands. Class
// names come from batches.meta.txt (CIFAR-10) or fine_label_names.txt / coarse_label_names.txt
// (CIFAR-100) when present; without them CIFAR-10 has its ten published names and CIFAR-100
// numbers. Every size and label is checked: a damaged file is named with the record at fault.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "hnn/data/dataset.hpp"
#include "hnn/tensor.hpp"

namespace hnn::data {

// Every problem with a CIFAR file or folder: the message is "<path>: <what is wrong>".
class CifarError : public std::runtime_error {
 public:
  CifarError(const std::string& path, const std::string& problem) : std::runtime_error(path + ": " + problem) {}
};

// Which of CIFAR-100's two labels a dataset holds: the 100 fine classes or the 20 superclasses.
enum class Cifar100Labels { fine, coarse };

inline const std::array<std::string_view, 10>& cifar10_classes() {
  static constexpr std::array<std::string_view, 10> names{"airplane", "automobile", "bird",  "cat",  "deer",
                                                          "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

namespace detail::cifar {

inline constexpr std::int64_t kSide = 32;
inline constexpr std::int64_t kPixels = 3 * kSide * kSide;  // 3072 bytes per image
// The largest real file is 150 MB (CIFAR-100's train.bin); anything far larger is not CIFAR.
inline constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{1} << 30;

// One format's layout: label bytes per record and the class count of each.
struct Format {
  const char* name;           // "CIFAR-10"
  std::int64_t label_bytes;   // 1 or 2
  std::int64_t record_bytes;  // label_bytes + 3072
};
inline constexpr Format kCifar10{"CIFAR-10", 1, 1 + kPixels};
inline constexpr Format kCifar100{"CIFAR-100", 2, 2 + kPixels};

// The folder holding the files: `dir` itself, or the archive's folder inside it.
inline std::filesystem::path find_folder(const std::string& dir, const std::string& first_file,
                                         const std::string& archive_folder) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) throw CifarError(dir, "dataset folder does not exist");
  const std::filesystem::path here(dir);
  if (std::filesystem::exists(here / first_file, ec)) return here;
  if (std::filesystem::exists(here / archive_folder / first_file, ec)) return here / archive_folder;
  throw CifarError(dir, "dataset file missing: neither " + (here / first_file).string() + " nor " +
                            (here / archive_folder / first_file).string() + " exists");
}

inline std::vector<std::uint8_t> read_file(const std::string& path) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw CifarError(path, "dataset file missing");
  if (!std::filesystem::is_regular_file(status)) throw CifarError(path, "is not a regular file");
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw CifarError(path, "cannot read its size: " + ec.message());
  if (size > kMaxFileBytes)
    throw CifarError(path, "file is " + std::to_string(size) + " bytes, larger than any CIFAR file");
  errno = 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw CifarError(path, std::string("cannot open for reading: ") + std::strerror(errno));
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  const std::size_t got = size ? std::fread(bytes.data(), 1, bytes.size(), file.get()) : 0;
  if (got != bytes.size() || std::ferror(file.get()))
    throw CifarError(path, "read " + std::to_string(got) + " of its " + std::to_string(size) + " bytes");
  return bytes;
}

// Checks a file's size against whole records of `format` and returns how many it holds.
inline std::int64_t count_records(const std::string& path, std::size_t bytes, const Format& format,
                                  const Format& other) {
  const std::int64_t size = static_cast<std::int64_t>(bytes);
  if (size == 0) throw CifarError(path, "empty file (0 bytes)");
  const std::int64_t whole = size / format.record_bytes, rest = size % format.record_bytes;
  if (rest != 0) {
    std::string message = "truncated or not " + std::string(format.name) + ": the file is " + std::to_string(size) +
                          " bytes, not a whole number of " + std::to_string(format.record_bytes) + "-byte records (" +
                          std::to_string(format.label_bytes) + " label byte" + (format.label_bytes > 1 ? "s" : "") +
                          " + 3072 pixel bytes); record " + std::to_string(whole) + " (counting from 0) has only " +
                          std::to_string(rest) + " bytes";
    if (size % other.record_bytes == 0)
      message += " (the size is a whole number of " + std::to_string(other.record_bytes) + "-byte " + other.name +
                 " records: is this a " + other.name + " file?)";
    throw CifarError(path, message);
  }
  return whole;
}

// The non-empty lines of a names file, trimmed; nothing when the file is absent.
inline std::vector<std::string> read_names(const std::filesystem::path& path, std::size_t expected) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  std::ifstream in(path);
  if (!in) throw CifarError(path.string(), "cannot open the class names file");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    const auto last = line.find_last_not_of(" \t\r");
    names.push_back(line.substr(first, last - first + 1));
  }
  if (names.size() != expected)
    throw CifarError(path.string(), "holds " + std::to_string(names.size()) + " class names (non-empty lines), " +
                                        std::to_string(expected) + " expected");
  return names;
}

// Reads the record files in order into one dataset; `label_byte` picks which label byte of a
// record is the label, and every label byte is checked against its class count.
inline TensorDataset<float, std::int32_t> read_records(const std::vector<std::string>& paths, const Format& format,
                                                       const Format& other, const std::vector<std::int64_t>& classes,
                                                       std::int64_t label_byte, std::int64_t limit,
                                                       std::vector<std::string> class_names) {
  if (limit < 0)
    throw std::invalid_argument("hnn::data: limit must be >= 0 (0 means all), got " + std::to_string(limit));
  std::vector<std::vector<std::uint8_t>> files;
  std::int64_t total = 0;
  for (const std::string& path : paths) {
    files.push_back(read_file(path));
    const std::vector<std::uint8_t>& bytes = files.back();
    const std::int64_t records = count_records(path, bytes.size(), format, other);
    for (std::int64_t r = 0; r < records; ++r)
      for (std::int64_t k = 0; k < format.label_bytes; ++k) {
        const std::int64_t label = bytes[static_cast<std::size_t>(r * format.record_bytes + k)];
        if (label >= classes[static_cast<std::size_t>(k)])
          throw CifarError(path, std::string(format.label_bytes > 1 ? (k == 0 ? "coarse " : "fine ") : "") + "label " +
                                     std::to_string(label) + " in record " + std::to_string(r) +
                                     " (counting from 0) is outside 0.." +
                                     std::to_string(classes[static_cast<std::size_t>(k)] - 1));
      }
    total += records;
  }
  const std::int64_t size = limit > 0 && limit < total ? limit : total;
  Tensor<float, cpu> images(Shape{size, 3, kSide, kSide});
  Tensor<std::int32_t, cpu> labels(Shape{size});
  std::array<float, 256> scaled{};
  for (std::size_t v = 0; v < scaled.size(); ++v) scaled[v] = static_cast<float>(v) / 255.0f;
  std::int64_t n = 0;
  for (const std::vector<std::uint8_t>& bytes : files) {
    for (const std::uint8_t* record = bytes.data(); n < size && record != bytes.data() + bytes.size();
         record += format.record_bytes, ++n) {
      labels[n] = record[label_byte];
      float* image = images.data() + n * kPixels;
      for (std::int64_t i = 0; i < kPixels; ++i) image[i] = scaled[record[format.label_bytes + i]];
    }
  }
  return TensorDataset<float, std::int32_t>(images, labels, std::move(class_names), paths.front());
}

}  // namespace detail::cifar

// A split of CIFAR-10 from `dir`: images (N, 3, 32, 32) with values pixel / 255 and labels (N)
// in 0..9; limit > 0 keeps the first `limit` examples (every file is still checked whole).
inline TensorDataset<float, std::int32_t> cifar10(const std::string& dir, Split split, std::int64_t limit = 0) {
  using namespace detail::cifar;
  const std::string first = split == Split::train ? "data_batch_1.bin" : "test_batch.bin";
  const std::filesystem::path folder = find_folder(dir, first, "cifar-10-batches-bin");
  std::vector<std::string> paths;
  if (split == Split::train)
    for (int i = 1; i <= 5; ++i) paths.push_back((folder / ("data_batch_" + std::to_string(i) + ".bin")).string());
  else
    paths.push_back((folder / "test_batch.bin").string());
  std::vector<std::string> names = read_names(folder / "batches.meta.txt", 10);
  if (names.empty()) names.assign(cifar10_classes().begin(), cifar10_classes().end());
  return read_records(paths, kCifar10, kCifar100, {10}, 0, limit, std::move(names));
}

// A split of CIFAR-100 from `dir`, with its fine labels (0..99) or its coarse ones (0..19).
inline TensorDataset<float, std::int32_t> cifar100(const std::string& dir, Split split,
                                                   Cifar100Labels which = Cifar100Labels::fine,
                                                   std::int64_t limit = 0) {
  using namespace detail::cifar;
  const std::string file = split == Split::train ? "train.bin" : "test.bin";
  const std::filesystem::path folder = find_folder(dir, file, "cifar-100-binary");
  const bool fine = which == Cifar100Labels::fine;
  const std::size_t classes = fine ? 100 : 20;
  std::vector<std::string> names =
      read_names(folder / (fine ? "fine_label_names.txt" : "coarse_label_names.txt"), classes);
  if (names.empty())
    for (std::size_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  return read_records({(folder / file).string()}, kCifar100, kCifar10, {20, 100}, fine ? 1 : 0, limit,
                      std::move(names));
}

}  // namespace hnn::data
