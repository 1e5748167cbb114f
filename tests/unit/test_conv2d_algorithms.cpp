// Every CPU Conv2d algorithm (kernels/conv2d.hpp), selected explicitly, against im2col, the
// reference that runs any geometry (itself checked against the definition); and the face's
// choices and refusals.
#include <gtest/gtest.h>

#include <algorithm>
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

// Runs the forward with `forward` and the backward with `backward`, into fresh tensors.
template <class T>
ResultOf<T> run(const Conv2dGeometry& g, Conv2dAlgorithm forward, Conv2dBackwardAlgorithms backward,
                const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b, const Tensor<T>& dy,
                bool input_gradient = true) {
  ResultOf<T> r{Tensor<T>(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()}), Tensor<T>(x.shape()),
                Tensor<T>(w.shape()), Tensor<T>(b.shape())};
  Tensor<T> ws(Shape{std::max(conv2d_workspace_size(cpu{}, g, forward), conv2d_workspace_size(cpu{}, g, backward))});
  conv2d_forward(cpu{}, g, x.data(), w.data(), b.data(), r.y.data(), ws.data(), forward);
  conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), input_gradient ? r.dx.data() : nullptr, r.dw.data(),
                  r.db.data(), ws.data(), backward);
  return r;
}
// The same with one algorithm for every pass.
template <class T>
ResultOf<T> run(const Conv2dGeometry& g, Conv2dAlgorithm algorithm, const Tensor<T>& x, const Tensor<T>& w,
                const Tensor<T>& b, const Tensor<T>& dy, bool input_gradient = true) {
  return run(g, algorithm, Conv2dBackwardAlgorithms{algorithm, algorithm}, x, w, b, dy, input_gradient);
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
// pays channel-major too when the input channels come in pairs of packets: 16 and 32 do on
// every ISA up to AVX-512 (8 doubles a packet), 17 never; 20 only on SSE.
const Conv2dGeometry channel_major_geometries[] = {
    geometry(3, 16, 7, 9, 32, 3, 1),      geometry(2, 17, 5, 31, 32, 3, 1), geometry(2, 20, 6, 5, 48, 3, 1, 1),
    geometry(2, 32, 14, 13, 64, 3, 1, 2), geometry(2, 16, 9, 8, 16, 5, 1),  geometry(2, 32, 6, 23, 16, 3, 2)};

const Conv2dAlgorithm im2col = Conv2dAlgorithm::im2col, direct = Conv2dAlgorithm::direct,
                      channel_major = Conv2dAlgorithm::channel_major;

TEST(Conv2dAlgorithms, ChooseRunsChannelMajorOnWideLayers) {
  // The choice does not depend on the thread count: both are checked.
  const int threads = num_threads();
  for (const int run_threads : {1, 2}) {
    set_num_threads(run_threads);
    SCOPED_TRACE(std::to_string(run_threads) + " threads");
    for (const Conv2dGeometry& g : channel_major_geometries)
      EXPECT_EQ(choose<double>(cpu{}, g), channel_major) << g.in_channels << " -> " << g.out_channels;
    for (const int i : {0, 3, 4, 5})
      EXPECT_EQ(choose_backward<double>(cpu{}, channel_major_geometries[i]),
                (Conv2dBackwardAlgorithms{channel_major, channel_major}))
          << i;
    // 17 input channels fill no packets: the weight gradient channel-major, the input gradient direct.
    EXPECT_EQ(choose_backward<double>(cpu{}, channel_major_geometries[1]),
              (Conv2dBackwardAlgorithms{channel_major, direct}));
    // The ResNet's: 32 -> 32, 64 -> 64, both strided 3x3s; not its stem, nor its 16 -> 16 where
    // 16 outputs are a single packet (AVX-512). Its 16 -> 32 at stride 2 has one packet of input
    // channels there, so its input gradient runs direct.
    // In float, at a training batch: their stride-1 3x3s of 16 or more channels run winograd
    // forwards, and those of 32 or more both gradients too, from 16 on packets of 8 floats or
    // fewer (test_winograd.cpp); the grid below a strip of tiles and in double.
    const Conv2dAlgorithm winograd = Conv2dAlgorithm::winograd;
    EXPECT_EQ(choose<float>(cpu{}, geometry(1, 64, 7, 7, 64, 3, 1)), channel_major);
    EXPECT_EQ(choose<double>(cpu{}, geometry(256, 64, 7, 7, 64, 3, 1)), channel_major);
    EXPECT_EQ(choose<float>(cpu{}, geometry(256, 1, 28, 28, 16, 3, 1)), direct);
    const Conv2dGeometry narrow = geometry(256, 16, 28, 28, 16, 3, 1);
    const Conv2dAlgorithm narrow_grid = detail::packet_size<float> <= 8 ? channel_major : direct;
    EXPECT_EQ(choose<float>(cpu{}, narrow), winograd);
    // On packets of 8 floats or fewer (AVX2) both gradients run winograd where the forward does.
    const bool narrow_packets = detail::packet_size<float> <= 8;
    EXPECT_EQ(choose_backward<float>(cpu{}, narrow), narrow_packets ? (Conv2dBackwardAlgorithms{winograd, winograd})
                                                                    : (Conv2dBackwardAlgorithms{narrow_grid, narrow_grid}));
    for (const Conv2dGeometry& g : {geometry(256, 32, 14, 14, 32, 3, 1), geometry(256, 64, 7, 7, 64, 3, 1)}) {
      EXPECT_EQ(choose<float>(cpu{}, g), winograd);
      EXPECT_EQ(choose_backward<float>(cpu{}, g), (Conv2dBackwardAlgorithms{winograd, winograd}));
      EXPECT_GE(conv2d_workspace_size(cpu{}, g), conv2d_workspace_size(cpu{}, g, winograd));
      EXPECT_GE(conv2d_workspace_size(cpu{}, g), conv2d_workspace_size(cpu{}, g, choose_backward<float>(cpu{}, g)));
      // A workspace sized on this thread count still serves a run on one.
      EXPECT_GE(conv2d_workspace_size(cpu{}, g), conv2d_workspace_size(cpu{}, g, winograd, 1));
    }
    EXPECT_EQ(choose<float>(cpu{}, geometry(2, 16, 28, 28, 32, 3, 1, 2)), channel_major);
    // Two samples of 28x28 are 98 tiles, a strip or more on every ISA (64 on AVX-512), so
    // winograd; eight channels are too few for it.
    EXPECT_EQ(choose<float>(cpu{}, geometry(2, 16, 28, 28, 16, 3, 1)), winograd);
    EXPECT_EQ(choose<float>(cpu{}, geometry(2, 8, 28, 28, 8, 3, 1)), direct);
    EXPECT_EQ(choose<float>(cpu{}, geometry(2, 1, 28, 28, 16, 3, 1)), direct);
    EXPECT_EQ(choose_backward<float>(cpu{}, geometry(2, 16, 28, 28, 32, 3, 1, 2)),
              (Conv2dBackwardAlgorithms{channel_major, narrow_grid}));
  }
  set_num_threads(threads);
}

// Every input of `what` against the reference, to 1e-10 relative.
void expect_matches(const Result& got, const Result& reference, const std::string& what, bool input_gradient = true) {
  expect_close(got.y, reference.y, what + " output");
  if (input_gradient) expect_close(got.dx, reference.dx, what + " input gradient");
  expect_close(got.dw, reference.dw, what + " weight gradient");
  expect_close(got.db, reference.db, what + " bias gradient");
}

struct Inputs {
  Tensor<double> x, w, b, dy;
};
Inputs random_inputs(const Conv2dGeometry& g, Rng& rng) {
  return {random_tensor(Shape{g.batch, g.in_channels, g.in_height, g.in_width}, rng),
          random_tensor(Shape{g.out_channels, g.in_channels, g.kernel, g.kernel}, rng),
          random_tensor(Shape{g.out_channels}, rng),
          random_tensor(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()}, rng)};
}

TEST(Conv2dAlgorithms, DirectMatchesIm2colAtEveryStride) {
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    // Stride 1 (LeNet's two convs, a padded 3x3, a 1x1), then strided: the ResNet's 3x3 and
    // 1x1 at stride 2 (even and odd sizes, so the last phase row and column differ), a kernel
    // of 2 (one tap per phase), stride 3, a stride above the kernel (pixels no tap reads),
    // a 4x4 kernel at stride 2 with padding 3 (phases of two taps each way); and 7x7 planes,
    // whose backward holds several samples per group, the last group short. Last, the wide
    // layers whose default is channel-major.
    for (const Conv2dGeometry& g :
         {geometry(3, 1, 28, 28, 6, 5, 2), geometry(5, 6, 14, 14, 16, 5, 0), geometry(2, 3, 7, 9, 4, 3, 1),
          geometry(4, 2, 6, 5, 3, 1, 0), geometry(3, 4, 28, 28, 8, 3, 1, 2), geometry(3, 3, 9, 7, 5, 3, 1, 2),
          geometry(2, 4, 14, 14, 7, 1, 0, 2), geometry(2, 3, 7, 8, 2, 1, 0, 2), geometry(2, 2, 6, 6, 2, 2, 1, 2),
          geometry(2, 2, 10, 11, 3, 3, 2, 3), geometry(2, 2, 9, 8, 3, 2, 0, 3), geometry(1, 2, 4, 9, 3, 4, 3, 2),
          geometry(21, 3, 7, 7, 4, 3, 1), channel_major_geometries[0], channel_major_geometries[1],
          channel_major_geometries[2], channel_major_geometries[3], channel_major_geometries[4],
          channel_major_geometries[5]}) {
      ASSERT_TRUE(supports<double>(cpu{}, direct, g));
      Rng rng(static_cast<std::uint64_t>(g.in_channels * 100 + g.kernel));
      const auto [x, w, b, dy] = random_inputs(g, rng);
      const Result reference = run(g, im2col, x, w, b, dy);
      expect_matches(run(g, direct, x, w, b, dy), reference, "direct");
      // Without the input gradient (a model's first layer) the backward may take another path.
      expect_matches(run(g, direct, x, w, b, dy, false), reference, "direct, weights alone", false);
      // Each gradient by its own algorithm: im2col's weight gradient, direct's input gradient alone.
      expect_matches(run(g, direct, {im2col, direct}, x, w, b, dy), reference, "im2col + direct");
    }
  }
  set_num_threads(1);
}

// The channel-major kernels, selected explicitly, in doubles: the wide layers above, and
// channels in pairs of packets at stride 3, at a stride above the kernel, and with a 1x1
// kernel. The input gradient runs channel-major where the input channels allow it, and
// direct on its own after the channel-major weight gradient everywhere.
TEST(Conv2dAlgorithms, ChannelMajorMatchesIm2colAtEveryStride) {
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Conv2dGeometry& g :
         {channel_major_geometries[0], channel_major_geometries[1], channel_major_geometries[2],
          channel_major_geometries[3], channel_major_geometries[4], channel_major_geometries[5],
          geometry(2, 16, 10, 11, 32, 3, 2, 3), geometry(3, 32, 9, 8, 32, 2, 0, 3), geometry(2, 16, 5, 6, 32, 1, 0)}) {
      const std::string what = std::to_string(g.in_channels) + " -> " + std::to_string(g.out_channels) + ", stride " +
                               std::to_string(g.stride) + ", " + std::to_string(threads) + " threads: ";
      ASSERT_TRUE(supports<double>(cpu{}, channel_major, g)) << what;
      Rng rng(static_cast<std::uint64_t>(g.in_channels * 100 + g.kernel + g.stride));
      const auto [x, w, b, dy] = random_inputs(g, rng);
      const Result reference = run(g, im2col, x, w, b, dy);
      const Conv2dBackwardAlgorithms all{channel_major, channel_major}, mixed{channel_major, direct};
      if (supports<double>(cpu{}, all, g)) expect_matches(run(g, channel_major, all, x, w, b, dy), reference, what);
      expect_matches(run(g, channel_major, mixed, x, w, b, dy), reference, what + "input gradient direct,");
      expect_matches(run(g, channel_major, mixed, x, w, b, dy, false), reference, what + "weights alone,", false);
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
      ASSERT_TRUE(supports<float>(cpu{}, channel_major, g)) << g.in_channels << " -> " << g.out_channels;
      const Conv2dBackwardAlgorithms backward{channel_major, detail::channel_major::fits<float>(g.in_channels)
                                                                 ? channel_major
                                                                 : direct};
      Rng rng(static_cast<std::uint64_t>(g.in_channels * 10 + g.in_height));
      const Tensor<float> x = as_float(random_tensor(Shape{g.batch, g.in_channels, g.in_height, g.in_width}, rng));
      const Tensor<float> w = as_float(random_tensor(Shape{g.out_channels, g.in_channels, 3, 3}, rng));
      const Tensor<float> b = as_float(random_tensor(Shape{g.out_channels}, rng));
      const Tensor<float> dy = as_float(random_tensor(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()}, rng));
      const ResultOf<float> reference = run(g, im2col, x, w, b, dy);
      const ResultOf<float> got = run(g, channel_major, backward, x, w, b, dy);
      const std::string what = std::to_string(g.in_channels) + " -> " + std::to_string(g.out_channels) + " at " +
                               std::to_string(g.in_height) + "x" + std::to_string(g.in_width) + ", stride " +
                               std::to_string(g.stride) + ", " + std::to_string(threads) + " threads: ";
      // Sums of up to 64 x 9 x 2 x 7 x 7 products of values in [-1, 1]: float's rounding in
      // either order stays far below 1e-3.
      for (const auto& [mine, expected, name] :
           {std::tuple{&got.y, &reference.y, "output"}, std::tuple{&got.dx, &reference.dx, "input gradient"},
            std::tuple{&got.dw, &reference.dw, "weight gradient"}, std::tuple{&got.db, &reference.db, "bias gradient"}})
        for (std::int64_t i = 0; i < expected->numel(); ++i)
          ASSERT_NEAR((*mine)[i], (*expected)[i], 1e-3f * (1 + std::abs((*expected)[i]))) << what << name << "[" << i << "]";
    }
  }
  set_num_threads(1);
}

TEST(Conv2dAlgorithms, ChooseSaysWhichRunsAndUnsupportedOnesAreRefused) {
  const Conv2dGeometry stride1 = geometry(2, 1, 8, 8, 2, 3, 1), stride2 = geometry(2, 1, 8, 8, 2, 3, 1, 2);
  EXPECT_EQ(choose<float>(cpu{}, stride1), direct);
  EXPECT_EQ(choose<float>(cpu{}, stride2), direct);
  EXPECT_EQ(choose<float>(cuda{}, stride2), Conv2dAlgorithm::staged);
  EXPECT_EQ(choose_backward<float>(cuda{}, stride2),
            (Conv2dBackwardAlgorithms{Conv2dAlgorithm::staged, Conv2dAlgorithm::staged}));
  // A strided 1x1 (the ResNet's projection shortcut) runs im2col; a 1x1 at stride 1 the grid.
  EXPECT_EQ(choose<float>(cpu{}, geometry(2, 16, 28, 28, 32, 1, 0, 2)), im2col);
  EXPECT_EQ(choose<float>(cpu{}, geometry(2, 4, 28, 28, 8, 1, 0, 1)), direct);
  // The backward pass of strided convolutions onto small planes runs im2col, unless both
  // gradients are wide enough for the channel-major kernels; the workspace serves both passes.
  const Conv2dGeometry wide = geometry(2, 64, 7, 7, 64, 3, 1), small_strided = geometry(2, 32, 14, 14, 64, 3, 1, 2);
  const Conv2dBackwardAlgorithms all_channel_major{channel_major, channel_major};
  EXPECT_EQ(choose<float>(cpu{}, wide), channel_major);
  EXPECT_EQ(choose_backward<float>(cpu{}, wide), all_channel_major);
  EXPECT_EQ(choose<float>(cpu{}, small_strided), channel_major);
  EXPECT_EQ(choose_backward<float>(cpu{}, small_strided), all_channel_major);
  EXPECT_EQ(choose_backward<float>(cpu{}, geometry(2, 8, 14, 14, 64, 3, 1, 2)),
            (Conv2dBackwardAlgorithms{im2col, im2col}));
  EXPECT_EQ(choose_backward<float>(cpu{}, stride1), (Conv2dBackwardAlgorithms{direct, direct}));
  // The smallest maps (googlenet's Inception blocks): where direct would run on fewer than 16
  // output pixels, im2col runs instead (24 outputs fill no pair of packets on AVX2 or AVX-512); a
  // one-pixel map's backward runs im2col, as does one whose input gradient would run direct
  // there (100 input channels fill no pair of packets either).
  const Conv2dGeometry narrow_2x2 = geometry(2, 512, 2, 2, 24, 1, 0), narrow_4x4 = geometry(2, 512, 4, 4, 24, 1, 0);
  EXPECT_EQ(choose<float>(cpu{}, narrow_2x2), im2col);
  EXPECT_EQ(choose_backward<float>(cpu{}, narrow_2x2), (Conv2dBackwardAlgorithms{im2col, im2col}));
  EXPECT_EQ(choose<float>(cpu{}, narrow_4x4), direct) << "16 pixels: direct's lanes full";
  const Conv2dGeometry one_pixel = geometry(2, 64, 1, 1, 64, 1, 0), odd_inputs_2x2 = geometry(2, 100, 2, 2, 64, 1, 0);
  EXPECT_EQ(choose<float>(cpu{}, one_pixel), channel_major);
  EXPECT_EQ(choose_backward<float>(cpu{}, one_pixel), (Conv2dBackwardAlgorithms{im2col, im2col}));
  EXPECT_EQ(choose<float>(cpu{}, odd_inputs_2x2), channel_major);
  EXPECT_EQ(choose_backward<float>(cpu{}, odd_inputs_2x2), (Conv2dBackwardAlgorithms{im2col, im2col}));
  EXPECT_EQ(choose_backward<float>(cpu{}, geometry(2, 64, 2, 2, 64, 1, 0)), all_channel_major);
  // Not winograd, even at a training batch: a 4x4 tile over a 2x2 map. 208 outputs are pairs of
  // AVX2's packets (channel-major) but not of AVX-512's (im2col, as the 2x2 map above).
  const Conv2dAlgorithm map_2x2 = detail::channel_major::fits<float>(208) ? channel_major : im2col;
  EXPECT_EQ(choose<float>(cpu{}, geometry(256, 96, 2, 2, 208, 3, 1)), map_2x2);
  EXPECT_EQ(choose<float>(cpu{}, geometry(256, 128, 4, 4, 256, 3, 1)), channel_major);
  for (const Conv2dGeometry& g :
       {stride1, wide, small_strided, geometry(2, 8, 14, 14, 64, 3, 1, 2), narrow_2x2, one_pixel, odd_inputs_2x2}) {
    EXPECT_GE(conv2d_workspace_size(cpu{}, g), conv2d_workspace_size(cpu{}, g, choose<float>(cpu{}, g)));
    EXPECT_GE(conv2d_workspace_size(cpu{}, g), conv2d_workspace_size(cpu{}, g, choose_backward<float>(cpu{}, g)));
    EXPECT_GE(conv2d_workspace_size(cpu{}, g), conv2d_workspace_size(cpu{}, g, choose<double>(cpu{}, g)));
    EXPECT_GE(conv2d_workspace_size(cpu{}, g), conv2d_workspace_size(cpu{}, g, choose_backward<double>(cpu{}, g)));
  }
  EXPECT_FALSE(supports<float>(cpu{}, Conv2dAlgorithm::staged, stride1));
  EXPECT_FALSE(supports<float>(cuda{}, channel_major, stride1));
  EXPECT_FALSE(supports<float>(cuda{}, im2col, stride1));
  // Padding as large as the kernel reads rows of nothing but padding: the grid refuses it.
  const Conv2dGeometry overpadded = geometry(2, 1, 8, 8, 2, 2, 2, 2);
  EXPECT_EQ(choose<float>(cpu{}, overpadded), im2col);
  // The message of the exception a run throws ("" if none); the buffers are large enough for
  // any of these geometries, so that a run not refused fails the test without harm.
  std::vector<float> buffer(1 << 20);
  float* data = buffer.data();
  const auto refusal = [&](const auto& run_it) {
    try {
      run_it();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const auto forward_refusal = [&](Conv2dAlgorithm algorithm, const Conv2dGeometry& g) {
    return refusal([&] { conv2d_forward(cpu{}, g, data, data, data, data, data, algorithm); });
  };
  const auto backward_refusal = [&](Conv2dBackwardAlgorithms algorithms, const Conv2dGeometry& g) {
    return refusal([&] { conv2d_backward(cpu{}, g, data, data, data, data, data, data, data, algorithms); });
  };
  std::string message = forward_refusal(direct, overpadded);
  EXPECT_NE(message.find("direct"), std::string::npos) << message;
  EXPECT_NE(message.find("padding 2"), std::string::npos) << message;
  // 17 output channels fill no pair of packets (of one lane or more).
  const Conv2dGeometry odd = geometry(2, 16, 6, 6, 17, 3, 1);
  EXPECT_FALSE(supports<float>(cpu{}, channel_major, odd));
  message = forward_refusal(channel_major, odd);
  EXPECT_NE(message.find("channel_major"), std::string::npos) << message;
  EXPECT_NE(message.find("16 -> 17 channels"), std::string::npos) << message;
  // A channel-major input gradient needs the input channels in pairs of packets too, and runs
  // only with the channel-major weight gradient; only direct's runs on its own.
  const Conv2dGeometry odd_inputs = geometry(2, 17, 6, 6, 32, 3, 1);
  EXPECT_TRUE(supports<float>(cpu{}, channel_major, odd_inputs));
  EXPECT_TRUE(supports<float>(cpu{}, Conv2dBackwardAlgorithms{channel_major, direct}, odd_inputs));
  EXPECT_FALSE(supports<float>(cpu{}, all_channel_major, odd_inputs));
  message = backward_refusal(all_channel_major, odd_inputs);
  EXPECT_NE(message.find("channel_major (weight gradient) and channel_major (input gradient)"), std::string::npos)
      << message;
  EXPECT_TRUE(supports<float>(cpu{}, all_channel_major, wide));
  EXPECT_FALSE(supports<float>(cpu{}, Conv2dBackwardAlgorithms{direct, channel_major}, wide));
  EXPECT_FALSE(supports<float>(cpu{}, Conv2dBackwardAlgorithms{channel_major, im2col}, wide));
  EXPECT_FALSE(supports<float>(cpu{}, Conv2dBackwardAlgorithms{direct, im2col}, wide));
  EXPECT_TRUE(supports<float>(cpu{}, Conv2dBackwardAlgorithms{im2col, direct}, wide));
  message = backward_refusal({direct, channel_major}, wide);
  EXPECT_NE(message.find("direct (weight gradient) and channel_major (input gradient)"), std::string::npos)
      << message;
}

}  // namespace
