// Tests of the data layer: the IDX reader/writer, its handling of bad input,
// and the Fashion-MNIST / MNIST loader, including the committed slice of the
// real test set.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "hnn/data/idx.hpp"
#include "hnn/data/mnist.hpp"

#include "../support/test_helpers.hpp"

#ifndef HNN_SOURCE_DIR
#error "HNN_SOURCE_DIR must name the repository root (the build defines it)"
#endif

namespace {

using hnn::data::Dataset;
using hnn::data::fashion_mnist_classes;
using hnn::data::IdxArray;
using hnn::data::IdxError;
using hnn::data::load_fashion_mnist;
using hnn::data::load_mnist;
using hnn::data::mnist_classes;
using hnn::data::parse_idx;
using hnn::data::read_idx;
using hnn::data::Split;
using hnn::data::write_idx;
namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

const std::string kSliceDir = std::string(HNN_SOURCE_DIR) + "/data/fashion-mnist";
const std::string kInstalledDir = "/usr/share/datasets/fashion-mnist";

using hnn::testing::TempDir;

// IDX bytes built here by hand, independently of write_idx.
Bytes idx_bytes(const std::vector<std::uint32_t>& dims, const Bytes& values, std::uint8_t type = 0x08) {
  Bytes out = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(d >> shift));
  out.insert(out.end(), values.begin(), values.end());
  return out;
}

// One gzip member holding `data`, made with zlib directly (not by write_idx).
Bytes gzip_bytes(const Bytes& data, const char* embedded_name = nullptr) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  gz_header header{};
  if (embedded_name) {
    header.name = reinterpret_cast<Bytef*>(const_cast<char*>(embedded_name));
    EXPECT_EQ(deflateSetHeader(&stream, &header), Z_OK);
  }
  Bytes out(deflateBound(&stream, static_cast<uLong>(data.size())) + 64 + (embedded_name ? 256 : 0));
  stream.next_in = const_cast<Bytef*>(data.data());
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - stream.avail_out);
  deflateEnd(&stream);
  return out;
}

Bytes random_bytes(std::size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  Bytes out(n);
  for (auto& b : out) b = static_cast<std::uint8_t>(byte(rng));
  return out;
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs fn, which must throw Exception; returns its message.
template <class Exception, class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Exception& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw the wrong exception type: " << e.what();
    return {};
  }
  ADD_FAILURE() << "did not throw";
  return {};
}

// read_idx(path) must throw IdxError naming the file and containing each key word.
void expect_idx_error(const std::string& path, const std::vector<std::string>& words) {
  const std::string message = error_of<IdxError>([&] { read_idx(path); });
  EXPECT_EQ(message.rfind(path, 0), 0u) << "message should start with the path: " << message;
  for (const std::string& word : words)
    EXPECT_NE(message.find(word), std::string::npos) << "missing \"" << word << "\" in: " << message;
}

// --- round trips --------------------------------------------------------------

TEST(IdxRoundTrip, RawMatchesHandBuiltBytes) {
  std::mt19937 rng(1);
  TempDir tmp;
  for (const std::vector<std::uint32_t>& dims :
       std::vector<std::vector<std::uint32_t>>{{7}, {3, 5}, {4, 6, 5}, {2, 3, 4, 5}, {0, 28, 28}}) {
    std::size_t count = 1;
    for (auto d : dims) count *= d;
    const IdxArray array{dims, random_bytes(count, rng)};
    const std::string path = tmp.file("raw.idx");
    write_idx(path, array, /*gzip=*/false);
    EXPECT_EQ(read_file(path), idx_bytes(dims, array.values));
    const IdxArray back = read_idx(path);
    EXPECT_EQ(back.dims, dims);
    EXPECT_EQ(back.values, array.values);
  }
}

TEST(IdxRoundTrip, GzipDecompressesToTheSameBytes) {
  std::mt19937 rng(2);
  TempDir tmp;
  for (const std::vector<std::uint32_t>& dims :
       std::vector<std::vector<std::uint32_t>>{{1}, {100}, {10, 28, 28}, {2, 3, 4, 5}}) {
    std::size_t count = 1;
    for (auto d : dims) count *= d;
    const IdxArray array{dims, random_bytes(count, rng)};
    const std::string path = tmp.file("array.gz");
    write_idx(path, array, /*gzip=*/true);
    const Bytes file = read_file(path);
    ASSERT_GE(file.size(), 2u);
    EXPECT_EQ(file[0], 0x1f);
    EXPECT_EQ(file[1], 0x8b);
    // gunzip with zlib's own stdio interface, independent of the reader under test.
    gzFile gz = gzopen(path.c_str(), "rb");
    ASSERT_NE(gz, nullptr);
    Bytes unpacked(idx_bytes(dims, array.values).size() + 16);
    const int n = gzread(gz, unpacked.data(), static_cast<unsigned>(unpacked.size()));
    gzclose(gz);
    unpacked.resize(static_cast<std::size_t>(std::max(n, 0)));
    EXPECT_EQ(unpacked, idx_bytes(dims, array.values));
    const IdxArray back = read_idx(path);
    EXPECT_EQ(back.dims, dims);
    EXPECT_EQ(back.values, array.values);
  }
}

TEST(IdxRoundTrip, GzipIsDetectedByContentNotName) {
  std::mt19937 rng(3);
  const Bytes values = random_bytes(24, rng);
  TempDir tmp;
  write_file(tmp.file("raw_named.gz"), idx_bytes({2, 3, 4}, values));
  write_file(tmp.file("gzip_named.idx"), gzip_bytes(idx_bytes({2, 3, 4}, values)));
  EXPECT_EQ(read_idx(tmp.file("raw_named.gz")).values, values);
  EXPECT_EQ(read_idx(tmp.file("gzip_named.idx")).values, values);
}

TEST(IdxRoundTrip, GzipHeaderWithEmbeddedFileName) {
  const Bytes values = {1, 2, 3, 4, 5, 6};
  const Bytes file = gzip_bytes(idx_bytes({2, 3}, values), "original-name-idx2-ubyte");
  const IdxArray array = parse_idx(file.data(), file.size(), "named.gz");
  EXPECT_EQ(array.values, values);
}

// Multi-member gzip (as `cat a.gz b.gz` makes) is one stream, as gunzip reads it.
TEST(IdxRoundTrip, MultiMemberGzipIsOneStream) {
  const Bytes whole = idx_bytes({4, 5}, Bytes(20, 7));
  Bytes file = gzip_bytes(Bytes(whole.begin(), whole.begin() + 6));  // splits the header
  const Bytes second = gzip_bytes(Bytes(whole.begin() + 6, whole.end()));
  const Bytes empty_member = gzip_bytes({});
  file.insert(file.end(), empty_member.begin(), empty_member.end());
  file.insert(file.end(), second.begin(), second.end());
  const IdxArray array = parse_idx(file.data(), file.size(), "multi.gz");
  EXPECT_EQ(array.dims, (std::vector<std::uint32_t>{4, 5}));
  EXPECT_EQ(array.values, Bytes(20, 7));
}

TEST(IdxRoundTrip, WriteRejectsValuesThatDoNotMatchDims) {
  TempDir tmp;
  const std::string path = tmp.file("bad.idx");
  std::string message = error_of<IdxError>([&] { write_idx(path, IdxArray{{2, 3}, Bytes(5)}, false); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  message = error_of<IdxError>([&] { write_idx(path, IdxArray{{}, Bytes{}}, false); });
  EXPECT_NE(message.find("dimensions"), std::string::npos) << message;
  message = error_of<IdxError>([&] { write_idx(tmp.file("no/such/dir/x.idx"), IdxArray{{1}, Bytes(1)}, true); });
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;
}

// --- the committed slice of the real test set ---------------------------------

TEST(FashionMnistSlice, LoadsTheFirstThousandTestImages) {
  const Dataset data = load_fashion_mnist(kSliceDir, Split::test);
  EXPECT_EQ(data.size, 1000);
  EXPECT_EQ(data.rows, 28);
  EXPECT_EQ(data.cols, 28);
  ASSERT_EQ(data.images.size(), 1000u * 28 * 28);
  ASSERT_EQ(data.labels.size(), 1000u);
  EXPECT_EQ(data.num_classes(), 10);
  for (std::int32_t label : data.labels) {
    EXPECT_GE(label, 0);
    EXPECT_LT(label, 10);
  }
  // The real first test example is an ankle boot.
  EXPECT_EQ(data.labels[0], 9);
  EXPECT_EQ(data.class_names[9], "Ankle boot");
  const auto [lo, hi] = std::minmax_element(data.images.begin(), data.images.end());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);
}

TEST(FashionMnistSlice, LimitKeepsTheFirstExamples) {
  const Dataset all = load_fashion_mnist(kSliceDir, Split::test);
  const Dataset first = load_fashion_mnist(kSliceDir, Split::test, 10);
  EXPECT_EQ(first.size, 10);
  ASSERT_EQ(first.images.size(), 10u * 28 * 28);
  EXPECT_TRUE(std::equal(first.images.begin(), first.images.end(), all.images.begin()));
  EXPECT_TRUE(std::equal(first.labels.begin(), first.labels.end(), all.labels.begin()));
  EXPECT_EQ(load_fashion_mnist(kSliceDir, Split::test, 5000).size, 1000);
  EXPECT_THROW(load_fashion_mnist(kSliceDir, Split::test, -1), std::invalid_argument);
}

TEST(FashionMnistSlice, MatchesTheInstalledFullTestSet) {
  if (!fs::exists(kInstalledDir + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "the full dataset is not installed at " << kInstalledDir;
  const Dataset slice = load_fashion_mnist(kSliceDir, Split::test);
  const Dataset full = load_fashion_mnist(kInstalledDir, Split::test, 1000);
  EXPECT_EQ(slice.images, full.images);
  EXPECT_EQ(slice.labels, full.labels);
}

TEST(FashionMnistSlice, MnistLoaderUsesDigitNames) {
  const Dataset data = load_mnist(kSliceDir, Split::test, 3);
  ASSERT_EQ(data.class_names.size(), 10u);
  EXPECT_EQ(data.class_names[0], "0");
  EXPECT_EQ(data.class_names[9], "9");
  EXPECT_EQ(fashion_mnist_classes()[0], "T-shirt/top");
  EXPECT_EQ(mnist_classes()[7], "7");
}

// --- every way an IDX file can be bad ------------------------------------------

TEST(IdxHardening, MissingFile) {
  TempDir tmp;
  expect_idx_error(tmp.file("nope.idx"), {"no such file"});
}

TEST(IdxHardening, DirectoryInsteadOfFile) {
  TempDir tmp;
  fs::create_directory(tmp.file("folder"));
  expect_idx_error(tmp.file("folder"), {"directory"});
}

// A file without read permission cannot be opened, except by root (as in CI), who may read
// anything: /proc/self/mem is a regular file that opens for root too and whose first read
// fails (EIO: nothing is mapped at address 0), so the read-error path runs either way.
TEST(IdxHardening, UnreadableFile) {
  TempDir tmp;
  const std::string path = tmp.file("locked.idx");
  write_file(path, idx_bytes({1}, {1}));
  fs::permissions(path, fs::perms::none);
  const bool can_read_anything = std::ifstream(path).is_open();
  if (!can_read_anything) expect_idx_error(path, {"cannot open"});
  const std::string mem = "/proc/self/mem";
  if (fs::is_regular_file(mem)) expect_idx_error(mem, {"read error"});
  else if (can_read_anything) GTEST_SKIP() << "root, and no /proc/self/mem: no unreadable file to try";
}

// A FIFO where a file should be: refused up front. Opening one for reading would block until
// a writer came; if the reader blocks anyway, the test opens the FIFO for writing itself,
// which ends the read, and fails.
TEST(IdxHardening, FifoInsteadOfFile) {
  TempDir tmp;
  const std::string path = tmp.file("fifo.idx");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
  auto reader = std::async(std::launch::async, [path]() -> std::string {
    try {
      read_idx(path);
      return "read_idx returned without an error";
    } catch (const std::exception& e) {
      return e.what();
    }
  });
  if (reader.wait_for(std::chrono::seconds(10)) == std::future_status::timeout) {
    const int fd = ::open(path.c_str(), O_WRONLY);
    if (fd >= 0) ::close(fd);
    reader.get();
    FAIL() << "read_idx blocked on a FIFO without a writer instead of refusing it";
  }
  const std::string message = reader.get();
  EXPECT_EQ(message.rfind(path, 0), 0u) << "message should start with the path: " << message;
  EXPECT_NE(message.find("not a regular file"), std::string::npos) << message;
}

TEST(IdxHardening, EmptyFile) {
  TempDir tmp;
  write_file(tmp.file("empty.idx"), {});
  expect_idx_error(tmp.file("empty.idx"), {"empty"});
}

TEST(IdxHardening, NeitherIdxNorGzip) {
  TempDir tmp;
  const std::string text = "hello, world\n";
  write_file(tmp.file("hello.txt"), Bytes(text.begin(), text.end()));
  expect_idx_error(tmp.file("hello.txt"), {"neither", "magic"});
}

TEST(IdxHardening, WrongMagic) {
  TempDir tmp;
  Bytes file = idx_bytes({2}, {1, 2});
  file[1] = 0x01;
  write_file(tmp.file("magic.idx"), file);
  expect_idx_error(tmp.file("magic.idx"), {"magic", "0x00010801"});
}

TEST(IdxHardening, TooShortForMagic) {
  TempDir tmp;
  write_file(tmp.file("short.idx"), {0, 0, 8});
  expect_idx_error(tmp.file("short.idx"), {"truncated"});
}

TEST(IdxHardening, UnsupportedElementType) {
  TempDir tmp;
  write_file(tmp.file("float.idx"), idx_bytes({1}, {0, 0, 0, 0}, 0x0D));
  expect_idx_error(tmp.file("float.idx"), {"type", "0x0d", "float32"});
}

TEST(IdxHardening, ZeroDimensions) {
  TempDir tmp;
  write_file(tmp.file("zero.idx"), {0, 0, 8, 0});
  expect_idx_error(tmp.file("zero.idx"), {"0 dimensions"});
}

TEST(IdxHardening, TooManyDimensions) {
  TempDir tmp;
  write_file(tmp.file("five.idx"), idx_bytes({1, 1, 1, 1, 1}, {9}));
  expect_idx_error(tmp.file("five.idx"), {"5 dimensions"});
}

TEST(IdxHardening, DimensionProductOverflows) {
  TempDir tmp;
  write_file(tmp.file("overflow.idx"), idx_bytes({0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 2}, {}));
  expect_idx_error(tmp.file("overflow.idx"), {"overflow"});
}

// A header promising 4 GiB in a 20-byte file must fail before allocating it.
TEST(IdxHardening, HugePromiseInTinyFile) {
  TempDir tmp;
  write_file(tmp.file("huge.idx"), idx_bytes({65536, 65536}, {1, 2, 3}));
  expect_idx_error(tmp.file("huge.idx"), {"truncated", "65536x65536"});
  write_file(tmp.file("big.idx"), idx_bytes({1024, 1024, 1024}, {1, 2, 3}));
  expect_idx_error(tmp.file("big.idx"), {"truncated", "1073741824", "holds 3"});
}

TEST(IdxHardening, TruncatedHeader) {
  TempDir tmp;
  write_file(tmp.file("header.idx"), {0, 0, 8, 3, 0, 0, 0, 10, 0, 0});
  expect_idx_error(tmp.file("header.idx"), {"truncated", "header"});
}

TEST(IdxHardening, TruncatedData) {
  TempDir tmp;
  write_file(tmp.file("images.idx"), idx_bytes({10, 28, 28}, Bytes(1200, 3)));
  expect_idx_error(tmp.file("images.idx"), {"truncated", "7840", "1200"});
}

TEST(IdxHardening, TrailingGarbage) {
  TempDir tmp;
  write_file(tmp.file("trailing.idx"), idx_bytes({2, 2}, Bytes(4 + 5, 1)));
  expect_idx_error(tmp.file("trailing.idx"), {"trailing", "5 bytes"});
}

TEST(IdxHardening, GzipBadCrc) {
  TempDir tmp;
  Bytes file = gzip_bytes(idx_bytes({3, 3}, Bytes(9, 5)));
  file[file.size() - 8] ^= 0x01;  // first byte of the CRC-32 in the trailer
  write_file(tmp.file("crc.gz"), file);
  expect_idx_error(tmp.file("crc.gz"), {"CRC", "corrupt"});
}

TEST(IdxHardening, GzipBadLength) {
  TempDir tmp;
  Bytes file = gzip_bytes(idx_bytes({3, 3}, Bytes(9, 5)));
  file[file.size() - 4] ^= 0x01;  // first byte of ISIZE in the trailer
  write_file(tmp.file("isize.gz"), file);
  expect_idx_error(tmp.file("isize.gz"), {"corrupt", "length"});
}

TEST(IdxHardening, GzipTruncatedStream) {
  std::mt19937 rng(4);
  TempDir tmp;
  Bytes file = gzip_bytes(idx_bytes({10, 10}, random_bytes(100, rng)));
  // Cut inside the trailer, and inside the compressed data.
  for (std::size_t cut : {std::size_t{3}, file.size() / 2}) {
    write_file(tmp.file("cut.gz"), Bytes(file.begin(), file.end() - static_cast<std::ptrdiff_t>(cut)));
    expect_idx_error(tmp.file("cut.gz"), {"truncated"});
  }
}

TEST(IdxHardening, GzipCorruptDeflateData) {
  TempDir tmp;
  Bytes file = gzip_bytes(idx_bytes({4, 4}, Bytes(16, 1)));
  file[10] = 0xFF;  // first byte of the deflate stream: block type 3 is invalid
  write_file(tmp.file("corrupt.gz"), file);
  expect_idx_error(tmp.file("corrupt.gz"), {"corrupt gzip data"});
}

TEST(IdxHardening, GzipDataShorterThanHeaderPromises) {
  TempDir tmp;
  write_file(tmp.file("short.gz"), gzip_bytes(idx_bytes({10, 28, 28}, Bytes(1200, 3))));
  expect_idx_error(tmp.file("short.gz"), {"truncated", "7840", "1200"});
}

// A small gzip that inflates to far more than its header promises (a "bomb")
// is refused without inflating it all.
TEST(IdxHardening, GzipInflatesPastThePromise) {
  TempDir tmp;
  const Bytes bomb = gzip_bytes(idx_bytes({1, 10}, Bytes(std::size_t{16} << 20, 0)));
  ASSERT_LT(bomb.size(), 50000u);
  write_file(tmp.file("bomb.gz"), bomb);
  expect_idx_error(tmp.file("bomb.gz"), {"trailing", "more than"});
  write_file(tmp.file("extra.gz"), gzip_bytes(idx_bytes({1, 10}, Bytes(13, 0))));
  expect_idx_error(tmp.file("extra.gz"), {"trailing", "3 bytes"});
}

TEST(IdxHardening, GzipPromisesMoreThanTheLimit) {
  TempDir tmp;
  write_file(tmp.file("limit.gz"), gzip_bytes(idx_bytes({65536, 65536, 2}, Bytes(100, 0))));
  expect_idx_error(tmp.file("limit.gz"), {"1 GiB"});
}

TEST(IdxHardening, GzipFollowedByGarbage) {
  TempDir tmp;
  Bytes file = gzip_bytes(idx_bytes({2}, {1, 2}));
  file.insert(file.end(), {'j', 'u', 'n', 'k'});
  write_file(tmp.file("junk.gz"), file);
  expect_idx_error(tmp.file("junk.gz"), {"trailing", "4 bytes"});
}

TEST(IdxHardening, GzipOfNothing) {
  TempDir tmp;
  write_file(tmp.file("nothing.gz"), gzip_bytes({}));
  expect_idx_error(tmp.file("nothing.gz"), {"empty"});
}

TEST(IdxHardening, GzipOfSomethingNotIdx) {
  TempDir tmp;
  const std::string text = "just some text";
  write_file(tmp.file("text.gz"), gzip_bytes(Bytes(text.begin(), text.end())));
  expect_idx_error(tmp.file("text.gz"), {"not an IDX file", "magic"});
}

// When a damaged stream also yields a strange header, the damage is what is reported.
TEST(IdxHardening, GzipCorruptionIsReportedBeforeAStrangeHeader) {
  TempDir tmp;
  const std::string text = "not IDX at all";
  Bytes file = gzip_bytes(Bytes(text.begin(), text.end()));
  file[file.size() - 8] ^= 0x01;
  write_file(tmp.file("both.gz"), file);
  expect_idx_error(tmp.file("both.gz"), {"CRC"});
}

TEST(IdxHardening, GzipHeaderAlone) {
  TempDir tmp;
  write_file(tmp.file("two.gz"), {0x1f, 0x8b});
  expect_idx_error(tmp.file("two.gz"), {"truncated"});
}

// --- the dataset loader's own checks ----------------------------------------------

// Writes the two files of a split, raw or gzip.
void write_split(const TempDir& dir, const std::string& prefix, const IdxArray& images, const IdxArray& labels,
                 bool gzip = true) {
  const std::string ext = gzip ? ".gz" : "";
  write_idx(dir.file(prefix + "-images-idx3-ubyte" + ext), images, gzip);
  write_idx(dir.file(prefix + "-labels-idx1-ubyte" + ext), labels, gzip);
}

std::string load_error(const std::string& dir) {
  return error_of<IdxError>([&] { load_fashion_mnist(dir, Split::test); });
}

TEST(MnistLoader, ReadsTrainSplitAndScalesPixels) {
  TempDir tmp;
  write_split(tmp, "train", IdxArray{{2, 1, 3}, {0, 51, 255, 1, 2, 3}}, IdxArray{{2}, {4, 0}}, /*gzip=*/false);
  const Dataset data = load_fashion_mnist(tmp.str(), Split::train);
  EXPECT_EQ(data.size, 2);
  EXPECT_EQ(data.rows, 1);
  EXPECT_EQ(data.cols, 3);
  EXPECT_EQ(data.images[0], 0.0f);
  EXPECT_EQ(data.images[1], 0.2f);
  EXPECT_EQ(data.images[2], 1.0f);
  EXPECT_EQ(data.labels, (std::vector<std::int32_t>{4, 0}));
}

TEST(MnistLoader, PrefersTheUncompressedFileWhenBothExist) {
  TempDir tmp;
  write_split(tmp, "t10k", IdxArray{{1, 1, 1}, {0}}, IdxArray{{1}, {1}}, /*gzip=*/false);
  write_split(tmp, "t10k", IdxArray{{1, 1, 1}, {0}}, IdxArray{{1}, {2}}, /*gzip=*/true);
  EXPECT_EQ(load_fashion_mnist(tmp.str(), Split::test).labels[0], 1);
}

TEST(MnistLoader, MissingFolder) {
  TempDir tmp;
  const std::string dir = tmp.file("no-such-folder");
  const std::string message = load_error(dir);
  EXPECT_NE(message.find(dir), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST(MnistLoader, MissingFilesNameBothCandidates) {
  TempDir tmp;
  const std::string message = load_error(tmp.str());
  EXPECT_NE(message.find(tmp.file("t10k-images-idx3-ubyte") + " "), std::string::npos) << message;
  EXPECT_NE(message.find(tmp.file("t10k-images-idx3-ubyte.gz")), std::string::npos) << message;
  // The committed slice has no training files.
  const std::string train = error_of<IdxError>([] { load_fashion_mnist(kSliceDir, Split::train); });
  EXPECT_NE(train.find("train-images-idx3-ubyte.gz"), std::string::npos) << train;
}

TEST(MnistLoader, ImagesMustBeThreeDimensional) {
  TempDir tmp;
  write_split(tmp, "t10k", IdxArray{{4}, {1, 2, 3, 4}}, IdxArray{{4}, {0, 1, 2, 3}});
  const std::string message = load_error(tmp.str());
  EXPECT_NE(message.find("t10k-images-idx3-ubyte.gz"), std::string::npos) << message;
  EXPECT_NE(message.find("3 dimensions"), std::string::npos) << message;
}

TEST(MnistLoader, LabelsMustBeOneDimensional) {
  TempDir tmp;
  write_split(tmp, "t10k", IdxArray{{2, 1, 1}, {1, 2}}, IdxArray{{2, 1}, {0, 1}});
  const std::string message = load_error(tmp.str());
  EXPECT_NE(message.find("t10k-labels-idx1-ubyte.gz"), std::string::npos) << message;
  EXPECT_NE(message.find("1 dimension"), std::string::npos) << message;
}

TEST(MnistLoader, CountsMustMatch) {
  TempDir tmp;
  write_split(tmp, "t10k", IdxArray{{5, 1, 1}, {1, 2, 3, 4, 5}}, IdxArray{{4}, {0, 1, 2, 3}});
  const std::string message = load_error(tmp.str());
  for (const std::string word : {"count", "5", "4", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"})
    EXPECT_NE(message.find(word), std::string::npos) << "missing \"" << word << "\" in: " << message;
}

TEST(MnistLoader, LabelsMustBeBelowTen) {
  TempDir tmp;
  write_split(tmp, "t10k", IdxArray{{5, 1, 1}, {1, 2, 3, 4, 5}}, IdxArray{{5}, {0, 1, 2, 10, 3}});
  const std::string message = load_error(tmp.str());
  for (const std::string word : {"t10k-labels-idx1-ubyte.gz", "index 3", "is 10"})
    EXPECT_NE(message.find(word), std::string::npos) << "missing \"" << word << "\" in: " << message;
}

TEST(MnistLoader, EmptyDatasetIsRejected) {
  TempDir tmp;
  write_split(tmp, "t10k", IdxArray{{0, 28, 28}, {}}, IdxArray{{0}, {}});
  const std::string message = load_error(tmp.str());
  EXPECT_NE(message.find("t10k-images-idx3-ubyte.gz"), std::string::npos) << message;
  EXPECT_NE(message.find("empty"), std::string::npos) << message;
}

TEST(MnistLoader, BadFileInsideTheFolderNamesThatFile) {
  TempDir tmp;
  write_split(tmp, "t10k", IdxArray{{2, 1, 1}, {1, 2}}, IdxArray{{2}, {0, 1}});
  write_file(tmp.file("t10k-labels-idx1-ubyte.gz"), {0x1f, 0x8b, 8, 0});
  const std::string message = load_error(tmp.str());
  EXPECT_EQ(message.rfind(tmp.file("t10k-labels-idx1-ubyte.gz"), 0), 0u) << message;
}

TEST(MnistLoader, RequireImageShape) {
  Dataset data;
  data.rows = 32;
  data.cols = 32;
  EXPECT_NO_THROW(require_image_shape(data, 32, 32));
  const std::string message = error_of<std::invalid_argument>([&] { require_image_shape(data, 28, 28); });
  EXPECT_EQ(message, "images are 32x32 but the model expects 28x28");
}

TEST(MnistLoader, RequireImageShapeNamesTheFileItWasReadFrom) {
  TempDir tmp;
  write_split(tmp, "t10k", IdxArray{{2, 32, 32}, Bytes(2 * 32 * 32, 7)}, IdxArray{{2}, {0, 1}});
  const Dataset data = load_fashion_mnist(tmp.str(), Split::test);
  EXPECT_EQ(data.source, tmp.file("t10k-images-idx3-ubyte.gz"));
  const std::string message = error_of<std::invalid_argument>([&] { require_image_shape(data, 28, 28); });
  EXPECT_EQ(message, tmp.file("t10k-images-idx3-ubyte.gz") + ": images are 32x32 but the model expects 28x28");
}

// --- garbage in must only ever give IdxError ------------------------------------

// parse_idx must return or throw IdxError: anything else (a crash, a sanitizer
// report, std::bad_alloc from a trusted size) is a bug.
void expect_only_idx_errors(const Bytes& input, int& parsed, int& rejected) {
  try {
    const IdxArray array = parse_idx(input.data(), input.size(), "fuzz");
    std::uint64_t count = 1;
    for (auto d : array.dims) count *= d;
    EXPECT_EQ(count, array.values.size());
    ++parsed;
  } catch (const IdxError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("fuzz: ", 0), 0u) << e.what();
    ++rejected;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "parse_idx threw something other than IdxError: " << e.what();
  }
}

TEST(IdxFuzz, RandomBuffers) {
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<int> length(0, 80), mode(0, 3);
  int parsed = 0, rejected = 0;
  for (int i = 0; i < 5000; ++i) {
    Bytes input = random_bytes(static_cast<std::size_t>(length(rng)), rng);
    // Give most buffers a plausible start so they get past the first check.
    switch (mode(rng)) {
      case 0: break;
      case 1:
        if (input.size() >= 4) {
          input[0] = input[1] = 0;
          input[2] = 8;
          input[3] = static_cast<std::uint8_t>(input[3] % 6);
        }
        break;
      case 2:
        if (input.size() >= 2) {
          input[0] = 0x1f;
          input[1] = 0x8b;
        }
        break;
      case 3:
        if (input.size() >= 4) {
          input[0] = 0x1f;
          input[1] = 0x8b;
          input[2] = 8;
          input[3] = 0;
        }
        break;
    }
    expect_only_idx_errors(input, parsed, rejected);
  }
  EXPECT_EQ(parsed + rejected, 5000);
  EXPECT_GT(rejected, 4000);
}

TEST(IdxFuzz, MutatedValidFiles) {
  std::mt19937 rng(77);
  Bytes payload = random_bytes(3 * 8 * 8, rng);
  std::fill(payload.begin(), payload.begin() + 100, 0);  // some runs for the compressor
  const Bytes raw = idx_bytes({3, 8, 8}, payload);
  const Bytes gz = gzip_bytes(raw);
  std::uniform_int_distribution<int> op(0, 4), small(1, 8);
  int parsed = 0, rejected = 0;
  for (int i = 0; i < 6000; ++i) {
    Bytes input = i % 3 == 0 ? raw : gz;
    std::uniform_int_distribution<std::size_t> pos(0, input.size() - 1);
    const int edits = small(rng);
    for (int e = 0; e < edits && !input.empty(); ++e) {
      pos = std::uniform_int_distribution<std::size_t>(0, input.size() - 1);
      switch (op(rng)) {
        case 0: input[pos(rng)] ^= static_cast<std::uint8_t>(1u << (rng() % 8)); break;
        case 1: input[pos(rng)] = static_cast<std::uint8_t>(rng()); break;
        case 2: input.resize(pos(rng)); break;
        case 3:
          input.insert(input.begin() + static_cast<std::ptrdiff_t>(pos(rng)), static_cast<std::uint8_t>(rng()));
          break;
        case 4: {  // a header field set to something large
          const std::size_t at = pos(rng);
          for (std::size_t k = at; k < std::min(input.size(), at + 4); ++k) input[k] = 0xFF;
          break;
        }
      }
    }
    expect_only_idx_errors(input, parsed, rejected);
  }
  EXPECT_EQ(parsed + rejected, 6000);
  EXPECT_GT(rejected, 5000);
}

}  // namespace
