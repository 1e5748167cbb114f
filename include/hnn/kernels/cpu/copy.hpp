// Strided copies on the CPU: what permute, slicing, cat, stack and broadcast_to move, and the
// gradient of a slice put back in place. One loop over kernels/strided.hpp's StridedLoop.
#pragma once

#include <algorithm>
#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/elementwise.hpp"
#include "hnn/kernels/strided.hpp"

namespace hnn {

// dst[offset 0] = src[offset 1] for every element of a coalesced loop (operand 0 is dst,
// operand 1 is src; the pointers are at their first element; the two must not overlap).
template <class T>
void copy_strided(cpu, const StridedLoop<2>& loop, T* dst, const T* src) {
  if (loop.numel() == 0) return;
  const int r = loop.rank;
  const std::int64_t dst_step = r > 0 ? loop.stride[0][r - 1] : 1, src_step = r > 0 ? loop.stride[1][r - 1] : 1;
  detail::parallel_runs(loop, [&](const std::int64_t (&offsets)[2], std::int64_t count) {
    T* d = dst + offsets[0];
    const T* s = src + offsets[1];
    if (dst_step == 1 && src_step == 1) {
      std::copy(s, s + count, d);
    } else {
      for (std::int64_t i = 0; i < count; ++i) d[i * dst_step] = s[i * src_step];
    }
  });
}

}  // namespace hnn
