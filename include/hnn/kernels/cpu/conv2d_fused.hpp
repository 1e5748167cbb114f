// Conv2d + bias + activation + 2x2 pooling as one CPU kernel, forward and backward.
//
// LeNet-5 follows each convolution with an activation (sigmoid or ReLU) and a 2x2, stride-2
// pooling (average or max). Run as three layers, the 256-sample batch of conv1's output
// (4.8 MB) is written and read again five times per step, and each op is a parallel region
// of its own. Fused, each sample's convolution output is activated and pooled while it is in
// the thread's cache; the backward pass turns the pooled gradient into the convolution's
// output gradient directly on the grid the weight gradient reads (conv2d_direct.hpp).
//
// The results are those of the three CPU kernels run one after the other (the same
// operations in the same order), so the CUDA twins of those kernels remain the reference.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

#include "hnn/device.hpp"
#include "hnn/kernels/cpu/conv2d.hpp"
#include "hnn/kernels/cpu/conv2d_direct.hpp"
#include "hnn/kernels/geometry.hpp"

namespace hnn {

enum class FusedActivation { sigmoid, relu };
enum class FusedPooling { average, max };

// Whether conv2d_act_pool_* handle this convolution followed by this pooling.
inline bool conv2d_act_pool_fusable(cpu, const Conv2dGeometry& g, const Pool2dGeometry& p) {
  return detail::direct::applicable(g) && p.kernel == 2 && p.stride == 2 && p.in_height == g.out_height() &&
         p.in_width == g.out_width() && p.channels == g.out_channels && p.batch == g.batch &&
         g.out_height() >= 2 && g.out_width() >= 2;
}

// Elements of the activation buffer the fused kernels keep between forward and backward:
// act(conv(input) + bias) for every sample on the convolution's grid (detail::direct::Plan),
// so that it is written by the convolution in place and read back with whole packets.
template <class T>
std::int64_t conv2d_act_pool_activation_size(cpu, const Conv2dGeometry& g) {
  return g.batch * g.out_channels * detail::direct::Plan<T>(g).q;
}

// pooled (N, out, oh / 2, ow / 2) = pool(act(conv(input) + bias)); activation: what the
// backward pass needs (conv2d_act_pool_activation_size); argmax (max pooling only, else
// unused, N * out * (oh / 2) * (ow / 2) entries): each window's winner on the grid.
template <class T>
void conv2d_act_pool_forward(cpu, const Conv2dGeometry& g, FusedActivation act, FusedPooling pool, const T* input,
                             const T* weight, const T* bias, T* activation, T* pooled, std::int32_t* argmax,
                             T* workspace) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  const detail::direct::Plan<T> plan(g);
  const std::int64_t ph = g.out_height() / 2, pw = g.out_width() / 2, wp = plan.wp;
  detail::direct::forward_with(g, input, weight, workspace, activation, [&](std::int64_t n, T* planes, T*) {
    for (std::int64_t o = 0; o < g.out_channels; ++o) {
      // Bias and activation over the whole plane: plan.q is a multiple of the packet, so
      // there is no scalar tail (the positions off the output are computed and never read).
      T* plane = planes + o * plan.q;
      Eigen::Map<Array> z(plane, plan.q);
      if (act == FusedActivation::sigmoid) {
        z = z + bias[o];
        detail::logistic(plane, plane, plan.q);
      } else {
        z = z + bias[o];
        z = (z > T(0)).select(z, T(0));
      }
      const std::int64_t index = n * g.out_channels + o;
      T* out = pooled + index * ph * pw;
      if (pool == FusedPooling::average) {
        for (std::int64_t i = 0; i < ph; ++i) {
          const T* r0 = plane + 2 * i * wp;
          const T* r1 = r0 + wp;
          for (std::int64_t j = 0; j < pw; ++j)
            out[i * pw + j] = T(0.25) * ((r0[2 * j] + r0[2 * j + 1]) + (r1[2 * j] + r1[2 * j + 1]));
        }
      } else {
        std::int32_t* arg = argmax + index * ph * pw;
        for (std::int64_t i = 0; i < ph; ++i)
          for (std::int64_t j = 0; j < pw; ++j) {
            // The first maximum in row-major window order wins ties, as in max_pool2d_forward.
            const std::int64_t i0 = 2 * i * wp + 2 * j, i1 = i0 + 1, i2 = i0 + wp, i3 = i2 + 1;
            std::int64_t best = i0;
            if (plane[i1] > plane[best]) best = i1;
            if (plane[i2] > plane[best]) best = i2;
            if (plane[i3] > plane[best]) best = i3;
            out[i * pw + j] = plane[best];
            arg[i * pw + j] = static_cast<std::int32_t>(best);
          }
      }
    }
  });
}

namespace detail {

// dz = ((share * a) * (1 - a)) for the sigmoid, (a > 0 ? share : 0) for the ReLU: the
// operations of sigmoid_backward and relu_backward, packet by packet.
template <class T>
inline Packet<T> through_activation(FusedActivation act, const Packet<T>& share, const Packet<T>& a) {
  using namespace Eigen::internal;
  using P = Packet<T>;
  if (act == FusedActivation::sigmoid) return pmul(pmul(share, a), psub(pset1<P>(T(1)), a));
  return pand(share, pcmp_lt(pset1<P>(T(0)), a));
}

template <class T>
inline T through_activation(FusedActivation act, T share, T a) {
  if (act == FusedActivation::sigmoid) return share * a * (T(1) - a);
  return a > T(0) ? share : T(0);
}

}  // namespace detail

// From dLoss/dPooled: the gradients of the weight, bias and (when grad_input is not null) the
// input. activation and argmax are what the forward pass wrote.
template <class T>
void conv2d_act_pool_backward(cpu, const Conv2dGeometry& g, FusedActivation act, FusedPooling pool, const T* input,
                              const T* weight, const T* activation, const std::int32_t* argmax, const T* grad_pooled,
                              T* grad_input, T* grad_weight, T* grad_bias, T* workspace) {
  using namespace Eigen::internal;
  using P = detail::Packet<T>;
  constexpr std::int64_t S = detail::packet_size<T>;
  // ploaddup doubles S / 2 values into a packet; a scalar build has no half packet.
  constexpr std::int64_t half = S >= 2 ? S / 2 : 1;
  const detail::direct::Plan<T> plan(g);
  const std::int64_t ph = g.out_height() / 2, pw = g.out_width() / 2, wp = plan.wp, q = plan.q;
  const std::int64_t pitch = detail::round_up(pw, half);  // of the scaled pooled gradient, zero-padded rows
  detail::direct::backward_with(
      g, input, weight,
      [&](std::int64_t n, T* planes, T* aux) {
        // aux (zeroed by backward_with at the start of each call): up, the pooled gradient
        // spread over the grid (zero off the pooling windows); scaled, 0.25 * dLoss/dPooled.
        T* up = aux;
        T* scaled = aux + plan.aux_size;
        for (std::int64_t o = 0; o < g.out_channels; ++o) {
          const std::int64_t index = n * g.out_channels + o;
          const T* a = activation + index * q;
          const T* dp = grad_pooled + index * ph * pw;
          T* dz = planes + o * plan.dy_plane;
          if (pool == FusedPooling::average) {
            for (std::int64_t i = 0; i < ph; ++i)
              for (std::int64_t j = 0; j < pw; ++j) scaled[i * pitch + j] = T(0.25) * dp[i * pw + j];
            // Row by row, in order: a row's last packet may spill (zeros) into the next row,
            // which is written after it.
            for (std::int64_t h = 0; h < 2 * ph; ++h) {
              const T* src = scaled + (h / 2) * pitch;
              T* dst = up + h * wp;
              for (std::int64_t k = 0; k < pitch; k += half) {
                if constexpr (S >= 2) {
                  pstoreu(dst + 2 * k, ploaddup<P>(src + k));
                } else {
                  dst[2 * k] = dst[2 * k + 1] = src[k];
                }
              }
            }
            for (std::int64_t v = 0; v < q; v += S)
              pstoreu(dz + v, detail::through_activation<T>(act, ploadu<P>(up + v), ploadu<P>(a + v)));
          } else {
            const std::int32_t* arg = argmax + index * ph * pw;
            for (std::int64_t v = 0; v < q; v += S) pstoreu(dz + v, pset1<P>(T(0)));
            for (std::int64_t k = 0; k < ph * pw; ++k) dz[arg[k]] = detail::through_activation(act, dp[k], a[arg[k]]);
          }
        }
      },
      grad_input, grad_weight, grad_bias, workspace);
}

}  // namespace hnn
