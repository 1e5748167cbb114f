// Concat: branches run on the same input, their outputs joined along dim 1 (channels), as in
// Szegedy et al.'s Inception block (GoogLeNet) and DenseNet's dense block.
//
//   hnn::Concat({Conv2d(192, 64, 1), ReLU()},
//               {Conv2d(192, 96, 1), ReLU(), Conv2d(96, 128, 3).padding(1), ReLU()},
//               {MaxPool2d(3, 1).padding(1), Conv2d(192, 32, 1), ReLU()})
//   hnn::Concat({}, {BatchNorm2d(64), ReLU(), Conv2d(64, 32, 3).padding(1)})  // DenseNet: cat(x, f(x))
//   hnn::Inception(192, 64, {96, 128}, {16, 32}, 32)                          // d2l's block, below
//
// Each branch is a list of layer descriptions, any kinds (a Residual or a Concat too), run as
// its own Sequential, fusion included; an empty branch is the identity (the input itself). The
// branches' outputs must agree on every dim but 1. Backward hands each branch its channel
// range of dLoss/dOutput and sums the branches' input gradients.
//
// A Concat nests in a Sequential like any layer. Its children are the branches, named as
// PyTorch names a module that keeps them in an nn.ModuleList called `branches` of
// nn.Sequential (an identity branch being an nn.Identity, which holds nothing):
// "2.branches.1.2.weight" is layer 2 of branch 1 of the Concat that is layer 2 of the model.
// Checkpoints record the branch lengths as its sizes and the branches' layers, in order, as
// its sub-layers; safetensors files name its tensors so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hnn/kernels/add.hpp"
#include "hnn/kernels/channel_concat.hpp"
#include "hnn/layers/activation.hpp"
#include "hnn/layers/conv2d.hpp"
#include "hnn/layers/layer.hpp"
#include "hnn/layers/pool2d.hpp"
#include "hnn/model/sequential.hpp"

namespace hnn {

template <class T, class Device>
class ConcatLayer;

class Concat {
 public:
  static constexpr const char* kind = "Concat";
  template <class T, class Device>
  using layer = ConcatLayer<T, Device>;

  // One branch: its layers, first to last; empty for the identity.
  using Branch = std::vector<LayerSpec>;

  // Two, three or four branches, each a braced list: Concat({...}, {...}, ...).
  Concat(Branch b0, Branch b1) : Concat(std::vector<Branch>{std::move(b0), std::move(b1)}) {}
  Concat(Branch b0, Branch b1, Branch b2)
      : Concat(std::vector<Branch>{std::move(b0), std::move(b1), std::move(b2)}) {}
  Concat(Branch b0, Branch b1, Branch b2, Branch b3)
      : Concat(std::vector<Branch>{std::move(b0), std::move(b1), std::move(b2), std::move(b3)}) {}
  // Any number of branches, at least one.
  explicit Concat(std::vector<Branch> branches) : branches_(std::move(branches)) {
    if (branches_.empty()) detail::bad_input("Concat needs at least one branch");
  }

  const std::vector<Branch>& branches() const { return branches_; }

  // "Concat([Conv2d(...), ReLU()], [MaxPool2d(...), Conv2d(...)], identity)"
  std::string str() const {
    std::string s = "Concat(";
    for (std::size_t b = 0; b < branches_.size(); ++b) {
      if (b) s += ", ";
      if (branches_[b].empty()) {
        s += "identity";
        continue;
      }
      s += "[";
      for (std::size_t i = 0; i < branches_[b].size(); ++i) s += (i ? ", " : "") + branches_[b][i].str();
      s += "]";
    }
    return s + ")";
  }

  // The branches' common shape, with dim 1 the sum of theirs. Throws naming the branch (and
  // its layer) that does not fit, or two branches whose outputs differ outside dim 1.
  Shape output_shape(const Shape& input) const {
    Shape joined;
    for (std::size_t b = 0; b < branches_.size(); ++b) {
      const Shape s = branch_shape(b, input);
      if (s.rank() < 2)
        detail::bad_input("Concat joins its branches along dim 1 (channels), but branch " + std::to_string(b) +
                          "'s output " + s.str() + " has no dim 1");
      if (b == 0) {
        joined = s;
        continue;
      }
      if (!same_but_channels(s, joined))
        detail::bad_input("Concat: branch " + std::to_string(b) + "'s output " + s.str() + " and branch 0's " +
                          branch_shape(0, input).str() +
                          " differ outside dim 1 (channels), so they cannot be concatenated");
      joined[1] += s[1];
    }
    return joined;
  }

  // Whether a and b (both of rank >= 2) are equal in every dim but 1.
  static bool same_but_channels(const Shape& a, const Shape& b) {
    if (a.rank() != b.rank()) return false;
    for (int d = 0; d < a.rank(); ++d)
      if (d != 1 && a[d] != b[d]) return false;
    return true;
  }

  // Checkpoints record the branch lengths here (0 for an identity) and the branches' layers,
  // one branch after the other, as sub-layers.
  std::vector<std::int64_t> sizes() const {
    std::vector<std::int64_t> lengths;
    for (const Branch& b : branches_) lengths.push_back(static_cast<std::int64_t>(b.size()));
    return lengths;
  }
  std::vector<LayerSpec> children() const {
    std::vector<LayerSpec> all;
    for (const Branch& b : branches_) all.insert(all.end(), b.begin(), b.end());
    return all;
  }
  // "branches.<branch>.<layer>" of the k-th sub-layer.
  std::string child_name(std::size_t k) const {
    for (std::size_t b = 0; b < branches_.size(); ++b) {
      if (k < branches_[b].size()) return "branches." + std::to_string(b) + "." + std::to_string(k);
      k -= branches_[b].size();
    }
    throw std::out_of_range("Concat::child_name: sub-layer index past the last branch's layers");
  }
  static Concat from_parts(const std::vector<std::int64_t>& sizes, std::vector<LayerSpec> children) {
    std::int64_t total = 0;
    for (std::size_t b = 0; b < sizes.size(); ++b) {
      if (sizes[b] < 0 || sizes[b] > static_cast<std::int64_t>(children.size()))
        detail::bad_input("Concat records branch " + std::to_string(b) + " as " + std::to_string(sizes[b]) +
                          " layers, but " + std::to_string(children.size()) + " sub-layers were given in all");
      total += sizes[b];
    }
    if (total != static_cast<std::int64_t>(children.size()))
      detail::bad_input("Concat records branches of " + std::to_string(total) + " layers in all, but " +
                        std::to_string(children.size()) + " sub-layers were given");
    std::vector<Branch> branches;
    auto next = children.begin();
    for (const std::int64_t length : sizes) {
      branches.emplace_back(next, next + length);
      next += length;
    }
    return Concat(std::move(branches));
  }

 private:
  Shape branch_shape(std::size_t b, Shape s) const {
    const Branch& layers = branches_[b];
    for (std::size_t i = 0; i < layers.size(); ++i) {
      try {
        s = layers[i].output_shape(s);
      } catch (const std::invalid_argument& e) {
        detail::bad_input("Concat branch " + std::to_string(b) + ", layer " + std::to_string(i) + " of " +
                          std::to_string(layers.size()) + ": " + e.what());
      }
    }
    return s;
  }

  std::vector<Branch> branches_;
};

// d2l's Inception block ("Dive into Deep Learning", 8.4) as a Concat of four branches, each
// ending in a ReLU: a 1x1 convolution to c1 channels; a 1x1 to c2.first then a 3x3 (padding
// 1) to c2.second; a 1x1 to c3.first then a 5x5 (padding 2) to c3.second; a 3x3 max pooling
// (stride 1, padding 1) then a 1x1 to c4. The output has c1 + c2.second + c3.second + c4
// channels and the input's height and width.
inline Concat Inception(std::int64_t in_channels, std::int64_t c1, std::pair<std::int64_t, std::int64_t> c2,
                        std::pair<std::int64_t, std::int64_t> c3, std::int64_t c4) {
  return Concat({Conv2d(in_channels, c1, 1), ReLU()},
                {Conv2d(in_channels, c2.first, 1), ReLU(), Conv2d(c2.first, c2.second, 3).padding(1), ReLU()},
                {Conv2d(in_channels, c3.first, 1), ReLU(), Conv2d(c3.first, c3.second, 5).padding(2), ReLU()},
                {MaxPool2d(3, 1).padding(1), Conv2d(in_channels, c4, 1), ReLU()});
}

template <class T, class Device>
class ConcatLayer final : public Layer<T, Device> {
 public:
  explicit ConcatLayer(const Concat& d) {
    const auto& branches = d.branches();
    for (std::size_t b = 0; b < branches.size(); ++b) {
      branches_.push_back(branches[b].empty() ? nullptr : std::make_unique<Sequential<T, Device>>(branches[b]));
      if (branches_.back()) children_.push_back({"branches." + std::to_string(b), branches_.back().get()});
    }
    outputs_.resize(branches_.size());
    channels_.resize(branches_.size());
    grad_pieces_.resize(branches_.size());
    set_input_gradient(this->input_gradient());
  }

  std::size_t branch_count() const { return branches_.size(); }
  // Branch b's model; null for an identity branch.
  Sequential<T, Device>* branch(std::size_t b) { return branches_.at(b).get(); }

  const Tensor<T, Device>& forward(const Tensor<T, Device>& input) override {
    for (std::size_t b = 0; b < branches_.size(); ++b) {
      try {
        outputs_[b] = branches_[b] ? &branches_[b]->forward(input) : &input;
      } catch (const std::invalid_argument& e) {
        detail::bad_input("Concat branch " + std::to_string(b) + ": " + e.what());
      }
    }
    Shape joined = outputs_[0]->shape();
    for (std::size_t b = 0; b < branches_.size(); ++b) {  // Concat::output_shape refuses these before a model runs
      const Shape& s = outputs_[b]->shape();
      if (s.rank() < 2)
        detail::bad_input("Concat joins its branches along dim 1 (channels), but branch " + std::to_string(b) +
                          "'s output " + s.str() + " has no dim 1");
      if (!Concat::same_but_channels(s, outputs_[0]->shape()))
        detail::bad_input("Concat: branch " + std::to_string(b) + "'s output " + s.str() + " and branch 0's " +
                          outputs_[0]->shape().str() + " differ outside dim 1 (channels), so they cannot be concatenated");
      if (b > 0) joined[1] += s[1];
    }
    output_.resize(joined);
    forwarded_ = true;
    std::int64_t first = 0;
    for (std::size_t b = 0; b < branches_.size(); ++b) {
      channels_[b] = outputs_[b]->dim(1);
      copy_into_channels(Device{}, joined[0], joined[1], first, channels_[b], inner_size(joined), outputs_[b]->data(),
                         output_.data());
      first += channels_[b];
    }
    return output_;
  }

  // Each branch gets its channel range of grad_output; dLoss/dInput is the sum of the
  // branches' input gradients (an identity's being its range itself).
  const Tensor<T, Device>& backward(const Tensor<T, Device>& grad_output) override {
    if (!forwarded_) throw std::logic_error("Concat::backward: call forward() first");
    if (grad_output.shape() != output_.shape())
      detail::bad_input("Concat::backward: the gradient has shape " + grad_output.shape().str() +
                        ", the last forward() returned " + output_.shape().str() + "; they must be the same");
    const bool input_gradient = this->input_gradient();
    const Shape& joined = output_.shape();
    const Tensor<T, Device>* first_gradient = nullptr;  // the first branch's input gradient
    std::size_t gathered = 0;                           // input gradients summed so far
    std::int64_t first = 0;
    for (std::size_t b = 0; b < branches_.size(); ++b) {
      const std::int64_t begin = first, count = channels_[b];  // the branch's channels [begin, begin + count)
      first += count;
      if (!branches_[b] && !input_gradient) continue;  // an identity's range matters only to the input's gradient
      Shape piece = joined;
      piece[1] = count;
      grad_pieces_[b].resize(piece);
      copy_from_channels(Device{}, joined[0], joined[1], begin, count, inner_size(joined), grad_output.data(),
                         grad_pieces_[b].data());
      const Tensor<T, Device>& g = branches_[b] ? branches_[b]->backward(grad_pieces_[b]) : grad_pieces_[b];
      if (!input_gradient) continue;
      if (gathered == 0) {
        first_gradient = &g;
      } else if (gathered == 1) {
        grad_input_.resize(g.shape());
        add(Device{}, g.numel(), first_gradient->data(), g.data(), grad_input_.data());
      } else {
        add(Device{}, g.numel(), grad_input_.data(), g.data(), grad_input_.data());
      }
      ++gathered;
    }
    if (!input_gradient) return no_gradient_;  // empty: nothing upstream needs it
    return gathered == 1 ? *first_gradient : grad_input_;
  }

  void set_input_gradient(bool needed) override {
    Stage<T, Device>::set_input_gradient(needed);
    for (const auto& branch : branches_)
      if (branch) branch->set_input_gradient(needed);
  }

  // The branches: parameters, buffers, state_dict, initialisation, training mode and fusion
  // reach them through this (Layer's defaults).
  const std::vector<typename Layer<T, Device>::Child>& children() override { return children_; }

 private:
  // Elements per channel of a (N, C, ...) shape: the product of the dims after dim 1.
  static std::int64_t inner_size(const Shape& s) {
    std::int64_t n = 1;
    for (int d = 2; d < s.rank(); ++d) n *= s[d];
    return n;
  }

  std::vector<std::unique_ptr<Sequential<T, Device>>> branches_;  // null for an identity
  std::vector<typename Layer<T, Device>::Child> children_;        // the branches that are not the identity
  std::vector<const Tensor<T, Device>*> outputs_;                 // each branch's output (forward only)
  std::vector<std::int64_t> channels_;                            // each branch's channels in the last forward
  std::vector<Tensor<T, Device>> grad_pieces_;                    // each branch's range of dLoss/dOutput
  Tensor<T, Device> output_, grad_input_, no_gradient_;
  bool forwarded_ = false;
};

}  // namespace hnn
