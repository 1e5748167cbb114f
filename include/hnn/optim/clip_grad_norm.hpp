// torch.nn.utils.clip_grad_norm_: scales every gradient by min(1, max_norm / (total + 1e-6)),
// total being the p-norm of all the gradients together (p = 2 by default; infinity: the
// largest magnitude), and returns the total. Call it between backward() and the optimizer's step.
//
//   double norm = hnn::clip_grad_norm(model.parameters(), 1.0);   // reads the norm back (waits on a GPU)
//   hnn::GradNormClipper<float, hnn::cuda> clipper(1.0);           // or, in a step a GPU replays:
//   clipper.clip(model.parameters());                              //   nothing read back
//   ... clipper.last_norm() when it is wanted (waits).
// The kernels: kernels/grad_norm.hpp.
#pragma once

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/kernels/grad_norm.hpp"
#include "hnn/layers/layer.hpp"

namespace hnn {

template <class T, class Device = cpu>
class GradNormClipper {
 public:
  // max_norm finite and at least 0; norm_type positive (or infinity).
  explicit GradNormClipper(double max_norm, double norm_type = 2.0)
      : max_norm_(max_norm), norm_type_(norm_type), accumulated_(Tensor<double, Device>::zeros(Shape{1})) {
    if (!(max_norm >= 0) || !std::isfinite(max_norm))
      throw std::invalid_argument("hnn::clip_grad_norm: max_norm must be at least 0 and finite, got " + std::to_string(max_norm));
    if (!(norm_type > 0))
      throw std::invalid_argument("hnn::clip_grad_norm: norm_type must be positive (or infinity), got " + std::to_string(norm_type));
  }

  // Measures the gradients' total norm in device memory and scales them, reading nothing back.
  void clip(const std::vector<Parameter<T, Device>>& parameters) {
    Memory<Device>::fill_bytes(accumulated_.data(), 0, sizeof(double));
    for (const Parameter<T, Device>& p : parameters)
      accumulate_grad_norm(Device{}, p.grad->numel(), p.grad->data(), norm_type_, accumulated_.data());
    for (const Parameter<T, Device>& p : parameters)
      clip_grad(Device{}, p.grad->numel(), p.grad->data(), max_norm_, norm_type_, accumulated_.data());
  }

  // The total norm the last clip() measured, before clipping (on a GPU this waits).
  double last_norm() const {
    double accumulated = 0;
    Memory<Device>::copy_to_host(&accumulated, accumulated_.data(), sizeof accumulated);
    return norm_from_accumulated(accumulated, norm_type_);
  }

  double max_norm() const { return max_norm_; }
  double norm_type() const { return norm_type_; }

 private:
  double max_norm_, norm_type_;
  Tensor<double, Device> accumulated_;
};

// Clips and returns the total norm (see the top of this file); allocates a few bytes per call.
template <class T, class Device>
double clip_grad_norm(const std::vector<Parameter<T, Device>>& parameters, double max_norm, double norm_type = 2.0) {
  GradNormClipper<T, Device> clipper(max_norm, norm_type);
  clipper.clip(parameters);
  return clipper.last_norm();
}

}  // namespace hnn
