// Linear (fully connected) on the CPU: Y = X W^T + b, with W stored (out, in) as in PyTorch.
// Whole-batch Eigen GEMMs; Eigen parallelises them itself when built with OpenMP.
#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "hnn/device.hpp"

namespace hnn {

namespace detail {
template <class T>
using LinearMatrix = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <class T>
using ConstLinearMatrix = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
}  // namespace detail

template <class T>
void linear_forward(cpu, std::int64_t batch, std::int64_t in_features, std::int64_t out_features, const T* input,
                    const T* weight, const T* bias, T* output) {
  detail::ConstLinearMatrix<T> x(input, batch, in_features), w(weight, out_features, in_features);
  detail::LinearMatrix<T> y(output, batch, out_features);
  y.noalias() = x * w.transpose();
  y.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias, out_features);
}

// Writes the gradients; grad_input may be null when the input needs none.
template <class T>
void linear_backward(cpu, std::int64_t batch, std::int64_t in_features, std::int64_t out_features, const T* input,
                     const T* weight, const T* grad_output, T* grad_input, T* grad_weight, T* grad_bias) {
  detail::ConstLinearMatrix<T> x(input, batch, in_features), w(weight, out_features, in_features);
  detail::ConstLinearMatrix<T> dy(grad_output, batch, out_features);
  detail::LinearMatrix<T>(grad_weight, out_features, in_features).noalias() = dy.transpose() * x;
  Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(grad_bias, out_features) = dy.colwise().sum();
  if (grad_input != nullptr) detail::LinearMatrix<T>(grad_input, batch, in_features).noalias() = dy * w;
}

}  // namespace hnn
