// The execution plan of a model: what forward() and backward() actually run, stage by stage.
//
//   Sequential (structure: descriptions, layers, parameters)
//        |  compiled for an input shape, the layers' modes and the settings; serves every
//        |  batch size in the range its layers' choices hold for (Fusion::batches)
//        v
//   Plan: [stage, stage, ...]   a stage is one layer, or a fused run of layers with the same
//                               interface: the stage a layer's fuse() offers for itself and
//                               the layers after it (hnn/layers/layer.hpp)
//
// One rule, applied at every layer of every model (a Residual's branches are models too):
// where fusion is on and the layer offers a stage, the stage runs in place of the layers it
// takes. forward/backward are plain loops over the stages.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "hnn/layers/layer.hpp"

namespace hnn {

namespace detail {
inline std::string where(std::size_t layer, std::size_t layers) {
  return "layer " + std::to_string(layer) + " of " + std::to_string(layers) + ": ";
}
}  // namespace detail

template <class T, class Device>
class Plan {
 public:
  // One stage and the model layers [first, first + count) it runs.
  struct Step {
    Stage<T, Device>* stage;
    std::size_t first, count;
  };

  // Plans `layers` (described by `specs`) for inputs of `input`'s shape. Throws a ShapeError
  // naming the first layer the shape does not fit. input_gradient: whether backward() returns
  // dLoss/dInput (the first stage computes it only then).
  Plan(const std::vector<LayerSpec>& specs, const std::vector<std::unique_ptr<Layer<T, Device>>>& layers,
       const Shape& input, bool fusion, bool input_gradient)
      : input_(input), fusion_(fusion), input_gradient_(input_gradient) {
    Shape s = input;
    for (std::size_t i = 0; i < specs.size();) {
      Fusion<T, Device> fused;
      if (fusion)
        fused = layers[i]->fuse(FollowingLayers(specs.data() + i + 1, layers.data() + i + 1, specs.size() - i - 1), s);
      if (!fused.batches.contains(s[0]))
        throw std::logic_error("hnn: " + specs[i].str() + "'s fuse() answered for batches that exclude this one");
      batches_.min = std::max(batches_.min, fused.batches.min);
      batches_.max = std::min(batches_.max, fused.batches.max);
      const std::size_t count = fused.stage ? 1 + fused.absorbed : 1;
      if (i + count > specs.size())
        throw std::logic_error("hnn: " + specs[i].str() + "'s fused stage takes more layers than follow it");
      for (std::size_t k = i; k < i + count; ++k) s = output_shape(specs, k, s);
      Stage<T, Device>* stage = fused.stage ? fused.stage.get() : layers[i].get();
      if (fused.stage) fused_.push_back(std::move(fused.stage));
      steps_.push_back({stage, i, count});
      i += count;
    }
    output_ = s;
    for (const auto& layer : layers) modes_.push_back({layer.get(), layer->training()});
    apply_input_gradients();
  }

  // Whether this plan serves an input of `input`'s shape with these settings: the same sample
  // shape, a batch size in the range the layers' choices hold for, and every layer in the mode
  // it was planned in (a fused stage may run what only one mode needs).
  bool serves(const Shape& input, bool fusion, bool input_gradient) const {
    if (fusion != fusion_ || input_gradient != input_gradient_ || input.rank() != input_.rank()) return false;
    for (int d = 1; d < input.rank(); ++d)
      if (input[d] != input_[d]) return false;
    if (input.rank() > 0 && !batches_.contains(input[0])) return false;
    for (const Mode& mode : modes_)
      if (mode.layer->training() != mode.training) return false;
    return true;
  }

  // Tells each stage whether its backward() computes dLoss/dInput: all but the first, which
  // does only when the plan's input_gradient says so. Done when the plan is made, and again when
  // a model goes back to a plan it made before (stages may be layers other plans share).
  void apply_input_gradients() const {
    for (std::size_t k = 0; k < steps_.size(); ++k) steps_[k].stage->set_input_gradient(k != 0 || input_gradient_);
  }

  // The batch sizes this plan serves.
  const BatchRange& batches() const { return batches_; }

  const std::vector<Step>& steps() const { return steps_; }
  const Shape& output_shape() const { return output_; }

  // "Conv2d(...) + Sigmoid() + AvgPool2d(...) [fused] | Conv2d(...) | ...": one entry per stage.
  std::string describe(const std::vector<LayerSpec>& specs) const {
    std::string out;
    for (const Step& step : steps_) {
      if (!out.empty()) out += " | ";
      for (std::size_t k = step.first; k < step.first + step.count; ++k)
        out += (k == step.first ? "" : " + ") + specs[k].str();
      if (step.count > 1) out += " [fused]";
    }
    return out;
  }

  static Shape output_shape(const std::vector<LayerSpec>& specs, std::size_t i, const Shape& input) {
    try {
      return specs[i].output_shape(input);
    } catch (const std::invalid_argument& e) {
      throw ShapeError(detail::where(i, specs.size()) + e.what());
    }
  }

 private:
  struct Mode {
    const Layer<T, Device>* layer;
    bool training;
  };

  std::vector<Step> steps_;
  std::vector<std::unique_ptr<Stage<T, Device>>> fused_;
  std::vector<Mode> modes_;  // each layer's mode when planned
  BatchRange batches_;
  Shape input_, output_;
  bool fusion_, input_gradient_;
};

}  // namespace hnn
