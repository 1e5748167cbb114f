// Wrong shapes into layers and networks: every kind of layer refuses an input it cannot take,
// on forward, with a message naming the layer, what it expected and what arrived; a network
// adds which layer it was. Datasets and options that do not fit the model are refused by the
// Trainer before it trains or allocates anything. (The IDX reader's bad input is in
// test_data.cpp, lenet5's flags and damaged data folders in tests/cli/run_cli_tests.sh.)
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "hnn/data/mnist.hpp"
#include "hnn/model/sequential.hpp"
#include "hnn/training/train.hpp"

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
  Conv2dLayer<float, cpu> conv(Conv2d(1, 6, 5).padding(2));
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
  Sequential<float, cpu> net(Conv2d(1, 6, 5).padding(2), Sigmoid(), AvgPool2d(2, 2), Flatten(), Linear(6 * 14 * 14, 10));
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

// -------------------------------------------------------------------------------------
// Datasets that do not fit the model: refused by the Trainer before anything is trained.
// -------------------------------------------------------------------------------------

namespace {

// `labels.size()` images of rows x cols, every pixel 0.5.
data::Dataset tiny_dataset(const std::vector<std::int32_t>& labels, std::int64_t rows = 28, std::int64_t cols = 28) {
  data::Dataset d;
  d.size = static_cast<std::int64_t>(labels.size());
  d.rows = rows;
  d.cols = cols;
  d.images.assign(static_cast<std::size_t>(d.size * rows * cols), 0.5f);
  d.labels = labels;
  return d;
}

// Ten classes from 28x28 images.
Sequential<float, cpu> small_net() {
  return Sequential<float, cpu>(Conv2d(1, 2, 5).padding(2), Sigmoid(), AvgPool2d(2, 2), Flatten(), Linear(2 * 14 * 14, 10));
}

TrainOptions one_epoch(std::int64_t batch_size = 2) {
  TrainOptions o;
  o.lr = 0.9;  // d2l's LeNet-5 rate
  o.epochs = 1;
  o.batch_size = batch_size;
  return o;
}

}  // namespace

TEST(BadData, ANegativeLabelIsRefusedWhenTheDatasetIsBuilt) {
  data::Dataset d = tiny_dataset({0, 3, -1, 2});
  d.source = "mine.idx";
  expect_rejected([&] { DeviceDataset<float, cpu> set(d); }, {"mine.idx: ", "label -1 at index 2", "negative"});
}

TEST(BadData, ALabelBeyondTheModelsClassesIsRefusedBeforeTraining) {
  const DeviceDataset<float, cpu> good(tiny_dataset({0, 9, 4, 1})), bad(tiny_dataset({0, 9, 10, 1, 12, 12}));
  EXPECT_EQ(bad.max_label, 12);
  EXPECT_EQ(bad.max_label_index, 4);
  auto net = small_net();
  const std::vector<float> before = net.parameters()[0].value->to_vector();
  // The largest label, where it first occurs, and the range the model allows.
  expect_rejected([&] { Trainer<float, cpu> t(net, bad, one_epoch()); },
                  {"training set", "label 12 at index 4", "outside 0..9", "10 outputs"});
  expect_rejected([&] { train(net, good, bad, one_epoch()); }, {"evaluation set", "label 12 at index 4", "0..9"});
  expect_rejected([&] { evaluate(net, bad); }, {"hnn::evaluate", "label 12 at index 4"});
  EXPECT_EQ(net.parameters()[0].value->to_vector(), before) << "nothing was trained";
  // Labels 0..9 are fine.
  EXPECT_EQ(train(net, good, good, one_epoch()).size(), 1u);
}

TEST(BadData, ImagesOfAnotherSizeThanTheModelTakesAreRefusedBeforeTraining) {
  const DeviceDataset<float, cpu> big(tiny_dataset({0, 1, 2, 3}, 32, 32)), good(tiny_dataset({0, 1, 2, 3}));
  auto net = small_net();
  const std::vector<float> before = net.parameters()[0].value->to_vector();
  // The training images: their size, and the layer that cannot take them with what it expected.
  try {
    Trainer<float, cpu> t(net, big, one_epoch());
    ADD_FAILURE() << "32x32 images accepted by a 28x28 model";
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    for (const char* word : {"training images are 32x32", "layer 4 of 5", "expects 392 input features, got 512"})
      EXPECT_NE(what.find(word), std::string::npos) << "\"" << word << "\" not in: " << what;
  }
  // A test set of another size than the training set.
  expect_rejected([&] { train(net, good, big, one_epoch()); },
                  {"evaluation images are 32x32 but the training images are 28x28"});
  EXPECT_EQ(net.parameters()[0].value->to_vector(), before) << "nothing was trained";
}

TEST(BadData, BatchSizesTheDataCannotFillAreRefusedOrCappedWithoutAllocatingThem) {
  const DeviceDataset<float, cpu> set(tiny_dataset({0, 1, 2, 3, 4}));
  auto net = small_net();
  // A training batch larger than the set: an error, not gigabytes of zeros for missing images.
  expect_rejected([&] { Trainer<float, cpu> t(net, set, one_epoch(100000000)); },
                  {"batch size 100000000 is larger than the training set (5 examples)"});
  expect_rejected([&] { Trainer<float, cpu> t(net, set, one_epoch(6)); }, {"batch size 6", "(5 examples)"});
  // An evaluation batch larger than the sets acts as their size: 2^40 images would need
  // 3 PiB, so the Trainer must not size its buffers for it.
  TrainOptions options = one_epoch(5);
  options.eval_batch_size = std::int64_t{1} << 40;
  const auto history = train(net, set, set, options);
  ASSERT_EQ(history.size(), 1u);
  // The accuracy the capped batch reports is the model's: the fraction of the set whose argmax
  // logit (computed here in one plain forward pass) is its label.
  const Tensor<float, cpu>& logits = net.forward(set.images);
  ASSERT_EQ(logits.shape(), (Shape{5, 10}));
  int correct = 0;
  for (std::int64_t i = 0; i < 5; ++i) {
    std::int64_t best = 0;
    for (std::int64_t c = 1; c < 10; ++c)
      if (logits.at(i, c) > logits.at(i, best)) best = c;
    correct += best == set.labels[i] ? 1 : 0;
  }
  EXPECT_DOUBLE_EQ(history[0].test_acc, correct / 5.0);
  // An empty training set.
  const DeviceDataset<float, cpu> empty(tiny_dataset({}));
  expect_rejected([&] { Trainer<float, cpu> t(net, empty, one_epoch(1)); }, {"training set is empty"});
}

TEST(BadData, OptionsOutsideTheirRangeAreRefused) {
  const DeviceDataset<float, cpu> set(tiny_dataset({0, 1, 2, 3}));
  auto net = small_net();
  const auto rejected = [&](TrainOptions o, const std::string& word) {
    expect_rejected([&] { Trainer<float, cpu> t(net, set, o); }, {"hnn::Trainer: ", word});
  };
  TrainOptions o = one_epoch();
  o.eval_batch_size = 0;
  rejected(o, "evaluation batch size must be at least 1, got 0");
  o = one_epoch();
  o.lr = std::numeric_limits<double>::infinity();
  rejected(o, "learning rate must be positive and finite");
  o = one_epoch();
  o.lr = -1;
  rejected(o, "learning rate must be positive");
  o = one_epoch();
  o.momentum = 1.5;
  rejected(o, "momentum must be at least 0 and below 1");
  o = one_epoch();
  o.weight_decay = -0.1;
  rejected(o, "weight decay");
  o = one_epoch();
  o.max_loss_factor = 0.5;
  rejected(o, "max_loss_factor must be at least 1");
  o.max_loss_factor = std::numeric_limits<double>::quiet_NaN();
  rejected(o, "max_loss_factor");
}

// A hand-written loop's gradient of the wrong shape is refused by name before any layer reads
// it (it overflowed the linear layer's product before the check).
TEST(BadShapes, BackwardRefusesAGradientOfAnotherShapeThanTheOutput) {
  Sequential<float, cpu> net(Flatten(), Linear(12, 5), ReLU(), Linear(5, 3));
  const Tensor<float> x = Tensor<float>::full(Shape{4, 3, 2, 2}, 0.5f);
  net.forward(x);
  expect_rejected([&] { net.backward(Tensor<float>::zeros(Shape{4, 5})); }, {"backward", "(4, 5)", "(4, 3)"});
  expect_rejected([&] { net.backward(Tensor<float>::zeros(Shape{3, 3})); }, {"(3, 3)", "(4, 3)"});
  expect_rejected([&] { net.backward(Tensor<float>::zeros(Shape{12})); }, {"(12)", "(4, 3)"});
  EXPECT_NO_THROW(net.backward(Tensor<float>::zeros(Shape{4, 3})));
}
