// The direct convolution's channel-major forward: output channels in the SIMD lanes.
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
// On the ResNet's 64 -> 64 convolution at 7x7 (batch 256, 2 threads, AVX-512) it ran at
// ~300 GFLOP/s against the position-major kernel's ~195. The weight gradient is the same
// block turned around: input channels x packets of output channels, summed over positions.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/kernels/geometry.hpp"

namespace hnn {
namespace detail {
namespace channel_major {

// Whether the channel-major kernel runs this convolution: output channels in whole pairs of
// packets, and enough input channels (the inner loop) to amortise a block's loads and stores.
// Measured forwards on AVX-512 (batch 256, 2 threads) against the position-major kernel:
// 32 -> 32 at 14x14 3.7 -> 3.1 ms, 64 -> 64 at 7x7 4.6 -> 2.9, 32 -> 64 at stride 2 3.0 -> 1.8,
// 16 -> 32 at stride 2 3.0 -> 2.4; but 16 -> 16 (one packet of outputs) 3.9 -> 4.7, so it
// stays position-major.
template <class T>
constexpr bool suits(const Conv2dGeometry& g) {
  return g.in_channels >= 16 && g.out_channels % (2 * packet_size<T>) == 0;
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

// One sample's output, pixel-major: y[(oh * out_width + ow) * out_channels + o], from its
// pixel-major grid (x at position oh * row_pitch + ow holds output (oh, ow)'s tap 0) and the
// weights w[(t * in_channels + c) * out_channels + o].
template <int V, class T>
void rows(const Conv2dGeometry& g, std::int64_t row_pitch, const T* x, const std::int64_t* off, std::int64_t taps,
          const T* w, T* y) {
  constexpr std::int64_t S = packet_size<T>;
  constexpr int most = max_positions<V>;
  const std::int64_t in = g.in_channels, out = g.out_channels, ow_n = g.out_width();
  for (std::int64_t oh = 0; oh < g.out_height(); ++oh)
    for (std::int64_t ow0 = 0; ow0 < ow_n; ow0 += most) {
      const int j = static_cast<int>(std::min<std::int64_t>(most, ow_n - ow0));
      with_constant<most>(j, [&](auto j_c) {
        constexpr int J = decltype(j_c)::value;
        for (std::int64_t o0 = 0; o0 < out; o0 += V * S)
          block<J, V>(x + (oh * row_pitch + ow0) * in, in, off, taps, w + o0, out, y + (oh * ow_n + ow0) * out + o0,
                      out);
      });
    }
}

// The weight gradient's block: J input channels x V packets of output channels, summed over
// every output position (oh, ow) of one sample:
//   dw[j * dw_pitch + v * P + l] += sum_p x[(oh * row_pitch + ow) * channels + off + j] * dy[p * dy_pitch + v * P + l]
// with p = oh * out_width + ow.
template <int J, int V, class T>
inline void weight_block(const Conv2dGeometry& g, std::int64_t row_pitch, const T* x, std::int64_t off, const T* dy,
                         T* dw, std::int64_t dw_pitch) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t channels = g.in_channels, dy_pitch = g.out_channels, ow_n = g.out_width();
  P acc[J][V];
  for (int j = 0; j < J; ++j)
    for (int v = 0; v < V; ++v) acc[j][v] = ploadu<P>(dw + j * dw_pitch + v * S);
  for (std::int64_t oh = 0; oh < g.out_height(); ++oh)
    for (std::int64_t ow = 0; ow < ow_n; ++ow) {
      const T* xp = x + (oh * row_pitch + ow) * channels + off;
      const T* dp = dy + (oh * ow_n + ow) * dy_pitch;
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

// One sample's contribution to dw[(t * in_channels + c) * out_channels + o], from its
// pixel-major grid (as rows() reads it) and its dY pixel-major (dy[p * out_channels + o]).
template <int V, class T>
void weight_rows(const Conv2dGeometry& g, std::int64_t row_pitch, const T* x, const std::int64_t* off,
                 std::int64_t taps, const T* dy, T* dw) {
  constexpr std::int64_t S = packet_size<T>;
  constexpr int most = max_positions<V>;
  const std::int64_t in = g.in_channels, out = g.out_channels;
  for (std::int64_t t = 0; t < taps; ++t)
    for (std::int64_t c0 = 0; c0 < in; c0 += most) {
      const int j = static_cast<int>(std::min<std::int64_t>(most, in - c0));
      with_constant<most>(j, [&](auto j_c) {
        constexpr int J = decltype(j_c)::value;
        for (std::int64_t o0 = 0; o0 < out; o0 += V * S)
          weight_block<J, V>(g, row_pitch, x + c0, off[t], dy + o0, dw + (t * in + c0) * out + o0, out);
      });
    }
}

}  // namespace channel_major
}  // namespace detail
}  // namespace hnn
