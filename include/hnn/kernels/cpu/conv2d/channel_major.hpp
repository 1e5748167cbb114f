// Conv2dAlgorithm::channel_major on the CPU: channels in the SIMD lanes, on the wide grid
// (wide_grid.hpp) stored pixel-major.
//
// direct.hpp's kernel puts output positions in the lanes and broadcasts the weights. On small
// planes that wastes lanes (a 7x7 output is 49 positions: 4 AVX-512 packets hold 64) and its
// blocks run short. Wide layers have channels to spare, so here the lanes hold output
// channels instead, as oneDNN's kernels do:
//
//   y[p][o..o+P) += x[p + off(t)][c] (broadcast) * w[t][c][o..o+P)     over taps t, channels c
//
// with the sample's zero-padded input stored pixel-major (a pixel's channels together, on the
// same phase planes as direct.hpp's grid) and the weights as [tap][in][out]. A block of
// `positions` outputs along one row x `vectors` packets of output channels stays in registers;
// each weight packet is reused for every position of the block, and no lane computes padding.
// On the ResNet's wide layers it runs at a higher rate than the position-major kernel
// (tests/bench/NOTES.md).
//
// The backward uses the same two pieces: the input gradient is plane() run on dY with the
// taps read backwards (per phase, as direct.hpp's input_gradient), and the weight gradient is
// the block turned around, input channels x packets of output channels summed over positions.
// The input gradient's lanes hold input channels.
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
namespace channel_major {

// Whether `channels` fill the lanes of these kernels' blocks, which hold 2 or 4 whole packets
// of channels: the output channels for the forward and weight gradient, the input channels
// for the input gradient.
template <class T>
constexpr bool fits(std::int64_t channels) {
  return channels % (2 * packet_size<T>) == 0;
}

// Packets of output channels per block: 4 when the channels allow and there are 32
// registers, else 2.
template <class T>
constexpr int vectors_for(std::int64_t out_channels) {
  return registers >= 32 && out_channels % (4 * packet_size<T>) == 0 ? 4 : 2;
}
// The most positions a block holds: accumulators plus the weight packets fill the registers
// (the broadcast comes straight from memory into the multiply-add).
template <int V>
constexpr int max_positions = std::min(14, (registers - V) / V);

// y[j * y_pitch + v * P + l] = sum_t sum_c x[off[t] + j * channels + c] * w[(t * channels + c) * w_pitch + v * P + l]
// for j < J, v < V.
template <int J, int V, class T>
inline void block(const T* x, std::int64_t channels, const std::int64_t* off, std::int64_t taps, const T* w,
                  std::int64_t w_pitch, T* y, std::int64_t y_pitch) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  P acc[J][V];
  for (int j = 0; j < J; ++j)
    for (int v = 0; v < V; ++v) acc[j][v] = pset1<P>(T(0));
  for (std::int64_t t = 0; t < taps; ++t) {
    const T* xt = x + off[t];
    const T* wt = w + t * channels * w_pitch;
    for (std::int64_t c = 0; c < channels; ++c) {
      P wv[V];
      for (int v = 0; v < V; ++v) wv[v] = ploadu<P>(wt + c * w_pitch + v * S);
      for (int j = 0; j < J; ++j) {
        const P xv = pset1<P>(xt[j * channels + c]);
        for (int v = 0; v < V; ++v) acc[j][v] = pmadd(xv, wv[v], acc[j][v]);
      }
    }
  }
  for (int j = 0; j < J; ++j)
    for (int v = 0; v < V; ++v) pstoreu(y + j * y_pitch + v * S, acc[j][v]);
}

// The tiling both kernels share: over `lines` lines, blocks of J <= max_positions<V> along a
// run of `length` (the positions of a row, or the input channels), each for every V packets
// of the `outs` output channels, V chosen for outs (vectors_for):
// f(line, first, o0, J, V) with J and V as std::integral_constant.
template <class T, class F>
void for_each_block(std::int64_t lines, std::int64_t length, std::int64_t outs, F&& f) {
  const auto tile = [&](auto v_c) {
    constexpr int most = max_positions<decltype(v_c)::value>;
    constexpr std::int64_t step = decltype(v_c)::value * packet_size<T>;
    for (std::int64_t i = 0; i < lines; ++i)
      for (std::int64_t j0 = 0; j0 < length; j0 += most) {
        with_constant<most>(static_cast<int>(std::min<std::int64_t>(most, length - j0)), [&](auto j_c) {
          for (std::int64_t o0 = 0; o0 < outs; o0 += step) f(i, j0, o0, j_c, v_c);
        });
      }
  };
  if (vectors_for<T>(outs) == 4)
    tile(std::integral_constant<int, 4>{});
  else
    tile(std::integral_constant<int, 2>{});
}

// A plane of outputs, pixel-major: y[(i * cols + j) * outs + o] for i < rows, j < cols, from
// the pixel-major input whose position (i, j) is x[(i * row_pitch + j) * ins] (tap t at
// off[t] from there) and the weights w[(t * ins + c) * outs + o].
template <class T>
void plane(std::int64_t rows, std::int64_t cols, std::int64_t row_pitch, const T* x, std::int64_t ins,
           const std::int64_t* off, std::int64_t taps, const T* w, std::int64_t outs, T* y) {
  for_each_block<T>(rows, cols, outs, [&](std::int64_t i, std::int64_t j0, std::int64_t o0, auto j_c, auto v_c) {
    block<decltype(j_c)::value, decltype(v_c)::value>(x + (i * row_pitch + j0) * ins, ins, off, taps, w + o0, outs,
                                                      y + (i * cols + j0) * outs + o0, outs);
  });
}

// The weight gradient's block: J input channels x V packets of output channels, summed over
// a plane of rows x cols output positions:
//   dw[j * dw_pitch + v * P + l] +=
//       sum_(i, k) x[(i * row_pitch + k) * ins + off + j] * dy[(i * row_pitch + k) * outs + v * P + l]
// (the input and dY on grids of the same row pitch).
template <int J, int V, class T>
inline void weight_block(std::int64_t rows, std::int64_t cols, std::int64_t row_pitch, const T* x, std::int64_t ins,
                         std::int64_t off, const T* dy, std::int64_t outs, T* dw, std::int64_t dw_pitch) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  P acc[J][V];
  for (int j = 0; j < J; ++j)
    for (int v = 0; v < V; ++v) acc[j][v] = ploadu<P>(dw + j * dw_pitch + v * S);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t k = 0; k < cols; ++k) {
      const T* xp = x + (i * row_pitch + k) * ins + off;
      const T* dp = dy + (i * row_pitch + k) * outs;
      P dv[V];
      for (int v = 0; v < V; ++v) dv[v] = ploadu<P>(dp + v * S);
      for (int j = 0; j < J; ++j) {
        const P xv = pset1<P>(xp[j]);
        for (int v = 0; v < V; ++v) acc[j][v] = pmadd(xv, dv[v], acc[j][v]);
      }
    }
  for (int j = 0; j < J; ++j)
    for (int v = 0; v < V; ++v) pstoreu(dw + j * dw_pitch + v * S, acc[j][v]);
}

// One sample's contribution to dw[(t * ins + c) * outs + o] over rows x cols positions.
template <class T>
void weight_plane(std::int64_t rows, std::int64_t cols, std::int64_t row_pitch, const T* x, std::int64_t ins,
                  const std::int64_t* off, std::int64_t taps, const T* dy, std::int64_t outs, T* dw) {
  for_each_block<T>(taps, ins, outs, [&](std::int64_t t, std::int64_t c0, std::int64_t o0, auto j_c, auto v_c) {
    weight_block<decltype(j_c)::value, decltype(v_c)::value>(rows, cols, row_pitch, x + c0, ins, off[t], dy + o0, outs,
                                                             dw + (t * ins + c0) * outs + o0, outs);
  });
}

// Copies one sample (channels, height, width) onto its phase planes pixel-major: padded pixel
// (s * i + a, s * j + b)'s channels together at ((a * phases + b) * in_plane + i * ws + j) *
// in_channels.
// Whole packets of channels go through registers (transpose_pixels), each image row's and
// column's place on the phase planes looked up in a table on the stack; planes with a side
// longer than the tables, or channels not in whole packets, are copied element by element.
constexpr std::int64_t max_side = 1024;

template <class T>
void fill_phases_pixel_major(const Conv2dGeometry& g, const wide_grid::GridLayout<T>& layout, const T* image, T* grid) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t s = layout.stride, channels = g.in_channels, pixels = g.in_pixels();
  if (channels % S == 0 && pixels >= S && g.in_height <= max_side && g.in_width <= max_side) {
    // Image pixel (h, w) is padded pixel (h + padding, w + padding): on phase (a, b), the
    // remainders by the stride, at (i, j), the quotients. Its place is row_at[h] +
    // column_at[w]; -1 marks a phase no tap reads (stride > kernel), which is not stored.
    std::int64_t row_at[max_side], column_at[max_side];
    for (std::int64_t h = 0; h < g.in_height; ++h) {
      const std::int64_t a = (h + g.padding) % s, i = (h + g.padding) / s;
      row_at[h] = a < layout.phases ? (a * layout.phases * layout.in_plane + i * layout.ws) * channels : -1;
    }
    for (std::int64_t w = 0; w < g.in_width; ++w) {
      const std::int64_t b = (w + g.padding) % s, j = (w + g.padding) / s;
      column_at[w] = b < layout.phases ? (b * layout.in_plane + j) * channels : -1;
    }
    for (std::int64_t c0 = 0; c0 < channels; c0 += S)
      transpose_pixels<T>(
          g.in_height, g.in_width,
          [&](int l, std::int64_t first, std::int64_t, std::int64_t) { return ploadu<P>(image + (c0 + l) * pixels + first); },
          [&](std::int64_t, int, std::int64_t h, std::int64_t w, const P& pixel) {
            if (row_at[h] >= 0 && column_at[w] >= 0) pstoreu(grid + row_at[h] + column_at[w] + c0, pixel);
          });
    return;
  }
  for (std::int64_t a = 0; a < layout.phases; ++a)
    for (std::int64_t b = 0; b < layout.phases; ++b) {
      const auto [i0, i1] = layout.image_rows(g, a);
      const auto [j0, j1] = layout.image_columns(g, b);
      T* plane = grid + (a * layout.phases + b) * layout.in_plane * channels;
      for (std::int64_t i = i0; i < i1; ++i)
        for (std::int64_t j = j0; j < j1; ++j) {
          const T* src = image + (s * i + a - g.padding) * g.in_width + s * j + b - g.padding;
          T* dst = plane + (i * layout.ws + j) * channels;
          for (std::int64_t c = 0; c < channels; ++c) dst[c] = src[c * pixels];
        }
    }
}

// Y = conv(X) + bias: each sample's input on its pixel-major grid, its output pixel-major in
// the scratch, then transposed to (channel, pixel) with the bias. The layout must hold the
// transposed weights (GridLayout(g, true)).
template <class T>
void forward(const Conv2dGeometry& g, const wide_grid::GridLayout<T>& layout, const T* input, const T* weight,
             const T* bias, T* output, T* workspace) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  const wide_grid::Taps taps(g, layout);
  std::int64_t off[wide_grid::max_taps];
  for (std::int64_t t = 0; t < layout.taps; ++t) off[t] = taps.off[t] * g.in_channels;
  const std::int64_t in = g.in_channels, out = g.out_channels, out_pixels = g.out_pixels();
#if defined(_OPENMP)
#pragma omp parallel
#endif
  {
    T* ws = workspace + thread_index() * layout.per_thread;
    T* x = ws + layout.x_at;
    T* y = ws + layout.y_at;
    T* w = ws + layout.w_at;  // w[(t * in + c) * out + o]
    std::fill(x, x + in * layout.x_pitch, T(0));
    for (std::int64_t o = 0; o < out; ++o)
      for (std::int64_t c = 0; c < in; ++c)
        for (std::int64_t t = 0; t < layout.taps; ++t)
          w[(t * in + c) * out + o] = weight[(o * in + c) * layout.taps + t];
#if defined(_OPENMP)
#pragma omp for schedule(static) nowait
#endif
    for (std::int64_t n = 0; n < g.batch; ++n) {
      fill_phases_pixel_major(g, layout, input + n * in * g.in_pixels(), x);
      plane(g.out_height(), g.out_width(), layout.ws, x, in, off, layout.taps, w, out, y);
      T* dst = output + n * out * out_pixels;
      if (out_pixels >= S) {  // out is whole pairs of packets (fits)
        for (std::int64_t o0 = 0; o0 < out; o0 += S)
          transpose_pixels<T>(
              g.out_height(), g.out_width(),
              [&](int l, std::int64_t first, std::int64_t, std::int64_t) { return ploadu<P>(y + (first + l) * out + o0); },
              [&](std::int64_t first, int i, std::int64_t, std::int64_t, const P& channel) {
                pstoreu(dst + (o0 + i) * out_pixels + first, padd(channel, pset1<P>(bias != nullptr ? bias[o0 + i] : T(0))));
              });
        continue;
      }
      for (std::int64_t o = 0; o < out; ++o) {
        const T b = bias != nullptr ? bias[o] : T(0);
        for (std::int64_t p = 0; p < out_pixels; ++p) dst[o * out_pixels + p] = y[p * out + o] + b;
      }
    }
  }
}

// The gradients of the weight, bias and (when grad_input is not null) input, each sample's
// input and dY on pixel-major grids (dY at position lead + oh * ws + ow, zeros around it, as
// direct.hpp's backward lays it out). The weight gradient sums over the output positions; the
// input gradient runs per phase, as direct.hpp's input_gradient does (that phase's taps, read
// backwards from dY), then scatters. Each thread sums into its own dw[(t * in + c) * out + o]
// and db[o], added in thread order. grad_weight must not be null; the layout must hold the
// transposed weights (GridLayout(g, true)).
template <class T>
void backward(const Conv2dGeometry& g, const wide_grid::GridLayout<T>& layout, const T* input, const T* weight,
              const T* grad_output, T* grad_input, T* grad_weight, T* grad_bias, T* workspace) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t in = g.in_channels, out = g.out_channels, out_pixels = g.out_pixels(), wcount = g.weight_count();
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), s = layout.stride;
  const wide_grid::Taps taps(g, layout);
  std::int64_t off[wide_grid::max_taps], back[wide_grid::max_taps];
  for (std::int64_t t = 0; t < layout.taps; ++t) {
    off[t] = taps.off[t] * in;
    back[t] = -taps.phase_off[t] * out;
  }
  const int threads = num_threads();
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
  {
    T* ws = workspace + thread_index() * layout.per_thread;
    T* x = ws + layout.x_at;
    T* dy = ws + layout.dy_at;
    T* dx = ws + layout.dx_at;  // one phase's input gradient, pixel-major
    T* dw = ws + layout.dw_at;
    T* db = dw + wcount;
    T* w = ws + layout.w_at;  // w[(k * out + o) * in + c]: tap order[k], taps grouped by phase
    std::fill(x, x + in * layout.x_pitch, T(0));
    std::fill(dy, dy + out * layout.dy_plane, T(0));
    std::fill(dw, dw + wcount + out, T(0));
    if (grad_input != nullptr)
      for (std::int64_t k = 0; k < layout.taps; ++k)
        for (std::int64_t o = 0; o < out; ++o)
          for (std::int64_t c = 0; c < in; ++c)
            w[(k * out + o) * in + c] = weight[(o * in + c) * layout.taps + taps.order[k]];
#if defined(_OPENMP)
#pragma omp for schedule(static) nowait
#endif
    for (std::int64_t n = 0; n < g.batch; ++n) {
      fill_phases_pixel_major(g, layout, input + n * in * g.in_pixels(), x);
      const T* gy = grad_output + n * out * out_pixels;
      T* dy0 = dy + layout.lead * out;
      if (out_pixels >= S) {  // out is whole pairs of packets (fits)
        for (std::int64_t o0 = 0; o0 < out; o0 += S)
          transpose_pixels<T>(
              oh_n, ow_n,
              [&](int l, std::int64_t first, std::int64_t, std::int64_t) { return ploadu<P>(gy + (o0 + l) * out_pixels + first); },
              [&](std::int64_t, int, std::int64_t h, std::int64_t k, const P& pixel) {
                pstoreu(dy0 + (h * layout.ws + k) * out + o0, pixel);
              });
        if (grad_bias != nullptr)
          for (std::int64_t o = 0; o < out; ++o) {
            T sum = 0;
            for (std::int64_t p = 0; p < out_pixels; ++p) sum += gy[o * out_pixels + p];
            db[o] += sum;
          }
      } else {
        for (std::int64_t o = 0; o < out; ++o) {
          T sum = 0;
          for (std::int64_t h = 0; h < oh_n; ++h)
            for (std::int64_t k = 0; k < ow_n; ++k) {
              const T v = gy[(o * oh_n + h) * ow_n + k];
              dy0[(h * layout.ws + k) * out + o] = v;
              sum += v;
            }
          db[o] += sum;
        }
      }
      weight_plane(oh_n, ow_n, layout.ws, x, in, off, layout.taps, dy0, out, dw);
      if (grad_input == nullptr) continue;
      T* gx = grad_input + n * in * g.in_pixels();
      if (s > g.kernel) std::fill(gx, gx + in * g.in_pixels(), T(0));
      for (std::int64_t a = 0; a < layout.phases; ++a)
        for (std::int64_t b = 0; b < layout.phases; ++b) {
          const auto [i0, i1] = layout.image_rows(g, a);
          const auto [j0, j1] = layout.image_columns(g, b);
          if (i0 == i1 || j0 == j1) continue;
          const std::int64_t slot = a * layout.phases + b, first = taps.begin[slot], cols = j1 - j0;
          plane(i1 - i0, cols, layout.ws, dy0 + (i0 * layout.ws + j0) * out, out, back + first,
                taps.begin[slot + 1] - first, w + first * out * in, in, dx);
          if (s == 1 && g.in_pixels() >= S && in % S == 0) {  // the phase is the whole image
            for (std::int64_t c0 = 0; c0 < in; c0 += S)
              transpose_pixels<T>(
                  i1 - i0, cols,
                  [&](int l, std::int64_t first_pixel, std::int64_t, std::int64_t) {
                    return ploadu<P>(dx + (first_pixel + l) * in + c0);
                  },
                  [&](std::int64_t first_pixel, int i, std::int64_t, std::int64_t, const P& channel) {
                    pstoreu(gx + (c0 + i) * g.in_pixels() + first_pixel, channel);
                  });
            continue;
          }
          for (std::int64_t c = 0; c < in; ++c)
            for (std::int64_t i = i0; i < i1; ++i) {
              T* dst = gx + (c * g.in_height + s * i + a - g.padding) * g.in_width + b - g.padding;
              const T* src = dx + (i - i0) * cols * in + c;
              for (std::int64_t j = j0; j < j1; ++j) dst[s * j] = src[(j - j0) * in];
            }
        }
    }
  }
  for (std::int64_t o = 0; o < out; ++o)
    for (std::int64_t c = 0; c < in; ++c)
      for (std::int64_t t = 0; t < layout.taps; ++t)
        grad_weight[(o * in + c) * layout.taps + t] =
            sum_over_threads(workspace, layout.per_thread, threads, layout.dw_at + (t * in + c) * out + o);
  if (grad_bias != nullptr)
    sum_thread_partials(workspace, layout.per_thread, layout.dw_at + wcount, threads, out, grad_bias);
}

}  // namespace channel_major
}  // namespace detail
}  // namespace hnn
