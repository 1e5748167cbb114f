// Parameter initialisation from a seeded generator, computed on the host so that the
// same seed gives bit-identical starting weights on every device.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "hnn/tensor.hpp"

namespace hnn {

// A small, fast, fully specified generator (SplitMix64). Unlike std::uniform_real_distribution
// its output does not depend on the standard library, so seeds reproduce everywhere.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Uniform integer in [0, n), without modulo bias worth caring about for n << 2^64.
  std::uint64_t below(std::uint64_t n) { return static_cast<std::uint64_t>(uniform() * static_cast<double>(n)); }

  // The whole generator state, so a checkpoint can continue the same sequence.
  std::uint64_t state() const { return state_; }
  void set_state(std::uint64_t state) { state_ = state; }

 private:
  std::uint64_t state_;
};

// PyTorch's fan computation: dims 0 and 1 are (out, in); the rest is the receptive field.
struct Fans {
  double in, out;
};
inline Fans fans_of(const Shape& weight) {
  if (weight.rank() < 2) throw std::invalid_argument("hnn::fans_of: a weight needs at least 2 dimensions, got " + weight.str());
  double receptive = 1;
  for (int i = 2; i < weight.rank(); ++i) receptive *= static_cast<double>(weight[i]);
  return {static_cast<double>(weight[1]) * receptive, static_cast<double>(weight[0]) * receptive};
}

template <class T>
void fill_uniform(Tensor<T, cpu>& t, double bound, Rng& rng) {
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(rng.uniform(-bound, bound));
}

// Xavier (Glorot) uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).
template <class T>
void xavier_uniform(Tensor<T, cpu>& weight, Rng& rng) {
  const Fans f = fans_of(weight.shape());
  fill_uniform(weight, std::sqrt(6.0 / (f.in + f.out)), rng);
}

// PyTorch's default bias initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
template <class T>
void default_bias_uniform(Tensor<T, cpu>& bias, const Shape& weight_shape, Rng& rng) {
  fill_uniform(bias, 1.0 / std::sqrt(fans_of(weight_shape).in), rng);
}

}  // namespace hnn
