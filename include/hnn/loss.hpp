// Every loss (losses/*.hpp), and SoftmaxCrossEntropy: the name the trainer and earlier code
// use for CrossEntropyLoss with its defaults (mean, no weights, no smoothing).
#pragma once

#include "hnn/losses/bce_with_logits.hpp"
#include "hnn/losses/cross_entropy.hpp"
#include "hnn/losses/huber.hpp"
#include "hnn/losses/l1.hpp"
#include "hnn/losses/loss.hpp"
#include "hnn/losses/mse.hpp"

namespace hnn {

template <class T, class Device = cpu>
using SoftmaxCrossEntropy = CrossEntropyLoss<T, Device>;

}  // namespace hnn
