// The CUDA twins of the tensor-maths kernels (kernels/{elementwise,reduce,copy,matmul}.hpp)
// against their CPU kernels on random inputs, through hnn/ops.hpp: every unary and binary op
// (flat, scalar and strided broadcasts), where, the loss-value conversion, sum/max/min over
// several dimension sets (the block-per-output and thread-per-output kernels), argmax/argmin,
// permute/slice/cat/broadcast_to, matmul (batched, broadcast, transposed; float and double).
// Then autograd on the GPU: an expression's gradients and a model node with cross_entropy
// against the same on the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_test_util.cuh"
#include "hnn/autograd.hpp"
#include "hnn/ops.hpp"

using namespace hnn;
using namespace hnn::testing;

namespace {

Tensor<float> host_random(const Shape& s, Rng& rng, double low = -1, double high = 1) {
  Tensor<float> t(s);
  for (std::int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(rng.uniform(low, high));
  return t;
}

std::vector<float> values(const Tensor<float, cpu>& t) { return t.to_vector(); }
std::vector<float> values(const Tensor<float, cuda>& t) { return to_host(t); }

TEST(CudaOps, UnaryOpsMatchCpu) {
  HNN_REQUIRE_GPU();
  Rng rng(1);
  for (UnaryOp op : {UnaryOp::neg, UnaryOp::exp, UnaryOp::log, UnaryOp::sqrt, UnaryOp::abs, UnaryOp::sign, UnaryOp::relu,
                     UnaryOp::sigmoid, UnaryOp::tanh, UnaryOp::clamp, UnaryOp::inside}) {
    SCOPED_TRACE(op_name(op));
    const bool positive = op == UnaryOp::log || op == UnaryOp::sqrt;
    const Tensor<float> x = host_random(Shape{1000, 37}, rng, positive ? 0.1 : -5, 5);
    const Tensor<float> cpu_out = ops::unary(op, x, -1.0f, 2.0f);
    const Tensor<float, cuda> gpu_out = ops::unary(op, x.to<cuda>(), -1.0f, 2.0f);
    EXPECT_TRUE(all_close(values(gpu_out), values(cpu_out)));
  }
}

TEST(CudaOps, BinaryOpsMatchCpuOverBroadcasts) {
  HNN_REQUIRE_GPU();
  Rng rng(2);
  const std::vector<std::pair<Shape, Shape>> pairs = {{Shape{64, 33}, Shape{64, 33}},  // flat
                                                      {Shape{64, 33}, Shape{1}},        // flat with a scalar
                                                      {Shape{8, 1, 33}, Shape{5, 1}},   // strided
                                                      {Shape{2, 3, 1, 5}, Shape{3, 4, 1}},
                                                      {Shape{}, Shape{7, 3}}};
  for (int o = 0; o <= static_cast<int>(BinaryOp::tanh_backward); ++o) {
    const BinaryOp op = static_cast<BinaryOp>(o);
    for (const auto& [sa, sb] : pairs) {
      SCOPED_TRACE(std::string(op_name(op)) + " " + sa.str() + " with " + sb.str());
      Tensor<float> a = host_random(sa, rng, 0.5, 2), b = host_random(sb, rng, 0.5, 2);
      for (std::int64_t i = 0; i < a.numel(); i += 4) a[i] = 1;  // ties for the comparisons
      for (std::int64_t i = 0; i < b.numel(); i += 3) b[i] = 1;
      EXPECT_TRUE(all_close(values(ops::binary(op, a.to<cuda>(), b.to<cuda>())), values(ops::binary(op, a, b))));
      EXPECT_TRUE(all_close(values(ops::binary(op, a.to<cuda>(), 1.25f)), values(ops::binary(op, a, 1.25f))))
          << "tensor op scalar";
      EXPECT_TRUE(all_close(values(ops::binary(op, 0.75f, b.to<cuda>())), values(ops::binary(op, 0.75f, b))))
          << "scalar op tensor";
    }
  }
}

TEST(CudaOps, WhereFullAndConvertMatchCpu) {
  HNN_REQUIRE_GPU();
  Rng rng(3);
  const Tensor<float> c = ops::gt(host_random(Shape{6, 1}, rng), 0.0f), a = host_random(Shape{3, 6, 5}, rng),
                      b = host_random(Shape{5}, rng);
  EXPECT_TRUE(all_close(values(ops::where(c.to<cuda>(), a.to<cuda>(), b.to<cuda>())), values(ops::where(c, a, b))));
  EXPECT_TRUE(all_close(values(ops::where(c.to<cuda>(), a.to<cuda>(), -2.0f)), values(ops::where(c, a, -2.0f))));
  EXPECT_TRUE(all_close(values(ops::full<float, cuda>(Shape{3, 4}, 1.5f)), std::vector<float>(12, 1.5f)));
  const double totals[3] = {3.0, -6.5, 1e-3};
  Tensor<double, cuda> in = Tensor<double, cuda>::from_host(Shape{3}, totals);
  auto out = poisoned<float>(3);
  convert_scaled(cuda{}, 3, in.data(), out.data(), 0.5);
  std::vector<float> expected(3);
  convert_scaled(cpu{}, 3, totals, expected.data(), 0.5);
  EXPECT_TRUE(all_close(to_host(out), expected));
}

TEST(CudaOps, ReductionsMatchCpu) {
  HNN_REQUIRE_GPU();
  Rng rng(4);
  const Tensor<float> x = host_random(Shape{16, 24, 40}, rng);
  const Tensor<float, cuda> xd = x.to<cuda>();
  const std::vector<ops::Dims> dim_sets = {ops::Dims(0), ops::Dims(1), ops::Dims(2), ops::Dims{0, 2}, ops::Dims{1, 2},
                                           ops::Dims{}};
  for (std::size_t s = 0; s < dim_sets.size(); ++s) {
    SCOPED_TRACE("dimension set " + std::to_string(s));
    EXPECT_TRUE(all_close(values(ops::sum(xd, dim_sets[s], true)), values(ops::sum(x, dim_sets[s], true))));
    EXPECT_TRUE(all_close(values(ops::amax(xd, dim_sets[s])), values(ops::amax(x, dim_sets[s]))));
    EXPECT_TRUE(all_close(values(ops::amin(xd, dim_sets[s])), values(ops::amin(x, dim_sets[s]))));
    EXPECT_TRUE(all_close(values(ops::logsumexp(xd, dim_sets[s])), values(ops::logsumexp(x, dim_sets[s]))));
    EXPECT_TRUE(all_close(values(ops::mean(xd, dim_sets[s])), values(ops::mean(x, dim_sets[s]))));
  }
  for (int d = 0; d < 3; ++d) {
    SCOPED_TRACE("dim " + std::to_string(d));
    EXPECT_TRUE(all_close(values(ops::softmax(xd, d)), values(ops::softmax(x, d))));
    EXPECT_TRUE(all_close(values(ops::log_softmax(xd, d)), values(ops::log_softmax(x, d))));
    EXPECT_TRUE(all_equal(to_host(ops::argmax(xd, d)), ops::argmax(x, d).to_vector()));
    EXPECT_TRUE(all_equal(to_host(ops::argmin(xd, d, true)), ops::argmin(x, d, true).to_vector()));
  }
  EXPECT_TRUE(all_close(values(ops::sum_to(xd, Shape{24, 1})), values(ops::sum_to(x, Shape{24, 1}))));
}

TEST(CudaOps, ShapeOpsMatchCpu) {
  HNN_REQUIRE_GPU();
  Rng rng(5);
  const Tensor<float> x = host_random(Shape{3, 4, 5, 6}, rng), y = host_random(Shape{3, 2, 5, 6}, rng);
  const Tensor<float, cuda> xd = x.to<cuda>(), yd = y.to<cuda>();
  EXPECT_TRUE(all_equal(to_host(ops::permute(xd, {3, 1, 0, 2})), ops::permute(x, {3, 1, 0, 2}).to_vector()));
  EXPECT_TRUE(all_equal(to_host(ops::transpose(xd, -1, -2)), ops::transpose(x, -1, -2).to_vector()));
  EXPECT_TRUE(all_equal(to_host(ops::slice(xd, 2, 1, 5, 2)), ops::slice(x, 2, 1, 5, 2).to_vector()));
  EXPECT_TRUE(all_equal(to_host(ops::unslice(ops::slice(xd, 1, 1, 3), x.shape(), 1, 1, 3)),
                        ops::unslice(ops::slice(x, 1, 1, 3), x.shape(), 1, 1, 3).to_vector()));
  EXPECT_TRUE(all_equal(to_host(ops::cat({xd, yd}, 1)), ops::cat({x, y}, 1).to_vector()));
  EXPECT_TRUE(all_equal(to_host(ops::stack({xd, xd}, 3)), ops::stack({x, x}, 3).to_vector()));
  EXPECT_TRUE(all_equal(to_host(ops::broadcast_to(ops::slice(xd, 1, 0, 1), x.shape())),
                        ops::broadcast_to(ops::slice(x, 1, 0, 1), x.shape()).to_vector()));
}

TEST(CudaOps, MatmulMatchesCpu) {
  HNN_REQUIRE_GPU();
  Rng rng(6);
  const std::vector<std::pair<Shape, Shape>> cases = {{Shape{64, 48}, Shape{48, 80}}, {Shape{4, 17, 9}, Shape{4, 9, 13}},
                                                      {Shape{4, 17, 9}, Shape{9, 13}},  {Shape{2, 1, 5, 7}, Shape{3, 7, 4}},
                                                      {Shape{7}, Shape{2, 7, 3}}};
  for (const auto& [sa, sb] : cases) {
    SCOPED_TRACE(sa.str() + " @ " + sb.str());
    const Tensor<float> a = host_random(sa, rng), b = host_random(sb, rng);
    EXPECT_TRUE(all_close(values(ops::matmul(a.to<cuda>(), b.to<cuda>())), values(ops::matmul(a, b))));
  }
  const Tensor<float> a = host_random(Shape{3, 10, 6}, rng), b = host_random(Shape{10, 8}, rng),
                      c = host_random(Shape{5, 6}, rng);
  EXPECT_TRUE(all_close(values(ops::matmul_transposed(a.to<cuda>(), true, b.to<cuda>(), false)),
                        values(ops::matmul_transposed(a, true, b, false))));
  EXPECT_TRUE(all_close(values(ops::matmul_transposed(a.to<cuda>(), false, c.to<cuda>(), true)),
                        values(ops::matmul_transposed(a, false, c, true))));
  // Double through cuBLAS's Dgemm.
  Tensor<double> ad(Shape{3, 20, 30}), bd(Shape{30, 10});
  for (std::int64_t i = 0; i < ad.numel(); ++i) ad[i] = rng.uniform(-1, 1);
  for (std::int64_t i = 0; i < bd.numel(); ++i) bd[i] = rng.uniform(-1, 1);
  const std::vector<double> gpu = ops::matmul(ad.to<cuda>(), bd.to<cuda>()).to_vector(), host = ops::matmul(ad, bd).to_vector();
  for (std::size_t i = 0; i < host.size(); ++i) ASSERT_NEAR(gpu[i], host[i], 1e-12) << i;
}

// Autograd on the GPU: the same graph's gradients as on the CPU.
TEST(CudaAutograd, AttentionGradientsMatchCpu) {
  HNN_REQUIRE_GPU();
  Rng rng(7);
  const Tensor<float> q = host_random(Shape{2, 4, 8}, rng), k = host_random(Shape{2, 6, 8}, rng),
                      v = host_random(Shape{2, 6, 5}, rng);
  const auto run = [&](auto device) {
    using D = decltype(device);
    Var<float, D> qv(q.to<D>(), true), kv(k.to<D>(), true), vv(v.to<D>(), true);
    const Var<float, D> out = matmul(softmax(matmul(qv, transpose(kv, -2, -1)) / 3.0f, -1), vv);
    (out * out).mean().backward();
    return std::vector<Tensor<float>>{out.value().template to<cpu>(), qv.grad().template to<cpu>(),
                                      kv.grad().template to<cpu>(), vv.grad().template to<cpu>()};
  };
  const auto on_cpu = run(cpu{}), on_gpu = run(cuda{});
  for (std::size_t i = 0; i < on_cpu.size(); ++i) EXPECT_TRUE(all_close(values(on_gpu[i]), values(on_cpu[i]))) << i;
}

TEST(CudaAutograd, ModelNodeAndCrossEntropyMatchCpu) {
  HNN_REQUIRE_GPU();
  Rng rng(8);
  Sequential<float, cpu> net_cpu(Linear(12, 16), ReLU(), Linear(16, 5));
  Sequential<float, cuda> net_gpu(Linear(12, 16), ReLU(), Linear(16, 5));
  net_gpu.copy_parameters_from(net_cpu);
  const Tensor<float> x = host_random(Shape{32, 12}, rng);
  Tensor<std::int32_t> labels(Shape{32});
  for (int i = 0; i < 32; ++i) labels[i] = static_cast<std::int32_t>(rng.below(5));
  Var<float, cpu> x_cpu(x, true);
  Var<float, cuda> x_gpu(x.to<cuda>(), true);
  const Var<float, cpu> loss_cpu = cross_entropy(net_cpu(x_cpu), labels) + 0.1f * (x_cpu * x_cpu).mean();
  const Var<float, cuda> loss_gpu = cross_entropy(net_gpu(x_gpu), labels.to<cuda>()) + 0.1f * (x_gpu * x_gpu).mean();
  loss_cpu.backward();
  loss_gpu.backward();
  EXPECT_TRUE(relatively_close(loss_gpu.item(), loss_cpu.item(), 1e-5));
  EXPECT_TRUE(all_close(values(x_gpu.grad()), values(x_cpu.grad())));
  for (std::size_t p = 0; p < net_cpu.parameters().size(); ++p)
    EXPECT_TRUE(all_close(to_host(*net_gpu.parameters()[p].grad), values(*net_cpu.parameters()[p].grad)))
        << net_cpu.parameter_names()[p];
}

}  // namespace
