// The focal loss of Lin et al. 2017 ("Focal Loss for Dense Object Detection"), written as an
// expression on hnn::Var: for each sample, with p_t the softmax probability of its label,
//
//   FL = -(1 - p_t)^gamma log p_t
//
// averaged over the batch. gamma = 0 is the cross-entropy; a larger gamma lowers the loss of
// the samples already classified with confidence, so that the hard ones weigh more. No backward
// is written: hnn::ExpressionLoss takes the gradient from autograd.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include <hnn/autograd.hpp>
#include <hnn/losses/expression_loss.hpp>

namespace focal {

// The labels (N) as rows of a (N, classes) matrix: 1 at each label, 0 elsewhere.
template <class T>
hnn::Tensor<T> one_hot(const hnn::Tensor<std::int32_t>& labels, std::int64_t classes) {
  hnn::Tensor<T> rows = hnn::Tensor<T>::zeros(hnn::Shape{labels.dim(0), classes});
  for (std::int64_t n = 0; n < labels.dim(0); ++n) {
    if (labels[n] < 0 || labels[n] >= classes)
      throw std::invalid_argument("one_hot: label " + std::to_string(labels[n]) + " at index " + std::to_string(n) +
                                  " is outside 0.." + std::to_string(classes - 1));
    rows.at(n, labels[n]) = T(1);
  }
  return rows;
}

// The batch's mean focal loss of logits (N, classes) against labels (N).
template <class T>
hnn::Var<T> focal_loss(const hnn::Var<T>& logits, const hnn::Tensor<std::int32_t>& labels, double gamma) {
  // log p_t from log_softmax (stable for any logits), then p_t = exp(log p_t).
  const hnn::Var<T> log_pt = (log_softmax(logits, 1) * one_hot<T>(labels, logits.dim(1))).sum(1);
  const hnn::Var<T> pt = exp(log_pt);
  return (-pow(1.0 - pt, gamma) * log_pt).mean();
}

// The focal loss as a loss hnn::train (and hnn::TrainLoop) can minimise.
template <class T>
hnn::ExpressionLoss<T> make_focal_loss(double gamma) {
  if (!(gamma >= 0)) throw std::invalid_argument("focal loss: gamma must be at least 0, got " + std::to_string(gamma));
  return hnn::ExpressionLoss<T>(
      "focal loss", [gamma](const hnn::Var<T>& logits, const hnn::Tensor<std::int32_t>& labels) {
        return focal_loss(logits, labels, gamma);
      });
}

}  // namespace focal
