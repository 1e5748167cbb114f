// Conv2d, the op's one face: which algorithm runs each pass of a convolution on either device,
// and the forward/backward entry points that run it. The algorithms are the files beneath:
//
//   cpu/conv2d/direct.hpp          direct: output positions in the SIMD lanes, the weights
//                                  broadcast (LeNet-5's convolutions, the narrow layers)
//   cpu/conv2d/channel_major.hpp   channel_major: channels in the SIMD lanes (the wide layers)
//   cpu/conv2d/wide_grid.hpp       the zero-padded grid both of them lay a sample out on,
//                                  strided convolutions split into phases
//   cpu/conv2d/im2col.hpp          im2col: im2col + one Eigen GEMM per sample (any geometry)
//   cpu/conv2d/winograd.hpp        winograd: F(4x4, 3x3) with the tiles in the SIMD lanes (3x3,
//                                  stride 1; every pass, the input gradient at padding 1 only)
//   cuda/conv2d.cuh                staged: a sample's planes and the weights in shared memory,
//                                  per pass where they fit in 48 KB; direct: one thread per
//                                  output, for any size (compiled only by nvcc)
//   cpu/conv2d/fused_act_pool.hpp  Conv2d + activation + 2x2 pooling with the batch in the
//                                  lanes: an op of its own, whose face is conv2d_act_pool.hpp
//
// A forward runs one algorithm; a backward one for the weight (and bias) gradient and one for
// the input gradient (Conv2dBackwardAlgorithms). choose() and choose_backward() give the
// defaults and are the only place that says which runs; the algorithm files run what they are
// told. Callers may name any algorithm that supports() the geometry (the tests select each).
// Why each default is what it is, with the measurements: tests/bench/NOTES.md, "Why the
// kernels are as they are".
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/conv2d/channel_major.hpp"
#include "hnn/kernels/cpu/conv2d/direct.hpp"
#include "hnn/kernels/cpu/conv2d/im2col.hpp"
#include "hnn/kernels/cpu/conv2d/wide_grid.hpp"
#include "hnn/kernels/cpu/conv2d/winograd.hpp"
#include "hnn/kernels/geometry.hpp"
#include "hnn/parallel.hpp"
#if defined(__CUDACC__)
#include "hnn/kernels/cuda/conv2d.cuh"
#endif

namespace hnn {

// Whether `algorithm` can run this geometry's forward pass (and, but for winograd, its weight
// gradient) on the device, for elements of type T (the channel-major kernels need the channels
// in whole pairs of T's packets).
template <class T>
bool supports(cpu, Conv2dAlgorithm algorithm, const Conv2dGeometry& g) {
  switch (algorithm) {
    case Conv2dAlgorithm::im2col: return true;
    case Conv2dAlgorithm::direct: return detail::wide_grid::holds(g);
    case Conv2dAlgorithm::channel_major:
      return detail::wide_grid::holds(g) && detail::channel_major::fits<T>(g.out_channels);
    case Conv2dAlgorithm::staged: return false;
    case Conv2dAlgorithm::winograd: return detail::winograd::holds(g);
  }
  return false;
}
// The same for a backward pass. When the two gradients run different algorithms, the input
// gradient runs on its own, which direct and winograd do. winograd's weight gradient runs on its
// own too, wherever its forward does; its input gradient needs padding 1.
template <class T>
bool supports(cpu, Conv2dBackwardAlgorithms algorithms, const Conv2dGeometry& g) {
  const Conv2dAlgorithm weights = algorithms.weight_gradient, input = algorithms.input_gradient;
  if (weights == Conv2dAlgorithm::winograd)
    return detail::winograd::holds(g) && (input == Conv2dAlgorithm::winograd ? detail::winograd::holds_input_gradient(g)
                                                                               : supports<T>(cpu{}, input, g) &&
                                                                                     input == Conv2dAlgorithm::direct);
  if (input == Conv2dAlgorithm::winograd)
    return supports<T>(cpu{}, weights, g) && detail::winograd::holds_input_gradient(g);
  if (!supports<T>(cpu{}, weights, g) || !supports<T>(cpu{}, input, g)) return false;
  if (input == Conv2dAlgorithm::channel_major && !detail::channel_major::fits<T>(g.in_channels)) return false;
  return input == weights || input == Conv2dAlgorithm::direct;
}
template <class T>
bool supports(cuda, Conv2dAlgorithm algorithm, const Conv2dGeometry&) {
  return algorithm == Conv2dAlgorithm::direct || algorithm == Conv2dAlgorithm::staged;
}
template <class T>
bool supports(cuda, Conv2dBackwardAlgorithms algorithms, const Conv2dGeometry& g) {
  return supports<T>(cuda{}, algorithms.weight_gradient, g) && supports<T>(cuda{}, algorithms.input_gradient, g);
}

namespace detail {
// Where the channel-major kernels pay (measured against direct): output channels that fill
// their blocks' lanes, and 16 or more input channels, the loop that amortises a block's loads
// and stores. Sixteen outputs are one AVX-512 packet of floats, so a 16 -> 16 convolution
// stays direct there. The input gradient the same with the two sides swapped.
template <class T>
bool channel_major_pays(const Conv2dGeometry& g) {
  return g.in_channels >= 16 && channel_major::fits<T>(g.out_channels);
}
template <class T>
bool channel_major_pays_for_input_gradient(const Conv2dGeometry& g) {
  return g.out_channels >= 16 && channel_major::fits<T>(g.in_channels);
}
// Where winograd pays (measured in float against direct and channel_major on the ResNet's
// shapes, AVX-512 and AVX2, one and two threads; tests/bench/NOTES.md): 3x3, stride 1,
// padding 1, maps of 7x7 or more and at least one register strip of tiles (smaller were not
// measured; a 4x4 tile over a 2x2 map would compute four times the outputs it keeps),
// `channels` or more on both sides: 16 for the forward; for the input gradient 32 on AVX-512
// (at 16 it lost there) and 16 on AVX2's 8-lane packets (the ResNet's 16 -> 16 input gradient
// 6.8 -> 5.8 ms against channel_major, tests/bench/NOTES.md). Float only.
template <class T>
bool winograd_fits(const Conv2dGeometry& g, std::int64_t channels) {
  if (!std::is_same_v<T, float> || !winograd::holds_input_gradient(g)) return false;
  const winograd::Layout<T> layout(winograd::forward_problem(g));
  return g.in_channels >= channels && g.out_channels >= channels && g.out_height() >= 7 && g.out_width() >= 7 &&
         layout.tiles >= winograd::strip * layout.lanes;
}
template <class T>
bool winograd_pays(const Conv2dGeometry& g) {
  return winograd_fits<T>(g, 16);
}
template <class T>
bool winograd_pays_for_input_gradient(const Conv2dGeometry& g) {
  return winograd_fits<T>(g, packet_size<float> <= 8 ? 16 : 32);
}
// The weight gradient by winograd, where the input gradient's does: on AVX2's 8-lane packets
// from 16 channels (the ResNet's 16 -> 16, 32 -> 32 and 64 -> 64: a third or more faster than
// channel_major), on AVX-512 from 32 (15-40% faster than channel_major; even with direct at 16)
// (tests/bench/NOTES.md, "The ResNet's backward on AVX2").
template <class T>
bool winograd_pays_for_weight_gradient(const Conv2dGeometry& g) {
  return winograd_pays_for_input_gradient<T>(g);
}

// The forward's algorithm but for winograd, which the weight gradient follows. A strided 1x1
// convolution is a plain product of the weights with every s-th pixel, which im2col's GEMM does
// faster than the grid. direct puts output positions in its lanes: on a map of fewer than 16
// pixels (the Inception blocks' 2x2 and 1x1 maps in examples/googlenet) most of them hold
// padding, and im2col's GEMMs run 1.5-4x faster.
template <class T>
Conv2dAlgorithm choose_grid_or_gemm(const Conv2dGeometry& g) {
  if (!wide_grid::holds(g) || (g.stride > 1 && g.kernel == 1)) return Conv2dAlgorithm::im2col;
  if (channel_major_pays<T>(g)) return Conv2dAlgorithm::channel_major;
  return g.out_pixels() < 16 ? Conv2dAlgorithm::im2col : Conv2dAlgorithm::direct;
}
}  // namespace detail

// The forward's default: winograd where it pays, else the grid or im2col.
template <class T>
Conv2dAlgorithm choose(cpu, const Conv2dGeometry& g) {
  return detail::winograd_pays<T>(g) ? Conv2dAlgorithm::winograd : detail::choose_grid_or_gemm<T>(g);
}
template <class T>
Conv2dAlgorithm choose(cuda, const Conv2dGeometry&) {
  return Conv2dAlgorithm::staged;
}

// The backward's default. direct's weight gradient runs a group of samples per pass over its
// accumulators, but a strided convolution onto a small plane wastes its lanes on the grid's
// padding columns: such a backward runs im2col, unless both gradients pay channel-major (the
// rule as for float, whichever T). Where only the weight gradient pays channel-major (too few
// input channels for the input gradient's lanes), the input gradient runs direct.
template <class T>
Conv2dBackwardAlgorithms choose_backward(cpu, const Conv2dGeometry& g) {
  const bool all_channel_major =
      detail::channel_major_pays<float>(g) && detail::channel_major_pays_for_input_gradient<float>(g);
  if (g.stride > 1 && g.out_pixels() < 64 && !all_channel_major)
    return {Conv2dAlgorithm::im2col, Conv2dAlgorithm::im2col};
  // The weight gradient by the algorithm the forward would run without winograd.
  const Conv2dAlgorithm forward = detail::choose_grid_or_gemm<T>(g);
  const bool input_channel_major = detail::channel_major_pays_for_input_gradient<T>(g);
  Conv2dBackwardAlgorithms algorithms{forward, forward};
  if (forward == Conv2dAlgorithm::channel_major) {
    // The smallest maps again: a one-pixel map, or an input gradient that would run direct on
    // fewer than 16 pixels, runs both gradients by im2col (1.1-2x faster there).
    if (g.out_pixels() == 1 || (!input_channel_major && g.out_pixels() < 16))
      return {Conv2dAlgorithm::im2col, Conv2dAlgorithm::im2col};
    if (!input_channel_major) algorithms.input_gradient = Conv2dAlgorithm::direct;
  }
  // Each gradient by winograd where it pays; a winograd weight gradient beside a grid input
  // gradient runs the input gradient direct (channel_major runs both gradients or none).
  if (detail::winograd_pays_for_input_gradient<T>(g)) algorithms.input_gradient = Conv2dAlgorithm::winograd;
  if (detail::winograd_pays_for_weight_gradient<T>(g)) {
    algorithms.weight_gradient = Conv2dAlgorithm::winograd;
    if (algorithms.input_gradient != Conv2dAlgorithm::winograd) algorithms.input_gradient = Conv2dAlgorithm::direct;
  }
  return algorithms;
}
template <class T>
Conv2dBackwardAlgorithms choose_backward(cuda, const Conv2dGeometry& g) {
  return {choose<T>(cuda{}, g), choose<T>(cuda{}, g)};
}

namespace detail {
inline std::string conv2d_sizes(const Conv2dGeometry& g) {
  return " for this geometry (" + std::to_string(g.in_channels) + " -> " + std::to_string(g.out_channels) +
         " channels, stride " + std::to_string(g.stride) + ", kernel " + std::to_string(g.kernel) + ", padding " +
         std::to_string(g.padding) + ")";
}
template <class T, class Device>
void require_supported(Device, Conv2dAlgorithm algorithm, const Conv2dGeometry& g) {
  if (!supports<T>(Device{}, algorithm, g))
    throw std::invalid_argument(std::string("hnn: the ") + name(algorithm) + " Conv2d algorithm does not run on " +
                                Device::name + conv2d_sizes(g));
}
template <class T, class Device>
void require_supported(Device, Conv2dBackwardAlgorithms algorithms, const Conv2dGeometry& g) {
  if (!supports<T>(Device{}, algorithms, g))
    throw std::invalid_argument(std::string("hnn: the Conv2d backward by ") + name(algorithms.weight_gradient) +
                                " (weight gradient) and " + name(algorithms.input_gradient) +
                                " (input gradient) does not run on " + Device::name + conv2d_sizes(g));
}

// Elements one thread's scratch holds for `algorithm`, in float or double. The two grid
// algorithms lay it out by one GridLayout; channel_major_grid: a channel-major pass runs on it.
inline std::int64_t conv2d_per_thread(const Conv2dGeometry& g, Conv2dAlgorithm algorithm, bool channel_major_grid) {
  switch (algorithm) {
    case Conv2dAlgorithm::im2col: return im2col::workspace_per_thread(g);
    case Conv2dAlgorithm::direct:
    case Conv2dAlgorithm::channel_major:
      return std::max(wide_grid::GridLayout<float>(g, channel_major_grid).per_thread,
                      wide_grid::GridLayout<double>(g, channel_major_grid).per_thread);
    case Conv2dAlgorithm::staged: return 0;
    case Conv2dAlgorithm::winograd: return winograd::workspace_per_thread(g);
  }
  return 0;
}
inline bool any_channel_major(Conv2dBackwardAlgorithms a) {
  return a.weight_gradient == Conv2dAlgorithm::channel_major || a.input_gradient == Conv2dAlgorithm::channel_major;
}
// A backward's: winograd's weight gradient needs more than its forward.
inline std::int64_t conv2d_backward_per_thread(const Conv2dGeometry& g, Conv2dBackwardAlgorithms a) {
  const bool channel_major = any_channel_major(a);
  const std::int64_t weights = a.weight_gradient == Conv2dAlgorithm::winograd
                                   ? winograd::weight_gradient_per_thread(g)
                                   : conv2d_per_thread(g, a.weight_gradient, channel_major);
  return std::max(weights, conv2d_per_thread(g, a.input_gradient, channel_major));
}
}  // namespace detail

// Elements of workspace the CPU kernels need for this geometry, algorithm(s) and thread count.
inline std::int64_t conv2d_workspace_size(cpu, const Conv2dGeometry& g, Conv2dAlgorithm algorithm,
                                          int threads = num_threads()) {
  return detail::conv2d_per_thread(g, algorithm, algorithm == Conv2dAlgorithm::channel_major) * threads;
}
inline std::int64_t conv2d_workspace_size(cpu, const Conv2dGeometry& g, Conv2dBackwardAlgorithms algorithms,
                                          int threads = num_threads()) {
  return detail::conv2d_backward_per_thread(g, algorithms) * threads;
}
// The same for the default algorithms of both passes, in float or double.
inline std::int64_t conv2d_workspace_size(cpu, const Conv2dGeometry& g) {
  return std::max({conv2d_workspace_size(cpu{}, g, choose<float>(cpu{}, g)),
                   conv2d_workspace_size(cpu{}, g, choose_backward<float>(cpu{}, g)),
                   conv2d_workspace_size(cpu{}, g, choose<double>(cpu{}, g)),
                   conv2d_workspace_size(cpu{}, g, choose_backward<double>(cpu{}, g))});
}

// output (N, out, oh, ow) = conv(input) + bias; bias may be null (no bias).
template <class T>
void conv2d_forward(cpu, const Conv2dGeometry& g, const T* input, const T* weight, const T* bias, T* output,
                    T* workspace, Conv2dAlgorithm algorithm) {
  using detail::wide_grid::GridLayout;
  detail::require_supported<T>(cpu{}, algorithm, g);
  switch (algorithm) {
    case Conv2dAlgorithm::direct:
      return detail::direct::forward(g, GridLayout<T>(g, false), input, weight, bias, output, workspace);
    case Conv2dAlgorithm::channel_major:
      return detail::channel_major::forward(g, GridLayout<T>(g, true), input, weight, bias, output, workspace);
    case Conv2dAlgorithm::winograd: return detail::winograd::forward(g, input, weight, bias, output, workspace);
    case Conv2dAlgorithm::im2col:
    case Conv2dAlgorithm::staged: break;
  }
  detail::im2col::forward(g, input, weight, bias, output, workspace);
}

// Writes (not accumulates) the gradients of the input, weight and bias. grad_input may be null
// when the input needs no gradient (a model's first layer), grad_bias when there is no bias.
template <class T>
void conv2d_backward(cpu, const Conv2dGeometry& g, const T* input, const T* weight, const T* grad_output,
                     T* grad_input, T* grad_weight, T* grad_bias, T* workspace, Conv2dBackwardAlgorithms algorithms) {
  using detail::wide_grid::GridLayout;
  detail::require_supported<T>(cpu{}, algorithms, g);
  // The two grid algorithms share one layout of the workspace.
  const bool channel_major_grid = detail::any_channel_major(algorithms);
  // One algorithm's pass: dx null for the weight gradient alone, dw null for the input
  // gradient alone (direct and winograd only).
  const auto run = [&](Conv2dAlgorithm algorithm, T* dx, T* dw, T* db) {
    switch (algorithm) {
      case Conv2dAlgorithm::direct:
        return detail::direct::backward(g, GridLayout<T>(g, channel_major_grid), input, weight, grad_output, dx, dw,
                                        db, workspace);
      case Conv2dAlgorithm::channel_major:
        return detail::channel_major::backward(g, GridLayout<T>(g, true), input, weight, grad_output, dx, dw, db,
                                               workspace);
      case Conv2dAlgorithm::winograd:
        if (dw != nullptr) detail::winograd::weight_gradient(g, input, grad_output, dw, db, workspace);
        if (dx != nullptr) detail::winograd::input_gradient(g, weight, grad_output, dx, workspace);
        return;
      case Conv2dAlgorithm::im2col:
      case Conv2dAlgorithm::staged: break;
    }
    detail::im2col::backward(g, input, weight, grad_output, dx, dw, db, workspace);
  };
  if (grad_input == nullptr || algorithms.input_gradient == algorithms.weight_gradient)
    return run(algorithms.weight_gradient, grad_input, grad_weight, grad_bias);
  run(algorithms.weight_gradient, nullptr, grad_weight, grad_bias);
  run(algorithms.input_gradient, grad_input, nullptr, nullptr);
}

// A backward with one algorithm for both gradients, on either device.
template <class Device, class T>
void conv2d_backward(Device, const Conv2dGeometry& g, const T* input, const T* weight, const T* grad_output,
                     T* grad_input, T* grad_weight, T* grad_bias, T* workspace, Conv2dAlgorithm algorithm) {
  conv2d_backward(Device{}, g, input, weight, grad_output, grad_input, grad_weight, grad_bias, workspace,
                  Conv2dBackwardAlgorithms{algorithm, algorithm});
}

// The same with the default algorithms, on either device.
template <class Device, class T>
void conv2d_forward(Device, const Conv2dGeometry& g, const T* input, const T* weight, const T* bias, T* output,
                    T* workspace) {
  conv2d_forward(Device{}, g, input, weight, bias, output, workspace, choose<T>(Device{}, g));
}
template <class Device, class T>
void conv2d_backward(Device, const Conv2dGeometry& g, const T* input, const T* weight, const T* grad_output,
                     T* grad_input, T* grad_weight, T* grad_bias, T* workspace) {
  conv2d_backward(Device{}, g, input, weight, grad_output, grad_input, grad_weight, grad_bias, workspace,
                  choose_backward<T>(Device{}, g));
}

}  // namespace hnn
