// Checkpoints: the documented byte layout, round trips, atomic writes, and every way a
// file can be wrong (another architecture, a newer version, truncated, corrupted, missing),
// each a clear error that leaves the model untouched.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>
#include <zlib.h>

#include "../support/lenet5.hpp"
#include "hnn/io/checkpoint.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;
namespace fs = std::filesystem;

namespace {

// A fresh folder per test, removed afterwards.
class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hnn-ckpt-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
std::uint32_t le32(const std::vector<unsigned char>& b, std::size_t at) {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (static_cast<std::uint32_t>(b[at + 3]) << 24);
}
void put_le32(std::vector<unsigned char>& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<unsigned char>(v >> (8 * i));
}
// Rewrites the trailing CRC so that a deliberately edited file passes the CRC check.
void fix_crc(std::vector<unsigned char>& b) {
  put_le32(b, b.size() - 4, static_cast<std::uint32_t>(::crc32(0L, b.data(), static_cast<uInt>(b.size() - 4))));
}

using hnn::testing::parameter_values;

// Expects `f` to throw a CheckpointError whose message names `file` and contains `words`.
template <class F>
void expect_error(F&& f, const std::string& file, const std::string& words) {
  try {
    f();
    ADD_FAILURE() << "expected a CheckpointError containing '" << words << "'";
  } catch (const CheckpointError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(file), std::string::npos) << what;
    EXPECT_NE(what.find(words), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
  }
}

}  // namespace

TEST_F(CheckpointTest, RoundTripRestoresEveryParameterBitForBit) {
  auto saved = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 1);
  auto loaded = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 2);
  ASSERT_NE(parameter_values(saved), parameter_values(loaded));
  save(saved, path("m.hnn"));
  const CheckpointExtras extras = load(loaded, path("m.hnn"));
  EXPECT_EQ(parameter_values(saved), parameter_values(loaded));
  EXPECT_FALSE(extras.training.has_value());
  EXPECT_TRUE(extras.metadata.empty());
}

TEST_F(CheckpointTest, LoadModelBuildsTheArchitectureRecordedInTheFile) {
  for (auto variant : {lenet::Variant::sigmoid, lenet::Variant::relu}) {
    auto saved = lenet::lenet5<float, cpu>(variant, 5);
    save(saved, path("m.hnn"), CheckpointExtras{std::nullopt, {{"variant", lenet::name(variant)}}});
    CheckpointExtras extras;
    auto built = load_model<float, cpu>(path("m.hnn"), &extras);
    EXPECT_EQ(built.describe_all(), saved.describe_all());
    EXPECT_EQ(parameter_values(built), parameter_values(saved));
    EXPECT_EQ(extras.metadata.at("variant"), lenet::name(variant));
  }
}

TEST_F(CheckpointTest, DoubleModelsAreStoredAsFloat32) {
  auto saved = lenet::lenet5<double, cpu>(lenet::Variant::relu, 3);
  save(saved, path("d.hnn"));
  auto as_float = load_model<float, cpu>(path("d.hnn"));
  auto as_double = lenet::lenet5<double, cpu>(lenet::Variant::relu, 4);
  load(as_double, path("d.hnn"));
  for (std::size_t i = 0; i < saved.parameters().size(); ++i) {
    const auto d = saved.parameters()[i].value->to_vector();
    const auto f = as_float.parameters()[i].value->to_vector();
    const auto back = as_double.parameters()[i].value->to_vector();
    for (std::size_t k = 0; k < d.size(); ++k) {
      EXPECT_EQ(f[k], static_cast<float>(d[k]));
      EXPECT_EQ(back[k], static_cast<double>(static_cast<float>(d[k])));
    }
  }
}

TEST_F(CheckpointTest, ByteLayoutIsTheDocumentedOne) {
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 0);
  save(model, path("m.hnn"), CheckpointExtras{std::nullopt, {{"k", "v"}}});
  const auto b = read_bytes(path("m.hnn"));
  ASSERT_GT(b.size(), 61706u * 4);
  EXPECT_EQ(std::memcmp(b.data(), "HNNCKPT\0", 8), 0);
  EXPECT_EQ(le32(b, 8), checkpoint_format_version);
  EXPECT_EQ(le32(b, 12), b.size());  // u64 file size, low half
  EXPECT_EQ(le32(b, 16), 0u);        // ... high half
  EXPECT_EQ(le32(b, b.size() - 4), static_cast<std::uint32_t>(::crc32(0L, b.data(), static_cast<uInt>(b.size() - 4))));
  // The architecture: 12 layers, the first "Conv2d" with sizes (1, 6, 5, 2, 1, 1): the last is
  // its bias flag (files of the previous release record the first five).
  std::size_t at = 20;
  EXPECT_EQ(le32(b, at), 12u);
  at += 4;
  ASSERT_EQ(le32(b, at), 6u);
  EXPECT_EQ(std::string(b.begin() + static_cast<long>(at) + 4, b.begin() + static_cast<long>(at) + 10), "Conv2d");
  at += 10;
  EXPECT_EQ(le32(b, at), 6u);
  EXPECT_EQ(le32(b, at + 4), 1u);   // in_channels, i64 low half
  EXPECT_EQ(le32(b, at + 12), 6u);  // out_channels
  // The first parameter's first value, found after its name "0.weight" and shape (6, 1, 5, 5).
  const std::string name = "0.weight";
  const auto it = std::search(b.begin(), b.end(), name.begin(), name.end());
  ASSERT_NE(it, b.end());
  std::size_t p = static_cast<std::size_t>(it - b.begin()) + name.size();
  EXPECT_EQ(le32(b, p), 4u);  // rank
  p += 4 + 4 * 8;
  float first;
  const std::uint32_t bits = le32(b, p);
  std::memcpy(&first, &bits, 4);
  EXPECT_EQ(first, model.parameters()[0].value->to_vector()[0]);
}

TEST_F(CheckpointTest, AnotherArchitectureIsRefusedAndTheModelIsUntouched) {
  save(lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 1), path("sigmoid.hnn"));
  auto relu = lenet::lenet5<float, cpu>(lenet::Variant::relu, 2);
  const auto before = parameter_values(relu);
  expect_error([&] { load(relu, path("sigmoid.hnn")); }, path("sigmoid.hnn"),
               "at layer 1: the file has Sigmoid(), the model has ReLU()");
  EXPECT_EQ(parameter_values(relu), before);

  Sequential<float, cpu> small(Flatten(), Linear(784, 10));
  const auto small_before = parameter_values(small);
  expect_error([&] { load(small, path("sigmoid.hnn")); }, path("sigmoid.hnn"), "the file has Conv2d(1, 6");
  EXPECT_EQ(parameter_values(small), small_before);
}

TEST_F(CheckpointTest, ANewerFormatVersionIsRefused) {
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 1);
  save(model, path("m.hnn"));
  auto b = read_bytes(path("m.hnn"));
  put_le32(b, 8, checkpoint_format_version + 1);
  fix_crc(b);
  write_bytes(path("new.hnn"), b);
  auto target = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 2);
  const auto before = parameter_values(target);
  expect_error([&] { load(target, path("new.hnn")); }, path("new.hnn"),
               "written by a newer hnn: checkpoint format version " + std::to_string(checkpoint_format_version + 1) +
                   ", this build reads versions up to " + std::to_string(checkpoint_format_version));
  EXPECT_EQ(parameter_values(target), before);
}

TEST_F(CheckpointTest, TruncatedFilesAreRefused) {
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 1);
  save(model, path("m.hnn"));
  const auto b = read_bytes(path("m.hnn"));
  auto target = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 2);
  const auto before = parameter_values(target);
  for (std::size_t keep : {std::size_t{0}, std::size_t{5}, std::size_t{20}, std::size_t{23}, b.size() / 2, b.size() - 1}) {
    write_bytes(path("cut.hnn"), std::vector<unsigned char>(b.begin(), b.begin() + static_cast<long>(keep)));
    expect_error([&] { load(target, path("cut.hnn")); }, path("cut.hnn"), "truncated");
  }
  EXPECT_EQ(parameter_values(target), before);
}

TEST_F(CheckpointTest, CorruptedBytesAreCaughtByTheCrcOrTheHeaderChecks) {
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 1);
  save(model, path("m.hnn"));
  const auto b = read_bytes(path("m.hnn"));
  auto target = lenet::lenet5<float, cpu>(lenet::Variant::relu, 2);
  const auto before = parameter_values(target);

  auto flipped = b;
  flipped[b.size() / 2] ^= 0x10;  // inside the parameters
  write_bytes(path("bad.hnn"), flipped);
  expect_error([&] { load(target, path("bad.hnn")); }, path("bad.hnn"), "corrupted checkpoint: the CRC-32");

  // Any single flipped bit anywhere, header and trailer included, is an error, never a crash.
  for (std::size_t at = 0; at < b.size(); at += at < 64 ? 1 : 4099) {
    auto one = b;
    one[at] ^= 0x01;
    write_bytes(path("bad.hnn"), one);
    EXPECT_THROW(load(target, path("bad.hnn")), CheckpointError) << "byte " << at;
  }
  auto longer = b;
  longer.push_back(0);
  write_bytes(path("long.hnn"), longer);
  expect_error([&] { load(target, path("long.hnn")); }, path("long.hnn"), "extra bytes");
  EXPECT_EQ(parameter_values(target), before);
}

TEST_F(CheckpointTest, AMalformedRecordWithAValidCrcIsRefused) {
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 1);
  save(model, path("m.hnn"));
  auto b = read_bytes(path("m.hnn"));
  put_le32(b, 20, 0xFFFFFFFFu);  // the layer count
  fix_crc(b);
  write_bytes(path("bad.hnn"), b);
  expect_error([&] { read_checkpoint(path("bad.hnn")); }, path("bad.hnn"), "malformed checkpoint");
}

TEST_F(CheckpointTest, MissingAndForeignFilesAreNamed) {
  auto model = lenet::lenet5<float, cpu>();
  expect_error([&] { load(model, path("nowhere.hnn")); }, path("nowhere.hnn"), "cannot open the checkpoint");
  std::ofstream(path("text.hnn")) << "hello, this is not a checkpoint\n";
  expect_error([&] { load(model, path("text.hnn")); }, path("text.hnn"), "not an hnn checkpoint");
}

TEST_F(CheckpointTest, WritesAreAtomicAndLeaveNoTemporaryFiles) {
  auto a = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 1);
  auto b = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 2);
  save(a, path("m.hnn"));
  save(b, path("m.hnn"));  // replaces the first
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"m.hnn"});
  auto c = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 3);
  load(c, path("m.hnn"));
  EXPECT_EQ(parameter_values(c), parameter_values(b));

  // A destination that cannot be replaced (a folder): an error, and nothing left behind.
  fs::create_directories(path("folder.hnn"));
  fs::create_directories(path("folder.hnn/inside"));
  EXPECT_THROW(save(a, path("folder.hnn")), CheckpointError);
  names.clear();
  for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"folder.hnn", "m.hnn"}));
  // A folder that does not exist.
  expect_error([&] { save(a, path("no/such/folder/m.hnn")); }, path("no/such/folder/m.hnn"),
               "cannot create the temporary file");
}

TEST_F(CheckpointTest, TrainingStateAndMetadataRoundTrip) {
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 1);
  CheckpointExtras extras;
  TrainingState s;
  s.epoch = 7;
  s.shuffle_state = 0xDEADBEEFCAFEF00DULL;
  s.order = {3, 0, 2, 1};
  for (const auto& p : model.parameters()) {
    Tensor<float, cpu> m(p.value->shape());
    for (std::int64_t i = 0; i < m.numel(); ++i) m[i] = static_cast<float>(i) * 0.5f - 3;
    s.optimizer.buffers.push_back(m);
  }
  s.optimizer.name = "adamw";
  s.optimizer.step = 1234567890123LL;
  s.schedule.name = "OneCycleLR";
  s.schedule.steps = 98765;
  extras.training = s;
  extras.metadata = {{"variant", "relu"}, {"history", "epoch,train_loss\n1,2.0\n"}, {"empty", ""}};
  save(model, path("m.hnn"), extras);
  const Checkpoint c = read_checkpoint(path("m.hnn"));
  ASSERT_TRUE(c.extras.training.has_value());
  EXPECT_EQ(c.extras.training->epoch, 7);
  EXPECT_EQ(c.extras.training->shuffle_state, s.shuffle_state);
  EXPECT_EQ(c.extras.training->order, s.order);
  EXPECT_EQ(c.version, 3u);
  EXPECT_EQ(c.extras.training->optimizer.name, "adamw");
  EXPECT_EQ(c.extras.training->optimizer.step, 1234567890123LL);
  ASSERT_EQ(c.extras.training->optimizer.buffers.size(), s.optimizer.buffers.size());
  for (std::size_t i = 0; i < s.optimizer.buffers.size(); ++i)
    EXPECT_EQ(c.extras.training->optimizer.buffers[i].to_vector(), s.optimizer.buffers[i].to_vector());
  EXPECT_EQ(c.extras.training->schedule.name, "OneCycleLR");
  EXPECT_EQ(c.extras.training->schedule.steps, 98765);
  EXPECT_EQ(c.extras.metadata, extras.metadata);
  EXPECT_EQ(c.parameter_names.front(), "0.weight");
  EXPECT_EQ(c.parameter_names.back(), "11.bias");
}

// A file written by the release before the layer registry (commit 69385f8; how:
// tests/fixtures/make_checkpoint_v1.cpp) still loads, with its architecture, parameters,
// training state and metadata, and the model computes what it computed then.
TEST(CheckpointCompatibility, AFileOfThePreviousReleaseLoads) {
  const std::string path = std::string(HNN_SOURCE_DIR) + "/tests/fixtures/checkpoint_v1_small.hnn";
  CheckpointExtras extras;
  auto net = load_model<float, cpu>(path, &extras);
  EXPECT_EQ(net.describe_all(),
            "Conv2d(1, 2, kernel=3, padding=1, stride=1) -> ReLU() -> MaxPool2d(kernel=2, stride=2) -> "
            "Conv2d(2, 3, kernel=3, padding=0, stride=2) -> Sigmoid() -> AvgPool2d(kernel=2, stride=1) -> Flatten() -> "
            "Linear(3, 4)");
  EXPECT_EQ(extras.metadata.at("program"), "make_v1");
  ASSERT_TRUE(extras.training.has_value());
  EXPECT_EQ(extras.training->epoch, 2);
  EXPECT_EQ(extras.training->shuffle_state, 12345u);
  EXPECT_EQ(extras.training->order, (std::vector<std::int32_t>{3, 1, 0, 2}));
  // Version 1 held SGD momentum buffers only: they read as SGD's state at step 0.
  EXPECT_EQ(extras.training->optimizer.name, "sgd");
  EXPECT_EQ(extras.training->optimizer.step, 0);
  ASSERT_EQ(extras.training->optimizer.buffers.size(), net.parameters().size());
  EXPECT_FLOAT_EQ(extras.training->optimizer.buffers[0][3], 0.03f);

  Tensor<float, cpu> x(Shape{2, 1, 12, 12});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 101.0f;
  const float then[] = {-0.147878736f, 0.75088948f,  -1.53216565f, 0.225281581f,
                        -0.138270512f, 0.749774098f, -1.54749739f, 0.22474055f};
  const Tensor<float, cpu>& y = net.forward(x);
  ASSERT_EQ(y.numel(), 8);
  for (std::int64_t i = 0; i < 8; ++i) EXPECT_NEAR(y[i], then[i], 1e-5) << "logit " << i;

  // The same file loads into a model the caller describes with today's API.
  Sequential<float, cpu> described(Conv2d(1, 2, 3).padding(1), ReLU(), MaxPool2d(2), Conv2d(2, 3, 3).stride(2),
                                   Sigmoid(), AvgPool2d(2, 1), Flatten(), Linear(3, 4));
  load(described, path);
  const Tensor<float, cpu>& y2 = described.forward(x);
  for (std::int64_t i = 0; i < 8; ++i) EXPECT_EQ(y2[i], y[i]) << "logit " << i;
}
