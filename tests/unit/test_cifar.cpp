// CIFAR-10 and CIFAR-100 binary files, written here in a temp folder record by record: shapes,
// pixel values in their planes, labels, class names from the text files or the defaults, the
// archive's own sub-folder, limit, and every damaged file named with its record.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/data/cifar.hpp"
#include "hnn/data/loader.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;
namespace fs = std::filesystem;

namespace {

using hnn::testing::expect_error;

using hnn::testing::TempDir;

// The byte at plane c, row y, column x of image `id`: distinct across images and planes.
std::uint8_t pixel(int id, int c, int y, int x) {
  return static_cast<std::uint8_t>((id * 7 + c * 50 + y * 32 + x) % 256);
}

// One record: the label bytes, then the red, green and blue planes of image `id`.
void append_record(std::vector<std::uint8_t>& bytes, const std::vector<std::uint8_t>& labels, int id) {
  bytes.insert(bytes.end(), labels.begin(), labels.end());
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) bytes.push_back(pixel(id, c, y, x));
}

void write_bytes(const fs::path& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// CIFAR-10 files in `dir`: train batches of 2, 3, 1, 2 and 2 records (ids 0..9, label id % 10)
// and a test batch of 3 (ids 100..102, labels 9, 8, 7).
void write_cifar10(const fs::path& dir) {
  fs::create_directories(dir);
  const int counts[5] = {2, 3, 1, 2, 2};
  int id = 0;
  for (int b = 0; b < 5; ++b) {
    std::vector<std::uint8_t> bytes;
    for (int r = 0; r < counts[b]; ++r, ++id) append_record(bytes, {static_cast<std::uint8_t>(id % 10)}, id);
    write_bytes(dir / ("data_batch_" + std::to_string(b + 1) + ".bin"), bytes);
  }
  std::vector<std::uint8_t> test;
  for (int r = 0; r < 3; ++r) append_record(test, {static_cast<std::uint8_t>(9 - r)}, 100 + r);
  write_bytes(dir / "test_batch.bin", test);
}

// CIFAR-100's train.bin: 4 records, coarse label r * 5, fine label r * 30 + 1.
void write_cifar100(const fs::path& dir) {
  fs::create_directories(dir);
  for (const char* name : {"train.bin", "test.bin"}) {
    std::vector<std::uint8_t> bytes;
    for (int r = 0; r < 4; ++r)
      append_record(bytes, {static_cast<std::uint8_t>(r * 5), static_cast<std::uint8_t>(r * 30 + 1)}, 200 + r);
    write_bytes(dir / name, bytes);
  }
}

// Checks image n of `set` against the pixels of image `id`.
void expect_image(const data::TensorDataset<float>& set, std::int64_t n, int id) {
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; y += 5)
      for (int x = 0; x < 32; x += 3)
        ASSERT_EQ(set.inputs().at(n, c, y, x), static_cast<float>(pixel(id, c, y, x)) / 255.0f)
            << "image " << n << " plane " << c << " at " << y << ", " << x;
}

}  // namespace

TEST(Cifar10, TrainAndTestSplits) {
  TempDir dir;
  write_cifar10(dir / "");
  const data::TensorDataset<float> train = data::cifar10(dir.str(), data::Split::train);
  EXPECT_EQ(train.inputs().shape(), (Shape{10, 3, 32, 32}));
  EXPECT_EQ(train.targets().shape(), Shape{10});
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(train.targets()[i], i % 10);
    expect_image(train, i, i);
  }
  EXPECT_EQ(train.class_names().size(), 10u);
  EXPECT_EQ(train.class_names()[0], "airplane");
  EXPECT_EQ(train.class_names()[9], "truck");
  EXPECT_NE(train.source().find("data_batch_1.bin"), std::string::npos);

  const data::TensorDataset<float> test = data::cifar10(dir.str(), data::Split::test);
  EXPECT_EQ(test.size(), 3);
  EXPECT_EQ(test.targets().to_vector(), (std::vector<std::int32_t>{9, 8, 7}));
  expect_image(test, 2, 102);

  const data::TensorDataset<float> first4 = data::cifar10(dir.str(), data::Split::train, 4);
  EXPECT_EQ(first4.size(), 4);
  expect_image(first4, 3, 3);

  // Loader-ready: a batch of (n, 3, 32, 32).
  data::DataLoader loader(train, data::LoaderOptions(4).shuffle(true));
  loader.start_epoch();
  EXPECT_EQ(loader.next()->inputs.shape(), (Shape{4, 3, 32, 32}));
}

TEST(Cifar10, ClassNamesFileAndTheArchiveFolder) {
  TempDir dir;
  const fs::path inner = dir / "cifar-10-batches-bin";
  write_cifar10(inner);
  std::ofstream(inner / "batches.meta.txt") << "plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck \r\n\n\n";
  // The folder that holds the archive's folder works as well as that folder.
  const data::TensorDataset<float> test = data::cifar10(dir.str(), data::Split::test);
  EXPECT_EQ(test.class_names()[0], "plane");
  EXPECT_EQ(test.class_names()[9], "truck");
  EXPECT_NE(test.source().find("cifar-10-batches-bin"), std::string::npos);
  std::ofstream(inner / "batches.meta.txt") << "plane\ncar\n";
  expect_error<data::CifarError>([&] { data::cifar10(inner.string(), data::Split::test); },
                                 {"batches.meta.txt", "holds 2 class names", "10 expected"});
}

TEST(Cifar100, FineAndCoarseLabels) {
  TempDir dir;
  write_cifar100(dir / "");
  const data::TensorDataset<float> fine = data::cifar100(dir.str(), data::Split::train);
  EXPECT_EQ(fine.inputs().shape(), (Shape{4, 3, 32, 32}));
  EXPECT_EQ(fine.targets().to_vector(), (std::vector<std::int32_t>{1, 31, 61, 91}));
  EXPECT_EQ(fine.num_classes(), 100);
  EXPECT_EQ(fine.class_names()[42], "42");
  expect_image(fine, 3, 203);
  const data::TensorDataset<float> coarse = data::cifar100(dir.str(), data::Split::test, data::Cifar100Labels::coarse);
  EXPECT_EQ(coarse.targets().to_vector(), (std::vector<std::int32_t>{0, 5, 10, 15}));
  EXPECT_EQ(coarse.num_classes(), 20);
  std::ofstream names(dir / "coarse_label_names.txt");
  for (int i = 0; i < 20; ++i) names << "group" << i << "\n";
  names.close();
  EXPECT_EQ(data::cifar100(dir.str(), data::Split::test, data::Cifar100Labels::coarse).class_names()[19], "group19");
}

TEST(Cifar, TruncatedFileNamesTheRecord) {
  TempDir dir;
  write_cifar10(dir / "");
  fs::resize_file(dir / "data_batch_2.bin", 2 * 3073 + 100);
  expect_error<data::CifarError>([&] { data::cifar10(dir.str(), data::Split::train); },
                                 {"data_batch_2.bin", "truncated or not CIFAR-10", "6246 bytes", "3073-byte records",
                                  "record 2 (counting from 0) has only 100 bytes"});
}

TEST(Cifar, WrongRecordSizeSuggestsTheOtherFormat) {
  TempDir dir;
  write_cifar100(dir / "c100");
  fs::create_directories(dir / "c10");
  fs::copy_file(dir / "c100" / "test.bin", dir / "c10" / "test_batch.bin");
  expect_error<data::CifarError>(
      [&] { data::cifar10((dir / "c10").string(), data::Split::test); },
      {"test_batch.bin", "not a whole number of 3073-byte records", "is this a CIFAR-100 file?"});
  write_cifar10(dir / "c10");
  fs::copy_file(dir / "c10" / "test_batch.bin", dir / "c100" / "test.bin", fs::copy_options::overwrite_existing);
  expect_error<data::CifarError>([&] { data::cifar100((dir / "c100").string(), data::Split::test); },
                                 {"test.bin", "3074-byte records (2 label bytes", "is this a CIFAR-10 file?"});
}

TEST(Cifar, LabelOutOfRangeNamesTheRecord) {
  TempDir dir;
  write_cifar10(dir / "");
  std::vector<std::uint8_t> bytes;
  append_record(bytes, {3}, 0);
  append_record(bytes, {10}, 1);
  write_bytes(dir / "test_batch.bin", bytes);
  expect_error<data::CifarError>([&] { data::cifar10(dir.str(), data::Split::test); },
                                 {"test_batch.bin", "label 10 in record 1", "outside 0..9"});
  fs::create_directories(dir / "c100");
  bytes.clear();
  append_record(bytes, {19, 99}, 0);
  append_record(bytes, {20, 5}, 1);
  write_bytes(dir / "c100" / "train.bin", bytes);
  expect_error<data::CifarError>([&] { data::cifar100((dir / "c100").string(), data::Split::train); },
                                 {"train.bin", "coarse label 20 in record 1", "outside 0..19"});
  bytes.clear();
  append_record(bytes, {19, 100}, 0);
  write_bytes(dir / "c100" / "train.bin", bytes);
  expect_error<data::CifarError>([&] { data::cifar100((dir / "c100").string(), data::Split::train); },
                                 {"fine label 100 in record 0", "outside 0..99"});
}

TEST(Cifar, MissingAndEmptyFiles) {
  TempDir dir;
  expect_error<data::CifarError>([&] { data::cifar10(dir.str(), data::Split::train); },
                                 {"dataset file missing", "data_batch_1.bin", "cifar-10-batches-bin"});
  expect_error<data::CifarError>([&] { data::cifar10((dir / "nowhere").string(), data::Split::train); },
                                 {"nowhere", "folder does not exist"});
  write_cifar10(dir / "");
  fs::remove(dir / "data_batch_4.bin");
  expect_error<data::CifarError>([&] { data::cifar10(dir.str(), data::Split::train); },
                                 {"data_batch_4.bin", "dataset file missing"});
  write_bytes(dir / "data_batch_4.bin", {});
  expect_error<data::CifarError>([&] { data::cifar10(dir.str(), data::Split::train); },
                                 {"data_batch_4.bin", "empty file"});
  expect_error<std::invalid_argument>([&] { data::cifar10(dir.str(), data::Split::test, -2); }, {"limit must be >= 0"});
}
