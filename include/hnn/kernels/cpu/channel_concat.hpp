// Channel-range copies on the CPU (kernels/channel_concat.hpp). The tensors are seen as
// (outer, channels, inner): outer the dims before the channel dim multiplied (the batch), inner
// those after it (H * W). A piece of `count` channels is, per sample, one contiguous run of
// count * inner elements in both tensors, so each sample's run is one memcpy; the runs are
// split between the threads by element count, so one large sample is shared too.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/activation.hpp"

namespace hnn {

namespace detail {
// Calls copy(whole_offset, piece_offset, n) for runs of n elements that together cover a piece
// (outer, count, inner) and channels [first, first + count) of a whole (outer, channels,
// inner), element for element; the runs are shared between the threads.
template <class Copy>
void for_each_channel_run(std::int64_t outer, std::int64_t channels, std::int64_t first, std::int64_t count,
                          std::int64_t inner, Copy&& copy) {
  const std::int64_t run = count * inner;  // one sample's elements of the piece
  if (run == 0) return;
  elementwise(outer * run, [&](std::int64_t begin, std::int64_t end) {
    while (begin < end) {
      const std::int64_t sample = begin / run, at = begin - sample * run;
      const std::int64_t n = std::min(run - at, end - begin);
      copy((sample * channels + first) * inner + at, begin, n);
      begin += n;
    }
  });
}
}  // namespace detail

// whole[s, first + c, i] = piece[s, c, i] for c < count: `piece` (outer, count, inner) written
// into channels [first, first + count) of `whole` (outer, channels, inner).
template <class T>
void copy_into_channels(cpu, std::int64_t outer, std::int64_t channels, std::int64_t first, std::int64_t count,
                        std::int64_t inner, const T* piece, T* whole) {
  detail::for_each_channel_run(outer, channels, first, count, inner,
                               [&](std::int64_t at_whole, std::int64_t at_piece, std::int64_t n) {
                                 std::memcpy(whole + at_whole, piece + at_piece, static_cast<std::size_t>(n) * sizeof(T));
                               });
}

// piece[s, c, i] = whole[s, first + c, i] for c < count: the reverse of copy_into_channels.
template <class T>
void copy_from_channels(cpu, std::int64_t outer, std::int64_t channels, std::int64_t first, std::int64_t count,
                        std::int64_t inner, const T* whole, T* piece) {
  detail::for_each_channel_run(outer, channels, first, count, inner,
                               [&](std::int64_t at_whole, std::int64_t at_piece, std::int64_t n) {
                                 std::memcpy(piece + at_piece, whole + at_whole, static_cast<std::size_t>(n) * sizeof(T));
                               });
}

}  // namespace hnn
