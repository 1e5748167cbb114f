// Per-sample transforms, applied by a DataLoader (hnn/data/loader.hpp) as it fills a batch, as
// torchvision.transforms are: Normalize, RandomHorizontalFlip, RandomCrop, a user's own function
// (Lambda), and Compose, a chain of them.
//
//   data::Compose<float> augment(data::RandomCrop(32, 4), data::RandomHorizontalFlip(0.5),
//                                data::Normalize({0.49, 0.48, 0.45}, {0.25, 0.24, 0.26}));
//
// A sample is channels first, (C, H, W) for an image: Normalize takes dimension 0 as the
// channels, the flip and the crop act on the last one or two dimensions.
//
// Randomness: a transform draws only from the generator it is handed. The loader hands each
// sample a generator made from (seed, epoch, position of the sample in the epoch) by
// sample_rng(), never one generator shared by the samples, so the same seed gives the same
// augmented batches whichever thread fills them and however the threads are timed.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "hnn/init.hpp"
#include "hnn/tensor.hpp"

namespace hnn::data {

// The generator for the sample at `position` (0-based, in the epoch's shuffled order) of epoch
// `epoch` (0-based) of a loader seeded with `seed`. Each input goes through SplitMix64's
// finaliser in turn, so neighbouring positions or epochs give unrelated streams.
inline Rng sample_rng(std::uint64_t seed, std::uint64_t epoch, std::uint64_t position) {
  const auto mix = [](std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  };
  // The constant keeps the augmentation stream apart from the shuffle's Rng(seed).
  std::uint64_t h = mix(seed ^ 0x6A09E667F3BCC909ULL);
  h = mix(h + 0x9E3779B97F4A7C15ULL + epoch);
  h = mix(h + 0x9E3779B97F4A7C15ULL + position);
  return Rng(h);
}

// What every transform is. apply() is const and is called from the loader's background thread,
// one sample at a time.
template <class T = float>
class Transform {
  static_assert(std::is_floating_point_v<T>, "hnn::data transforms work on float or double samples");

 public:
  using value_type = T;
  virtual ~Transform() = default;

  // The shape of a sample after this transform, given its shape before; throws
  // std::invalid_argument when the transform cannot take a sample of that shape. A loader asks
  // once, when it is built, so a mismatch fails there rather than in the middle of an epoch.
  virtual Shape output_shape(const Shape& input) const = 0;
  // Writes the transformed sample to `out` (room for output_shape(in_shape).numel() values)
  // from `in` (a sample of shape in_shape, which output_shape accepted); the two never overlap.
  virtual void apply(const T* in, const Shape& in_shape, T* out, Rng& rng) const = 0;
  // What it is, for messages: "RandomCrop(28x28, padding 2)".
  virtual std::string name() const = 0;
};

namespace detail {
inline std::string list_to_string(const std::vector<double>& values) {
  std::ostringstream s;
  s << "[";
  for (std::size_t i = 0; i < values.size(); ++i) s << (i ? ", " : "") << values[i];
  s << "]";
  return s.str();
}
}  // namespace detail

// (x - mean[c]) / std[c] for each channel c (dimension 0 of the sample), as
// torchvision.transforms.Normalize.
template <class T = float>
class Normalize final : public Transform<T> {
 public:
  Normalize(std::vector<double> mean, std::vector<double> stddev) : mean_(std::move(mean)), std_(std::move(stddev)) {
    if (mean_.empty() || mean_.size() != std_.size())
      throw std::invalid_argument("hnn::data::Normalize: " + std::to_string(mean_.size()) + " means and " +
                                  std::to_string(std_.size()) + " standard deviations; give one of each per channel");
    for (std::size_t c = 0; c < std_.size(); ++c) {
      if (!(std_[c] > 0) || !std::isfinite(std_[c]))
        throw std::invalid_argument("hnn::data::Normalize: standard deviation " + std::to_string(std_[c]) +
                                    " of channel " + std::to_string(c) + " must be positive and finite");
      if (!std::isfinite(mean_[c]))
        throw std::invalid_argument("hnn::data::Normalize: mean " + std::to_string(mean_[c]) + " of channel " +
                                    std::to_string(c) + " is not finite");
    }
  }

  Shape output_shape(const Shape& input) const override {
    if (input.rank() < 1 || input[0] != static_cast<std::int64_t>(mean_.size()))
      throw std::invalid_argument("hnn::data::" + name() + ": " + std::to_string(mean_.size()) +
                                  " channels given, but the samples are " + input.str() +
                                  (input.rank() < 1 ? ", without a channel dimension"
                                                    : " with " + std::to_string(input[0]) + " channels (dimension 0)"));
    return input;
  }

  void apply(const T* in, const Shape& in_shape, T* out, Rng&) const override {
    const std::int64_t plane = in_shape.sample_size();
    for (std::size_t c = 0; c < mean_.size(); ++c) {
      const T mean = static_cast<T>(mean_[c]), stddev = static_cast<T>(std_[c]);
      const std::int64_t offset = static_cast<std::int64_t>(c) * plane;
      for (std::int64_t i = 0; i < plane; ++i) out[offset + i] = (in[offset + i] - mean) / stddev;
    }
  }

  std::string name() const override {
    return "Normalize(mean " + detail::list_to_string(mean_) + ", std " + detail::list_to_string(std_) + ")";
  }

 private:
  std::vector<double> mean_, std_;
};

// Mirrors the sample left to right (reverses its last dimension) with probability p, as
// torchvision.transforms.RandomHorizontalFlip. Draws one number per sample.
template <class T = float>
class RandomHorizontalFlip final : public Transform<T> {
 public:
  explicit RandomHorizontalFlip(double p = 0.5) : p_(p) {
    if (!(p >= 0 && p <= 1))
      throw std::invalid_argument("hnn::data::RandomHorizontalFlip: probability " + std::to_string(p) +
                                  " is outside [0, 1]");
  }

  Shape output_shape(const Shape& input) const override {
    if (input.rank() < 1)
      throw std::invalid_argument("hnn::data::" + name() + ": a sample of shape " + input.str() +
                                  " has no dimension to flip");
    return input;
  }

  void apply(const T* in, const Shape& in_shape, T* out, Rng& rng) const override {
    const bool flip = rng.uniform() < p_;
    const std::int64_t n = in_shape.numel();
    if (!flip) {
      std::memcpy(out, in, static_cast<std::size_t>(n) * sizeof(T));
      return;
    }
    const std::int64_t width = in_shape[in_shape.rank() - 1];
    for (std::int64_t row = 0; row < n; row += width) std::reverse_copy(in + row, in + row + width, out + row);
  }

  std::string name() const override {
    std::ostringstream s;
    s << "RandomHorizontalFlip(p " << p_ << ")";
    return s.str();
  }

 private:
  double p_;
};

// A window of height x width at a random place in the sample padded with `padding` zeros on
// every side, as torchvision.transforms.RandomCrop(size, padding) (its default constant fill
// of 0). The last two dimensions are the image's height and width; those before (the channels)
// are kept. Draws two numbers per sample: the top row, then the left column.
template <class T = float>
class RandomCrop final : public Transform<T> {
 public:
  explicit RandomCrop(std::int64_t size, std::int64_t padding = 0) : RandomCrop({size, size}, padding) {}
  RandomCrop(std::array<std::int64_t, 2> height_width, std::int64_t padding)
      : height_(height_width[0]), width_(height_width[1]), padding_(padding) {
    if (height_ < 1 || width_ < 1)
      throw std::invalid_argument("hnn::data::RandomCrop: the crop size " + std::to_string(height_) + "x" +
                                  std::to_string(width_) + " must be at least 1x1");
    if (padding_ < 0)
      throw std::invalid_argument("hnn::data::RandomCrop: padding " + std::to_string(padding_) + " is negative");
  }

  Shape output_shape(const Shape& input) const override {
    if (input.rank() < 2)
      throw std::invalid_argument("hnn::data::" + name() + ": a sample of shape " + input.str() +
                                  " has no height and width (its last two dimensions)");
    const std::int64_t h = input[input.rank() - 2], w = input[input.rank() - 1];
    if (height_ > h + 2 * padding_ || width_ > w + 2 * padding_)
      throw std::invalid_argument("hnn::data::" + name() + ": the crop is larger than the padded image, " +
                                  std::to_string(h + 2 * padding_) + "x" + std::to_string(w + 2 * padding_) + " (" +
                                  std::to_string(h) + "x" + std::to_string(w) + " with padding " +
                                  std::to_string(padding_) + " on each side)");
    Shape out = input;
    out[input.rank() - 2] = height_;
    out[input.rank() - 1] = width_;
    return out;
  }

  void apply(const T* in, const Shape& in_shape, T* out, Rng& rng) const override {
    const int rank = in_shape.rank();
    const std::int64_t h = in_shape[rank - 2], w = in_shape[rank - 1];
    const std::int64_t planes = in_shape.numel() / std::max<std::int64_t>(h * w, 1);
    // The window's top-left corner in padded coordinates, then in the image's own.
    const std::int64_t top =
        static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(h + 2 * padding_ - height_ + 1)));
    const std::int64_t left =
        static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(w + 2 * padding_ - width_ + 1)));
    const std::int64_t y0 = top - padding_, x0 = left - padding_;
    // Columns [x_begin, x_end) of each output row come from the image; the rest are padding.
    const std::int64_t x_begin = std::clamp<std::int64_t>(-x0, 0, width_);
    const std::int64_t x_end = std::clamp<std::int64_t>(w - x0, x_begin, width_);
    for (std::int64_t p = 0; p < planes; ++p) {
      const T* src = in + p * h * w;
      T* dst = out + p * height_ * width_;
      for (std::int64_t y = 0; y < height_; ++y, dst += width_) {
        const std::int64_t sy = y0 + y;
        if (sy < 0 || sy >= h) {
          std::fill(dst, dst + width_, T(0));
          continue;
        }
        std::fill(dst, dst + x_begin, T(0));
        std::memcpy(dst + x_begin, src + sy * w + x0 + x_begin, static_cast<std::size_t>(x_end - x_begin) * sizeof(T));
        std::fill(dst + x_end, dst + width_, T(0));
      }
    }
  }

  std::string name() const override {
    return "RandomCrop(" + std::to_string(height_) + "x" + std::to_string(width_) + ", padding " +
           std::to_string(padding_) + ")";
  }

 private:
  std::int64_t height_, width_, padding_;
};

// A user's own transform as a function that changes a sample in place (its shape stays):
//   data::Lambda<float>([](float* x, const Shape& shape, Rng& rng) { ... }, "AddNoise")
// It runs on the loader's background thread; draw any randomness from `rng` only, so that
// results stay reproducible. (A transform that changes the shape derives from Transform.)
template <class T = float>
class Lambda final : public Transform<T> {
 public:
  using Function = std::function<void(T* sample, const Shape& shape, Rng& rng)>;
  explicit Lambda(Function function, std::string name = "Lambda")
      : function_(std::move(function)), name_(std::move(name)) {
    if (!function_) throw std::invalid_argument("hnn::data::Lambda: empty function");
  }

  Shape output_shape(const Shape& input) const override { return input; }
  void apply(const T* in, const Shape& in_shape, T* out, Rng& rng) const override {
    std::memcpy(out, in, static_cast<std::size_t>(in_shape.numel()) * sizeof(T));
    function_(out, in_shape, rng);
  }
  std::string name() const override { return name_; }

 private:
  Function function_;
  std::string name_;
};

// Transforms applied one after another, first to last. Built from transform objects (any class
// deriving from Transform<T>) and plain functions (wrapped in Lambda), in any mix.
template <class T = float>
class Compose {
 public:
  using value_type = T;

  Compose() = default;
  // (Not a copy: one Compose argument goes to the copy constructor.)
  template <class... Parts,
            class = std::enable_if_t<!(sizeof...(Parts) == 1 && (std::is_same_v<std::decay_t<Parts>, Compose> && ...))>>
  explicit Compose(Parts&&... parts) {
    (add(std::forward<Parts>(parts)), ...);
  }

  // Appends a transform or a function; returns *this.
  template <class Part>
  Compose& add(Part&& part) {
    using P = std::decay_t<Part>;
    if constexpr (std::is_base_of_v<Transform<T>, P>)
      transforms_.push_back(std::make_shared<P>(std::forward<Part>(part)));
    else if constexpr (std::is_convertible_v<P, std::shared_ptr<const Transform<T>>>)
      transforms_.push_back(std::forward<Part>(part));
    else if constexpr (std::is_invocable_v<P&, T*, const Shape&, Rng&>)
      transforms_.push_back(std::make_shared<Lambda<T>>(typename Lambda<T>::Function(std::forward<Part>(part))));
    else
      static_assert(sizeof(P) == 0,
                    "hnn::data::Compose takes Transform<T> objects and functions void(T*, const Shape&, Rng&)");
    return *this;
  }

  std::size_t size() const { return transforms_.size(); }
  bool empty() const { return transforms_.empty(); }
  const Transform<T>& operator[](std::size_t i) const { return *transforms_[i]; }

  // The shape after every transform, given a sample's shape; a transform that cannot take the
  // shape it receives throws, named with its place in the chain.
  Shape output_shape(const Shape& input) const { return shapes(input).back(); }

  // The shape before each transform, then the final one (size() + 1 shapes).
  std::vector<Shape> shapes(const Shape& input) const {
    std::vector<Shape> out{input};
    for (std::size_t i = 0; i < transforms_.size(); ++i) {
      try {
        out.push_back(transforms_[i]->output_shape(out.back()));
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("hnn::data::Compose: transform " + std::to_string(i) + " of " +
                                    std::to_string(transforms_.size()) + ": " + e.what());
      }
    }
    return out;
  }

  // The transformed copy of one sample (allocates: for trying transforms out; a loader applies
  // them into buffers of its own).
  Tensor<T, cpu> operator()(const Tensor<T, cpu>& sample, Rng& rng) const {
    const std::vector<Shape> shape = shapes(sample.shape());
    Tensor<T, cpu> current = sample.clone();
    for (std::size_t i = 0; i < transforms_.size(); ++i) {
      Tensor<T, cpu> next(shape[i + 1]);
      transforms_[i]->apply(current.data(), shape[i], next.data(), rng);
      current = next;
    }
    return current;
  }

 private:
  std::vector<std::shared_ptr<const Transform<T>>> transforms_;
};

// Compose(RandomCrop(28, 2), ...) takes its element type from the first transform.
template <class First, class... Rest>
Compose(First, Rest...) -> Compose<typename std::decay_t<First>::value_type>;

}  // namespace hnn::data
