// Images: PGM/PPM files, grayscale, resizing and the Fashion-MNIST preprocessing.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "hnn/data/mnist.hpp"
#include "hnn/extras/image.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;
namespace fs = std::filesystem;

namespace {
using hnn::testing::slice_dir;

using hnn::testing::temp_path;

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

template <class F>
void expect_image_error(F&& f, const std::string& words) {
  try {
    f();
    ADD_FAILURE() << "expected an ImageError containing '" << words << "'";
  } catch (const ImageError& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(Pnm, BinaryGrayAndColourRoundTrip) {
  Image gray(5, 3, 1);
  Image rgb(4, 2, 3);
  for (std::size_t i = 0; i < gray.pixels.size(); ++i) gray.pixels[i] = static_cast<std::uint8_t>(i * 17);
  for (std::size_t i = 0; i < rgb.pixels.size(); ++i) rgb.pixels[i] = static_cast<std::uint8_t>(255 - i * 9);
  const std::string pgm = temp_path("a.pgm"), ppm = temp_path("a.ppm");
  write_pnm(gray, pgm);
  write_pnm(rgb, ppm);
  const Image g = read_pnm(pgm), c = read_pnm(ppm);
  std::remove(pgm.c_str());
  std::remove(ppm.c_str());
  EXPECT_EQ(g.width, 5);
  EXPECT_EQ(g.height, 3);
  EXPECT_EQ(g.channels, 1);
  EXPECT_EQ(g.pixels, gray.pixels);
  EXPECT_EQ(c.channels, 3);
  EXPECT_EQ(c.pixels, rgb.pixels);
}

TEST(Pnm, AsciiFilesWithCommentsAndOtherMaximumValues) {
  const std::string p2 = temp_path("b.pgm"), p3 = temp_path("b.ppm"), p5 = temp_path("c.pgm");
  write_text(p2, "P2\n# a comment\n3 2 # trailing comment\n15\n0 15 5\n10\n3 7\n");
  write_text(p3, "P3 1 1 255 255 0 128\n");
  // 16-bit binary: maxval 65535, big-endian samples.
  write_text(p5, std::string("P5 2 1 65535\n") + std::string("\xff\xff\x80\x00", 4));
  const Image a = read_pnm(p2), b = read_pnm(p3), c = read_pnm(p5);
  for (const auto& p : {p2, p3, p5}) std::remove(p.c_str());
  EXPECT_EQ(a.pixels, (std::vector<std::uint8_t>{0, 255, 85, 170, 51, 119}));
  EXPECT_EQ(b.pixels, (std::vector<std::uint8_t>{255, 0, 128}));
  EXPECT_EQ(c.pixels, (std::vector<std::uint8_t>{255, 128}));
}

TEST(Pnm, BadFilesAreClearErrors) {
  const std::string p = temp_path("bad.pgm");
  write_text(p, "P5 4 4 255\n\x01\x02");
  expect_image_error([&] { read_pnm(p); }, "truncated");
  write_text(p, "P1 2 2 0 1 1 0");
  expect_image_error([&] { read_pnm(p); }, "P1 is not supported");
  write_text(p, "GIF89a");
  expect_image_error([&] { read_pnm(p); }, "not a PGM/PPM file");
  write_text(p, "P2 2 1 10 3 11");
  expect_image_error([&] { read_pnm(p); }, "exceeds the maximum 10");
  write_text(p, "P2 2");
  expect_image_error([&] { read_pnm(p); }, "ends before the height");
  std::remove(p.c_str());
  expect_image_error([&] { read_pnm(p); }, "cannot open");
}

TEST(Image, GrayscaleIsBt601Luma) {
  Image rgb(3, 1, 3);
  rgb.pixels = {255, 0, 0, 0, 255, 0, 10, 20, 30};
  const Image g = to_grayscale(rgb);
  EXPECT_EQ(g.pixels, (std::vector<std::uint8_t>{76, 150, 18}));  // 0.299*255, 0.587*255, 18.1
}

TEST(Image, ResizeKeepsConstantsAndAveragesAreas) {
  const std::vector<float> flat(6 * 4, 0.25f);
  for (float v : resize(flat, 6, 4, 3, 2)) EXPECT_NEAR(v, 0.25f, 1e-6);
  for (float v : resize(flat, 6, 4, 13, 9)) EXPECT_NEAR(v, 0.25f, 1e-6);
  // 2x2 blocks average exactly.
  const std::vector<float> blocks = {0, 1, 0.5f, 0.5f,   //
                                     1, 0, 0.5f, 0.5f};
  EXPECT_EQ(resize(blocks, 4, 2, 2, 1), (std::vector<float>{0.5f, 0.5f}));
}

TEST(Image, ADatasetImageComesBackExactly) {
  const data::Dataset d = data::load_fashion_mnist(slice_dir, data::Split::test, 3);
  for (int i = 0; i < 3; ++i) {
    Image img(28, 28, 1);
    for (std::size_t k = 0; k < 784; ++k)
      img.pixels[k] = static_cast<std::uint8_t>(std::lround(d.images[static_cast<std::size_t>(i) * 784 + k] * 255));
    const ModelInput in = fashion_mnist_input(img);
    EXPECT_FALSE(in.inverted);
    EXPECT_EQ(in.pixels, std::vector<float>(d.images.begin() + i * 784, d.images.begin() + (i + 1) * 784));
  }
}

TEST(Image, ALightBackgroundIsInvertedTheObjectCroppedAndTheAspectRatioKept) {
  // A 40x30 white picture with a black 20x10 block off centre.
  Image img(40, 30, 3, 255);
  for (int y = 5; y < 15; ++y)
    for (int x = 4; x < 24; ++x)
      for (int c = 0; c < 3; ++c) img.at(x, y, c) = 0;
  const ModelInput in = fashion_mnist_input(img);
  EXPECT_TRUE(in.inverted);
  EXPECT_TRUE(in.cropped);
  EXPECT_DOUBLE_EQ(in.border_mean, 1.0);
  ASSERT_EQ(in.pixels.size(), 784u);
  // The block, cropped and scaled to 28x14, centred: rows 0-6 and 21-27 are black padding,
  // rows 7-20 the inverted block.
  const auto at = [&](int x, int y) { return in.pixels[static_cast<std::size_t>(y * 28 + x)]; };
  for (int x = 0; x < 28; ++x) {
    EXPECT_EQ(at(x, 0), 0.0f);
    EXPECT_EQ(at(x, 6), 0.0f);
    EXPECT_NEAR(at(x, 7), 1.0f, 1e-6);
    EXPECT_NEAR(at(x, 20), 1.0f, 1e-6);
    EXPECT_EQ(at(x, 21), 0.0f);
  }
}

TEST(Image, AnImageWithoutAnObjectIsScaledWhole) {
  const ModelInput in = fashion_mnist_input(Image(56, 28, 1, 30));
  EXPECT_FALSE(in.inverted);
  EXPECT_FALSE(in.cropped);
  const auto at = [&](int x, int y) { return in.pixels[static_cast<std::size_t>(y * 28 + x)]; };
  EXPECT_EQ(at(3, 6), 0.0f);                    // padding above the 28x14 picture
  EXPECT_NEAR(at(3, 7), 30.0f / 255, 1e-6);     // the picture
}

TEST(Image, TextIsDrawnWithTheBitmapFont) {
  Image page(40, 10, 3, 255);
  EXPECT_EQ(text_width("AB", 1), 11);
  EXPECT_EQ(text_width("AB", 2), 22);
  draw_text(page, 1, 1, "Ab", Rgb{255, 0, 0});
  int red = 0;
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 40; ++x) red += page.at(x, y, 0) == 255 && page.at(x, y, 1) == 0;
  // 'A' has 18 lit pixels, 'B' (lower case drawn as upper case) 20.
  EXPECT_EQ(red, 38);
}
