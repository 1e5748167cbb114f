// The GPU side of an example program, for its <name>_cuda.cu (compiled by nvcc when CUDA is
// enabled): the definition of run_training_cuda, which that file instantiates for its Program.
#pragma once

#include <stdexcept>

#include "predict.hpp"
#include "run.hpp"

namespace hnn_example {

template <class Program>
int run_training_cuda(const Options& o, const Program& program) {
  if (!hnn::cuda_available())
    throw std::runtime_error("--device cuda: no CUDA device is visible on this machine (use --device cpu)");
  return run_training<hnn::cuda>(o, program);
}

// For the program's one definition of run_predict_cuda (predict.hpp).
inline int run_predict_on_cuda(const PredictOptions& o) {
  if (!hnn::cuda_available())
    throw std::runtime_error("--device cuda: no CUDA device is visible on this machine (use --device cpu)");
  return run_predict<hnn::cuda>(o);
}

}  // namespace hnn_example
