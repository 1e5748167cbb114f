// mlp: d2l's multilayer perceptron with dropout on Fashion-MNIST (the "Dropout" section):
// Flatten, 784-256-256-10 with ReLU, dropout 0.2 after the first hidden layer and 0.5 after
// the second; SGD lr 0.5, batch 256, 10 epochs. Written on the library's open training loop:
// a TensorDataset, two DataLoaders, a loss, an optimizer and hnn::TrainLoop.
//   mlp [--epochs N] [--lr X] [--batch-size N] [--seed N] [--threads N] [--data DIR]
#include <cstdio>
#include <string>

#include <hnn/hnn.hpp>

#include "../common/data_dir.hpp"
#include "../common/loop_flags.hpp"

namespace {

hnn::Sequential<float> mlp(std::uint64_t seed) {
  using namespace hnn;
  return Sequential<float>(std::vector<LayerSpec>{Flatten(), Linear(784, 256), ReLU(), Dropout(0.2),
                            Linear(256, 256), ReLU(), Dropout(0.5), Linear(256, 10)},
                           seed);
}

int run(const hnn_example::LoopFlags& f) {
  namespace data = hnn::data;
  if (f.threads > 0) hnn::set_num_threads(f.threads);
  const std::string dir = hnn_example::find_data_dir(f.data_dir);
  const auto train_set = data::fashion_mnist(dir, data::Split::train);
  const auto test_set = data::fashion_mnist(dir, data::Split::test);

  auto model = mlp(f.seed);
  hnn::CrossEntropyLoss<float> loss;
  hnn::SGD<float> sgd(model.parameters(), {f.lr});
  hnn::TrainLoop<float> loop(model, loss, sgd);
  data::DataLoader train(train_set, data::LoaderOptions(f.batch_size).shuffle(true).seed(f.seed));
  data::DataLoader test(test_set, data::LoaderOptions(1000));

  std::printf("training an MLP (784-256-256-10, dropout 0.2 and 0.5) on %lld Fashion-MNIST images from %s: "
              "SGD lr %g, batch %lld, %d epochs\n",
              static_cast<long long>(train_set.size()), dir.c_str(), f.lr, static_cast<long long>(f.batch_size),
              f.epochs);
  const auto history = loop.fit(train, &test, f.epochs, [](const hnn::EpochStats& s) {
    std::printf("epoch %2d: loss %.3f, train acc %.3f, test loss %.3f, test acc %.3f, %.0f examples/sec\n", s.epoch,
                s.train_loss, s.train_acc, s.test_loss, s.test_acc, s.examples_per_sec);
    std::fflush(stdout);
    return true;
  });
  const hnn::EpochStats& last = history.back();
  std::printf("loss %.3f, train acc %.3f, test acc %.3f\n", last.train_loss, last.train_acc, last.test_acc);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string usage = std::string("usage: mlp [flags]\n") +
                            "Trains d2l's MLP with dropout on Fashion-MNIST: SGD lr 0.5, batch 256, 10 epochs.\n" +
                            hnn_example::loop_flags_help;
  hnn_example::LoopFlags defaults;
  defaults.lr = 0.5;
  try {
    return run(hnn_example::parse_loop_flags(argc, argv, defaults, usage));
  } catch (const hnn_example::UsageError& e) {
    std::fprintf(stderr, "mlp: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlp: %s\n", e.what());
    return 1;
  }
}
