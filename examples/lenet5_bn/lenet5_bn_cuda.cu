// The GPU instantiations of the lenet5_bn training run and predict (compiled only with CUDA).
#include "../common/run_cuda.hpp"
#include "model.hpp"

template int hnn_example::run_training_cuda(const hnn_example::Options&, const lenet5_bn::Program&);

int hnn_example::run_predict_cuda(const PredictOptions& o) { return run_predict_on_cuda(o); }
