// Conv2d, the op's one face: which algorithm runs for a geometry, on either device, and the
// forward/backward entry points that run it. The algorithms are the files beneath:
//
//   cpu/conv2d/direct.hpp   convolutions vectorised along a sample's rows, strided ones split
//                           into phases (the default for kernels from 2x2 up to 16x16, and
//                           1x1 at stride 1)
//   cpu/conv2d/im2col.hpp   im2col + one Eigen GEMM per sample (any stride, padding, kernel)
//   cuda/conv2d.cuh         "staged": a sample's planes and the weights in shared memory, per
//                           pass where they fit in 48 KB; "direct": one thread per output,
//                           for any size (compiled only by nvcc)
//
// The fused Conv2d + activation + pooling op is its own face: kernels/conv2d_act_pool.hpp.
// Callers pass the algorithm (tests select each one explicitly); choose() is the default.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/conv2d/direct.hpp"
#include "hnn/kernels/cpu/conv2d/im2col.hpp"
#include "hnn/kernels/geometry.hpp"
#include "hnn/parallel.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/conv2d.cuh"
#endif

namespace hnn {

// Whether `algorithm` can run this geometry on the device.
inline bool supports(cpu, Conv2dAlgorithm algorithm, const Conv2dGeometry& g) {
  switch (algorithm) {
    case Conv2dAlgorithm::im2col: return true;
    case Conv2dAlgorithm::direct: return detail::direct::applicable(g);
    case Conv2dAlgorithm::staged: return false;
  }
  return false;
}
inline bool supports(cuda, Conv2dAlgorithm algorithm, const Conv2dGeometry&) {
  return algorithm != Conv2dAlgorithm::im2col;
}

// The one place that says which algorithm runs by default. A strided 1x1 convolution is a
// plain product of the weights with every s-th pixel, which im2col's GEMM does faster (16 -> 32
// at 28x28, stride 2, batch 256, 2 threads: 1.3 ms against 1.6 forward).
inline Conv2dAlgorithm choose(cpu, const Conv2dGeometry& g) {
  const bool direct = detail::direct::applicable(g) && (g.stride == 1 || g.kernel > 1);
  return direct ? Conv2dAlgorithm::direct : Conv2dAlgorithm::im2col;
}
inline Conv2dAlgorithm choose(cuda, const Conv2dGeometry&) { return Conv2dAlgorithm::staged; }

// The backward pass may run another algorithm than the forward (the two share no state). The
// direct weight gradient holds a group of samples per pass over its accumulators (so 64 -> 64
// at 7x7, batch 256, 2 threads, takes 13.2 ms against im2col's 15.9), but a strided conv onto
// a small plane wastes lanes on the grid's padding columns: 32 -> 64, 14x14 -> 7x7 stride 2
// took 9.2 ms against 8.1, and runs im2col unless its channels suit the channel-major kernels
// (4.5 ms).
inline Conv2dAlgorithm choose_backward(cpu, const Conv2dGeometry& g) {
  const bool channel_major = detail::channel_major::suits<float>(g) && detail::channel_major::suits_input_gradient<float>(g);
  const bool small_strided = g.stride > 1 && g.out_pixels() < 64 && !channel_major;
  return small_strided ? Conv2dAlgorithm::im2col : choose(cpu{}, g);
}
inline Conv2dAlgorithm choose_backward(cuda, const Conv2dGeometry& g) { return choose(cuda{}, g); }

namespace detail {
template <class Device>
void require_supported(Device, Conv2dAlgorithm algorithm, const Conv2dGeometry& g) {
  if (!supports(Device{}, algorithm, g))
    throw std::invalid_argument(std::string("hnn: the ") + name(algorithm) + " Conv2d algorithm does not run on " +
                                Device::name + " for this geometry (stride " + std::to_string(g.stride) + ", kernel " +
                                std::to_string(g.kernel) + ", padding " + std::to_string(g.padding) + ")");
}
}  // namespace detail

// Elements of workspace the CPU kernels need for this geometry, algorithm and thread count.
inline std::int64_t conv2d_workspace_size(cpu, const Conv2dGeometry& g, Conv2dAlgorithm algorithm,
                                          int threads = num_threads()) {
  if (algorithm == Conv2dAlgorithm::direct)
    return std::max(detail::direct::Plan<float>(g).per_thread, detail::direct::Plan<double>(g).per_thread) * threads;
  return detail::im2col::workspace_per_thread(g) * threads;
}
// The same for the default algorithms, forward and backward: enough for both passes.
inline std::int64_t conv2d_workspace_size(cpu, const Conv2dGeometry& g) {
  return std::max(conv2d_workspace_size(cpu{}, g, choose(cpu{}, g)),
                  conv2d_workspace_size(cpu{}, g, choose_backward(cpu{}, g)));
}

// output (N, out, oh, ow) = conv(input) + bias; bias may be null (no bias).
template <class T>
void conv2d_forward(cpu, const Conv2dGeometry& g, const T* input, const T* weight, const T* bias, T* output,
                    T* workspace, Conv2dAlgorithm algorithm) {
  detail::require_supported(cpu{}, algorithm, g);
  if (algorithm == Conv2dAlgorithm::direct) return detail::direct::forward(g, input, weight, bias, output, workspace);
  detail::im2col::forward(g, input, weight, bias, output, workspace);
}

// Writes (not accumulates) the gradients of the input, weight and bias. grad_input may be null
// when the input needs no gradient (a model's first layer).
template <class T>
void conv2d_backward(cpu, const Conv2dGeometry& g, const T* input, const T* weight, const T* grad_output,
                     T* grad_input, T* grad_weight, T* grad_bias, T* workspace, Conv2dAlgorithm algorithm) {
  detail::require_supported(cpu{}, algorithm, g);
  if (algorithm == Conv2dAlgorithm::direct)
    return detail::direct::backward(g, input, weight, grad_output, grad_input, grad_weight, grad_bias, workspace);
  detail::im2col::backward(g, input, weight, grad_output, grad_input, grad_weight, grad_bias, workspace);
}

// The same with the default algorithm, on either device.
template <class Device, class T>
void conv2d_forward(Device, const Conv2dGeometry& g, const T* input, const T* weight, const T* bias, T* output,
                    T* workspace) {
  conv2d_forward(Device{}, g, input, weight, bias, output, workspace, choose(Device{}, g));
}
template <class Device, class T>
void conv2d_backward(Device, const Conv2dGeometry& g, const T* input, const T* weight, const T* grad_output,
                     T* grad_input, T* grad_weight, T* grad_bias, T* workspace) {
  conv2d_backward(Device{}, g, input, weight, grad_output, grad_input, grad_weight, grad_bias, workspace,
                  choose_backward(Device{}, g));
}

}  // namespace hnn
