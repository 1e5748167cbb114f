// Predictions from a classifier, on any device: logits are computed on the model's device
// in batches and copied to the host, where softmax, arg-max and top-k run.
//
//   const std::vector<std::int32_t> labels = hnn::predict(model, images);      // arg-max class
//   const hnn::Tensor<float, hnn::cpu> p = hnn::predict_probabilities(model, images);
//   for (const hnn::Scored& s : hnn::top_k(p, 0, 3)) ...                      // best 3 of image 0
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/training/mode.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/tensor.hpp"

namespace hnn {

// The model's outputs (N, classes) for `images` (N, ...), run in batches of `batch_size`
// and gathered on the host as float. Runs in evaluation mode (model.eval()) and leaves the
// model in the mode it found it in.
template <class T, class Device>
Tensor<float, cpu> predict_logits(Sequential<T, Device>& model, const Tensor<T, Device>& images,
                                  std::int64_t batch_size = 1000) {
  if (batch_size <= 0) throw std::invalid_argument("hnn::predict_logits: batch size must be positive");
  if (images.rank() < 1 || images.dim(0) == 0)
    throw std::invalid_argument("hnn::predict_logits: no images (shape " + images.shape().str() + ")");
  const std::int64_t n = images.dim(0);
  const ScopedMode<Sequential<T, Device>> eval_mode(model, false);
  Tensor<float, cpu> out;
  for (std::int64_t begin = 0; begin < n; begin += batch_size) {
    const std::int64_t end = std::min(begin + batch_size, n);
    const Tensor<T, cpu> logits = model.forward(images.slice(begin, end)).template to<cpu>();
    if (logits.rank() != 2)
      throw std::invalid_argument("hnn::predict_logits: the model's output " + logits.shape().str() +
                                  " is not (N, classes)");
    if (begin == 0) out = Tensor<float, cpu>(Shape{n, logits.dim(1)});
    const std::int64_t classes = logits.dim(1);
    for (std::int64_t i = 0; i < logits.numel(); ++i) out[begin * classes + i] = static_cast<float>(logits[i]);
  }
  return out;
}

// Row-wise softmax of (N, classes) logits, computed in double with the maximum subtracted.
inline Tensor<float, cpu> softmax(const Tensor<float, cpu>& logits) {
  if (logits.rank() != 2) throw std::invalid_argument("hnn::softmax: expected (N, classes), got " + logits.shape().str());
  Tensor<float, cpu> p(logits.shape());
  const std::int64_t n = logits.dim(0), classes = logits.dim(1);
  for (std::int64_t r = 0; r < n; ++r) {
    const float* z = logits.data() + r * classes;
    const double max = *std::max_element(z, z + classes);
    double sum = 0;
    for (std::int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(z[c]) - max);
    for (std::int64_t c = 0; c < classes; ++c)
      p[r * classes + c] = static_cast<float>(std::exp(static_cast<double>(z[c]) - max) / sum);
  }
  return p;
}

// The index of each row's largest value; the first one on ties (as the loss counts accuracy).
inline std::vector<std::int32_t> argmax(const Tensor<float, cpu>& scores) {
  if (scores.rank() != 2) throw std::invalid_argument("hnn::argmax: expected (N, classes), got " + scores.shape().str());
  const std::int64_t n = scores.dim(0), classes = scores.dim(1);
  std::vector<std::int32_t> best(static_cast<std::size_t>(n));
  for (std::int64_t r = 0; r < n; ++r) {
    const float* z = scores.data() + r * classes;
    std::int64_t b = 0;
    for (std::int64_t c = 1; c < classes; ++c)
      if (z[c] > z[b]) b = c;
    best[static_cast<std::size_t>(r)] = static_cast<std::int32_t>(b);
  }
  return best;
}

// Class probabilities (N, classes) for `images`.
template <class T, class Device>
Tensor<float, cpu> predict_probabilities(Sequential<T, Device>& model, const Tensor<T, Device>& images,
                                         std::int64_t batch_size = 1000) {
  return softmax(predict_logits(model, images, batch_size));
}

// The most likely class of each image.
template <class T, class Device>
std::vector<std::int32_t> predict(Sequential<T, Device>& model, const Tensor<T, Device>& images,
                                  std::int64_t batch_size = 1000) {
  return argmax(predict_logits(model, images, batch_size));
}

// A class and its score.
struct Scored {
  std::int32_t label = 0;
  double score = 0;
};

// The `k` best classes of row `row` of (N, classes) scores, best first (ties: lower class first).
inline std::vector<Scored> top_k(const Tensor<float, cpu>& scores, std::int64_t row, std::int64_t k) {
  if (scores.rank() != 2 || row < 0 || row >= scores.dim(0))
    throw std::out_of_range("hnn::top_k: row " + std::to_string(row) + " of scores " + scores.shape().str());
  const std::int64_t classes = scores.dim(1);
  std::vector<Scored> all;
  for (std::int64_t c = 0; c < classes; ++c)
    all.push_back({static_cast<std::int32_t>(c), static_cast<double>(scores[row * classes + c])});
  std::stable_sort(all.begin(), all.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
  all.resize(static_cast<std::size_t>(std::clamp<std::int64_t>(k, 0, classes)));
  return all;
}

}  // namespace hnn
