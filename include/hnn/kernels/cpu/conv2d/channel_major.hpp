// The direct convolution's channel-major kernels: channels in the SIMD lanes.
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
// ~300 GFLOP/s against the position-major kernel's ~195.
//
// The backward uses the same two pieces: the input gradient is plane() run on dY with the
// taps read backwards (per phase, as direct.hpp's input_gradient), and the weight gradient is
// the block turned around, input channels x packets of output channels summed over positions.
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
// The same for the input gradient, whose lanes hold input channels.
template <class T>
constexpr bool suits_input_gradient(const Conv2dGeometry& g) {
  return g.out_channels >= 16 && g.in_channels % (2 * packet_size<T>) == 0;
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

// A plane of outputs, pixel-major: y[(i * cols + j) * outs + o] for i < rows, j < cols, from
// the pixel-major input whose position (i, j) is x[(i * row_pitch + j) * ins] (tap t at
// off[t] from there) and the weights w[(t * ins + c) * outs + o].
template <int V, class T>
void plane_blocks(std::int64_t rows, std::int64_t cols, std::int64_t row_pitch, const T* x, std::int64_t ins,
           const std::int64_t* off, std::int64_t taps, const T* w, std::int64_t outs, T* y) {
  constexpr std::int64_t S = packet_size<T>;
  constexpr int most = max_positions<V>;
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j0 = 0; j0 < cols; j0 += most) {
      with_constant<most>(static_cast<int>(std::min<std::int64_t>(most, cols - j0)), [&](auto j_c) {
        constexpr int J = decltype(j_c)::value;
        for (std::int64_t o0 = 0; o0 < outs; o0 += V * S)
          block<J, V>(x + (i * row_pitch + j0) * ins, ins, off, taps, w + o0, outs, y + (i * cols + j0) * outs + o0,
                      outs);
      });
    }
}

// plane_blocks() with V chosen for `outs` (see vectors_for).
template <class T>
void plane(std::int64_t rows, std::int64_t cols, std::int64_t row_pitch, const T* x, std::int64_t ins,
           const std::int64_t* off, std::int64_t taps, const T* w, std::int64_t outs, T* y) {
  if (vectors_for<T>(outs) == 4)
    plane_blocks<4>(rows, cols, row_pitch, x, ins, off, taps, w, outs, y);
  else
    plane_blocks<2>(rows, cols, row_pitch, x, ins, off, taps, w, outs, y);
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
template <int V, class T>
void weight_plane_blocks(std::int64_t rows, std::int64_t cols, std::int64_t row_pitch, const T* x, std::int64_t ins,
                  const std::int64_t* off, std::int64_t taps, const T* dy, std::int64_t outs, T* dw) {
  constexpr std::int64_t S = packet_size<T>;
  constexpr int most = max_positions<V>;
  for (std::int64_t t = 0; t < taps; ++t)
    for (std::int64_t c0 = 0; c0 < ins; c0 += most) {
      with_constant<most>(static_cast<int>(std::min<std::int64_t>(most, ins - c0)), [&](auto j_c) {
        constexpr int J = decltype(j_c)::value;
        for (std::int64_t o0 = 0; o0 < outs; o0 += V * S)
          weight_block<J, V>(rows, cols, row_pitch, x + c0, ins, off[t], dy + o0, outs, dw + (t * ins + c0) * outs + o0,
                             outs);
      });
    }
}

// weight_plane_blocks() with V chosen for `outs`.
template <class T>
void weight_plane(std::int64_t rows, std::int64_t cols, std::int64_t row_pitch, const T* x, std::int64_t ins,
                  const std::int64_t* off, std::int64_t taps, const T* dy, std::int64_t outs, T* dw) {
  if (vectors_for<T>(outs) == 4)
    weight_plane_blocks<4>(rows, cols, row_pitch, x, ins, off, taps, dy, outs, dw);
  else
    weight_plane_blocks<2>(rows, cols, row_pitch, x, ins, off, taps, dy, outs, dw);
}

}  // namespace channel_major
}  // namespace detail
}  // namespace hnn
