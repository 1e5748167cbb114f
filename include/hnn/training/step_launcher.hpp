// How a device runs the same training step again and again. The CPU simply calls it;
// the CUDA specialisation (hnn/training/cuda_graph.cuh) records the step once into a CUDA graph
// and replays it, which removes the per-kernel launch cost of a small network.
#pragma once

namespace hnn {

template <class Device>
class StepLauncher {
 public:
  // `step` must touch the same buffers every time and must not allocate or synchronise.
  template <class Step>
  void run(Step&& step) {
    step();
  }
  // Forgets what was recorded: the next run() starts over (after a change to the arguments
  // the step's kernels take, such as the learning rate).
  void reset() {}
};

}  // namespace hnn
