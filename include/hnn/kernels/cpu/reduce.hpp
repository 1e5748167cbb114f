// Reductions on the CPU: sum, max and min over any set of dimensions (kernels/strided.hpp's
// reduce_loop), and the index of the largest or smallest element along one dimension.
// Each innermost run is one Eigen expression: a run along a reduced dimension is summed (or
// maxed) into one output, a run along a kept dimension is added into a row of outputs.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/elementwise.hpp"
#include "hnn/kernels/strided.hpp"
#include "hnn/parallel.hpp"

namespace hnn {
namespace detail {

template <class T>
T reduce_identity(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return T(0);
    case ReduceOp::max: return -std::numeric_limits<T>::infinity();
    case ReduceOp::min: return std::numeric_limits<T>::infinity();
  }
  return T(0);
}

// The larger (or smaller) of a partial result and a new value; a NaN in either wins.
template <class T>
T extreme(bool largest, T partial, T value) {
  if (std::isnan(partial)) return partial;
  if (std::isnan(value)) return value;
  return (largest ? value > partial : value < partial) ? value : partial;
}

// Reduces the elements [begin, end) of the loop into out (already holding the identity or a
// partial result). NaN wins max and min, as in PyTorch.
template <class T>
void reduce_range(ReduceOp op, const StridedLoop<2>& loop, std::int64_t begin, std::int64_t end, const T* in, T* out) {
  const int r = loop.rank;
  const bool inner_reduced = r > 0 && loop.stride[0][r - 1] == 0;
  for_each_run(loop, begin, end, [&](const std::int64_t (&offsets)[2], std::int64_t count) {
    T* o = out + offsets[0];
    const ConstArrayMap<T> x(in + offsets[1], count);
    if (inner_reduced || r == 0) {
      switch (op) {
        case ReduceOp::sum: *o += x.sum(); return;
        case ReduceOp::max: *o = extreme(true, *o, x.template maxCoeff<Eigen::PropagateNaN>()); return;
        case ReduceOp::min: *o = extreme(false, *o, x.template minCoeff<Eigen::PropagateNaN>()); return;
      }
    } else {
      ArrayMap<T> row(o, count);
      switch (op) {
        case ReduceOp::sum: row += x; return;
        case ReduceOp::max: row = row.binaryExpr(x, Eigen::internal::scalar_max_op<T, T, Eigen::PropagateNaN>()); return;
        case ReduceOp::min: row = row.binaryExpr(x, Eigen::internal::scalar_min_op<T, T, Eigen::PropagateNaN>()); return;
      }
    }
  });
}

}  // namespace detail

// out[kept index] = op over the reduced dimensions of `in`, for a coalesced reduce_loop() of
// in's shape; out holds out_count elements (the product of the kept sizes). Large reductions
// are split between the threads: by the outermost dimension when it is kept (each thread its
// own outputs), else into per-thread partial results added in thread order (so a thread count
// always gives the same answer).
template <class T>
void reduce(cpu, ReduceOp op, const StridedLoop<2>& loop, std::int64_t out_count, const T* in, T* out) {
  const T identity = detail::reduce_identity<T>(op);
  std::fill(out, out + out_count, identity);
  const std::int64_t n = loop.numel();
  if (n == 0) return;
  const int threads = num_threads();
  if (n < detail::parallel_elements || threads < 2 || loop.rank == 0 || loop.size[0] < 2) {
    detail::reduce_range(op, loop, 0, n, in, out);
    return;
  }
  const std::int64_t block = n / loop.size[0];  // elements per index of the outermost dimension
  const bool outer_kept = loop.stride[0][0] != 0;
  if (!outer_kept && out_count > (std::int64_t{1} << 16)) {  // partials would cost more than they save
    detail::reduce_range(op, loop, 0, n, in, out);
    return;
  }
  std::vector<T> partials(outer_kept ? 0 : static_cast<std::size_t>(out_count) * static_cast<std::size_t>(threads),
                          identity);
#if defined(_OPENMP)
#pragma omp parallel num_threads(threads)
#endif
  {
    const int t = thread_index(), team = team_size();
    const auto [first, last] = detail::thread_range(loop.size[0], t, team, 1);
    T* target = outer_kept ? out : partials.data() + static_cast<std::int64_t>(t) * out_count;
    detail::reduce_range(op, loop, first * block, last * block, in, target);
  }
  if (outer_kept) return;
  for (int t = 0; t < threads; ++t) {
    const T* partial = partials.data() + static_cast<std::int64_t>(t) * out_count;
    detail::ArrayMap<T> o(out, out_count);
    const detail::ConstArrayMap<T> p(partial, out_count);
    switch (op) {
      case ReduceOp::sum: o += p; break;
      case ReduceOp::max: o = o.binaryExpr(p, Eigen::internal::scalar_max_op<T, T, Eigen::PropagateNaN>()); break;
      case ReduceOp::min: o = o.binaryExpr(p, Eigen::internal::scalar_min_op<T, T, Eigen::PropagateNaN>()); break;
    }
  }
}

// out[o * inner + i] = the j in [0, size) of the largest (largest = true) or smallest
// in[(o * size + j) * inner + i]; the first such j on ties; a NaN counts as the extreme, as in
// PyTorch.
template <class T>
void arg_reduce(cpu, bool largest, std::int64_t outer, std::int64_t size, std::int64_t inner, const T* in,
                std::int64_t* out) {
  std::vector<T> best(static_cast<std::size_t>(inner));
  for (std::int64_t o = 0; o < outer; ++o) {
    const T* block = in + o * size * inner;
    std::int64_t* index = out + o * inner;
    for (std::int64_t i = 0; i < inner; ++i) {
      best[static_cast<std::size_t>(i)] = block[i];
      index[i] = 0;
    }
    for (std::int64_t j = 1; j < size; ++j)
      for (std::int64_t i = 0; i < inner; ++i) {
        const T v = block[j * inner + i];
        T& b = best[static_cast<std::size_t>(i)];
        if (std::isnan(b)) continue;
        if (std::isnan(v) || (largest ? v > b : v < b)) {
          b = v;
          index[i] = j;
        }
      }
  }
}

}  // namespace hnn
