// Wrong shapes into layers and networks: every kind of layer refuses an input it cannot take,
// on forward, with a message naming the layer, what it expected and what arrived; a network
// adds which layer it was. (The IDX reader's bad input is in test_data.cpp, lenet5's flags
// and damaged data folders in tests/cli/run_cli_tests.sh.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hnn/data/mnist.hpp"
#include "hnn/sequential.hpp"
#include "hnn/train.hpp"

using namespace hnn;

namespace {

// fn must throw std::invalid_argument (or a subclass) whose message holds every word.
template <class Fn>
void expect_rejected(Fn&& fn, const std::vector<std::string>& words) {
  try {
    fn();
    ADD_FAILURE() << "no exception; expected one mentioning " << words.front();
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    for (const std::string& word : words) EXPECT_NE(what.find(word), std::string::npos) << "\"" << word << "\" not in: " << what;
  }
}

}  // namespace

TEST(BadShapes, EveryLayerKindChecksItsInputOnForward) {
  Conv2dLayer<float, cpu> conv(Conv2d(1, 6, 5, 2));
  expect_rejected([&] { conv.forward(Tensor<float>(Shape{2, 28, 28})); }, {"Conv2d(1, 6", "(N, C, H, W)", "(2, 28, 28)"});
  expect_rejected([&] { conv.forward(Tensor<float>(Shape{2, 3, 28, 28})); }, {"Conv2d(1, 6", "1 input channels", "(2, 3, 28, 28)"});
  Conv2dLayer<float, cpu> unpadded(Conv2d(1, 6, 5));
  expect_rejected([&] { unpadded.forward(Tensor<float>(Shape{1, 1, 4, 4})); }, {"Conv2d(1, 6", "(1, 1, 4, 4)", "smaller"});

  AvgPool2dLayer<float, cpu> avg(AvgPool2d(2));
  expect_rejected([&] { avg.forward(Tensor<float>(Shape{2, 6, 28})); }, {"AvgPool2d", "(2, 6, 28)"});
  MaxPool2dLayer<float, cpu> max(MaxPool2d(3, 2));
  expect_rejected([&] { max.forward(Tensor<float>(Shape{2, 6, 2, 2})); }, {"MaxPool2d", "(2, 6, 2, 2)", "3x3"});

  LinearLayer<float, cpu> fc(Linear(400, 120));
  expect_rejected([&] { fc.forward(Tensor<float>(Shape{2, 16, 5, 5})); }, {"Linear(400, 120)", "(2, 16, 5, 5)", "Flatten"});
  expect_rejected([&] { fc.forward(Tensor<float>(Shape{2, 576})); }, {"Linear(400, 120)", "400", "576"});
}

TEST(BadShapes, TheNetworkNamesTheFirstLayerThatDoesNotFit) {
  Sequential<float, cpu> net(Conv2d(1, 6, 5, 2), Sigmoid(), AvgPool2d(2, 2), Flatten(), Linear(6 * 14 * 14, 10));
  // Three channels into a one-channel network: the very first layer.
  expect_rejected([&] { net.forward(Tensor<float>::zeros(Shape{2, 3, 28, 28})); }, {"layer 0 of 5", "Conv2d(1, 6"});
  expect_rejected([&] { net.output_shape(Shape{2, 3, 28, 28}); }, {"layer 0 of 5", "Conv2d(1, 6"});
  // 32x32 images pass the convolution and pooling, and fail at the Linear layer.
  expect_rejected([&] { net.forward(Tensor<float>::zeros(Shape{2, 1, 32, 32})); }, {"layer 4 of 5", "Linear(1176, 10)", "1536"});
  try {
    net.trace(Shape{1, 1, 32, 32});
    ADD_FAILURE() << "trace accepted 32x32 images";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 4 of 5"), std::string::npos) << e.what();
  }
  // The right shape still works after the errors.
  EXPECT_EQ(net.forward(Tensor<float>::zeros(Shape{2, 1, 28, 28})).shape(), (Shape{2, 10}));
}

TEST(BadShapes, ADatasetWhoseSizesDisagreeNeverReachesTheDevice) {
  data::Dataset d;
  d.size = 3;
  d.rows = d.cols = 2;
  d.images.assign(3 * 4, 0.5f);
  d.labels = {0, 1};  // one short
  expect_rejected([&] { DeviceDataset<float, cpu> set(d); }, {"3"});
  d.labels = {0, 1, 2};
  d.images.pop_back();  // one pixel short
  expect_rejected([&] { DeviceDataset<float, cpu> set(d); }, {"11"});
}
