// StepLauncher<cuda>: runs the training step eagerly once (which sizes every buffer and
// lets lazy initialisation happen), records it into a CUDA graph on the second call, and
// replays the graph from then on. A LeNet step is ~40 tiny kernels; replaying them as one
// graph removes most of the per-launch cost. HNN_CUDA_GRAPHS=0 turns recording off.
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>

#include "hnn/cuda/memory.cuh"
#include "hnn/training/step_launcher.hpp"

namespace hnn {

template <>
class StepLauncher<cuda> {
 public:
  StepLauncher() {
    const char* env = std::getenv("HNN_CUDA_GRAPHS");
    enabled_ = env == nullptr || std::strcmp(env, "0") != 0;
  }
  StepLauncher(const StepLauncher&) = delete;
  StepLauncher& operator=(const StepLauncher&) = delete;
  ~StepLauncher() {
    if (exec_ != nullptr) cudaGraphExecDestroy(exec_);
  }

  // Forgets the recorded graph, which holds the kernels' arguments (the learning rate among
  // them) as they were: the next run() runs eagerly and the one after records again.
  void reset() {
    if (exec_ != nullptr) {
      HNN_CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));  // no replay of it may still be running
      cudaGraphExecDestroy(exec_);
    }
    exec_ = nullptr;
    calls_ = 0;
  }

  template <class Step>
  void run(Step&& step) {
    if (exec_ != nullptr) {
      HNN_CUDA_CHECK(cudaGraphLaunch(exec_, cuda_stream()));
      return;
    }
    if (!enabled_ || calls_++ == 0) {
      step();
      return;
    }
    cudaGraph_t graph = nullptr;
    HNN_CUDA_CHECK(cudaStreamBeginCapture(cuda_stream(), cudaStreamCaptureModeThreadLocal));
    try {
      step();
    } catch (...) {
      cudaStreamEndCapture(cuda_stream(), &graph);
      if (graph != nullptr) cudaGraphDestroy(graph);
      throw;
    }
    HNN_CUDA_CHECK(cudaStreamEndCapture(cuda_stream(), &graph));
    const cudaError_t status = cudaGraphInstantiate(&exec_, graph, 0);
    cudaGraphDestroy(graph);
    HNN_CUDA_CHECK(status);
    HNN_CUDA_CHECK(cudaGraphLaunch(exec_, cuda_stream()));
  }

 private:
  cudaGraphExec_t exec_ = nullptr;
  int calls_ = 0;
  bool enabled_ = true;
};

}  // namespace hnn
