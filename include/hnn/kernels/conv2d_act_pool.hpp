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

// Whether conv2d_act_pool_* handle this convolution followed by this pooling.
inline bool conv2d_act_pool_fusable(cpu, const Conv2dGeometry& g, const Pool2dGeometry& p) {
  return g.stride == 1 && p.kernel == 2 && p.stride == 2 && p.padding == 0 && p.in_height == g.out_height() &&
         p.in_width == g.out_width() && p.channels == g.out_channels && p.batch == g.batch && g.out_height() >= 2 &&
         g.out_width() >= 2;
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
// backward pass needs (conv2d_act_pool_activation_size). bias may be null (no bias).
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
