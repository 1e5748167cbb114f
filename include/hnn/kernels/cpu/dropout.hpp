// Inverted dropout (torch.nn.Dropout) on the CPU: in training, each element is kept with
// probability 1 - p and scaled by 1 / (1 - p), else zeroed; p = 0 is the identity and p = 1
// gives zeros. No mask is stored: element i of a step is kept when dropout_keep(seed, step, i)
// says so, a pure function that the CUDA twin (kernels/cuda/dropout.cuh) calls too, so both
// devices drop the same elements, and backward recomputes the forward's mask.
//
// Seeding, for the layer: `seed` is fixed per layer (e.g. drawn once from the model's init
// Rng, so a model seed reproduces every mask); `step` points to a step counter in the
// device's memory (a one-element int64 tensor, read by the kernels, so a recorded CUDA graph
// sees each new value; kernels/cpu/batch.hpp's advance_batch_number advances one). Advance it
// once per training step, before forward or after backward, never between the two; a
// checkpoint that saves it resumes the same masks.
//
// The draws: SplitMix64 (hnn::Rng) is counter-based, its i-th output from state s being
// mix(s + (i + 1) * golden). Element i's draw is the i-th output of Rng(dropout_stream(seed,
// step)), so Rng can replay a mask on the host (the tests do). An element is kept when its
// uniform draw u = (bits >> 11) * 2^-53 is >= p, i.e. (bits >> 11) >= dropout_threshold(p).
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "hnn/device.hpp"

#ifndef HNN_HOST_DEVICE
#if defined(__CUDACC__)
#define HNN_HOST_DEVICE __host__ __device__
#else
#define HNN_HOST_DEVICE
#endif
#endif

namespace hnn {

// SplitMix64's output function (hnn::Rng::next without the state update).
HNN_HOST_DEVICE inline std::uint64_t splitmix64_mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The Rng state whose outputs are the draws of (seed, step): distinct pairs give unrelated
// streams (two mixes, so neighbouring seeds or steps do not give shifted copies).
HNN_HOST_DEVICE inline std::uint64_t dropout_stream(std::uint64_t seed, std::int64_t step) {
  return splitmix64_mix(splitmix64_mix(seed) + static_cast<std::uint64_t>(step));
}

// Keep an element when its 53 random bits are >= this: ceil(p * 2^53), exact for any double p.
inline std::uint64_t dropout_threshold(double p) {
  if (!(p >= 0 && p <= 1))
    throw std::invalid_argument("hnn dropout: the probability p must be in [0, 1], got " + std::to_string(p));
  return static_cast<std::uint64_t>(std::ceil(std::ldexp(p, 53)));
}

// Whether element i is kept at (seed, step): the i-th draw of Rng(dropout_stream(seed, step)).
HNN_HOST_DEVICE inline bool dropout_keep(std::uint64_t stream, std::uint64_t threshold, std::int64_t i) {
  const std::uint64_t bits = splitmix64_mix(stream + (static_cast<std::uint64_t>(i) + 1) * 0x9E3779B97F4A7C15ULL);
  return (bits >> 11) >= threshold;
}

// 1 / (1 - p), and 0 for p = 1 (every element dropped; no infinity times zero).
template <class T>
T dropout_scale(double p) {
  return p >= 1 ? T(0) : static_cast<T>(1.0 / (1.0 - p));
}

template <class T>
void dropout_forward(cpu, std::int64_t n, const T* input, T* output, double p, std::uint64_t seed,
                     const std::int64_t* step) {
  const std::uint64_t stream = dropout_stream(seed, *step), threshold = dropout_threshold(p);
  const T scale = dropout_scale<T>(p);
#if defined(_OPENMP)
#pragma omp parallel for simd schedule(static) if (n > 65536)
#endif
  for (std::int64_t i = 0; i < n; ++i) output[i] = dropout_keep(stream, threshold, i) ? input[i] * scale : T(0);
}

// The same mask and scale as the forward pass of the same (seed, *step).
template <class T>
void dropout_backward(cpu, std::int64_t n, const T* grad_output, T* grad_input, double p, std::uint64_t seed,
                      const std::int64_t* step) {
  dropout_forward(cpu{}, n, grad_output, grad_input, p, seed, step);
}

}  // namespace hnn
