// The optimizers and gradient clipping against PyTorch's own numbers:
// tests/fixtures/pytorch_optim.safetensors, written by tests/reference/make_pytorch_optim.py
// (torch.optim in float64 on values rounded to float32). Every case (SGD with momentum,
// dampening, Nesterov and weight decay; Adam and AdamW with weight decay and other betas;
// RMSprop with momentum, centering and weight decay; parameter groups) takes the fixture's
// four steps through make_optimizer() by name; every parameter after every step, and every
// clipped gradient and total norm, agree to 1e-5 relative in float32 and 1e-10 in float64.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "hnn/optim.hpp"
#include "pytorch_fixture.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

const PytorchFixture& fixture() { return pytorch_fixture("pytorch_optim.safetensors"); }
const char* const parameter_names[] = {"weight", "bias"};

// "lr:0.05,weight_decay:0" -> {{"lr", 0.05}, {"weight_decay", 0}}
OptimizerArgs group_args(const std::string& text) {
  OptimizerArgs args;
  for (const std::string& part : PytorchFixture::split(text, ',')) {
    const std::size_t colon = part.find(':');
    if (colon != std::string::npos) args[part.substr(0, colon)] = std::stod(part.substr(colon + 1));
  }
  return args;
}

template <class T>
void check_optimizer_case(const std::string& name) {
  SCOPED_TRACE(name);
  const PytorchFixture& f = fixture();
  const std::string prefix = "opt." + name + ".";
  const auto meta = PytorchFixture::options(f.meta("opt." + name));
  Tensor<T, cpu> values[2], grads[2];
  std::vector<Parameter<T, cpu>> parameters;
  for (int p = 0; p < 2; ++p) {
    values[p] = as<T>(f.at(prefix + "start." + parameter_names[p]));
    grads[p] = Tensor<T, cpu>(values[p].shape());
    parameters.push_back({parameter_names[p], &values[p], &grads[p]});
  }
  OptimizerArgs args;
  std::vector<ParameterGroup<T, cpu>> groups;
  for (const auto& [key, value] : meta) {
    if (key == "optimizer") continue;
    if (key.rfind("group", 0) == 0) continue;
    args[key] = std::stod(value);
  }
  if (meta.count("group0") != 0) {
    groups.push_back({{parameters[0]}, group_args(meta.at("group0"))});
    groups.push_back({{parameters[1]}, group_args(meta.at("group1"))});
  } else {
    groups = one_group(parameters);
  }
  auto optimizer = make_optimizer<T, cpu>(meta.at("optimizer"), groups, args);
  for (int k = 0; f.has(prefix + "grad" + std::to_string(k) + ".weight"); ++k) {
    for (int p = 0; p < 2; ++p) grads[p].copy_from(as<T>(f.at(prefix + "grad" + std::to_string(k) + "." + parameter_names[p])));
    optimizer->step();
    for (int p = 0; p < 2; ++p)
      EXPECT_LT(relative_error_to(values[p], f.at(prefix + "after" + std::to_string(k) + "." + parameter_names[p])),
                pytorch_tolerance<T>)
          << parameter_names[p] << " after step " << k + 1;
  }
  EXPECT_EQ(optimizer->steps(), 4);
}

TEST(OptimizersAgainstPytorch, EveryCaseInFloat32) {
  const auto cases = fixture().list("opt.cases");
  ASSERT_GE(cases.size(), 19u);
  for (const std::string& name : cases) check_optimizer_case<float>(name);
}

TEST(OptimizersAgainstPytorch, EveryCaseInFloat64) {
  for (const std::string& name : fixture().list("opt.cases")) check_optimizer_case<double>(name);
}

template <class T>
void check_clip_case(const std::string& name) {
  SCOPED_TRACE(name);
  const PytorchFixture& f = fixture();
  const auto meta = PytorchFixture::options(f.meta("clip." + name));
  Tensor<T, cpu> values[2], grads[2];
  std::vector<Parameter<T, cpu>> parameters;
  for (int p = 0; p < 2; ++p) {
    grads[p] = as<T>(f.at("clip." + name + ".grad." + parameter_names[p]));
    values[p] = Tensor<T, cpu>(grads[p].shape());
    parameters.push_back({parameter_names[p], &values[p], &grads[p]});
  }
  const double norm_type = meta.at("norm_type") == "inf" ? INFINITY : std::stod(meta.at("norm_type"));
  const double norm = clip_grad_norm(parameters, std::stod(meta.at("max_norm")), norm_type);
  EXPECT_LT(relative_error_to(norm, f.at("clip." + name + ".norm")[0]), pytorch_tolerance<T>) << "total norm " << norm;
  for (int p = 0; p < 2; ++p)
    EXPECT_LT(relative_error_to(grads[p], f.at("clip." + name + ".clipped." + parameter_names[p])), pytorch_tolerance<T>)
        << parameter_names[p];
}

TEST(ClipGradNormAgainstPytorch, EveryCaseInBothPrecisions) {
  const auto cases = fixture().list("clip.cases");
  ASSERT_EQ(cases.size(), 5u);
  for (const std::string& name : cases) {
    check_clip_case<float>(name);
    check_clip_case<double>(name);
  }
}

}  // namespace
