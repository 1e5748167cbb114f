// A user of the opt-in components (find_package(hnn REQUIRED COMPONENTS safetensors [onnx])):
// a small model through safetensors and, when built with HNN_CONSUMER_ONNX, through ONNX,
// each read back and checked against the original's output.
#include <hnn/hnn.hpp>
#include <hnn/safetensors.hpp>
#if defined(HNN_CONSUMER_ONNX)
#include <hnn/onnx.hpp>
#endif

#include <cmath>
#include <cstdio>
#include <string>

namespace {

hnn::Sequential<float> small_model(std::uint64_t seed) {
  using namespace hnn;
  return Sequential<float>({Conv2d(1, 2, 3).padding(1), ReLU(), MaxPool2d(2), Flatten(), Linear(2 * 2 * 2, 3)}, seed);
}

bool same_outputs(hnn::Sequential<float>& a, hnn::Sequential<float>& b, const char* what) {
  hnn::Tensor<float> x(hnn::Shape{2, 1, 4, 4});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = std::sin(0.3f * static_cast<float>(i));
  a.eval();
  b.eval();
  const auto ya = a.forward(x).to_vector(), yb = b.forward(x).to_vector();
  for (std::size_t i = 0; i < ya.size(); ++i)
    if (std::fabs(ya[i] - yb[i]) > 1e-6f) {
      std::printf("hnn consumer: %s: output %zu differs (%g vs %g)\n", what, i, ya[i], yb[i]);
      return false;
    }
  std::printf("hnn consumer: %s: %zu outputs equal\n", what, ya.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  auto model = small_model(1);
  hnn::save_safetensors(model, dir + "/consumer.safetensors");
  auto back = hnn::load_model_safetensors<float>(dir + "/consumer.safetensors");
  bool ok = same_outputs(model, back, "safetensors");
#if defined(HNN_CONSUMER_ONNX)
  hnn::export_onnx(model, dir + "/consumer.onnx", hnn::Shape{1, 1, 4, 4});
  auto from_onnx = hnn::load_onnx<float>(dir + "/consumer.onnx");
  ok = same_outputs(model, from_onnx, "onnx") && ok;
#endif
  return ok ? 0 : 1;
}
