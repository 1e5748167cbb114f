// The GPU instantiations of the lenet5 training run (examples/common/run.hpp) and of predict
// (compiled only when CUDA is enabled).
#include "../common/run_cuda.hpp"
#include "model.hpp"

template int hnn_example::run_training_cuda(const hnn_example::Options&, const lenet::Program&);

int hnn_example::run_predict_cuda(const PredictOptions& o) { return run_predict_on_cuda(o); }
