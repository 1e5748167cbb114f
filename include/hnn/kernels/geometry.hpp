// Sizes of the spatial ops, shared by the CPU and CUDA kernels of each op.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace hnn {

// A 2-D convolution over a batch in NCHW layout, weights in (out, in, k, k) layout.
struct Conv2dGeometry {
  std::int64_t batch = 0, in_channels = 0, in_height = 0, in_width = 0;
  std::int64_t out_channels = 0, kernel = 0, stride = 1, padding = 0;

  std::int64_t out_height() const { return (in_height + 2 * padding - kernel) / stride + 1; }
  std::int64_t out_width() const { return (in_width + 2 * padding - kernel) / stride + 1; }
  // The unrolled ("im2col") patch matrix of one sample is patch_size() x out_pixels().
  std::int64_t patch_size() const { return in_channels * kernel * kernel; }
  std::int64_t out_pixels() const { return out_height() * out_width(); }
  std::int64_t in_pixels() const { return in_height * in_width; }
  std::int64_t weight_count() const { return out_channels * patch_size(); }
};

// The algorithms of Conv2d; kernels/conv2d.hpp says which runs where.
enum class Conv2dAlgorithm {
  im2col,         // CPU: im2col + GEMM, any geometry
  direct,         // CPU: output positions in the SIMD lanes (kernels up to 16x16, padding below the
                  // kernel size); CUDA: one thread per output, any geometry
  channel_major,  // CPU: channels in the SIMD lanes (the same geometries, channels in pairs of packets)
  staged,         // CUDA: shared-memory kernels for every pass whose tiles fit, direct for the rest
  winograd,       // CPU: Winograd F(4x4, 3x3), tiles in the SIMD lanes (3x3, stride 1, padding 0 or 1;
                  // the forward and the input gradient of padding 1, not the weight gradient)
};
inline const char* name(Conv2dAlgorithm a) {
  switch (a) {
    case Conv2dAlgorithm::im2col: return "im2col";
    case Conv2dAlgorithm::direct: return "direct";
    case Conv2dAlgorithm::channel_major: return "channel_major";
    case Conv2dAlgorithm::staged: return "staged";
    case Conv2dAlgorithm::winograd: return "winograd";
  }
  return "?";
}

// The algorithms of a Conv2d's backward pass: the weight (and bias) gradient and the input
// gradient share no state, so each may run its own.
struct Conv2dBackwardAlgorithms {
  Conv2dAlgorithm weight_gradient, input_gradient;
  bool operator==(const Conv2dBackwardAlgorithms& o) const {
    return weight_gradient == o.weight_gradient && input_gradient == o.input_gradient;
  }
  bool operator!=(const Conv2dBackwardAlgorithms& o) const { return !(*this == o); }
};

// A 2-D pooling window over a batch in NCHW layout. Padding (PyTorch's: implicit, on every
// side) is -infinity for max pooling and zeros counted in the divisor for average pooling
// (count_include_pad=True); validate_pool2d says which values PyTorch accepts.
struct Pool2dGeometry {
  std::int64_t batch = 0, channels = 0, in_height = 0, in_width = 0;
  std::int64_t kernel = 2, stride = 2, padding = 0;

  std::int64_t out_height() const { return (in_height + 2 * padding - kernel) / stride + 1; }
  std::int64_t out_width() const { return (in_width + 2 * padding - kernel) / stride + 1; }
  std::int64_t planes() const { return batch * channels; }
};

// Throws std::invalid_argument, naming `who` (a layer's description), unless the window is one
// PyTorch accepts: kernel and stride at least 1, 0 <= padding <= kernel / 2 (so every window
// holds at least one real pixel), and a padded input at least one window large.
inline void validate_pool2d(const Pool2dGeometry& g, const std::string& who = "pool2d") {
  const std::string sizes = " (kernel " + std::to_string(g.kernel) + ", stride " + std::to_string(g.stride) +
                            ", padding " + std::to_string(g.padding) + ")";
  if (g.kernel < 1 || g.stride < 1)
    throw std::invalid_argument(who + ": kernel and stride must be at least 1" + sizes);
  if (g.padding < 0 || 2 * g.padding > g.kernel)
    throw std::invalid_argument(who + ": padding must be between 0 and half the kernel size" + sizes);
  if (g.in_height + 2 * g.padding < g.kernel || g.in_width + 2 * g.padding < g.kernel)
    throw std::invalid_argument(who + ": the " + std::to_string(g.in_height) + "x" + std::to_string(g.in_width) +
                                " input (padded) is smaller than the window" + sizes);
}

}  // namespace hnn
