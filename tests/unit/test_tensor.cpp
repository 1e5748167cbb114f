#include <gtest/gtest.h>

#include <cstdint>

#include "hnn/tensor.hpp"

using namespace hnn;

TEST(Shape, PrintsLikePyTorchAndCountsElements) {
  const Shape s{1, 6, 28, 28};
  EXPECT_EQ(s.str(), "(1, 6, 28, 28)");
  EXPECT_EQ(s.numel(), 4704);
  EXPECT_EQ(s.sample_size(), 4704);
  EXPECT_EQ(Shape({256, 400}).sample_size(), 400);
  EXPECT_THROW(Shape({1, 2, 3, 4, 5, 6, 7}), std::invalid_argument);
  EXPECT_THROW(Shape({2, -1}), std::invalid_argument);
}

TEST(Tensor, ElementAccessIsRowMajor) {
  Tensor<float> t(Shape{2, 3});
  for (int i = 0; i < 6; ++i) t[i] = static_cast<float>(i);
  EXPECT_EQ(t.at(1, 2), 5.0f);
  EXPECT_EQ(t.at(0, 1), 1.0f);
  EXPECT_THROW(t.at(2, 0), std::out_of_range);
  EXPECT_THROW(t.at(0), std::invalid_argument);
}

TEST(Tensor, ReshapeAndSliceAreViewsSharingStorage) {
  Tensor<double> t = Tensor<double>::full(Shape{4, 2, 3}, 1.5);
  Tensor<double> flat = t.reshape(Shape{4, 6});
  flat.at(3, 5) = 9;
  EXPECT_EQ(t.at(3, 1, 2), 9);
  Tensor<double> tail = t.slice(2, 4);
  EXPECT_EQ(tail.shape(), Shape({2, 2, 3}));
  tail.at(0, 0, 0) = -4;
  EXPECT_EQ(t.at(2, 0, 0), -4);
  EXPECT_THROW(t.reshape(Shape{5, 5}), std::invalid_argument);
  EXPECT_THROW(t.slice(3, 5), std::out_of_range);
}

TEST(Tensor, CloneIsDeepAndResizeReusesStorage) {
  Tensor<float> t = Tensor<float>::full(Shape{8}, 2.0f);
  Tensor<float> c = t.clone();
  c[0] = 7;
  EXPECT_EQ(t[0], 2.0f);
  const float* before = t.data();
  t.resize(Shape{2, 3});  // smaller: same storage
  EXPECT_EQ(t.data(), before);
  EXPECT_EQ(t.shape(), Shape({2, 3}));
  t.resize(Shape{4, 2});  // back to the capacity: still the same storage
  EXPECT_EQ(t.data(), before);
  t.resize(Shape{3, 3});  // larger: new storage
  EXPECT_EQ(t.numel(), 9);
}

// Small buffers start on a cache line; buffers of 2 MB and more on a 2 MB boundary, so that
// transparent huge pages can back them whole (Memory<cpu>::huge_page).
TEST(Tensor, LargeBuffersAreAlignedForHugePages) {
  const auto address = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p); };
  const Tensor<float> small(Shape{3, 5});
  EXPECT_EQ(address(small.data()) % 64, 0u);
  const Tensor<float> below(Shape{(std::int64_t(2) << 20) / 4 - 16});
  EXPECT_EQ(address(below.data()) % 64, 0u);
  for (const std::int64_t n : {std::int64_t(2) << 18, std::int64_t(256) * 16 * 28 * 28 + 3}) {
    Tensor<float> large(Shape{n});
    EXPECT_EQ(address(large.data()) % (std::uintptr_t(2) << 20), 0u) << n << " floats";
    large[0] = 1.5f;
    large[n - 1] = -2.5f;  // the whole rounded-up buffer is usable memory
    EXPECT_EQ(large[0] + large[n - 1], -1.0f);
  }
}

TEST(Tensor, FromVectorChecksTheCountAndRoundTrips) {
  const std::vector<int> v{1, 2, 3, 4, 5, 6};
  Tensor<int> t = Tensor<int>::from_vector(Shape{3, 2}, v);
  EXPECT_EQ(t.to_vector(), v);
  EXPECT_EQ(t.to<cpu>().at(2, 1), 6);
  EXPECT_THROW(Tensor<int>::from_vector(Shape{4, 2}, v), std::invalid_argument);
}
