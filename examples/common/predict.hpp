// `<program> predict` (lenet5 predict): classifies image files with a saved model and prints, per image, the
// most likely classes with their probabilities. Written once for every device.
#pragma once

#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <hnn/io/checkpoint.hpp>
#include <hnn/data/mnist.hpp>
#include <hnn/extras/image.hpp>
#include <hnn/training/predict.hpp>

#include "image_io.hpp"

namespace hnn_example {

struct PredictOptions {
  std::string model_path;
  std::vector<std::string> images;
  std::string device = "cpu";
  int top = 3;
  int threads = 0;
};

// The class names a checkpoint records (one per line), else Fashion-MNIST's for 10 classes,
// else the class numbers.
inline std::vector<std::string> class_names(const hnn::CheckpointExtras& extras, std::int64_t classes) {
  std::vector<std::string> names;
  const auto it = extras.metadata.find("classes");
  if (it != extras.metadata.end()) {
    std::istringstream in(it->second);
    for (std::string line; std::getline(in, line);) names.push_back(line);
  }
  if (static_cast<std::int64_t>(names.size()) == classes) return names;
  names.clear();
  if (classes == 10)
    for (const auto& n : hnn::data::fashion_mnist_classes()) names.emplace_back(n);
  else
    for (std::int64_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  return names;
}

// Runs the predictions and returns the report that `lenet5 predict` prints:
//
//   shirt.png (300x400, light background, inverted, cropped)
//     Shirt          0.812
//     T-shirt/top    0.153
//     Coat           0.021
template <class Device>
std::string predict_report(hnn::Sequential<float, Device>& model, const hnn::CheckpointExtras& extras,
                           const PredictOptions& o) {
  const int size = 28;

  std::vector<hnn::ModelInput> inputs;
  std::vector<std::string> sizes;
  for (const std::string& path : o.images) {
    const hnn::Image image = read_image_file(path);
    sizes.push_back(std::to_string(image.width) + "x" + std::to_string(image.height));
    inputs.push_back(hnn::fashion_mnist_input(image, size));
  }
  const std::int64_t n = static_cast<std::int64_t>(inputs.size());
  hnn::Tensor<float, hnn::cpu> batch(hnn::Shape{n, 1, size, size});
  for (std::int64_t i = 0; i < n; ++i)
    std::copy(inputs[static_cast<std::size_t>(i)].pixels.begin(), inputs[static_cast<std::size_t>(i)].pixels.end(),
              batch.data() + i * size * size);
  const hnn::Shape out = model.output_shape(batch.shape());  // a clear error if the model does not take 28x28 images
  const hnn::Tensor<float, hnn::cpu> p =
      hnn::predict_probabilities(model, batch.template to<Device>(), 1000);
  const std::vector<std::string> names = class_names(extras, out[1]);

  std::ostringstream report;
  char line[160];
  for (std::int64_t i = 0; i < n; ++i) {
    const hnn::ModelInput& in = inputs[static_cast<std::size_t>(i)];
    report << o.images[static_cast<std::size_t>(i)] << " (" << sizes[static_cast<std::size_t>(i)]
           << (in.inverted ? ", light background, inverted" : ", dark background") << (in.cropped ? ", cropped" : "")
           << ")\n";
    for (const hnn::Scored& s : hnn::top_k(p, i, o.top)) {
      std::snprintf(line, sizeof line, "  %-13s %.3f\n", names[static_cast<std::size_t>(s.label)].c_str(), s.score);
      report << line;
    }
  }
  return report.str();
}

template <class Device>
std::string predict_report(const PredictOptions& o) {
  hnn::CheckpointExtras extras;
  auto model = hnn::load_model<float, Device>(o.model_path, &extras);
  return predict_report(model, extras, o);
}

template <class Device>
int run_predict(const PredictOptions& o) {
  std::fputs(predict_report<Device>(o).c_str(), stdout);
  return 0;
}

#if defined(HNN_WITH_CUDA)
// Defined by each program's CUDA file (lenet5/lenet5_cuda.cu); throws when no GPU is visible.
int run_predict_cuda(const PredictOptions& o);
#endif

}  // namespace hnn_example
