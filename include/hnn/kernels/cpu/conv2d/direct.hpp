// Conv2dAlgorithm::direct on the CPU: output positions in the SIMD lanes, on the wide grid
// (wide_grid.hpp), vectorised with Eigen's packet primitives (the widest SIMD the compiler
// targets: AVX-512, AVX, SSE, NEON, or plain scalars).
//
// LeNet-5's convolutions are tiny (1 -> 6 and 6 -> 16 channels, 5x5): as GEMMs they have one
// dimension of 6 or 16 and spend their time packing. Here every sample is convolved
// directly, and the threads split the batch:
//
//   forward:          Y[o][q] = sum_c sum_t W[o][c][t] * X[c][q + off(t)]
//   weight gradient:  dW[o][c][t] = sum_q dY[o][q] * X[c][q + off(t)]   (dY zero off the grid)
//   input gradient:   dX[c][r] = sum_o sum_t W[o][c][t] * dY[o][r - off(t)]
//
// with q an output position on the grid and off(t) where tap t reads (wide_grid::Taps). The
// input gradient spends about half its multiply-adds on the zeros around dY. Splitting it
// into cols = W^T dY and a shifted sum over the taps does fewer, but with LeNet's 16 channels
// the product's loops are too short to pay: it measured slower on LeNet-5's conv2
// (tests/bench/NOTES.md). Each thread zeroes its scratch once per call and then only
// rewrites the positions that hold data, so the padding stays zero from sample to sample.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "hnn/kernels/cpu/conv2d/wide_grid.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/kernels/geometry.hpp"
#include "hnn/parallel.hpp"

namespace hnn {
namespace detail {
namespace direct {

// Register blocking (see detail::registers).
// Forward / input gradient: out_block x vec_block accumulators. With 32 registers, 6 x 3
// measured faster than 6 x 4, 4 x 4 and 8 x 2 on the ResNet's convolutions (AVX-512,
// tests/bench/NOTES.md).
constexpr int out_block = registers >= 32 ? 6 : 3;
constexpr int vec_block = 3;
// Weight gradient: wgrad_out_block x wgrad_tap_block accumulators (the same sweep found no
// faster block).
constexpr int wgrad_out_block = registers >= 32 ? 4 : 2;
constexpr int wgrad_tap_block = 5;

// out[o * out_pitch + v * P + l] (+)= sum_c sum_t w[o * w_o + c * w_c + t] * in[c * in_pitch + off[t] * sign + v * P + l]
// for o < OB, v < NV: OB x NV packets of accumulators stay in registers over every channel and tap.
template <int OB, int NV, bool Negative, class T>
inline void correlate_block(const T* in, std::int64_t in_pitch, std::int64_t channels, const std::int64_t* off,
                            std::int64_t taps, const T* w, std::int64_t w_o, std::int64_t w_c, T* out,
                            std::int64_t out_pitch) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  P acc[OB][NV];
  for (int o = 0; o < OB; ++o)
    for (int v = 0; v < NV; ++v) acc[o][v] = pset1<P>(T(0));
  for (std::int64_t c = 0; c < channels; ++c) {
    const T* plane = in + c * in_pitch;
    const T* wc = w + c * w_c;
    for (std::int64_t t = 0; t < taps; ++t) {
      const T* src = Negative ? plane - off[t] : plane + off[t];
      P x[NV];
      for (int v = 0; v < NV; ++v) x[v] = ploadu<P>(src + v * S);
      for (int o = 0; o < OB; ++o) {
        const P wv = pset1<P>(wc[o * w_o + t]);
        for (int v = 0; v < NV; ++v) acc[o][v] = pmadd(wv, x[v], acc[o][v]);
      }
    }
  }
  for (int o = 0; o < OB; ++o)
    for (int v = 0; v < NV; ++v) pstoreu(out + o * out_pitch + v * S, acc[o][v]);
}

// The whole plane set: `outs` output channels x `length` positions (a multiple of P).
template <bool Negative, class T>
void correlate(const T* in, std::int64_t in_pitch, std::int64_t channels, const std::int64_t* off, std::int64_t taps,
               const T* w, std::int64_t w_o, std::int64_t w_c, std::int64_t outs, T* out, std::int64_t out_pitch,
               std::int64_t length) {
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t vectors = length / S;
  for (std::int64_t o0 = 0; o0 < outs; o0 += out_block) {
    const int ob = static_cast<int>(std::min<std::int64_t>(out_block, outs - o0));
    with_constant<out_block>(ob, [&](auto ob_c) {
      constexpr int OB = decltype(ob_c)::value;
      std::int64_t v0 = 0;
      for (; v0 + vec_block <= vectors; v0 += vec_block)
        correlate_block<OB, vec_block, Negative>(in + v0 * S, in_pitch, channels, off, taps, w + o0 * w_o, w_o, w_c,
                                                 out + o0 * out_pitch + v0 * S, out_pitch);
      if (v0 < vectors)
        with_constant<vec_block>(static_cast<int>(vectors - v0), [&](auto nv_c) {
          constexpr int NV = decltype(nv_c)::value;
          correlate_block<OB, NV, Negative>(in + v0 * S, in_pitch, channels, off, taps, w + o0 * w_o, w_o, w_c,
                                            out + o0 * out_pitch + v0 * S, out_pitch);
        });
    });
  }
}

// acc[(o * channels + c) * taps + t][lanes] += sum_n sum_v dy_n[o * dy_pitch + v * P] * x_n[c * x_pitch + off[t] + v * P]
// for o < OB, the taps [t0, t0 + TB), over `samples` samples (dy_n = dy + n * dy_sample, x_n =
// x + n * x_sample): the partial sums stay in packets until the end.
// WithBias also adds sum dy[o] to bias_acc[o][lanes] (the bias gradient, from the packets
// already loaded: a scalar sum would be a serial chain of dependent adds).
template <int OB, int TB, bool WithBias, class T>
inline void weight_block(const T* dy, std::int64_t dy_pitch, std::int64_t dy_sample, const T* x, std::int64_t x_sample,
                         std::int64_t samples, const std::int64_t* off, std::int64_t vectors, T* acc, std::int64_t acc_o,
                         T* bias_acc) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  P a[OB][TB], b[OB];
  for (int o = 0; o < OB; ++o) {
    for (int t = 0; t < TB; ++t) a[o][t] = ploadu<P>(acc + o * acc_o + t * S);
    if constexpr (WithBias) b[o] = ploadu<P>(bias_acc + o * S);
  }
  for (std::int64_t n = 0; n < samples; ++n) {
    const T* dyn = dy + n * dy_sample;
    const T* xn = x + n * x_sample;
    for (std::int64_t v = 0; v < vectors; ++v) {
      P d[OB];
      for (int o = 0; o < OB; ++o) {
        d[o] = ploadu<P>(dyn + o * dy_pitch + v * S);
        if constexpr (WithBias) b[o] = padd(b[o], d[o]);
      }
      for (int t = 0; t < TB; ++t) {
        const P xv = ploadu<P>(xn + off[t] + v * S);
        for (int o = 0; o < OB; ++o) a[o][t] = pmadd(d[o], xv, a[o][t]);
      }
    }
  }
  for (int o = 0; o < OB; ++o) {
    for (int t = 0; t < TB; ++t) pstoreu(acc + o * acc_o + t * S, a[o][t]);
    if constexpr (WithBias) pstoreu(bias_acc + o * S, b[o]);
  }
}

// Copies one sample (channels, height, width) into the interior of its zero-padded phase
// planes (one plane, the padded image itself, at stride 1).
template <class T>
void fill_phases(const Conv2dGeometry& g, const wide_grid::GridLayout<T>& layout, const T* image, T* grid) {
  const std::int64_t s = layout.stride;
  for (std::int64_t c = 0; c < g.in_channels; ++c)
    for (std::int64_t a = 0; a < layout.phases; ++a)
      for (std::int64_t b = 0; b < layout.phases; ++b) {
        const auto [i0, i1] = layout.image_rows(g, a);
        const auto [j0, j1] = layout.image_columns(g, b);
        T* plane = grid + c * layout.x_pitch + (a * layout.phases + b) * layout.in_plane;
        for (std::int64_t i = i0; i < i1; ++i) {
          // padded pixel (s * i + a, s * j + b) is image pixel [row + s * j + b - padding]
          const T* src = image + (c * g.in_height + s * i + a - g.padding) * g.in_width;
          const std::int64_t shift = b - g.padding;
          T* dst = plane + i * layout.ws;
          if (s == 1) {
            for (std::int64_t j = j0; j < j1; ++j) dst[j] = src[j + shift];  // short rows: a loop beats a memmove call
          } else {
            for (std::int64_t j = j0; j < j1; ++j) dst[j] = src[s * j + shift];
          }
        }
      }
}

// Y = conv(X) + bias: each sample is convolved onto the grid in the thread's scratch, then
// the bias is added while it is copied out (in cache).
template <class T>
void forward(const Conv2dGeometry& g, const wide_grid::GridLayout<T>& layout, const T* input, const T* weight,
             const T* bias, T* output, T* workspace) {
  const wide_grid::Taps taps(g, layout);
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), out_pixels = g.out_pixels();
  parallel_region([&] {
    T* ws = workspace + thread_index() * layout.per_thread;
    T* x = ws + layout.x_at;
    T* y = ws + layout.y_at;
    std::fill(x, x + g.in_channels * layout.x_pitch, T(0));
#if defined(_OPENMP)
#pragma omp for schedule(static) nowait
#endif
    for (std::int64_t n = 0; n < g.batch; ++n) {
      fill_phases(g, layout, input + n * g.in_channels * g.in_pixels(), x);
      correlate<false>(x, layout.x_pitch, g.in_channels, taps.off, layout.taps, weight, g.in_channels * layout.taps,
                       layout.taps, g.out_channels, y, layout.q, layout.q);
      T* out = output + n * g.out_channels * out_pixels;
      for (std::int64_t o = 0; o < g.out_channels; ++o) {
        const T b = bias != nullptr ? bias[o] : T(0);
        for (std::int64_t h = 0; h < oh_n; ++h) {
          const T* src = y + o * layout.q + h * layout.ws;
          T* dst = out + o * out_pixels + h * ow_n;
          for (std::int64_t w = 0; w < ow_n; ++w) dst[w] = src[w] + b;
        }
      }
    }
  });
}

// The input gradient of one sample from its dY on the grid: one full correlation of dY with
// the weights per phase, each scattered back onto its pixels of grad_input (which every
// phase together covers; at stride > kernel the pixels no tap reads get zeros).
template <class T>
void input_gradient(const Conv2dGeometry& g, const wide_grid::GridLayout<T>& layout, const wide_grid::Taps& taps,
                    const T* dy, const T* weight, T* dx, T* grad_input) {
  const std::int64_t s = layout.stride;
  if (s > g.kernel) std::fill(grad_input, grad_input + g.in_channels * g.in_pixels(), T(0));
  for (std::int64_t a = 0; a < layout.phases; ++a)
    for (std::int64_t b = 0; b < layout.phases; ++b) {
      const auto [i0, i1] = layout.image_rows(g, a);
      const auto [j0, j1] = layout.image_columns(g, b);
      if (i0 == i1 || j0 == j1) continue;
      const std::int64_t slot = a * layout.phases + b, first = taps.begin[slot];
      correlate<true>(dy + layout.lead + i0 * layout.ws, layout.dy_plane, g.out_channels, taps.phase_off + first,
                      taps.begin[slot + 1] - first, weight + first, layout.taps, g.in_channels * layout.taps,
                      g.in_channels, dx, layout.r, round_up((i1 - i0) * layout.ws, packet_size<T>));
      for (std::int64_t c = 0; c < g.in_channels; ++c)
        for (std::int64_t i = i0; i < i1; ++i) {
          const T* src = dx + c * layout.r + (i - i0) * layout.ws;
          T* dst = grad_input + (c * g.in_height + s * i + a - g.padding) * g.in_width;
          const std::int64_t shift = b - g.padding;
          if (s == 1) {
            copy_row(src + j0, j1 - j0, dst + j0 + shift);
          } else {
            for (std::int64_t j = j0; j < j1; ++j) dst[s * j + shift] = src[j];
          }
        }
    }
}

// The gradients of the weight, bias and (when grad_input is not null) input; with grad_weight
// null, the input gradient alone (grad_bias is then ignored). Each sample's
// dLoss/dOutput is copied onto the grid (plane o's pixel (oh, ow) at o * layout.dy_plane +
// oh * layout.ws + ow); the positions around it are zeroed once per call and never written.
template <class T>
void backward(const Conv2dGeometry& g, const wide_grid::GridLayout<T>& layout, const T* input, const T* weight,
              const T* grad_output, T* grad_input, T* grad_weight, T* grad_bias, T* workspace) {
  const bool weights = grad_weight != nullptr;  // else the input gradient alone
  const wide_grid::Taps taps(g, layout);
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t wcount = g.weight_count(), vectors = layout.q / S;
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), out_pixels = g.out_pixels();
  const std::int64_t groups = (g.batch + layout.group - 1) / layout.group;
  const int threads = num_threads();
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
  {
    T* ws = workspace + thread_index() * layout.per_thread;
    T* x = ws + layout.x_at;
    T* dy = ws + layout.dy_at;
    T* dx = ws + layout.dx_at;
    T* dw = ws + layout.dw_at;  // (out, in, taps) x P lanes of partial sums
    T* db = ws + layout.db_at;  // out x P lanes of partial sums
    std::fill(x, x + layout.group * g.in_channels * layout.x_pitch, T(0));
    std::fill(dy, dy + layout.group * g.out_channels * layout.dy_plane, T(0));
    std::fill(dw, dw + wcount * S, T(0));
    std::fill(db, db + g.out_channels * S, T(0));
    // The input gradient reads each phase's taps together: at stride > 1, a copy of the
    // weights with every (out, in) row's taps in phase order.
    const T* phase_weight = weight;
    if (grad_input != nullptr && layout.stride > 1) {
      T* sorted = ws + layout.w_at;
      for (std::int64_t row = 0; row < wcount; row += layout.taps)
        for (std::int64_t t = 0; t < layout.taps; ++t) sorted[row + t] = weight[row + taps.order[t]];
      phase_weight = sorted;
    }
    const std::int64_t x_sample = g.in_channels * layout.x_pitch, dy_sample = g.out_channels * layout.dy_plane;

    // Groups of layout.group samples: each sample's input and dY on its own grids.
#if defined(_OPENMP)
#pragma omp for schedule(static) nowait
#endif
    for (std::int64_t k = 0; k < groups; ++k) {
      const std::int64_t n0 = k * layout.group, samples = std::min(layout.group, g.batch - n0);
      for (std::int64_t b = 0; b < samples; ++b) {
        if (weights) fill_phases(g, layout, input + (n0 + b) * g.in_channels * g.in_pixels(), x + b * x_sample);
        const T* gy = grad_output + (n0 + b) * g.out_channels * out_pixels;
        T* dyb = dy + b * dy_sample + layout.lead;
        for (std::int64_t o = 0; o < g.out_channels; ++o)
          for (std::int64_t h = 0; h < oh_n; ++h)
            copy_row(gy + o * out_pixels + h * ow_n, ow_n, dyb + o * layout.dy_plane + h * layout.ws);
      }

      // Weight gradient: blocks of output channels x taps, one input channel at a time, over
      // the group's samples.
      for (std::int64_t o0 = 0; weights && o0 < g.out_channels; o0 += wgrad_out_block) {
        const int ob = static_cast<int>(std::min<std::int64_t>(wgrad_out_block, g.out_channels - o0));
        with_constant<wgrad_out_block>(ob, [&](auto ob_c) {
          constexpr int OB = decltype(ob_c)::value;
          for (std::int64_t c = 0; c < g.in_channels; ++c)
            for (std::int64_t t0 = 0; t0 < layout.taps; t0 += wgrad_tap_block) {
              const int tb = static_cast<int>(std::min<std::int64_t>(wgrad_tap_block, layout.taps - t0));
              with_constant<wgrad_tap_block>(tb, [&](auto tb_c) {
                constexpr int TB = decltype(tb_c)::value;
                const auto run = [&](auto with_bias) {
                  weight_block<OB, TB, decltype(with_bias)::value>(
                      dy + o0 * layout.dy_plane + layout.lead, layout.dy_plane, dy_sample, x + c * layout.x_pitch,
                      x_sample, samples, taps.off + t0, vectors, dw + ((o0 * g.in_channels + c) * layout.taps + t0) * S,
                      g.in_channels * layout.taps * S, db + o0 * S);
                };
                if (c == 0 && t0 == 0) run(std::true_type{});
                else run(std::false_type{});
              });
            }
        });
      }

      if (grad_input != nullptr)
        for (std::int64_t b = 0; b < samples; ++b)
          input_gradient(g, layout, taps, dy + b * dy_sample, phase_weight, dx,
                         grad_input + (n0 + b) * g.in_channels * g.in_pixels());
    }

    // Each thread sums the lanes of its own partial gradients (no barrier needed); the bias
    // partials follow the weight's (db_at = dw_at + wcount * S).
    if (weights) sum_lanes_in_place(dw, wcount + g.out_channels);
  }
  if (weights)
    sum_parameter_partials(workspace, layout.per_thread, layout.dw_at, threads, wcount, g.out_channels, grad_weight,
                           grad_bias);
}

}  // namespace direct
}  // namespace detail
}  // namespace hnn
