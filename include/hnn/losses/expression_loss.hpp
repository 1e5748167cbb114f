// A classification loss written by the user as an expression on hnn::Var (hnn/autograd/), made
// a hnn::Loss, so that the trainer (hnn::train, hnn::Trainer) trains with it like with
// CrossEntropyLoss. Its gradient comes from autograd: no backward to write.
//
//   // a focal loss: mean over the batch of -(1 - p_t)^2 log p_t (examples/focal_loss)
//   hnn::ExpressionLoss<float> focal("focal loss", [](const hnn::Var<float>& logits,
//                                                    const hnn::Tensor<std::int32_t>& labels) {
//     const auto log_pt = (log_softmax(logits, 1) * one_hot<float>(labels, logits.dim(1))).sum(1);
//     return (-pow(1.0 - exp(log_pt), 2.0) * log_pt).mean();
//   });   // one_hot(labels, classes): 1 at each label, 0 elsewhere (focal_loss.hpp)
//   hnn::train(model, train_set, test_set, options, focal);
//
// The expression gets the batch's logits (N, classes) as a Var that requires a gradient and the
// labels (N), checked first: a label outside [0, classes) or a shape that is not (N, classes)
// and (N) throws std::invalid_argument naming the label or both shapes, before the expression
// runs. It returns the batch's loss as one number, reduced as `reduction` says: the mean over
// the batch (the default, what the trainer's reported loss averages) or the sum. Like
// CrossEntropyLoss it counts the samples whose largest logit is their label (the training
// accuracy the trainer reports).
//
// CPU only: the expression runs op by op and its value is read back every batch.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>

#include "hnn/autograd/node.hpp"
#include "hnn/autograd/var.hpp"
#include "hnn/kernels/cpu/loss_stats.hpp"
#include "hnn/losses/loss.hpp"
#include "hnn/tensor.hpp"

namespace hnn {

template <class T, class Device = cpu>
class ExpressionLoss final : public ClassificationLoss<T, Device> {
  static_assert(Memory<Device>::host_accessible,
                "hnn::ExpressionLoss runs on the CPU: it reads the expression's value back every batch");

 public:
  // The loss of one batch: logits (N, classes) and labels (N) in, one number out.
  using Expression = std::function<autograd::Var<T, Device>(const autograd::Var<T, Device>& logits,
                                                            const Tensor<std::int32_t, Device>& labels)>;

  // `name`: what error messages start with ("focal loss: ...").
  ExpressionLoss(std::string name, Expression expression, Reduction reduction = Reduction::mean)
      : ClassificationLoss<T, Device>(reduction), name_(std::move(name)), expression_(std::move(expression)) {
    if (!expression_) throw std::invalid_argument("hnn::ExpressionLoss " + name_ + ": the expression is empty");
  }

  std::string name() const override { return name_; }

 private:
  void check(const Tensor<T, Device>& logits, const Tensor<std::int32_t, Device>& labels) const override {
    if (logits.rank() != 2 || labels.rank() != 1 || labels.dim(0) != logits.dim(0))
      this->shape_error("expected logits (N, classes) and labels (N)", logits.shape(), labels.shape());
    this->require_nonempty(logits.shape(), labels.shape());
    this->label_classes_ = logits.dim(1);
    const std::int64_t bad = detail::first_label_outside(labels, logits.dim(1));
    if (bad >= 0) this->throw_label_error(labels.data()[bad], bad, logits.dim(1));
  }

  // Runs the expression on the batch; with `grad`, also its backward, whose gradient with
  // respect to the logits is copied there. Then adds the batch to the totals.
  void compute(const Tensor<T, Device>& logits, const Tensor<std::int32_t, Device>& labels, T* grad,
               const std::int64_t* batch_number, double max_mean_loss) override {
    const std::int64_t batch = logits.dim(0), classes = logits.dim(1);
    double value = 0;
    if (grad != nullptr) {
      const autograd::Var<T, Device> z(logits, /*requires_grad=*/true);
      const autograd::Var<T, Device> loss = run(z, labels);
      value = static_cast<double>(loss.item());
      if (loss.requires_grad()) loss.backward();
      if (z.has_grad()) {
        const Tensor<T, Device>& g = z.grad();
        std::copy(g.data(), g.data() + g.numel(), grad);
      } else {
        std::fill(grad, grad + logits.numel(), T(0));  // the expression does not depend on the logits
      }
    } else {
      const NoGradGuard no_grad;
      value = static_cast<double>(run(autograd::Var<T, Device>(logits), labels).item());
    }

    // The samples whose largest logit (the first, on a tie) is their label.
    double correct = 0;
    const T* row = logits.data();
    for (std::int64_t n = 0; n < batch; ++n, row += classes)
      if (std::max_element(row, row + classes) - row == labels.data()[n]) correct += 1;
    const double count = static_cast<double>(batch);
    const double loss_sum = this->reduction() == Reduction::mean ? value * count : value;
    add_loss_batch(cpu{}, this->stats(), loss_sum, count, correct, count, batch_number, max_mean_loss);
  }

  // The expression's value, checked to be one number.
  autograd::Var<T, Device> run(const autograd::Var<T, Device>& logits, const Tensor<std::int32_t, Device>& labels) const {
    autograd::Var<T, Device> loss = expression_(logits, labels);
    if (loss.numel() != 1)
      throw std::invalid_argument(name_ + ": the expression must return the batch's loss as one number, got shape " +
                                  loss.shape().str() + " for logits " + logits.shape().str());
    return loss;
  }

  std::string name_;
  Expression expression_;
};

}  // namespace hnn
