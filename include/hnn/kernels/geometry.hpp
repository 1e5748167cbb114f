// Sizes of the spatial ops, shared by the CPU and CUDA kernels of each op.
#pragma once

#include <cstdint>

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
  im2col,  // CPU
  direct,  // CPU: stride 1 only; CUDA: any geometry
  staged,  // CUDA: shared-memory kernels for every pass whose tiles fit, direct for the rest
};
inline const char* name(Conv2dAlgorithm a) {
  switch (a) {
    case Conv2dAlgorithm::im2col: return "im2col";
    case Conv2dAlgorithm::direct: return "direct";
    case Conv2dAlgorithm::staged: return "staged";
  }
  return "?";
}

// A 2-D pooling window over a batch in NCHW layout (no padding).
struct Pool2dGeometry {
  std::int64_t batch = 0, channels = 0, in_height = 0, in_width = 0;
  std::int64_t kernel = 2, stride = 2;

  std::int64_t out_height() const { return (in_height - kernel) / stride + 1; }
  std::int64_t out_width() const { return (in_width - kernel) / stride + 1; }
  std::int64_t planes() const { return batch * channels; }
};

}  // namespace hnn
