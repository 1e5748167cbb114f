// Every CPU Conv2d algorithm (kernels/conv2d.hpp), selected explicitly, against im2col, the
// reference that runs any geometry; and the face's choice and refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "gradient_check.hpp"
#include "hnn/kernels/conv2d.hpp"
#include "hnn/parallel.hpp"

using namespace hnn;
using hnn::testing::random_tensor;

namespace {

Conv2dGeometry geometry(std::int64_t batch, std::int64_t in, std::int64_t h, std::int64_t w, std::int64_t out,
                        std::int64_t kernel, std::int64_t padding, std::int64_t stride = 1) {
  Conv2dGeometry g;
  g.batch = batch;
  g.in_channels = in;
  g.in_height = h;
  g.in_width = w;
  g.out_channels = out;
  g.kernel = kernel;
  g.padding = padding;
  g.stride = stride;
  return g;
}

template <class T>
struct ResultOf {
  Tensor<T> y, dx, dw, db;
};
using Result = ResultOf<double>;

template <class T>
ResultOf<T> run(const Conv2dGeometry& g, Conv2dAlgorithm algorithm, const Tensor<T>& x, const Tensor<T>& w,
                const Tensor<T>& b, const Tensor<T>& dy, bool input_gradient = true) {
  ResultOf<T> r{Tensor<T>(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()}), Tensor<T>(x.shape()),
                Tensor<T>(w.shape()), Tensor<T>(b.shape())};
  Tensor<T> ws(Shape{conv2d_workspace_size(cpu{}, g, algorithm)});
  conv2d_forward(cpu{}, g, x.data(), w.data(), b.data(), r.y.data(), ws.data(), algorithm);
  conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), input_gradient ? r.dx.data() : nullptr, r.dw.data(),
                  r.db.data(), ws.data(), algorithm);
  return r;
}

void expect_close(const Tensor<double>& a, const Tensor<double>& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (std::int64_t i = 0; i < a.numel(); ++i)
    ASSERT_NEAR(a[i], b[i], 1e-10 * (1 + std::abs(b[i]))) << what << "[" << i << "]";
}

// The convolution by its definition, seven nested loops: what im2col is checked against.
Result by_definition(const Conv2dGeometry& g, const Tensor<double>& x, const Tensor<double>& w, const Tensor<double>& b,
                     const Tensor<double>& dy) {
  Result r{Tensor<double>::zeros(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()}),
           Tensor<double>::zeros(x.shape()), Tensor<double>::zeros(w.shape()), Tensor<double>::zeros(b.shape())};
  const std::int64_t k = g.kernel;
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t o = 0; o < g.out_channels; ++o)
      for (std::int64_t oh = 0; oh < g.out_height(); ++oh)
        for (std::int64_t ow = 0; ow < g.out_width(); ++ow) {
          const std::int64_t out = ((n * g.out_channels + o) * g.out_height() + oh) * g.out_width() + ow;
          r.y[out] = b[o];
          r.db[o] += dy[out];
          for (std::int64_t c = 0; c < g.in_channels; ++c)
            for (std::int64_t kh = 0; kh < k; ++kh)
              for (std::int64_t kw = 0; kw < k; ++kw) {
                const std::int64_t ih = oh * g.stride - g.padding + kh, iw = ow * g.stride - g.padding + kw;
                if (ih < 0 || ih >= g.in_height || iw < 0 || iw >= g.in_width) continue;
                const std::int64_t in = ((n * g.in_channels + c) * g.in_height + ih) * g.in_width + iw;
                const std::int64_t wi = ((o * g.in_channels + c) * k + kh) * k + kw;
                r.y[out] += w[wi] * x[in];
                r.dx[in] += w[wi] * dy[out];
                r.dw[wi] += x[in] * dy[out];
              }
        }
  return r;
}

TEST(Conv2dAlgorithms, Im2colMatchesTheDefinitionAtEveryStrideAndPadding) {
  Rng rng(17);
  // (batch, in, h, w, out, kernel, padding, stride): strides 1-3, padding up to kernel - 1,
  // 1x1 kernels, odd sizes, windows that overhang the right and bottom edges.
  const std::vector<Conv2dGeometry> geometries{
      geometry(3, 2, 9, 7, 3, 3, 1, 2), geometry(2, 3, 8, 8, 4, 3, 1, 2), geometry(2, 2, 7, 9, 2, 1, 0, 2),
      geometry(2, 2, 10, 11, 3, 3, 2, 3), geometry(1, 1, 5, 5, 2, 5, 2, 1), geometry(2, 2, 6, 6, 2, 2, 1, 2),
      geometry(2, 3, 7, 7, 2, 3, 0, 1), geometry(1, 2, 4, 9, 3, 4, 3, 2)};
  for (const Conv2dGeometry& g : geometries) {
    const std::string what = "im2col, " + std::to_string(g.in_height) + "x" + std::to_string(g.in_width) + " kernel " +
                             std::to_string(g.kernel) + " padding " + std::to_string(g.padding) + " stride " +
                             std::to_string(g.stride);
    const Tensor<double> x = random_tensor(Shape{g.batch, g.in_channels, g.in_height, g.in_width}, rng);
    const Tensor<double> w = random_tensor(Shape{g.out_channels, g.in_channels, g.kernel, g.kernel}, rng);
    const Tensor<double> b = random_tensor(Shape{g.out_channels}, rng);
    const Tensor<double> dy = random_tensor(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()}, rng);
    const Result expected = by_definition(g, x, w, b, dy), got = run(g, Conv2dAlgorithm::im2col, x, w, b, dy);
    expect_close(got.y, expected.y, what + " output");
    expect_close(got.dx, expected.dx, what + " input gradient");
    expect_close(got.dw, expected.dw, what + " weight gradient");
    expect_close(got.db, expected.db, what + " bias gradient");
  }
}

// Wide layers (in doubles: 16+ input channels, output channels in pairs of packets): odd
// sizes at stride 1, a row longer than one block holds, 48 outputs (three packets on AVX-512,
// so blocks of two), stride 2 onto a 7x7 plane, a 5x5 kernel, padding 2. The input gradient
// joins when the input channels come in pairs of packets too: 16 and 32 do on every ISA up to
// AVX-512 (8 doubles a packet), 17 never; 20 only on SSE.
const Conv2dGeometry channel_major_geometries[] = {
    geometry(3, 16, 7, 9, 32, 3, 1),      geometry(2, 17, 5, 31, 32, 3, 1), geometry(2, 20, 6, 5, 48, 3, 1, 1),
    geometry(2, 32, 14, 13, 64, 3, 1, 2), geometry(2, 16, 9, 8, 16, 5, 1),  geometry(2, 32, 6, 23, 16, 3, 2)};

TEST(Conv2dAlgorithms, ChannelMajorForwardRunsOnWideLayers) {
  for (const Conv2dGeometry& g : channel_major_geometries)
    EXPECT_TRUE(detail::direct::Plan<double>(g).channel_major) << g.in_channels << " -> " << g.out_channels;
  for (const int i : {0, 3, 4, 5})
    EXPECT_TRUE(detail::direct::Plan<double>(channel_major_geometries[i]).channel_major_input_gradient) << i;
  EXPECT_FALSE(detail::direct::Plan<double>(channel_major_geometries[1]).channel_major_input_gradient);
  // The ResNet's: 32 -> 32, 64 -> 64, both strided 3x3s; not its stem, nor its 16 -> 16 where
  // 16 outputs are a single packet (AVX-512).
  EXPECT_TRUE(detail::direct::Plan<float>(geometry(2, 64, 7, 7, 64, 3, 1)).channel_major);
  EXPECT_TRUE(detail::direct::Plan<float>(geometry(2, 16, 28, 28, 32, 3, 1, 2)).channel_major);
  EXPECT_EQ(detail::direct::Plan<float>(geometry(2, 16, 28, 28, 16, 3, 1)).channel_major,
            detail::packet_size<float> <= 8);
  EXPECT_FALSE(detail::direct::Plan<float>(geometry(2, 1, 28, 28, 16, 3, 1)).channel_major);
}

TEST(Conv2dAlgorithms, DirectMatchesIm2colAtEveryStride) {
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    // Stride 1 (LeNet's two convs, a padded 3x3, a 1x1), then strided: the ResNet's 3x3 and
    // 1x1 at stride 2 (even and odd sizes, so the last phase row and column differ), a kernel
    // of 2 (one tap per phase), stride 3, a stride above the kernel (pixels no tap reads),
    // a 4x4 kernel at stride 2 with padding 3 (phases of two taps each way); and 7x7 planes,
    // whose backward holds several samples per group, the last group short. Last, geometries
    // whose forward runs the channel-major kernel (ChannelMajorForwardRunsOnWideLayers).
    for (const Conv2dGeometry& g :
         {geometry(3, 1, 28, 28, 6, 5, 2), geometry(5, 6, 14, 14, 16, 5, 0), geometry(2, 3, 7, 9, 4, 3, 1),
          geometry(4, 2, 6, 5, 3, 1, 0), geometry(3, 4, 28, 28, 8, 3, 1, 2), geometry(3, 3, 9, 7, 5, 3, 1, 2),
          geometry(2, 4, 14, 14, 7, 1, 0, 2), geometry(2, 3, 7, 8, 2, 1, 0, 2), geometry(2, 2, 6, 6, 2, 2, 1, 2),
          geometry(2, 2, 10, 11, 3, 3, 2, 3), geometry(2, 2, 9, 8, 3, 2, 0, 3), geometry(1, 2, 4, 9, 3, 4, 3, 2),
          geometry(21, 3, 7, 7, 4, 3, 1), channel_major_geometries[0], channel_major_geometries[1],
          channel_major_geometries[2], channel_major_geometries[3], channel_major_geometries[4],
          channel_major_geometries[5]}) {
      ASSERT_TRUE(supports(cpu{}, Conv2dAlgorithm::direct, g));
      Rng rng(static_cast<std::uint64_t>(g.in_channels * 100 + g.kernel));
      const Tensor<double> x = random_tensor(Shape{g.batch, g.in_channels, g.in_height, g.in_width}, rng);
      const Tensor<double> w = random_tensor(Shape{g.out_channels, g.in_channels, g.kernel, g.kernel}, rng);
      const Tensor<double> b = random_tensor(Shape{g.out_channels}, rng);
      const Tensor<double> dy = random_tensor(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()}, rng);
      const Result reference = run(g, Conv2dAlgorithm::im2col, x, w, b, dy);
      const Result direct = run(g, Conv2dAlgorithm::direct, x, w, b, dy);
      expect_close(direct.y, reference.y, "output");
      expect_close(direct.dx, reference.dx, "input gradient");
      expect_close(direct.dw, reference.dw, "weight gradient");
      expect_close(direct.db, reference.db, "bias gradient");
      // Without the input gradient (a model's first layer) the backward may take another path.
      const Result weights_only = run(g, Conv2dAlgorithm::direct, x, w, b, dy, false);
      expect_close(weights_only.dw, reference.dw, "weight gradient alone");
      expect_close(weights_only.db, reference.db, "bias gradient alone");
    }
  }
  set_num_threads(1);
}

// The channel-major kernels in float, where a register block transposes 16 (AVX-512), 8 or 4
// pixels x channels between the planes and the pixel-major grids: the ResNet's wide convs, a
// plane whose pixels are no whole number of packets (the last block overlaps), and planes
// smaller than a packet (copied element by element), on 1 and 2 threads.
TEST(Conv2dAlgorithms, ChannelMajorInFloatMatchesIm2col) {
  const auto as_float = [](const Tensor<double>& t) {
    Tensor<float> f(t.shape());
    for (std::int64_t i = 0; i < t.numel(); ++i) f[i] = static_cast<float>(t[i]);
    return f;
  };
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Conv2dGeometry& g :
         {geometry(3, 32, 14, 14, 32, 3, 1), geometry(2, 16, 28, 28, 32, 3, 1, 2), geometry(2, 32, 14, 14, 64, 3, 1, 2),
          geometry(3, 64, 7, 7, 64, 3, 1), geometry(2, 32, 5, 7, 32, 3, 1), geometry(2, 32, 3, 3, 32, 3, 1),
          geometry(2, 32, 4, 5, 64, 3, 1, 2)}) {
      ASSERT_TRUE(detail::direct::Plan<float>(g).channel_major) << g.in_channels << " -> " << g.out_channels;
      Rng rng(static_cast<std::uint64_t>(g.in_channels * 10 + g.in_height));
      const Tensor<float> x = as_float(random_tensor(Shape{g.batch, g.in_channels, g.in_height, g.in_width}, rng));
      const Tensor<float> w = as_float(random_tensor(Shape{g.out_channels, g.in_channels, 3, 3}, rng));
      const Tensor<float> b = as_float(random_tensor(Shape{g.out_channels}, rng));
      const Tensor<float> dy = as_float(random_tensor(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()}, rng));
      const ResultOf<float> reference = run(g, Conv2dAlgorithm::im2col, x, w, b, dy);
      const ResultOf<float> direct = run(g, Conv2dAlgorithm::direct, x, w, b, dy);
      const std::string what = std::to_string(g.in_channels) + " -> " + std::to_string(g.out_channels) + " at " +
                               std::to_string(g.in_height) + "x" + std::to_string(g.in_width) + ", stride " +
                               std::to_string(g.stride) + ", " + std::to_string(threads) + " threads: ";
      // Sums of up to 64 x 9 x 2 x 7 x 7 products of values in [-1, 1]: float's rounding in
      // either order stays far below 1e-3.
      for (const auto& [got, expected, name] :
           {std::tuple{&direct.y, &reference.y, "output"}, std::tuple{&direct.dx, &reference.dx, "input gradient"},
            std::tuple{&direct.dw, &reference.dw, "weight gradient"}, std::tuple{&direct.db, &reference.db, "bias gradient"}})
        for (std::int64_t i = 0; i < expected->numel(); ++i)
          ASSERT_NEAR((*got)[i], (*expected)[i], 1e-3f * (1 + std::abs((*expected)[i]))) << what << name << "[" << i << "]";
    }
  }
  set_num_threads(1);
}

TEST(Conv2dAlgorithms, ChooseSaysWhichRunsAndUnsupportedOnesAreRefused) {
  const Conv2dGeometry stride1 = geometry(2, 1, 8, 8, 2, 3, 1), stride2 = geometry(2, 1, 8, 8, 2, 3, 1, 2);
  EXPECT_EQ(choose(cpu{}, stride1), Conv2dAlgorithm::direct);
  EXPECT_EQ(choose(cpu{}, stride2), Conv2dAlgorithm::direct);
  EXPECT_EQ(choose(cuda{}, stride2), Conv2dAlgorithm::staged);
  // A strided 1x1 (the ResNet's projection shortcut) runs im2col; a 1x1 at stride 1 runs direct.
  EXPECT_EQ(choose(cpu{}, geometry(2, 16, 28, 28, 32, 1, 0, 2)), Conv2dAlgorithm::im2col);
  EXPECT_EQ(choose(cpu{}, geometry(2, 16, 28, 28, 32, 1, 0, 1)), Conv2dAlgorithm::direct);
  // The backward pass of strided convolutions onto small planes runs im2col, unless they are
  // wide enough for the channel-major kernels; the workspace serves both passes.
  const Conv2dGeometry wide = geometry(2, 64, 7, 7, 64, 3, 1), small_strided = geometry(2, 32, 14, 14, 64, 3, 1, 2);
  EXPECT_EQ(choose(cpu{}, wide), Conv2dAlgorithm::direct);
  EXPECT_EQ(choose_backward(cpu{}, wide), Conv2dAlgorithm::direct);
  EXPECT_EQ(choose(cpu{}, small_strided), Conv2dAlgorithm::direct);
  EXPECT_EQ(choose_backward(cpu{}, small_strided), Conv2dAlgorithm::direct);
  EXPECT_EQ(choose_backward(cpu{}, geometry(2, 8, 14, 14, 64, 3, 1, 2)), Conv2dAlgorithm::im2col);
  EXPECT_EQ(choose_backward(cpu{}, geometry(2, 16, 28, 28, 32, 3, 1, 2)), Conv2dAlgorithm::direct);
  EXPECT_EQ(choose_backward(cpu{}, stride1), Conv2dAlgorithm::direct);
  for (const Conv2dGeometry& g : {wide, small_strided}) {
    EXPECT_GE(conv2d_workspace_size(cpu{}, g), conv2d_workspace_size(cpu{}, g, Conv2dAlgorithm::im2col));
    EXPECT_GE(conv2d_workspace_size(cpu{}, g), conv2d_workspace_size(cpu{}, g, Conv2dAlgorithm::direct));
  }
  EXPECT_FALSE(supports(cpu{}, Conv2dAlgorithm::staged, stride1));
  // Padding as large as the kernel reads rows of nothing but padding: the direct grid refuses it.
  const Conv2dGeometry overpadded = geometry(2, 1, 8, 8, 2, 2, 2, 2);
  EXPECT_EQ(choose(cpu{}, overpadded), Conv2dAlgorithm::im2col);
  std::vector<float> buffer(1024);
  try {
    conv2d_forward(cpu{}, overpadded, buffer.data(), buffer.data(), buffer.data(), buffer.data(), buffer.data(),
                   Conv2dAlgorithm::direct);
    FAIL() << "the direct algorithm ran a convolution with padding 2 and a 2x2 kernel";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("direct"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("padding 2"), std::string::npos) << e.what();
  }
}

}  // namespace
