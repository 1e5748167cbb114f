// The GPU instantiations of the lenet5 training run (examples/common/run.hpp) and of predict
// (compiled only when CUDA is enabled).
#include <stdexcept>

#include "../common/predict.hpp"
#include "../common/run.hpp"
#include "model.hpp"

namespace lenet {

int run_training_cuda(const Options& o, const Program& program) {
  if (!hnn::cuda_available())
    throw std::runtime_error("--device cuda: no CUDA device is visible on this machine (use --device cpu)");
  return run_training<hnn::cuda>(o, program);
}

}  // namespace lenet

namespace hnn_example {

int run_predict_cuda(const PredictOptions& o) {
  if (!hnn::cuda_available())
    throw std::runtime_error("--device cuda: no CUDA device is visible on this machine (use --device cpu)");
  return run_predict<hnn::cuda>(o);
}

}  // namespace hnn_example
