// Conv2dAlgorithm::winograd on the CPU: Winograd's minimal filtering F(4x4, 3x3) for 3x3
// convolutions of stride 1 (padding 0 or 1), in NCHW.
//
// The output is cut into 4x4 tiles; each reads a 6x6 window of the input. Per tile and channel
// pair the 3x3 filter g and the window d are carried into a 6x6 "transform" space,
//   U = G g G^T,  V = B^T d B,  and the tile's output is  Y = A^T (sum over input channels U . V) A,
// so that the 36 positions of the transform space are 36 independent products of (out x in)
// by (in x tiles): 36 multiply-adds per tile and channel pair instead of 16 x 9 = 144.
//
// The tiles lie in the SIMD lanes: a thread takes a block of tiles (any samples, any
// positions), copies each tile's window into a staging area with the tiles across a packet,
// transforms a packet of tiles at once, runs the 36 products as register-blocked packet loops
// (the transformed weights broadcast, the tiles loaded), and transforms back a packet of tiles
// at once, writing each tile's 4x4 (clipped at the right and bottom edges) with the bias.
// A block's transformed input and products stay in the thread's cache-sized workspace.
//
// The same kernel runs the input gradient of a 3x3, stride-1, padding-1 convolution: it is the
// convolution of the output gradient by the weights turned by 180 degrees with the input and
// output channels swapped, again with padding 1.
//
// The weight gradient (weight_gradient below) is the same identity read backwards: for each
// tile, dg = G^T ((A dY A^T) . V) G, so the 36 positions' products (out x tiles) by
// (tiles x in), summed over every tile, are carried back by G once per channel pair. There the
// sum runs over the tiles, so the transformed input is turned to put channels in the lanes
// (a sum across lanes per block would cost more than the products on 7x7 maps).
//
// The threads transform the weights together into one copy at the workspace's start; each
// thread's own part (a block's transformed input, products, padded samples and staging) follows.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/kernels/geometry.hpp"
#include "hnn/parallel.hpp"

namespace hnn {
namespace detail {
namespace winograd {

constexpr std::int64_t tile = 4, window = 6, positions = 36;

// The geometries winograd runs forward: kernel 3, stride 1, padding 0 or 1.
inline bool holds(const Conv2dGeometry& g) {
  return g.kernel == 3 && g.stride == 1 && (g.padding == 0 || g.padding == 1);
}
// Its input gradient needs padding 1 (padding 0's adjoint is padding 2).
inline bool holds_input_gradient(const Conv2dGeometry& g) { return holds(g) && g.padding == 1; }

// One convolution the kernel runs: `channels` planes of height x width into `outputs` planes.
struct Problem {
  std::int64_t batch, channels, outputs, height, width, padding;
  std::int64_t out_height() const { return height + 2 * padding - 2; }
  std::int64_t out_width() const { return width + 2 * padding - 2; }
};
inline Problem forward_problem(const Conv2dGeometry& g) {
  return {g.batch, g.in_channels, g.out_channels, g.in_height, g.in_width, g.padding};
}
inline Problem input_gradient_problem(const Conv2dGeometry& g) {
  return {g.batch, g.out_channels, g.in_channels, g.out_height(), g.out_width(), 1};
}

// The register block of the products: `rows` output planes by `strip` packets of tiles.
constexpr int rows = 4;
constexpr int strip = registers >= 32 ? 4 : 2;

// A square of packets, transposed in registers.
#if defined(__GNUC__)  // a SIMD type as a class template argument drops its alignment attribute: harmless here
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif
template <class T>
using Block = Eigen::internal::PacketBlock<Packet<T>, static_cast<int>(packet_size<T>)>;
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

// Planes whose windows (or tiles' outputs) are staged at once: transform_input says why.
constexpr std::int64_t chunk = 4;

// Positions of a tile's window in the staging area, padded to whole packets for the transposes.
template <class T>
constexpr std::int64_t staged_positions = (positions + packet_size<T> - 1) / packet_size<T> * packet_size<T>;

// How one thread's workspace is cut, in elements of T.
template <class T>
struct Layout {
  static constexpr std::int64_t lanes = packet_size<T>;
  std::int64_t tiles_high, tiles_wide, tiles;  // tiles per plane, and in all
  std::int64_t block;                          // tiles a thread transforms at once
  std::int64_t v_position, m_position;         // elements from one position's products to the next
  std::int64_t padded_high, padded_wide;       // a plane with its padding, out to whole tiles' windows
  std::int64_t samples;                        // samples one block's tiles can touch
  std::int64_t shared;                         // the transformed weights, one copy for all threads
  std::int64_t v, m, stage, planes, own;       // offsets in a thread's own part, and its size
  std::int64_t per_thread;                     // what workspace_per_thread counts: shared + own
  std::int64_t channel_lanes = 0;              // the input channels out to whole packets
  std::int64_t turned = 0, sums = 0;           // weight_gradient's own part: V turned, and its sums
  std::int64_t gradient_per_thread = 0;        // what weight_gradient_per_thread counts
  explicit Layout(const Problem& p) {
    tiles_high = (p.out_height() + tile - 1) / tile;
    tiles_wide = (p.out_width() + tile - 1) / tile;
    tiles = p.batch * tiles_high * tiles_wide;
    // A block's transformed input and products within about half of a 1 MB L2, in whole strips
    // of tiles; never wider than the tiles there are.
    const std::int64_t unit = strip * lanes;
    const std::int64_t per_tile = positions * (p.channels + p.outputs) * static_cast<std::int64_t>(sizeof(T));
    const std::int64_t units = std::max<std::int64_t>(1, (std::int64_t(512) << 10) / (per_tile * unit));
    block = std::min(units * unit, round_up(std::max<std::int64_t>(tiles, 1), lanes));
    // The 36 positions a cache line apart beyond the block's size: at a whole multiple of 4 KB
    // (16 channels x 64 tiles in float) they would all fall in one set of the L1 cache.
    const std::int64_t skew = 64 / static_cast<std::int64_t>(sizeof(T));
    v_position = p.channels * block + skew;
    m_position = p.outputs * block + skew;
    shared = round_up(positions * p.channels * p.outputs, lanes);
    v = 0;
    m = v + positions * v_position;
    stage = m + positions * m_position;
    padded_high = tiles_high * tile + 2;
    padded_wide = tiles_wide * tile + 2;
    const std::int64_t per_sample = std::max<std::int64_t>(1, tiles_high * tiles_wide);
    samples = std::min(p.batch, (block - 1) / per_sample + 2);
    planes = stage + chunk * staged_positions<T> * lanes;
    own = round_up(planes + samples * p.channels * padded_high * padded_wide, lanes);
    per_thread = shared + own;
    // weight_gradient's thread part: the forward's (with the gradient's transform where the
    // products go), then the block's V with channels in the lanes, then the thread's sums.
    channel_lanes = round_up(p.channels, lanes);
    turned = own;
    sums = turned + positions * block * channel_lanes;
    gradient_per_thread = sums + positions * p.outputs * channel_lanes;
  }
};

inline std::int64_t workspace_per_thread(const Conv2dGeometry& g) {
  return std::max({Layout<float>(forward_problem(g)).per_thread, Layout<double>(forward_problem(g)).per_thread,
                   Layout<float>(input_gradient_problem(g)).per_thread,
                   Layout<double>(input_gradient_problem(g)).per_thread});
}
// The weight gradient's, which needs more (weight_gradient: no weights' copy, its own buffers).
inline std::int64_t weight_gradient_per_thread(const Conv2dGeometry& g) {
  return std::max(Layout<float>(forward_problem(g)).gradient_per_thread,
                  Layout<double>(forward_problem(g)).gradient_per_thread);
}

// G, the filter's transform (6 x 3).
constexpr double G[6][3] = {{1.0 / 4, 0, 0},           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                            {-1.0 / 6, 1.0 / 6, -1.0 / 6}, {1.0 / 24, 1.0 / 12, 1.0 / 6},
                            {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};

// U[position][k][c] = (G g G^T)[position] for the filter g from input plane c to output
// plane k, computed in double. flipped: the input gradient's filters, g = the stored filter
// from k to c turned by 180 degrees (the stored weights are (c, k, 3, 3) then).
template <class T>
void transform_weights(const Problem& p, const T* weight, bool flipped, std::int64_t k0, std::int64_t k1, T* u) {
  const std::int64_t plane = p.outputs * p.channels;
  for (std::int64_t k = k0; k < k1; ++k)
    for (std::int64_t c = 0; c < p.channels; ++c) {
      const T* w = flipped ? weight + (c * p.outputs + k) * 9 : weight + (k * p.channels + c) * 9;
      double g[3][3], t[6][3];
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) g[i][j] = static_cast<double>(flipped ? w[8 - 3 * i - j] : w[3 * i + j]);
      for (int a = 0; a < 6; ++a)
        for (int j = 0; j < 3; ++j) t[a][j] = G[a][0] * g[0][j] + G[a][1] * g[1][j] + G[a][2] * g[2][j];
      for (int a = 0; a < 6; ++a)
        for (int b = 0; b < 6; ++b)
          u[(a * 6 + b) * plane + k * p.channels + c] =
              static_cast<T>(t[a][0] * G[b][0] + t[a][1] * G[b][1] + t[a][2] * G[b][2]);
    }
}

// B^T d for six packets d[0], d[s], ..., d[5s] into t[0], t[s'], ...
template <class P>
inline void input_transform_1d(const P* d, int ds, P* t, int ts) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<P>::type;
  const P d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
  const P four = pset1<P>(T(4)), two = pset1<P>(T(2)), minus5 = pset1<P>(T(-5));
  const P d4_d2 = psub(d4, d2);
  t[0] = pmadd(four, d0, pmadd(minus5, d2, d4));
  t[ts] = psub(padd(d4, d3), pmul(four, padd(d1, d2)));
  t[2 * ts] = pmadd(four, psub(d1, d2), psub(d4, d3));
  t[3 * ts] = pmadd(two, psub(d3, d1), d4_d2);
  t[4 * ts] = pmadd(two, psub(d1, d3), d4_d2);
  t[5 * ts] = pmadd(four, d1, pmadd(minus5, d3, d5));
}

// A^T m for six packets into four.
template <class P>
inline void output_transform_1d(const P* m, int ms, P* o, int os) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<P>::type;
  const P m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms], m4 = m[4 * ms];
  const P sum12 = padd(m1, m2), diff12 = psub(m1, m2), sum34 = padd(m3, m4), diff34 = psub(m3, m4);
  o[0] = padd(padd(m[0], sum12), sum34);
  o[os] = pmadd(pset1<P>(T(2)), diff34, diff12);
  o[2 * os] = pmadd(pset1<P>(T(4)), sum34, sum12);
  o[3 * os] = padd(pmadd(pset1<P>(T(8)), diff34, diff12), m[5 * ms]);
}

// Where each lane's tile reads and writes.
struct LaneTile {
  std::int64_t in;    // its window's first element in the block's padded copy of the input
  std::int64_t out;   // its first output in the output
  int rows, cols;     // its outputs inside the output plane (4 but at the edges)
  bool valid;         // a tile at all (the block's last packet may be short)
};

template <class T>
// The lanes of tiles first, first + 1, ...; first_sample: the first sample of the block's
// padded copy.
void describe_lanes(const Problem& p, const Layout<T>& L, std::int64_t first, std::int64_t first_sample,
                    LaneTile* lane) {
  const std::int64_t per_sample = L.tiles_high * L.tiles_wide, oh = p.out_height(), ow = p.out_width();
  for (std::int64_t l = 0; l < L.lanes; ++l) {
    LaneTile& t = lane[l];
    const std::int64_t index = first + l;
    t.valid = index < L.tiles;
    if (!t.valid) {
      t.in = lane[0].in;  // read, transformed and never written
      continue;
    }
    const std::int64_t n = index / per_sample, r = index % per_sample, ty = r / L.tiles_wide, tx = r % L.tiles_wide;
    t.in = (n - first_sample) * p.channels * L.padded_high * L.padded_wide + ty * tile * L.padded_wide + tx * tile;
    t.out = n * p.outputs * oh * ow + ty * tile * ow + tx * tile;
    t.rows = static_cast<int>(std::min<std::int64_t>(tile, oh - ty * tile));
    t.cols = static_cast<int>(std::min<std::int64_t>(tile, ow - tx * tile));
  }
}

// Copies samples [first, last] of the input into `planes`, each plane inside its padding, out
// to the windows of the last row and column of tiles so that every window lies inside. The
// padding is the same zeros for every block: run() writes it once, this copies the pixels.
template <class T>
void pad_samples(const Problem& p, const Layout<T>& L, const T* input, std::int64_t first, std::int64_t last,
                 T* planes) {
  const std::int64_t wide = L.padded_wide;
  for (std::int64_t n = first; n <= last; ++n)
    for (std::int64_t c = 0; c < p.channels; ++c) {
      const T* from = input + (n * p.channels + c) * p.height * p.width;
      T* to = planes + ((n - first) * p.channels + c) * L.padded_high * wide + p.padding * wide + p.padding;
      for (std::int64_t row = 0; row < p.height; ++row) copy_row(from + row * p.width, p.width, to + row * wide);
    }
}

// The input transform of one packet of tiles (lanes) of one input plane c, into
// v[position * v_position + lane]. Each tile's window is copied row by row into the staging
// area (a tile's 36 values together: six short copies of a fixed size, a few moves each), then
// packets of it are transposed so that a packet holds one position of every tile. The staging
// area's padding stays zero.
//
// `chunk` planes at a time: their windows are all copied before the first is transposed, so
// that the packet loads come long after the short stores they read (a load that spans several
// stores still in flight waits for them to reach the cache).
template <class T>
void transform_input(const Layout<T>& L, const T* planes, const LaneTile* lane, std::int64_t c0, std::int64_t c1,
                     T* stage, T* v, std::int64_t v_position) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t lanes = packet_size<T>, padded = staged_positions<T>;
  const std::int64_t wide = L.padded_wide, plane_size = L.padded_high * wide;
  for (std::int64_t c = c0; c < c1; ++c)
    for (std::int64_t l = 0; l < lanes; ++l) {
      const T* from = planes + lane[l].in + c * plane_size;
      T* s = stage + ((c - c0) * lanes + l) * padded;
      for (int i = 0; i < window; ++i) std::memcpy(s + i * window, from + i * wide, window * sizeof(T));
    }
  for (std::int64_t c = c0; c < c1; ++c) {
    P d[padded], t[positions];
    const T* s = stage + (c - c0) * lanes * padded;
    for (std::int64_t q = 0; q < padded; q += lanes) {
      Block<T> block;
      for (std::int64_t l = 0; l < lanes; ++l) block.packet[l] = ploadu<P>(s + l * padded + q);
      transpose_block(block);
      for (std::int64_t e = 0; e < lanes; ++e) d[q + e] = block.packet[e];
    }
    for (int j = 0; j < window; ++j) input_transform_1d(d + j, window, t + j, window);  // down the columns
    for (int a = 0; a < window; ++a) input_transform_1d(t + a * window, 1, d + a * window, 1);  // along the rows
    T* to = v + c * L.block;
    for (int e = 0; e < positions; ++e) pstoreu(to + e * v_position, d[e]);
  }
}

// out[r][q packets] (+)= sum over i < depth of a[r * a_pitch + i] * b[i * b_pitch + q packets] for
// `Rows` rows by `Packets` packets, the a values broadcast: the forward's products (the
// weights' transform by packets of tiles, written) and the weight gradient's (the output
// gradient's transform by packets of input channels, added to the thread's sums).
template <class T, int Rows, int Packets, bool Accumulate>
inline void product_block(std::int64_t depth, const T* a, std::int64_t a_pitch, const T* b, std::int64_t b_pitch, T* out,
                          std::int64_t out_pitch) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t lanes = packet_size<T>;
  P acc[Rows][Packets];
  for (int r = 0; r < Rows; ++r)
    for (int q = 0; q < Packets; ++q) acc[r][q] = pset1<P>(T(0));
  for (std::int64_t i = 0; i < depth; ++i) {
    P x[Packets];
    for (int q = 0; q < Packets; ++q) x[q] = ploadu<P>(b + i * b_pitch + q * lanes);
    for (int r = 0; r < Rows; ++r) {
      const P w = pset1<P>(a[r * a_pitch + i]);
      for (int q = 0; q < Packets; ++q) acc[r][q] = pmadd(w, x[q], acc[r][q]);
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int q = 0; q < Packets; ++q) {
      T* to = out + r * out_pitch + q * lanes;
      pstoreu(to, Accumulate ? padd(ploadu<P>(to), acc[r][q]) : acc[r][q]);
    }
}

// The output transform of one packet of tiles of output planes [k0, k1) (at most `chunk`), with
// the bias, written into the output: all of them into the staging area first, for the reason
// transform_input gives.
template <class T>
void transform_output(const Problem& p, const Layout<T>& L, const LaneTile* lane, std::int64_t k0, std::int64_t k1,
                      const T* m, const T* bias, T* stage, T* output) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t lanes = packet_size<T>;
  const std::int64_t m_position = L.m_position;
  for (std::int64_t k = k0; k < k1; ++k) {
  P x[positions], t[4 * window], y[tile * tile];
  T* staged = stage + (k - k0) * lanes * tile * tile;
  for (int e = 0; e < positions; ++e) x[e] = ploadu<P>(m + k * L.block + e * m_position);
  for (int b = 0; b < window; ++b) output_transform_1d(x + b, window, t + b, window);  // down the columns
  const P b0 = pset1<P>(bias != nullptr ? bias[k] : T(0));
  for (int a = 0; a < tile; ++a) output_transform_1d(t + a * window, 1, y + a * tile, 1);  // along the rows
  // Transposed, a packet holds one tile's outputs (or a part of them), row after row.
  static_assert(tile * tile % lanes == 0, "a tile's outputs fill whole packets");
  for (std::int64_t q = 0; q < tile * tile; q += lanes) {
    Block<T> block;
    for (std::int64_t e = 0; e < lanes; ++e) block.packet[e] = padd(y[q + e], b0);
    transpose_block(block);
    for (std::int64_t l = 0; l < lanes; ++l) pstoreu(staged + l * tile * tile + q, block.packet[l]);
  }
  }
  const std::int64_t ow = p.out_width(), plane_size = p.out_height() * ow;
  for (std::int64_t k = k0; k < k1; ++k)
  for (std::int64_t l = 0; l < lanes; ++l) {
    const LaneTile& tl = lane[l];
    if (!tl.valid) continue;
    T* to = output + tl.out + k * plane_size;
    const T* s = stage + ((k - k0) * lanes + l) * tile * tile;
    if (tl.rows == tile && tl.cols == tile) {
      for (int i = 0; i < tile; ++i) std::copy_n(s + i * tile, tile, to + i * ow);
      continue;
    }
    for (int i = 0; i < tl.rows; ++i)
      for (int j = 0; j < tl.cols; ++j) to[i * ow + j] = s[i * tile + j];
  }
}

// The whole convolution, tiles spread over threads in blocks.
template <class T>
void run(const Problem& p, const T* input, const T* weight, bool flipped, const T* bias, T* output, T* workspace) {
  const Layout<T> L(p);
  constexpr std::int64_t lanes = Layout<T>::lanes;
  if (L.tiles == 0 || p.outputs == 0) return;
  const std::int64_t blocks = (L.tiles + L.block - 1) / L.block;
  [[maybe_unused]] const int threads = num_threads();  // unused without OpenMP
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
  {
    T* const u = workspace;
    T* const base = workspace + L.shared + thread_index() * L.own;
    T* const v = base + L.v;
    T* const m = base + L.m;
    T* const stage = base + L.stage;
    T* const planes = base + L.planes;
    {  // the threads share the weights' transform; the loop's barrier ends it before any product
      const auto [k0, k1] = thread_range(p.outputs, thread_index(), team_size(), 1);
      transform_weights(p, weight, flipped, k0, k1, u);
    }
#if defined(_OPENMP)
#pragma omp barrier
#endif
    std::fill(stage, stage + chunk * staged_positions<T> * lanes, T(0));
    std::fill(planes, planes + L.samples * p.channels * L.padded_high * L.padded_wide, T(0));  // the padding
    LaneTile lane[lanes];
    const std::int64_t v_position = L.v_position, m_position = L.m_position;
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t first = b * L.block;
      const std::int64_t width = round_up(std::min(L.block, L.tiles - first), lanes);  // tiles, whole packets
      const std::int64_t per_sample = L.tiles_high * L.tiles_wide, first_sample = first / per_sample;
      pad_samples(p, L, input, first_sample, (std::min(L.tiles, first + L.block) - 1) / per_sample, planes);
      for (std::int64_t g = 0; g < width; g += lanes) {
        describe_lanes(p, L, first + g, first_sample, lane);
        for (std::int64_t c = 0; c < p.channels; c += chunk)
          transform_input(L, planes, lane, c, std::min(p.channels, c + chunk), stage, v + g, v_position);
      }
      for (std::int64_t e = 0; e < positions; ++e) {
        const T* ue = u + e * p.outputs * p.channels;
        const T* ve = v + e * v_position;
        T* me = m + e * m_position;
        for (std::int64_t s = 0; s < width; s += strip * lanes) {
          const int packets = static_cast<int>(std::min<std::int64_t>(strip, (width - s) / lanes));
          with_constant<strip>(packets, [&](auto q) {
            for (std::int64_t k = 0; k < p.outputs; k += rows) {
              const int r = static_cast<int>(std::min<std::int64_t>(rows, p.outputs - k));
              with_constant<rows>(r, [&](auto rr) {
                product_block<T, decltype(rr)::value, decltype(q)::value, false>(
                    p.channels, ue + k * p.channels, p.channels, ve + s, L.block, me + k * L.block + s, L.block);
              });
            }
          });
        }
      }
      for (std::int64_t g = 0; g < width; g += lanes) {
        describe_lanes(p, L, first + g, first_sample, lane);
        for (std::int64_t k = 0; k < p.outputs; k += chunk)
          transform_output(p, L, lane, k, std::min(p.outputs, k + chunk), m + g, bias, stage, output);
      }
    }
  }
}

// A y for four packets y[0], y[s], y[2s], y[3s] into six (A: the transpose of output_transform_1d's A^T).
template <class P>
inline void gradient_transform_1d(const P* y, int ys, P* z, int zs) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<P>::type;
  const P y0 = y[0], y1 = y[ys], y2 = y[2 * ys], y3 = y[3 * ys];
  const P even = padd(y0, y2), odd = padd(y1, y3);
  const P even4 = pmadd(pset1<P>(T(4)), y2, y0), odd8 = pmadd(pset1<P>(T(8)), y3, padd(y1, y1));
  z[0] = y0;
  z[zs] = padd(even, odd);
  z[2 * zs] = psub(even, odd);
  z[3 * zs] = padd(even4, odd8);
  z[4 * zs] = psub(even4, odd8);
  z[5 * zs] = y3;
}

// Z = A dY A^T of one packet of tiles of output-gradient planes [k0, k1) (at most `chunk`) into
// z[position * z_position + k * block]: each tile's 4x4 (zeros past the edges, and for lanes past
// the last tile) staged first, for the reason transform_input gives.
template <class T>
void transform_output_gradient(const Problem& p, const Layout<T>& L, const LaneTile* lane, const T* grad_output,
                               std::int64_t k0, std::int64_t k1, T* stage, T* z, std::int64_t z_position) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t lanes = packet_size<T>;
  const std::int64_t ow = p.out_width(), plane_size = p.out_height() * ow;
  for (std::int64_t k = k0; k < k1; ++k)
    for (std::int64_t l = 0; l < lanes; ++l) {
      T* s = stage + ((k - k0) * lanes + l) * tile * tile;
      const LaneTile& tl = lane[l];
      if (!tl.valid) {
        std::fill(s, s + tile * tile, T(0));
        continue;
      }
      const T* from = grad_output + tl.out + k * plane_size;
      if (tl.rows == tile && tl.cols == tile) {
        for (int i = 0; i < tile; ++i) std::copy_n(from + i * ow, tile, s + i * tile);
        continue;
      }
      std::fill(s, s + tile * tile, T(0));
      for (int i = 0; i < tl.rows; ++i)
        for (int j = 0; j < tl.cols; ++j) s[i * tile + j] = from[i * ow + j];
    }
  static_assert(tile * tile % lanes == 0, "a tile's values fill whole packets");
  for (std::int64_t k = k0; k < k1; ++k) {
    P y[tile * tile], t[window * tile], m[positions];
    const T* s = stage + (k - k0) * lanes * tile * tile;
    for (std::int64_t q = 0; q < tile * tile; q += lanes) {
      Block<T> block;
      for (std::int64_t l = 0; l < lanes; ++l) block.packet[l] = ploadu<P>(s + l * tile * tile + q);
      transpose_block(block);
      for (std::int64_t e = 0; e < lanes; ++e) y[q + e] = block.packet[e];
    }
    for (int j = 0; j < tile; ++j) gradient_transform_1d(y + j, tile, t + j, tile);                // down the columns
    for (int a = 0; a < window; ++a) gradient_transform_1d(t + a * tile, 1, m + a * window, 1);  // along the rows
    T* to = z + k * L.block;
    for (int e = 0; e < positions; ++e) pstoreu(to + e * z_position, m[e]);
  }
}

// One position's V (channels x tiles, `width` tiles) turned to tiles x channel_lanes, the
// channels past the last zero.
template <class T>
void turn_input(const Layout<T>& L, std::int64_t channels, const T* v, std::int64_t width, T* turned) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t lanes = packet_size<T>;
  const std::int64_t cl = L.channel_lanes;
  for (std::int64_t c0 = 0; c0 < cl; c0 += lanes)
    for (std::int64_t t0 = 0; t0 < width; t0 += lanes) {
      Block<T> block;
      for (std::int64_t i = 0; i < lanes; ++i)
        block.packet[i] = c0 + i < channels ? ploadu<P>(v + (c0 + i) * L.block + t0) : pset1<P>(T(0));
      transpose_block(block);
      for (std::int64_t j = 0; j < lanes; ++j) pstoreu(turned + (t0 + j) * cl + c0, block.packet[j]);
    }
}

// The register block of the weight gradient's products: `gradient_rows` output planes by
// `gradient_packets` packets of input channels.
constexpr int gradient_rows = 6;
constexpr int gradient_packets = registers >= 32 ? 4 : 2;

// grad_weight (out, in, 3, 3) and, when not null, grad_bias (out) of the convolution `g`, from
// its input and grad_output (N, out, oh, ow); padding 0 or 1. Each thread sums its blocks'
// products into its own sums; the threads' sums are then added, in double, and carried back by G.
template <class T>
void weight_gradient(const Conv2dGeometry& g, const T* input, const T* grad_output, T* grad_weight, T* grad_bias,
                     T* workspace) {
  const Problem p = forward_problem(g);
  const Layout<T> L(p);
  constexpr std::int64_t lanes = Layout<T>::lanes;
  const std::int64_t C = p.channels, K = p.outputs, cl = L.channel_lanes;
  const std::int64_t blocks = (L.tiles + L.block - 1) / L.block, own = positions * K * cl;
  const int threads = num_threads();
  if (grad_bias != nullptr) {
    const std::int64_t plane = p.out_height() * p.out_width();
    for (std::int64_t k = 0; k < K; ++k) {
      double sum = 0;
      for (std::int64_t n = 0; n < p.batch; ++n)
        for (std::int64_t i = 0; i < plane; ++i) sum += static_cast<double>(grad_output[(n * K + k) * plane + i]);
      grad_bias[k] = static_cast<T>(sum);
    }
  }
  for (int t = 0; t < threads; ++t) {  // every thread's sums, also those of a smaller team
    T* const sums = workspace + t * L.gradient_per_thread + L.sums;
    std::fill(sums, sums + own, T(0));
  }
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
  {
    T* const base = workspace + thread_index() * L.gradient_per_thread;
    T* const v = base + L.v;
    T* const z = base + L.m;
    T* const stage = base + L.stage;
    T* const planes = base + L.planes;
    T* const turned = base + L.turned;
    T* const sums = base + L.sums;
    std::fill(stage, stage + chunk * staged_positions<T> * lanes, T(0));
    std::fill(planes, planes + L.samples * C * L.padded_high * L.padded_wide, T(0));  // the padding
    LaneTile lane[lanes];
#if defined(_OPENMP)
#pragma omp for schedule(static)
#endif
    for (std::int64_t b = 0; b < blocks; ++b) {
      const std::int64_t first = b * L.block;
      const std::int64_t width = round_up(std::min(L.block, L.tiles - first), lanes);  // tiles, whole packets
      const std::int64_t per_sample = L.tiles_high * L.tiles_wide, first_sample = first / per_sample;
      pad_samples(p, L, input, first_sample, (std::min(L.tiles, first + L.block) - 1) / per_sample, planes);
      for (std::int64_t q = 0; q < width; q += lanes) {
        describe_lanes(p, L, first + q, first_sample, lane);
        for (std::int64_t c = 0; c < C; c += chunk)
          transform_input(L, planes, lane, c, std::min(C, c + chunk), stage, v + q, L.v_position);
        for (std::int64_t k = 0; k < K; k += chunk)
          transform_output_gradient(p, L, lane, grad_output, k, std::min(K, k + chunk), stage, z + q, L.m_position);
      }
      for (std::int64_t e = 0; e < positions; ++e) {
        T* const te = turned + e * L.block * cl;
        turn_input(L, C, v + e * L.v_position, width, te);
        const T* ze = z + e * L.m_position;
        for (std::int64_t k = 0; k < K; k += gradient_rows) {
          const int r = static_cast<int>(std::min<std::int64_t>(gradient_rows, K - k));
          with_constant<gradient_rows>(r, [&](auto rows_c) {
            for (std::int64_t c = 0; c < cl; c += gradient_packets * lanes) {
              const int n = static_cast<int>(std::min<std::int64_t>(gradient_packets, (cl - c) / lanes));
              with_constant<gradient_packets>(n, [&](auto packets_c) {
                product_block<T, decltype(rows_c)::value, decltype(packets_c)::value, true>(
                    width, ze + k * L.block, L.block, te + c, cl, sums + (e * K + k) * cl + c, cl);
              });
            }
          });
        }
      }
    }
  }
  // dg = G^T M G per channel pair, M the threads' sums added in double.
#if defined(_OPENMP)
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t c = 0; c < C; ++c) {
      double m[window][window], mg[window][3];
      for (int e = 0; e < positions; ++e) {
        double sum = 0;
        for (int t = 0; t < threads; ++t)
          sum += static_cast<double>(workspace[t * L.gradient_per_thread + L.sums + (e * K + k) * cl + c]);
        m[e / window][e % window] = sum;
      }
      for (int a = 0; a < window; ++a)
        for (int j = 0; j < 3; ++j) {
          double sum = 0;
          for (int b = 0; b < window; ++b) sum += m[a][b] * G[b][j];
          mg[a][j] = sum;
        }
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
          double sum = 0;
          for (int a = 0; a < window; ++a) sum += G[a][i] * mg[a][j];
          grad_weight[(k * C + c) * 9 + i * 3 + j] = static_cast<T>(sum);
        }
    }
}

// output (N, out, oh, ow) = conv(input) + bias; bias may be null.
template <class T>
void forward(const Conv2dGeometry& g, const T* input, const T* weight, const T* bias, T* output, T* workspace) {
  run(forward_problem(g), input, weight, false, bias, output, workspace);
}

// grad_input (N, in, h, w) of a padding-1 convolution, from grad_output (N, out, h, w).
template <class T>
void input_gradient(const Conv2dGeometry& g, const T* weight, const T* grad_output, T* grad_input, T* workspace) {
  run(input_gradient_problem(g), grad_output, weight, true, static_cast<const T*>(nullptr), grad_input, workspace);
}

}  // namespace winograd
}  // namespace detail
}  // namespace hnn
