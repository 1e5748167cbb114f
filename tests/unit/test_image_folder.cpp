// ImageFolder (hnn/extras/image_folder.hpp): PNGs written here with hnn/extras/png.hpp into
// class folders; sorted classes and files, gray and RGB samples, load(), the loader, and the
// folder's problems. Needs libpng: the build defines HNN_TEST_PNG where it links it, and the
// tests skip themselves otherwise.
#include <gtest/gtest.h>

#if defined(HNN_TEST_PNG)

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/data/loader.hpp"
#include "hnn/extras/image_folder.hpp"
#include "hnn/extras/png.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;
namespace fs = std::filesystem;

namespace {

using hnn::testing::expect_error;

using hnn::testing::TempDir;

// A width x height image whose pixel (x, y), channel c is base + 10 y + 3 x + 40 c.
Image pattern(int width, int height, int channels, int base) {
  Image image(width, height, channels);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) image.at(x, y, c) = static_cast<std::uint8_t>(base + 10 * y + 3 * x + 40 * c);
  return image;
}

void save(const Image& image, const fs::path& path) {
  fs::create_directories(path.parent_path());
  write_png(image, path.string());
}

// root/dog/b.png (RGB), root/dog/a.PNG (gray), root/cat/z/1.png (RGB, in a nested folder),
// root/cat/notes.txt (skipped), root/bird/0.png (gray): classes bird, cat, dog.
void write_pets(const TempDir& root) {
  save(pattern(4, 3, 3, 0), root / "dog/b.png");
  save(pattern(4, 3, 1, 5), root / "dog/a.PNG");
  save(pattern(4, 3, 3, 100), root / "cat/z/1.png");
  std::ofstream(root / "cat/notes.txt") << "not an image";
  save(pattern(4, 3, 1, 50), root / "bird/0.png");
}

}  // namespace

TEST(ImageFolder, ClassesSortedAndFilesInOrder) {
  TempDir root;
  write_pets(root);
  const data::ImageFolder pets(root.str());
  static_assert(data::is_dataset_v<data::ImageFolder>);
  EXPECT_EQ(pets.class_names(), (std::vector<std::string>{"bird", "cat", "dog"}));
  ASSERT_EQ(pets.size(), 4);
  EXPECT_EQ(pets.sample_shape(), (Shape{3, 3, 4}));
  EXPECT_EQ(pets.target_shape(), Shape{});
  const std::vector<std::int32_t> labels{0, 1, 2, 2};
  const std::vector<std::string> names{"0.png", "1.png", "a.PNG", "b.png"};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(pets.entries()[i].label, labels[i]);
    EXPECT_EQ(fs::path(pets.entries()[i].path).filename().string(), names[i]);
  }
}

TEST(ImageFolder, RgbSamplesRepeatGrayImages) {
  TempDir root;
  write_pets(root);
  const data::ImageFolder pets(root.str(), data::ImageFolder::Channels::rgb);
  std::vector<float> sample(3 * 3 * 4);
  std::int32_t label = -1;
  pets.get(3, sample.data(), &label);  // dog/b.png, RGB
  EXPECT_EQ(label, 2);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x)
        EXPECT_EQ(sample[static_cast<std::size_t>((c * 3 + y) * 4 + x)],
                  static_cast<float>(10 * y + 3 * x + 40 * c) / 255.0f);
  pets.get(2, sample.data(), &label);  // dog/a.PNG, gray: the same plane three times
  for (int c = 0; c < 3; ++c)
    EXPECT_EQ(sample[static_cast<std::size_t>((c * 3 + 2) * 4 + 1)], static_cast<float>(5 + 20 + 3) / 255.0f);
  expect_error<std::out_of_range>([&] { pets.get(4, sample.data(), &label); }, {"index 4", "0..3"});
  // A file replaced by one of another size after the folder was read: named when it is read.
  save(pattern(6, 3, 3, 0), root / "dog/b.png");
  expect_error<ImageError>([&] { pets.get(3, sample.data(), &label); }, {"b.png", "the image is 6x3"});
}

TEST(ImageFolder, GraySamplesTakeTheLumaOfColour) {
  TempDir root;
  write_pets(root);
  const data::ImageFolder pets(root.str(), data::ImageFolder::Channels::gray);
  EXPECT_EQ(pets.sample_shape(), (Shape{1, 3, 4}));
  std::vector<float> sample(12);
  std::int32_t label = -1;
  pets.get(1, sample.data(), &label);  // cat/z/1.png
  EXPECT_EQ(label, 1);
  // (299 R + 587 G + 114 B + 500) / 1000 at x = 2, y = 1: R = 116, G = 156, B = 196.
  EXPECT_EQ(sample[6], static_cast<float>((299 * 116 + 587 * 156 + 114 * 196 + 500) / 1000) / 255.0f);
  pets.get(0, sample.data(), &label);  // bird/0.png, gray already
  EXPECT_EQ(sample[11], static_cast<float>(50 + 20 + 9) / 255.0f);
}

TEST(ImageFolder, LoadAndTheLoaderSeeTheSameImages) {
  TempDir root;
  write_pets(root);
  const data::ImageFolder pets(root.str());
  const data::TensorDataset<float> all = pets.load();
  EXPECT_EQ(all.inputs().shape(), (Shape{4, 3, 3, 4}));
  EXPECT_EQ(all.targets().to_vector(), (std::vector<std::int32_t>{0, 1, 2, 2}));
  EXPECT_EQ(all.class_names(), pets.class_names());
  data::DataLoader loader(pets, data::LoaderOptions(4));
  loader.start_epoch();
  const auto* batch = loader.next();
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(batch->inputs.to_vector(), all.inputs().to_vector());
}

TEST(ImageFolder, ImagesOfAnotherSizeAreNamed) {
  TempDir root;
  write_pets(root);
  save(pattern(5, 3, 3, 0), root / "dog/c.png");
  expect_error<ImageError>([&] { data::ImageFolder{root.str()}; },
                           {"c.png", "the image is 5x3", "0.png is 4x3", "every image the same size"});
}

TEST(ImageFolder, FolderProblems) {
  TempDir root;
  expect_error<ImageError>([&] { data::ImageFolder{(root / "missing").string()}; }, {"missing", "does not exist"});
  expect_error<ImageError>([&] { data::ImageFolder{root.str()}; }, {"no class folders"});
  write_pets(root);
  fs::create_directories(root / "emu");
  std::ofstream(root / "emu/readme.md") << "later";
  expect_error<ImageError>([&] { data::ImageFolder{root.str()}; }, {"emu", "holds no .png file"});
  fs::remove_all(root / "emu");
  std::ofstream(root / "cat/broken.png") << "not a png at all";
  expect_error<ImageError>([&] { data::ImageFolder{root.str()}; }, {"broken.png", "cannot read the PNG"});
}

#else

TEST(ImageFolder, NeedsLibpng) { GTEST_SKIP() << "built without libpng (HNN_TEST_PNG): ImageFolder not tested"; }

#endif
