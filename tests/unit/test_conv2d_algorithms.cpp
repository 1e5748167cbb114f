// Every CPU Conv2d algorithm (kernels/conv2d.hpp), selected explicitly, against im2col, the
// reference that runs any geometry; and the face's choice and refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gradient_check.hpp"
#include "hnn/kernels/conv2d.hpp"
#include "hnn/parallel.hpp"

using namespace hnn;
using hnn::testing::random_tensor;

namespace {

Conv2dGeometry geometry(std::int64_t batch, std::int64_t in, std::int64_t h, std::int64_t w, std::int64_t out,
                        std::int64_t kernel, std::int64_t padding, std::int64_t stride = 1) {
  Conv2dGeometry g;
  g.batch = batch;
  g.in_channels = in;
  g.in_height = h;
  g.in_width = w;
  g.out_channels = out;
  g.kernel = kernel;
  g.padding = padding;
  g.stride = stride;
  return g;
}

struct Result {
  Tensor<double> y, dx, dw, db;
};

Result run(const Conv2dGeometry& g, Conv2dAlgorithm algorithm, const Tensor<double>& x, const Tensor<double>& w,
           const Tensor<double>& b, const Tensor<double>& dy) {
  Result r{Tensor<double>(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()}), Tensor<double>(x.shape()),
           Tensor<double>(w.shape()), Tensor<double>(b.shape())};
  Tensor<double> ws(Shape{conv2d_workspace_size(cpu{}, g, algorithm)});
  conv2d_forward(cpu{}, g, x.data(), w.data(), b.data(), r.y.data(), ws.data(), algorithm);
  conv2d_backward(cpu{}, g, x.data(), w.data(), dy.data(), r.dx.data(), r.dw.data(), r.db.data(), ws.data(),
                  algorithm);
  return r;
}

void expect_close(const Tensor<double>& a, const Tensor<double>& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (std::int64_t i = 0; i < a.numel(); ++i)
    ASSERT_NEAR(a[i], b[i], 1e-10 * (1 + std::abs(b[i]))) << what << "[" << i << "]";
}

TEST(Conv2dAlgorithms, DirectMatchesIm2colOnStrideOneGeometries) {
  for (const int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Conv2dGeometry& g : {geometry(3, 1, 28, 28, 6, 5, 2), geometry(5, 6, 14, 14, 16, 5, 0),
                                    geometry(2, 3, 7, 9, 4, 3, 1), geometry(4, 2, 6, 5, 3, 1, 0)}) {
      ASSERT_TRUE(supports(cpu{}, Conv2dAlgorithm::direct, g));
      Rng rng(static_cast<std::uint64_t>(g.in_channels * 100 + g.kernel));
      const Tensor<double> x = random_tensor(Shape{g.batch, g.in_channels, g.in_height, g.in_width}, rng);
      const Tensor<double> w = random_tensor(Shape{g.out_channels, g.in_channels, g.kernel, g.kernel}, rng);
      const Tensor<double> b = random_tensor(Shape{g.out_channels}, rng);
      const Tensor<double> dy = random_tensor(Shape{g.batch, g.out_channels, g.out_height(), g.out_width()}, rng);
      const Result reference = run(g, Conv2dAlgorithm::im2col, x, w, b, dy);
      const Result direct = run(g, Conv2dAlgorithm::direct, x, w, b, dy);
      expect_close(direct.y, reference.y, "output");
      expect_close(direct.dx, reference.dx, "input gradient");
      expect_close(direct.dw, reference.dw, "weight gradient");
      expect_close(direct.db, reference.db, "bias gradient");
    }
  }
  set_num_threads(1);
}

TEST(Conv2dAlgorithms, ChooseSaysWhichRunsAndUnsupportedOnesAreRefused) {
  const Conv2dGeometry stride1 = geometry(2, 1, 8, 8, 2, 3, 1), stride2 = geometry(2, 1, 8, 8, 2, 3, 1, 2);
  EXPECT_EQ(choose(cpu{}, stride1), Conv2dAlgorithm::direct);
  EXPECT_EQ(choose(cpu{}, stride2), Conv2dAlgorithm::im2col);
  EXPECT_EQ(choose(cuda{}, stride2), Conv2dAlgorithm::staged);
  EXPECT_FALSE(supports(cpu{}, Conv2dAlgorithm::staged, stride1));
  std::vector<float> buffer(1024);
  try {
    conv2d_forward(cpu{}, stride2, buffer.data(), buffer.data(), buffer.data(), buffer.data(), buffer.data(),
                   Conv2dAlgorithm::direct);
    FAIL() << "the direct algorithm ran a stride-2 convolution";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("direct"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("stride 2"), std::string::npos) << e.what();
  }
}

}  // namespace
