// safetensors (hnn/safetensors.hpp): round trips for float and double models, F16/BF16
// against hand-computed values, matching by name whatever the file's order, rebuilding a
// model from hnn.architecture, a file PyTorch wrote (tests/fixtures), and every way a file
// can be wrong, each a one-line SafetensorsError starting with the path that leaves the
// model untouched.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

#include "../support/lenet5.hpp"
#include "hnn/data/mnist.hpp"
#include "hnn/safetensors.hpp"

using namespace hnn;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<unsigned char>;

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hnn-st-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A file: the 8-byte little-endian length of `header`, `header`, then `data`.
Bytes file_of(const std::string& header, const Bytes& data, std::uint64_t length) {
  Bytes b;
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<unsigned char>(length >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}
Bytes file_of(const std::string& header, const Bytes& data) { return file_of(header, data, header.size()); }

Bytes f32s(const std::vector<float>& values) {
  Bytes b;
  for (float v : values) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<unsigned char>(bits >> (8 * i)));
  }
  return b;
}
Bytes u16s(const std::vector<std::uint16_t>& values) {
  Bytes b;
  for (std::uint16_t v : values) b.push_back(static_cast<unsigned char>(v)), b.push_back(static_cast<unsigned char>(v >> 8));
  return b;
}
Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The small model most tests load into: 0.weight (2, 3), 0.bias (2).
Sequential<float, cpu> small_model() { return Sequential<float, cpu>(Linear(3, 2)); }
const Bytes weight_bytes = f32s({1, 2, 3, 4, 5, 6});
const Bytes bias_bytes = f32s({-1, 0.5f});
const std::string weight_entry = R"("0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]})";
const std::string bias_entry = R"("0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]})";
// A valid file for small_model().
Bytes good_file() { return file_of("{" + weight_entry + ", " + bias_entry + "}", weight_bytes + bias_bytes); }

std::vector<float> flat_parameter_values(const Sequential<float, cpu>& model) {
  std::vector<float> v;
  for (const auto& p : model.parameters())
    for (std::int64_t i = 0; i < p.value->numel(); ++i) v.push_back((*p.value)[i]);
  return v;
}

// Writes `bytes`, loads them into small_model(), and checks the refusal: a SafetensorsError,
// one line, "<path>: ..." containing `expected`, and the model exactly as it was.
void expect_refused(const std::string& path, const Bytes& bytes, const std::string& expected) {
  write_bytes(path, bytes);
  auto model = small_model();
  const std::vector<float> before = flat_parameter_values(model);
  try {
    load_safetensors(model, path);
    ADD_FAILURE() << "accepted a bad file; expected an error containing: " << expected;
  } catch (const SafetensorsError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << "message: " << message << "\nexpected: " << expected;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(e.path(), path);
  }
  EXPECT_EQ(flat_parameter_values(model), before) << "the model was changed by a refused file";
}

}  // namespace

// --- good files ---------------------------------------------------------------------------

TEST_F(Safetensors, GoodFileLoads) {
  write_bytes(path("m.safetensors"), good_file());
  auto model = small_model();
  EXPECT_TRUE(load_safetensors(model, path("m.safetensors")).empty());
  EXPECT_EQ(flat_parameter_values(model), (std::vector<float>{1, 2, 3, 4, 5, 6, -1, 0.5f}));
}

TEST_F(Safetensors, MatchesByNameWhateverTheOrder) {
  // The bias comes first in the data section and in the JSON text.
  const std::string header = R"({"0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                             R"( "0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [8, 32]}})";
  write_bytes(path("m.safetensors"), file_of(header, bias_bytes + weight_bytes));
  auto model = small_model();
  load_safetensors(model, path("m.safetensors"));
  EXPECT_EQ(flat_parameter_values(model), (std::vector<float>{1, 2, 3, 4, 5, 6, -1, 0.5f}));
  const SafetensorsFile f = read_safetensors(path("m.safetensors"));
  EXPECT_EQ(f.names, (std::vector<std::string>{"0.bias", "0.weight"}));  // by data offset
}

TEST_F(Safetensors, FloatModelRoundTrip) {
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::relu, 1);
  save_safetensors(model, path("m.safetensors"), {{"variant", "relu"}});
  auto other = lenet::lenet5<float, cpu>(lenet::Variant::relu, 2);
  ASSERT_NE(flat_parameter_values(other), flat_parameter_values(model));
  const auto metadata = load_safetensors(other, path("m.safetensors"));
  EXPECT_EQ(flat_parameter_values(other), flat_parameter_values(model));
  EXPECT_EQ(metadata.at("variant"), "relu");
  EXPECT_EQ(metadata.at("hnn.format_version"), "1");
  EXPECT_NE(metadata.at("hnn.architecture").find(R"({"kind":"Conv2d","sizes":[1,6,5,2,1,1])"), std::string::npos)
      << metadata.at("hnn.architecture");

  const SafetensorsFile f = read_safetensors(path("m.safetensors"));
  EXPECT_EQ(f.names, model.parameter_names());
  // No temporary file left behind; the data section starts 8-byte aligned.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
  const Bytes b = read_bytes(path("m.safetensors"));
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(b[static_cast<std::size_t>(i)]) << (8 * i);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(b.size(), 8 + n + 4 * static_cast<std::uint64_t>(model.parameter_count()));
  EXPECT_NE(std::string(b.begin() + 8, b.begin() + 8 + static_cast<std::ptrdiff_t>(n)).find(R"("dtype":"F32")"),
            std::string::npos);
}

TEST_F(Safetensors, BatchNormRunningStatisticsTravelWithTheWeights) {
  using namespace hnn;
  Sequential<float, cpu> model(Conv2d(1, 2, 3).bias(false), BatchNorm2d(2), ReLU(), Flatten(), Linear(8, 3));
  Rng rng(3);
  Tensor<float, cpu> x(Shape{4, 1, 4, 4});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(rng.uniform(-1, 1));
  for (int i = 0; i < 3; ++i) model.forward(x);  // training mode: the running statistics move
  model.eval();
  const std::vector<float> expected = model.forward(x).to_vector();
  save_safetensors(model, path("bn.safetensors"));
  EXPECT_EQ(read_safetensors(path("bn.safetensors")).names,
            (std::vector<std::string>{"0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var", "4.weight",
                                      "4.bias"}));
  auto loaded = load_model_safetensors<float, cpu>(path("bn.safetensors"));
  loaded.eval();
  EXPECT_EQ(loaded.forward(x).to_vector(), expected);  // eval mode reads the running statistics
}

TEST_F(Safetensors, DoubleModelRoundTripIsExact) {
  Sequential<double, cpu> model(Linear(3, 2));
  Tensor<double, cpu> w = Tensor<double, cpu>::from_vector(Shape{2, 3}, {0.1, 1.0 / 3, -2.0 / 7, 1e-300, 3.0, 0.7});
  model.parameters()[0].value->copy_from(w);
  save_safetensors(model, path("d.safetensors"));
  const Bytes b = read_bytes(path("d.safetensors"));
  EXPECT_NE(std::string(b.begin(), b.end()).find(R"("dtype":"F64")"), std::string::npos);

  Sequential<double, cpu> other(std::vector<LayerSpec>{Linear(3, 2)}, 5);
  load_safetensors(other, path("d.safetensors"));
  for (std::int64_t i = 0; i < 6; ++i) EXPECT_EQ((*other.parameters()[0].value)[i], w[i]) << i;  // bit for bit
  // As float: rounded.
  const SafetensorsFile f = read_safetensors(path("d.safetensors"));
  EXPECT_EQ(f.tensors[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(f.tensors[0][0], 0.1f);
  // And a float file into a double model.
  write_bytes(path("f.safetensors"), good_file());
  load_safetensors(other, path("f.safetensors"));
  EXPECT_EQ((*other.parameters()[1].value)[1], 0.5);
}

TEST_F(Safetensors, HalfAndBfloat16AgainstHandComputedValues) {
  // F16: 1, -2, 0.333251953125 (0x3555), 65504 (max), 2^-24 (smallest subnormal),
  // (1023/1024) 2^-14 (largest subnormal), 2^-14 (smallest normal), -0, +inf.
  const std::vector<std::uint16_t> half = {0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00};
  // BF16: 1, -3, 3.140625 (0x4049), 2^-133 (a float subnormal), 65280 (0x477f).
  const std::vector<std::uint16_t> bf16 = {0x3f80, 0xc040, 0x4049, 0x0001, 0x477f};
  const std::string header = R"({"h": {"dtype": "F16", "shape": [9], "data_offsets": [0, 18]},)"
                             R"( "b": {"dtype": "BF16", "shape": [5], "data_offsets": [18, 28]}})";
  write_bytes(path("h.safetensors"), file_of(header, u16s(half) + u16s(bf16)));
  const SafetensorsFile f = read_safetensors(path("h.safetensors"));
  ASSERT_EQ(f.names, (std::vector<std::string>{"h", "b"}));
  const auto& h = f.tensors[0];
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], 0.333251953125f);
  EXPECT_EQ(h[3], 65504.0f);
  EXPECT_EQ(h[4], std::ldexp(1.0f, -24));
  EXPECT_EQ(h[5], std::ldexp(1023.0f, -24));
  EXPECT_EQ(h[6], std::ldexp(1.0f, -14));
  EXPECT_EQ(h[7], 0.0f);
  EXPECT_TRUE(std::signbit(h[7]));
  EXPECT_EQ(h[8], std::numeric_limits<float>::infinity());
  const auto& b = f.tensors[1];
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -3.0f);
  EXPECT_EQ(b[2], 3.140625f);
  EXPECT_EQ(b[3], std::ldexp(1.0f, -133));
  EXPECT_EQ(b[4], 65280.0f);
  // Into a double model's reader too.
  const auto d = read_safetensors_as<double>(path("h.safetensors"));
  EXPECT_EQ(d.tensors[0][2], 0.333251953125);
}

TEST_F(Safetensors, LoadModelRebuildsTheArchitecture) {
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid, 3);
  save_safetensors(model, path("m.safetensors"), {{"note", "hello"}});
  std::map<std::string, std::string> metadata;
  auto built = load_model_safetensors<float>(path("m.safetensors"), &metadata);
  EXPECT_EQ(built.describe_all(), model.describe_all());
  EXPECT_EQ(flat_parameter_values(built), flat_parameter_values(model));
  EXPECT_EQ(metadata.at("note"), "hello");
  const auto x = Tensor<float, cpu>::full(Shape{2, 1, 28, 28}, 0.25f);
  const std::vector<float> a(model.forward(x).data(), model.forward(x).data() + 20);
  const std::vector<float> b(built.forward(x).data(), built.forward(x).data() + 20);
  EXPECT_EQ(a, b);
}

TEST_F(Safetensors, LoadModelRefusesFilesWithoutOrWithBadArchitecture) {
  write_bytes(path("plain.safetensors"), good_file());
  EXPECT_THROW(
      {
        try {
          load_model_safetensors<float>(path("plain.safetensors"));
        } catch (const SafetensorsError& e) {
          EXPECT_NE(std::string(e.what()).find("no hnn.architecture"), std::string::npos) << e.what();
          throw;
        }
      },
      SafetensorsError);
  // An architecture promising a huge layer is refused before anything is allocated for it.
  const std::string header =
      R"({"__metadata__": {"hnn.architecture": "[{\"kind\":\"Linear\",\"sizes\":[3000000000,3000000000],)"
      R"(\"description\":\"Linear(3000000000, 3000000000)\"}]"}, )" +
      weight_entry + ", " + bias_entry + "}";
  write_bytes(path("huge.safetensors"), file_of(header, weight_bytes + bias_bytes));
  try {
    load_model_safetensors<float>(path("huge.safetensors"));
    ADD_FAILURE() << "accepted";
  } catch (const SafetensorsError& e) {
    EXPECT_NE(std::string(e.what()).find("parameter values, the file holds 8"), std::string::npos) << e.what();
  }
  // A kind hnn does not know.
  const std::string unknown = R"({"__metadata__": {"hnn.architecture": "[{\"kind\":\"Dropout3d\",\"sizes\":[],)"
                              R"(\"description\":\"Dropout3d()\"}]"}})";
  write_bytes(path("unknown.safetensors"), file_of(unknown, {}));
  try {
    load_model_safetensors<float>(path("unknown.safetensors"));
    ADD_FAILURE() << "accepted";
  } catch (const SafetensorsError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(path("unknown.safetensors") + ": ", 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find("'Dropout3d' is unknown"), std::string::npos) << e.what();
  }
}

TEST_F(Safetensors, IgnoresPyTorchBatchNormStepCounter) {
  const std::string header = "{" + weight_entry + ", " + bias_entry +
                             R"(, "1.num_batches_tracked": {"dtype": "I64", "shape": [], "data_offsets": [32, 40]}})";
  write_bytes(path("m.safetensors"), file_of(header, weight_bytes + bias_bytes + Bytes(8, 0)));
  auto model = small_model();
  load_safetensors(model, path("m.safetensors"));
  EXPECT_EQ(flat_parameter_values(model), (std::vector<float>{1, 2, 3, 4, 5, 6, -1, 0.5f}));
  // Any other I64 tensor is refused.
  const std::string other = "{" + weight_entry + ", " + bias_entry +
                            R"(, "steps": {"dtype": "I64", "shape": [], "data_offsets": [32, 40]}})";
  expect_refused(path("i64.safetensors"), file_of(other, weight_bytes + bias_bytes + Bytes(8, 0)),
                 "tensor 'steps' has dtype I64, which hnn does not read (it reads F32, F64, F16 and BF16)");
}

TEST_F(Safetensors, SaveRefusesReservedMetadataKeys) {
  auto model = small_model();
  EXPECT_THROW(save_safetensors(model, path("m.safetensors"), {{"hnn.architecture", "x"}}), std::invalid_argument);
  EXPECT_FALSE(fs::exists(path("m.safetensors")));
}

TEST_F(Safetensors, FileWrittenByPyTorchGivesPyTorchsLogits) {
  // tests/interop/pytorch_safetensors.py --write-fixture: LeNet-5 (sigmoid) trained one epoch
  // in PyTorch and saved with safetensors.torch.save_file, and PyTorch's logits for the first
  // test images of data/fashion-mnist.
  const std::string fixtures = std::string(HNN_SOURCE_DIR) + "/tests/fixtures/";
  auto model = lenet::lenet5<float, cpu>(lenet::Variant::sigmoid);
  const auto metadata = load_safetensors(model, fixtures + "lenet5_sigmoid_pytorch.safetensors");
  EXPECT_EQ(metadata.count("hnn.architecture"), 0u);
  const SafetensorsFile expected = read_safetensors(fixtures + "lenet5_sigmoid_pytorch_logits.safetensors");
  ASSERT_EQ(expected.names, (std::vector<std::string>{"logits"}));
  const Tensor<float, cpu>& logits = expected.tensors[0];
  const std::int64_t n = logits.dim(0);
  ASSERT_EQ(logits.shape(), (Shape{n, 10}));
  const data::Dataset test = data::load_fashion_mnist(std::string(HNN_SOURCE_DIR) + "/data/fashion-mnist",
                                                      data::Split::test, n);
  const auto x = Tensor<float, cpu>::from_vector(Shape{n, 1, 28, 28}, test.images);
  const Tensor<float, cpu>& y = model.forward(x);
  double max_diff = 0;
  for (std::int64_t i = 0; i < logits.numel(); ++i) max_diff = std::max(max_diff, std::abs(double(y[i]) - logits[i]));
  EXPECT_LT(max_diff, 1e-4);
}

// --- bad files ------------------------------------------------------------------------------

TEST_F(Safetensors, RefusesAMissingFile) {
  try {
    read_safetensors(path("none.safetensors"));
    ADD_FAILURE() << "accepted";
  } catch (const SafetensorsError& e) {
    EXPECT_EQ(std::string(e.what()), path("none.safetensors") + ": cannot open the file: No such file or directory");
  }
}

TEST_F(Safetensors, RefusesAFileShorterThan8Bytes) {
  expect_refused(path("a"), {}, "only 0 bytes, shorter than the 8-byte header length");
  expect_refused(path("b"), {1, 2, 3}, "only 3 bytes, shorter than the 8-byte header length");
}

TEST_F(Safetensors, RefusesAHeaderLengthPastTheEnd) {
  expect_refused(path("m"), file_of("{}", {}, 100), "the header length 100 runs past the end of the file (2 bytes");
  expect_refused(path("z"), file_of("", {}, 0), "the header is empty");
}

TEST_F(Safetensors, RefusesAHeaderOver100MBBeforeAllocating) {
  expect_refused(path("m"), file_of("{}", {}, 100'000'001), "the header length is 100000001 bytes, over the limit");
  expect_refused(path("n"), file_of("{}", {}, ~0ull), "over the limit");
}

TEST_F(Safetensors, RefusesJsonThatDoesNotParseOrIsNotAnObject) {
  expect_refused(path("a"), file_of("{\"0.weight\": {\n", weight_bytes), "the header is not valid JSON: ");
  expect_refused(path("b"), file_of("[1, 2]", {}), "the header is a JSON array, not an object");
  expect_refused(path("c"), file_of("\"x\"", {}), "the header is a JSON string, not an object");
  // Invalid UTF-8 inside a name.
  expect_refused(path("d"), file_of("{\"\xff\": 1}", {}), "not valid JSON");
}

TEST_F(Safetensors, RefusesEntriesThatAreNotObjectsOrLackAField) {
  expect_refused(path("a"), file_of(R"({"0.weight": 5})", {}), "tensor '0.weight' is a JSON number, not an object");
  expect_refused(path("b"), file_of(R"({"0.weight": {"shape": [2, 3], "data_offsets": [0, 24]}})", weight_bytes),
                 "tensor '0.weight' has no dtype");
  expect_refused(path("c"), file_of(R"({"0.weight": {"dtype": "F32", "data_offsets": [0, 24]}})", weight_bytes),
                 "tensor '0.weight' has no shape");
  expect_refused(path("d"), file_of(R"({"0.weight": {"dtype": "F32", "shape": [2, 3]}})", weight_bytes),
                 "tensor '0.weight' has no data_offsets");
  expect_refused(path("e"), file_of(R"({"0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0]}})", weight_bytes),
                 "data_offsets is not an array of two integers");
  expect_refused(path("f"), file_of(R"({"0.weight": {"dtype": 3, "shape": [2, 3], "data_offsets": [0, 24]}})", weight_bytes),
                 "dtype is not a string");
}

TEST_F(Safetensors, RefusesNegativeOrNonIntegerValues) {
  expect_refused(path("a"), file_of(R"({"0.weight": {"dtype": "F32", "shape": [-2, 3], "data_offsets": [0, 24]}})", weight_bytes),
                 "tensor '0.weight': shape[0] is negative (-2)");
  expect_refused(path("b"), file_of(R"({"0.weight": {"dtype": "F32", "shape": [2, 3.5], "data_offsets": [0, 24]}})", weight_bytes),
                 "tensor '0.weight': shape[1] is not a non-negative integer (got 3.5)");
  expect_refused(path("c"), file_of(R"({"0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, "24"]}})", weight_bytes),
                 "tensor '0.weight': data_offsets[1] is not a non-negative integer");
  expect_refused(path("d"), file_of(R"({"0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [-8, 24]}})", weight_bytes),
                 "tensor '0.weight': data_offsets[0] is negative");
  expect_refused(path("e"), file_of(R"({"0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [24, 0]}})", weight_bytes),
                 "data_offsets [24, 0] end before they begin");
}

TEST_F(Safetensors, RefusesOverlappingRanges) {
  const std::string bias = R"("0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [20, 28]})";
  expect_refused(path("m"), file_of("{" + weight_entry + ", " + bias + "}", weight_bytes + bias_bytes),
                 "tensor '0.bias' bytes [20, 28) overlap tensor '0.weight' [0, 24)");
}

TEST_F(Safetensors, RefusesHolesInTheDataSection) {
  const std::string bias = R"("0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [28, 36]})";
  expect_refused(path("a"), file_of("{" + weight_entry + ", " + bias + "}", weight_bytes + Bytes(4, 0) + bias_bytes),
                 "hole: bytes [24, 28) before tensor '0.bias' belong to no tensor");
  expect_refused(path("b"), file_of("{" + weight_entry + ", " + bias_entry + "}", weight_bytes + bias_bytes + Bytes(4, 0)),
                 "4 bytes after the last tensor (at 32) that belong to no tensor");
}

TEST_F(Safetensors, RefusesRangesPastTheFile) {
  expect_refused(path("m"), file_of("{" + weight_entry + ", " + bias_entry + "}", weight_bytes + f32s({1})),
                 "tensor '0.bias': bytes [24, 32) run past the end of the data section (28 bytes)");
}

TEST_F(Safetensors, RefusesByteCountsThatDisagreeWithDtypeAndShape) {
  const std::string bias = R"("0.bias": {"dtype": "F32", "shape": [3], "data_offsets": [24, 32]})";
  expect_refused(path("a"), file_of("{" + weight_entry + ", " + bias + "}", weight_bytes + bias_bytes),
                 "tensor '0.bias': F32 x (3) needs 12 bytes, its data_offsets span 8");
  const std::string huge = R"("0.bias": {"dtype": "F64", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [24, 32]})";
  expect_refused(path("b"), file_of("{" + weight_entry + ", " + huge + "}", weight_bytes + bias_bytes),
                 "needs more bytes than the file holds");
}

TEST_F(Safetensors, RefusesDtypesHnnDoesNotRead) {
  const std::string i32 = R"("0.bias": {"dtype": "I32", "shape": [2], "data_offsets": [24, 32]})";
  expect_refused(path("a"), file_of("{" + weight_entry + ", " + i32 + "}", weight_bytes + bias_bytes),
                 "tensor '0.bias' has dtype I32, which hnn does not read (it reads F32, F64, F16 and BF16)");
  const std::string unknown = R"("0.bias": {"dtype": "F7", "shape": [2], "data_offsets": [24, 32]})";
  expect_refused(path("b"), file_of("{" + weight_entry + ", " + unknown + "}", weight_bytes + bias_bytes),
                 "tensor '0.bias' has an unknown dtype 'F7'");
}

TEST_F(Safetensors, RefusesAMissingOrAnUnexpectedTensor) {
  expect_refused(path("a"), file_of("{" + weight_entry + "}", weight_bytes),
                 "tensor '0.bias' is missing: the model needs 2 tensors, the file holds 1");
  const std::string extra = R"("extra": {"dtype": "F32", "shape": [1], "data_offsets": [32, 36]})";
  expect_refused(path("b"), file_of("{" + weight_entry + ", " + bias_entry + ", " + extra + "}",
                                    weight_bytes + bias_bytes + f32s({7})),
                 "unexpected tensor 'extra': the model has no parameter or buffer of that name");
}

TEST_F(Safetensors, RefusesAShapeThatDisagreesWithTheModel) {
  const std::string weight = R"("0.weight": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]})";
  expect_refused(path("m"), file_of("{" + weight + ", " + bias_entry + "}", weight_bytes + bias_bytes),
                 "tensor '0.weight' has shape (3, 2) in the file, the model expects (2, 3)");
}

TEST_F(Safetensors, RefusesMetadataThatIsNotAStringMap) {
  const std::string tensors = weight_entry + ", " + bias_entry;
  expect_refused(path("a"), file_of(R"({"__metadata__": {"epochs": 10}, )" + tensors + "}", weight_bytes + bias_bytes),
                 "__metadata__ 'epochs' is a JSON number, not a string");
  expect_refused(path("b"), file_of(R"({"__metadata__": ["x"], )" + tensors + "}", weight_bytes + bias_bytes),
                 "__metadata__ is a JSON array, not an object of strings");
}

TEST_F(Safetensors, RefusesANameGivenTwice) {
  expect_refused(path("m"), file_of("{" + weight_entry + ", " + weight_entry + ", " + bias_entry + "}",
                                    weight_bytes + bias_bytes),
                 "the header names '0.weight' twice");
}
