// Conv2d + bias + activation + 2x2 pooling as one op, the face of the fused kernels. Only the
// CPU has one (cpu/conv2d/fused_act_pool.hpp, the batch in the SIMD lanes); on other devices
// the planner (hnn/model/plan.hpp) runs the three layers instead: has_conv2d_act_pool<Device>.
//
// LeNet-5 follows each convolution with an activation (sigmoid or ReLU) and a 2x2, stride-2
// pooling (average or max). Run as three layers, the 256-sample batch of conv1's output
// (4.8 MB) is written and read again five times per step, and each op is a parallel region
// of its own. Fused, each block of samples is convolved, activated and pooled while it is in
// the thread's cache, and the backward pass turns the pooled gradient into the convolution's
// output gradient in place.
//
// The results are those of the three CPU kernels run one after the other up to the order of
// the convolution's sums, so the CUDA twins of those kernels remain the reference.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/conv2d/fused_act_pool.hpp"
#include "hnn/kernels/geometry.hpp"
#include "hnn/parallel.hpp"

namespace hnn {

// Devices with a fused Conv2d + activation + pooling kernel.
template <class Device>
struct has_conv2d_act_pool : std::false_type {};
template <>
struct has_conv2d_act_pool<cpu> : std::true_type {};

// The crossover: the smallest batch the fused kernel is chosen for, per instruction set. The
// kernel convolves a block of one packet of samples at a time (a pixel of each sample in each
// lane), so a smaller batch leaves lanes idle, their multiply-adds wasted, while the three
// layers' own kernels fill the lanes with a sample's pixels: below the crossover the planner
// runs the layers (Conv2dLayer::fuse asks conv2d_act_pool_fusable). One value per instruction
// set, in samples of float, by the width of its packet of floats; a packet of doubles holds half
// as many samples, and so does the crossover for double. The values and the measurements behind
// them: tests/bench/NOTES.md, "The fused kernel's crossover" (`latency_bench --crossover`).
namespace detail {
constexpr std::int64_t conv2d_act_pool_crossover_in_floats(std::int64_t floats_per_packet) {
  return floats_per_packet == 16  ? 16   // AVX-512
         : floats_per_packet == 8 ? 8    // AVX, AVX2
         : floats_per_packet == 4 ? 4    // SSE, NEON
                                  : 1;   // no SIMD: no lanes to waste
}
}  // namespace detail
template <class T>
constexpr std::int64_t conv2d_act_pool_min_batch(cpu) {
  constexpr std::int64_t floats = detail::conv2d_act_pool_crossover_in_floats(detail::packet_size<float>);
  return std::max<std::int64_t>(1, floats * detail::packet_size<T> / detail::packet_size<float>);
}

// Whether conv2d_act_pool_* handle this convolution followed by this pooling, whatever the batch.
inline bool conv2d_act_pool_fits(cpu, const Conv2dGeometry& g, const Pool2dGeometry& p) {
  return g.stride == 1 && p.kernel == 2 && p.stride == 2 && p.padding == 0 && p.in_height == g.out_height() &&
         p.in_width == g.out_width() && p.channels == g.out_channels && p.batch == g.batch && g.out_height() >= 2 &&
         g.out_width() >= 2;
}

// Whether the fused kernel is the one to run for elements of type T: it handles the geometry
// and the batch is at least the crossover (above).
template <class T>
bool conv2d_act_pool_fusable(cpu, const Conv2dGeometry& g, const Pool2dGeometry& p) {
  return conv2d_act_pool_fits(cpu{}, g, p) && g.batch >= conv2d_act_pool_min_batch<T>(cpu{});
}

// Elements of the activation buffer the fused kernels keep between forward and backward:
// act(conv(input) + bias) for every sample, in blocks of samples (detail::lanes::BlockLayout).
template <class T>
std::int64_t conv2d_act_pool_activation_size(cpu, const Conv2dGeometry& g) {
  return detail::lanes::BlockLayout<T>(g).activation_size(g);
}

// Elements of workspace the fused kernels need for this geometry and thread count.
inline std::int64_t conv2d_act_pool_workspace_size(cpu, const Conv2dGeometry& g, int threads = num_threads()) {
  return std::max(detail::lanes::BlockLayout<float>(g).per_thread, detail::lanes::BlockLayout<double>(g).per_thread) * threads;
}

// pooled (N, out, oh / 2, ow / 2) = pool(act(conv(input) + bias)); activation: what the
// backward pass needs (conv2d_act_pool_activation_size), or null when no backward pass follows
// (evaluation: the same pooled values, nothing kept). bias may be null (no bias).
template <class T>
void conv2d_act_pool_forward(cpu, const Conv2dGeometry& g, FusedActivation act, FusedPooling pool, const T* input,
                             const T* weight, const T* bias, T* activation, T* pooled, T* workspace) {
  detail::lanes::forward(g, act, pool, input, weight, bias, activation, pooled, workspace);
}

// From dLoss/dPooled: the gradients of the weight, bias and (when grad_input is not null) the
// input. activation is what the forward pass wrote. grad_bias may be null (no bias).
template <class T>
void conv2d_act_pool_backward(cpu, const Conv2dGeometry& g, FusedActivation act, FusedPooling pool, const T* input,
                              const T* weight, const T* activation, const T* grad_pooled, T* grad_input,
                              T* grad_weight, T* grad_bias, T* workspace) {
  detail::lanes::backward(g, act, pool, input, weight, activation, grad_pooled, grad_input, grad_weight, grad_bias,
                          workspace);
}

}  // namespace hnn
