// Conv2dAlgorithm::winograd (kernels/cpu/conv2d/winograd.hpp): the forward, the input
// gradient and the weight and bias gradients against the convolution by its definition summed
// in long double, on planes whose
// sides fall on and off the 4x4 tiles and the packets of tiles, channel counts that are no
// multiple of a packet, in float and double; the mixed backward (weight gradient by another
// algorithm); its refusals; and its error in float on the ResNet's shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gradient_check.hpp"
#include "hnn/kernels/conv2d.hpp"
#include "hnn/parallel.hpp"

using namespace hnn;

namespace {

const Conv2dAlgorithm winograd = Conv2dAlgorithm::winograd, im2col = Conv2dAlgorithm::im2col;

Conv2dGeometry geometry(std::int64_t batch, std::int64_t in, std::int64_t h, std::int64_t w, std::int64_t out,
                        std::int64_t padding = 1, std::int64_t kernel = 3, std::int64_t stride = 1) {
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

std::string describe(const Conv2dGeometry& g) {
  return std::to_string(g.batch) + " x " + std::to_string(g.in_channels) + " -> " + std::to_string(g.out_channels) +
         " at " + std::to_string(g.in_height) + "x" + std::to_string(g.in_width) + ", padding " +
         std::to_string(g.padding) + ": ";
}

template <class T>
std::vector<T> random_values(std::int64_t n, Rng& rng, double low = -1, double high = 1) {
  std::vector<T> v(static_cast<std::size_t>(n));
  for (T& x : v) x = static_cast<T>(rng.uniform(low, high));
  return v;
}

// A value by its definition, and the sum of its terms' magnitudes (the scale its rounding
// error is measured against).
struct Exact {
  std::vector<long double> value, scale;
};

// y = conv(x) + b, 3x3 stride 1, in long double.
template <class T>
Exact forward_by_definition(const Conv2dGeometry& g, const std::vector<T>& x, const std::vector<T>& w, const T* b) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width();
  Exact r{std::vector<long double>(static_cast<std::size_t>(g.batch * g.out_channels * oh_n * ow_n)), {}};
  r.scale = r.value;
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t o = 0; o < g.out_channels; ++o)
      for (std::int64_t oh = 0; oh < oh_n; ++oh)
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          long double sum = b != nullptr ? b[o] : 0, scale = b != nullptr ? std::abs(b[o]) : 0;
          for (std::int64_t c = 0; c < g.in_channels; ++c)
            for (std::int64_t kh = 0; kh < 3; ++kh)
              for (std::int64_t kw = 0; kw < 3; ++kw) {
                const std::int64_t ih = oh - g.padding + kh, iw = ow - g.padding + kw;
                if (ih < 0 || ih >= g.in_height || iw < 0 || iw >= g.in_width) continue;
                const long double term = static_cast<long double>(w[((o * g.in_channels + c) * 3 + kh) * 3 + kw]) *
                                         x[((n * g.in_channels + c) * g.in_height + ih) * g.in_width + iw];
                sum += term;
                scale += std::abs(term);
              }
          const std::size_t i = static_cast<std::size_t>(((n * g.out_channels + o) * oh_n + oh) * ow_n + ow);
          r.value[i] = sum;
          r.scale[i] = scale;
        }
  return r;
}

// dx of the same convolution from dy, in long double.
template <class T>
Exact input_gradient_by_definition(const Conv2dGeometry& g, const std::vector<T>& w, const std::vector<T>& dy) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width();
  Exact r{std::vector<long double>(static_cast<std::size_t>(g.batch * g.in_channels * g.in_pixels())), {}};
  r.scale = r.value;
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t o = 0; o < g.out_channels; ++o)
      for (std::int64_t oh = 0; oh < oh_n; ++oh)
        for (std::int64_t ow = 0; ow < ow_n; ++ow)
          for (std::int64_t c = 0; c < g.in_channels; ++c)
            for (std::int64_t kh = 0; kh < 3; ++kh)
              for (std::int64_t kw = 0; kw < 3; ++kw) {
                const std::int64_t ih = oh - g.padding + kh, iw = ow - g.padding + kw;
                if (ih < 0 || ih >= g.in_height || iw < 0 || iw >= g.in_width) continue;
                const long double term = static_cast<long double>(w[((o * g.in_channels + c) * 3 + kh) * 3 + kw]) *
                                         dy[((n * g.out_channels + o) * oh_n + oh) * ow_n + ow];
                const std::size_t i = static_cast<std::size_t>(((n * g.in_channels + c) * g.in_height + ih) * g.in_width + iw);
                r.value[i] += term;
                r.scale[i] += std::abs(term);
              }
  return r;
}

// dw and db of the same convolution from x and dy, in long double.
template <class T>
std::pair<Exact, Exact> parameter_gradients_by_definition(const Conv2dGeometry& g, const std::vector<T>& x,
                                                          const std::vector<T>& dy) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width();
  Exact dw{std::vector<long double>(static_cast<std::size_t>(g.weight_count())), {}};
  Exact db{std::vector<long double>(static_cast<std::size_t>(g.out_channels)), {}};
  dw.scale = dw.value;
  db.scale = db.value;
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t o = 0; o < g.out_channels; ++o)
      for (std::int64_t oh = 0; oh < oh_n; ++oh)
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          const long double d = dy[((n * g.out_channels + o) * oh_n + oh) * ow_n + ow];
          db.value[static_cast<std::size_t>(o)] += d;
          db.scale[static_cast<std::size_t>(o)] += std::abs(d);
          for (std::int64_t c = 0; c < g.in_channels; ++c)
            for (std::int64_t kh = 0; kh < 3; ++kh)
              for (std::int64_t kw = 0; kw < 3; ++kw) {
                const std::int64_t ih = oh - g.padding + kh, iw = ow - g.padding + kw;
                if (ih < 0 || ih >= g.in_height || iw < 0 || iw >= g.in_width) continue;
                const long double term = d * x[((n * g.in_channels + c) * g.in_height + ih) * g.in_width + iw];
                const std::size_t i = static_cast<std::size_t>(((o * g.in_channels + c) * 3 + kh) * 3 + kw);
                dw.value[i] += term;
                dw.scale[i] += std::abs(term);
              }
        }
  return {dw, db};
}

// Every element within tolerance x (1 + its terms' magnitudes) of the exact value.
template <class T>
void expect_matches(const std::vector<T>& got, const Exact& exact, double tolerance, const std::string& what) {
  ASSERT_EQ(got.size(), exact.value.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(static_cast<double>(got[i]), static_cast<double>(exact.value[i]),
                tolerance * (1 + static_cast<double>(exact.scale[i])))
        << what << "element " << i;
}

// The rounding bound each type is held to. F(4x4, 3x3)'s transforms multiply by up to 8 x 5
// and sum 36 positions before the output transform adds them back with weights up to 8, so a
// sum loses a few more bits than a plain one: in float, 2.3e-6 to 3.3e-6 of the largest output
// on the ResNet's shapes, 5-8x direct's (ErrorInFloatOnTheResNetShapes, below). Held to 1e-5
// of (1 + the terms' magnitudes) here, a margin over that; an indexing error (a wrong pixel, a
// lost tap) is of the order of the values themselves. Double: the same loss at 2^-53.
template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-13;
}

// The planes' sides: below, on and above a tile (4) and a window (6), and the ResNet's.
const std::int64_t sides[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 28};
// (in, out) channels: single, and counts that fill no packet.
const std::pair<std::int64_t, std::int64_t> channel_pairs[] = {{1, 1}, {3, 17}, {17, 3}};

template <class T>
void check_forward(const Conv2dGeometry& g, bool with_bias, std::uint64_t seed) {
  Rng rng(seed);
  const std::vector<T> x = random_values<T>(g.batch * g.in_channels * g.in_pixels(), rng);
  const std::vector<T> w = random_values<T>(g.weight_count(), rng);
  const std::vector<T> b = random_values<T>(g.out_channels, rng);
  const T* bias = with_bias ? b.data() : nullptr;
  ASSERT_TRUE(supports<T>(cpu{}, winograd, g)) << describe(g);
  std::vector<T> y(static_cast<std::size_t>(g.batch * g.out_channels * g.out_pixels()), T(-7));
  std::vector<T> ws(static_cast<std::size_t>(conv2d_workspace_size(cpu{}, g, winograd)));
  conv2d_forward(cpu{}, g, x.data(), w.data(), bias, y.data(), ws.data(), winograd);
  expect_matches(y, forward_by_definition(g, x, w, bias), tolerance<T>(),
                 describe(g) + (with_bias ? "with bias, " : "no bias, ") + std::to_string(num_threads()) +
                     " threads, forward ");
}

template <class T>
void check_input_gradient(const Conv2dGeometry& g, std::uint64_t seed) {
  Rng rng(seed);
  const std::vector<T> x = random_values<T>(g.batch * g.in_channels * g.in_pixels(), rng);
  const std::vector<T> w = random_values<T>(g.weight_count(), rng);
  const std::vector<T> dy = random_values<T>(g.batch * g.out_channels * g.out_pixels(), rng);
  const Conv2dBackwardAlgorithms mixed{im2col, winograd};
  ASSERT_TRUE(supports<T>(cpu{}, mixed, g)) << describe(g);
  std::vector<T> dx(x.size(), T(-7)), dw(w.size()), db(static_cast<std::size_t>(g.out_channels));
  std::vector<T> ws(static_cast<std::size_t>(conv2d_workspace_size(cpu{}, g, mixed)));
  conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), ws.data(), mixed);
  expect_matches(dx, input_gradient_by_definition(g, w, dy), tolerance<T>(),
                 describe(g) + std::to_string(num_threads()) + " threads, input gradient ");
}

// The weight and bias gradients by winograd, alone and beside an input gradient (winograd's
// own at padding 1, direct's at padding 0), which must match its definition too.
template <class T>
void check_weight_gradient(const Conv2dGeometry& g, std::uint64_t seed) {
  Rng rng(seed);
  const std::vector<T> x = random_values<T>(g.batch * g.in_channels * g.in_pixels(), rng);
  const std::vector<T> w = random_values<T>(g.weight_count(), rng);
  const std::vector<T> dy = random_values<T>(g.batch * g.out_channels * g.out_pixels(), rng);
  const auto [dw_exact, db_exact] = parameter_gradients_by_definition(g, x, dy);
  const Conv2dBackwardAlgorithms both{winograd, g.padding == 1 ? winograd : Conv2dAlgorithm::direct};
  ASSERT_TRUE(supports<T>(cpu{}, both, g)) << describe(g);
  std::vector<T> ws(static_cast<std::size_t>(conv2d_workspace_size(cpu{}, g, both)));
  for (const bool with_input_gradient : {false, true}) {
    std::vector<T> dx(x.size(), T(-7)), dw(w.size(), T(-7)), db(static_cast<std::size_t>(g.out_channels), T(-7));
    conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), with_input_gradient ? dx.data() : nullptr, dw.data(),
                    db.data(), ws.data(), both);
    const std::string what = describe(g) + std::to_string(num_threads()) + " threads, " +
                             (with_input_gradient ? "with" : "without") + " the input gradient, ";
    expect_matches(dw, dw_exact, tolerance<T>(), what + "weight gradient ");
    expect_matches(db, db_exact, tolerance<T>(), what + "bias gradient ");
    if (with_input_gradient) expect_matches(dx, input_gradient_by_definition(g, w, dy), tolerance<T>(), what + "input gradient ");
  }
}

template <class T>
void check_every_side() {
  std::uint64_t seed = 1;
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    for (const std::int64_t h : sides)
      for (const std::int64_t w : sides) {
        // Every pair of sides once with one channel pair and batch; the squares with all.
        const bool square = h == w;
        for (const auto& [in, out] : channel_pairs) {
          if (!square && in != channel_pairs[seed % 3].first) continue;
          for (const std::int64_t batch : {1, 3}) {
            if (!square && batch != 1 + 2 * static_cast<std::int64_t>(seed % 2)) continue;
            const Conv2dGeometry g = geometry(batch, in, h, w, out);
            check_forward<T>(g, seed % 2 == 0, seed);
            check_input_gradient<T>(g, seed + 1000);
            check_weight_gradient<T>(g, seed + 3000);
            if (h >= 3 && w >= 3) {
              check_forward<T>(geometry(batch, in, h, w, out, 0), seed % 2 == 1, seed + 2000);
              check_weight_gradient<T>(geometry(batch, in, h, w, out, 0), seed + 4000);
            }
            if (::testing::Test::HasFatalFailure()) return set_num_threads(1);
          }
        }
        ++seed;
      }
  }
  set_num_threads(1);
}

TEST(Winograd, EveryPassMatchesTheDefinitionInDouble) { check_every_side<double>(); }
TEST(Winograd, EveryPassMatchesTheDefinitionInFloat) { check_every_side<float>(); }

// Batches whose tiles fill several of a thread's blocks, split over 2 threads, at the ResNet's
// channel counts (whole packets) and around them.
TEST(Winograd, ManyBlocksOfTiles) {
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Conv2dGeometry& g : {geometry(5, 16, 28, 28, 16), geometry(9, 32, 14, 14, 33), geometry(17, 64, 7, 7, 64),
                                    geometry(7, 31, 9, 11, 15)}) {
      check_forward<float>(g, true, 7);
      check_input_gradient<float>(g, 8);
      check_weight_gradient<float>(g, 10);
      check_forward<double>(g, false, 9);
      if (::testing::Test::HasFatalFailure()) break;
    }
  }
  set_num_threads(1);
}

// The mixed backward: the weight and bias gradients are exactly those of the weight
// algorithm run alone, and the input gradient is im2col's, whichever algorithm has the weights.
TEST(Winograd, MixedBackwardKeepsTheWeightGradientsOfTheOtherAlgorithm) {
  const Conv2dGeometry g = geometry(3, 32, 14, 14, 32);
  Rng rng(11);
  const std::vector<double> x = random_values<double>(g.batch * g.in_channels * g.in_pixels(), rng);
  const std::vector<double> w = random_values<double>(g.weight_count(), rng);
  const std::vector<double> dy = random_values<double>(g.batch * g.out_channels * g.out_pixels(), rng);
  const auto backward = [&](Conv2dBackwardAlgorithms a, bool input_gradient) {
    std::vector<double> dx(x.size()), dw(w.size()), db(static_cast<std::size_t>(g.out_channels));
    std::vector<double> ws(static_cast<std::size_t>(conv2d_workspace_size(cpu{}, g, a)));
    conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), input_gradient ? dx.data() : nullptr, dw.data(),
                    db.data(), ws.data(), a);
    return std::vector<std::vector<double>>{dx, dw, db};
  };
  const auto reference = backward({im2col, im2col}, true);
  for (const Conv2dAlgorithm weights : {im2col, Conv2dAlgorithm::direct, Conv2dAlgorithm::channel_major}) {
    ASSERT_TRUE(supports<double>(cpu{}, Conv2dBackwardAlgorithms{weights, winograd}, g)) << name(weights);
    const auto alone = backward({weights, weights}, false), mixed = backward({weights, winograd}, true);
    EXPECT_EQ(mixed[1], alone[1]) << name(weights) << ": weight gradient";
    EXPECT_EQ(mixed[2], alone[2]) << name(weights) << ": bias gradient";
    for (std::size_t i = 0; i < x.size(); ++i)
      ASSERT_NEAR(mixed[0][i], reference[0][i], 1e-12 * (1 + std::abs(reference[0][i]))) << name(weights) << " " << i;
  }
}

// What winograd refuses, with a sentence that names the geometry.
TEST(Winograd, RefusesOtherGeometriesNamingThem) {
  const auto message = [](auto&& f) {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  std::vector<float> buffer(1 << 16);
  float* p = buffer.data();
  const Conv2dGeometry five = geometry(1, 2, 8, 8, 2, 2, 5), strided = geometry(1, 2, 8, 8, 2, 1, 3, 2);
  EXPECT_FALSE(supports<float>(cpu{}, winograd, five));
  EXPECT_FALSE(supports<float>(cpu{}, winograd, strided));
  EXPECT_FALSE(supports<float>(cpu{}, winograd, geometry(1, 2, 8, 8, 2, 2)));  // padding 2
  EXPECT_FALSE(supports<float>(cuda{}, winograd, geometry(1, 2, 8, 8, 2)));
  const std::string m5 = message([&] { conv2d_forward(cpu{}, five, p, p, p, p, p, winograd); });
  EXPECT_NE(m5.find("winograd"), std::string::npos) << m5;
  EXPECT_NE(m5.find("kernel 5"), std::string::npos) << m5;
  const std::string m2 = message([&] { conv2d_forward(cpu{}, strided, p, p, p, p, p, winograd); });
  EXPECT_NE(m2.find("stride 2"), std::string::npos) << m2;
  // Padding 0's input gradient is not its convolution; its weight gradient runs at padding 0
  // and 1, beside its own input gradient or direct's (which runs alone), not im2col's.
  const Conv2dGeometry ok = geometry(1, 2, 8, 8, 2), unpadded = geometry(1, 2, 8, 8, 2, 0);
  EXPECT_TRUE(supports<float>(cpu{}, Conv2dBackwardAlgorithms{winograd, winograd}, ok));
  EXPECT_FALSE(supports<float>(cpu{}, Conv2dBackwardAlgorithms{winograd, winograd}, unpadded));
  EXPECT_TRUE(supports<float>(cpu{}, Conv2dBackwardAlgorithms{winograd, Conv2dAlgorithm::direct}, unpadded));
  EXPECT_FALSE(supports<float>(cpu{}, Conv2dBackwardAlgorithms{winograd, im2col}, ok));
  EXPECT_FALSE(supports<float>(cpu{}, Conv2dBackwardAlgorithms{im2col, winograd}, unpadded));
  EXPECT_TRUE(supports<float>(cpu{}, winograd, unpadded));
  const std::string mw = message([&] { conv2d_backward(cpu{}, five, p, p, p, p, p, p, p, winograd); });
  EXPECT_NE(mw.find("winograd (weight gradient)"), std::string::npos) << mw;
  const std::string m0 = message(
      [&] { conv2d_backward(cpu{}, unpadded, p, p, p, p, p, p, p, Conv2dBackwardAlgorithms{im2col, winograd}); });
  EXPECT_NE(m0.find("padding 0"), std::string::npos) << m0;
}

// The error of F(4x4, 3x3) in float on the ResNet's 3x3 stride-1 convolutions with data like
// the network's (inputs after batch norm and ReLU: non-negative, about unit scale; weights at
// Kaiming's scale), beside direct's, both against the long double definition: the largest
// error over the largest output magnitude. Recorded in tests/bench/NOTES.md; the bound is
// about 20x what was measured.
TEST(Winograd, ErrorInFloatOnTheResNetShapes) {
  for (const Conv2dGeometry& g : {geometry(8, 16, 28, 28, 16), geometry(8, 32, 14, 14, 32), geometry(8, 64, 7, 7, 64)}) {
    Rng rng(static_cast<std::uint64_t>(g.in_channels));
    std::vector<float> x = random_values<float>(g.batch * g.in_channels * g.in_pixels(), rng, -1.5, 2.5);
    for (float& v : x) v = std::max(v, 0.0f);
    const double bound = std::sqrt(6.0 / static_cast<double>(9 * g.in_channels));
    const std::vector<float> w = random_values<float>(g.weight_count(), rng, -bound, bound);
    const std::vector<float> b = random_values<float>(g.out_channels, rng, -0.1, 0.1);
    const Exact exact = forward_by_definition(g, x, w, b.data());
    double largest = 0;
    for (const long double v : exact.value) largest = std::max(largest, static_cast<double>(std::abs(v)));
    double error[2] = {0, 0};
    const Conv2dAlgorithm algorithms[2] = {winograd, Conv2dAlgorithm::direct};
    for (int a = 0; a < 2; ++a) {
      std::vector<float> y(exact.value.size());
      std::vector<float> ws(static_cast<std::size_t>(conv2d_workspace_size(cpu{}, g, algorithms[a])));
      conv2d_forward(cpu{}, g, x.data(), w.data(), b.data(), y.data(), ws.data(), algorithms[a]);
      for (std::size_t i = 0; i < y.size(); ++i)
        error[a] = std::max(error[a], std::abs(static_cast<double>(y[i]) - static_cast<double>(exact.value[i])));
    }
    std::printf("%s winograd %.2e, direct %.2e of the largest output %.3f\n", describe(g).c_str(),
                error[0] / largest, error[1] / largest, largest);
    EXPECT_LT(error[0] / largest, 2e-5) << describe(g);
  }
}

}  // namespace
