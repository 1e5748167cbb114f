// Per-sample transforms: exact values on small hand-made samples (normalize per channel, flip,
// crop with zero padding at each corner), the crop against a padded-then-windowed reference,
// a user's own function and Transform class, Compose, and every bad input.
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hnn/data/transforms.hpp"

#include "../support/test_helpers.hpp"

using namespace hnn;

namespace {

using hnn::testing::expect_error;

Tensor<float> sample_of(const Shape& shape, const std::vector<float>& values) {
  return Tensor<float>::from_vector(shape, values);
}

// Applies one transform with a generator seeded `seed`.
std::vector<float> run(const data::Transform<float>& t, const Tensor<float>& in, std::uint64_t seed = 0) {
  Tensor<float> out(t.output_shape(in.shape()));
  Rng rng(seed);
  t.apply(in.data(), in.shape(), out.data(), rng);
  return out.to_vector();
}

// The first seed whose generator draws `top` then `left` from below(rows) and below(cols): the
// crop's two draws, in its documented order.
std::uint64_t seed_for_corner(std::uint64_t rows, std::uint64_t cols, std::uint64_t top, std::uint64_t left) {
  for (std::uint64_t seed = 0;; ++seed) {
    Rng rng(seed);
    const std::uint64_t t = rng.below(rows);
    if (t == top && rng.below(cols) == left) return seed;
  }
}

}  // namespace

TEST(Normalize, PerChannelExactValues) {
  const Tensor<float> x = sample_of(Shape{2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  const data::Normalize<float> normalize({0.5, 1.0}, {0.25, 2.0});
  EXPECT_EQ(normalize.output_shape(x.shape()), x.shape());
  EXPECT_EQ(run(normalize, x), (std::vector<float>{2, 6, 10, 14, 2, 2.5f, 3, 3.5f}));
  // A feature vector: each feature is a channel of one value.
  const data::Normalize<double> features({1, 2, 3}, {1, 2, 4});
  const Tensor<double> v = Tensor<double>::from_vector(Shape{3}, {3, 3, 3});
  Tensor<double> out(Shape{3});
  Rng rng(0);
  features.apply(v.data(), v.shape(), out.data(), rng);
  EXPECT_EQ(out.to_vector(), (std::vector<double>{2, 0.5, 0}));
}

TEST(Normalize, BadInput) {
  expect_error<std::invalid_argument>(
      [] {
        data::Normalize<float>({0.5, 0.5}, {0.2});
      },
      {"2 means and 1 standard deviations"});
  expect_error<std::invalid_argument>([] { data::Normalize<float>({}, {}); }, {"0 means"});
  expect_error<std::invalid_argument>(
      [] {
        data::Normalize<float>({0.5, 0.5}, {0.2, 0.0});
      },
      {"standard deviation 0", "channel 1", "positive"});
  expect_error<std::invalid_argument>([] { data::Normalize<float>({0.5}, {-1.0}); }, {"standard deviation -1"});
  // One mean for samples of three channels: refused by name, with both counts.
  const data::Normalize<float> gray({0.5}, {0.25});
  expect_error<std::invalid_argument>(
      [&] {
        gray.output_shape(Shape{3, 4, 4});
      },
      {"Normalize", "1 channels given", "(3, 4, 4) with 3 channels"});
  expect_error<std::invalid_argument>([&] { gray.output_shape(Shape{}); }, {"without a channel dimension"});
}

TEST(RandomHorizontalFlip, AlwaysNeverAndByTheDraw) {
  const Tensor<float> x = sample_of(Shape{2, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  EXPECT_EQ(run(data::RandomHorizontalFlip<float>(1.0), x),
            (std::vector<float>{3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10}));
  EXPECT_EQ(run(data::RandomHorizontalFlip<float>(0.0), x), x.to_vector());
  // p = 0.5: flipped exactly when the sample's one draw is below 0.5.
  const data::RandomHorizontalFlip<float> coin(0.5);
  int flipped = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const bool expected = Rng(seed).uniform() < 0.5;
    const std::vector<float> out = run(coin, x, seed);
    EXPECT_EQ(out[0], expected ? 3.0f : 1.0f) << "seed " << seed;
    flipped += expected;
  }
  EXPECT_GT(flipped, 70);
  EXPECT_LT(flipped, 130);
}

TEST(RandomHorizontalFlip, BadInput) {
  expect_error<std::invalid_argument>([] { data::RandomHorizontalFlip<float>(1.5); }, {"probability 1.5", "[0, 1]"});
  expect_error<std::invalid_argument>([] { data::RandomHorizontalFlip<float>(-0.1); }, {"probability -0.1"});
  expect_error<std::invalid_argument>([] { data::RandomHorizontalFlip<float>(0.5).output_shape(Shape{}); },
                                      {"no dimension to flip"});
}

// A 3x3 image padded by 1 to 5x5, cropped to 3x3: the window's top-left corner is one of 3 x 3
// places. Each corner, written out by hand.
TEST(RandomCrop, PaddedCornersExactValues) {
  const Tensor<float> x = sample_of(Shape{1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const data::RandomCrop<float> crop(3, 1);
  EXPECT_EQ(crop.output_shape(x.shape()), (Shape{1, 3, 3}));
  EXPECT_EQ(run(crop, x, seed_for_corner(3, 3, 0, 0)), (std::vector<float>{0, 0, 0, 0, 1, 2, 0, 4, 5}));
  EXPECT_EQ(run(crop, x, seed_for_corner(3, 3, 0, 2)), (std::vector<float>{0, 0, 0, 2, 3, 0, 5, 6, 0}));
  EXPECT_EQ(run(crop, x, seed_for_corner(3, 3, 2, 0)), (std::vector<float>{0, 4, 5, 0, 7, 8, 0, 0, 0}));
  EXPECT_EQ(run(crop, x, seed_for_corner(3, 3, 2, 2)), (std::vector<float>{5, 6, 0, 8, 9, 0, 0, 0, 0}));
  EXPECT_EQ(run(crop, x, seed_for_corner(3, 3, 1, 1)), x.to_vector());
}

// Without padding, a 2x3 window of a 2x4 image with two channels: both channels cut alike.
TEST(RandomCrop, RectangleKeepsTheChannels) {
  const Tensor<float> x = sample_of(Shape{2, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 15, 16, 17, 18});
  const data::RandomCrop<float> crop({2, 3}, 0);
  EXPECT_EQ(crop.output_shape(x.shape()), (Shape{2, 2, 3}));
  EXPECT_EQ(run(crop, x, seed_for_corner(1, 2, 0, 0)), (std::vector<float>{1, 2, 3, 5, 6, 7, 11, 12, 13, 15, 16, 17}));
  EXPECT_EQ(run(crop, x, seed_for_corner(1, 2, 0, 1)), (std::vector<float>{2, 3, 4, 6, 7, 8, 12, 13, 14, 16, 17, 18}));
}

// Every place of a window larger than the image in one direction, against padding the image
// with zeros for real and reading the window out of it.
TEST(RandomCrop, MatchesPaddingThenWindowing) {
  const std::int64_t channels = 3, h = 5, w = 6, pad = 2, ch = 4, cw = 9;
  Tensor<float> x(Shape{channels, h, w});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(i + 1);
  const data::RandomCrop<float> crop({ch, cw}, pad);
  const std::int64_t ph = h + 2 * pad, pw = w + 2 * pad;
  std::vector<float> padded(static_cast<std::size_t>(channels * ph * pw), 0.0f);
  for (std::int64_t c = 0; c < channels; ++c)
    for (std::int64_t y = 0; y < h; ++y)
      for (std::int64_t z = 0; z < w; ++z)
        padded[static_cast<std::size_t>((c * ph + y + pad) * pw + z + pad)] = x.at(c, y, z);
  std::set<std::pair<std::int64_t, std::int64_t>> places;
  for (std::uint64_t seed = 0; seed < 300; ++seed) {
    Rng draws(seed);
    const auto top = static_cast<std::int64_t>(draws.below(static_cast<std::uint64_t>(ph - ch + 1)));
    const auto left = static_cast<std::int64_t>(draws.below(static_cast<std::uint64_t>(pw - cw + 1)));
    places.insert({top, left});
    std::vector<float> expected;
    for (std::int64_t c = 0; c < channels; ++c)
      for (std::int64_t y = 0; y < ch; ++y)
        for (std::int64_t z = 0; z < cw; ++z)
          expected.push_back(padded[static_cast<std::size_t>((c * ph + top + y) * pw + left + z)]);
    ASSERT_EQ(run(crop, x, seed), expected) << "window at " << top << ", " << left;
  }
  EXPECT_EQ(places.size(), static_cast<std::size_t>((ph - ch + 1) * (pw - cw + 1)));  // every place was tried
}

TEST(RandomCrop, BadInput) {
  expect_error<std::invalid_argument>([] { data::RandomCrop<float>(0); }, {"crop size 0x0", "at least 1x1"});
  expect_error<std::invalid_argument>([] { data::RandomCrop<float>(3, -1); }, {"padding -1 is negative"});
  expect_error<std::invalid_argument>(
      [] {
        data::RandomCrop<float>(30).output_shape(Shape{1, 28, 28});
      },
      {"RandomCrop(30x30, padding 0)", "larger than the padded image, 28x28"});
  expect_error<std::invalid_argument>(
      [] {
        data::RandomCrop<float>(33, 2).output_shape(Shape{1, 28, 28});
      },
      {"larger than the padded image, 32x32", "28x28 with padding 2"});
  expect_error<std::invalid_argument>(
      [] {
        data::RandomCrop<float>({20, 33}, 2).output_shape(Shape{3, 28, 28});
      },
      {"RandomCrop(20x33"});
  EXPECT_EQ(data::RandomCrop<float>(32, 2).output_shape(Shape{1, 28, 28}), (Shape{1, 32, 32}));
  expect_error<std::invalid_argument>([] { data::RandomCrop<float>(2).output_shape(Shape{9}); },
                                      {"no height and width"});
}

// A user's transform that changes the shape: keeps the first channel.
class FirstChannel final : public data::Transform<float> {
 public:
  Shape output_shape(const Shape& in) const override {
    Shape out = in;
    out[0] = 1;
    return out;
  }
  void apply(const float* in, const Shape& in_shape, float* out, Rng&) const override {
    for (std::int64_t i = 0; i < in_shape.sample_size(); ++i) out[i] = in[i];
  }
  std::string name() const override { return "FirstChannel"; }
};

TEST(Compose, ChainsTransformsAndFunctions) {
  const Tensor<float> x = sample_of(Shape{2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  const data::Compose chain(
      data::RandomHorizontalFlip(1.0), FirstChannel(),
      [](float* s, const Shape& shape, Rng&) {
        for (std::int64_t i = 0; i < shape.numel(); ++i) s[i] *= 10;
      },
      data::Normalize({5.0}, {2.0}));
  EXPECT_EQ(chain.size(), 4u);
  EXPECT_EQ(chain[2].name(), "Lambda");
  EXPECT_EQ(chain.output_shape(x.shape()), (Shape{1, 2, 2}));
  EXPECT_EQ(chain.shapes(x.shape()).size(), 5u);
  Rng rng(0);
  // flip: 2 1 4 3 | 6 5 8 7; first channel: 2 1 4 3; x10: 20 10 40 30; (v - 5) / 2.
  EXPECT_EQ(chain(x, rng).to_vector(), (std::vector<float>{7.5f, 2.5f, 17.5f, 12.5f}));
}

TEST(Compose, NamesTheTransformThatCannotTakeTheShape) {
  const data::Compose chain(data::RandomCrop(2), data::Normalize({0.5, 0.5}, {1.0, 1.0}));
  expect_error<std::invalid_argument>(
      [&] {
        chain.output_shape(Shape{3, 4, 4});
      },
      {"transform 1 of 2", "Normalize", "2 channels given", "3 channels"});
  expect_error<std::invalid_argument>([] { data::Lambda<float>(nullptr); }, {"empty function"});
}

TEST(Lambda, DrawsFromTheGeneratorItIsGiven) {
  const data::Lambda<float> noise(
      [](float* s, const Shape& shape, Rng& rng) {
        for (std::int64_t i = 0; i < shape.numel(); ++i) s[i] += static_cast<float>(rng.uniform());
      },
      "Noise");
  const Tensor<float> x = Tensor<float>::zeros(Shape{1, 1, 3});
  Rng expected(9);
  const std::vector<float> out = run(noise, x, 9);
  for (float v : out) EXPECT_EQ(v, static_cast<float>(expected.uniform()));
  EXPECT_EQ(noise.name(), "Noise");
}

TEST(SampleRng, EachInputChangesTheStream) {
  const std::uint64_t base = data::sample_rng(1, 2, 3).next();
  EXPECT_EQ(data::sample_rng(1, 2, 3).next(), base);
  EXPECT_NE(data::sample_rng(0, 2, 3).next(), base);
  EXPECT_NE(data::sample_rng(1, 3, 3).next(), base);
  EXPECT_NE(data::sample_rng(1, 2, 4).next(), base);
  // Swapping the epoch and the position gives another stream too.
  EXPECT_NE(data::sample_rng(1, 3, 2).next(), base);
  // And none is the shuffle's own generator, Rng(seed).
  EXPECT_NE(data::sample_rng(1, 0, 0).next(), Rng(1).next());
}
