// The execution plan of a model: what forward() and backward() actually run, stage by stage.
//
//   Sequential (structure: descriptions, layers, parameters)
//        |  compiled once per input shape (and again when it changes or a setting does)
//        v
//   Plan: [stage, stage, ...]   a stage is one layer, or a fused run of layers with the same
//                               interface: the stage a layer's fuse() offers for itself and
//                               the layers after it (hnn/layers/layer.hpp)
//
// One rule, applied at every layer of every model (a Residual's branches are models too):
// where fusion is on and the layer offers a stage, the stage runs in place of the layers it
// takes. forward/backward are plain loops over the stages.
#pragma once

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
      if (fusion) fused = layers[i]->fuse(FollowingLayers(specs.data() + i + 1, specs.size() - i - 1), s);
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
    for (std::size_t k = 0; k < steps_.size(); ++k) steps_[k].stage->set_input_gradient(k != 0 || input_gradient);
  }

  // Whether this plan serves an input of `input`'s shape with these settings (the batch size may differ).
  bool serves(const Shape& input, bool fusion, bool input_gradient) const {
    if (fusion != fusion_ || input_gradient != input_gradient_ || input.rank() != input_.rank()) return false;
    for (int d = 1; d < input.rank(); ++d)
      if (input[d] != input_[d]) return false;
    return true;
  }

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
  std::vector<Step> steps_;
  std::vector<std::unique_ptr<Stage<T, Device>>> fused_;
  Shape input_, output_;
  bool fusion_, input_gradient_;
};

}  // namespace hnn
