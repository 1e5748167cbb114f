// Conv2d + bias + activation + 2x2 pooling on the CPU with the batch in the SIMD lanes.
//
// The direct kernels (direct.hpp beside this file) vectorise along a sample's rows, so every packet
// also covers the columns past the output's edge: for LeNet-5's conv2 (14x14 -> 10x10) 30%
// of the forward and weight-gradient multiply-adds, and half of the input gradient's, are
// thrown away. Here a packet holds the same pixel of S consecutive samples (S = the packet
// size: 16 floats on AVX-512), so every multiply-add is used, for any image size:
//
//   forward:          Z[o][p] = b[o] + sum_c sum_t W[o][c][t] * X[c][p + off(t)]
//   weight gradient:  dW[o][c][t] += dZ[o][p] * X[c][p + off(t)]       (lanes summed at the end)
//   input gradient:   dX[c][p + off(t)] += W[o][c][t] * dZ[o][p]      (scattered, only valid p)
//
// with p an output pixel, X the zero-padded input, each term a packet of S samples. A block
// of S samples is transposed into the thread's scratch, convolved, activated and pooled, and
// the pooled packets are transposed back; lanes past the end of the batch hold zeros, whose
// gradients are zero. The activation is kept in this layout for the backward pass, which
// recomputes max pooling's winners from it (the first maximum in row-major window order, as
// max_pool2d_forward picks).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/kernels/geometry.hpp"
#include "hnn/parallel.hpp"

namespace hnn {

enum class FusedActivation { sigmoid, relu };
enum class FusedPooling { average, max };

namespace detail {
namespace lanes {

// Register blocking (see detail::registers).
constexpr int wgrad_out_block = registers >= 32 ? 4 : 2;  // weight gradient: out channels x kernel columns
constexpr int tap_block = 5;                              // kernel columns per block (weight and input gradient)
constexpr int dx_col_block = registers >= 32 ? 4 : 2;     // input gradient: kernel columns x columns

// The layout of one block of S samples: its sizes, and the offsets of each per-thread scratch
// buffer (in elements of T; every buffer is a whole number of packets).
template <class T>
struct BlockLayout {
  static constexpr std::int64_t S = packet_size<T>;
  std::int64_t hp = 0, wp = 0;  // padded input
  std::int64_t oh = 0, ow = 0;  // convolution output
  std::int64_t ph = 0, pw = 0;  // pooled output
  std::int64_t blocks = 0;      // blocks of S samples
  std::int64_t x_at = 0, dz_at = 0, dx_at = 0, dw_at = 0, db_at = 0, pool_at = 0, flat_at = 0, per_thread = 0;

  explicit BlockLayout(const Conv2dGeometry& g) {
    hp = g.in_height + 2 * g.padding;
    wp = g.in_width + 2 * g.padding;
    oh = g.out_height();
    ow = g.out_width();
    ph = oh / 2;
    pw = ow / 2;
    blocks = (g.batch + S - 1) / S;
    const std::int64_t grid = g.in_channels * hp * wp * S;
    x_at = 0;
    dz_at = x_at + grid;
    dx_at = dz_at + g.out_channels * oh * ow * S;
    dw_at = dx_at + grid;
    db_at = dw_at + g.weight_count() * S;
    pool_at = db_at + g.out_channels * S;
    flat_at = pool_at + g.out_channels * ph * pw * S;
    per_thread = flat_at + g.in_channels * g.in_pixels() * S;
  }
  // Elements of the activation kept between forward and backward.
  std::int64_t activation_size(const Conv2dGeometry& g) const { return blocks * g.out_channels * oh * ow * S; }
};

// PacketBlock<__m512, 16> drops the vector type's attributes from the template argument, as
// inside Eigen itself (whose headers are system headers, so it never warns there).
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

// One S x S tile through registers (Eigen's ptranspose): for k < rows, the S values
// src[l * src_pitch + k] (l < S) to dst[k * dst_pitch + l]. Always inlined, so that the
// loops of to_lanes and from_lanes run the tile's instructions themselves, without a call.
template <class T>
EIGEN_ALWAYS_INLINE void transpose_tile(const T* src, std::int64_t src_pitch, T* dst, std::int64_t dst_pitch,
                                        std::int64_t rows) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  PacketBlock<P, static_cast<int>(S)> tile;
  for (std::int64_t l = 0; l < S; ++l) tile.packet[l] = ploadu<P>(src + l * src_pitch);
  ptranspose(tile);
  for (std::int64_t k = 0; k < rows; ++k) pstoreu(dst + k * dst_pitch, tile.packet[k]);
}

// dst[j * S + l] = src[l * stride + j] for j < count, l < lanes; zero in the lanes past `lanes`.
// Whole S x S tiles go through registers; the rest element by element.
template <class T>
void to_lanes(const T* src, std::int64_t stride, std::int64_t lanes, std::int64_t count, T* dst) {
  constexpr std::int64_t S = packet_size<T>;
  std::int64_t j = 0;
  if constexpr (S > 1) {
    if (lanes == S)
      for (; j + S <= count; j += S) transpose_tile(src + j, stride, dst + j * S, S, S);
  }
  for (; j < count; ++j) {
    T* d = dst + j * S;
    for (std::int64_t l = 0; l < lanes; ++l) d[l] = src[l * stride + j];
    for (std::int64_t l = lanes; l < S; ++l) d[l] = T(0);
  }
}

// dst[l * stride + j] = src[j * S + l] for j < count, l < lanes.
template <class T>
void from_lanes(const T* src, std::int64_t count, std::int64_t lanes, std::int64_t stride, T* dst) {
  constexpr std::int64_t S = packet_size<T>;
  std::int64_t j = 0;
  if constexpr (S > 1) {
    for (; j + S <= count; j += S) transpose_tile(src + j * S, S, dst + j, stride, lanes);
  }
  for (std::int64_t l = 0; l < lanes; ++l) {
    T* d = dst + l * stride;
    for (std::int64_t i = j; i < count; ++i) d[i] = src[i * S + l];
  }
}

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

// Block `b`'s input images into the interior of the thread's padded grid x (whose border
// was zeroed at the start of the call and is never written). Each sample is transposed
// whole (long runs of full tiles), into x itself when there is no padding, else into
// `flat` and then row by row into the grid.
template <class T>
void gather_input(const Conv2dGeometry& g, const BlockLayout<T>& layout, const T* input, std::int64_t b, T* x, T* flat) {
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t n0 = b * S, lanes = std::min<std::int64_t>(S, g.batch - n0), sample = g.in_channels * g.in_pixels();
  if (g.padding == 0) return to_lanes(input + n0 * sample, sample, lanes, sample, x);
  to_lanes(input + n0 * sample, sample, lanes, sample, flat);
  for (std::int64_t c = 0; c < g.in_channels; ++c)
    for (std::int64_t h = 0; h < g.in_height; ++h)
      std::copy_n(flat + (c * g.in_height + h) * g.in_width * S, g.in_width * S,
                  x + ((c * layout.hp + h + g.padding) * layout.wp + g.padding) * S);
}

// The inverse of gather_input for the input gradient: the interior of the grid dx into
// grad_input (N, C, H, W) for the samples of block b.
template <class T>
void scatter_input_gradient(const Conv2dGeometry& g, const BlockLayout<T>& layout, const T* dx, std::int64_t b, T* flat,
                            T* grad_input) {
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t n0 = b * S, lanes = std::min<std::int64_t>(S, g.batch - n0), sample = g.in_channels * g.in_pixels();
  if (g.padding != 0) {
    for (std::int64_t c = 0; c < g.in_channels; ++c)
      for (std::int64_t h = 0; h < g.in_height; ++h)
        std::copy_n(dx + ((c * layout.hp + h + g.padding) * layout.wp + g.padding) * S, g.in_width * S,
                    flat + (c * g.in_height + h) * g.in_width * S);
    dx = flat;
  }
  from_lanes(dx, sample, lanes, sample, grad_input + n0 * sample);
}

// acc[o][v] = sum_c sum_(kh, kw) w[o][c][kh][kw] * x[c][row + kh][col + v + kw] for o < OB, v < NV.
template <int OB, int NV, class T>
inline void forward_block(const Conv2dGeometry& g, const BlockLayout<T>& layout, const T* x, const T* w, std::int64_t row,
                          std::int64_t col, Packet<T> (&acc)[OB][NV]) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t k = g.kernel, w_o = g.in_channels * k * k;
  for (int o = 0; o < OB; ++o)
    for (int v = 0; v < NV; ++v) acc[o][v] = pset1<P>(T(0));
  for (std::int64_t c = 0; c < g.in_channels; ++c)
    for (std::int64_t kh = 0; kh < k; ++kh) {
      const T* src = x + ((c * layout.hp + row + kh) * layout.wp + col) * S;
      const T* wk = w + (c * k + kh) * k;
      for (std::int64_t kw = 0; kw < k; ++kw) {
        P xv[NV];
        for (int v = 0; v < NV; ++v) xv[v] = ploadu<P>(src + (v + kw) * S);
        for (int o = 0; o < OB; ++o) {
          const P wv = pset1<P>(wk[o * w_o + kw]);
          for (int v = 0; v < NV; ++v) acc[o][v] = pmadd(wv, xv[v], acc[o][v]);
        }
      }
    }
}

// act(z + bias) of a packet, with the operations of sigmoid_forward / relu_forward.
template <class T>
inline Packet<T> activate(FusedActivation act, const Packet<T>& z, const Packet<T>& bias) {
  using namespace Eigen::internal;
  const Packet<T> v = padd(z, bias), zero = pset1<Packet<T>>(T(0));
  return act == FusedActivation::sigmoid ? logistic(v) : pselect(pcmp_lt(zero, v), v, zero);
}

// The 2x2 pooling of a block's activation (out, oh, ow packets) into pooled (out, ph, pw packets).
template <class T>
void pool_block(const Conv2dGeometry& g, const BlockLayout<T>& layout, FusedPooling pool, const T* activation, T* pooled) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  const P quarter = pset1<P>(T(0.25));
  for (std::int64_t o = 0; o < g.out_channels; ++o) {
    const T* plane = activation + o * layout.oh * layout.ow * S;
    for (std::int64_t i = 0; i < layout.ph; ++i)
      for (std::int64_t j = 0; j < layout.pw; ++j) {
        const T* a = plane + (2 * i * layout.ow + 2 * j) * S;
        const P a00 = ploadu<P>(a), a01 = ploadu<P>(a + S), a10 = ploadu<P>(a + layout.ow * S),
                a11 = ploadu<P>(a + (layout.ow + 1) * S);
        P out;
        if (pool == FusedPooling::average) {
          out = pmul(quarter, padd(padd(a00, a01), padd(a10, a11)));
        } else {  // the first maximum wins ties: replace only on strictly greater
          out = a00;
          out = pselect(pcmp_lt(out, a01), a01, out);
          out = pselect(pcmp_lt(out, a10), a10, out);
          out = pselect(pcmp_lt(out, a11), a11, out);
        }
        pstoreu(pooled + ((o * layout.ph + i) * layout.pw + j) * S, out);
      }
  }
}

// z[o][row][col] (packets) = act(bias[o] + the convolution) for every output of one block, in
// register blocks of up to OBMax out channels x NVMax columns.
template <int OBMax, int NVMax, class T>
void convolve_activate(const Conv2dGeometry& g, const BlockLayout<T>& layout, FusedActivation act, const T* x,
                       const T* weight, const T* bias, T* z) {
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t w_o = g.in_channels * g.kernel * g.kernel;
  for (std::int64_t o0 = 0; o0 < g.out_channels; o0 += OBMax) {
    const int ob = static_cast<int>(std::min<std::int64_t>(OBMax, g.out_channels - o0));
    with_constant<OBMax>(ob, [&](auto ob_c) {
      constexpr int OB = decltype(ob_c)::value;
      for (std::int64_t row = 0; row < layout.oh; ++row)
        for (std::int64_t col = 0; col < layout.ow; col += NVMax) {
          const int nv = static_cast<int>(std::min<std::int64_t>(NVMax, layout.ow - col));
          with_constant<NVMax>(nv, [&](auto nv_c) {
            constexpr int NV = decltype(nv_c)::value;
            Packet<T> acc[OB][NV];
            forward_block<OB, NV>(g, layout, x, weight + o0 * w_o, row, col, acc);
            for (int o = 0; o < OB; ++o) {
              const Packet<T> b = Eigen::internal::pset1<Packet<T>>(bias != nullptr ? bias[o0 + o] : T(0));
              for (int v = 0; v < NV; ++v)
                Eigen::internal::pstoreu(z + (((o0 + o) * layout.oh + row) * layout.ow + col + v) * S,
                                         activate<T>(act, acc[o][v], b));
            }
          });
        }
    });
  }
}

// The forward pass of one block: the activation at `activation` (out, oh, ow packets), the
// pooled result through the thread's pool buffer into pooled (N, out, ph, pw). A null
// `activation` (evaluation: no backward pass follows) puts the block's activation in the
// thread's dz buffer, which the forward pass does not otherwise use, and keeps nothing.
template <class T>
void forward_one_block(const Conv2dGeometry& g, const BlockLayout<T>& layout, FusedActivation act, FusedPooling pool,
                       const T* input, const T* weight, const T* bias, std::int64_t b, T* ws, T* activation,
                       T* pooled) {
  constexpr std::int64_t S = packet_size<T>;
  T* x = ws + layout.x_at;
  gather_input(g, layout, input, b, x, ws + layout.flat_at);
  T* z = activation != nullptr ? activation + b * g.out_channels * layout.oh * layout.ow * S : ws + layout.dz_at;
  // 32 registers hold 6 x 4 accumulators. 16 hold 9 to 12: there, the shape that leaves no
  // partial block where one does (a partial block reuses its loads less), e.g. LeNet-5's
  // conv1 (6 channels, 28 columns) in 6 x 2, conv2 (16 channels, 10 columns) in 4 x 2.
  if constexpr (registers >= 32)
    convolve_activate<6, 4>(g, layout, act, x, weight, bias, z);
  else if (g.out_channels % 6 == 0 && layout.ow % 2 == 0)
    convolve_activate<6, 2>(g, layout, act, x, weight, bias, z);
  else if (g.out_channels % 4 == 0 && layout.ow % 2 == 0)
    convolve_activate<4, 2>(g, layout, act, x, weight, bias, z);
  else
    convolve_activate<3, 3>(g, layout, act, x, weight, bias, z);
  T* p = ws + layout.pool_at;
  pool_block(g, layout, pool, z, p);
  const std::int64_t n0 = b * S, lanes = std::min<std::int64_t>(S, g.batch - n0), per_sample = g.out_channels * layout.ph * layout.pw;
  from_lanes(p, per_sample, lanes, per_sample, pooled + n0 * per_sample);
}

// dZ of one block (out, oh, ow packets) from the pooled gradient (already in lanes, in the
// pool buffer) and the activation: the pooling's backward, then the activation's, with the
// operations of avg/max_pool2d_backward and sigmoid/relu_backward. Pixels no pooling window
// covers (odd sizes) get zero.
template <class T>
void output_gradient(const Conv2dGeometry& g, const BlockLayout<T>& layout, FusedActivation act, FusedPooling pool,
                     const T* activation, const T* grad_pooled, T* dz) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  const P zero = pset1<P>(T(0)), one = pset1<P>(T(1)), quarter = pset1<P>(T(0.25));
  const auto through = [&](const P& share, const P& a) {
    return act == FusedActivation::sigmoid ? pmul(pmul(share, a), psub(one, a)) : pand(share, pcmp_lt(zero, a));
  };
  const std::int64_t plane = layout.oh * layout.ow * S;
  if (layout.oh % 2 != 0 || layout.ow % 2 != 0) std::fill(dz, dz + g.out_channels * plane, T(0));  // else all written
  for (std::int64_t o = 0; o < g.out_channels; ++o)
    for (std::int64_t i = 0; i < layout.ph; ++i)
      for (std::int64_t j = 0; j < layout.pw; ++j) {
        const std::int64_t at = o * plane + (2 * i * layout.ow + 2 * j) * S;
        const std::int64_t pos[4] = {at, at + S, at + layout.ow * S, at + (layout.ow + 1) * S};
        const P a[4] = {ploadu<P>(activation + pos[0]), ploadu<P>(activation + pos[1]), ploadu<P>(activation + pos[2]),
                        ploadu<P>(activation + pos[3])};
        const P d = ploadu<P>(grad_pooled + ((o * layout.ph + i) * layout.pw + j) * S);
        if (pool == FusedPooling::average) {
          const P share = pmul(quarter, d);
          for (int k = 0; k < 4; ++k) pstoreu(dz + pos[k], through(share, a[k]));
        } else {
          // Winner masks as the forward pass chose: a later element wins only when strictly greater.
          P best = a[0], won[4];
          won[0] = ptrue(best);
          for (int k = 1; k < 4; ++k) {
            won[k] = pcmp_lt(best, a[k]);
            best = pselect(won[k], a[k], best);
            for (int m = 0; m < k; ++m) won[m] = pandnot(won[m], won[k]);
          }
          for (int k = 0; k < 4; ++k) pstoreu(dz + pos[k], pand(through(d, a[k]), won[k]));
        }
      }
}

// Adds block dz's weight and bias gradients to the thread's lane accumulators dw (weight
// count packets) and db (out packets).
template <class T>
void add_parameter_gradients(const Conv2dGeometry& g, const BlockLayout<T>& layout, const T* x, const T* dz, T* dw, T* db) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t k = g.kernel, pixels = layout.oh * layout.ow, plane = pixels * S;
  for (std::int64_t o = 0; o < g.out_channels; ++o) {
    P sum = ploadu<P>(db + o * S);
    for (std::int64_t i = 0; i < pixels; ++i) sum = padd(sum, ploadu<P>(dz + o * plane + i * S));
    pstoreu(db + o * S, sum);
  }
  for (std::int64_t o0 = 0; o0 < g.out_channels; o0 += wgrad_out_block) {
    const int ob = static_cast<int>(std::min<std::int64_t>(wgrad_out_block, g.out_channels - o0));
    with_constant<wgrad_out_block>(ob, [&](auto ob_c) {
      constexpr int OB = decltype(ob_c)::value;
      for (std::int64_t c = 0; c < g.in_channels; ++c)
        for (std::int64_t kh = 0; kh < k; ++kh)
          for (std::int64_t kw0 = 0; kw0 < k; kw0 += tap_block) {
            const int tb = static_cast<int>(std::min<std::int64_t>(tap_block, k - kw0));
            with_constant<tap_block>(tb, [&](auto tb_c) {
              constexpr int TB = decltype(tb_c)::value;
              const auto at = [&](int o, int t) { return dw + ((((o0 + o) * g.in_channels + c) * k + kh) * k + kw0 + t) * S; };
              P acc[OB][TB];
              for (int o = 0; o < OB; ++o)
                for (int t = 0; t < TB; ++t) acc[o][t] = ploadu<P>(at(o, t));
              for (std::int64_t row = 0; row < layout.oh; ++row) {
                const T* xr = x + ((c * layout.hp + row + kh) * layout.wp + kw0) * S;
                const T* dr = dz + (o0 * pixels + row * layout.ow) * S;
                for (std::int64_t col = 0; col < layout.ow; ++col) {
                  P d[OB];
                  for (int o = 0; o < OB; ++o) d[o] = ploadu<P>(dr + o * plane + col * S);
                  for (int t = 0; t < TB; ++t) {
                    const P xv = ploadu<P>(xr + (col + t) * S);
                    for (int o = 0; o < OB; ++o) acc[o][t] = pmadd(d[o], xv, acc[o][t]);
                  }
                }
              }
              for (int o = 0; o < OB; ++o)
                for (int t = 0; t < TB; ++t) pstoreu(at(o, t), acc[o][t]);
            });
          }
    });
  }
}

// dx (the padded grid, zeroed here) = the input gradient of block dz, scattered from every
// output pixel to the inputs it read.
template <class T>
void input_gradient(const Conv2dGeometry& g, const BlockLayout<T>& layout, const T* weight, const T* dz, T* dx) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t k = g.kernel, pixels = layout.oh * layout.ow, plane = pixels * S, w_o = g.in_channels * k * k;
  std::fill(dx, dx + g.in_channels * layout.hp * layout.wp * S, T(0));
  for (std::int64_t c = 0; c < g.in_channels; ++c)
    for (std::int64_t kh = 0; kh < k; ++kh)
      for (std::int64_t kw0 = 0; kw0 < k; kw0 += tap_block) {
        const int tb = static_cast<int>(std::min<std::int64_t>(tap_block, k - kw0));
        with_constant<tap_block>(tb, [&](auto tb_c) {
          constexpr int TB = decltype(tb_c)::value;
          const T* wk = weight + (c * k + kh) * k + kw0;
          for (std::int64_t row = 0; row < layout.oh; ++row)
            for (std::int64_t col = 0; col < layout.ow; col += dx_col_block) {
              const int nv = static_cast<int>(std::min<std::int64_t>(dx_col_block, layout.ow - col));
              with_constant<dx_col_block>(nv, [&](auto nv_c) {
                constexpr int NV = decltype(nv_c)::value;
                P acc[TB][NV];
                for (int t = 0; t < TB; ++t)
                  for (int v = 0; v < NV; ++v) acc[t][v] = pset1<P>(T(0));
                const T* dr = dz + (row * layout.ow + col) * S;
                for (std::int64_t o = 0; o < g.out_channels; ++o) {
                  P d[NV];
                  for (int v = 0; v < NV; ++v) d[v] = ploadu<P>(dr + o * plane + v * S);
                  for (int t = 0; t < TB; ++t) {
                    const P wv = pset1<P>(wk[o * w_o + t]);
                    for (int v = 0; v < NV; ++v) acc[t][v] = pmadd(wv, d[v], acc[t][v]);
                  }
                }
                T* out = dx + ((c * layout.hp + row + kh) * layout.wp + col + kw0) * S;
                for (int t = 0; t < TB; ++t)
                  for (int v = 0; v < NV; ++v) {
                    T* at = out + (t + v) * S;
                    pstoreu(at, padd(ploadu<P>(at), acc[t][v]));
                  }
              });
            }
        });
      }
}

template <class T>
void forward(const Conv2dGeometry& g, FusedActivation act, FusedPooling pool, const T* input, const T* weight,
             const T* bias, T* activation, T* pooled, T* workspace) {
  const BlockLayout<T> layout(g);
#if defined(_OPENMP)
#pragma omp parallel
#endif
  {
    T* ws = workspace + thread_index() * layout.per_thread;
    std::fill(ws + layout.x_at, ws + layout.dz_at, T(0));  // the padding border stays zero
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t b = 0; b < layout.blocks; ++b)
      forward_one_block(g, layout, act, pool, input, weight, bias, b, ws, activation, pooled);
  }
}

template <class T>
void backward(const Conv2dGeometry& g, FusedActivation act, FusedPooling pool, const T* input, const T* weight,
              const T* activation, const T* grad_pooled, T* grad_input, T* grad_weight, T* grad_bias, T* workspace) {
  using namespace Eigen::internal;
  constexpr std::int64_t S = packet_size<T>;
  const BlockLayout<T> layout(g);
  const std::int64_t wcount = g.weight_count(), pooled_sample = g.out_channels * layout.ph * layout.pw;
  const int threads = num_threads();
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
  {
    T* ws = workspace + thread_index() * layout.per_thread;
    T* x = ws + layout.x_at;
    T* dz = ws + layout.dz_at;
    T* dx = ws + layout.dx_at;
    T* dw = ws + layout.dw_at;
    T* db = ws + layout.db_at;
    T* dp = ws + layout.pool_at;
    std::fill(x, x + (layout.dz_at - layout.x_at), T(0));
    std::fill(dw, dw + wcount * S, T(0));
    std::fill(db, db + g.out_channels * S, T(0));
#if defined(_OPENMP)
#pragma omp for schedule(static) nowait
#endif
    for (std::int64_t b = 0; b < layout.blocks; ++b) {
      const std::int64_t n0 = b * S, lanes = std::min<std::int64_t>(S, g.batch - n0);
      gather_input(g, layout, input, b, x, ws + layout.flat_at);
      to_lanes(grad_pooled + n0 * pooled_sample, pooled_sample, lanes, pooled_sample, dp);
      output_gradient(g, layout, act, pool, activation + b * g.out_channels * layout.oh * layout.ow * S, dp, dz);
      add_parameter_gradients(g, layout, x, dz, dw, db);
      if (grad_input != nullptr) {
        input_gradient(g, layout, weight, dz, dx);
        scatter_input_gradient(g, layout, dx, b, ws + layout.flat_at, grad_input);
      }
    }
    sum_lanes_in_place(dw, wcount + g.out_channels);  // db follows dw (BlockLayout)
  }
  sum_parameter_partials(workspace, layout.per_thread, layout.dw_at, threads, wcount, g.out_channels, grad_weight,
                         grad_bias);
}

}  // namespace lanes
}  // namespace detail
}  // namespace hnn
