// The GPU instantiations of the lenet5 training run and of predict (compiled only when CUDA
// is enabled).
#include <stdexcept>

#include "predict.hpp"
#include "run.hpp"

namespace lenet {

int run_training_cuda(const Options& o) {
  if (!hnn::cuda_available())
    throw std::runtime_error("--device cuda: no CUDA device is visible on this machine (use --device cpu)");
  return run_training<hnn::cuda>(o);
}

int run_predict_cuda(const PredictOptions& o) {
  if (!hnn::cuda_available())
    throw std::runtime_error("--device cuda: no CUDA device is visible on this machine (use --device cpu)");
  return run_predict<hnn::cuda>(o);
}

}  // namespace lenet
