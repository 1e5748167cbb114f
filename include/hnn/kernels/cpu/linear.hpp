// Linear (fully connected) on the CPU: Y = X W^T + b, with W stored (out, in) as in PyTorch.
// Whole-batch products (kernels/cpu/gemm.hpp), the rows of each split between the threads;
// the forward of a small batch by dot products on W as stored (linear_dots).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/gemm.hpp"
#include "hnn/kernels/cpu/vectorize.hpp"
#include "hnn/parallel.hpp"

namespace hnn {

namespace detail {
// Multiply-adds below which a Linear layer runs on one thread (a parallel region is a wait for
// the slowest thread): at batch 256 LeNet-5's Linear(84, 10) (0.2M) stays on one, while
// Linear(120, 84) (2.6M) runs on two, which measured faster (tests/bench/NOTES.md).
constexpr std::int64_t linear_parallel_work = std::int64_t{1} << 20;

template <class T>
using LinearMatrix = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstLinearMatrix = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// Batches up to which linear_forward takes dot products of the rows of X with the rows of W
// as they are stored (linear_dots) instead of transposing W for the GEMM: the transpose touches
// every weight once per call whatever the batch, which at batch 1 costs more than the product
// (where the two cross for LeNet-5's layers: tests/bench/NOTES.md).
constexpr std::int64_t linear_dots_up_to = 16;

// Loads the first n (< packet) elements of `from` into a packet, the rest zero; it reads
// nothing past from + n (the rows of W end there). The masked load with an explicit zero
// source: GCC 12 reports the zero-masking form's undefined source operand under -Wall.
template <class T>
inline Packet<T> load_first(const T* from, std::int64_t n) {
  using namespace Eigen::internal;
#if defined(EIGEN_VECTORIZE_AVX512)
  if constexpr (std::is_same_v<T, float> && packet_size<T> == 16)  // Packet16f
    return _mm512_mask_loadu_ps(_mm512_setzero_ps(), static_cast<__mmask16>((1u << n) - 1), from);
  if constexpr (std::is_same_v<T, double> && packet_size<T> == 8)  // Packet8d
    return _mm512_mask_loadu_pd(_mm512_setzero_pd(), static_cast<__mmask8>((1u << n) - 1), from);
#endif
  T tmp[packet_size<T>] = {};
  for (std::int64_t i = 0; i < n; ++i) tmp[i] = from[i];
  return ploadu<Packet<T>>(tmp);
}

// Y[n][o] = b[o] + X[n] . W[o] for NB samples x NO outputs, over `depth` inputs: NB x NO
// accumulators, each packet of a row of X and of W loaded once for the block.
template <int NB, int NO, class T>
inline void linear_dots_block(std::int64_t depth, const T* x, const T* w, const T* bias, T* y,
                              std::int64_t out_features) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  constexpr std::int64_t S = packet_size<T>;
  P acc[NB][NO];
  for (int n = 0; n < NB; ++n)
    for (int o = 0; o < NO; ++o) acc[n][o] = pset1<P>(T(0));
  std::int64_t k = 0;
  for (; k + S <= depth; k += S) {
    P wv[NO];
    for (int o = 0; o < NO; ++o) wv[o] = ploadu<P>(w + o * depth + k);
    for (int n = 0; n < NB; ++n) {
      const P xv = ploadu<P>(x + n * depth + k);
      for (int o = 0; o < NO; ++o) acc[n][o] = pmadd(xv, wv[o], acc[n][o]);
    }
  }
  if (k < depth) {  // the last, partial packet
    P wv[NO];
    for (int o = 0; o < NO; ++o) wv[o] = load_first(w + o * depth + k, depth - k);
    for (int n = 0; n < NB; ++n) {
      const P xv = load_first(x + n * depth + k, depth - k);
      for (int o = 0; o < NO; ++o) acc[n][o] = pmadd(xv, wv[o], acc[n][o]);
    }
  }
  for (int n = 0; n < NB; ++n)
    for (int o = 0; o < NO; ++o) y[n * out_features + o] = sum_lanes(acc[n][o]) + (bias ? bias[o] : T(0));
}

// Outputs [o_begin, o_end) of Y = X W^T + b by dot products, W read as stored (out, in).
template <class T>
void linear_dots(std::int64_t batch, std::int64_t in_features, std::int64_t out_features, const T* input,
                 const T* weight, const T* bias, T* output, std::int64_t o_begin, std::int64_t o_end) {
  // Accumulators + the loaded packets of W and X fit the registers.
  constexpr int samples_block = registers >= 32 ? 4 : 2, outputs_block = 4;
  for (std::int64_t n0 = 0; n0 < batch; n0 += samples_block) {
    const int nb = static_cast<int>(std::min<std::int64_t>(samples_block, batch - n0));
    with_constant<samples_block>(nb, [&](auto nb_c) {
      constexpr int NB = decltype(nb_c)::value;
      const T* x = input + n0 * in_features;
      T* y = output + n0 * out_features;
      std::int64_t o = o_begin;
      for (; o + outputs_block <= o_end; o += outputs_block)
        linear_dots_block<NB, outputs_block>(in_features, x, weight + o * in_features, bias ? bias + o : nullptr,
                                             y + o, out_features);
      for (; o < o_end; ++o)
        linear_dots_block<NB, 1>(in_features, x, weight + o * in_features, bias ? bias + o : nullptr, y + o,
                                 out_features);
    });
  }
}
}  // namespace detail

template <class T>
void linear_forward(cpu, std::int64_t batch, std::int64_t in_features, std::int64_t out_features, const T* input,
                    const T* weight, const T* bias, T* output) {
  if (batch <= detail::linear_dots_up_to) {
    // A large layer's outputs are split between the threads, as the GEMM's rows would be.
    const bool parallel = batch * in_features * out_features >= detail::linear_parallel_work;
    if (!parallel)
      return detail::linear_dots(batch, in_features, out_features, input, weight, bias, output, 0, out_features);
    parallel_region([&] {
      const auto [o0, o1] = detail::thread_range(out_features, thread_index(), team_size());
      detail::linear_dots(batch, in_features, out_features, input, weight, bias, output, o0, o1);
    });
    return;
  }
  // Y = X * W^T: the product wants W^T row-major (in, out), padded to whole packets.
  const std::int64_t pitch = detail::round_up(out_features, detail::packet_size<T>);
  T* wt = detail::gemm::scratch<T>(in_features * pitch);
#if defined(_OPENMP)
#pragma omp parallel if (batch * in_features * out_features >= detail::linear_parallel_work)
#endif
  {
    const int t = thread_index(), threads = team_size();
    const auto [i0, i1] = detail::thread_range(in_features, t, threads, 1);
    for (std::int64_t i = i0; i < i1; ++i) {
      for (std::int64_t o = 0; o < out_features; ++o) wt[i * pitch + o] = weight[o * in_features + i];
      std::fill(wt + i * pitch + out_features, wt + (i + 1) * pitch, T(0));
    }
#if defined(_OPENMP)
#pragma omp barrier
#endif
    const auto [n0, n1] = detail::thread_range(batch, t, threads, detail::gemm::rows_block);
    detail::gemm::multiply(n0, n1, out_features, in_features, input, in_features, std::int64_t{1}, wt, pitch, output,
                           out_features, bias);
  }
}

// Writes the gradients; grad_input may be null when the input needs none, grad_bias (and
// linear_forward's bias) when the layer has no bias.
template <class T>
void linear_backward(cpu, std::int64_t batch, std::int64_t in_features, std::int64_t out_features, const T* input,
                     const T* weight, const T* grad_output, T* grad_input, T* grad_weight, T* grad_bias) {
  // dW = dY^T X and dX = dY W, both split by sample: each thread reads only the rows of X and
  // dY that the layers before it wrote on that thread (a core's own cache), and the threads'
  // partial dW are summed at the end. Both products read X or W as the row-major right
  // operand, so rows are padded to whole packets when in_features is not a multiple of one.
  const std::int64_t pitch = detail::round_up(in_features, detail::packet_size<T>);
  const bool pad = pitch != in_features;
  const bool parallel = batch * in_features * out_features >= detail::linear_parallel_work;
  const std::int64_t weights = out_features * in_features;
  const std::int64_t partials = parallel ? num_threads() - 1 : 0;  // dW of threads 1.. (thread 0 writes grad_weight)
  T* scratch = detail::gemm::scratch<T>((pad ? (batch + out_features) * pitch : 0) + partials * weights);
  T* packed = pad ? scratch : nullptr;
  T* partial_dw = scratch + (pad ? (batch + out_features) * pitch : 0);
  const T* x = pad ? packed : input;
  const T* w = pad ? packed + batch * pitch : weight;
#if defined(_OPENMP)
#pragma omp parallel if (parallel)
#endif
  {
    const int t = thread_index(), threads = team_size();
    if (pad) {
      const auto pack = [&](const T* src, std::int64_t rows, T* dst) {
        const auto [r0, r1] = detail::thread_range(rows, t, threads, 1);
        for (std::int64_t r = r0; r < r1; ++r) {
          std::copy_n(src + r * in_features, in_features, dst + r * pitch);
          std::fill(dst + r * pitch + in_features, dst + (r + 1) * pitch, T(0));
        }
      };
      pack(input, batch, packed);
      if (grad_input != nullptr) pack(weight, out_features, packed + batch * pitch);
#if defined(_OPENMP)
#pragma omp barrier
#endif
    }
    const auto [n0, n1] = detail::thread_range(batch, t, threads, detail::gemm::rows_block);
    T* my_dw = t == 0 ? grad_weight : partial_dw + (t - 1) * weights;
    if (n1 > n0) {
      detail::gemm::multiply(std::int64_t{0}, out_features, in_features, n1 - n0, grad_output + n0 * out_features,
                             std::int64_t{1}, out_features, x + n0 * pitch, pitch, my_dw, in_features);
    } else {
      std::fill(my_dw, my_dw + weights, T(0));
    }
    if (grad_input != nullptr) {
      detail::gemm::multiply(n0, n1, in_features, out_features, grad_output, out_features, std::int64_t{1}, w, pitch,
                             grad_input, in_features);
    }
    const auto [o0, o1] = detail::thread_range(out_features, t, threads, 1);
    for (std::int64_t o = o0; o < o1 && grad_bias != nullptr; ++o) {
      T sum = 0;
      for (std::int64_t n = 0; n < batch; ++n) sum += grad_output[n * out_features + o];
      grad_bias[o] = sum;
    }
    if (threads > 1) {
#if defined(_OPENMP)
#pragma omp barrier
#endif
      const auto [e0, e1] = detail::thread_range(weights, t, threads);
      for (int u = 1; u < threads; ++u) {
        const T* other = partial_dw + (u - 1) * weights;
        for (std::int64_t e = e0; e < e1; ++e) grad_weight[e] += other[e];
      }
    }
  }
}

}  // namespace hnn
