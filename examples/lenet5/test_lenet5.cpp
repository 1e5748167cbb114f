// lenet5 end to end, on the committed slice of Fashion-MNIST (its 1,000 test images serve as
// both splits): --save / --resume equal to an uninterrupted run bit for bit, the reports
// (progress bar, history CSV, SVG curves, confusion matrix, gallery), and `lenet5 predict`
// on real PNG/PGM/PPM files agreeing with the in-memory predictions.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <zlib.h>

#include <hnn/io/checkpoint.hpp>
#include <hnn/data/mnist.hpp>
#include <hnn/training/predict.hpp>
#include <hnn/extras/report.hpp>

#include "../common/data_dir.hpp"
#include "../common/image_io.hpp"

namespace fs = std::filesystem;

namespace {

const std::string lenet5 = LENET5_PATH;
const std::string slice_dir = std::string(HNN_SOURCE_DIR) + "/data/fashion-mnist";

struct Result {
  int status = -1;
  std::string out, err;
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs lenet5 with `args` (already shell-quoted where needed), capturing stdout and stderr.
Result run(const fs::path& work, const std::string& args) {
  const fs::path out = work / "stdout.txt", err = work / "stderr.txt";
  const std::string command = "'" + lenet5 + "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int raw = std::system(command.c_str());
  Result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  r.out = read_text(out);
  r.err = read_text(err);
  return r;
}

// The line of `text` that starts with `prefix`.
std::string line_starting(const std::string& text, const std::string& prefix) {
  const std::size_t at = text.find(prefix);
  if (at == std::string::npos) return "";
  return text.substr(at, text.find('\n', at) - at);
}

class Lenet5 : public ::testing::Test {
 protected:
  static fs::path work;
  static Result straight, first, resumed;

  // Three runs shared by the tests: 2 epochs straight with every report; 1 epoch saved;
  // that checkpoint resumed to 2 epochs, with the recipe taken from the file.
  static void SetUpTestSuite() {
    work = fs::temp_directory_path() / ("hnn-lenet5-test-" + std::to_string(::getpid()));
    fs::remove_all(work);
    fs::create_directories(work / "data");
    for (const char* kind : {"images-idx3", "labels-idx1"}) {
      const fs::path slice = fs::path(slice_dir) / (std::string("t10k-") + kind + "-ubyte.gz");
      fs::create_symlink(slice, work / "data" / (std::string("t10k-") + kind + "-ubyte.gz"));
      fs::create_symlink(slice, work / "data" / (std::string("train-") + kind + "-ubyte.gz"));
    }
    const std::string data = "--data '" + (work / "data").string() + "' --threads 1";
    const std::string common = data + " --batch-size 100 --seed 3";
    const std::string w = work.string();
    straight = run(work, common + " --variant relu --epochs 2 --save '" + w + "/a.hnn' --history '" + w +
                             "/h.csv' --plot '" + w + "/p.svg' --gallery '" + w + "/g.png' --progress on");
    first = run(work, common + " --variant relu --epochs 1 --save '" + w + "/b.hnn' --checkpoint-every 1");
    fs::copy_file(work / "b.hnn", work / "b1.hnn");
    // No recipe flags and no seed: all of them come from the checkpoint.
    resumed = run(work, data + " --epochs 2 --resume '" + w + "/b.hnn' --save '" + w + "/c.hnn'");
  }
  static void TearDownTestSuite() {
    if (std::getenv("HNN_KEEP_TEST_FILES") == nullptr) fs::remove_all(work);
  }
};

fs::path Lenet5::work;
Result Lenet5::straight, Lenet5::first, Lenet5::resumed;

}  // namespace

TEST_F(Lenet5, RunsSucceed) {
  EXPECT_EQ(straight.status, 0) << straight.err;
  EXPECT_EQ(first.status, 0) << first.err;
  EXPECT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("resuming from"), std::string::npos) << resumed.out;
  EXPECT_NE(resumed.out.find("training LeNet-5 (relu)"), std::string::npos) << "the variant comes from the checkpoint";
}

TEST_F(Lenet5, ResumeEqualsTheUninterruptedRunBitForBit) {
  const hnn::Checkpoint a = hnn::read_checkpoint((work / "a.hnn").string());
  const hnn::Checkpoint c = hnn::read_checkpoint((work / "c.hnn").string());
  ASSERT_EQ(a.parameters.size(), c.parameters.size());
  for (std::size_t i = 0; i < a.parameters.size(); ++i)
    EXPECT_EQ(a.parameters[i].to_vector(), c.parameters[i].to_vector()) << a.parameter_names[i];
  ASSERT_TRUE(a.extras.training && c.extras.training);
  EXPECT_EQ(a.extras.training->epoch, 2);
  EXPECT_EQ(c.extras.training->epoch, 2);
  EXPECT_EQ(a.extras.training->shuffle_state, c.extras.training->shuffle_state);
  EXPECT_EQ(a.extras.training->order, c.extras.training->order);
  ASSERT_EQ(a.extras.training->optimizer.buffers.size(), c.extras.training->optimizer.buffers.size());
  for (std::size_t i = 0; i < a.extras.training->optimizer.buffers.size(); ++i)
    EXPECT_EQ(a.extras.training->optimizer.buffers[i].to_vector(), c.extras.training->optimizer.buffers[i].to_vector());

  // The same numbers printed, and the same history recorded (timings aside).
  const auto numbers = [](const std::string& out) {  // "epoch  2: loss L, train acc A, test acc T"
    const std::string line = line_starting(out, "epoch  2: loss");
    return line.substr(0, line.find(", ", line.find("test acc")));
  };
  EXPECT_NE(numbers(straight.out), "");
  EXPECT_EQ(numbers(straight.out), numbers(resumed.out));
  const auto ha = hnn::parse_history_csv(a.extras.metadata.at("history"));
  const auto hc = hnn::parse_history_csv(c.extras.metadata.at("history"));
  ASSERT_EQ(ha.size(), 2u);
  ASSERT_EQ(hc.size(), 2u);
  for (std::size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(ha[e].train_loss, hc[e].train_loss);
    EXPECT_EQ(ha[e].train_acc, hc[e].train_acc);
    EXPECT_EQ(ha[e].test_acc, hc[e].test_acc);
  }
  EXPECT_EQ(a.extras.metadata.at("variant"), "relu");
  EXPECT_EQ(c.extras.metadata.at("seed"), "3") << "the resumed run records the checkpoint's seed";
  EXPECT_EQ(c.extras.metadata.at("batch_size"), "100");
}

// --optimizer adamw with a cosine schedule: 2 epochs straight equal 1 epoch, then --resume
// with no recipe flags (optimizer, weight decay and schedule come from the checkpoint).
TEST_F(Lenet5, AdamWWithACosineScheduleResumesFromTheCheckpointsRecipe) {
  const std::string data = "--data '" + (work / "data").string() + "' --threads 1";
  const std::string recipe = data + " --batch-size 250 --seed 4 --variant relu --optimizer adamw --lr 0.002 --schedule cosine";
  const std::string w = work.string();
  const Result x = run(work, recipe + " --epochs 2 --save '" + w + "/adam_x.hnn'");
  ASSERT_EQ(x.status, 0) << x.err;
  EXPECT_NE(x.out.find("adamw lr 0.002, weight decay 0.01, cosine schedule, batch 250, 2 epochs"), std::string::npos) << x.out;
  // 1 epoch (the cosine rate of a run's first epoch is lr whatever its length), then resumed to 2.
  const Result one = run(work, recipe + " --epochs 1 --save '" + w + "/adam_z.hnn'");
  ASSERT_EQ(one.status, 0) << one.err;
  const Result resumed_adam = run(work, data + " --epochs 2 --resume '" + w + "/adam_z.hnn' --save '" + w + "/adam_r.hnn'");
  ASSERT_EQ(resumed_adam.status, 0) << resumed_adam.err;
  const hnn::Checkpoint a = hnn::read_checkpoint(w + "/adam_x.hnn");
  const hnn::Checkpoint r = hnn::read_checkpoint(w + "/adam_r.hnn");
  ASSERT_TRUE(a.extras.training && r.extras.training);
  EXPECT_EQ(a.extras.training->optimizer.name, "adamw");
  EXPECT_EQ(r.extras.training->optimizer.name, "adamw");
  EXPECT_EQ(a.extras.training->optimizer.step, 8);  // 2 epochs of 1000 / 250
  EXPECT_EQ(r.extras.training->optimizer.step, 8);
  EXPECT_EQ(r.extras.metadata.at("schedule"), "cosine");
  for (std::size_t i = 0; i < a.parameters.size(); ++i)
    EXPECT_EQ(a.parameters[i].to_vector(), r.parameters[i].to_vector()) << a.parameter_names[i];
}

// A run killed (SIGKILL) after --checkpoint-every has written a checkpoint leaves a whole
// checkpoint, and resuming it gives the uninterrupted run's parameters bit for bit.
TEST_F(Lenet5, AKilledRunResumesFromItsLastCheckpointToTheUninterruptedResult) {
  const std::string w = work.string(), data = (work / "data").string(), killed = w + "/killed.hnn";
  const int epochs = 12;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    const std::string n = std::to_string(epochs);
    ::execl(lenet5.c_str(), "lenet5", "--data", data.c_str(), "--threads", "1", "--batch-size", "100", "--seed", "5",
            "--variant", "relu", "--epochs", n.c_str(), "--checkpoint-every", "1", "--save", killed.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[1]);
  std::FILE* out = ::fdopen(fds[0], "r");
  ASSERT_NE(out, nullptr);
  std::string seen;
  char line[512];
  while (std::fgets(line, sizeof line, out) != nullptr) {
    seen += line;
    if (std::string(line).rfind("checkpoint after epoch 1 written", 0) == 0) break;
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::fclose(out);
  ASSERT_NE(seen.find("checkpoint after epoch 1 written"), std::string::npos) << seen;

  const hnn::Checkpoint k = hnn::read_checkpoint(killed);  // whole, whenever the kill came
  ASSERT_TRUE(k.extras.training);
  const int done = k.extras.training->epoch;
  if (done >= epochs) GTEST_SKIP() << "the run finished before it was killed";
  EXPECT_GE(done, 1);
  const Result resumed_run = run(work, "--data '" + data + "' --threads 1 --epochs " + std::to_string(epochs) +
                                           " --resume '" + killed + "' --save '" + w + "/killed-resumed.hnn'");
  ASSERT_EQ(resumed_run.status, 0) << resumed_run.err;
  const Result whole = run(work, "--data '" + data + "' --threads 1 --batch-size 100 --seed 5 --variant relu --epochs " +
                                     std::to_string(epochs) + " --save '" + w + "/whole.hnn'");
  ASSERT_EQ(whole.status, 0) << whole.err;
  const hnn::Checkpoint r = hnn::read_checkpoint(w + "/killed-resumed.hnn");
  const hnn::Checkpoint u = hnn::read_checkpoint(w + "/whole.hnn");
  ASSERT_EQ(r.parameters.size(), u.parameters.size());
  for (std::size_t i = 0; i < r.parameters.size(); ++i)
    EXPECT_EQ(r.parameters[i].to_vector(), u.parameters[i].to_vector()) << r.parameter_names[i] << " after a kill at epoch " << done;
}

// The README's tables of flags list exactly the flags of `lenet5 --help`, for training and for predict.
TEST_F(Lenet5, ReadmeFlagTablesMatchTheHelp) {
  const Result help = run(work, "--help");
  ASSERT_EQ(help.status, 0);
  const std::size_t predict_at = help.out.find("usage: lenet5 predict");
  ASSERT_NE(predict_at, std::string::npos) << help.out;
  // "  --flag ..." lines of the help text.
  const auto help_flags = [](const std::string& text) {
    std::vector<std::string> flags;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (line.rfind("  --", 0) == 0) flags.push_back(line.substr(2, line.find(' ', 2) - 2));
    std::sort(flags.begin(), flags.end());
    return flags;
  };
  // "| `--flag ...` | ..." rows of the README table that follows the line starting with `header`.
  const std::string readme = read_text(fs::path(HNN_SOURCE_DIR) / "docs" / "programs.md");
  const auto readme_flags = [&](const std::string& header) {
    std::vector<std::string> flags;
    const std::size_t at = readme.find("\n" + header);
    if (at == std::string::npos) return flags;
    std::istringstream in(readme.substr(at + 1));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line) && line.rfind("|", 0) == 0)
      if (line.rfind("| `--", 0) == 0) flags.push_back(line.substr(3, line.find_first_of(" `", 3) - 3));
    std::sort(flags.begin(), flags.end());
    return flags;
  };
  const std::vector<std::string> train = help_flags(help.out.substr(0, predict_at));
  const std::vector<std::string> predict = help_flags(help.out.substr(predict_at));
  EXPECT_GT(train.size(), 10u) << help.out;
  EXPECT_EQ(readme_flags("| flag | default | meaning |"), train);
  EXPECT_EQ(readme_flags("| `lenet5 predict` | default | meaning |"), predict);
}

TEST_F(Lenet5, ProgressBarOnlyWhereAsked) {
  EXPECT_NE(straight.out.find("\r\033[Kepoch 1/2 ["), std::string::npos);
  EXPECT_NE(straight.out.find("ex/s  ETA"), std::string::npos);
  EXPECT_NE(straight.out.find("  loss "), std::string::npos);
  // stdout is a file and --progress is auto: one plain line per epoch, no redrawing.
  EXPECT_EQ(first.out.find('\r'), std::string::npos);
  EXPECT_EQ(resumed.out.find('\r'), std::string::npos);
}

TEST_F(Lenet5, ReportsAreWritten) {
  const std::string csv = read_text(work / "h.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), hnn::history_csv_header);
  EXPECT_EQ(hnn::parse_history_csv(csv).size(), 2u);
  const std::string svg = read_text(work / "p.svg");
  EXPECT_NE(svg.find("<svg xmlns"), std::string::npos);
  EXPECT_NE(svg.find("LeNet-5 (relu) on Fashion-MNIST, cpu"), std::string::npos);
  EXPECT_NE(straight.out.find("confusion matrix (rows: true class, columns: predicted class)"), std::string::npos);
  EXPECT_NE(straight.out.find("Ankle boot"), std::string::npos);
  EXPECT_NE(straight.out.find("most confused:"), std::string::npos);
  EXPECT_TRUE(fs::is_regular_file(work / "g.png") || !hnn_example::png_supported());
  if (hnn_example::png_supported()) {
    const hnn::Image g = hnn_example::read_image_file((work / "g.png").string());
    EXPECT_EQ(g.channels, 3);
    EXPECT_GT(g.width, 8 * 112);
  }
  EXPECT_NE(first.out.find("model and training state after epoch 1 written to"), std::string::npos) << first.out;
}

TEST_F(Lenet5, PredictOnImageFilesEqualsTheInMemoryPredictions) {
  const std::string model_path = (work / "a.hnn").string();
  auto model = hnn::load_model<float, hnn::cpu>(model_path);
  const hnn::data::Dataset d = hnn::data::load_fashion_mnist(slice_dir, hnn::data::Split::test, 6);
  const hnn::Tensor<float, hnn::cpu> images =
      hnn::Tensor<float, hnn::cpu>::from_vector(hnn::Shape{6, 1, 28, 28}, d.images);
  const hnn::Tensor<float, hnn::cpu> expected = hnn::predict_probabilities(model, images);

  // Each image as PGM, as PPM (gray in three channels) and, where built with libpng, as PNG.
  std::vector<std::string> files;
  std::vector<int> index;
  for (int i = 0; i < 6; ++i) {
    hnn::Image gray(28, 28, 1), rgb(28, 28, 3);
    for (std::size_t k = 0; k < 784; ++k) {
      gray.pixels[k] = static_cast<std::uint8_t>(std::lround(d.images[static_cast<std::size_t>(i) * 784 + k] * 255));
      for (int c = 0; c < 3; ++c) rgb.pixels[3 * k + static_cast<std::size_t>(c)] = gray.pixels[k];
    }
    std::vector<std::string> extensions = {".pgm", ".ppm"};
    if (hnn_example::png_supported()) extensions.push_back(".png");
    for (const std::string& ext : extensions) {
      const std::string file = (work / ("img" + std::to_string(i) + ext)).string();
      hnn_example::write_image_file(ext == ".ppm" ? rgb : gray, file);
      files.push_back(file);
      index.push_back(i);
    }
  }
  std::string args = "predict --model '" + model_path + "'";
  for (const std::string& f : files) args += " '" + f + "'";
  const Result r = run(work, args);
  ASSERT_EQ(r.status, 0) << r.err;

  const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& c : hnn::data::fashion_mnist_classes()) n.emplace_back(c);
    return n;
  }();
  std::istringstream out(r.out);
  std::string line;
  for (std::size_t f = 0; f < files.size(); ++f) {
    ASSERT_TRUE(std::getline(out, line));
    EXPECT_EQ(line, files[f] + " (28x28, dark background)");
    const auto top = hnn::top_k(expected, index[f], 3);
    for (const hnn::Scored& s : top) {
      ASSERT_TRUE(std::getline(out, line));
      char want[160];
      std::snprintf(want, sizeof want, "  %-13s %.3f", names[static_cast<std::size_t>(s.label)].c_str(), s.score);
      EXPECT_EQ(line, want) << files[f];
    }
  }
  EXPECT_FALSE(std::getline(out, line)) << "unexpected output: " << line;
}

// A PNG written byte by byte (no gamma chunk), for the kinds libpng would otherwise read
// differently from a viewer: `samples` holds the scanlines' bytes, row after row.
static void write_raw_png(const std::string& path, int width, int height, int bit_depth, int color_type,
                   const std::vector<unsigned char>& samples) {
  const auto be32 = [](std::string& s, std::uint32_t v) {
    for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  const auto chunk = [&](std::string& out, const std::string& type, const std::string& data) {
    be32(out, static_cast<std::uint32_t>(data.size()));
    const std::string body = type + data;
    out += body;
    be32(out, static_cast<std::uint32_t>(::crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
  };
  std::string header;
  be32(header, static_cast<std::uint32_t>(width));
  be32(header, static_cast<std::uint32_t>(height));
  header += static_cast<char>(bit_depth);
  header += static_cast<char>(color_type);
  header += std::string(3, '\0');
  const std::size_t row_bytes = samples.size() / static_cast<std::size_t>(height);
  std::string raw;
  for (int y = 0; y < height; ++y) {
    raw += '\0';  // filter: none
    raw.append(reinterpret_cast<const char*>(samples.data()) + static_cast<std::size_t>(y) * row_bytes, row_bytes);
  }
  std::vector<Bytef> packed(::compressBound(static_cast<uLong>(raw.size())));
  uLongf packed_size = static_cast<uLongf>(packed.size());
  ASSERT_EQ(::compress(packed.data(), &packed_size, reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size())), Z_OK);
  std::string file = "\x89PNG\r\n\x1a\n";
  chunk(file, "IHDR", header);
  chunk(file, "IDAT", std::string(reinterpret_cast<const char*>(packed.data()), packed_size));
  chunk(file, "IEND", "");
  std::ofstream(path, std::ios::binary) << file;
}

// 16-bit samples and transparency read as a viewer shows them: 16-bit values without gamma
// information as sRGB (v * 257 reads as v), transparent pixels composited onto white in sRGB
// values (black ink of opacity a reads as 255 - a), whatever libpng's linear-light defaults.
TEST_F(Lenet5, PngSixteenBitAndTransparentFilesReadAsAViewerShowsThem) {
  if (!hnn_example::png_supported()) GTEST_SKIP() << "built without libpng";
  std::vector<unsigned char> gray16, gray_alpha, rgba;
  for (int v = 0; v < 256; ++v) {
    gray16.push_back(static_cast<unsigned char>(v)), gray16.push_back(static_cast<unsigned char>(v));  // v * 257
    gray_alpha.push_back(0), gray_alpha.push_back(static_cast<unsigned char>(v));                      // black, alpha v
    for (unsigned char c : {255, 0, 60}) rgba.push_back(c);
    rgba.push_back(static_cast<unsigned char>(v));
  }
  const std::string w = work.string();
  write_raw_png(w + "/g16.png", 16, 16, 16, 0, gray16);
  write_raw_png(w + "/ga.png", 16, 16, 8, 4, gray_alpha);
  write_raw_png(w + "/rgba.png", 16, 16, 8, 6, rgba);
  const hnn::Image a = hnn_example::read_image_file(w + "/g16.png");
  const hnn::Image b = hnn_example::read_image_file(w + "/ga.png");
  const hnn::Image c = hnn_example::read_image_file(w + "/rgba.png");
  ASSERT_EQ(a.channels, 1);
  ASSERT_EQ(b.channels, 1);
  ASSERT_EQ(c.channels, 3);
  for (int v = 0; v < 256; ++v) {
    const int x = v % 16, y = v / 16;
    EXPECT_EQ(a.at(x, y), v) << "16-bit gray";
    EXPECT_EQ(b.at(x, y), 255 - v) << "black of opacity " << v << " on white";
    const auto on_white = [&](int value) { return (value * v + 255 * (255 - v) + 127) / 255; };
    EXPECT_EQ(c.at(x, y, 0), on_white(255)) << "opacity " << v;
    EXPECT_EQ(c.at(x, y, 1), on_white(0)) << "opacity " << v;
    EXPECT_EQ(c.at(x, y, 2), on_white(60)) << "opacity " << v;
  }
}

TEST_F(Lenet5, PredictInvertsALightBackgroundAndScalesLargeImages) {
  const hnn::data::Dataset d = hnn::data::load_fashion_mnist(slice_dir, hnn::data::Split::test, 1);
  // The first test image, dark on light and three times larger, in a wider frame.
  hnn::Image photo(100, 84, 3, 255);
  for (int y = 0; y < 84; ++y)
    for (int x = 0; x < 84; ++x) {
      const auto v = static_cast<std::uint8_t>(
          255 - std::lround(d.images[static_cast<std::size_t>((y / 3) * 28 + x / 3)] * 255));
      for (int c = 0; c < 3; ++c) photo.at(x + 8, y, c) = v;
    }
  const std::string path = (work / "photo.ppm").string();
  hnn_example::write_image_file(photo, path);
  const Result r = run(work, "predict --top 1 --model '" + (work / "a.hnn").string() + "' '" + path + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(path + " (100x84, light background, inverted, cropped)"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
}

TEST_F(Lenet5, ClearErrors) {
  const std::string w = work.string();
  Result r = run(work, "--checkpoint-every 2");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "lenet5: --checkpoint-every needs --save PATH (see --help)\n");
  r = run(work, "--resume '" + w + "/missing.hnn'");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("lenet5: " + w + "/missing.hnn: cannot open the checkpoint", 0), 0u) << r.err;
  r = run(work, "--data '" + w + "/data' --threads 1 --epochs 3 --variant sigmoid --resume '" + w + "/b1.hnn'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("the checkpoint's architecture differs from the model's at layer 1: the file has ReLU(), "
                       "the model has Sigmoid()"),
            std::string::npos)
      << r.err;
  r = run(work, "--data '" + w + "/data' --epochs 1 --resume '" + w + "/b1.hnn'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("already trained 1 epochs; pass --epochs above that"), std::string::npos) << r.err;
  r = run(work, "--data '" + w + "/data' --save '" + w + "/no/such/folder/m.hnn'");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("lenet5: --save " + w + "/no/such/folder/m.hnn: cannot create files there", 0), 0u) << r.err;
  EXPECT_EQ(r.out.find("epoch"), std::string::npos) << "refused before training";
  r = run(work, "predict '" + w + "/h.csv'");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "lenet5: predict needs --model PATH (see --help)\n");
  r = run(work, "predict --model '" + w + "/a.hnn'");
  EXPECT_EQ(r.status, 2);
  r = run(work, "predict --model '" + w + "/a.hnn' '" + w + "/h.csv'");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find(w + "/h.csv: not a"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// Restores the working directory and $HNN_DATA however the test ends.
class FindDataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_cwd_ = fs::current_path();
    if (const char* env = std::getenv("HNN_DATA")) {
      old_env_ = env;
      had_env_ = true;
    }
    unsetenv("HNN_DATA");
    tmp_ = fs::temp_directory_path() / ("hnn-find-data-dir-" + std::to_string(::getpid()));
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override {
    fs::current_path(old_cwd_);
    if (had_env_) setenv("HNN_DATA", old_env_.c_str(), 1);
    else unsetenv("HNN_DATA");
    fs::remove_all(tmp_);
  }
  fs::path old_cwd_, tmp_;
  std::string old_env_;
  bool had_env_ = false;
};

TEST_F(FindDataDirTest, FollowsTheDocumentedOrder) {
  using hnn_example::find_data_dir;
  fs::current_path(tmp_);
  EXPECT_EQ(find_data_dir(""), "/usr/share/datasets/fashion-mnist");

  // A local folder counts only once it holds the training files.
  fs::create_directories("data/fashion-mnist");
  std::ofstream("data/fashion-mnist/train-images-idx3-ubyte.gz").put('x');
  EXPECT_EQ(find_data_dir(""), "/usr/share/datasets/fashion-mnist");
  std::ofstream("data/fashion-mnist/train-labels-idx1-ubyte").put('x');
  EXPECT_EQ(find_data_dir(""), "data/fashion-mnist");

  setenv("HNN_DATA", "/from/env", 1);
  EXPECT_EQ(find_data_dir(""), "/from/env");
  EXPECT_EQ(find_data_dir("/from/flag"), "/from/flag");
}
