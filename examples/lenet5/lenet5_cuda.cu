// The GPU instantiation of the lenet5 training run (compiled only when CUDA is enabled).
#include <stdexcept>

#include "run.hpp"

namespace lenet {

int run_training_cuda(const Options& o) {
  if (!hnn::cuda_available())
    throw std::runtime_error("--device cuda: no CUDA device is visible on this machine (use --device cpu)");
  return run_training<hnn::cuda>(o);
}

}  // namespace lenet
