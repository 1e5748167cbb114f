// Direct convolution on the CPU, vectorised with Eigen's packet primitives (the widest SIMD
// the compiler targets: AVX-512, AVX, SSE, NEON, or plain scalars).
//
// LeNet-5's convolutions are tiny (1 -> 6 and 6 -> 16 channels, 5x5): as GEMMs they have one
// dimension of 6 or 16 and spend their time packing. Here every sample is convolved
// directly, and the threads split the batch.
//
// The "wide grid": a sample's zero-padded input (hp x wp) is stored row after row, and the
// output pixel (oh, ow) is computed at position q = oh * wp + ow of that same grid. Then
// the tap (kh, kw) of every output is the input at q + kh * wp + kw, so a convolution is a
// sum of shifted copies of whole planes: long contiguous vectors, no im2col. The positions
// with ow >= out_width are computed and thrown away ((k - 1) / wp of the lanes).
//
//   forward:          Y[o][q] = sum_c sum_t W[o][c][t] * X[c][q + off(t)]
//   weight gradient:  dW[o][c][t] = sum_q dY[o][q] * X[c][q + off(t)]   (dY zero off the grid)
//   input gradient:   dX[c][r] = sum_o sum_t W[o][c][t] * dY[o][r - off(t)]
//
// with off(t) = kh * wp + kw. (The input gradient spends about half its multiply-adds on the
// zeros around dY. Splitting it into cols = W^T dY and a shifted sum over the taps does
// fewer, but with LeNet's 16 channels the product's loops are too short to pay: measured
// 40% slower for conv2.) Each thread zeroes its scratch once per call and then only
// rewrites the positions that hold data, so the padding stays zero from sample to sample.
//
// Stride s > 1 becomes the same sum by splitting the padded input into phases: phase (a, b)
// is the plane of the pixels (s * i + a, s * j + b), stored as its own grid of pitch
// ws = ceil(wp / s). Output (oh, ow) reads tap (kh, kw) from phase (kh % s, kw % s) at
// (oh + kh / s, ow + kw / s), so off(t) = phase plane + (kh / s) * ws + kw / s and the loops
// above run unchanged, with no lane spent on the skipped pixels. The input gradient runs
// once per phase, over that phase's taps, and scatters its plane back to every s-th pixel.
//
// Wide layers (Plan::channel_major) run channel_major.hpp's kernels instead, channels in the
// lanes, on pixel-major copies of the same grids (forward_channel_major, backward_channel_major).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "hnn/kernels/cpu/conv2d/channel_major.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/kernels/geometry.hpp"
#include "hnn/parallel.hpp"

namespace hnn {
namespace detail {
namespace direct {

// Register blocking (see detail::registers).
// Forward / input gradient: out_block x vec_block accumulators. With 32 registers, 6 x 3
// (18) beats 6 x 4 (24) by ~8% on the ResNet's convolutions (16 -> 16 at 28x28 forward,
// batch 256, 2 threads, AVX-512: 4.7 against 5.2 ms); 4 x 4 and 8 x 2 fall between.
constexpr int out_block = registers >= 32 ? 6 : 3;
constexpr int vec_block = 3;
// Weight gradient: out_block x tap_block accumulators.
constexpr int wgrad_out_block = registers >= 32 ? 4 : 2;
constexpr int wgrad_tap_block = 5;
// The weight gradient keeps its accumulators in registers over a group of samples holding at
// least this many packets of output positions: one 7x7 plane is 4 packets (AVX-512), too few
// to pay for loading and storing 20 accumulators.
constexpr std::int64_t wgrad_min_vectors = 32;
// The tap offsets live on the stack.
constexpr std::int64_t max_taps = 256;

// Sizes of one sample on the wide grid, and of every per-thread scratch buffer (in elements).
template <class T>
struct Plan {
  std::int64_t stride = 1;
  std::int64_t wp = 0, hp = 0;       // padded input width and height
  std::int64_t ws = 0, hs = 0;       // one phase plane: width (the grid's row pitch) and height
  std::int64_t phases = 1;           // phases per axis that some tap reads: min(stride, kernel)
  std::int64_t taps = 0;             // kernel * kernel
  std::int64_t q = 0;                // output positions computed per plane (out_height * ws, rounded to packets)
  std::int64_t in_plane = 0;         // one phase plane + the overrun of the last taps
  std::int64_t x_pitch = 0;          // one input channel: phases^2 phase planes
  std::int64_t lead = 0;             // zeros in front of each dY plane (the input gradient reads behind it)
  std::int64_t dy_plane = 0;         // lead + dY on the grid + zeros behind
  std::int64_t r = 0;                // input-gradient positions per plane and phase (rounded)
  std::int64_t group = 1;            // samples the backward holds on grids at once (see backward())
  bool channel_major = false;        // the forward and weight gradient run channel_major.hpp's kernels
  bool channel_major_input_gradient = false;  // and the input gradient too
  // Offsets of each buffer inside one thread's slice of the workspace.
  std::int64_t x_at = 0, y_at = 0, dy_at = 0, dx_at = 0, dw_at = 0, db_at = 0, w_at = 0;
  std::int64_t per_thread = 0;

  explicit Plan(const Conv2dGeometry& g) {
    const std::int64_t p = packet_size<T>, k = g.kernel, s = g.stride;
    stride = s;
    wp = g.in_width + 2 * g.padding;
    hp = g.in_height + 2 * g.padding;
    ws = (wp + s - 1) / s;
    hs = (hp + s - 1) / s;
    phases = std::min(s, k);
    taps = k * k;
    const std::int64_t reach = (k - 1) / s * (ws + 1);  // the largest offset inside a phase plane
    q = round_up(g.out_height() * ws, p);
    in_plane = round_up(std::max(hs * ws, q + reach), p);
    x_pitch = phases * phases * in_plane;
    std::int64_t rows = 0, last_first_row = 0;
    for (std::int64_t a = 0; a < phases; ++a) {
      rows = std::max(rows, image_rows(g, a).second - image_rows(g, a).first);
      last_first_row = std::max(last_first_row, image_rows(g, a).first);
    }
    r = round_up(rows * ws, p);
    lead = round_up(reach, p);
    // dY is read at [lead + first_row * ws - reach, lead + first_row * ws + r) by the input
    // gradient of each phase and at [lead, lead + q) by the weight gradient.
    dy_plane = round_up(lead + std::max(q, last_first_row * ws + r), p);
    group = std::max<std::int64_t>(1, std::min(g.batch, (wgrad_min_vectors * p + q - 1) / q));
    x_at = 0;
    y_at = x_at + group * g.in_channels * x_pitch;
    dy_at = y_at + g.out_channels * q;
    dx_at = dy_at + group * g.out_channels * dy_plane;
    dw_at = dx_at + g.in_channels * r;
    db_at = dw_at + g.out_channels * g.in_channels * taps * p;
    w_at = db_at + g.out_channels * p;
    channel_major = channel_major::suits<T>(g);
    // w_at: the backward's phase-sorted weights (stride > 1), the channel-major forward's
    // transposed ones.
    per_thread = w_at + (s > 1 || channel_major ? g.weight_count() : 0);
    channel_major_input_gradient = channel_major && channel_major::suits_input_gradient<T>(g);
  }

  // The rows [first, end) of a phase plane with row phase `a` that hold image rows (the
  // rest are padding): padded row s * i + a is image row s * i + a - padding. The same
  // formula serves columns with the width.
  static std::pair<std::int64_t, std::int64_t> image_span(std::int64_t a, std::int64_t s, std::int64_t pad,
                                                          std::int64_t size, std::int64_t plane_size) {
    const std::int64_t first = pad > a ? (pad - a + s - 1) / s : 0;
    const std::int64_t last = size - 1 + pad - a;  // the last padded index holding image, minus a
    const std::int64_t end = last < 0 ? 0 : std::min(plane_size, last / s + 1);
    return {first, std::max(first, end)};
  }
  std::pair<std::int64_t, std::int64_t> image_rows(const Conv2dGeometry& g, std::int64_t a) const {
    return image_span(a, stride, g.padding, g.in_height, hs);
  }
  std::pair<std::int64_t, std::int64_t> image_columns(const Conv2dGeometry& g, std::int64_t b) const {
    return image_span(b, stride, g.padding, g.in_width, ws);
  }
};

// Where each tap reads, row-major over (kh, kw): off[t] on a channel's phase planes (forward
// and weight gradient); and the taps grouped by phase for the input gradient, phase
// (a, b) = slot a * phases + b holding order[begin[slot] .. begin[slot + 1]) at the offsets
// phase_off[...] inside its own plane.
struct Taps {
  std::int64_t off[max_taps], phase_off[max_taps], order[max_taps], begin[max_taps + 1];

  template <class T>
  Taps(const Conv2dGeometry& g, const Plan<T>& plan) {
    const std::int64_t k = g.kernel, s = plan.stride, slots = plan.phases * plan.phases;
    const auto slot = [&](std::int64_t kh, std::int64_t kw) { return kh % s * plan.phases + kw % s; };
    const auto inside = [&](std::int64_t kh, std::int64_t kw) { return kh / s * plan.ws + kw / s; };
    std::int64_t n = 0;
    for (std::int64_t p = 0; p < slots; ++p) {
      begin[p] = n;
      for (std::int64_t kh = 0; kh < k; ++kh)
        for (std::int64_t kw = 0; kw < k; ++kw) {
          if (slot(kh, kw) != p) continue;
          order[n] = kh * k + kw;
          phase_off[n++] = inside(kh, kw);
        }
    }
    begin[slots] = n;
    for (std::int64_t kh = 0; kh < k; ++kh)
      for (std::int64_t kw = 0; kw < k; ++kw) off[kh * k + kw] = slot(kh, kw) * plan.in_plane + inside(kh, kw);
  }
};

// Whether the direct kernels handle this convolution (else the im2col path does).
inline bool applicable(const Conv2dGeometry& g) {
  return g.stride >= 1 && g.kernel * g.kernel <= max_taps && g.padding < g.kernel;
}

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
void fill_phases(const Conv2dGeometry& g, const Plan<T>& plan, const T* image, T* grid) {
  const std::int64_t s = plan.stride;
  for (std::int64_t c = 0; c < g.in_channels; ++c)
    for (std::int64_t a = 0; a < plan.phases; ++a)
      for (std::int64_t b = 0; b < plan.phases; ++b) {
        const auto [i0, i1] = plan.image_rows(g, a);
        const auto [j0, j1] = plan.image_columns(g, b);
        T* plane = grid + c * plan.x_pitch + (a * plan.phases + b) * plan.in_plane;
        for (std::int64_t i = i0; i < i1; ++i) {
          // padded pixel (s * i + a, s * j + b) is image pixel [row + s * j + b - padding]
          const T* src = image + (c * g.in_height + s * i + a - g.padding) * g.in_width;
          const std::int64_t shift = b - g.padding;
          T* dst = plane + i * plan.ws;
          if (s == 1) {
            for (std::int64_t j = j0; j < j1; ++j) dst[j] = src[j + shift];  // short rows: a loop beats a memmove call
          } else {
            for (std::int64_t j = j0; j < j1; ++j) dst[j] = src[s * j + shift];
          }
        }
      }
}

// The same phase planes, pixel-major: padded pixel (s * i + a, s * j + b)'s channels together
// at ((a * phases + b) * in_plane + i * ws + j) * in_channels (channel_major.hpp's layout).
// Whole packets of channels go through registers (transpose_pixels), each image row's and
// column's place on the phase planes looked up in a table on the stack; planes with a side
// longer than the tables, or channels not in whole packets, are copied element by element.
constexpr std::int64_t max_side = 1024;

template <class T>
void fill_phases_pixel_major(const Conv2dGeometry& g, const Plan<T>& plan, const T* image, T* grid) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t s = plan.stride, channels = g.in_channels, pixels = g.in_pixels();
  if (channels % S == 0 && pixels >= S && g.in_height <= max_side && g.in_width <= max_side) {
    // Image pixel (h, w) is padded pixel (h + padding, w + padding): on phase (a, b), the
    // remainders by the stride, at (i, j), the quotients. Its place is row_at[h] +
    // column_at[w]; -1 marks a phase no tap reads (stride > kernel), which is not stored.
    std::int64_t row_at[max_side], column_at[max_side];
    for (std::int64_t h = 0; h < g.in_height; ++h) {
      const std::int64_t a = (h + g.padding) % s, i = (h + g.padding) / s;
      row_at[h] = a < plan.phases ? (a * plan.phases * plan.in_plane + i * plan.ws) * channels : -1;
    }
    for (std::int64_t w = 0; w < g.in_width; ++w) {
      const std::int64_t b = (w + g.padding) % s, j = (w + g.padding) / s;
      column_at[w] = b < plan.phases ? (b * plan.in_plane + j) * channels : -1;
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
  for (std::int64_t a = 0; a < plan.phases; ++a)
    for (std::int64_t b = 0; b < plan.phases; ++b) {
      const auto [i0, i1] = plan.image_rows(g, a);
      const auto [j0, j1] = plan.image_columns(g, b);
      T* plane = grid + (a * plan.phases + b) * plan.in_plane * channels;
      for (std::int64_t i = i0; i < i1; ++i)
        for (std::int64_t j = j0; j < j1; ++j) {
          const T* src = image + (s * i + a - g.padding) * g.in_width + s * j + b - g.padding;
          T* dst = plane + (i * plan.ws + j) * channels;
          for (std::int64_t c = 0; c < channels; ++c) dst[c] = src[c * pixels];
        }
    }
}

// The forward with channel_major.hpp's kernel: each sample's input on its pixel-major grid,
// its output pixel-major in the scratch, then transposed to (channel, pixel) with the bias.
template <class T>
void forward_channel_major(const Conv2dGeometry& g, const Plan<T>& plan, const Taps& taps, const T* input,
                           const T* weight, const T* bias, T* output, T* workspace) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  std::int64_t off[max_taps];
  for (std::int64_t t = 0; t < plan.taps; ++t) off[t] = taps.off[t] * g.in_channels;
  const std::int64_t in = g.in_channels, out = g.out_channels, out_pixels = g.out_pixels();
#if defined(_OPENMP)
#pragma omp parallel
#endif
  {
    T* ws = workspace + thread_index() * plan.per_thread;
    T* x = ws + plan.x_at;
    T* y = ws + plan.y_at;
    T* w = ws + plan.w_at;  // w[(t * in + c) * out + o]
    std::fill(x, x + in * plan.x_pitch, T(0));
    for (std::int64_t o = 0; o < out; ++o)
      for (std::int64_t c = 0; c < in; ++c)
        for (std::int64_t t = 0; t < plan.taps; ++t) w[(t * in + c) * out + o] = weight[(o * in + c) * plan.taps + t];
#if defined(_OPENMP)
#pragma omp for schedule(static) nowait
#endif
    for (std::int64_t n = 0; n < g.batch; ++n) {
      fill_phases_pixel_major(g, plan, input + n * in * g.in_pixels(), x);
      channel_major::plane(g.out_height(), g.out_width(), plan.ws, x, in, off, plan.taps, w, out, y);
      T* dst = output + n * out * out_pixels;
      if (out_pixels >= S) {  // out is whole pairs of packets (channel_major::suits)
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

// Y = conv(X) + bias: each sample is convolved onto the grid in the thread's scratch, then
// the bias is added while it is copied out (in cache).
template <class T>
void forward(const Conv2dGeometry& g, const T* input, const T* weight, const T* bias, T* output, T* workspace) {
  const Plan<T> plan(g);
  const Taps taps(g, plan);
  if (plan.channel_major) return forward_channel_major(g, plan, taps, input, weight, bias, output, workspace);
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), out_pixels = g.out_pixels();
#if defined(_OPENMP)
#pragma omp parallel
#endif
  {
    T* ws = workspace + thread_index() * plan.per_thread;
    T* x = ws + plan.x_at;
    T* y = ws + plan.y_at;
    std::fill(x, x + g.in_channels * plan.x_pitch, T(0));
#if defined(_OPENMP)
#pragma omp for schedule(static) nowait
#endif
    for (std::int64_t n = 0; n < g.batch; ++n) {
      fill_phases(g, plan, input + n * g.in_channels * g.in_pixels(), x);
      correlate<false>(x, plan.x_pitch, g.in_channels, taps.off, plan.taps, weight, g.in_channels * plan.taps,
                       plan.taps, g.out_channels, y, plan.q, plan.q);
      T* out = output + n * g.out_channels * out_pixels;
      for (std::int64_t o = 0; o < g.out_channels; ++o) {
        const T b = bias != nullptr ? bias[o] : T(0);
        for (std::int64_t h = 0; h < oh_n; ++h) {
          const T* src = y + o * plan.q + h * plan.ws;
          T* dst = out + o * out_pixels + h * ow_n;
          for (std::int64_t w = 0; w < ow_n; ++w) dst[w] = src[w] + b;
        }
      }
    }
  }
}

// The backward with channel_major.hpp's kernels, each sample's input and dY on pixel-major
// grids (dY at position lead + oh * ws + ow, zeros around it, as backward() lays it out). The
// weight gradient sums over the output positions; the input gradient runs per phase, as
// input_gradient() does (that phase's taps, read backwards from dY), then scatters. Each
// thread sums into its own dw[(t * in + c) * out + o] and db[o], added in thread order.
template <class T>
void backward_channel_major(const Conv2dGeometry& g, const Plan<T>& plan, const Taps& taps, const T* input,
                            const T* weight, const T* grad_output, T* grad_input, T* grad_weight, T* grad_bias,
                            T* workspace) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t in = g.in_channels, out = g.out_channels, out_pixels = g.out_pixels(), wcount = g.weight_count();
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), s = plan.stride;
  std::int64_t off[max_taps], back[max_taps];
  for (std::int64_t t = 0; t < plan.taps; ++t) {
    off[t] = taps.off[t] * in;
    back[t] = -taps.phase_off[t] * out;
  }
  const int threads = num_threads();
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
  {
    T* ws = workspace + thread_index() * plan.per_thread;
    T* x = ws + plan.x_at;
    T* dy = ws + plan.dy_at;
    T* dx = ws + plan.dx_at;  // one phase's input gradient, pixel-major
    T* dw = ws + plan.dw_at;
    T* db = dw + wcount;
    T* w = ws + plan.w_at;  // w[(k * out + o) * in + c]: tap order[k], taps grouped by phase
    std::fill(x, x + in * plan.x_pitch, T(0));
    std::fill(dy, dy + out * plan.dy_plane, T(0));
    std::fill(dw, dw + wcount + out, T(0));
    if (grad_input != nullptr)
      for (std::int64_t k = 0; k < plan.taps; ++k)
        for (std::int64_t o = 0; o < out; ++o)
          for (std::int64_t c = 0; c < in; ++c)
            w[(k * out + o) * in + c] = weight[(o * in + c) * plan.taps + taps.order[k]];
#if defined(_OPENMP)
#pragma omp for schedule(static) nowait
#endif
    for (std::int64_t n = 0; n < g.batch; ++n) {
      fill_phases_pixel_major(g, plan, input + n * in * g.in_pixels(), x);
      const T* gy = grad_output + n * out * out_pixels;
      T* dy0 = dy + plan.lead * out;
      if (out_pixels >= S) {  // out is whole pairs of packets (channel_major::suits)
        for (std::int64_t o0 = 0; o0 < out; o0 += S)
          transpose_pixels<T>(
              oh_n, ow_n,
              [&](int l, std::int64_t first, std::int64_t, std::int64_t) { return ploadu<P>(gy + (o0 + l) * out_pixels + first); },
              [&](std::int64_t, int, std::int64_t h, std::int64_t k, const P& pixel) {
                pstoreu(dy0 + (h * plan.ws + k) * out + o0, pixel);
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
              dy0[(h * plan.ws + k) * out + o] = v;
              sum += v;
            }
          db[o] += sum;
        }
      }
      channel_major::weight_plane(oh_n, ow_n, plan.ws, x, in, off, plan.taps, dy0, out, dw);
      if (grad_input == nullptr) continue;
      T* gx = grad_input + n * in * g.in_pixels();
      if (s > g.kernel) std::fill(gx, gx + in * g.in_pixels(), T(0));
      for (std::int64_t a = 0; a < plan.phases; ++a)
        for (std::int64_t b = 0; b < plan.phases; ++b) {
          const auto [i0, i1] = plan.image_rows(g, a);
          const auto [j0, j1] = plan.image_columns(g, b);
          if (i0 == i1 || j0 == j1) continue;
          const std::int64_t slot = a * plan.phases + b, first = taps.begin[slot], cols = j1 - j0;
          channel_major::plane(i1 - i0, cols, plan.ws, dy0 + (i0 * plan.ws + j0) * out, out, back + first,
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
  const auto partial = [&](std::int64_t at) {
    T sum = 0;
    for (int u = 0; u < threads; ++u) sum += workspace[u * plan.per_thread + plan.dw_at + at];
    return sum;
  };
  for (std::int64_t o = 0; o < out; ++o)
    for (std::int64_t c = 0; c < in; ++c)
      for (std::int64_t t = 0; t < plan.taps; ++t)
        grad_weight[(o * in + c) * plan.taps + t] = partial((t * in + c) * out + o);
  if (grad_bias != nullptr)
    for (std::int64_t o = 0; o < out; ++o) grad_bias[o] = partial(wcount + o);
}

// The input gradient of one sample from its dY on the grid: one full correlation of dY with
// the weights per phase, each scattered back onto its pixels of grad_input (which every
// phase together covers; at stride > kernel the pixels no tap reads get zeros).
template <class T>
void input_gradient(const Conv2dGeometry& g, const Plan<T>& plan, const Taps& taps, const T* dy, const T* weight,
                    T* dx, T* grad_input) {
  const std::int64_t s = plan.stride;
  if (s > g.kernel) std::fill(grad_input, grad_input + g.in_channels * g.in_pixels(), T(0));
  for (std::int64_t a = 0; a < plan.phases; ++a)
    for (std::int64_t b = 0; b < plan.phases; ++b) {
      const auto [i0, i1] = plan.image_rows(g, a);
      const auto [j0, j1] = plan.image_columns(g, b);
      if (i0 == i1 || j0 == j1) continue;
      const std::int64_t slot = a * plan.phases + b, first = taps.begin[slot];
      correlate<true>(dy + plan.lead + i0 * plan.ws, plan.dy_plane, g.out_channels, taps.phase_off + first,
                      taps.begin[slot + 1] - first, weight + first, plan.taps, g.in_channels * plan.taps,
                      g.in_channels, dx, plan.r, round_up((i1 - i0) * plan.ws, packet_size<T>));
      for (std::int64_t c = 0; c < g.in_channels; ++c)
        for (std::int64_t i = i0; i < i1; ++i) {
          const T* src = dx + c * plan.r + (i - i0) * plan.ws;
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
// dLoss/dOutput is copied onto the grid (plane o's pixel (oh, ow) at o * plan.dy_plane +
// oh * plan.ws + ow); the positions around it are zeroed once per call and never written.
template <class T>
void backward(const Conv2dGeometry& g, const T* input, const T* weight, const T* grad_output, T* grad_input,
              T* grad_weight, T* grad_bias, T* workspace) {
  const Plan<T> plan(g);
  if (plan.channel_major && grad_weight != nullptr) {
    if (grad_input == nullptr || plan.channel_major_input_gradient)
      return backward_channel_major(g, plan, Taps(g, plan), input, weight, grad_output, grad_input, grad_weight,
                                    grad_bias, workspace);
    // The weight gradient channel-major; the input gradient alone on the position-major grids
    // (its lanes would hold too few input channels for the channel-major kernel).
    backward_channel_major(g, plan, Taps(g, plan), input, weight, grad_output, static_cast<T*>(nullptr), grad_weight,
                           grad_bias, workspace);
    return backward(g, input, weight, grad_output, grad_input, static_cast<T*>(nullptr), static_cast<T*>(nullptr),
                    workspace);
  }
  const bool weights = grad_weight != nullptr;  // else the input gradient alone
  const Taps taps(g, plan);
  constexpr std::int64_t S = packet_size<T>;
  const std::int64_t wcount = g.weight_count(), vectors = plan.q / S;
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), out_pixels = g.out_pixels();
  const std::int64_t groups = (g.batch + plan.group - 1) / plan.group;
  const int threads = num_threads();
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
  {
    T* ws = workspace + thread_index() * plan.per_thread;
    T* x = ws + plan.x_at;
    T* dy = ws + plan.dy_at;
    T* dx = ws + plan.dx_at;
    T* dw = ws + plan.dw_at;  // (out, in, taps) x P lanes of partial sums
    T* db = ws + plan.db_at;  // out x P lanes of partial sums
    std::fill(x, x + plan.group * g.in_channels * plan.x_pitch, T(0));
    std::fill(dy, dy + plan.group * g.out_channels * plan.dy_plane, T(0));
    std::fill(dw, dw + wcount * S, T(0));
    std::fill(db, db + g.out_channels * S, T(0));
    // The input gradient reads each phase's taps together: at stride > 1, a copy of the
    // weights with every (out, in) row's taps in phase order.
    const T* phase_weight = weight;
    if (grad_input != nullptr && plan.stride > 1) {
      T* sorted = ws + plan.w_at;
      for (std::int64_t row = 0; row < wcount; row += plan.taps)
        for (std::int64_t t = 0; t < plan.taps; ++t) sorted[row + t] = weight[row + taps.order[t]];
      phase_weight = sorted;
    }
    const std::int64_t x_sample = g.in_channels * plan.x_pitch, dy_sample = g.out_channels * plan.dy_plane;

    // Groups of plan.group samples: each sample's input and dY on its own grids.
#if defined(_OPENMP)
#pragma omp for schedule(static) nowait
#endif
    for (std::int64_t k = 0; k < groups; ++k) {
      const std::int64_t n0 = k * plan.group, samples = std::min(plan.group, g.batch - n0);
      for (std::int64_t b = 0; b < samples; ++b) {
        if (weights) fill_phases(g, plan, input + (n0 + b) * g.in_channels * g.in_pixels(), x + b * x_sample);
        const T* gy = grad_output + (n0 + b) * g.out_channels * out_pixels;
        T* dyb = dy + b * dy_sample + plan.lead;
        for (std::int64_t o = 0; o < g.out_channels; ++o)
          for (std::int64_t h = 0; h < oh_n; ++h)
            copy_row(gy + o * out_pixels + h * ow_n, ow_n, dyb + o * plan.dy_plane + h * plan.ws);
      }

      // Weight gradient: blocks of output channels x taps, one input channel at a time, over
      // the group's samples.
      for (std::int64_t o0 = 0; weights && o0 < g.out_channels; o0 += wgrad_out_block) {
        const int ob = static_cast<int>(std::min<std::int64_t>(wgrad_out_block, g.out_channels - o0));
        with_constant<wgrad_out_block>(ob, [&](auto ob_c) {
          constexpr int OB = decltype(ob_c)::value;
          for (std::int64_t c = 0; c < g.in_channels; ++c)
            for (std::int64_t t0 = 0; t0 < plan.taps; t0 += wgrad_tap_block) {
              const int tb = static_cast<int>(std::min<std::int64_t>(wgrad_tap_block, plan.taps - t0));
              with_constant<wgrad_tap_block>(tb, [&](auto tb_c) {
                constexpr int TB = decltype(tb_c)::value;
                const auto run = [&](auto with_bias) {
                  weight_block<OB, TB, decltype(with_bias)::value>(
                      dy + o0 * plan.dy_plane + plan.lead, plan.dy_plane, dy_sample, x + c * plan.x_pitch, x_sample,
                      samples, taps.off + t0, vectors, dw + ((o0 * g.in_channels + c) * plan.taps + t0) * S,
                      g.in_channels * plan.taps * S, db + o0 * S);
                };
                if (c == 0 && t0 == 0) run(std::true_type{});
                else run(std::false_type{});
              });
            }
        });
      }

      if (grad_input != nullptr)
        for (std::int64_t b = 0; b < samples; ++b)
          input_gradient(g, plan, taps, dy + b * dy_sample, phase_weight, dx,
                         grad_input + (n0 + b) * g.in_channels * g.in_pixels());
    }

    // Each thread sums the lanes of its own partial gradients (no barrier needed); the bias
    // partials follow the weight's (db_at = dw_at + wcount * S).
    if (weights) sum_lanes_in_place(dw, wcount + g.out_channels);
  }
  if (!weights) return;
  sum_thread_partials(workspace, plan.per_thread, plan.dw_at, threads, wcount, grad_weight);
  if (grad_bias != nullptr)
    sum_thread_partials(workspace, plan.per_thread, plan.dw_at + wcount, threads, g.out_channels, grad_bias);
}

}  // namespace direct
}  // namespace detail
}  // namespace hnn
