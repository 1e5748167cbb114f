// Softmax cross-entropy as one node of the graph, through the fused kernel the trainer's
// CrossEntropyLoss uses (kernels/cross_entropy.hpp): one pass computes the batch's mean loss and
// its gradient, so that
//
//   auto loss = cross_entropy(net(x), labels);
//   loss.backward();
//
// costs what SoftmaxCrossEntropy::forward_backward() plus net.backward() cost by hand. The value
// stays on the device (no wait for a GPU); read it with loss.item().
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "hnn/autograd/var.hpp"
#include "hnn/kernels/cross_entropy.hpp"
#include "hnn/kernels/elementwise.hpp"
#include "hnn/ops.hpp"

namespace hnn::autograd {

// The mean over the batch of -log softmax(logits[n])[labels[n]]: logits (N, classes), labels
// (N) class numbers. On the CPU every label is checked against the classes (the kernel indexes
// by it); on a GPU that would cost a wait, so there the labels must be right.
template <class T, class Device>
Var<T, Device> cross_entropy(const Var<T, Device>& logits, const Tensor<std::int32_t, Device>& labels) {
  const Tensor<T, Device>& z = logits.value();
  if (z.rank() != 2 || labels.rank() != 1 || labels.dim(0) != z.dim(0))
    throw std::invalid_argument("hnn::autograd::cross_entropy: expected logits (N, classes) and labels (N), got " +
                                z.shape().str() + " and " + labels.shape().str());
  const std::int64_t batch = z.dim(0), classes = z.dim(1);
  if (batch == 0) throw std::invalid_argument("hnn::autograd::cross_entropy: the batch is empty (logits " + z.shape().str() + ")");
  if constexpr (Memory<Device>::host_accessible) {
    for (std::int64_t n = 0; n < batch; ++n)
      if (labels[n] < 0 || labels[n] >= classes)
        throw std::invalid_argument("hnn::autograd::cross_entropy: label " + std::to_string(labels[n]) + " at index " +
                                    std::to_string(n) + " is outside 0.." + std::to_string(classes - 1) +
                                    " for logits " + z.shape().str());
  }
  Tensor<double, Device> stats(Shape{LossStats::size});
  double start[LossStats::size];
  for (int i = 0; i < LossStats::size; ++i) start[i] = LossStats::initial(i);
  Memory<Device>::copy_from_host(stats.data(), start, sizeof start);
  const bool recording = grad_enabled() && logits.requires_grad();
  Tensor<T, Device> grad_logits;
  if (recording) grad_logits = Tensor<T, Device>(z.shape());
  hnn::cross_entropy(Device{}, batch, classes, z.data(), labels.data(), static_cast<const T*>(nullptr), T(0),
                     Reduction::mean, recording ? grad_logits.data() : nullptr, stats.data(),
                     static_cast<std::int64_t*>(nullptr), static_cast<const std::int64_t*>(nullptr));
  Tensor<T, Device> value(Shape{});
  convert_scaled(Device{}, 1, stats.data() + LossStats::loss_sum, value.data(), 1.0 / static_cast<double>(batch));
  if (!recording) return Var<T, Device>(std::move(value));
  return record("cross_entropy", std::move(value), {logits}, [grad_logits](Node<T, Device>& self) {
    // The kernel wrote the gradient of the mean loss; scaled by dOut unless that is the seed 1.
    // Sent as shared: a second backward() over the same graph sends it again.
    if (self.grad_is_ones) send(self, 0, grad_logits, false);
    else send(self, 0, ops::mul(grad_logits, self.grad), true);
  });
}

}  // namespace hnn::autograd
