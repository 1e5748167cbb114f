// Where a LeNet-5 training step spends its time on the GPU: each layer's forward and
// backward timed with CUDA events at batch 256 (median of repeated runs), the conv layers'
// backward with both weight-gradient kernels, and a whole step eager and as a CUDA graph.
//   hnn_cuda_layer_times [batch]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../support/lenet5.hpp"
#include "hnn/training/cuda_graph.cuh"
#include "hnn/loss.hpp"
#include "hnn/optim.hpp"

using namespace hnn;

namespace {

// Median microseconds of `reps` runs of `work`, each timed with a pair of events.
template <class Work>
double median_us(Work&& work, int reps = 50) {
  cudaEvent_t start, stop;
  HNN_CUDA_CHECK(cudaEventCreate(&start));
  HNN_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 5; ++i) work();
  std::vector<float> times;
  for (int i = 0; i < reps; ++i) {
    HNN_CUDA_CHECK(cudaEventRecord(start, cuda_stream()));
    work();
    HNN_CUDA_CHECK(cudaEventRecord(stop, cuda_stream()));
    HNN_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    HNN_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms * 1000.0f);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::nth_element(times.begin(), times.begin() + reps / 2, times.end());
  return times[static_cast<std::size_t>(reps / 2)];
}

Tensor<float, cuda> random_device(const Shape& shape, Rng& rng, double scale) {
  Tensor<float, cpu> host(shape);
  for (std::int64_t i = 0; i < host.numel(); ++i) host[i] = static_cast<float>(rng.uniform(-scale, scale));
  return host.to<cuda>();
}

}  // namespace

int main(int argc, char** argv) {
  if (!cuda_available()) {
    std::puts("no CUDA device visible");
    return 0;
  }
  const std::int64_t batch = argc > 1 ? std::atoll(argv[1]) : 256;
  auto net = lenet::lenet5<float, cuda>();
  Rng rng(1);
  const Tensor<float, cuda> x = random_device(Shape{batch, 1, 28, 28}, rng, 1.0);

  // Record each layer's input and the gradient that reaches its output.
  std::vector<Tensor<float, cuda>> inputs{x}, grads(net.size());
  for (std::size_t i = 0; i < net.size(); ++i) inputs.push_back(net.layer(i).forward(inputs[i]).clone());
  Tensor<float, cuda> g = random_device(inputs.back().shape(), rng, 1e-3);
  for (std::size_t i = net.size(); i-- > 0;) {
    grads[i] = g;
    net.layer(i).forward(inputs[i]);
    const Tensor<float, cuda>& gi = net.layer(i).backward(g);
    if (i > 0) g = gi.clone();
  }

  std::printf("LeNet-5 (sigmoid) on the GPU, batch %lld: median of 50 timed runs per row\n",
              static_cast<long long>(batch));
  std::printf("%-46s %12s %12s\n", "layer", "forward us", "backward us");
  double total = 0;
  for (std::size_t i = 0; i < net.size(); ++i) {
    Layer<float, cuda>& layer = net.layer(i);
    const double f = median_us([&] { layer.forward(inputs[i]); });
    layer.forward(inputs[i]);
    const double b = median_us([&] { layer.backward(grads[i]); });
    std::printf("%-46s %12.1f %12.1f\n", net.spec(i).str().c_str(), f, b);
    total += f + b;
    if (const Conv2d* conv = net.spec(i).get_if<Conv2d>()) {
      // The backward pass without the input gradient: the weight gradient alone.
      layer.set_input_gradient(false);
      std::printf("%-46s %12s %12.1f\n", "  (backward, weight gradient only)", "",
                  median_us([&] { layer.backward(grads[i]); }));
      layer.set_input_gradient(i != 0);
      // The same convolution by the direct algorithm (the staged one's fallback).
      const Conv2dGeometry geo = conv->geometry(inputs[i].shape());
      const auto params = layer.parameters();
      Tensor<float, cuda> out(Shape{geo.batch, geo.out_channels, geo.out_height(), geo.out_width()});
      Tensor<float, cuda> dx(inputs[i].shape()), dw(params[0].value->shape()), db(params[1].value->shape());
      Tensor<float, cuda> ws(Shape{conv2d_workspace_size(cuda{}, geo)});
      const auto direct = Conv2dAlgorithm::direct;
      std::printf("%-46s %12.1f %12.1f\n", "  (direct algorithm)", median_us([&] {
                    conv2d_forward(cuda{}, geo, inputs[i].data(), params[0].value->data(), params[1].value->data(),
                                   out.data(), ws.data(), direct);
                  }),
                  median_us([&] {
                    conv2d_backward(cuda{}, geo, inputs[i].data(), params[0].value->data(), grads[i].data(),
                                    i != 0 ? dx.data() : nullptr, dw.data(), db.data(), ws.data(), direct);
                  }));
    }
  }
  std::printf("%-46s %25.1f\n", "sum of layers", total);

  SoftmaxCrossEntropy<float, cuda> loss;
  SGD<float, cuda> sgd(net.parameters(), {0.01, 0, 0});
  Tensor<std::int32_t, cpu> host_labels(Shape{batch});
  for (std::int64_t i = 0; i < batch; ++i) host_labels[i] = static_cast<std::int32_t>(i % 10);
  const Tensor<std::int32_t, cuda> labels = host_labels.to<cuda>();
  auto step = [&] {
    net.backward(loss.forward_backward(net.forward(x), labels));
    sgd.step();
  };
  std::printf("%-46s %25.1f\n", "loss forward+backward", median_us([&] { loss.forward_backward(net.forward(x), labels); }) -
                                                            median_us([&] { net.forward(x); }));
  std::printf("%-46s %25.1f\n", "SGD step (10 tensors)", median_us([&] { sgd.step(); }));
  const double eager = median_us(step);
  StepLauncher<cuda> launcher;
  const double graph = median_us([&] { launcher.run(step); });
  std::printf("%-46s %25.1f  (%.0f examples/sec)\n", "whole step, eager launches", eager, batch / eager * 1e6);
  std::printf("%-46s %25.1f  (%.0f examples/sec)\n", "whole step, CUDA graph replay", graph, batch / graph * 1e6);
  return 0;
}
