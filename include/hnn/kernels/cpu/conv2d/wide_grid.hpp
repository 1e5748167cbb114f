// The "wide grid": how the two direct CPU convolutions (direct.hpp, channel_major.hpp) lay out
// one sample, and where each tap reads on it.
//
// A sample's zero-padded input (hp x wp) is stored row after row, and the output pixel
// (oh, ow) is computed at position q = oh * wp + ow of that same grid. Then the tap (kh, kw)
// of every output is the input at q + kh * wp + kw, so a convolution is a sum of shifted
// copies of whole planes: long contiguous vectors, no im2col. The positions with
// ow >= out_width are computed and thrown away ((k - 1) / wp of the lanes).
//
// Stride s > 1 becomes the same sum by splitting the padded input into phases: phase (a, b)
// is the plane of the pixels (s * i + a, s * j + b), stored as its own grid of pitch
// ws = ceil(wp / s). Output (oh, ow) reads tap (kh, kw) from phase (kh % s, kw % s) at
// (oh + kh / s, ow + kw / s), so off(t) = phase plane + (kh / s) * ws + kw / s and the loops
// run unchanged, with no lane spent on the skipped pixels. The input gradient runs once per
// phase, over that phase's taps, and scatters its plane back to every s-th pixel.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/kernels/geometry.hpp"

namespace hnn {
namespace detail {
namespace wide_grid {

constexpr std::int64_t max_taps = 256;
// The weight gradient of direct.hpp holds its accumulators in registers over a group of
// samples holding at least this many packets of output positions: one 7x7 plane is 4 packets
// (AVX-512), too few to pay for loading and storing 20 accumulators.
constexpr std::int64_t wgrad_min_vectors = 32;

// Whether the grid holds this convolution: at most max_taps taps (their offsets live on the
// stack), and padding below the kernel size, the geometries its bounds are worked out for.
inline bool holds(const Conv2dGeometry& g) {
  return g.stride >= 1 && g.kernel * g.kernel <= max_taps && g.padding < g.kernel;
}

// The grid of one convolution: the sizes of one sample on it, and where each per-thread
// scratch buffer sits in the workspace (in elements). Both direct algorithms use this one
// layout, so the two passes of a backward that runs one for each gradient share it.
template <class T>
struct GridLayout {
  std::int64_t stride = 1;
  std::int64_t wp = 0, hp = 0;  // padded input width and height
  std::int64_t ws = 0, hs = 0;  // one phase plane: width (the grid's row pitch) and height
  std::int64_t phases = 1;      // phases per axis that some tap reads: min(stride, kernel)
  std::int64_t taps = 0;        // kernel * kernel
  std::int64_t q = 0;           // output positions computed per plane (out_height * ws, rounded to packets)
  std::int64_t in_plane = 0;    // one phase plane + the overrun of the last taps
  std::int64_t x_pitch = 0;     // one input channel: phases^2 phase planes
  std::int64_t lead = 0;        // zeros in front of each dY plane (the input gradient reads behind it)
  std::int64_t dy_plane = 0;    // lead + dY on the grid + zeros behind
  std::int64_t r = 0;           // input-gradient positions per plane and phase (rounded)
  std::int64_t group = 1;       // samples direct.hpp's backward holds on grids at once
  // Offsets of each buffer inside one thread's slice of the workspace.
  std::int64_t x_at = 0, y_at = 0, dy_at = 0, dx_at = 0, dw_at = 0, db_at = 0, w_at = 0;
  std::int64_t per_thread = 0;

  // channel_major: a channel-major pass runs on this layout, so the slice ends with a copy of
  // the weights (transposed for channel_major.hpp's kernels); at stride > 1 it does anyway,
  // for direct.hpp's backward (the taps sorted by phase).
  GridLayout(const Conv2dGeometry& g, bool channel_major) {
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
    per_thread = w_at + (s > 1 || channel_major ? g.weight_count() : 0);
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
  Taps(const Conv2dGeometry& g, const GridLayout<T>& layout) {
    const std::int64_t k = g.kernel, s = layout.stride, slots = layout.phases * layout.phases;
    const auto slot = [&](std::int64_t kh, std::int64_t kw) { return kh % s * layout.phases + kw % s; };
    const auto inside = [&](std::int64_t kh, std::int64_t kw) { return kh / s * layout.ws + kw / s; };
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
      for (std::int64_t kw = 0; kw < k; ++kw) off[kh * k + kw] = slot(kh, kw) * layout.in_plane + inside(kh, kw);
  }
};

}  // namespace wide_grid
}  // namespace detail
}  // namespace hnn
